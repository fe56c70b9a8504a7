"""MeanIoU / DiceScore / PixelAccuracy against scikit-learn's confusion matrix, jaccard_score and
f1_score (one accumulated matrix over batches, 2D and 3D, ignore index, absent classes)."""
import numpy as np
import pytest

import dlcore
from dlcore.metrics import DiceScore, MeanIoU, PixelAccuracy

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _batches(rng, shape, c, n=3):
    out = []
    for _ in range(n):
        t = rng.integers(0, c, shape)
        p = np.where(rng.random(shape) < 0.7, t, rng.integers(0, c, shape))
        out.append((p, t))
    return out


@pytest.mark.parametrize("shape", [(2, 16, 12), (2, 6, 5, 4)])
def test_scores_match_sklearn(shape):
    rng = np.random.default_rng(0)
    c = 4
    batches = _batches(rng, shape, c)
    miou, dice, acc = (MeanIoU(c, per_class=True, input_format="index"), DiceScore(c, per_class=True,
                       input_format="index"), PixelAccuracy(c, input_format="index"))
    for p, t in batches:
        for m in (miou, dice, acc):
            m.update(dlcore.tensor(p), dlcore.tensor(t))
    p = np.concatenate([b[0].ravel() for b in batches])
    t = np.concatenate([b[1].ravel() for b in batches])
    labels = list(range(c))
    np.testing.assert_array_equal(miou.confusion.compute(), sklearn_metrics.confusion_matrix(t, p, labels=labels))
    np.testing.assert_allclose(miou.compute().numpy(), sklearn_metrics.jaccard_score(t, p, labels=labels,
                                                                                     average=None), rtol=1e-6)
    np.testing.assert_allclose(dice.compute().numpy(), sklearn_metrics.f1_score(t, p, labels=labels, average=None),
                               rtol=1e-6)
    np.testing.assert_allclose(acc.compute().item(), sklearn_metrics.accuracy_score(t, p), rtol=1e-6)
    mean = MeanIoU(c, input_format="index")
    for b in batches:
        mean.update(*b)
    assert mean.compute().item() == pytest.approx(sklearn_metrics.jaccard_score(t, p, average="macro"), rel=1e-6)
    no_bg = MeanIoU(c, include_background=False, input_format="index")
    for b in batches:
        no_bg.update(*b)
    assert no_bg.compute().item() == pytest.approx(
        sklearn_metrics.jaccard_score(t, p, labels=[1, 2, 3], average="macro"), rel=1e-6)


def test_one_hot_input_ignore_index_and_absent_classes():
    t = np.array([[[0, 1], [1, 255]]])
    p = np.array([[[0, 1], [0, 2]]])
    m = MeanIoU(4, per_class=True, input_format="index", ignore_index=255)
    m.update(p, t)
    # class 0: TP 1, FP 1; class 1: TP 1, FN 1; class 2, 3: never seen (the 2 is on an ignored pixel)
    np.testing.assert_allclose(m.compute().numpy(), [0.5, 0.5, np.nan, np.nan])
    mean = MeanIoU(4, input_format="index", ignore_index=255)
    mean.update(p, t)
    assert mean.compute().item() == pytest.approx(0.5)
    onehot = lambda x: np.moveaxis(np.eye(3)[x], -1, 1).astype(np.float32)  # noqa: E731
    d = DiceScore(3, per_class=True)
    d.update(dlcore.tensor(onehot(np.array([[0, 1, 2, 2]]))), dlcore.tensor(onehot(np.array([[0, 1, 1, 2]]))))
    np.testing.assert_allclose(d.compute().numpy(), [1.0, 2 / 3, 2 / 3], rtol=1e-6)
    acc = PixelAccuracy(3, input_format="index")
    assert np.isnan(acc.compute().item())
    acc.update(np.array([[0, 1]]), np.array([[0, 2]]))
    assert acc.compute().item() == pytest.approx(0.5)
    acc.reset()
    assert np.isnan(acc.compute().item())


def test_bad_input():
    m = MeanIoU(3, input_format="index")
    with pytest.raises(ValueError, match=r"preds and target must have the same shape, got \[1, 2\] and \[1, 3\]"):
        m.update(np.zeros((1, 2), np.int64), np.zeros((1, 3), np.int64))
    with pytest.raises(ValueError, match=r"target holds class 3, outside \[0, 3\)"):
        m.update(np.zeros((1, 2), np.int64), np.array([[0, 3]]))
    with pytest.raises(ValueError, match=r"one-hot inputs must be \[N, 3, \.\.\.\]"):
        MeanIoU(3).update(dlcore.zeros(1, 2, 4), dlcore.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="input_format must be 'one-hot' or 'index'"):
        DiceScore(3, input_format="onehot")
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        PixelAccuracy(0)


def _dice_ce_reference(logits, target, weight, ignore, smooth, include_background):
    """DiceCE in float64 numpy, pixel by pixel."""
    n, c = logits.shape[:2]
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    logp = np.log(p)
    valid = target != ignore
    t = np.where(valid, target, 0)
    w = np.ones(c) if weight is None else weight
    num = den = 0.0
    for idx in np.ndindex(t.shape):
        if valid[idx]:
            k = t[idx]
            num += -w[k] * logp[(idx[0], k) + idx[1:]]
            den += w[k]
    ce = num / den
    losses = []
    for i in range(n):
        for k in range(0 if include_background else 1, c):
            pk = p[i, k] * valid[i]
            gk = (t[i] == k) * valid[i]
            losses.append(1 - (2 * (pk * gk).sum() + smooth) / (pk.sum() + gk.sum() + smooth))
    return np.mean(losses) + ce


@pytest.mark.parametrize("include_background", [True, False])
def test_dice_ce_loss_matches_reference(include_background):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((2, 3, 5, 4))
    target = rng.integers(0, 3, (2, 5, 4))
    target[0, 0, :2] = 255
    weight = np.array([0.5, 1.0, 2.0])
    loss = dlcore.nn.DiceCELoss(weight=dlcore.tensor(weight), ignore_index=255, include_background=include_background)
    x = dlcore.tensor(logits, requires_grad=True)
    value = loss(x, dlcore.tensor(target))
    ref = _dice_ce_reference(logits, target, weight, 255, 1.0, include_background)
    assert value.item() == pytest.approx(ref, rel=1e-10)
    value.backward()
    g = x.grad.numpy()
    assert np.isfinite(g).all() and np.all(g[0, :, 0, :2] == 0)  # ignored pixels get no gradient
    with pytest.raises(ValueError, match=r"DiceCELoss: expected logits \(N, C, \*\) and class indices \(N, \*\)"):
        loss(x, dlcore.tensor(target[:, :4]))
