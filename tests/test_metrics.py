"""dlcore.metrics against hand-computed values and numpy references.

Counts are exact; ratios are computed in float64 from the same integer counts in both, so
they agree to rounding (rtol 1e-12)."""
import numpy as np
import pytest

import dlcore
from dlcore.metrics import AverageMeter, ConfusionMatrix, RunningAverage, accuracy

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")

# 4 samples, 3 classes. Ranked classes per row: [1, 2, 0], [0, 1, 2], [2, 1, 0], [2, 0, 1]
LOGITS = [[0.1, 2.0, 1.0], [3.0, 0.5, -1.0], [0.0, 0.2, 0.3], [0.4, -2.0, 5.0]]
TARGET = [2, 0, 1, 1]


def test_accuracy_hand_computed():
    out, tgt = dlcore.tensor(LOGITS), dlcore.tensor(TARGET)
    # top-1 hits: row 1 only; top-2: rows 0, 1, 2; top-3: all
    assert accuracy(out, tgt, topk=(1, 2, 3)) == [0.25, 0.75, 1.0]
    assert accuracy(out, tgt) == [0.25]
    assert accuracy(out, tgt, topk=2) == 0.75
    assert isinstance(accuracy(out, tgt, topk=1), float)


def np_topk_accuracy(scores, target, k):
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == target[:, None]).any(axis=1).mean())


@pytest.mark.parametrize("n,c", [(1, 1), (7, 5), (33, 10), (128, 100)])
def test_accuracy_matches_numpy(n, c, rng):
    scores = rng.standard_normal((n, c)).astype(np.float32)  # no ties
    target = rng.integers(0, c, size=n)
    ks = sorted({1, min(3, c), c})
    got = accuracy(dlcore.tensor(scores), dlcore.tensor(target), topk=ks)
    assert got == pytest.approx([np_topk_accuracy(scores, target, k) for k in ks], rel=1e-12)


def test_accuracy_dense_prediction_and_non_contiguous(rng):
    scores = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)  # (N, C, H, W)
    target = rng.integers(0, 4, size=(2, 5, 3))
    flat = scores.transpose(0, 2, 3, 1).reshape(-1, 4)
    expected = np_topk_accuracy(flat, target.reshape(-1), 2)
    assert accuracy(dlcore.tensor(scores), dlcore.tensor(target), topk=2) == pytest.approx(expected, rel=1e-12)
    t = dlcore.tensor(rng.standard_normal((6, 9)).astype(np.float32))
    out = t.t()  # (9, 6), non-contiguous
    target = dlcore.tensor(rng.integers(0, 6, size=9))
    assert accuracy(out, target, 1) == pytest.approx(np_topk_accuracy(out.numpy(), target.numpy(), 1))


