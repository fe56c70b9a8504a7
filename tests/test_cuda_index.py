"""CUDA indexing kernels (cuda/index.cu): gather, scatter and scatter_add, index_select,
embedding forward and backward, advanced indexing reads and writes (with accumulation), on the
GPU against the CPU, and out-of-range indices raising IndexError.

Marked ``cuda``: they need a GPU and run through bench/gpu/check.sh; elsewhere they are skipped.

Gathers and plain scatters move values and agree exactly. Accumulating scatters add in no fixed
order on the GPU (atomics): float32 sums of a handful of terms agree to rtol 1e-6.
"""
import numpy as np
import pytest

import dlcore

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")
pytestmark = [pytest.mark.cuda, requires_cuda]
DEVICE = "cuda"


def on(device, a, **kw):
    return dlcore.tensor(a, device=device, **kw)


def both(fn):
    """fn(device) -> list of tensors, on the GPU and on the CPU, as numpy arrays."""
    return ([t.detach().cpu().numpy() for t in fn(DEVICE)], [t.detach().cpu().numpy() for t in fn("cpu")])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32], ids=str)
def test_gather_scatter(dtype, rng):
    x = (rng.standard_normal((6, 9)) * 10).astype(dtype)
    idx = rng.integers(0, 9, size=(6, 4))
    src = (rng.standard_normal((6, 4)) * 10).astype(dtype)

    def run(dev):
        xt, it, st = on(dev, x), on(dev, idx), on(dev, src)
        return [dlcore.gather(xt, 1, it), dlcore.scatter(xt, 1, it[:, :1], st[:, :1]), dlcore.scatter_add(xt, 1, it, st),
                dlcore.index_select(xt, 0, on(dev, np.array([5, 0, 5, 2])))]

    got, want = both(run)
    for k, (a, b) in enumerate(zip(got, want)):
        if k == 2 and dtype in (np.float32, np.float64):
            np.testing.assert_allclose(a, b, rtol=1e-6)
        else:
            np.testing.assert_array_equal(a, b)


def test_embedding_forward_and_backward(rng):
    weight = rng.standard_normal((50, 16)).astype(np.float32)
    ids = rng.integers(0, 50, size=(8, 12))
    ids[0, :6] = 3  # repeated rows: their gradients add up
    g = rng.standard_normal((8, 12, 16)).astype(np.float32)

    def run(dev):
        w = on(dev, weight, requires_grad=True)
        y = dlcore.nn.functional.embedding(on(dev, ids), w)
        y.backward(on(dev, g))
        return [y, w.grad]

    got, want = both(run)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-6)


def test_advanced_indexing(rng):
    x = rng.standard_normal((5, 7, 3)).astype(np.float32)
    rows, cols = np.array([4, 0, 4, 1]), np.array([6, 2, 6, 0])
    vals = rng.standard_normal((4, 3)).astype(np.float32)

    def run(dev):
        xt = on(dev, x)
        r, c = on(dev, rows), on(dev, cols)
        read = xt[r, c]
        neg = xt[on(dev, np.array([-1, 0]))]
        acc = dlcore.index_put(xt, (r, c), on(dev, vals), accumulate=True)
        return [read, neg, acc]

    got, want = both(run)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[2], want[2], rtol=1e-6)


def test_out_of_range_raises():
    """A bad index is raised where the host next waits for the device (Note [Deferred device
    errors]): here .cpu(); the error is cleared by being raised, and the device stays usable."""
    x = dlcore.zeros(4, 3, device=DEVICE)
    with pytest.raises(IndexError, match="index_select: index 9 is out of bounds"):
        dlcore.index_select(x, 0, dlcore.tensor(np.array([1, 9]), device=DEVICE)).cpu()
    with pytest.raises(IndexError, match="out of bounds"):
        dlcore.gather(x, 1, dlcore.tensor(np.array([[0], [3], [1], [2]]), device=DEVICE))
        dlcore.cuda.synchronize()
    ok = dlcore.index_select(x + 1, 0, dlcore.tensor(np.array([3, 0]), device=DEVICE))
    np.testing.assert_array_equal(ok.cpu().numpy(), np.ones((2, 3), np.float32))
    # an embedding lookup out of range surfaces at .item() even after more work was queued
    emb = dlcore.nn.Embedding(10, 4).to(DEVICE)
    with pytest.raises(IndexError, match="out of bounds"):
        (emb(dlcore.tensor(np.array([2, 10]), device=DEVICE)) * 2).sum().item()
