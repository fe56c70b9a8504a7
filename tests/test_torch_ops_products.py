"""einsum, tensordot, the BLAS-style products, kron/cross/trace and the distance functions against
torch: values, gradients (float64), non-contiguous and zero-size inputs, and argument errors."""
import numpy as np
import pytest

import dlcore

torch = pytest.importorskip("torch")


def _convert(lib, a, grad):
    if not isinstance(a, np.ndarray):
        return a
    t = dlcore.tensor(a) if lib is dlcore else torch.tensor(a)
    if grad and a.dtype == np.float64:
        t.requires_grad_(True)
    return t


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def compare(fn, *args, grad=True, rtol=1e-10, atol=1e-12):
    """Runs fn(lib, *args) with dlcore and torch (numpy arrays become tensors, float64 ones
    requiring grad) and checks that values, dtypes and gradients agree."""
    ins = {lib: [_convert(lib, a, grad) for a in args] for lib in (dlcore, torch)}
    outs = {lib: _flat(fn(lib, *ins[lib])) for lib in (dlcore, torch)}
    assert len(outs[dlcore]) == len(outs[torch])
    for got, want in zip(outs[dlcore], outs[torch]):
        if isinstance(want, torch.Tensor):
            assert isinstance(got, dlcore.Tensor), type(got)
            assert tuple(got.shape) == tuple(want.shape), (got.shape, want.shape)
            assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], (got.dtype, want.dtype)
            np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=rtol, atol=atol,
                                       equal_nan=True)
        else:
            assert got == want
    leaves = {lib: [t for t in ins[lib] if getattr(t, "requires_grad", False)] for lib in (dlcore, torch)}
    diff = [k for k, o in enumerate(outs[torch]) if isinstance(o, torch.Tensor) and o.requires_grad]
    if not grad or not leaves[torch] or not diff:
        return outs[dlcore]
    rng = np.random.default_rng(7)
    weights = [rng.uniform(0.5, 1.5, tuple(outs[torch][k].shape)) for k in diff]
    for lib in (dlcore, torch):
        total = sum((outs[lib][k] * (dlcore.tensor(w) if lib is dlcore else torch.tensor(w))).sum()
                    for k, w in zip(diff, weights))
        total.backward()
    for a, b in zip(leaves[dlcore], leaves[torch]):
        want = np.zeros(tuple(b.shape)) if b.grad is None else b.grad.numpy()
        got = np.zeros(tuple(a.shape)) if a.grad is None else a.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    return outs[dlcore]


@pytest.fixture
def r():
    return np.random.default_rng(0)


# ---- einsum -----------------------------------------------------------------------------------
@pytest.mark.parametrize("eq,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("iij->j", [(3, 3, 2)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ba", [(3, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 2)]),
    ("b...d,bd->b...", [(2, 3, 4, 5), (2, 5)]),
    ("i...->...", [(3, 2, 2)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ab,bc,cd,de->ae", [(5, 2), (2, 6), (6, 2), (2, 4)]),
    ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 2)]),
    ("i,i,i->i", [(4,), (4,), (4,)]),
    ("ij,ij->ij", [(3, 1), (1, 4)]),
    ("ij,kj->ikj", [(3, 4), (2, 4)]),
    ("ijk,ikl->ijl", [(2, 0, 3), (2, 3, 4)]),
    ("ij,jk->ik", [(2, 0), (0, 3)]),
    ("", [()]),
    (",i->i", [(), (3,)]),
    ("AbB,Bc->Ac", [(2, 3, 4), (4, 5)]),
    ("i j , j k -> i k", [(2, 3), (3, 2)]),
])
def test_einsum_matches_torch(r, eq, shapes):
    arrays = [r.standard_normal(s) for s in shapes]
    compare(lambda m, *ops: m.einsum(eq, *ops), *arrays)


def test_einsum_operand_list_non_contiguous_and_float32(r):
    a, b = r.standard_normal((3, 4)), r.standard_normal((5, 4))
    compare(lambda m, x, y: m.einsum("ji,kj->ik", [x.t(), m.flip(y, [1])]), a, b)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    compare(lambda m, x, y: m.einsum("ij,kj->ik", x, y), a32, b32, rtol=1e-5, atol=1e-6)


def test_einsum_sublist_format(r):
    a, b = r.standard_normal((2, 3, 4)), r.standard_normal((4, 5))
    compare(lambda m, x, y: m.einsum(x, [0, 1, 2], y, [2, 30], [0, 30, 1]), a, b)
    compare(lambda m, x, y: m.einsum(x, [Ellipsis, 2], y, [2, 3]), a, b)
    compare(lambda m, x: m.einsum(x, [27, 27]), r.standard_normal((3, 3)))
    with pytest.raises(ValueError, match="sublist"):
        dlcore.einsum(dlcore.zeros(2), [60])


def test_einsum_integer_operands():
    a = np.arange(6).reshape(2, 3)
    b = np.arange(12).reshape(3, 4)
    compare(lambda m, x, y: m.einsum("ij,jk->ik", x, y), a, b)


