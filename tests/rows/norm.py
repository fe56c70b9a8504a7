"""Op-table rows for the normalisation layers: batch_norm, layer_norm, group_norm,
local_response_norm. References are torch.nn.functional in float64 (imported inside the refs).

Tolerances: a normalised output is (x - mean) * rstd with mean/rstd from float32 sums
accumulated in double, so its float32 error is a few ulps of |x - mean| * rstd (values up to
~5 here): atol 1e-5, rtol 1e-5. The running variance is scaled by n/(n-1) and gradients sum
up to ~1000 terms of size ~1: float32 rows on those use rtol 1e-4, atol 1e-5. float64 keeps
the defaults.
"""
import numpy as np

import dlcore
from optable import Const, ErrorCase, OpRow

TOL = {"float32": (1e-5, 1e-5)}
TOL_SUMS = {"float32": (1e-4, 1e-5)}


def _t(a):
    import torch
    return None if a is None else torch.from_numpy(np.array(a, dtype=np.float64))


def _np(t):
    return t.detach().numpy()


# ---- batch_norm -------------------------------------------------------------------------------

# (N, C), (N, C, L), (N, C, H, W), (N, C, D, H, W); 1x1 spatial, odd sizes, N = 1 with spatial.
BN_SHAPES = [(4, 3), (2, 33), (5, 3, 7), (1, 7, 3), (7, 3, 1, 1), (2, 4, 5, 3), (2, 3, 2, 3, 2), (3, 2, 33, 1)]
BN_GRAD_SHAPES = [(4, 3), (3, 2, 3), (2, 2, 1, 1), (2, 2, 2, 2), (1, 2, 2, 1, 2)]


def bn_train_samples(shapes, with_stats=True, affine=True):
    def make(r):
        out = []
        for s in shapes:
            C = s[1]
            x = r.standard_normal(s) * 2 + 1
            stats = (r.standard_normal(C), r.uniform(0.5, 2.0, C)) if with_stats else ()
            aff = (r.standard_normal(C), r.standard_normal(C)) if affine else ()
            out.append((x,) + stats + aff)
        return out
    return make


def bn_eval_samples(shapes):
    def make(r):
        return [(r.standard_normal(s), Const(r.standard_normal(s[1])), Const(r.uniform(0.5, 2.0, s[1])),
                 r.standard_normal(s[1]), r.standard_normal(s[1])) for s in shapes]
    return make


def bn_train_op(x, rm, rv, w, b):
    y = dlcore.batch_norm(x, rm, rv, w, b, training=True, momentum=0.2, eps=1e-5)
    return y, rm, rv


def bn_train_ref(x, rm, rv, w, b):
    import torch.nn.functional as F
    rm_t, rv_t = _t(rm), _t(rv)
    y = F.batch_norm(_t(x), rm_t, rv_t, _t(w), _t(b), training=True, momentum=0.2, eps=1e-5)
    return _np(y), _np(rm_t), _np(rv_t)


def bn_ref(training, stats=True, affine=True):
    def ref(x, *args):
        import torch.nn.functional as F
        rm, rv = (args[0], args[1]) if stats else (None, None)
        rest = args[2:] if stats else args
        w, b = (rest[0], rest[1]) if affine else (None, None)
        return _np(F.batch_norm(_t(x), _t(rm), _t(rv), _t(w), _t(b), training=training, momentum=0.1, eps=1e-5))
    return ref


BN_ERRORS = [
    ErrorCase(lambda dl: dl.batch_norm(dl.ones(1, 4), None, None, training=True), ValueError,
              r"batch_norm: expected more than 1 value per channel when training, got input shape \[1, 4\]"),
    ErrorCase(lambda dl: dl.batch_norm(dl.ones(2, 4, 3), dl.zeros(3), dl.ones(4)), ValueError,
              r"batch_norm: expected running_mean of shape \[4\], got \[3\] \(input shape \[2, 4, 3\]\)"),
    ErrorCase(lambda dl: dl.batch_norm(dl.ones(2, 4, 3), dl.zeros(4), dl.ones(4, 1)), ValueError,
              r"batch_norm: expected running_var of shape \[4\], got \[4, 1\]"),
    ErrorCase(lambda dl: dl.batch_norm(dl.ones(2, 4), None, None, dl.ones(5), training=True), ValueError,
              r"batch_norm: expected weight of shape \[4\], got \[5\] \(input shape \[2, 4\]\)"),
    ErrorCase(lambda dl: dl.batch_norm(dl.ones(2, 4), None, None, None, dl.ones(4, dtype=dl.float64), True),
              TypeError, r"batch_norm: expected bias to have the input's dtype float32, got float64 \[4\]"),
    ErrorCase(lambda dl: dl.batch_norm(dl.ones(4), None, None, training=True), ValueError,
              r"batch_norm: expected an input with at least 2 dims \(N, C, \.\.\.\), got shape \[4\]"),
    ErrorCase(lambda dl: dl.batch_norm(dl.ones(2, 4), None, None), ValueError,
              r"batch_norm: running_mean and running_var are required when training=False"),
]

