"""Op-table rows for the loss family: cross_entropy (class-index and probability targets),
nll_loss, binary_cross_entropy and binary_cross_entropy_with_logits.

References are PyTorch's functional losses run in float64 (torch is imported inside the
reference, never by dlcore). Samples cover class weights (Const: not differentiated, as in
PyTorch), ignore_index, label smoothing, the three reductions, K-dim inputs (N, C, d1, ...),
(C,) inputs and odd class counts (1, 7, 33). Probability targets are differentiated too.
"""
import numpy as np

import dlcore
from optable import Const, ErrorCase, OpRow


def _t(a):
    import torch
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


def _np(t):
    return t.detach().numpy()


def _class_dim(shape):
    return 0 if len(shape) == 1 else 1


def _batch(shape):
    return tuple(s for i, s in enumerate(shape) if i != _class_dim(shape))


# (input shape, weighted, ignore_index, reduction, label_smoothing)
INDEX_CASES = [((5, 7), False, -100, "mean", 0.0), ((5, 7), True, -100, "mean", 0.0), ((4, 33), True, 3, "sum", 0.1),
               ((6, 1), False, -100, "none", 0.0), ((2, 3, 4), True, -100, "none", 0.2),
               ((2, 3, 2, 3), False, 1, "mean", 0.0), ((7,), False, -100, "mean", 0.0), ((3, 7), True, -100, "mean", 0.25)]
PROB_CASES = [((5, 7), False, "mean", 0.0), ((4, 33), True, "sum", 0.1), ((2, 3, 4), False, "none", 0.2),
              ((7,), True, "mean", 0.0), ((3, 1), False, "mean", 0.1), ((2, 5, 3), True, "mean", 0.0)]


def _index_target(r, shape, ignore_index):
    C = shape[_class_dim(shape)]
    t = np.asarray(r.integers(0, C, _batch(shape)), dtype=np.int64)
    if t.size > 2:  # one ignored entry, never all of them (a mean over nothing is nan)
        t.flat[1] = ignore_index
    return t


def _ce_index_samples(r):
    out = []
    for shape, weighted, ii, red, eps in INDEX_CASES:
        C = shape[_class_dim(shape)]
        w = Const(r.uniform(0.5, 2.0, C)) if weighted else None
        out.append((r.standard_normal(shape), _index_target(r, shape, ii), w, ii, red, eps))
    return out


def _ce_prob_samples(r):
    out = []
    for shape, weighted, red, eps in PROB_CASES:
        C = shape[_class_dim(shape)]
        p = r.uniform(0.05, 1.0, shape)
        p = p / p.sum(axis=_class_dim(shape), keepdims=True)
        w = Const(r.uniform(0.5, 2.0, C)) if weighted else None
        out.append((r.standard_normal(shape), p, w, -100, red, eps))
    return out


def _ce(x, t, w, ii, red, eps):
    return dlcore.cross_entropy(x, t, weight=w, ignore_index=ii, reduction=red, label_smoothing=eps)


def _ce_ref(x, t, w, ii, red, eps):
    import torch
    return _np(torch.nn.functional.cross_entropy(_t(x), _t(t), weight=_t(w), ignore_index=ii, reduction=red,
                                                 label_smoothing=eps))


def _nll_samples(r):
    out = []
    for shape, weighted, ii, red, _eps in INDEX_CASES:
        C = shape[_class_dim(shape)]
        w = Const(r.uniform(0.5, 2.0, C)) if weighted else None
        out.append((r.standard_normal(shape), _index_target(r, shape, ii), w, ii, red))
    return out


def _nll(x, t, w, ii, red):
    return dlcore.nll_loss(x, t, weight=w, ignore_index=ii, reduction=red)


def _nll_ref(x, t, w, ii, red):
    import torch
    return _np(torch.nn.functional.nll_loss(_t(x), _t(t), weight=_t(w), ignore_index=ii, reduction=red))


def _nll_of_log_softmax(x, t, w, ii, red):
    return dlcore.nll_loss(dlcore.log_softmax(x, 0 if x.dim() == 1 else 1), t, weight=w, ignore_index=ii, reduction=red)


