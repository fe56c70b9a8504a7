"""dlcore.utils.data: samplers, the torch-named datasets and the single-process DataLoader's
torch semantics (sampler / batch_sampler / batch_size=None / IterableDataset), against torch."""
import itertools
import time

import numpy as np
import pytest

import dlcore
import dlcore.utils.data as D

torch = pytest.importorskip("torch")
import torch.utils.data as TD  # noqa: E402


def test_namespace_has_torch_names():
    for name in ["Dataset", "IterableDataset", "TensorDataset", "StackDataset", "ConcatDataset", "ChainDataset",
                 "Subset", "random_split", "DataLoader", "default_collate", "default_convert", "get_worker_info",
                 "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
                 "BatchSampler"]:
        assert hasattr(D, name) and hasattr(TD, name), name
    assert D.get_worker_info() is None and dlcore.utils.data.DataLoader is dlcore.data.DataLoader


# ---- samplers ------------------------------------------------------------------------------
@pytest.mark.parametrize("n,bs,drop", [(10, 3, False), (10, 3, True), (9, 3, True), (0, 2, False), (5, 7, True)])
def test_sequential_and_batch_sampler_match_torch(n, bs, drop):
    ours = D.BatchSampler(D.SequentialSampler(range(n)), bs, drop)
    ref = TD.BatchSampler(TD.SequentialSampler(range(n)), bs, drop)
    assert list(ours) == list(ref) and len(ours) == len(ref)
    assert list(D.SequentialSampler(range(n))) == list(range(n))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"batch_size": 0, "drop_last": False}, ValueError, "batch_size should be a positive integer value"),
    ({"batch_size": True, "drop_last": False}, ValueError, "batch_size should be a positive integer value"),
    ({"batch_size": 2, "drop_last": 1}, ValueError, "drop_last should be a boolean value"),
])
def test_batch_sampler_errors_like_torch(kwargs, error, message):
    with pytest.raises(error, match=message):
        D.BatchSampler(range(3), **kwargs)
    with pytest.raises(error):
        TD.BatchSampler(range(3), **kwargs)


def test_random_sampler_permutations_and_num_samples():
    g = dlcore.Generator().manual_seed(0)
    s = D.RandomSampler(range(10), generator=g)
    e1, e2 = list(s), list(s)
    assert sorted(e1) == sorted(e2) == list(range(10)) and e1 != e2 and len(s) == 10
    long = list(D.RandomSampler(range(4), num_samples=10, generator=g))
    assert len(long) == 10 and sorted(long[:4]) == sorted(long[4:8]) == list(range(4))
    assert set(long[8:]) <= set(range(4))
    a = list(D.RandomSampler(range(50), generator=dlcore.Generator().manual_seed(3)))
    b = list(D.RandomSampler(range(50), generator=3))  # an int seed: a new Generator with that seed
    assert a == b
    dlcore.manual_seed(5)
    c = list(D.RandomSampler(range(50)))
    dlcore.manual_seed(5)
    assert list(D.RandomSampler(range(50))) == c
    with pytest.raises(ValueError, match="num_samples=0"):
        D.RandomSampler(range(0))
    with pytest.raises(ValueError):
        TD.RandomSampler(range(0))


def test_random_sampler_with_replacement_is_lazy_and_uniform():
    s = D.RandomSampler(range(7), replacement=True, num_samples=10**10, generator=dlcore.Generator().manual_seed(1))
    t0 = time.perf_counter()
    first = list(itertools.islice(iter(s), 70_000))
    assert time.perf_counter() - t0 < 5.0 and len(s) == 10**10
    counts = np.bincount(first, minlength=7)
    assert counts.sum() == 70_000 and np.all(np.abs(counts - 10_000) < 600)  # 6 sigma = 6 * 93
    odd = list(D.RandomSampler(range(3), replacement=True, num_samples=33))
    assert len(odd) == 33 and set(odd) <= {0, 1, 2}