# ---- layer_norm -------------------------------------------------------------------------------

LN_SHAPES = [((4, 7), (7,)), ((1, 33), (33,)), ((2, 3, 5), (3, 5)), ((3, 1), (1,)), ((2, 2, 3, 4), (4,)),
             ((5, 100), (100,))]
LN_GRAD_SHAPES = [((3, 5), (5,)), ((2, 2, 3), (2, 3)), ((4, 1), (1,)), ((1, 7), (7,))]


def ln_samples(shapes, affine):
    def make(r):
        out = []
        for xs, ns in shapes:
            x = r.standard_normal(xs) * 2 + 0.5
            out.append((x, ns) + ((r.standard_normal(ns), r.standard_normal(ns)) if affine else ()))
        return out
    return make


def ln_ref(x, ns, w=None, b=None):
    import torch.nn.functional as F
    return _np(F.layer_norm(_t(x), ns, _t(w), _t(b), eps=1e-5))


LN_ERRORS = [
    ErrorCase(lambda dl: dl.layer_norm(dl.ones(2, 3, 4), (3, 5)), ValueError,
              r"layer_norm: normalized_shape \[3, 5\] does not match the trailing dims of input shape \[2, 3, 4\]"),
    ErrorCase(lambda dl: dl.layer_norm(dl.ones(4), (2, 4)), ValueError,
              r"layer_norm: normalized_shape \[2, 4\] does not match the trailing dims of input shape \[4\]"),
    ErrorCase(lambda dl: dl.layer_norm(dl.ones(2, 4), (4,), dl.ones(5)), ValueError,
              r"layer_norm: expected weight of shape \[4\], got \[5\] \(input shape \[2, 4\]\)"),
    ErrorCase(lambda dl: dl.layer_norm(dl.ones(2, 4), 4, None, dl.ones(2, 4)), ValueError,
              r"layer_norm: expected bias of shape \[4\], got \[2, 4\]"),
    ErrorCase(lambda dl: dl.layer_norm(dl.ones(2, 4, dtype=dl.int64), 4), TypeError,
              r"layer_norm: expected a floating point input, got int64 \[2, 4\]"),
]

# ---- group_norm -------------------------------------------------------------------------------

GN_SHAPES = [((2, 6, 5), 3), ((3, 4), 2), ((1, 8, 3, 3), 4), ((2, 33, 1, 1), 3), ((2, 4, 7), 1), ((2, 6, 2, 2), 6),
             ((2, 4, 2, 2, 3), 2)]
GN_GRAD_SHAPES = [((2, 4, 3), 2), ((2, 3, 1, 1), 3), ((1, 4, 2, 2), 1)]


def gn_samples(shapes, affine=True):
    def make(r):
        return [(r.standard_normal(s) * 2 + 1, g) + ((r.standard_normal(s[1]), r.standard_normal(s[1])) if affine
                                                    else ()) for s, g in shapes]
    return make


def gn_ref(x, g, w=None, b=None):
    import torch.nn.functional as F
    return _np(F.group_norm(_t(x), g, _t(w), _t(b), eps=1e-5))


GN_ERRORS = [
    ErrorCase(lambda dl: dl.group_norm(dl.ones(2, 6, 3), 4), ValueError,
              r"group_norm: expected the number of channels 6 to be divisible by num_groups 4 "
              r"\(input shape \[2, 6, 3\]\)"),
    ErrorCase(lambda dl: dl.group_norm(dl.ones(2, 6, 3), 3, dl.ones(3)), ValueError,
              r"group_norm: expected weight of shape \[6\], got \[3\] \(input shape \[2, 6, 3\]\)"),
    ErrorCase(lambda dl: dl.group_norm(dl.ones(2, 6, 3), 0), ValueError, r"group_norm: num_groups must be positive"),
]

# ---- local_response_norm ------------------------------------------------------------------------

