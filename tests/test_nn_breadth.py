"""dlcore.nn.functional's activations, distances, norms, pooling, sampling and losses against
torch.nn.functional: forward values and input gradients in float64 and float32, and bad inputs."""
import math

import numpy as np
import pytest

import dlcore
import dlcore.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# torch's deprecation notices for the aliases it still provides (upsample*, implicit dims)
pytestmark = [pytest.mark.filterwarnings("ignore:.*is deprecated:UserWarning"),
              pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid:UserWarning")]

# float64: each output is a short chain of ops (at most a few hundred terms), so both sides agree to
# ~1e-15 relative; float32: the same chains at ~6e-8 per op, with margin for sums and divisions.
TOL = {"float64": dict(rtol=1e-9, atol=1e-11), "float32": dict(rtol=2e-4, atol=2e-5)}
NP = {"float64": np.float64, "float32": np.float32}


def check(dfn, tfn, arrays, dtype="float64", grads=None, tol=None):
    """Runs dfn on dlcore tensors and tfn on torch tensors made from ``arrays`` (floating arrays cast
    to ``dtype``; integer arrays kept), compares the outputs and the gradients of the inputs whose
    positions are in ``grads`` (default: every floating input) for a random output gradient."""
    tol = tol or TOL[dtype]
    arrays = [a.astype(NP[dtype]) if np.issubdtype(a.dtype, np.floating) else a for a in arrays]
    if grads is None:
        grads = [i for i, a in enumerate(arrays) if np.issubdtype(a.dtype, np.floating)]
    d = [dlcore.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    t = [torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    dout, tout = dfn(*d), tfn(*t)
    assert tuple(dout.shape) == tuple(tout.shape)
    np.testing.assert_allclose(dout.detach().numpy(), tout.detach().numpy(), **tol)
    if grads and tout.requires_grad:
        g = np.random.default_rng(7).standard_normal(tuple(tout.shape)).astype(NP[dtype])
        dout.backward(dlcore.tensor(g))
        tout.backward(torch.tensor(g))
        for i in grads:
            assert d[i].grad is not None or not t[i].grad.abs().sum(), f"input {i} got no gradient"
            dg = d[i].grad.numpy() if d[i].grad is not None else np.zeros(arrays[i].shape)
            np.testing.assert_allclose(dg, t[i].grad.numpy(), err_msg=f"grad of input {i}", **tol)
    return dout, tout


@pytest.fixture
def r():
    return np.random.default_rng(0)


DTYPES = ["float64", "float32"]


# ---- activations -------------------------------------------------------------------------------
ACTIVATIONS = [
    ("selu", (), {}), ("celu", (0.5,), {}), ("threshold", (0.1, -2.0), {}), ("softmin", (1,), {}),
    ("softshrink", (0.3,), {}), ("hardshrink", (0.3,), {}), ("tanhshrink", (), {}), ("rrelu", (0.1, 0.3), {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,args,kwargs", ACTIVATIONS)
def test_activations(r, name, args, kwargs, dtype):
    # celu uses alpha = 0.5: torch's backward rounds 1 / alpha to float32
    x = r.standard_normal((3, 4, 5))
    check(lambda a: getattr(F, name)(a, *args, **kwargs), lambda a: getattr(TF, name)(a, *args, **kwargs), [x], dtype)


def test_softmin_default_dim_and_dtype(r):
    x = r.standard_normal((3, 4))
    check(lambda a: F.softmin(a), lambda a: TF.softmin(a, dim=1), [x])
    out = F.softmin(dlcore.tensor(x.astype(np.float32)), 0, dtype=dlcore.float64)
    assert out.dtype == dlcore.float64


@pytest.mark.parametrize("name,args", [("relu_", ()), ("elu_", (0.7,)), ("leaky_relu_", (0.2,)),
                                       ("hardtanh_", (-0.5, 0.4)), ("selu_", ()), ("celu_", (0.5,)),
                                       ("threshold_", (0.2, 9.0)), ("rrelu_", (0.1, 0.3))])
def test_inplace_activations_mutate_and_backprop(r, name, args):
    x = r.standard_normal((4, 5))
    dx, tx = dlcore.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    dy, ty = dx * 1.0, tx * 1.0
    dres, tres = getattr(F, name)(dy, *args), getattr(TF, name)(ty, *args)
    assert dres is dy
    np.testing.assert_allclose(dy.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    dres.sum().backward()
    tres.sum().backward()
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name,args", [("selu", ()), ("celu", (0.5,)), ("threshold", (0.2, 9.0)), ("rrelu", ())])
def test_inplace_flag(r, name, args):
    x = r.standard_normal((3, 4))
    d, t = dlcore.tensor(x), torch.tensor(x)
    out = getattr(F, name)(d, *args, inplace=True)
    getattr(TF, name)(t, *args, inplace=True)
    assert out is d
    np.testing.assert_allclose(d.numpy(), t.numpy(), rtol=1e-12)
    leaf = dlcore.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError):
        getattr(F, name)(leaf, *args, inplace=True)


def test_rrelu_training_slopes_in_range(r):
    x = dlcore.tensor(-np.abs(r.standard_normal(2000)) - 0.1)
    slope = (F.rrelu(x, 0.1, 0.3, training=True) / x).numpy()
    assert slope.min() >= 0.1 - 1e-12 and slope.max() <= 0.3 + 1e-12
    assert slope.std() > 0.03  # random per element, not one shared slope
    pos = dlcore.tensor(np.abs(r.standard_normal(10)))
    np.testing.assert_array_equal(F.rrelu(pos, training=True).numpy(), pos.numpy())
    with pytest.raises(ValueError, match="rrelu"):
        F.rrelu(x, 0.5, 0.1)


def test_shrink_rejects_negative_lambda():
    with pytest.raises(ValueError, match="softshrink"):
        F.softshrink(dlcore.ones(3), -0.1)


# ---- dropout -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", ["alpha_dropout", "feature_alpha_dropout"])
def test_alpha_dropout_statistics(fn):
    dlcore.manual_seed(0)
    p = 0.3
    x = dlcore.randn(200, 50, 20, dtype=dlcore.float64)
    vals = getattr(F, fn)(x, p, training=True).numpy()
    # zero-mean unit-variance in, zero-mean unit-variance out (the point of alpha dropout)
    assert abs(vals.mean()) < 0.05 and abs(vals.std() - 1.0) < 0.05
    # a dropped unit takes the single value a * alpha' + b = -1.7581 a (1 - p)
    alpha = 1.7580993408473766
    a = 1.0 / math.sqrt((alpha ** 2 * p + 1) * (1 - p))
    dropped = np.isclose(vals, -alpha * a * (1 - p), rtol=0, atol=1e-12)
    assert abs(dropped.mean() - p) < 0.02
    if fn == "feature_alpha_dropout":  # whole channels (N, C) are dropped together
        assert (dropped.all(-1) | ~dropped.any(-1)).all()
    else:
        assert not (dropped.all(-1) | ~dropped.any(-1)).all()


def test_alpha_dropout_eval_and_edge_cases():
    x = dlcore.randn(4, 5)
    assert F.alpha_dropout(x, 0.5) is x  # training defaults to False, as in torch
    assert F.alpha_dropout(x, 0.0, True) is x
    np.testing.assert_array_equal(F.alpha_dropout(x, 1.0, True).numpy(), np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.alpha_dropout(x, 1.5, True)


# ---- distances ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, float("inf")])
def test_pairwise_distance_and_pdist(r, p, dtype):
    x, y = r.standard_normal((5, 4)), r.standard_normal((5, 4))
    check(lambda a, b: F.pairwise_distance(a, b, p, 1e-3), lambda a, b: TF.pairwise_distance(a, b, p, 1e-3), [x, y],
          dtype)
    check(lambda a, b: F.pairwise_distance(a, b, p, keepdim=True),
          lambda a, b: TF.pairwise_distance(a, b, p, keepdim=True), [x, y[:1]], dtype)
    if p != float("inf"):
        check(lambda a: F.pdist(a, p), lambda a: TF.pdist(a, p), [x], dtype)


def test_pdist_shapes_and_errors():
    assert tuple(F.pdist(dlcore.randn(1, 3)).shape) == (0,)
    # a zero distance (repeated rows) has a zero gradient, as in torch
    check(F.pdist, TF.pdist, [np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 1.0]])])
    with pytest.raises(RuntimeError, match=r"pdist only supports 2D tensors, got shape \(3,\)"):
        F.pdist(dlcore.randn(3))  # torch raises RuntimeError too


# ---- normalisation -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_instance_norm_with_running_stats(r, dtype):
    x = r.standard_normal((3, 4, 5, 6))
    w, b = r.standard_normal(4), r.standard_normal(4)
    rm, rv = r.standard_normal(4).astype(NP[dtype]), (r.random(4) + 0.5).astype(NP[dtype])
    drm, drv, trm, trv = dlcore.tensor(rm), dlcore.tensor(rv), torch.tensor(rm), torch.tensor(rv)
    check(lambda a, c, d: F.instance_norm(a, drm, drv, c, d, True, 0.2),
          lambda a, c, d: TF.instance_norm(a, trm, trv, c, d, True, 0.2), [x, w, b], dtype)
    np.testing.assert_allclose(drm.numpy(), trm.numpy(), **TOL[dtype])
    np.testing.assert_allclose(drv.numpy(), trv.numpy(), **TOL[dtype])
    check(lambda a: F.instance_norm(a, drm, drv, use_input_stats=False),
          lambda a: TF.instance_norm(a, trm, trv, use_input_stats=False), [x], dtype)
    check(lambda a: F.instance_norm(a), lambda a: TF.instance_norm(a), [x[:, :, 0]], dtype)


def test_instance_norm_errors():
    with pytest.raises(ValueError, match=r"more than 1 spatial element"):
        F.instance_norm(dlcore.randn(2, 3, 1))
    with pytest.raises(ValueError, match=r"weight of shape \[2\]"):
        F.instance_norm(dlcore.randn(2, 3, 4), weight=dlcore.ones(2))
    with pytest.raises(RuntimeError, match="running_mean and running_var to be defined"):
        F.instance_norm(dlcore.randn(2, 3, 4), use_input_stats=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rms_norm(r, dtype):
    x = r.standard_normal((2, 3, 4))
    check(lambda a, w: F.rms_norm(a, [3, 4], w, 1e-5), lambda a, w: TF.rms_norm(a, [3, 4], w, 1e-5),
          [x, r.standard_normal((3, 4))], dtype)
    check(lambda a: F.rms_norm(a, 4), lambda a: TF.rms_norm(a, [4]), [x], dtype)  # eps = finfo(dtype).eps
    with pytest.raises(ValueError, match="rms_norm: normalized_shape"):
        F.rms_norm(dlcore.randn(2, 3), [4])


# ---- bilinear, embedding_bag -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_bilinear(r, dtype):
    check(F.bilinear, TF.bilinear, [r.standard_normal((2, 3, 4)), r.standard_normal((2, 3, 5)),
                                    r.standard_normal((6, 4, 5)), r.standard_normal(6)], dtype)
    check(lambda a, b, w: F.bilinear(a, b, w), lambda a, b, w: TF.bilinear(a, b, w),
          [r.standard_normal((0, 4)), r.standard_normal((0, 5)), r.standard_normal((6, 4, 5))], dtype)
    with pytest.raises(ValueError, match=r"bilinear: inputs \[2, 3\] and \[2, 5\]"):
        F.bilinear(dlcore.randn(2, 3), dlcore.randn(2, 5), dlcore.randn(6, 4, 5))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_offsets(r, mode, dtype):
    w = r.standard_normal((10, 3))
    idx = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 7])
    offsets = np.array([0, 3, 3, 7])  # bag 1 is empty
    for pad in (None, 4):
        check(lambda ww, i, o: F.embedding_bag(i, ww, o, mode=mode, padding_idx=pad),
              lambda ww, i, o: TF.embedding_bag(i, ww, o, mode=mode, padding_idx=pad), [w, idx, offsets], dtype)
    last = np.array([0, 3, 3, 7, 10])
    check(lambda ww, i, o: F.embedding_bag(i, ww, o, mode=mode, include_last_offset=True),
          lambda ww, i, o: TF.embedding_bag(i, ww, o, mode=mode, include_last_offset=True), [w, idx, last], dtype)
    check(lambda ww, i: F.embedding_bag(i, ww, mode=mode), lambda ww, i: TF.embedding_bag(i, ww, mode=mode),
          [w, idx.reshape(2, 5)], dtype)


def test_embedding_bag_per_sample_weights(r):
    w, psw = r.standard_normal((10, 3)), r.standard_normal(6)
    idx, off = np.array([1, 2, 4, 5, 4, 3]), np.array([0, 2])
    check(lambda ww, i, o, p: F.embedding_bag(i, ww, o, mode="sum", per_sample_weights=p),
          lambda ww, i, o, p: TF.embedding_bag(i, ww, o, mode="sum", per_sample_weights=p), [w, idx, off, psw])
    with pytest.raises(NotImplementedError, match="per_sample_weights"):
        F.embedding_bag(dlcore.tensor(idx), dlcore.tensor(w), dlcore.tensor(off), per_sample_weights=dlcore.tensor(psw))


def test_embedding_bag_errors():
    w = dlcore.randn(5, 2)
    with pytest.raises(IndexError, match=r"embedding_bag: index out of range \[0, 5\)"):
        F.embedding_bag(dlcore.tensor([1, 5]), w, dlcore.tensor([0]))
    with pytest.raises(ValueError, match="offsets must be None"):
        F.embedding_bag(dlcore.tensor([[1, 2]]), w, dlcore.tensor([0]))
    with pytest.raises(ValueError, match="1-D input needs 1-D offsets"):
        F.embedding_bag(dlcore.tensor([1, 2]), w)
    with pytest.raises(TypeError, match="integer indices"):
        F.embedding_bag(dlcore.tensor([[1.0]]), w)


# ---- pixel shuffle, pooling --------------------------------------------------------------------
def test_pixel_shuffle_roundtrip_and_batch_dims(r):
    x = r.standard_normal((2, 2, 12, 3, 4))
    check(lambda a: F.pixel_shuffle(a, 2), lambda a: TF.pixel_shuffle(a, 2), [x])
    check(lambda a: F.pixel_unshuffle(a, 3), lambda a: TF.pixel_unshuffle(a, 3), [r.standard_normal((2, 6, 9))])
    d = dlcore.tensor(x)
    np.testing.assert_array_equal(F.pixel_unshuffle(F.pixel_shuffle(d, 2), 2).numpy(), x)
    with pytest.raises(ValueError, match="not divisible by upscale_factor"):
        F.pixel_shuffle(dlcore.randn(1, 3, 2, 2), 2)
    with pytest.raises(ValueError, match="must be divisible by downscale_factor 2"):
        F.pixel_unshuffle(dlcore.randn(1, 3, 3, 2), 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_lp_pool(r, n, dtype):
    x = r.standard_normal((2, 3) + (6,) * n)
    op = f"lp_pool{n}d"
    check(lambda a: getattr(F, op)(a, 2.0, 2), lambda a: getattr(TF, op)(a, 2.0, 2), [x], dtype)
    check(lambda a: getattr(F, op)(a, 1.5, 3, 2, True), lambda a: getattr(TF, op)(a, 1.5, 3, 2, True),
          [np.abs(x) + 0.1], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_max_unpool_inverts_max_pool(r, n, dtype):
    op = f"max_unpool{n}d"
    for size in (6, 7):  # 7: the default output size (6) is too small, output_size restores 7
        x = r.standard_normal((2, 3) + (size,) * n).astype(NP[dtype])
        dout, di = getattr(F, f"max_pool{n}d_with_indices")(dlcore.tensor(x), 2, 2)
        tout, ti = getattr(TF, f"max_pool{n}d_with_indices")(torch.tensor(x), 2, 2)
        np.testing.assert_array_equal(di.numpy(), ti.numpy())
        check(lambda a: getattr(F, op)(a, di, 2, output_size=[size] * n),
              lambda a: getattr(TF, op)(a, ti, 2, output_size=[size] * n), [tout.numpy()], dtype)
    x = r.standard_normal((2, 3) + (6,) * n).astype(NP[dtype])
    dout, di = getattr(F, f"max_pool{n}d_with_indices")(dlcore.tensor(x), 2, 2)
    tout, ti = getattr(TF, f"max_pool{n}d_with_indices")(torch.tensor(x), 2, 2)
    check(lambda a: getattr(F, op)(a, di, 2), lambda a: getattr(TF, op)(a, ti, 2), [tout.numpy()], dtype)
    unpooled = getattr(F, op)(dout, di, 2).numpy()
    assert (unpooled != 0).sum() == dout.numel()  # every maximum back in place, zeros elsewhere
    with pytest.raises(ValueError, match="invalid output_size"):
        getattr(F, op)(dout, di, 2, output_size=[9] * n)


def test_adaptive_max_pool_with_indices(r):
    x = r.standard_normal((2, 3, 7, 5))
    out, idx = F.adaptive_max_pool2d_with_indices(dlcore.tensor(x), (3, 2))
    tout, tidx = TF.adaptive_max_pool2d_with_indices(torch.tensor(x), (3, 2))
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    np.testing.assert_array_equal(out.numpy(), tout.numpy())


def test_max_unpool_errors():
    x, idx = dlcore.randn(1, 1, 2, 2), dlcore.tensor(np.array([[[[0, 1], [2, 99]]]]))
    with pytest.raises(IndexError, match="outside the output plane"):
        F.max_unpool2d(x, idx, 2)
    with pytest.raises(ValueError, match="indices of shape"):
        F.max_unpool2d(x, idx[..., :1], 2)


# ---- affine_grid, grid_sample ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid(r, align_corners, dtype):
    check(lambda t: F.affine_grid(t, [2, 3, 4, 5], align_corners), lambda t: TF.affine_grid(t, [2, 3, 4, 5],
                                                                                          align_corners),
          [r.standard_normal((2, 2, 3))], dtype)
    check(lambda t: F.affine_grid(t, [2, 1, 3, 1, 4], align_corners),
          lambda t: TF.affine_grid(t, [2, 1, 3, 1, 4], align_corners), [r.standard_normal((2, 3, 4))], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_4d(r, mode, padding_mode, align_corners, dtype):
    x = r.standard_normal((2, 3, 5, 6))
    grid = r.uniform(-1.4, 1.4, (2, 4, 3, 2))
    tol = dict(rtol=1e-3, atol=1e-4) if (dtype == "float32" and mode == "bicubic") else None  # 16 taps, cubic weights
    check(lambda a, g: F.grid_sample(a, g, mode, padding_mode, align_corners),
          lambda a, g: TF.grid_sample(a, g, mode, padding_mode, align_corners), [x, grid], dtype, tol=tol)


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_5d(r, mode, padding_mode):
    x = r.standard_normal((2, 2, 4, 5, 3))
    grid = r.uniform(-1.3, 1.3, (2, 3, 2, 4, 3))
    for ac in (False, True):
        check(lambda a, g: F.grid_sample(a, g, mode, padding_mode, ac),
              lambda a, g: TF.grid_sample(a, g, mode, padding_mode, ac), [x, grid])


def test_grid_sample_identity_grid_reproduces_input(r):
    x = dlcore.tensor(r.standard_normal((1, 2, 4, 5)))
    theta = dlcore.tensor(np.array([[[1.0, 0, 0], [0, 1.0, 0]]]))
    for ac in (False, True):
        out = F.grid_sample(x, F.affine_grid(theta, [1, 2, 4, 5], ac), align_corners=ac)
        np.testing.assert_allclose(out.numpy(), x.numpy(), rtol=1e-12, atol=1e-12)


def test_grid_sample_errors():
    x = dlcore.randn(1, 1, 3, 3)
    with pytest.raises(ValueError, match="bicubic' supports only 4-D"):
        F.grid_sample(dlcore.randn(1, 1, 2, 2, 2), dlcore.zeros(1, 1, 1, 1, 3), mode="bicubic")
    with pytest.raises(ValueError, match=r"grid \[1, 2, 2, 3\] must be"):
        F.grid_sample(x, dlcore.zeros(1, 2, 2, 3))
    with pytest.raises(ValueError, match="padding_mode"):
        F.grid_sample(x, dlcore.zeros(1, 2, 2, 2), padding_mode="wrap")
    with pytest.raises(ValueError, match=r"expected theta of shape \(2, 2, 3\)"):
        F.affine_grid(dlcore.zeros(2, 3, 3), [2, 1, 4, 4])


# ---- gumbel_softmax, aliases -------------------------------------------------------------------
def test_gumbel_softmax_soft_and_hard(r):
    dlcore.manual_seed(0)
    logits = dlcore.tensor(r.standard_normal((6, 5)), requires_grad=True)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.sum(-1).detach().numpy(), np.ones(6), rtol=1e-12)
    hard = F.gumbel_softmax(logits, hard=True)
    h = hard.detach().numpy()
    assert set(np.unique(h)) <= {0.0, 1.0} and (h.sum(-1) == 1).all()
    # straight-through: the gradient is the soft sample's, so it is nonzero off the argmax too
    (hard * dlcore.tensor(r.standard_normal((6, 5)))).sum().backward()
    assert (np.abs(logits.grad.numpy()) > 0).sum() > 6
    # the sampled argmax follows the logits' distribution
    many = F.gumbel_softmax(dlcore.tensor(np.log([[0.7, 0.2, 0.1]] * 4000)), hard=True).numpy()
    np.testing.assert_allclose(many.mean(0), [0.7, 0.2, 0.1], atol=0.03)


def test_upsample_aliases(r):
    x = r.standard_normal((1, 2, 3, 4))
    check(lambda a: F.upsample_nearest(a, scale_factor=2), lambda a: TF.upsample_nearest(a, scale_factor=2), [x])
    check(lambda a: F.upsample_bilinear(a, size=(5, 7)), lambda a: TF.upsample_bilinear(a, size=(5, 7)), [x])
    check(lambda a: F.upsample(a, scale_factor=2, mode="bilinear", align_corners=False),
          lambda a: TF.upsample(a, scale_factor=2, mode="bilinear", align_corners=False), [x])


def test_multi_head_attention_forward_matches_torch(r):
    e, h = 8, 2
    q, k = r.standard_normal((4, 2, e)), r.standard_normal((5, 2, e))
    w_in, b_in = r.standard_normal((3 * e, e)) * 0.3, r.standard_normal(3 * e)
    w_out, b_out = r.standard_normal((e, e)) * 0.3, r.standard_normal(e)
    mask = np.zeros((2, 5), bool)
    mask[1, 3:] = True

    def run(mod, fn, qq, kk, wi, bi, wo, bo):
        out, weights = fn(qq, kk, kk, e, h, wi, bi, None, None, False, 0.0, wo, bo, training=False,
                          key_padding_mask=mod.tensor(mask))
        return mod.cat([out.reshape(-1), weights.reshape(-1)])

    check(lambda *a: run(dlcore, F.multi_head_attention_forward, *a),
          lambda *a: run(torch, TF.multi_head_attention_forward, *a), [q, k, w_in, b_in, w_out, b_out])
    with pytest.raises(ValueError, match="embed_dim_to_check=6"):
        F.multi_head_attention_forward(dlcore.tensor(q), dlcore.tensor(k), dlcore.tensor(k), 6, h,
                                       dlcore.tensor(w_in), None, None, None, False, 0.0, dlcore.tensor(w_out), None)


# ---- losses ------------------------------------------------------------------------------------
REDUCTIONS = ["none", "mean", "sum"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pair_losses(r, reduction, dtype):
    x, y = r.standard_normal((4, 5)), r.standard_normal((4, 5))
    sign = np.array([1.0, -1.0, 1.0, -1.0])
    signs = np.sign(r.standard_normal((4, 5)))
    kw = dict(reduction=reduction)
    check(lambda a, b, t: F.cosine_embedding_loss(a, b, t, 0.1, **kw),
          lambda a, b, t: TF.cosine_embedding_loss(a, b, t, 0.1, **kw), [x, y, sign], dtype, grads=[0, 1])
    check(lambda a, b, t: F.margin_ranking_loss(a, b, t, 0.3, **kw),
          lambda a, b, t: TF.margin_ranking_loss(a, b, t, 0.3, **kw), [x[:, 0], y[:, 0], sign], dtype, grads=[0, 1])
    check(lambda a, t: F.hinge_embedding_loss(a, t, 0.5, **kw), lambda a, t: TF.hinge_embedding_loss(a, t, 0.5, **kw),
          [x, signs], dtype, grads=[0])
    check(lambda a, t: F.soft_margin_loss(a * 30, t, **kw), lambda a, t: TF.soft_margin_loss(a * 30, t, **kw),
          [x, signs], dtype, grads=[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log_input,full", [(True, False), (True, True), (False, False), (False, True)])
def test_poisson_nll_loss(r, log_input, full, dtype):
    x, counts = np.abs(r.standard_normal((4, 5))) + 0.1, r.poisson(3, (4, 5)).astype(np.float64)
    for red in REDUCTIONS:
        check(lambda a, t: F.poisson_nll_loss(a, t, log_input, full, reduction=red),
              lambda a, t: TF.poisson_nll_loss(a, t, log_input, full, reduction=red), [x, counts], dtype, grads=[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_nll_loss(r, dtype):
    x, y, v = r.standard_normal((4, 5)), r.standard_normal((4, 5)), np.abs(r.standard_normal((4, 5))) + 0.1
    check(lambda a, b, c: F.gaussian_nll_loss(a, b, c, True), lambda a, b, c: TF.gaussian_nll_loss(a, b, c, True),
          [x, y, v], dtype)
    check(lambda a, b, c: F.gaussian_nll_loss(a, b, c, reduction="sum"),
          lambda a, b, c: TF.gaussian_nll_loss(a, b, c, reduction="sum"), [x, y, v[:, 0]], dtype)
    check(lambda a, b, c: F.gaussian_nll_loss(a, b, c, reduction="none"),
          lambda a, b, c: TF.gaussian_nll_loss(a, b, c, reduction="none"), [x, y, v[:, :1]], dtype)
    tiny = np.full((4, 5), 1e-9)  # clamped to eps for the value, gradient passed through
    check(lambda a, b, c: F.gaussian_nll_loss(a, b, c), lambda a, b, c: TF.gaussian_nll_loss(a, b, c), [x, y, tiny],
          dtype)
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(dlcore.randn(4, 5), dlcore.randn(4, 5), dlcore.ones(3))
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(dlcore.randn(4, 5), dlcore.randn(4, 5), -dlcore.ones(4, 5))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_and_multiclass_margin_losses(r, reduction, dtype):
    x = r.standard_normal((4, 5))
    labels = (r.random((4, 5)) > 0.5).astype(np.float64)
    w = r.random(5)
    check(lambda a, t, c: F.multilabel_soft_margin_loss(a * 40, t, c, reduction=reduction),
          lambda a, t, c: TF.multilabel_soft_margin_loss(a * 40, t, c, reduction=reduction), [x, labels, w], dtype,
          grads=[0])
    target = np.array([1, 0, 4, 2])
    for p in (1, 2):
        check(lambda a, t, c: F.multi_margin_loss(a, t, p, 0.7, c, reduction=reduction),
              lambda a, t, c: TF.multi_margin_loss(a, t, p, 0.7, c, reduction=reduction), [x, target, w], dtype,
              grads=[0])
    mt = np.array([[3, 0, -1, 1, 1], [1, 2, 3, 4, 0], [-1, 1, 2, 3, 4], [4, 4, -1, 0, 0]])
    check(lambda a, t: F.multilabel_margin_loss(a, t, reduction=reduction),
          lambda a, t: TF.multilabel_margin_loss(a, t, reduction=reduction), [x, mt], dtype)


def test_class_losses_unbatched_and_errors(r):
    x = r.standard_normal(5)
    check(lambda a, t: F.multi_margin_loss(a, t), lambda a, t: TF.multi_margin_loss(a, t), [x, np.array(2)])
    check(lambda a, t: F.multilabel_margin_loss(a, t), lambda a, t: TF.multilabel_margin_loss(a, t),
          [x, np.array([3, 1, -1, 0, 0])])
    with pytest.raises(IndexError, match=r"multi_margin_loss: target values must be in \[0, 5\)"):
        F.multi_margin_loss(dlcore.randn(2, 5), dlcore.tensor([0, 5]))
    with pytest.raises(ValueError, match="only p == 1 and p == 2"):
        F.multi_margin_loss(dlcore.randn(2, 5), dlcore.tensor([0, 1]), p=3)
    with pytest.raises(ValueError, match=r"target \[3\] and input \[2, 5\] have different batch sizes"):
        F.multi_margin_loss(dlcore.randn(2, 5), dlcore.tensor([0, 1, 2]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("p", [1, 2, 3])
def test_triplet_margin_loss(r, p, swap, dtype):
    a, b, c = (r.standard_normal((6, 4)) for _ in range(3))
    check(lambda x, y, z: F.triplet_margin_loss(x, y, z, 0.8, p, swap=swap),
          lambda x, y, z: TF.triplet_margin_loss(x, y, z, 0.8, p, swap=swap), [a, b, c], dtype)
    check(lambda x, y, z: F.triplet_margin_loss(x, y, z, reduction="none"),
          lambda x, y, z: TF.triplet_margin_loss(x, y, z, reduction="none"), [a[0], b[0], c[0]], dtype)


def test_triplet_margin_with_distance_loss(r):
    a, b, c = (r.standard_normal((6, 4)) for _ in range(3))
    check(lambda x, y, z: F.triplet_margin_with_distance_loss(
              x, y, z, distance_function=lambda u, v: 1 - F.cosine_similarity(u, v), swap=True),
          lambda x, y, z: TF.triplet_margin_with_distance_loss(
              x, y, z, distance_function=lambda u, v: 1 - TF.cosine_similarity(u, v), swap=True), [a, b, c])
    check(lambda x, y, z: F.triplet_margin_with_distance_loss(x, y, z, margin=2.0),
          lambda x, y, z: TF.triplet_margin_with_distance_loss(x, y, z, margin=2.0), [a, b, c])
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        F.triplet_margin_with_distance_loss(dlcore.randn(2, 3), dlcore.randn(2, 3), dlcore.randn(2, 3), margin=0)


# ---- CTC ---------------------------------------------------------------------------------------
def _ctc_case(r, blank=0):
    T, N, C = 12, 4, 6
    logits = r.standard_normal((T, N, C))
    labels = [c for c in range(C) if c != blank]
    targets = r.choice(labels, (N, 5))
    targets[1, :3] = labels[1]  # a repeated label needs a blank between the repeats
    return logits, targets, np.array([12, 10, 6, 9]), np.array([5, 3, 0, 4])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_loss(r, reduction, zero_infinity, dtype):
    logits, targets, il, tl = _ctc_case(r)
    # gradients through log_softmax: torch's own gradient w.r.t. log_probs differs by a term that
    # log_softmax's backward cancels (see Note [CTC in log space])
    check(lambda a, t: F.ctc_loss(a.log_softmax(2), t, dlcore.tensor(il), dlcore.tensor(tl), 0, reduction,
                                  zero_infinity),
          lambda a, t: TF.ctc_loss(a.log_softmax(2), t, torch.tensor(il), torch.tensor(tl), 0, reduction,
                                   zero_infinity), [logits, targets], dtype, grads=[0])


def test_ctc_loss_concatenated_targets_and_blank(r):
    logits, targets, il, tl = _ctc_case(r, blank=5)
    cat = np.concatenate([targets[i, :tl[i]] for i in range(4)])
    check(lambda a, t: F.ctc_loss(a.log_softmax(2), t, il.tolist(), tl.tolist(), blank=5),
          lambda a, t: TF.ctc_loss(a.log_softmax(2), t, il.tolist(), tl.tolist(), blank=5), [logits, cat], grads=[0])
    check(lambda a, t: F.ctc_loss(a.log_softmax(1), t, [12], [5], reduction="sum", blank=5),
          lambda a, t: TF.ctc_loss(a.log_softmax(1), t, [12], [5], reduction="sum", blank=5),
          [logits[:, 0], targets[0]], grads=[0])


def test_ctc_loss_empty_targets_and_unbatched_target(r):
    logits = r.standard_normal((6, 3, 4))
    check(lambda a, t: F.ctc_loss(a.log_softmax(2), t, [6, 4, 0], [0, 0, 0], reduction="none"),
          lambda a, t: TF.ctc_loss(a.log_softmax(2), t, [6, 4, 0], [0, 0, 0], reduction="none"),
          [logits, np.zeros((3, 2), np.int64)], grads=[0])
    check(lambda a, t: F.ctc_loss(a.log_softmax(1), t, [6], [2]),
          lambda a, t: TF.ctc_loss(a.log_softmax(1), t, [6], [2]), [logits[:, 0], np.array([3, 1])], grads=[0])
    lp = dlcore.tensor(logits[:, 0]).log_softmax(1)
    padded = F.ctc_loss(lp, dlcore.tensor(np.array([3, 1, 2, 2])), [6], [2])
    assert padded.item() == F.ctc_loss(lp, dlcore.tensor(np.array([3, 1])), [6], [2]).item()


def test_ctc_loss_impossible_alignments(r):
    logits, targets, _, tl = _ctc_case(r)
    lp = dlcore.tensor(logits).log_softmax(2)
    il = np.array([2, 2, 0, 12])  # 5 and 3 labels cannot fit in 2 frames; 0 labels fit in 0 frames
    out = F.ctc_loss(lp, dlcore.tensor(targets), il, tl, reduction="none").numpy()
    ref = TF.ctc_loss(torch.tensor(logits).log_softmax(2), torch.tensor(targets), torch.tensor(il), torch.tensor(tl),
                      reduction="none").numpy()
    np.testing.assert_array_equal(np.isinf(out), [True, True, False, False])
    np.testing.assert_allclose(out[2:], ref[2:], rtol=1e-12)
    assert out[2] == 0.0
    x = dlcore.tensor(logits, requires_grad=True)
    z = F.ctc_loss(x.log_softmax(2), dlcore.tensor(targets), il, tl, reduction="sum", zero_infinity=True)
    z.backward()
    assert np.isfinite(x.grad.numpy()).all() and not x.grad.numpy()[:, :2].any()


def test_ctc_loss_errors(r):
    lp = dlcore.tensor(r.standard_normal((5, 2, 4))).log_softmax(2)
    tg = dlcore.tensor(np.array([[1, 2], [3, 1]]))
    with pytest.raises(ValueError, match="input_lengths"):
        F.ctc_loss(lp, tg, [6, 5], [2, 2])
    with pytest.raises(ValueError, match="differ from blank 0"):
        F.ctc_loss(lp, dlcore.tensor(np.array([[0, 2], [3, 1]])), [5, 5], [2, 2])
    with pytest.raises(ValueError, match="one entry per batch element"):
        F.ctc_loss(lp, tg, [5], [2, 2])
    with pytest.raises(ValueError, match="concatenated targets hold 3 labels"):
        F.ctc_loss(lp, dlcore.tensor(np.array([1, 2, 3])), [5, 5], [2, 2])


@pytest.mark.parametrize("fn", ["cosine_embedding_loss", "margin_ranking_loss", "soft_margin_loss",
                                "poisson_nll_loss", "multilabel_soft_margin_loss", "triplet_margin_loss"])
def test_losses_reject_unknown_reduction(fn):
    args = [dlcore.randn(3, 4), dlcore.randn(3, 4), dlcore.ones(3)]
    nargs = {"soft_margin_loss": 2, "poisson_nll_loss": 2, "multilabel_soft_margin_loss": 2}.get(fn, 3)
    if fn == "triplet_margin_loss":
        args[2] = dlcore.randn(3, 4)
    with pytest.raises(ValueError, match=f"{fn}: reduction"):
        getattr(F, fn)(*args[:nargs], reduction="avg")


# ---- fractional max pooling --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel,kwargs", [(3, dict(output_size=(4, 5))), ((2, 3), dict(output_ratio=(0.5, 0.6))),
                                           (3, dict(output_size=1)), (2, dict(output_size=(8, 10)))])
def test_fractional_max_pool2d_matches_torch_for_given_samples(r, kernel, kwargs, dtype):
    x = r.standard_normal((2, 3, 9, 11))
    u = r.random((2, 3, 2)).astype(NP[dtype])
    _, di = F.fractional_max_pool2d_with_indices(dlcore.tensor(x.astype(NP[dtype])), kernel, **kwargs,
                                                 _random_samples=dlcore.tensor(u))
    _, ti = TF.fractional_max_pool2d_with_indices(torch.tensor(x.astype(NP[dtype])), kernel, **kwargs,
                                                  _random_samples=torch.tensor(u))
    np.testing.assert_array_equal(di.numpy(), ti.numpy())
    check(lambda a: F.fractional_max_pool2d(a, kernel, **kwargs, _random_samples=dlcore.tensor(u)),
          lambda a: TF.fractional_max_pool2d(a, kernel, **kwargs, _random_samples=torch.tensor(u)), [x], dtype)


def test_fractional_max_pool3d_and_unbatched(r):
    x, u = r.standard_normal((2, 3, 7, 9, 8)), r.random((2, 3, 3))
    ratio = (0.5, 0.5, 0.6)
    check(lambda a: F.fractional_max_pool3d(a, (2, 3, 2), output_ratio=ratio, _random_samples=dlcore.tensor(u)),
          lambda a: TF.fractional_max_pool3d(a, (2, 3, 2), output_ratio=ratio, _random_samples=torch.tensor(u)), [x])
    check(lambda a: F.fractional_max_pool2d(a, 2, (3, 4), _random_samples=dlcore.tensor(u[:1, :, :2])),
          lambda a: TF.fractional_max_pool2d(a, 2, (3, 4), _random_samples=torch.tensor(u[:1, :, :2])), [x[0, :, 0]])


def test_fractional_max_pool_random_windows_and_errors():
    dlcore.manual_seed(0)
    x = dlcore.randn(4, 8, 10, 10)
    out, idx = F.fractional_max_pool2d(x, 2, output_size=5, return_indices=True)
    assert tuple(out.shape) == (4, 8, 5, 5)
    np.testing.assert_array_equal(x.reshape(4, 8, -1).gather(2, idx.reshape(4, 8, -1)).numpy(),
                                  out.reshape(4, 8, -1).numpy())
    with pytest.raises(ValueError, match="either an output_size or an output_ratio"):
        F.fractional_max_pool2d(x, 2)
    with pytest.raises(ValueError, match="too large for input size 10"):
        F.fractional_max_pool2d(x, 4, output_size=8)
    with pytest.raises(ValueError, match=r"_random_samples must have shape \[4, 8, 2\]"):
        F.fractional_max_pool2d(x, 2, 5, _random_samples=dlcore.rand(4, 8, 3))


# ---- zero-size inputs --------------------------------------------------------------------------
EMPTY = [
    ("grid_sample", lambda m, a, g: m.grid_sample(a, g, align_corners=False), [(2, 3, 4, 4), (2, 0, 3, 2)]),
    ("grid_sample batch", lambda m, a, g: m.grid_sample(a, g, align_corners=False), [(0, 3, 4, 4), (0, 2, 3, 2)]),
    ("instance_norm", lambda m, a: m.instance_norm(a), [(0, 3, 4)]),
    ("rms_norm", lambda m, a: m.rms_norm(a, [4]), [(0, 4)]),
    ("lp_pool2d", lambda m, a: m.lp_pool2d(a, 2, 2), [(0, 3, 4, 4)]),
    ("bilinear", lambda m, a, b, w: m.bilinear(a, b, w), [(0, 3), (0, 2), (4, 3, 2)]),
    ("pairwise_distance", lambda m, a, b: m.pairwise_distance(a, b), [(0, 3), (0, 3)]),
    ("fractional_max_pool2d", lambda m, a: m.fractional_max_pool2d(a, 2, 2), [(0, 3, 4, 4)]),
    ("cosine_embedding_loss", lambda m, a, b: m.cosine_embedding_loss(a, b, a.new_zeros([0]), reduction="sum"),
     [(0, 3), (0, 3)]),
    ("gaussian_nll_loss", lambda m, a, b: m.gaussian_nll_loss(a, b, a.new_ones([0, 3]), reduction="sum"),
     [(0, 3), (0, 3)]),
]


@pytest.mark.parametrize("name,fn,shapes", EMPTY, ids=[e[0] for e in EMPTY])
def test_zero_size_inputs(r, name, fn, shapes):
    check(lambda *a: fn(F, *a), lambda *a: fn(TF, *a), [r.standard_normal(s) for s in shapes])


def test_zero_size_class_losses_sum_to_zero():
    # torch returns uninitialised memory for these two empty sums; the sum of nothing is 0
    x = dlcore.zeros(0, 3, dtype=dlcore.float64, requires_grad=True)
    assert F.multi_margin_loss(x, dlcore.zeros(0, dtype=dlcore.int64), reduction="sum").item() == 0.0
    loss = F.multilabel_margin_loss(x, dlcore.zeros(0, 3, dtype=dlcore.int64), reduction="sum")
    assert loss.item() == 0.0
    loss.backward()
    assert tuple(x.grad.shape) == (0, 3)
    out = F.embedding_bag(dlcore.zeros(0, dtype=dlcore.int64), dlcore.randn(5, 3), dlcore.tensor([0, 0]), mode="max")
    np.testing.assert_array_equal(out.numpy(), np.zeros((2, 3), np.float32))


# ---- non-contiguous inputs ---------------------------------------------------------------------
def test_non_contiguous_views(r):
    x = r.standard_normal((2, 5, 4, 3))
    check(lambda a, g: F.grid_sample(a.permute(0, 3, 2, 1), g.transpose(1, 2), "bicubic", "reflection", False),
          lambda a, g: TF.grid_sample(a.permute(0, 3, 2, 1), g.transpose(1, 2), "bicubic", "reflection", False),
          [x, r.uniform(-1, 1, (2, 3, 4, 2))])
    check(lambda a: F.instance_norm(a.transpose(1, 2)), lambda a: TF.instance_norm(a.transpose(1, 2)), [x])
    check(lambda a: F.pixel_unshuffle(a.permute(0, 3, 1, 2)[:, :, 1:5], 2),
          lambda a: TF.pixel_unshuffle(a.permute(0, 3, 1, 2)[:, :, 1:5], 2), [x])
    check(lambda w: F.embedding_bag(dlcore.tensor([1, 2, 0, 2]), w.t(), dlcore.tensor([0, 2]), mode="max"),
          lambda w: TF.embedding_bag(torch.tensor([1, 2, 0, 2]), w.t(), torch.tensor([0, 2]), mode="max"),
          [r.standard_normal((3, 5))])
    check(lambda a: F.ctc_loss(a.transpose(0, 1).log_softmax(2), dlcore.tensor([[1, 2], [2, 2]]), [5, 5], [2, 2]),
          lambda a: TF.ctc_loss(a.transpose(0, 1).log_softmax(2), torch.tensor([[1, 2], [2, 2]]), [5, 5], [2, 2]),
          [r.standard_normal((2, 5, 4))])