@pytest.mark.parametrize("eq,shapes,exc", [
    ("ij,jk->ik", [(3, 4)], ValueError),
    ("ij->ik", [(3, 4)], ValueError),
    ("ij->ii", [(3, 4)], ValueError),
    ("ijk->i", [(3, 4)], RuntimeError),
    ("ij,jk->ik", [(3, 4), (5, 6)], RuntimeError),
    ("ii->i", [(3, 4)], RuntimeError),
    ("i1->i", [(3, 4)], ValueError),
    ("...i...->i", [(3, 4)], ValueError),
])
def test_einsum_errors(eq, shapes, exc):
    with pytest.raises(exc, match="einsum"):
        dlcore.einsum(eq, *[dlcore.zeros(*s) for s in shapes])
    with pytest.raises(TypeError, match="einsum"):
        dlcore.einsum(3, dlcore.zeros(2))


# ---- tensordot and the BLAS-style products ----------------------------------------------------
@pytest.mark.parametrize("dims,sa,sb", [
    (0, (3, 2), (2,)),
    (1, (3, 4, 2), (2, 5)),
    (2, (3, 4, 2), (4, 2, 3)),
    (([1, 0], [0, 1]), (3, 4, 2), (4, 3, 2)),
    (([2], [0]), (3, 4, 2), (2, 3)),
    ([[-1], [1]], (3, 4, 2), (5, 2)),
])
def test_tensordot(r, dims, sa, sb):
    compare(lambda m, x, y: m.tensordot(x, y, dims=dims), r.standard_normal(sa), r.standard_normal(sb))


def test_tensordot_errors():
    with pytest.raises(RuntimeError, match="tensordot"):
        dlcore.tensordot(dlcore.zeros(2, 3), dlcore.zeros(4, 3), 1)
    with pytest.raises(RuntimeError, match="tensordot"):
        dlcore.tensordot(dlcore.zeros(2, 3), dlcore.zeros(3), 3)
    with pytest.raises(RuntimeError, match="same length"):
        dlcore.tensordot(dlcore.zeros(2, 3), dlcore.zeros(3, 2), ([0, 1], [1]))


def test_vector_products(r):
    u, v = r.standard_normal(5), r.standard_normal(5)
    w = r.standard_normal(3)
    mat = r.standard_normal((3, 5))
    compare(lambda m, x, y: m.dot(x, y), u, v)
    compare(lambda m, x, y: x.vdot(y), u, v)
    compare(lambda m, x, y: m.outer(x, y), u, w)
    compare(lambda m, x, y: m.ger(x, y), w, u)
    compare(lambda m, a, x: m.mv(a, x), mat, u)
    compare(lambda m, a, x: a.t().mv(x), mat, w)
    compare(lambda m, a, b: m.inner(a, b), r.standard_normal((2, 3, 5)), mat)
    compare(lambda m, a, b: m.inner(a, b), np.array(2.5), mat)
    compare(lambda m, x, y: m.dot(x, y), np.zeros(0), np.zeros(0))
    compare(lambda m, x, y: x.dot(y), np.arange(4), np.arange(4))


@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1.5)])
def test_add_products(r, beta, alpha):
    inp = r.standard_normal(3)
    inp[0] = np.nan if beta == 0 else inp[0]
    compare(lambda m, i, a, x: m.addmv(i, a, x, beta=beta, alpha=alpha), inp, r.standard_normal((3, 4)),
            r.standard_normal(4))
    compare(lambda m, i, x, y: m.addr(i, x, y, beta=beta, alpha=alpha), r.standard_normal((3, 1)),
            r.standard_normal(3), r.standard_normal(4))
    compare(lambda m, i, a, b: m.addbmm(i, a, b, beta=beta, alpha=alpha), r.standard_normal((3, 5)),
            r.standard_normal((4, 3, 2)), r.standard_normal((4, 2, 5)))
    compare(lambda m, i, a, b: i.baddbmm(a, b, beta=beta, alpha=alpha), r.standard_normal((4, 3, 5)),
            r.standard_normal((4, 3, 2)), r.standard_normal((4, 2, 5)))


def test_inplace_add_products(r):
    def fn(m, i, a, x):
        out = (i[:, 0] * 1).addmv_(a, x, alpha=2.0)
        out2 = (i * 1).addr_(x[:3], x, beta=0.5)
        return out, out2
    compare(fn, r.standard_normal((3, 4)), r.standard_normal((3, 4)), r.standard_normal(4))


def test_product_shape_errors():
    z = dlcore.zeros
    with pytest.raises(RuntimeError, match="dot"):
        dlcore.dot(z(3), z(4))
    with pytest.raises(RuntimeError, match="dot"):
        dlcore.dot(z(3, 1), z(3))
    with pytest.raises(RuntimeError, match="dtype"):
        dlcore.dot(z(3), z(3, dtype=dlcore.float64))
    with pytest.raises(RuntimeError, match="mv"):
        dlcore.mv(z(3, 4), z(3))
    with pytest.raises(RuntimeError, match="baddbmm"):
        dlcore.baddbmm(z(2, 3, 5), z(2, 3, 4), z(3, 4, 5))
    with pytest.raises(RuntimeError, match="inner"):
        dlcore.inner(z(2, 3), z(2, 4))
    with pytest.raises(TypeError, match="outer"):
        dlcore.outer([1, 2], z(2))


