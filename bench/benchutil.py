"""Shared helpers for the benchmarks: the machine's name for table headers."""
import platform


def cpu_name():
    """The CPU model from /proc/cpuinfo, else what platform reports."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
