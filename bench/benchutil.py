"""Shared helpers for the benchmarks: the machine's name for table headers and timing."""
import platform
import statistics
import time


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


def median_seconds(fn, reps, pause=0.5):
    """Median wall time of `fn` over `reps` calls, after two warm-up calls (packing buffers,
    thread pools, page faults). The pause first lets the other library's worker threads go
    idle: on 2 shared cores a pool still spinning after its last call slows the next one."""
    time.sleep(pause)
    fn()
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def median_times(fns, reps, warmup=2):
    """Median time in seconds of each function, after `warmup` calls of each; the repetitions
    alternate between the functions so that both libraries see the same load on shared cores."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(reps):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]