@pytest.mark.parametrize("kwargs, error, message", [
    ({"replacement": 1}, TypeError, "replacement should be a boolean value"),
    ({"num_samples": 0}, ValueError, "num_samples should be a positive integer value"),
    ({"num_samples": 2.5}, ValueError, "num_samples should be a positive integer value"),
    ({"generator": "x"}, TypeError, "RandomSampler: generator must be"),
])
def test_random_sampler_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        D.RandomSampler(range(3), **kwargs)


def test_subset_random_and_weighted_samplers():
    g = dlcore.Generator().manual_seed(2)
    idx = [10, 20, 30, 40]
    s = D.SubsetRandomSampler(idx, generator=g)
    assert sorted(s) == idx and len(s) == 4
    w = D.WeightedRandomSampler([0.1, 0.0, 0.6, 0.3], 30_000, generator=g)
    counts = np.bincount(list(w), minlength=4) / 30_000
    np.testing.assert_allclose(counts, [0.1, 0.0, 0.6, 0.3], atol=0.02)
    assert len(w) == 30_000
    nr = list(D.WeightedRandomSampler(dlcore.tensor([1.0, 2.0, 3.0]), 3, replacement=False, generator=g))
    assert sorted(nr) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"weights should be a 1d sequence but given weights have shape \(2, 2\)"):
        D.WeightedRandomSampler([[1.0, 2.0], [3.0, 4.0]], 2)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        D.WeightedRandomSampler([1.0], 0)


