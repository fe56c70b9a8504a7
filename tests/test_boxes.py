"""dlcore.ops box ops: nms / batched_nms against a plain greedy numpy NMS, the IoU family against
torch composites of torchvision's formulas (forward and autograd), finite-difference gradchecks,
broadcasting, zero-size inputs, degenerate boxes and bad input. The references live in
tests/rows/boxes.py (shared with the op table).

Tolerances. NMS: the kept indices must be identical (the reference computes IoU in the boxes'
dtype with the same formula and compares in float64, so no tolerance is needed). IoU values:
float64 rtol 1e-12; float32 rtol/atol 1e-5 (a few float32 roundings of O(1) quantities, see
tests/rows/boxes.py). Gradients against torch's autograd: float64 rtol 1e-10 (the two evaluate
the same chain rule in a different order); float32 rtol 1e-4, atol 1e-5 (gradients are sums of
a few O(1) / side-length terms, each rounded in float32).
"""
import math

import numpy as np
import pytest

import dlcore
from rows.boxes import (TV_LOSSES, TV_PAIRWISE, int_boxes, nms_ref, rand_boxes, tv_box_iou, tv_complete_box_iou,
                        tv_complete_box_iou_loss)

torch = pytest.importorskip("torch")

OPS = dlcore.ops
NP = {"float32": np.float32, "float64": np.float64}
DL = {"float32": dlcore.float32, "float64": dlcore.float64}
TT = {"float32": torch.float32, "float64": torch.float64}
FWD_TOL = {"float32": dict(rtol=1e-5, atol=1e-5), "float64": dict(rtol=1e-12, atol=1e-12)}
GRAD_TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-12)}


def dl(a, dtype="float64", requires_grad=False):
    t = dlcore.tensor(np.asarray(a, dtype=NP[dtype]))
    return t.requires_grad_(True) if requires_grad else t


def th(a, dtype="float64", requires_grad=False):
    return torch.tensor(np.asarray(a, dtype=NP[dtype]), requires_grad=requires_grad)


def npy(t):
    return t.detach().numpy()


