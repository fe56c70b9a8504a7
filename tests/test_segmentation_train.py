"""OHEM cross-entropy, the segmentation trainer behind ``dlcore train unet|vnet|letnet``, ``dlcore eval``
and ``dlcore segment``."""
import numpy as np
import pytest

import dlcore
from dlcore import nn


def _ohem_reference(logits, target, thresh, min_kept, ignore_index, weight=None):
    """float64 numpy: the kept pixels by the rule of OhemCrossEntropyLoss, then weighted mean CE."""
    x = logits.astype(np.float64)
    x = x - x.max(1, keepdims=True)
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    valid = target != ignore_index
    t = np.where(valid, target, 0)
    lp = np.take_along_axis(logp, t[:, None], 1)[:, 0]
    prob = np.where(valid, np.exp(lp), 1.0)
    kept = valid.copy()
    if valid.sum() > min_kept:
        threshold = thresh
        if min_kept > 0:
            threshold = max(threshold, np.sort(prob.reshape(-1))[min_kept - 1])
        kept = valid & (prob <= threshold)
    w = np.ones(logits.shape[1]) if weight is None else weight
    wk = w[t] * kept
    return float(-(wk * lp).sum() / wk.sum())


@pytest.mark.parametrize("thresh,min_kept", [(0.7, 10), (0.7, 0), (0.2, 300), (0.7, 10 ** 6), (1.0, 5)])
@pytest.mark.parametrize("weighted", [False, True])
def test_ohem_matches_reference(thresh, min_kept, weighted):
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal((2, 4, 9, 11)) * 2).astype(np.float32)
    target = rng.integers(0, 4, (2, 9, 11))
    target[0, :2] = 255
    weight = np.array([1.0, 2.0, 0.5, 1.5]) if weighted else None
    loss_fn = nn.OhemCrossEntropyLoss(thresh, min_kept, ignore_index=255,
                                      weight=None if weight is None else dlcore.tensor(weight.tolist()))
    x = dlcore.from_numpy(logits.copy()).requires_grad_()
    loss = loss_fn(x, dlcore.from_numpy(target.astype(np.int64)))
    ref = _ohem_reference(logits, target, thresh, min_kept, 255, weight)
    # float32 logits: log-softmax error ~1e-7 relative, summed over ~200 pixels
    assert loss.item() == pytest.approx(ref, rel=1e-5, abs=1e-6)
    loss.backward()
    assert np.isfinite(x.grad.numpy()).all() and np.abs(x.grad.numpy()).sum() > 0


def test_ohem_keeps_only_hard_pixels_and_3d():
    # two pixels: one confidently right (p ~ 1), one wrong: with min_kept 1 only the wrong one counts
    logits = np.array([[10.0, -10.0], [-3.0, 0.0]], np.float32).reshape(1, 2, 1, 2)  # (N, C, H, W)
    target = np.array([[[0, 0]]])
    loss = nn.OhemCrossEntropyLoss(0.7, 1)(dlcore.from_numpy(logits), dlcore.from_numpy(target))
    p_wrong = np.exp(-10.0) / (np.exp(-10.0) + 1.0)
    assert loss.item() == pytest.approx(-np.log(p_wrong), rel=1e-5)
    rng = np.random.default_rng(0)
    vol = rng.standard_normal((1, 3, 4, 4, 4)).astype(np.float32)
    tv = rng.integers(0, 3, (1, 4, 4, 4))
    got = nn.OhemCrossEntropyLoss(0.5, 8)(dlcore.from_numpy(vol), dlcore.from_numpy(tv)).item()
    assert got == pytest.approx(_ohem_reference(vol, tv, 0.5, 8, -100), rel=1e-5)


def test_ohem_bad_input():
    with pytest.raises(ValueError, match="thresh"):
        nn.OhemCrossEntropyLoss(1.5)
    with pytest.raises(ValueError, match="min_kept"):
        nn.OhemCrossEntropyLoss(0.7, -1)
    with pytest.raises(ValueError, match=r"OhemCrossEntropyLoss.*\[2, 3, 4, 4\].*\[2, 5, 4\]"):
        nn.OhemCrossEntropyLoss()(dlcore.zeros(2, 3, 4, 4), dlcore.zeros(2, 5, 4, dtype=dlcore.int64))
