"""DataLoader: batches of samples from a dataset, like torch.utils.data.DataLoader, loaded in the
calling process (with a prefetch thread) or in worker processes.

Note [Prefetch thread]: with ``num_workers=0``, one daemon thread fills a bounded queue with up
to ``prefetch`` ready batches while the caller trains on the current one (collation overlaps
with the backward pass, which runs without the GIL). The thread holds no reference to the
iterator, so an iterator dropped early (``break``) is collected, and its ``__del__`` stops the
thread and drains the queue. An exception raised while preparing a batch is passed through
the queue and re-raised in the main thread at the position of the failed batch.

Note [Worker processes]: with ``num_workers > 0`` the main process iterates the sampler and
sends each batch's indices to the workers in turn (``prefetch_factor`` tasks per worker in
flight); workers fetch and collate, and send the batches back through one result queue
(tensors through shared memory, Note [Tensors through shared memory] in _worker.py). The main
process puts them back in sampler order (unless ``in_order=False``). A worker's exception is
re-raised in the main process with the worker's traceback in its message. The main process
checks every second whether workers died, and workers whether their parent is gone, so a
killed process leaves no orphans; ``break``, garbage collection of the iterator, the end of an
epoch (without ``persistent_workers``) and Ctrl-C stop the workers. Workers run
single-threaded and are seeded as Note [Worker seeding] in _worker.py describes.

Note [Pinned batches]: with ``pin_memory=True`` every tensor of a batch (inside lists, tuples,
dicts and namedtuples too) is copied to pinned host memory, so the training loop's
``batch.to("cuda", non_blocking=True)`` is an asynchronous copy that overlaps with the GPU's
work (Note [Pinned host memory] in cuda/allocator.cu).

Note [Random numbers in the thread]: the sampler's order is settled in the main thread when an
epoch starts (Note [Lazy random samplers]). Random transforms in ``__getitem__`` draw from
dlcore's global generator in the prefetch thread; when the training loop draws from it at the
same time (dropout, init), the interleaving is not fixed, so use ``prefetch=0`` (or workers,
which have their own generators) for bit-reproducible runs in that case.
"""
import atexit
import collections.abc
import itertools
import multiprocessing
import multiprocessing.util  # registers its exit handler before _shutdown_live_iterators
import numbers
import pickle
import queue
import sys
import threading
import time
import warnings
import weakref

import numpy as np

import dlcore

from . import _worker
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, _as_generator

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]

get_worker_info = _worker.get_worker_info

# numpy dtypes dlcore holds directly; other integer types widen to int64.
_NUMPY_DIRECT = {np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16), np.dtype(np.int64),
                 np.dtype(np.int32), np.dtype(np.bool_)}


def _numpy_to_tensor(arr):
    arr = np.asarray(arr)
    if arr.dtype not in _NUMPY_DIRECT:
        if np.issubdtype(arr.dtype, np.integer):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"default_collate: numpy arrays of dtype {arr.dtype} are not supported")
    return dlcore.from_numpy(np.ascontiguousarray(arr))