# =================================================================================================
# NMS
# =================================================================================================
def _random_case(seed):
    """One random NMS problem: clustered boxes (many overlaps), integer boxes (exact IoU ties),
    sizes over orders of magnitude, a few huge boxes among small ones, duplicates, zero-area
    boxes, score ties and nan scores."""
    r = np.random.default_rng(seed)
    n = int(r.choice([0, 1, 2, 5, 30, 60, 150, 400]))
    kind = seed % 5
    if kind == 0:  # clusters of jittered boxes around a few centres
        centres = r.uniform(0, 100, (max(1, n // 10), 2))
        c = centres[r.integers(0, len(centres), n)] + r.normal(0, 3, (n, 2))
        wh = r.uniform(2, 20, (n, 2))
        boxes = np.concatenate([c - wh / 2, c + wh / 2], 1)
    elif kind == 1:
        boxes = int_boxes(r, n, hi=30, side=10, zero_area=0.15)
    elif kind == 2:  # sizes over two orders of magnitude (some boxes span many grid cells)
        xy = r.uniform(0, 200, (n, 2))
        wh = np.exp(r.uniform(np.log(0.5), np.log(150), (n, 2)))
        boxes = np.concatenate([xy, xy + wh], 1)
    elif kind == 3:
        boxes = rand_boxes(r, (n,), 0, 20, (0.0, 6.0))
    else:  # mostly small boxes and a few huge ones (compared with every candidate, not through the grid)
        xy = r.uniform(0, 300, (n, 2))
        wh = np.where(r.random((n, 1)) < 0.1, r.uniform(100, 300, (n, 2)), r.uniform(0.5, 4, (n, 2)))
        boxes = np.concatenate([xy, xy + wh], 1)
    if n > 3:
        dup = r.integers(0, n, n // 5)
        boxes[dup] = boxes[r.integers(0, n, n // 5)]
    scores = np.round(r.uniform(0, 1, n), int(r.choice([1, 2, 6])))  # coarse rounding: many ties
    if n > 3 and seed % 3 == 0:
        scores[r.integers(0, n, max(1, n // 20))] = np.nan
    thr = float(r.choice([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0, r.uniform(0, 1)]))
    dtype = "float32" if seed % 2 else "float64"
    return boxes.astype(NP[dtype]), scores.astype(NP[dtype]), thr, dtype


@pytest.mark.parametrize("seed", range(120))
def test_nms_matches_greedy_reference(seed):
    boxes, scores, thr, dtype = _random_case(seed)
    got = OPS.nms(dl(boxes, dtype), dl(scores, dtype), thr)
    assert got.dtype == dlcore.int64 and got.dim() == 1
    np.testing.assert_array_equal(npy(got), nms_ref(boxes, scores, thr), err_msg=f"seed {seed}, thr {thr}, {dtype}")


@pytest.mark.parametrize("seed", range(40))
def test_batched_nms_is_per_class_nms_merged_by_score(seed):
    boxes, scores, thr, dtype = _random_case(1000 + seed)
    r = np.random.default_rng(seed)
    n = len(scores)
    idxs = r.integers(-3, 4, n) if seed % 3 else r.integers(0, 2**40, n) * (r.integers(0, 3, n) - 1)  # sparse ids
    got = npy(OPS.batched_nms(dl(boxes, dtype), dl(scores, dtype), dlcore.tensor(idxs), thr))
    # per-class reference, merged by (nan first, decreasing score, index)
    kept = []
    for c in np.unique(idxs):
        sel = np.nonzero(idxs == c)[0]
        kept.extend(sel[nms_ref(boxes[sel], scores[sel], thr)])
    s = scores.astype(np.float64)
    kept.sort(key=lambda i: (0, 0.0, i) if np.isnan(s[i]) else (1, -s[i], i))
    np.testing.assert_array_equal(got, np.array(kept, dtype=np.int64), err_msg=f"seed {seed}")
    np.testing.assert_array_equal(got, nms_ref(boxes, scores, thr, idxs=idxs))


def test_batched_nms_ignores_coordinates_of_other_classes():
    # boxes of different classes overlap completely: nothing is suppressed across classes, however
    # large the coordinates (no offset trick that could overflow)
    b = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1e15, 1e15, 2e15, 2e15], [1e15, 1e15, 2e15, 2e15]], np.float32)
    s = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    got = OPS.batched_nms(dl(b, "float32"), dl(s, "float32"), dlcore.tensor(np.array([0, 1, 0, 1])), 0.5)
    assert npy(got).tolist() == [0, 1, 2, 3]
    got = OPS.batched_nms(dl(b, "float32"), dl(s, "float32"), dlcore.tensor(np.array([0, 0, 1, 1], np.int32)), 0.5)
    assert npy(got).tolist() == [0, 2]


@pytest.mark.parametrize("n", [2000, 20000])
def test_nms_large_random(n):
    r = np.random.default_rng(n)
    xy = r.uniform(0, 1000, (n, 2))
    wh = r.uniform(10, 100, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = r.random(n).astype(np.float32)
    got = npy(OPS.nms(dl(boxes, "float32"), dl(scores, "float32"), 0.5))
    if n <= 2000:
        np.testing.assert_array_equal(got, nms_ref(boxes, scores, 0.5))
    else:  # the reference is too slow here: check the defining properties instead
        s = scores[got]
        assert np.all(s[:-1] >= s[1:])
        kb = boxes[got]
        iou = npy(OPS.box_iou(dl(kb, "float64"), dl(kb, "float64")))
        np.fill_diagonal(iou, 0)
        assert iou.max() <= 0.5 + 1e-6  # kept boxes do not suppress each other
        sup = np.setdiff1d(np.arange(n), got)[:300]  # every suppressed box has a better kept box above 0.5
        iou2 = npy(OPS.box_iou(dl(boxes[sup], "float64"), dl(kb, "float64")))
        better = scores[got][None, :] >= scores[sup][:, None]
        assert np.all(((iou2 > 0.5 - 1e-6) & better).any(1))


def test_nms_empty_input():
    for dtype in ("float32", "float64"):
        got = OPS.nms(dlcore.zeros(0, 4, dtype=DL[dtype]), dlcore.zeros(0, dtype=DL[dtype]), 0.5)
        assert got.dtype == dlcore.int64 and tuple(got.shape) == (0,)
        got = OPS.batched_nms(dlcore.zeros(0, 4), dlcore.zeros(0), dlcore.zeros(0, dtype=dlcore.int64), 0.5)
        assert got.dtype == dlcore.int64 and tuple(got.shape) == (0,)


def test_nms_score_ties_keep_lower_index_first_and_nan_scores_first():
    b = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5], [6, 6, 7, 7], [8, 8, 9, 9]], np.float32)
    s = np.array([0.5, 0.5, np.nan, 0.7, -0.0], np.float32)
    got = npy(OPS.nms(dl(b, "float32"), dl(s, "float32"), 0.5))
    assert got.tolist() == [2, 3, 0, 1, 4]
    s = np.array([0.0, -0.0, 0.0, np.nan, np.nan], np.float32)  # -0.0 == 0.0: by index
    assert npy(OPS.nms(dl(b, "float32"), dl(s, "float32"), 0.5)).tolist() == [3, 4, 0, 1, 2]
    # a tie between overlapping boxes: the lower index wins
    b2 = np.array([[0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 2, 2]], np.float64)
    assert npy(OPS.nms(dl(b2), dl([1.0, 1.0, 1.0]), 0.5)).tolist() == [0]


def test_nms_threshold_is_strict():
    # IoU of these two is exactly 0.5 (1 / 2): kept at 0.5, suppressed just below
    b = dl([[0, 0, 2, 1], [1, 0, 4, 1]])  # inter 1, union 4 -> 0.25
    assert npy(OPS.nms(b, dl([0.9, 0.8]), 0.25)).tolist() == [0, 1]
    assert npy(OPS.nms(b, dl([0.9, 0.8]), 0.2499)).tolist() == [0]
    b = dl([[0, 0, 2, 2], [0, 0, 2, 2]])  # identical: IoU 1
    assert npy(OPS.nms(b, dl([0.9, 0.8]), 1.0)).tolist() == [0, 1]
    assert npy(OPS.nms(b, dl([0.9, 0.8]), 0.9999)).tolist() == [0]


def test_nms_threshold_edges():
    r = np.random.default_rng(3)
    boxes, scores = rand_boxes(r, (200,), 0, 20, (1, 8)), r.random(200)
    order = np.argsort(-scores, kind="stable")
    for thr in (1.0, 1.5, float("nan"), float("inf")):  # nothing is suppressed
        np.testing.assert_array_equal(npy(OPS.nms(dl(boxes), dl(scores), thr)), order)
    for thr in (-0.1, -float("inf")):  # every box with a non-nan IoU is suppressed by the first one
        got = npy(OPS.nms(dl(boxes), dl(scores), thr))
        np.testing.assert_array_equal(got, nms_ref(boxes, scores, thr))
        assert got.tolist() == [order[0]]


def test_nms_nan_iou_never_suppresses():
    b = np.array([[0, 0, 2, 2],
                  [0, 0, np.nan, 2],     # nan coordinate: kept, suppresses nothing
                  [0, 0, 2, 2],          # suppressed by box 0
                  [5, 5, 5, 5],          # zero-area point
                  [5, 5, 5, 5],          # the same point: IoU 0 / 0 = nan, kept
                  [1, 1, 1, 1.5],        # zero-width box inside box 0: IoU 0, kept
                  [0, 0, np.nan, np.nan]], np.float64)
    s = np.array([0.9, 0.95, 0.8, 0.7, 0.6, 0.5, 0.4])
    for thr in (0.0, 0.5):
        got = npy(OPS.nms(dl(b), dl(s), thr))
        assert got.tolist() == [1, 0, 3, 4, 5, 6]
        np.testing.assert_array_equal(got, nms_ref(b, s, thr))
    # a negative threshold suppresses zero-IoU boxes too, but still not through a nan IoU
    got = npy(OPS.nms(dl(b), dl(s), -0.5))
    np.testing.assert_array_equal(got, nms_ref(b, s, -0.5))
    assert got.tolist() == [1, 0, 6]


def test_nms_infinite_coordinates():
    b = np.array([[-np.inf, 0, np.inf, 1], [0, 0, 1, 1], [0, 0, 1, 1], [0, -np.inf, 1, np.inf],
                  [3, 3, 4, 4], [np.inf, 0, np.inf, 1]], np.float64)
    b = np.concatenate([b, rand_boxes(np.random.default_rng(0), (100,), 0, 10, (1, 3))])  # grid path
    s = np.random.default_rng(1).random(len(b))
    for thr in (0.0, 0.3, 0.5, -0.1):
        np.testing.assert_array_equal(npy(OPS.nms(dl(b), dl(s), thr)), nms_ref(b, s, thr))


def test_nms_huge_coordinate_range():
    # coordinates up to ~3e38 (float32) / 1e308 (float64): the grid cannot be sized, the plain loop runs
    r = np.random.default_rng(5)
    for dtype, big in (("float32", 3e38), ("float64", 1e308)):
        b = rand_boxes(r, (100,), 0, 10, (1, 3)).astype(NP[dtype])
        b[:3] = np.array([[-big, -big, big, big], [0, 0, big, big], [-big, 0, 0, 1]], NP[dtype])
        s = r.random(100).astype(NP[dtype])
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(npy(OPS.nms(dl(b, dtype), dl(s, dtype), 0.3)), nms_ref(b, s, 0.3))


def test_nms_non_contiguous_and_mixed_dtypes():
    r = np.random.default_rng(7)
    boxes, scores = rand_boxes(r, (300,), 0, 50, (2, 15)), np.round(r.random(300), 2)
    want = nms_ref(boxes, scores, 0.4)
    bt = dlcore.tensor(np.ascontiguousarray(boxes.T)).t()          # [N, 4] with strides (1, N)
    st = dlcore.tensor(np.repeat(scores, 2))[::2]                   # stride 2
    assert not bt.is_contiguous() and not st.is_contiguous()
    np.testing.assert_array_equal(npy(OPS.nms(bt, st, 0.4)), want)
    np.testing.assert_array_equal(npy(OPS.nms(bt, st.float(), 0.4)),
                                  nms_ref(boxes, scores.astype(np.float32), 0.4))
    idxs = r.integers(0, 3, 300)
    it = dlcore.tensor(np.repeat(idxs, 2))[::2]
    np.testing.assert_array_equal(npy(OPS.batched_nms(bt, st, it, 0.4)), nms_ref(boxes, scores, 0.4, idxs=idxs))


def test_nms_float16_computes_in_float32():
    r = np.random.default_rng(11)
    boxes = rand_boxes(r, (150,), 0, 30, (2, 10)).astype(np.float16)
    scores = r.random(150).astype(np.float16)
    got = OPS.nms(dlcore.tensor(boxes.astype(np.float32)).half(), dlcore.tensor(scores.astype(np.float32)).half(), 0.5)
    np.testing.assert_array_equal(npy(got), nms_ref(boxes.astype(np.float32), scores.astype(np.float32), 0.5))
    got = OPS.nms(dlcore.tensor(boxes.astype(np.float32)).bfloat16(), dlcore.tensor(scores.astype(np.float32)), 0.5)
    b16 = npy(dlcore.tensor(boxes.astype(np.float32)).bfloat16().float())
    np.testing.assert_array_equal(npy(got), nms_ref(b16, scores.astype(np.float32), 0.5))


def test_nms_threshold_types_and_result_dtype():
    b, s = dl([[0, 0, 1, 1], [0, 0, 1, 1.1]]), dl([0.5, 0.6])
    assert npy(OPS.nms(b, s, 1)).tolist() == [1, 0]                  # an int threshold
    assert npy(OPS.nms(b, s, dlcore.tensor(0.5))).tolist() == [1]   # a 0-d tensor
    assert npy(OPS.batched_nms(b, s, dlcore.tensor(np.array([3, 3], np.int32)), 0.5)).tolist() == [1]


def test_nms_bad_input_raises():
    with pytest.raises(ValueError, match=r"nms: boxes must have shape \[N, 4\] \(x1, y1, x2, y2\), got \[2, 4, 1\]"):
        OPS.nms(dlcore.ones(2, 4, 1), dlcore.ones(2), 0.5)
    with pytest.raises(ValueError,
                       match=r"nms: scores must have shape \[2\] \(one per box of boxes \[2, 4\]\), got \[\]"):
        OPS.nms(dlcore.ones(2, 4), dlcore.tensor(1.0), 0.5)
    with pytest.raises(TypeError, match=r"nms: boxes must be a floating point tensor, got bool \[2, 4\]"):
        OPS.nms(dlcore.ones(2, 4, dtype=dlcore.bool), dlcore.ones(2), 0.5)
    with pytest.raises(TypeError, match=r"nms: scores must be a dlcore.Tensor, got list"):
        OPS.nms(dlcore.ones(2, 4), [1.0, 2.0], 0.5)
    with pytest.raises(TypeError, match=r"batched_nms: idxs must be an integer tensor \(int64 or int32\), got bool"):
        OPS.batched_nms(dlcore.ones(2, 4), dlcore.ones(2), dlcore.ones(2, dtype=dlcore.bool), 0.5)
    # inverted boxes name the first bad index, also through a non-contiguous view
    b = np.array([[0, 0, 1, 1]] * 6, np.float64)
    b[4] = [3, 0, 2, 1]
    b[5] = [0, 3, 1, 2]
    bt = dlcore.tensor(np.ascontiguousarray(b.T)).t()
    with pytest.raises(ValueError, match=r"nms: boxes must be \(x1, y1, x2, y2\) with x1 <= x2 and y1 <= y2, "
                                         r"but box 4 is \[3, 0, 2, 1\]"):
        OPS.nms(bt, dl(np.arange(6.0)), 0.5)
    with pytest.raises(ValueError, match=r"batched_nms: .*but box 4 is"):
        OPS.batched_nms(bt, dl(np.arange(6.0)), dlcore.zeros(6, dtype=dlcore.int64), 0.5)


def test_nms_result_has_no_grad_and_inputs_may_require_grad():
    b = dl([[0, 0, 1, 1], [0, 0, 1, 1]], requires_grad=True)
    s = dl([0.1, 0.2], requires_grad=True)
    got = OPS.nms(b, s, 0.5)
    assert not got.requires_grad and npy(got).tolist() == [1]


# =================================================================================================
# The IoU family
# =================================================================================================
PAIRWISE = ["box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou"]
LOSSES = ["generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss"]


def _pair_inputs(seed, n=7, m=5, ties=True):
    r = np.random.default_rng(seed)
    b1, b2 = rand_boxes(r, (n,)), rand_boxes(r, (m,))
    if ties:  # shared coordinates and identical boxes: max/min ties split the gradient
        b2[0] = b1[0]
        b2[1, :2] = b1[1, :2]
        b2[2, 2] = b1[3, 2]
    return b1, b2


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", PAIRWISE)
def test_pairwise_forward_and_backward_match_torch(name, dtype):
    b1, b2 = _pair_inputs(1)
    a, b = dl(b1, dtype, True), dl(b2, dtype, True)
    ta, tb = th(b1, dtype, True), th(b2, dtype, True)
    got = getattr(OPS, name)(a, b)
    want = TV_PAIRWISE[name](ta, tb)
    assert got.dtype == DL[dtype] and tuple(got.shape) == (7, 5)
    np.testing.assert_allclose(npy(got), npy(want), **FWD_TOL[dtype])
    g = np.random.default_rng(2).standard_normal((7, 5))
    (got * dl(g, dtype)).sum().backward()
    (want * th(g, dtype)).sum().backward()
    np.testing.assert_allclose(npy(a.grad), ta.grad.numpy(), **GRAD_TOL[dtype])
    np.testing.assert_allclose(npy(b.grad), tb.grad.numpy(), **GRAD_TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", LOSSES)
def test_losses_forward_and_backward_match_torch_with_broadcasting(name, reduction, dtype):
    r = np.random.default_rng(3)
    b1, b2 = rand_boxes(r, (3, 1)), rand_boxes(r, (4,))
    b2[1] = b1[1, 0]  # an identical pair (ties)
    a, b = dl(b1, dtype, True), dl(b2, dtype, True)
    ta, tb = th(b1, dtype, True), th(b2, dtype, True)
    got = getattr(OPS, name)(a, b, reduction=reduction)
    want = TV_LOSSES[name](ta, tb, reduction=reduction)
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(npy(got), npy(want), **FWD_TOL[dtype])
    g = np.random.default_rng(4).standard_normal(tuple(want.shape))
    (got * dl(g, dtype)).sum().backward()
    (want * th(g, dtype)).sum().backward()
    assert tuple(a.grad.shape) == (3, 1, 4) and tuple(b.grad.shape) == (4, 4)
    np.testing.assert_allclose(npy(a.grad), ta.grad.numpy(), **GRAD_TOL[dtype])
    np.testing.assert_allclose(npy(b.grad), tb.grad.numpy(), **GRAD_TOL[dtype])


@pytest.mark.parametrize("name", ["box_iou", "generalized_box_iou", "distance_box_iou"] + LOSSES[:2])
def test_gradcheck_float64(name):
    fn = getattr(OPS, name)
    for seed in range(3):
        if name in PAIRWISE:
            b1, b2 = _pair_inputs(10 + seed, 4, 3, ties=False)
        else:
            r = np.random.default_rng(10 + seed)
            b1, b2 = rand_boxes(r, (2, 3)), rand_boxes(r, (3,))
        assert dlcore.autograd.gradcheck(fn, [dl(b1, requires_grad=True), dl(b2, requires_grad=True)], eps=1e-6,
                                         atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("form", ["pairwise", "loss"])
def test_ciou_gradient_by_finite_differences_with_alpha_frozen(form):
    """CIoU's gradient treats alpha as a constant: it is the gradient of diou - alpha0 * v(boxes)
    with alpha0 the value at the point, which finite differences can check."""
    r = np.random.default_rng(20)
    b1, b2 = rand_boxes(r, (3,)), rand_boxes(r, (3,))
    pair = form == "pairwise"
    if pair:
        ciou = lambda a, b: OPS.complete_box_iou(a, b)
        diou = lambda a, b: OPS.distance_box_iou(a, b)
    else:
        ciou = lambda a, b: 1.0 - OPS.complete_box_iou_loss(a, b)
        diou = lambda a, b: 1.0 - OPS.distance_box_iou_loss(a, b)

    def v_of(x1, x2):
        at1 = np.arctan((x1[:, 2] - x1[:, 0]) / (x1[:, 3] - x1[:, 1]))
        at2 = np.arctan((x2[:, 2] - x2[:, 0]) / (x2[:, 3] - x2[:, 1]))
        d = at1[:, None] - at2[None, :] if pair else at1 - at2
        return 4 / math.pi ** 2 * d ** 2

    v0 = v_of(b1, b2)
    alpha0 = (npy(diou(dl(b1), dl(b2))) - npy(ciou(dl(b1), dl(b2)))) / v0
    g = r.standard_normal(v0.shape)

    def f(x1, x2):
        return float(np.sum(g * (npy(diou(dl(x1), dl(x2))) - alpha0 * v_of(x1, x2))))

    a, b = dl(b1, requires_grad=True), dl(b2, requires_grad=True)
    (ciou(a, b) * dl(g)).sum().backward()
    for x, grad in ((b1, npy(a.grad)), (b2, npy(b.grad))):
        fd = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            xp, xm = x.copy(), x.copy()
            xp[idx] += 1e-6
            xm[idx] -= 1e-6
            fd[idx] = (f(xp, b2) - f(xm, b2)) / 2e-6 if x is b1 else (f(b1, xp) - f(b1, xm)) / 2e-6
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)


def test_iou_zero_size_inputs():
    for name in PAIRWISE:
        a = dl(np.zeros((0, 4)), requires_grad=True)
        out = getattr(OPS, name)(a, dl(np.ones((3, 4))))
        assert tuple(out.shape) == (0, 3)
        out.sum().backward()
        assert tuple(a.grad.shape) == (0, 4)
    for name in LOSSES:
        a = dl(np.zeros((0, 4)), requires_grad=True)
        b = dl(np.ones((0, 4)))
        assert tuple(getattr(OPS, name)(a, b).shape) == (0,)
        assert float(getattr(OPS, name)(a, b, reduction="sum")) == 0.0
        m = getattr(OPS, name)(a, b, reduction="mean")  # torchvision: 0 (not nan) for no boxes
        assert float(m) == 0.0
        m.backward()
        assert tuple(a.grad.shape) == (0, 4)


def test_iou_wrong_shapes_raise():
    with pytest.raises(ValueError, match=r"box_iou: boxes2 must have shape \[N, 4\] \(x1, y1, x2, y2\), got \[3, 3\]"):
        OPS.box_iou(dlcore.ones(2, 4), dlcore.ones(3, 3))
    with pytest.raises(ValueError, match=r"complete_box_iou: boxes1 must have shape \[N, 4\].*got \[4\]"):
        OPS.complete_box_iou(dlcore.ones(4), dlcore.ones(3, 4))
    with pytest.raises(ValueError, match=r"complete_box_iou_loss: boxes2 must have shape \[\.\.\., 4\], got \[2, 5\]"):
        OPS.complete_box_iou_loss(dlcore.ones(2, 4), dlcore.ones(2, 5))
    with pytest.raises(ValueError, match=r"generalized_box_iou_loss: shapes \[2, 3\] and \[2\] cannot be broadcast"):
        OPS.generalized_box_iou_loss(dlcore.ones(2, 3, 4), dlcore.ones(2, 4))
    with pytest.raises(ValueError, match=r"box_area: boxes must have shape \[\.\.\., 4\], got \[3\]"):
        OPS.box_area(dlcore.ones(3))


def test_iou_degenerate_boxes():
    z = np.array([[1, 1, 1, 1], [0, 0, 2, 0], [0, 0, 2, 2]], np.float64)  # a point, a zero-height box, a square
    got = npy(OPS.box_iou(dl(z), dl(z)))
    want = tv_box_iou(th(z), th(z)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got[0, 0]) and np.isnan(got[1, 1]) and got[2, 2] == 1.0 and got[0, 2] == 0.0 and got[1, 2] == 0.0
    np.testing.assert_allclose(got, want, equal_nan=True)
    for name in PAIRWISE[1:]:  # nan exactly where torchvision's formulas give nan
        np.testing.assert_allclose(npy(getattr(OPS, name)(dl(z), dl(z))), npy(TV_PAIRWISE[name](th(z), th(z))),
                                   rtol=1e-12, equal_nan=True)
    for name in LOSSES:  # the loss forms stay finite (eps in the denominators) except CIoU's 0/0 atan
        got = npy(getattr(OPS, name)(dl(z), dl(z[::-1].copy())))
        want = npy(TV_LOSSES[name](th(z), th(z[::-1].copy())))
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
        if name != "complete_box_iou_loss":
            assert np.all(np.isfinite(got))


def test_ciou_at_zero_height():
    """h = 0, w > 0: atan(w / 0) = pi / 2, a finite value as in torchvision; the gradient of atan(w / h)
    is (h dw - w dh) / (w^2 + h^2), finite, where torch's chain rule through w / h gives nan. It equals
    torch's gradient with atan(w / h) written as atan2(w, h)."""
    hz = np.array([[0, 0, 2, 0], [0, 0, 3, 1]], np.float64)  # box 0 has h = 0
    ok = np.array([[0.5, -1, 2.5, 1], [1, 0.5, 2, 2.5]], np.float64)

    def ciou_atan2(x1, x2, eps=1e-7):
        from rows.boxes import _tv_diou_iou
        diou, iou = _tv_diou_iou(x1, x2, eps)
        wp, hp = x1[:, None, 2] - x1[:, None, 0], x1[:, None, 3] - x1[:, None, 1]
        wg, hg = x2[:, 2] - x2[:, 0], x2[:, 3] - x2[:, 1]
        v = (4 / math.pi ** 2) * (torch.atan2(wp, hp) - torch.atan2(wg, hg)) ** 2
        with torch.no_grad():
            alpha = v / (1 - iou + v + eps)
        return diou - alpha * v

    for b1, b2 in ((hz, ok), (ok, hz)):  # the zero-height box as boxes1, then as boxes2
        a, b = dl(b1, requires_grad=True), dl(b2, requires_grad=True)
        got = OPS.complete_box_iou(a, b)
        ta, tb = th(b1, requires_grad=True), th(b2, requires_grad=True)
        np.testing.assert_allclose(npy(got), npy(tv_complete_box_iou(ta, tb)), rtol=1e-12)
        assert np.all(np.isfinite(npy(got)))
        got.sum().backward()
        assert np.all(np.isfinite(npy(a.grad))) and np.all(np.isfinite(npy(b.grad)))
        tv_complete_box_iou(ta, tb).sum().backward()
        assert np.isnan(ta.grad.numpy()).any() or np.isnan(tb.grad.numpy()).any()  # torch: nan at h = 0
        ta, tb = th(b1, requires_grad=True), th(b2, requires_grad=True)
        ciou_atan2(ta, tb).sum().backward()
        np.testing.assert_allclose(npy(a.grad), ta.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(npy(b.grad), tb.grad.numpy(), rtol=1e-10, atol=1e-12)
    # a point box (w = h = 0): atan(0 / 0) is nan, so the value is nan
    p = OPS.complete_box_iou_loss(dl([[1, 1, 1, 1]]), dl([[0, 0, 2, 2]]))
    assert np.isnan(npy(p)).all()
    assert np.isnan(npy(tv_complete_box_iou_loss(th([[1, 1, 1, 1]]), th([[0, 0, 2, 2]])))).all()


def test_iou_nan_coordinates_propagate():
    b1 = np.array([[0, 0, np.nan, 1], [0, 0, 1, 1]])
    b2 = np.array([[0, 0, 1, 1]])
    for name in PAIRWISE:
        got = npy(getattr(OPS, name)(dl(b1), dl(b2)))
        assert np.isnan(got[0, 0]) and np.isfinite(got[1, 0])


def test_iou_dtypes():
    r = np.random.default_rng(30)
    b1, b2 = rand_boxes(r, (4,)), rand_boxes(r, (3,))
    want = tv_box_iou(th(b1), th(b2)).numpy()
    h1 = dlcore.tensor(b1.astype(np.float32)).half().requires_grad_(True)
    got = OPS.box_iou(h1, dlcore.tensor(b2.astype(np.float32)).half())
    assert got.dtype == dlcore.float32  # computed in float32, as torchvision upcasts
    np.testing.assert_allclose(npy(got), want, rtol=2e-3, atol=2e-3)  # the inputs rounded to float16
    got.sum().backward()
    assert h1.grad.dtype == dlcore.float16
    got = OPS.box_iou(dlcore.tensor(b1.astype(np.float32)), dlcore.tensor(b2))  # float32 with float64
    assert got.dtype == dlcore.float64
    ib1, ib2 = np.round(b1 * 10).astype(np.int64), np.round(b2 * 10).astype(np.int64)
    got = OPS.generalized_box_iou(dlcore.tensor(ib1), dlcore.tensor(ib2))
    assert got.dtype == dlcore.float32
    np.testing.assert_allclose(npy(got), npy(TV_PAIRWISE["generalized_box_iou"](th(ib1), th(ib2))), rtol=1e-5,
                               atol=1e-6)


def test_iou_non_contiguous_inputs():
    r = np.random.default_rng(31)
    b1, b2 = rand_boxes(r, (5,)), rand_boxes(r, (6,))
    t1 = dlcore.tensor(np.ascontiguousarray(b1.T)).t()
    t2 = dlcore.tensor(np.repeat(b2, 2, axis=1))[:, ::2]
    assert not t1.is_contiguous() and not t2.is_contiguous()
    for name in PAIRWISE:
        np.testing.assert_allclose(npy(getattr(OPS, name)(t1, t2)), npy(TV_PAIRWISE[name](th(b1), th(b2))),
                                   rtol=1e-12, atol=1e-12)


def test_iou_double_backward_raises():
    a = dl([[0, 0, 1, 1]], requires_grad=True)
    y = OPS.generalized_box_iou_loss(a, dl([[0.5, 0, 1.5, 1]])).sum()
    (g,) = dlcore.autograd.grad(y, [a], create_graph=False)
    assert tuple(g.shape) == (1, 4)
    y = OPS.generalized_box_iou_loss(a, dl([[0.5, 0, 1.5, 1]])).sum()
    with pytest.raises(RuntimeError):
        dlcore.autograd.grad(y, [a], create_graph=True)


# =================================================================================================
# box_convert and box_area
# =================================================================================================
def test_box_convert_and_area():
    r = np.random.default_rng(40)
    xyxy = rand_boxes(r, (2, 5))
    x1, y1, x2, y2 = (xyxy[..., k] for k in range(4))
    forms = {"xyxy": xyxy, "xywh": np.stack([x1, y1, x2 - x1, y2 - y1], -1),
             "cxcywh": np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1)}
    for fi, vi in forms.items():
        for fo, vo in forms.items():
            got = OPS.box_convert(dl(vi), fi, fo)
            np.testing.assert_allclose(npy(got), vo, rtol=1e-12, atol=1e-12, err_msg=f"{fi} -> {fo}")
    t = dl(xyxy)
    assert OPS.box_convert(t, "xyxy", "xyxy") is not t
    np.testing.assert_allclose(npy(OPS.box_area(dl(xyxy))), (x2 - x1) * (y2 - y1), rtol=1e-12)
    a = dl(forms["cxcywh"], requires_grad=True)
    OPS.box_area(OPS.box_convert(a, "cxcywh", "xyxy")).sum().backward()  # d(w h) = (0, 0, h, w)
    np.testing.assert_allclose(npy(a.grad)[..., 2], forms["cxcywh"][..., 3], rtol=1e-12)
    with pytest.raises(ValueError, match=r"box_convert: formats must be one of"):
        OPS.box_convert(t, "xyxy", "yxyx")


# =================================================================================================
# CUDA (run by bench/gpu/check.sh; skipped without a GPU)
# =================================================================================================
requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("seed", range(30))
def test_cuda_nms_matches_cpu(seed):
    boxes, scores, thr, dtype = _random_case(seed)
    cpu = npy(OPS.nms(dl(boxes, dtype), dl(scores, dtype), thr))
    got = OPS.nms(dl(boxes, dtype).cuda(), dl(scores, dtype).cuda(), thr)
    assert got.device.type == "cuda" and got.dtype == dlcore.int64
    np.testing.assert_array_equal(got.cpu().numpy(), cpu)
    idxs = np.random.default_rng(seed).integers(0, 3, len(scores))
    cpu = npy(OPS.batched_nms(dl(boxes, dtype), dl(scores, dtype), dlcore.tensor(idxs), thr))
    got = OPS.batched_nms(dl(boxes, dtype).cuda(), dl(scores, dtype).cuda(), dlcore.tensor(idxs).cuda(), thr)
    np.testing.assert_array_equal(got.cpu().numpy(), cpu)


@pytest.mark.cuda
@requires_cuda
def test_cuda_nms_large_and_errors():
    r = np.random.default_rng(0)
    for n in (10000, 50000):  # 50k: the reduce's removed words no longer fit in shared memory... at 393k; 50k fits
        xy = r.uniform(0, 1000, (n, 2))
        boxes = np.concatenate([xy, xy + r.uniform(10, 100, (n, 2))], 1).astype(np.float32)
        scores = r.random(n).astype(np.float32)
        cpu = npy(OPS.nms(dl(boxes, "float32"), dl(scores, "float32"), 0.5))
        got = OPS.nms(dl(boxes, "float32").cuda(), dl(scores, "float32").cuda(), 0.5).cpu().numpy()
        np.testing.assert_array_equal(got, cpu)
    b = dl([[0, 0, 1, 1], [2, 0, 1, 1]]).cuda()
    with pytest.raises(ValueError, match=r"nms: .* but box 1 is \[2, 0, 1, 1\]"):
        OPS.nms(b, dl([1.0, 2.0]).cuda(), 0.5)
    assert tuple(OPS.nms(dlcore.zeros(0, 4).cuda(), dlcore.zeros(0).cuda(), 0.5).shape) == (0,)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("name", PAIRWISE + LOSSES)
def test_cuda_iou_matches_cpu(name):
    r = np.random.default_rng(50)
    b1, b2 = (rand_boxes(r, (6,)), rand_boxes(r, (5,))) if name in PAIRWISE else (rand_boxes(r, (3, 1)),
                                                                                  rand_boxes(r, (4,)))
    for dtype in ("float32", "float64"):
        outs, grads = [], []
        for dev in ("cpu", "cuda"):
            a, b = dl(b1, dtype).to(dev).requires_grad_(True), dl(b2, dtype).to(dev).requires_grad_(True)
            y = getattr(OPS, name)(a, b)
            y.sum().backward()
            outs.append(y.detach().cpu().numpy())
            grads.append((a.grad.cpu().numpy(), b.grad.cpu().numpy()))
        tol = FWD_TOL[dtype]
        np.testing.assert_allclose(outs[1], outs[0], **tol)
        for g1, g0 in zip(grads[1], grads[0]):
            np.testing.assert_allclose(g1, g0, **GRAD_TOL[dtype])