def _ce_as_nll_ref(x, t, w, ii, red):
    import torch
    return _np(torch.nn.functional.cross_entropy(_t(x), _t(t), weight=_t(w), ignore_index=ii, reduction=red))


# (shape, weight shape or None, reduction)
BCE_CASES = [((4, 5), (5,), "mean"), ((7,), None, "sum"), ((3, 1, 2), (3, 1, 1), "none"), ((1,), None, "mean"),
             ((2, 33), None, "mean")]


def _bce_samples(r):
    return [(r.uniform(0.05, 0.95, s), r.uniform(0.0, 1.0, s), Const(r.uniform(0.5, 2.0, ws)) if ws else None, red)
            for s, ws, red in BCE_CASES]


def _bce_ref(x, t, w, red):
    import torch
    return _np(torch.nn.functional.binary_cross_entropy(_t(x), _t(t), weight=_t(w), reduction=red))


def _bcel_samples(r, const=True):
    wrap = Const if const else (lambda a: a)
    out = []
    for s, ws, red in BCE_CASES:
        x = 3 * r.standard_normal(s)
        out.append((x, r.uniform(0.0, 1.0, s), wrap(r.uniform(0.5, 2.0, ws)) if ws else None, red,
                    wrap(r.uniform(0.5, 3.0, s[-1:])) if ws else None))
    return out


def _bcel(x, t, w, red, pw):
    return dlcore.binary_cross_entropy_with_logits(x, t, weight=w, reduction=red, pos_weight=pw)


def _bcel_ref(x, t, w, red, pw):
    import torch
    return _np(torch.nn.functional.binary_cross_entropy_with_logits(_t(x), _t(t), weight=_t(w), reduction=red,
                                                                     pos_weight=_t(pw)))


def _idx(dl, *v):
    return dl.tensor(np.array(v, dtype=np.int64))


CE_ERRORS = [
    ErrorCase(lambda dl: dl.cross_entropy(dl.ones(2, 3), _idx(dl, 0, 1, 2)), ValueError,
              r"cross_entropy: expected target of shape \[2\] for input of shape \[2, 3\], got \[3\]"),
    ErrorCase(lambda dl: dl.cross_entropy(dl.ones(2, 3), dl.ones(2, 4)), ValueError,
              r"cross_entropy: expected target of shape \[2, 3\] \(class probabilities\) or \[2\] \(class indices\) "
              r"for input of shape \[2, 3\], got \[2, 4\]"),
    ErrorCase(lambda dl: dl.cross_entropy(dl.ones(2, 3), _idx(dl, 0, 5)), IndexError,
              r"cross_entropy: target 5 is out of bounds for 3 classes"),
    ErrorCase(lambda dl: dl.cross_entropy(dl.ones(2, 3), _idx(dl, -1, 0)), IndexError,
              r"cross_entropy: target -1 is out of bounds for 3 classes"),
    ErrorCase(lambda dl: dl.cross_entropy(dl.ones(2, 3), _idx(dl, 0, 1), weight=dl.ones(4)), ValueError,
              r"cross_entropy: weight must have shape \[3\] \(one per class of input \[2, 3\]\), got \[4\]"),
    ErrorCase(lambda dl: dl.cross_entropy(dl.ones(2, 3), _idx(dl, 0, 1), reduction="avg"), ValueError,
              r"cross_entropy: reduction must be 'none', 'mean' or 'sum', got 'avg'"),
    ErrorCase(lambda dl: dl.cross_entropy(dl.ones(2, 3), _idx(dl, 0, 1), label_smoothing=1.5), ValueError,
              r"cross_entropy: label_smoothing must be in \[0, 1\], got 1.5"),
    ErrorCase(lambda dl: dl.cross_entropy(dl.ones(2, 3, dtype=dl.int64), _idx(dl, 0, 1)), TypeError,
              r"cross_entropy: expected a floating point input, got int64 \[2, 3\]"),
]

