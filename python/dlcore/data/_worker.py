"""What runs in DataLoader worker processes: the worker loop, ``get_worker_info``, the batch
fetchers (shared with single-process loading) and the shared-memory transport of tensors.

Note [Tensors through shared memory]: a tensor a worker puts on the result queue is pickled by
multiprocessing's ForkingPickler, for which this module registers a reducer. In a worker, a
tensor of at least ``_INLINE_BYTES`` is copied once into a new file in /dev/shm (a tmpfs) and
only the file's name travels through the pipe; the main process maps the file, unlinks it at
once and wraps the mapping as a tensor without another copy, so the memory is freed when that
tensor is. Smaller tensors, and tensors pickled outside workers, travel inline as bytes. Every
file name starts with a prefix that names the DataLoader iterator; when the workers stop, the
main process unlinks whatever files with its prefix were never received (batches still in the
pipe of a worker that was stopped early). Views arrive as contiguous tensors; CUDA tensors go
through host memory; ``requires_grad`` is kept.

Note [Worker seeding]: as in PyTorch, worker i seeds dlcore's global generator and Python's
``random`` with ``base_seed + i`` (``base_seed`` is drawn from the loader's generator, once per
set of workers) and numpy's global RandomState with a hash of (base_seed, i), so augmentations
differ between workers and epochs but a run is reproducible under ``dlcore.manual_seed``.
"""
import itertools
import mmap
import os
import queue
import random
import sys
import traceback

import numpy as np
from multiprocessing.reduction import ForkingPickler

import dlcore

__all__ = ["WorkerInfo", "get_worker_info"]

MP_STATUS_CHECK_INTERVAL = 1.0  # seconds between liveness checks of the other side
_INLINE_BYTES = 1 << 14
_SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else None


class WorkerInfo:
    """What ``get_worker_info()`` returns in a worker: ``id``, ``num_workers``, ``seed`` and
    ``dataset`` (this worker's copy). Read-only."""

    __initialized = False

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, k, v)
        self.__keys = tuple(kwargs)
        self.__initialized = True

    def __setattr__(self, key, val):
        if self.__initialized:
            raise RuntimeError(f"Cannot assign attributes to {type(self).__name__} objects")
        super().__setattr__(key, val)

    def __repr__(self):
        items = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__keys if k != "dataset")
        return f"{type(self).__name__}({items}, dataset={type(self.dataset).__name__})"


_worker_info = None
_shm_prefix = None  # set in a worker: where its tensors go (Note [Tensors through shared memory])
_shm_counter = itertools.count()


def get_worker_info():
    """In a DataLoader worker process, its WorkerInfo; None in the main process."""
    return _worker_info


# ---- errors -------------------------------------------------------------------------------
class ExceptionWrapper:
    """An exception caught in a worker, with its traceback as text, to re-raise in the main
    process as the same exception type."""

    def __init__(self, where):
        exc_type, exc, tb = sys.exc_info()
        self.exc_type = exc_type
        self.exc_name = exc_type.__name__
        self.exc_msg = "".join(traceback.format_exception(exc_type, exc, tb))
        self.where = where

    def reraise(self):
        msg = f"Caught {self.exc_name} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:  # noqa: BLE001 - an exception type whose constructor takes other arguments
            raise RuntimeError(msg) from None
        raise exc


class _KeyErrorMessage(str):
    """KeyError shows repr(message); this keeps the traceback's line breaks."""

    def __repr__(self):
        return self


class _IterableDatasetStopIteration:
    def __init__(self, worker_id):
        self.worker_id = worker_id


class _ResumeIteration:
    """Sent to persistent workers at the start of an epoch; echoed back when they are ready."""


# ---- fetchers -------------------------------------------------------------------------------
def make_fetcher(dataset, iterable, auto_collation, collate_fn, drop_last):
    """``fetch(index)``: the batch (or sample, without auto-collation) for one item of the
    index sampler. For an IterableDataset the index only gives the batch size, and the end of
    the dataset raises StopIteration."""
    if iterable:
        it = iter(dataset)

        def fetch(index):
            if not auto_collation:
                return collate_fn(next(it))
            data = list(itertools.islice(it, len(index)))
            if not data or (drop_last and len(data) < len(index)):
                raise StopIteration
            return collate_fn(data)
        return fetch
    if not auto_collation:
        return lambda index: collate_fn(dataset[index])
    from .dataloader import default_collate
    from .dataset import TensorDataset
    if isinstance(dataset, TensorDataset) and collate_fn is default_collate:
        tensors = dataset.tensors

        def fetch(index):
            idx = dlcore.tensor(list(index), dtype=dlcore.int64)
            return [t.index_select(0, idx) for t in tensors]
        return fetch
    getitems = getattr(dataset, "__getitems__", None)
    if callable(getitems):
        return lambda index: collate_fn(getitems(list(index)))
    return lambda index: collate_fn([dataset[i] for i in index])


# ---- tensors through shared memory ------------------------------------------------------------
def _reduce_tensor(t):
    if t.requires_grad and not t.is_leaf:
        raise RuntimeError("Cowardly refusing to serialize non-leaf tensor which requires_grad, since autograd "
                           "does not support crossing process boundaries. Detach it first (tensor.detach()).")
    host = t.detach()
    if host.is_cuda:
        host = host.cpu()
    if host.dtype == dlcore.bfloat16:
        host = host.float()
    arr = np.asarray(host.numpy(), order="C")
    meta = (t.dtype, str(t.device), t.requires_grad)
    if _shm_prefix is None or _SHM_DIR is None or arr.nbytes < _INLINE_BYTES:
        return _rebuild_inline, (arr,) + meta
    path = f"{_shm_prefix}{next(_shm_counter)}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, arr.nbytes)
        buf = mmap.mmap(fd, arr.nbytes)
    finally:
        os.close(fd)
    np.frombuffer(buf, dtype=arr.dtype).reshape(arr.shape)[...] = arr
    buf.close()
    return _rebuild_shared, (path, arr.dtype.str, arr.shape) + meta


