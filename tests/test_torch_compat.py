"""The torch-namespace compatibility names (dlcore/_torch_compat.py) against torch."""
import numpy as np
import pytest

import dlcore

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def test_legacy_tensor_types():
    for name in ("FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor"):
        ours, theirs = getattr(dlcore, name), getattr(torch, name)
        a, b = ours([1, 0, 2]), theirs([1, 0, 2])
        assert a.dtype.name == str(b.dtype).split(".")[1] and a.tolist() == b.tolist()
        assert tuple(ours(2, 3).shape) == tuple(theirs(2, 3).shape)
        assert isinstance(a, ours) and isinstance(b, theirs)
        assert tuple(ours().shape) == (0,)
    assert not isinstance(dlcore.ones(1, dtype=dlcore.float64), dlcore.FloatTensor)
    x = dlcore.ones(2)
    assert x.type() == "dlcore.FloatTensor" and torch.ones(2).type() == "torch.FloatTensor"
    assert x.type(dlcore.DoubleTensor).dtype == dlcore.float64
    assert x.type("torch.LongTensor").dtype == dlcore.int64
    assert x.type(dlcore.float64).dtype == dlcore.float64
    with pytest.raises(TypeError, match="FloatTensor"):
        dlcore.FloatTensor(2.5)
    with pytest.raises(ValueError, match="invalid type"):
        x.type("numpy.float32")


def test_size():
    s = dlcore.Size([2, 3, 4])
    assert s == (2, 3, 4) == torch.Size([2, 3, 4]) and s.numel() == 24 == torch.Size([2, 3, 4]).numel()
    assert isinstance(s[1:], dlcore.Size) and s[1:] == (3, 4) and s[0] == 2
    assert repr(s) == "dlcore.Size([2, 3, 4])"
    assert dlcore.zeros(s).shape == s
    assert dlcore.Size().numel() == 1
    with pytest.raises(TypeError, match="Size"):
        dlcore.Size([2.5])


@pytest.mark.parametrize("name,args", [
    ("kl_div", lambda m, a, b: (a.log_softmax(-1), b.softmax(-1), 1)),
    ("kl_div", lambda m, a, b: (a.log_softmax(-1), b.softmax(-1), 2)),
    ("cosine_embedding_loss", lambda m, a, b: (a, b, m.tensor([1.0, -1.0, 1.0]), 0.1, 0)),
    ("margin_ranking_loss", lambda m, a, b: (a[:, 0], b[:, 0], m.tensor([1.0, -1.0, 1.0]), 0.2, 2)),
    ("hinge_embedding_loss", lambda m, a, b: (a, (b > 0).to(a.dtype) * 2 - 1, 1.0, 1)),
    ("triplet_margin_loss", lambda m, a, b: (a, b, a.flip(0), 1.0, 2.0, 1e-6, False, 1)),
    ("poisson_nll_loss", lambda m, a, b: (a, b.abs(), True, False, 1e-8, 1)),
    ("threshold", lambda m, a, b: (a, 0.1, -1.0)),
    ("hardshrink", lambda m, a, b: (a, 0.3)),
    ("celu", lambda m, a, b: (a, 0.7)),
    ("selu", lambda m, a, b: (a,)),
    ("bilinear", lambda m, a, b: (a, b, m.ones(2, 4, 4), m.zeros(2))),
    ("pixel_shuffle", lambda m, a, b: (a.reshape(1, 4, 3, 1), 2)),
    ("channel_shuffle", lambda m, a, b: (a.reshape(1, 4, 3, 1), 2)),
    ("rms_norm", lambda m, a, b: (a, [4], None, 1e-6)),
    ("fill", lambda m, a, b: (a, 2.5)),
])
def test_aten_twins_match_torch(name, args):
    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    ours = getattr(dlcore, name)(*args(dlcore, dlcore.tensor(a_np, dtype=dlcore.float32),
                                       dlcore.tensor(b_np, dtype=dlcore.float32)))
    theirs = getattr(torch, name)(*args(torch, torch.tensor(a_np, dtype=torch.float32),
                                        torch.tensor(b_np, dtype=torch.float32)))
    np.testing.assert_allclose(_np(ours), theirs.numpy(), rtol=1e-5, atol=1e-6)


def test_aten_dropouts_and_errors():
    x = dlcore.ones(4, 8)
    assert dlcore.alpha_dropout(x, 0.5, False) is not None
    assert np.array_equal(_np(dlcore.feature_dropout(x, 0.5, False)), _np(x))
    y = dlcore.ones(100, 10, 3)
    out = dlcore.feature_dropout(y, 0.5, True)  # whole channels: each (n, c) row is all 0 or all 2
    rows = _np(out).reshape(100 * 10, 3)
    assert set(np.unique(rows.min(1)).tolist()) <= {0.0, 2.0} and np.array_equal(rows.min(1), rows.max(1))
    z = dlcore.ones(3)
    assert dlcore.dropout_(z, 0.0, True) is z
    with pytest.raises(ValueError, match="kl_div: reduction must be 0"):
        dlcore.kl_div(x, x, reduction="mean")


def test_switches():
    assert dlcore.get_float32_matmul_precision() == torch.get_float32_matmul_precision() == "highest"
    dlcore.set_float32_matmul_precision("high")
    try:
        assert dlcore.backends.cuda.matmul.allow_tf32 is True and dlcore.get_float32_matmul_precision() == "high"
    finally:
        dlcore.set_float32_matmul_precision("highest")
    with pytest.raises(ValueError, match="highest"):
        dlcore.set_float32_matmul_precision("low")
    assert dlcore.get_deterministic_debug_mode() == 0
    dlcore.set_deterministic_debug_mode("error")
    try:
        assert dlcore.are_deterministic_algorithms_enabled() and dlcore.get_deterministic_debug_mode() == 2
        dlcore.set_deterministic_debug_mode(1)
        assert dlcore.get_deterministic_debug_mode() == 1
    finally:
        dlcore.set_deterministic_debug_mode(0)
    assert not dlcore.are_deterministic_algorithms_enabled()
    assert dlcore.get_num_interop_threads() == 1 and dlcore.set_flush_denormal(True) is False
    assert dlcore.has_openmp and not dlcore.has_spectral
    assert dlcore.get_autocast_cpu_dtype() == dlcore.amp.get_autocast_dtype("cpu")
    assert repr(dlcore.channels_last) == "dlcore.channels_last"


def test_vmap_matches_a_loop_and_torch():
    rng = np.random.default_rng(1)
    a, w = rng.standard_normal((5, 3)), rng.standard_normal((3, 2))
    ours = dlcore.vmap(lambda row, m: row @ m, in_dims=(0, None))(dlcore.tensor(a), dlcore.tensor(w))
    theirs = torch.vmap(lambda row, m: row @ m, in_dims=(0, None))(torch.tensor(a), torch.tensor(w))
    np.testing.assert_allclose(_np(ours), theirs.numpy(), rtol=1e-12)
    x = dlcore.tensor(a, requires_grad=True)
    dlcore.vmap(lambda r: (r * r).sum())(x).sum().backward()
    np.testing.assert_allclose(_np(x.grad), 2 * a)
    pair = dlcore.vmap(lambda r: (r.sum(), r.max()), out_dims=0)(dlcore.tensor(a))
    np.testing.assert_allclose(_np(pair[1]), a.max(1))
    with pytest.raises(ValueError, match="vmap: the mapped dims must have one size"):
        dlcore.vmap(lambda p, q: p + q)(dlcore.ones(2), dlcore.ones(3))