def default_collate(batch):
    """Stack a list of samples into a batch, like torch's default_collate: dlcore tensors and
    numpy arrays are stacked along a new first dimension, Python ints become an int64 tensor,
    floats a float64 tensor, and tuples/lists/dicts are collated element by element."""
    if not batch:
        raise ValueError("default_collate: empty batch")
    elem = batch[0]
    if isinstance(elem, dlcore.Tensor):
        shapes = {tuple(b.shape) for b in batch}
        if len(shapes) > 1:
            raise ValueError(f"default_collate: tensors in a batch must have equal shapes, got {sorted(shapes)}")
        return dlcore.stack(list(batch))
    if isinstance(elem, np.ndarray):
        shapes = {b.shape for b in batch}
        if len(shapes) > 1:
            raise ValueError(f"default_collate: arrays in a batch must have equal shapes, got {sorted(shapes)}")
        return _numpy_to_tensor(np.stack(batch))
    if isinstance(elem, np.generic):
        return _numpy_to_tensor(np.array(batch))
    if isinstance(elem, bool):
        return dlcore.tensor(list(batch), dtype=dlcore.bool)
    if isinstance(elem, int):
        return dlcore.tensor(list(batch), dtype=dlcore.int64)
    if isinstance(elem, float):
        return dlcore.tensor(list(batch), dtype=dlcore.float64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([b[key] for b in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        sizes = {len(b) for b in batch}
        if len(sizes) > 1:
            raise ValueError(f"default_collate: each element in the batch should be of equal size, got sizes "
                             f"{sorted(sizes)}")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(f"default_collate: batch elements must be tensors, numpy arrays, numbers, strings, dicts "
                    f"or sequences; found {type(elem).__name__}")


def pin_memory(data):
    """``data`` with every tensor in it copied to pinned host memory (already pinned ones and
    non-tensors are returned as they are), keeping the container types."""
    if isinstance(data, dlcore.Tensor):
        return data.pin_memory()
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        return {k: pin_memory(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(pin_memory(v) for v in data))
    if isinstance(data, tuple):
        return tuple(pin_memory(v) for v in data)
    if isinstance(data, list):
        return [pin_memory(v) for v in data]
    return data


def default_convert(data):
    """Convert numpy arrays and numbers inside ``data`` to tensors without batching them (the
    collate function of a DataLoader with ``batch_size=None``); other objects stay as they are."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return _numpy_to_tensor(data)
    if isinstance(data, np.generic) and data.dtype.kind in "biuf":
        return _numpy_to_tensor(np.asarray(data))
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(v) for v in data))
    if isinstance(data, (tuple, list)):  # a tuple becomes a list, as in PyTorch
        return [default_convert(v) for v in data]
    return data


_END = object()


def _thread_loop(batches, fetch, out, stop):
    """Prepare every batch in ``batches`` into ``out``; see Note [Prefetch thread]."""
    def put(item):
        while not stop.is_set():
            try:
                out.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    for indices in batches:
        if stop.is_set():
            return
        try:
            item = fetch(indices)
        except StopIteration:
            break
        except BaseException:  # noqa: BLE001 - re-raised in the main thread
            put(_ExceptionInThread(sys.exc_info()[1]))
            return
        if not put(item):
            return
    put(_END)


class _ExceptionInThread:
    def __init__(self, exc):
        self.exc = exc


def _base_seed(loader):
    """The seed of the workers of one iterator (Note [Worker seeding] in _worker.py)."""
    return int(dlcore.empty((), dtype=dlcore.int64).random_(generator=loader.generator).item())


class _SingleProcessIter:
    """Batches prepared in this process, ahead by a prefetch thread or on demand."""

    def __init__(self, loader):
        self._thread = None
        self._done = False
        self._pin = loader.pin_memory
        _base_seed(loader)  # drawn as with workers, so that the sampler's order is the same
        batches = iter(loader._index_sampler)
        fetch = _worker.make_fetcher(loader.dataset, loader._iterable, loader._auto_collation, loader.collate_fn,
                                     loader.drop_last)
        if self._pin:
            fetch = (lambda f: lambda index: pin_memory(f(index)))(fetch)
        if loader.prefetch <= 0:
            self._batches = batches
            self._fetch = fetch
            return
        self._queue = queue.Queue(maxsize=loader.prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_thread_loop, args=(batches, fetch, self._queue, self._stop),
                                        name="dlcore-dataloader", daemon=True)
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        if self._thread is None:
            try:
                return self._fetch(next(self._batches))
            except StopIteration:
                self._done = True
                raise
        item = self._queue.get()
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, _ExceptionInThread):
            self.close()
            raise item.exc
        return item

    def close(self):
        """Stop the prefetch thread and wait for it."""
        self._done = True
        if self._thread is None:
            return
        self._stop.set()
        while True:  # unblock a thread waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


_live_iterators = weakref.WeakSet()


@atexit.register
def _shutdown_live_iterators():
    """Stop the workers of iterators still alive at exit (one held by a traceback after Ctrl-C,
    say): registered after multiprocessing's own exit handler, this runs before it terminates
    the workers, so they stop cleanly and their shared files are removed."""
    for it in list(_live_iterators):
        it._shutdown_workers()


class _MultiProcessIter:
    """Batches prepared by worker processes (Note [Worker processes])."""

    def __init__(self, loader):
        self._shutdown = True
        self._loader_prefetch = loader.prefetch_factor
        self._num_workers = loader.num_workers
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        self._pin = loader.pin_memory
        self._persistent = loader.persistent_workers
        self._index_sampler = loader._index_sampler
        ctx = loader.multiprocessing_context or multiprocessing.get_context("fork" if sys.platform == "linux"
                                                                              else None)
        self._base_seed = _base_seed(loader)
        self._shm_prefix = _worker.new_shm_prefix()
        self._done_event = ctx.Event()
        self._data_queue = ctx.Queue()
        self._index_queues, self._workers = [], []
        self._shutdown = False
        _live_iterators.add(self)
        for i in range(self._num_workers):
            iq = ctx.Queue()
            iq.cancel_join_thread()  # a worker that stops early leaves its queue unread
            w = ctx.Process(target=_worker.worker_loop, name=f"dlcore-dataloader-worker-{i}", daemon=True,
                            args=(loader.dataset, loader._iterable, iq, self._data_queue, self._done_event,
                                  loader._auto_collation, loader.collate_fn, loader.drop_last, self._base_seed,
                                  loader.worker_init_fn, i, self._num_workers, self._shm_prefix))
            w.start()
            self._index_queues.append(iq)
            self._workers.append(w)
        self._reset(first=True)

    def _reset(self, first=False):
        """Start an epoch: a new pass of the sampler, and tasks for every worker."""
        self._sampler_iter = iter(self._index_sampler)
        self._send_idx = self._rcvd_idx = 0
        self._task_info = {}  # task index -> (worker id,) while pending, (worker id, data) when early
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        if not first:
            for q in self._index_queues:
                q.put(_worker._ResumeIteration())
            waiting = self._num_workers
            while waiting:  # batches still in flight from the last epoch are dropped
                idx, _ = self._get_data()
                if isinstance(idx, _worker._ResumeIteration):
                    waiting -= 1
        for _ in range(self._loader_prefetch * self._num_workers):
            self._try_put_index()

    def _try_put_index(self):
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            wid = next(self._worker_cycle)
            if self._workers_status[wid]:
                break
        else:
            return
        self._index_queues[wid].put((self._send_idx, index))
        self._task_info[self._send_idx] = (wid,)
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _get_data(self):
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            wait = _worker.MP_STATUS_CHECK_INTERVAL
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
            try:
                return pickle.loads(self._data_queue.get(timeout=wait))
            except queue.Empty:
                self._check_workers()

    def _check_workers(self):
        failed = [w for w, alive in zip(self._workers, self._workers_status) if alive and not w.is_alive()]
        if failed:
            pids = ", ".join(str(w.pid) for w in failed)
            codes = ", ".join(str(w.exitcode) for w in failed)
            self._shutdown_workers()
            raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly (exit code(s) {codes})")

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info is not None and (len(info) == 2 or self._workers_status[info[0]]):
                    break
                self._task_info.pop(self._rcvd_idx, None)  # handed out early, or its worker's stream ended
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                data = self._task_info.pop(self._rcvd_idx)[1]
                self._rcvd_idx += 1
                return self._process(data)
            if self._shutdown:
                raise StopIteration
            idx, data = self._get_data()
            if isinstance(idx, _worker._ResumeIteration):
                continue
            self._tasks_outstanding -= 1
            if isinstance(data, _worker._IterableDatasetStopIteration):
                self._workers_status[data.worker_id] = False
                self._try_put_index()
                continue
            if idx == self._rcvd_idx or not self._in_order:
                del self._task_info[idx]
                if idx == self._rcvd_idx:
                    self._rcvd_idx += 1
                return self._process(data)
            self._task_info[idx] += (data,)

    def _process(self, data):
        self._try_put_index()
        if isinstance(data, _worker.ExceptionWrapper):
            data.reraise()
        return pin_memory(data) if self._pin else data

    def _shutdown_workers(self):
        """Stop the workers (joining them, terminating any that do not stop) and free what they
        left behind."""
        if self._shutdown:
            return
        self._shutdown = True
        try:
            self._done_event.set()
            for q in self._index_queues:
                q.put(None)
            for w in self._workers:
                w.join(timeout=5 * _worker.MP_STATUS_CHECK_INTERVAL)
                if w.is_alive():
                    w.terminate()
                    w.join()
            for q in self._index_queues:
                q.close()
            self._data_queue.cancel_join_thread()
            self._data_queue.close()
        finally:
            _worker.remove_shm_files(self._shm_prefix)

    def __del__(self):
        try:
            self._shutdown_workers()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class _InfiniteConstantSampler(Sampler):
    """None forever: the index sampler of an IterableDataset, which ends by itself."""

    def __iter__(self):
        return itertools.repeat(None)


def _check_nonneg_int(value, message):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(message)
    return int(value)


class DataLoader:
    """Iterate over ``dataset`` in batches, like torch.utils.data.DataLoader.

    Map-style datasets are visited in ``sampler``'s order (any iterable of indices with a
    length), by default sequentially or, with ``shuffle``, in a new random order every epoch;
    ``batch_sampler`` yields whole lists of indices instead. ``generator`` (a dlcore.Generator,
    or an int seed for a new one) drives the shuffling and the workers' seeds; None uses the
    global generator. An IterableDataset is iterated as it is (by every worker, which shards it
    with ``get_worker_info()``). ``batch_size=None`` turns batching off.

    ``num_workers > 0`` loads in worker processes (Note [Worker processes]) started with
    ``multiprocessing_context`` (a start method name or a context; default "fork" on Linux),
    ``worker_init_fn(worker_id)`` run first in each; ``prefetch_factor`` tasks per worker are in
    flight, ``timeout`` bounds the wait for a batch, ``persistent_workers`` keeps the workers
    between epochs and ``in_order=False`` yields batches as they arrive. With ``num_workers=0``,
    dlcore prepares ``prefetch`` batches ahead in a thread (0: on demand, as PyTorch does).
    ``pin_memory`` puts every batch in pinned host memory (Note [Pinned batches]); without a
    CUDA device it warns and is ignored, as in PyTorch. A TensorDataset with the default
    collate is batched with one ``index_select`` per tensor.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True, prefetch=2):
        num_workers = _check_nonneg_int(num_workers, f"DataLoader: num_workers option should be non-negative; use "
                                                     f"num_workers=0 to disable multiprocessing, got {num_workers!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified in multiprocessing; let "
                             "num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None")
        if num_workers > 0:
            prefetch_factor = 2 if prefetch_factor is None else prefetch_factor
            if isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, numbers.Integral) \
                    or prefetch_factor < 1:
                raise ValueError(f"DataLoader: prefetch_factor should be a positive integer, got {prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        prefetch = _check_nonneg_int(prefetch, f"DataLoader: prefetch should be a non-negative integer, got "
                                               f"{prefetch!r}")
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                                 f"shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got "
                                 f"sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but "
                                 f"got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is mutually exclusive "
                             "with drop_last")
        generator = _as_generator(generator, "DataLoader")
        if sampler is None:
            if self._iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
                raise ValueError(f"DataLoader: batch_size should be a positive integer value, but got "
                                 f"batch_size={batch_size!r}")
            batch_sampler = BatchSampler(sampler, int(batch_size), bool(drop_last))
        if multiprocessing_context is not None:
            if num_workers == 0:
                raise ValueError(f"DataLoader: multiprocessing_context can only be used with multi-process loading "
                                 f"(num_workers > 0), but got num_workers={num_workers}")
            if isinstance(multiprocessing_context, str):
                methods = multiprocessing.get_all_start_methods()
                if multiprocessing_context not in methods:
                    raise ValueError(f"DataLoader: multiprocessing_context option should specify a valid start method "
                                     f"in {methods!r}, but got multiprocessing_context={multiprocessing_context!r}")
                multiprocessing_context = multiprocessing.get_context(multiprocessing_context)
            elif not hasattr(multiprocessing_context, "Process"):
                raise TypeError(f"DataLoader: multiprocessing_context option must be a start method name or a "
                                f"multiprocessing context, got {type(multiprocessing_context).__name__}")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self._auto_collation = batch_sampler is not None
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if self._auto_collation else default_convert)
        self.generator = generator
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = bool(persistent_workers)
        self.pin_memory_device = pin_memory_device
        self.in_order = bool(in_order)
        self.prefetch = prefetch
        self.pin_memory = bool(pin_memory)
        if self.pin_memory and not dlcore.cuda.is_available():
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then device pinned "
                          "memory won't be used.", stacklevel=2)
            self.pin_memory = False
        self._iterator = None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if not self.persistent_workers:
            return _MultiProcessIter(self)
        if self._iterator is None or self._iterator._shutdown:
            self._iterator = _MultiProcessIter(self)
        else:
            self._iterator._reset()
        return self._iterator

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)
