"""DataLoader: batches of samples, shuffled per epoch, prepared by a background thread.

Note [Prefetch thread]: one daemon thread fills a bounded queue with up to ``prefetch`` ready
batches while the caller trains on the current one (collation overlaps with the backward
pass, which runs without the GIL). The thread holds no reference to the iterator, so an
iterator dropped early (``break``) is collected, and its ``__del__`` stops the thread and
drains the queue. An exception raised while preparing a batch is passed through the queue
and re-raised in the main thread at the position of the failed batch.

Note [Pinned batches]: with ``pin_memory=True`` every tensor of a batch (inside lists, tuples,
dicts and namedtuples too) is copied to pinned host memory by the thread that prepares it, so
the training loop's ``batch.to("cuda", non_blocking=True)`` is an asynchronous copy that
overlaps with the GPU's work (Note [Pinned host memory] in cuda/allocator.cu).

Note [Random numbers in the thread]: the shuffle order is drawn in the main thread when an
epoch starts. Random transforms in ``__getitem__`` draw from dlcore's global generator in the
prefetch thread; when the training loop draws from it at the same time (dropout, init), the
interleaving is not fixed, so use ``prefetch=0`` for bit-reproducible runs in that case.
"""
import collections.abc
import queue
import threading
import warnings

import numpy as np

import dlcore

from .dataset import TensorDataset, _permutation

__all__ = ["DataLoader", "default_collate"]

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


class _ExceptionWrapper:
    def __init__(self, exc):
        self.exc = exc


_END = object()


def _worker(batches, fetch, out, stop):
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
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            put(_ExceptionWrapper(exc))
            return
        if not put(item):
            return
    put(_END)


class _LoaderIter:
    def __init__(self, batches, fetch, prefetch):
        self._thread = None
        self._done = False
        if prefetch <= 0:
            self._batches = iter(batches)
            self._fetch = fetch
            return
        self._queue = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_worker, args=(batches, fetch, self._queue, self._stop),
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
        if isinstance(item, _ExceptionWrapper):
            self.close()
            raise item.exc
        return item

    def close(self):
        """Stop the prefetch thread and wait for it."""
        self._done = True
        if self._thread is None:
            return
        self._stop.set()
        while True:  # unblock a worker waiting on a full queue
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


class DataLoader:
    """Iterate over ``dataset`` in batches, like torch.utils.data.DataLoader.

    ``shuffle`` draws a new permutation every epoch: from ``generator`` (an int seed; the order
    then depends on (seed, epoch) only) or from dlcore's global generator when it is None.
    ``sampler`` is any iterable of indices with a length (not together with ``shuffle``).
    ``prefetch`` batches are prepared ahead by a background thread (0: in the calling thread).
    ``pin_memory`` puts every batch in pinned host memory (Note [Pinned batches]); without a CUDA
    device it warns and is ignored, as in PyTorch. A TensorDataset with the default collate is
    batched with one ``index_select`` per tensor.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, drop_last=False, collate_fn=None,
                 generator=None, prefetch=2, pin_memory=False):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size should be a positive integer, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if generator is not None and (isinstance(generator, bool) or not isinstance(generator, (int, np.integer))):
            raise TypeError(f"DataLoader: generator must be an int seed or None, got {type(generator).__name__}")
        if isinstance(prefetch, bool) or not isinstance(prefetch, (int, np.integer)) or prefetch < 0:
            raise ValueError(f"DataLoader: prefetch should be a non-negative integer, got {prefetch!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.sampler = sampler
        self.drop_last = bool(drop_last)
        self.collate_fn = default_collate if collate_fn is None else collate_fn
        self.generator = generator
        self.prefetch = int(prefetch)
        self.pin_memory = bool(pin_memory)
        if self.pin_memory and not dlcore.cuda.is_available():
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then device pinned "
                          "memory won't be used.", stacklevel=2)
            self.pin_memory = False
        self._epoch = 0

    def _indices(self):
        if self.sampler is not None:
            return [int(i) for i in self.sampler]
        n = len(self.dataset)
        if self.shuffle:
            return _permutation(n, self.generator, epoch=self._epoch)
        return list(range(n))

    def _batches(self, indices):
        bs = self.batch_size
        stop = len(indices) - len(indices) % bs if self.drop_last else len(indices)
        return [indices[i:i + bs] for i in range(0, stop, bs)]

    def _fetcher(self):
        fetch = self._unpinned_fetcher()
        if not self.pin_memory:
            return fetch
        return lambda indices: pin_memory(fetch(indices))

    def _unpinned_fetcher(self):
        dataset, collate = self.dataset, self.collate_fn
        if isinstance(dataset, TensorDataset) and collate is default_collate:
            tensors = dataset.tensors

            def fetch(indices):
                idx = dlcore.tensor(indices, dtype=dlcore.int64)
                return [t.index_select(0, idx) for t in tensors]
            return fetch

        def fetch(indices):
            return collate([dataset[i] for i in indices])
        return fetch

    def __iter__(self):
        batches = self._batches(self._indices())
        self._epoch += 1
        return _LoaderIter(batches, self._fetcher(), self.prefetch)

    def __len__(self):
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