# (shape, size, alpha, beta, k): sizes even and odd, larger than C, beta other than 0.75.
LRN_CASES = [((2, 7, 5), 5, 1e-4, 0.75, 1.0), ((2, 7, 3, 3), 3, 0.5, 0.75, 2.0), ((1, 4, 2, 3), 2, 0.3, 0.6, 1.5),
             ((2, 3, 1, 1), 7, 0.4, 0.75, 1.0), ((1, 5, 2, 2, 2), 4, 0.2, 1.3, 1.0), ((3, 33, 4), 5, 0.1, 0.75, 1.0)]
LRN_GRAD_CASES = [((2, 5, 3), 3, 0.5, 0.75, 2.0), ((1, 4, 2, 2), 2, 0.3, 0.6, 1.5), ((1, 3, 1, 1), 5, 0.4, 0.75, 1.0)]


def lrn_samples(cases):
    def make(r):
        return [(r.standard_normal(c[0]),) + tuple(c[1:]) for c in cases]
    return make


def lrn_ref(x, size, alpha, beta, k):
    import torch.nn.functional as F
    return _np(F.local_response_norm(_t(x), size, alpha=alpha, beta=beta, k=k))


LRN_ERRORS = [
    ErrorCase(lambda dl: dl.local_response_norm(dl.ones(2, 3), 2), ValueError,
              r"local_response_norm: expected an input with at least 3 dims \(N, C, \.\.\.\), got shape \[2, 3\]"),
    ErrorCase(lambda dl: dl.local_response_norm(dl.ones(2, 3, 4), 0), ValueError,
              r"local_response_norm: size must be positive, got 0 \(input shape \[2, 3, 4\]\)"),
]


ROWS = [
    # batch_norm: training returns the output and both updated running stats.
    OpRow("batch_norm", bn_train_op, bn_train_ref, bn_train_samples(BN_SHAPES), grad=False, tol=TOL_SUMS,
          errors=BN_ERRORS, id="train-stats"),
    OpRow("batch_norm", lambda x, w, b: dlcore.batch_norm(x, None, None, w, b, training=True),
          bn_ref(True, stats=False), bn_train_samples(BN_GRAD_SHAPES, with_stats=False), tol=TOL, id="train"),
    OpRow("batch_norm", lambda x: dlcore.batch_norm(x, None, None, training=True),
          bn_ref(True, stats=False, affine=False), bn_train_samples(BN_GRAD_SHAPES, False, False), tol=TOL,
          id="train-noaffine"),
    OpRow("batch_norm", lambda x, rm, rv, w, b: dlcore.batch_norm(x, rm, rv, w, b), bn_ref(False),
          bn_eval_samples(BN_GRAD_SHAPES), tol=TOL, id="eval"),
    OpRow("batch_norm", lambda x, rm, rv, w, b: dlcore.batch_norm(x, rm, rv, w, b), bn_ref(False),
          bn_eval_samples(BN_SHAPES), grad=False, tol=TOL, id="eval-large"),
    # layer_norm
    OpRow("layer_norm", lambda x, ns, w, b: dlcore.layer_norm(x, ns, w, b), ln_ref, ln_samples(LN_SHAPES, True),
          grad=False, tol=TOL, errors=LN_ERRORS, id="large"),
    OpRow("layer_norm", lambda x, ns, w, b: dlcore.layer_norm(x, ns, w, b), ln_ref, ln_samples(LN_GRAD_SHAPES, True),
          tol=TOL),
    OpRow("layer_norm", lambda x, ns: dlcore.layer_norm(x, ns), ln_ref, ln_samples(LN_GRAD_SHAPES, False), tol=TOL,
          id="noaffine"),
    # group_norm
    OpRow("group_norm", lambda x, g, w, b: dlcore.group_norm(x, g, w, b), gn_ref, gn_samples(GN_SHAPES), grad=False,
          tol=TOL, errors=GN_ERRORS, id="large"),
    OpRow("group_norm", lambda x, g, w, b: dlcore.group_norm(x, g, w, b), gn_ref, gn_samples(GN_GRAD_SHAPES), tol=TOL),
    OpRow("group_norm", lambda x, g: dlcore.group_norm(x, g), gn_ref, gn_samples(GN_GRAD_SHAPES, False), tol=TOL,
          id="noaffine"),
    # local_response_norm
    OpRow("local_response_norm", dlcore.local_response_norm, lrn_ref, lrn_samples(LRN_CASES), grad=False, tol=TOL,
          errors=LRN_ERRORS, id="large"),
    OpRow("local_response_norm", dlcore.local_response_norm, lrn_ref, lrn_samples(LRN_GRAD_CASES), tol=TOL),
]