ROWS = [
    OpRow("cross_entropy", _ce, _ce_ref, _ce_index_samples, errors=CE_ERRORS),
    OpRow("cross_entropy", _ce, _ce_ref, _ce_prob_samples, id="prob"),
    OpRow("cross_entropy", lambda x, t: dlcore.cross_entropy(20 * x, t),
          lambda x, t: _ce_ref(20 * x, t, None, -100, "mean", 0.0),
          lambda r: [(r.standard_normal((9, 1000)), r.integers(0, 1000, 9)),
                     (r.standard_normal((3, 4099)), r.integers(0, 4099, 3))], grad=False, id="large"),
    OpRow("nll_loss", _nll, _nll_ref, _nll_samples,
          errors=[ErrorCase(lambda dl: dl.nll_loss(dl.ones(2, 3), _idx(dl, 3, 0)), IndexError,
                            r"nll_loss: target 3 is out of bounds for 3 classes"),
                  ErrorCase(lambda dl: dl.nll_loss(dl.ones(2, 3, 4), _idx(dl, 0, 1)), ValueError,
                            r"nll_loss: expected target of shape \[2, 4\] for input of shape \[2, 3, 4\], got \[2\]"),
                  ErrorCase(lambda dl: dl.nll_loss(dl.ones(2, 3), dl.ones(2)), TypeError,
                            r"nll_loss: class-index target must be int64, got float32 \[2\]")]),
    OpRow("nll_loss", _nll_of_log_softmax, _ce_as_nll_ref, _nll_samples, id="log_softmax"),
    OpRow("binary_cross_entropy", lambda x, t, w, red: dlcore.binary_cross_entropy(x, t, weight=w, reduction=red),
          _bce_ref, _bce_samples,
          errors=[ErrorCase(lambda dl: dl.binary_cross_entropy(dl.ones(2, 3) * 0.5, dl.ones(3)), ValueError,
                            r"binary_cross_entropy: target shape \[3\] must match input shape \[2, 3\]"),
                  ErrorCase(lambda dl: dl.binary_cross_entropy(dl.ones(2, 3) * 0.5, dl.ones(2, 3), weight=dl.ones(2)),
                            ValueError, r"binary_cross_entropy: shapes \[2\] and \[2, 3\] cannot be broadcast")]),
    OpRow("binary_cross_entropy", lambda x, t: dlcore.binary_cross_entropy(x, t, reduction="none"),
          lambda x, t: _bce_ref(x, t, None, "none"),
          lambda r: [(np.array([0.0, 1.0, 1e-50, 0.5]), np.array([0.0, 1.0, 0.0, 1.0])),
                     (np.array([0.0, 1.0]), np.array([1.0, 0.0]))], grad=False, id="clamped"),
    OpRow("binary_cross_entropy_with_logits", _bcel, _bcel_ref, _bcel_samples,
          errors=[ErrorCase(lambda dl: dl.binary_cross_entropy_with_logits(dl.ones(2, 3), dl.ones(2, 3),
                                                                            pos_weight=dl.ones(2)),
                            ValueError, r"binary_cross_entropy_with_logits: shapes \[2\] and \[2, 3\] cannot be"),
                  ErrorCase(lambda dl: dl.binary_cross_entropy_with_logits(dl.ones(2, 3), dl.ones(3, 2)), ValueError,
                            r"binary_cross_entropy_with_logits: target shape \[3, 2\] must match input shape \[2, 3\]")]),
    OpRow("binary_cross_entropy_with_logits", _bcel, _bcel_ref, lambda r: _bcel_samples(r, const=False), id="wgrad"),
    OpRow("binary_cross_entropy_with_logits", lambda x, t: dlcore.binary_cross_entropy_with_logits(x, t, reduction="none"),
          lambda x, t: _bcel_ref(x, t, None, "none", None),
          lambda r: [(np.array([-200.0, -30.0, 0.0, 30.0, 200.0]), np.array([0.0, 1.0, 0.5, 0.0, 1.0]))],
          grad=False, id="extreme"),
]