def _finish_rebuild(arr, dtype, device, requires_grad):
    t = dlcore.from_numpy(arr)
    if t.dtype != dtype or device != "cpu":
        t = t.to(device=device, dtype=dtype)
    return t.requires_grad_(True) if requires_grad else t


def _rebuild_inline(arr, dtype, device, requires_grad):
    return _finish_rebuild(arr, dtype, device, requires_grad)


def _rebuild_shared(path, np_dtype, shape, dtype, device, requires_grad):
    fd = os.open(path, os.O_RDWR)
    try:
        os.unlink(path)
        buf = mmap.mmap(fd, 0)
    finally:
        os.close(fd)
    return _finish_rebuild(np.frombuffer(buf, dtype=np.dtype(np_dtype)).reshape(shape), dtype, device, requires_grad)


ForkingPickler.register(dlcore.Tensor, _reduce_tensor)


def new_shm_prefix():
    """A file-name prefix for one DataLoader iterator's shared tensors."""
    if _SHM_DIR is None:
        return None
    return os.path.join(_SHM_DIR, f"dlcore_{os.getpid()}_{os.urandom(4).hex()}_")


def remove_shm_files(prefix):
    """Unlink the files of ``prefix`` that were never received."""
    if prefix is None:
        return
    folder, stem = os.path.split(prefix)
    for name in os.listdir(folder):
        if name.startswith(stem):
            try:
                os.unlink(os.path.join(folder, name))
            except FileNotFoundError:
                pass


# ---- the worker loop --------------------------------------------------------------------------
def _seed_worker(base_seed, worker_id):
    """Note [Worker seeding]."""
    seed = base_seed + worker_id
    random.seed(seed)
    dlcore.manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, base_seed]).generate_state(4))
    return seed


def _pickled(idx, data, worker_id):
    """``(idx, data)`` pickled here rather than by the queue's feeder thread, which would only
    print a pickling error and drop the batch: such an error becomes the batch's exception."""
    try:
        return bytes(ForkingPickler.dumps((idx, data)))
    except Exception:  # noqa: BLE001 - re-raised in the main process
        if isinstance(data, ExceptionWrapper):  # an exception type that cannot be pickled
            data.exc_type = RuntimeError
        else:
            data = ExceptionWrapper(f"in DataLoader worker process {worker_id} (pickling the batch)")
        return bytes(ForkingPickler.dumps((idx, data)))


def worker_loop(dataset, iterable, index_queue, data_queue, done_event, auto_collation, collate_fn, drop_last,
                base_seed, init_fn, worker_id, num_workers, shm_prefix):
    """Fetch the batches named on ``index_queue`` and put ``(task index, batch)`` on
    ``data_queue`` until told to stop (None), or until the parent process is gone."""
    global _worker_info, _shm_prefix
    parent = os.getppid()
    interrupted = False
    try:
        # A child forked from a parent whose OpenMP threads ran can only run single-threaded
        # (Note [Threads after fork] in cpp/src/core/dispatch.cpp); workers do so whatever the
        # start method, since they already share the cores among themselves.
        dlcore.set_num_threads(1)
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        if shm_prefix is not None:
            _shm_prefix = f"{shm_prefix}{worker_id}_"
        init_error = None
        fetch = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetch = make_fetcher(dataset, iterable, auto_collation, collate_fn, drop_last)
        except Exception:  # noqa: BLE001 - reported with the first batch
            init_error = ExceptionWrapper(f"in DataLoader worker process {worker_id}")
        iteration_end = False
        while os.getppid() == parent:
            try:
                r = index_queue.get(timeout=MP_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                continue
            if isinstance(r, _ResumeIteration):
                data_queue.put(bytes(ForkingPickler.dumps((r, None))))
                iteration_end = False
                if init_error is None:
                    try:
                        fetch = make_fetcher(dataset, iterable, auto_collation, collate_fn, drop_last)
                    except Exception:  # noqa: BLE001 - reported with the next batch
                        init_error = ExceptionWrapper(f"in DataLoader worker process {worker_id}")
                continue
            if r is None:
                break
            if done_event.is_set() or iteration_end:
                continue
            idx, index = r
            if init_error is not None:
                data, init_error = init_error, None
            else:
                try:
                    data = fetch(index)
                except StopIteration:
                    if iterable:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(f"in DataLoader worker process {worker_id}")
                except Exception:  # noqa: BLE001 - re-raised in the main process
                    data = ExceptionWrapper(f"in DataLoader worker process {worker_id}")
            data_queue.put(_pickled(idx, data, worker_id))
            del data, idx, index, r
    except KeyboardInterrupt:  # the main process gets its own and shuts the workers down
        interrupted = True
    if os.getppid() != parent and _shm_prefix is not None:
        remove_shm_files(_shm_prefix)  # the parent died: nobody will receive what is in flight
    if done_event.is_set() or interrupted:  # exit without waiting to flush batches nobody will read
        data_queue.cancel_join_thread()
        data_queue.close()
