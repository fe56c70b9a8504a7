"""dlcore.multiprocessing: Python's multiprocessing with torch.multiprocessing's additions.

Every name of the standard module is here; dlcore tensors put on its queues travel through
shared memory (the reducer the DataLoader workers use). ``spawn`` starts ``nprocs``
processes running ``fn(rank, *args)`` and, with ``join=True``, waits for all of them; when
one fails, the others are terminated and ``ProcessRaisedException`` carries the failed
process's traceback (``ProcessExitedException`` when it died without one, e.g. killed).
Sharing strategies exist for scripts that set them: dlcore shares through file descriptors
("file_descriptor") or named files ("file_system") the same way, so the choice is recorded.
"""
import multiprocessing as _mp
import signal as _signal
import traceback as _traceback
from multiprocessing import *  # noqa: F401,F403

__all__ = list(_mp.__all__) + ["set_sharing_strategy", "get_sharing_strategy", "get_all_sharing_strategies",
                               "spawn", "start_processes", "ProcessContext", "ProcessRaisedException",
                               "ProcessExitedException"]

_STRATEGIES = {"file_descriptor", "file_system"}
_strategy = "file_descriptor"


def set_sharing_strategy(new_strategy):
    global _strategy
    if new_strategy not in _STRATEGIES:
        raise ValueError(f"set_sharing_strategy: unknown strategy {new_strategy!r} (known: {sorted(_STRATEGIES)})")
    _strategy = new_strategy


def get_sharing_strategy():
    return _strategy


def get_all_sharing_strategies():
    return set(_STRATEGIES)


class ProcessException(Exception):
    def __init__(self, msg, error_index, pid):
        super().__init__(msg)
        self.msg, self.error_index, self.pid = msg, error_index, pid

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid)


class ProcessRaisedException(ProcessException):
    """A spawned process raised; the message holds its traceback."""


class ProcessExitedException(ProcessException):
    """A spawned process exited with a non-zero code (or a signal) without raising."""

    def __init__(self, msg, error_index, pid, exit_code, signal_name=None):
        super().__init__(msg, error_index, pid)
        self.exit_code, self.signal_name = exit_code, signal_name

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid, self.exit_code, self.signal_name)


def _wrap(fn, rank, args, error_queue):
    try:
        fn(rank, *args)
    except KeyboardInterrupt:
        pass  # the parent is shutting everything down
    except BaseException:
        error_queue.put(_traceback.format_exc())
        raise SystemExit(1)


class ProcessContext:
    """The processes of one ``spawn``; ``join`` waits for them (module docstring)."""

    def __init__(self, processes, error_queues):
        self.processes, self.error_queues = processes, error_queues

    def pids(self):
        return [p.pid for p in self.processes]

    def join(self, timeout=None):
        """True when every process has exited cleanly; False while some are running (after
        ``timeout`` seconds); raises when one failed, after terminating the others."""
        running = [p.sentinel for p in self.processes if p.exitcode is None]
        if running:
            _mp.connection.wait(running, timeout=timeout)
        failed = next((i for i, p in enumerate(self.processes) if p.exitcode not in (None, 0)), None)
        if failed is None:
            return all(p.exitcode == 0 for p in self.processes)
        for p in self.processes:
            if p.is_alive():
                p.terminate()
            p.join()
        proc = self.processes[failed]
        if not self.error_queues[failed].empty():
            tb = self.error_queues[failed].get()
            raise ProcessRaisedException(f"\n\n-- Process {failed} terminated with the following error:\n{tb}",
                                         failed, proc.pid)
        code = proc.exitcode
        if code < 0:
            name = _signal.Signals(-code).name
            raise ProcessExitedException(f"process {failed} terminated with signal {name}", failed, proc.pid,
                                         code, name)
        raise ProcessExitedException(f"process {failed} terminated with exit code {code}", failed, proc.pid, code)


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    if not callable(fn):
        raise TypeError(f"start_processes: fn must be callable, got {type(fn).__name__}")
    if int(nprocs) < 1:
        raise ValueError(f"start_processes: nprocs must be >= 1, got {nprocs}")
    ctx = _mp.get_context(start_method)
    processes, queues = [], []
    for rank in range(int(nprocs)):
        q = ctx.SimpleQueue()
        p = ctx.Process(target=_wrap, args=(fn, rank, tuple(args), q), daemon=daemon)
        p.start()
        processes.append(p)
        queues.append(q)
    context = ProcessContext(processes, queues)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Runs ``fn(rank, *args)`` in ``nprocs`` new processes (module docstring)."""
    return start_processes(fn, args, nprocs, join, daemon, start_method)