# ---- datasets -------------------------------------------------------------------------------
class _Stream(D.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_stack_chain_iterable_datasets():
    a, b = list(range(5)), [x * 10 for x in range(5)]
    assert D.StackDataset(a, b)[2] == (2, 20) and len(D.StackDataset(a, b)) == 5
    assert D.StackDataset(x=a, y=b)[3] == {"x": 3, "y": 30} == TD.StackDataset(x=a, y=b)[3]
    with pytest.raises(ValueError, match="size mismatch"):
        D.StackDataset(a, b[:4])
    with pytest.raises(ValueError, match="either tuple-like"):
        D.StackDataset(a, y=b)
    chained = _Stream(3) + _Stream(2)
    assert isinstance(chained, D.ChainDataset) and list(chained) == [0, 1, 2, 0, 1] and len(chained) == 5
    with pytest.raises(TypeError, match="ConcatDataset: does not support IterableDataset"):
        D.ConcatDataset([_Stream(2)])
    with pytest.raises(TypeError, match="IterableDataset"):
        _Stream(2)[0]
    sub = D.Subset(D.TensorDataset(dlcore.arange(10)), [7, 3])
    assert [x[0].item() for x in sub.__getitems__([1, 0])] == [3, 7]


def test_random_split_with_generator():
    g = dlcore.Generator().manual_seed(4)
    parts = D.random_split(range(30), [0.5, 0.3, 0.2], generator=g)
    assert [len(p) for p in parts] == [15, 9, 6]
    assert sorted(i for p in parts for i in p.indices) == list(range(30))
    again = D.random_split(range(30), [15, 9, 6], generator=dlcore.Generator().manual_seed(4))
    assert [p.indices for p in again] == [p.indices for p in parts]
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        D.random_split(range(1), [0.5, 0.5])


# ---- DataLoader semantics (single process) --------------------------------------------------
def _as_lists(batches):
    return [b.tolist() if hasattr(b, "tolist") else b for b in batches]


@pytest.mark.parametrize("prefetch", [0, 2])
def test_loader_batch_sampler_and_no_batching_match_torch(prefetch):
    bs = [[3, 1], [0], [2, 4, 5]]
    ours = D.DataLoader(range(6), batch_sampler=bs, prefetch=prefetch)
    assert _as_lists(ours) == _as_lists(TD.DataLoader(range(6), batch_sampler=bs)) and len(ours) == 3
    arrays = [np.full(2, i, np.float32) for i in range(3)]
    unbatched = list(D.DataLoader(arrays, batch_size=None, prefetch=prefetch))
    assert [u.tolist() for u in unbatched] == [a.tolist() for a in arrays]
    assert all(isinstance(u, dlcore.Tensor) for u in unbatched)
    assert list(D.DataLoader(["a", "b"], batch_size=None, prefetch=prefetch)) == ["a", "b"]


@pytest.mark.parametrize("prefetch", [0, 2])
@pytest.mark.parametrize("bs,drop", [(2, False), (2, True), (None, False), (4, False)])
def test_loader_iterable_dataset_matches_torch(bs, drop, prefetch):
    class TStream(TD.IterableDataset):
        def __iter__(self):
            return iter(range(7))

        def __len__(self):
            return 7

    ours = D.DataLoader(_Stream(7), batch_size=bs, drop_last=drop, prefetch=prefetch)
    ref = TD.DataLoader(TStream(), batch_size=bs, drop_last=drop)
    assert _as_lists(ours) == _as_lists(ref) and len(ours) == len(ref)


@pytest.mark.parametrize("kwargs, message", [
    ({"shuffle": True}, "expected unspecified shuffle option"),
    ({"sampler": [0]}, "expected unspecified sampler option"),
    ({"batch_sampler": [[0]]}, "expected unspecified batch_sampler option"),
])
def test_loader_iterable_dataset_rejects_ordering_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        D.DataLoader(_Stream(3), **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_sampler": [[0]], "batch_size": 2}, "batch_sampler option is mutually exclusive"),
    ({"batch_sampler": [[0]], "shuffle": True}, "batch_sampler option is mutually exclusive"),
    ({"batch_size": None, "drop_last": True}, "batch_size=None option disables auto-batching"),
    ({"num_workers": -1}, "num_workers option should be non-negative"),
    ({"timeout": -1}, "timeout option should be non-negative"),
    ({"prefetch_factor": 2}, "prefetch_factor option could only be specified in multiprocessing"),
    ({"persistent_workers": True}, "persistent_workers option needs num_workers > 0"),
    ({"multiprocessing_context": "fork"}, "multiprocessing_context can only be used with multi-process"),
    ({"num_workers": 1, "multiprocessing_context": "nope"}, "should specify a valid start method"),
])
def test_loader_option_errors_like_torch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        D.DataLoader(range(4), **kwargs)
    with pytest.raises(ValueError):
        TD.DataLoader(range(4), **kwargs)


def test_loader_prefetch_factor_must_be_positive():
    with pytest.raises(ValueError, match="prefetch_factor should be a positive integer"):
        D.DataLoader(range(4), num_workers=1, prefetch_factor=0)  # torch: an AssertionError when iterated


def test_loader_generator_object_advances_per_epoch():
    order = lambda dl: [i for b in dl for i in b.tolist()]  # noqa: E731
    g = dlcore.Generator().manual_seed(9)
    dl = D.DataLoader(range(20), batch_size=5, shuffle=True, generator=g)
    e1, e2 = order(dl), order(dl)
    assert e1 != e2 and sorted(e1) == list(range(20))
    g.manual_seed(9)
    assert order(dl) == e1
    with pytest.raises(TypeError, match="DataLoader: generator must be"):
        D.DataLoader(range(3), generator="x")


def test_default_convert_matches_torch():
    data = {"a": np.arange(3), "b": [np.float32(2.5), "s"], "c": (1, 2.0)}
    ours, ref = D.default_convert(data), TD.default_convert(data)
    assert ours["a"].tolist() == ref["a"].tolist() and ours["a"].dtype == dlcore.int64
    assert ours["b"][0].item() == ref["b"][0].item() and ours["b"][1] == "s"
    assert ours["c"] == ref["c"] == [1, 2.0]