def test_accuracy_errors():
    out, tgt = dlcore.tensor(LOGITS), dlcore.tensor(TARGET)
    with pytest.raises(ValueError, match=r"accuracy: target shape \[3\] does not match output shape \[4, 3\]"):
        accuracy(out, dlcore.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"accuracy: every k in topk=\(1, 4\) must be an int in \[1, 3\]"):
        accuracy(out, tgt, topk=(1, 4))
    with pytest.raises(TypeError, match="accuracy: target must hold integer class indices"):
        accuracy(out, dlcore.tensor([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"accuracy: output must be \(N, C\) scores, got shape \[4\]"):
        accuracy(dlcore.tensor([0.1, 0.2, 0.3, 0.4]), tgt)
    with pytest.raises(ValueError, match="empty batch"):
        accuracy(dlcore.zeros(0, 3), dlcore.zeros(0, dtype=dlcore.int64))


# ---- confusion matrix --------------------------------------------------------------------------

def test_confusion_matrix_hand_computed():
    cm = ConfusionMatrix(3)
    cm.update(dlcore.tensor(LOGITS), dlcore.tensor(TARGET))  # predictions [1, 0, 2, 2]
    cm.update(dlcore.tensor([0, 2]), dlcore.tensor([0, 2]))  # class indices
    # rows: true 0 -> {pred 0: 2}; true 1 -> {pred 2: 2}; true 2 -> {pred 1: 1, pred 2: 1}
    expected = np.array([[2, 0, 0], [0, 0, 2], [0, 1, 1]])
    got = cm.compute()
    assert got.dtype == np.int64 and np.array_equal(got, expected)
    assert cm.total == 6 and cm.accuracy() == pytest.approx(3 / 6)
    # precision: tp / column sums = [2/2, 0/1, 1/3]; recall: tp / row sums = [2/2, 0/2, 1/2]
    np.testing.assert_allclose(cm.precision(), [1.0, 0.0, 1 / 3], rtol=1e-12)
    np.testing.assert_allclose(cm.recall(), [1.0, 0.0, 0.5], rtol=1e-12)
    np.testing.assert_allclose(cm.f1(), [1.0, 0.0, 2 * (1 / 3) * 0.5 / (1 / 3 + 0.5)], rtol=1e-12)
    assert cm.precision("macro") == pytest.approx((1 + 0 + 1 / 3) / 3, rel=1e-12)
    assert cm.recall("macro") == pytest.approx(0.5, rel=1e-12)
    assert cm.f1("macro") == pytest.approx((1 + 0 + 0.4) / 3, rel=1e-12)
    assert cm.recall("weighted") == pytest.approx((2 * 1 + 2 * 0 + 2 * 0.5) / 6, rel=1e-12)
    assert cm.precision("micro") == cm.accuracy()
    cm.reset()
    assert cm.total == 0 and not cm.compute().any() and cm.precision("macro") == 0.0


def np_scores(m):
    tp = np.diag(m).astype(np.float64)
    pred, true = m.sum(0), m.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(pred > 0, tp / pred, 0.0)
        r = np.where(true > 0, tp / true, 0.0)
        f = np.where(pred + true > 0, 2 * tp / (pred + true), 0.0)
    present = (pred + true) > 0
    return p, r, f, present, true


@pytest.mark.parametrize("c", [1, 2, 7, 33])
def test_confusion_matrix_matches_numpy(c, rng):
    cm = ConfusionMatrix(c)
    expected = np.zeros((c, c), dtype=np.int64)
    for n in (1, 7, 100):
        target = rng.integers(0, c, size=n)
        pred = np.where(rng.random(n) < 0.6, target, rng.integers(0, c, size=n))
        np.add.at(expected, (target, pred), 1)
        cm.update(dlcore.tensor(pred), dlcore.tensor(target))
    assert np.array_equal(cm.compute(), expected)
    p, r, f, present, true = np_scores(expected)
    np.testing.assert_allclose(cm.precision(), p, rtol=1e-12)
    np.testing.assert_allclose(cm.recall(), r, rtol=1e-12)
    np.testing.assert_allclose(cm.f1(), f, rtol=1e-12)
    for name, s in (("precision", p), ("recall", r), ("f1", f)):
        fn = getattr(cm, name)
        assert fn("macro") == pytest.approx(s[present].mean(), rel=1e-12)
        assert fn("weighted") == pytest.approx((s * true).sum() / true.sum(), rel=1e-12)
    assert cm.accuracy() == pytest.approx(np.trace(expected) / expected.sum(), rel=1e-12)


def test_confusion_matrix_ignore_index_and_dense(rng):
    cm = ConfusionMatrix(4, ignore_index=255)
    scores = rng.standard_normal((2, 4, 3, 5)).astype(np.float32)
    target = rng.integers(0, 4, size=(2, 3, 5))
    target[0, 0, :] = 255
    cm.update(dlcore.tensor(scores), dlcore.tensor(target))
    pred = scores.argmax(1)
    keep = target != 255
    expected = np.zeros((4, 4), dtype=np.int64)
    np.add.at(expected, (target[keep], pred[keep]), 1)
    assert np.array_equal(cm.compute(), expected) and cm.total == keep.sum()


def test_macro_skips_classes_never_seen():
    cm = ConfusionMatrix(5)
    cm.update(dlcore.tensor([0, 1, 1]), dlcore.tensor([0, 1, 0]))
    # classes 2..4 appear neither as targets nor as predictions: not part of the macro mean
    assert cm.recall("macro") == pytest.approx((0.5 + 1.0) / 2)
    assert cm.precision("macro") == pytest.approx((1.0 + 0.5) / 2)


def test_confusion_matrix_errors():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match=r"ConfusionMatrix.update: target holds class 3, outside \[0, 3\)"):
        cm.update(dlcore.tensor([0, 1]), dlcore.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"preds holds class -1"):
        cm.update(dlcore.tensor([0, -1]), dlcore.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"preds shape \[2\] does not match target shape \[3\]"):
        cm.update(dlcore.tensor([0, 1]), dlcore.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"scores must be \(N, 3, \.\.\.\), got shape \[2, 4\]"):
        cm.update(dlcore.zeros(2, 4), dlcore.tensor([0, 1]))
    with pytest.raises(ValueError, match="average must be"):
        cm.precision("samples")
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionMatrix(0)
    assert cm.total == 0  # nothing counted by the failed updates


# ---- running averages -------------------------------------------------------------------------

def test_average_meter_weights_by_batch_size():
    m = AverageMeter("loss")
    m.update(2.0, n=3)
    m.update(dlcore.tensor(1.0), n=1)
    m.update(dlcore.tensor([4.0]), n=4)
    assert m.avg == pytest.approx((2 * 3 + 1 + 4 * 4) / 8) and m.count == 8 and m.val == 4.0
    assert m.avg != pytest.approx((2 + 1 + 4) / 3)  # not the mean of batch means
    assert str(m) == "loss 4.0000 (2.8750)"
    m.reset()
    assert m.avg == 0.0 and m.count == 0
    assert RunningAverage is AverageMeter
    with pytest.raises(ValueError, match=r"one-element tensor, got shape \[2\]"):
        m.update(dlcore.ones(2))


@pytest.mark.cuda
@requires_cuda
def test_metrics_on_cuda(rng):
    scores = rng.standard_normal((50, 6)).astype(np.float32)
    target = rng.integers(0, 6, size=50)
    s, t = dlcore.tensor(scores).cuda(), dlcore.tensor(target).cuda()
    assert accuracy(s, t, (1, 3)) == pytest.approx([np_topk_accuracy(scores, target, k) for k in (1, 3)])
    cm = ConfusionMatrix(6)
    cm.update(s, t)
    expected = np.zeros((6, 6), dtype=np.int64)
    np.add.at(expected, (target, scores.argmax(1)), 1)
    assert np.array_equal(cm.compute(), expected)