def test_chain_matmul_and_kron(r):
    mats = [r.standard_normal(s) for s in [(2, 8), (8, 3), (3, 9), (9, 2)]]
    compare(lambda m, *ms: m.linalg.multi_dot(ms) if m is torch else m.chain_matmul(*ms), *mats)
    compare(lambda m, a: m.chain_matmul(a) if m is dlcore else a.clone(), mats[0])
    compare(lambda m, a, b: m.kron(a, b), r.standard_normal((2, 3)), r.standard_normal((4, 1)))
    compare(lambda m, a, b: a.kron(b), r.standard_normal(3), r.standard_normal((2, 2)))
    compare(lambda m, a, b: m.kron(a, b), np.arange(4).reshape(2, 2), np.arange(3))
    with pytest.raises(RuntimeError, match="chain_matmul"):
        dlcore.chain_matmul(dlcore.zeros(2, 3), dlcore.zeros(4, 2))


def test_cross_and_trace(r):
    a, b = r.standard_normal((4, 3)), r.standard_normal((4, 3))
    compare(lambda m, x, y: m.cross(x, y, dim=1), a, b)
    compare(lambda m, x, y: m.cross(x, y, dim=-1), a, b)
    compare(lambda m, x, y: x.t().cross(y.t(), dim=0), a, b)
    compare(lambda m, x, y: m.cross(x, y, dim=1), a, r.standard_normal((1, 3)))
    compare(lambda m, x: m.trace(x), r.standard_normal((3, 5)))
    compare(lambda m, x: x.trace(), np.arange(9).reshape(3, 3))
    with pytest.raises(RuntimeError, match="cross"):
        dlcore.cross(dlcore.zeros(4, 3), dlcore.zeros(4, 3), dim=0)
    with pytest.raises(RuntimeError, match="trace"):
        dlcore.trace(dlcore.zeros(2, 2, 2))


# ---- distances ------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0, 1, 2, 3.5, float("inf")])
def test_cdist_pdist(r, p):
    x1, x2 = r.standard_normal((2, 4, 3)), r.standard_normal((2, 5, 3))
    grad = p != 0
    compare(lambda m, a, b: m.cdist(a, b, p=p), x1, x2, grad=grad)
    compare(lambda m, a, b: m.cdist(a, b, p=p), x1[0], x2[0], grad=grad)
    compare(lambda m, a: m.pdist(a, p=p), r.standard_normal((5, 3)), grad=grad)
    compare(lambda m, a, b: m.dist(a, b, p=p), x1, x2[:, :4], grad=grad)


@pytest.mark.parametrize("mode", [None, "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"])
def test_cdist_many_rows(r, mode):
    x1, x2 = r.standard_normal((2, 30, 3)), r.standard_normal((2, 4, 3))
    if mode == "donot_use_mm_for_euclid_dist":
        # A zero distance: exact (and zero gradient) without the matmul; through it, cancellation
        # leaves a rounding-size distance whose gradient is arbitrary, in torch too.
        x2[0, 1] = x1[0, 5]
    kw = {} if mode is None else {"compute_mode": mode}
    compare(lambda m, a, b: m.cdist(a, b, **kw), x1, x2, rtol=1e-9, atol=1e-9)
    compare(lambda m, a, b: m.cdist(a, b, p=2.0, **kw), x1[0, :3], x2[1], rtol=1e-9, atol=1e-9)


def test_cdist_zero_size_and_errors(r):
    compare(lambda m, a, b: m.cdist(a, b), np.zeros((0, 3)), r.standard_normal((2, 3)))
    compare(lambda m, a: m.pdist(a), np.zeros((1, 3)))
    with pytest.raises(RuntimeError, match="cdist"):
        dlcore.cdist(dlcore.zeros(2, 3), dlcore.zeros(2, 4))
    with pytest.raises(RuntimeError, match="cdist"):
        dlcore.cdist(dlcore.zeros(3), dlcore.zeros(2, 3))
    with pytest.raises(RuntimeError, match="pdist"):
        dlcore.pdist(dlcore.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="compute_mode"):
        dlcore.cdist(dlcore.zeros(2, 3), dlcore.zeros(2, 3), compute_mode="fast")


def test_cosine_similarity_and_pairwise_distance(r):
    a, b = r.standard_normal((4, 5)), r.standard_normal((4, 5))
    compare(lambda m, x, y: m.cosine_similarity(x, y), a, b)
    compare(lambda m, x, y: m.cosine_similarity(x, y, dim=-1), a, b[:1])
    compare(lambda m, x, y: m.cosine_similarity(x, y, dim=0), a, np.zeros((4, 5)))
    compare(lambda m, x, y: m.pairwise_distance(x, y), a, b)
    compare(lambda m, x, y: m.pairwise_distance(x, y, p=1, keepdim=True), a, b)
    compare(lambda m, x, y: m.nn.functional.pairwise_distance(x, y, 3) if m is torch else
            m.pairwise_distance(x, y, 3), a[0], b[0])
