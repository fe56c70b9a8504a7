"""Op-table rows for pooling (max, avg, adaptive max/avg in 1-3 d) and interpolate.

References are torch.nn.functional in float64 (imported inside the reference). Max-pool
inputs are permutations of distinct values spaced 0.01 apart, so there are no ties (the
argmax, hence the gradient, is unique and finite differences with eps=1e-6 are valid).
Tolerances: float32 window sums of up to 27 values and linear interpolation weights computed
in float32 (like PyTorch) round to about 1e-6 absolute on unit-sized data, so float32 rows use
(1e-5, 1e-5); max pooling and nearest are exact selections.
"""
import numpy as np

import dlcore
from optable import ErrorCase, OpRow

F32 = {"float32": (1e-5, 1e-5)}


def _F():
    import torch.nn.functional as F
    return F


def _t(x):
    import torch
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


def _np(out):
    if isinstance(out, tuple):
        return tuple(o.numpy() for o in out)
    return out.numpy()


def distinct(shape, r):
    n = int(np.prod(shape))
    return (r.permutation(n).astype(np.float64) * 0.01 - n * 0.005).reshape(shape)


def samples(kind, cases):
    """cases: [(shape, kwargs)]; kind 'distinct' (no ties) or 'normal'."""
    def make(r):
        return [(distinct(s, r) if kind == "distinct" else r.standard_normal(s), kw) for s, kw in cases]
    return make


def row(name, cases, kind="normal", grad=False, id="", errors=(), tol=None):
    return OpRow(name, lambda x, kw: getattr(dlcore, name)(x, **kw),
                 lambda x, kw: _np(getattr(_F(), name)(_t(x), **kw)),
                 samples(kind, cases), grad=grad, id=id, errors=errors, tol=F32 if tol is None else tol)


def _bad(call, exc, match):
    return ErrorCase(call, exc, match)


POOL_ERRORS = [
    _bad(lambda dl: dl.max_pool2d(dl.ones(1, 1, 5, 5), 3, padding=2), ValueError,
         r"max_pool2d: padding \[2, 2\] must be non-negative and at most half of kernel_size \[3, 3\] "
         r"\(input \[1, 1, 5, 5\]\)"),
    _bad(lambda dl: dl.max_pool2d(dl.ones(1, 1, 2, 2), 3), ValueError,
         r"max_pool2d: output size \[0, 0\] is too small: input \[1, 1, 2, 2\], kernel_size \[3, 3\]"),
    _bad(lambda dl: dl.avg_pool1d(dl.ones(2, 3, 4, 5), 2), ValueError,
         r"avg_pool1d: expected a 2-d \(unbatched\) or 3-d \(batched\) input, got input float32 \[2, 3, 4, 5\]"),
    _bad(lambda dl: dl.avg_pool3d(dl.ones(1, 1, 4, 4, 4), (2, 2)), ValueError,
         r"avg_pool3d: kernel_size must be an int or have 3 entries, got \[2, 2\]"),
    _bad(lambda dl: dl.max_pool1d(dl.ones(1, 1, 4), 2, stride=0), ValueError,
         r"max_pool1d: stride must be positive, got \[0\]"),
    _bad(lambda dl: dl.adaptive_avg_pool2d(dl.ones(1, 1, 4, 4), (2, 0)), ValueError,
         r"adaptive_avg_pool2d: output_size entries must be positive, got 0 \(input \[1, 1, 4, 4\]\)"),
    _bad(lambda dl: dl.adaptive_max_pool2d(dl.ones(1, 1, 4, 4, dtype=dl.int64), 2), TypeError,
         r"adaptive_max_pool2d: expected a float32 or float64 input, got input int64 \[1, 1, 4, 4\]"),
    _bad(lambda dl: dl.max_pool2d(dl.ones(1, 1, 0, 4), 2), ValueError,
         r"max_pool2d: input \[1, 1, 0, 4\] has an empty spatial dim"),
]

UPSAMPLE_ERRORS = [
    _bad(lambda dl: dl.interpolate(dl.ones(1, 1, 4, 4), size=(8, 8), scale_factor=2.0), ValueError,
         r"interpolate: give either size or scale_factor, not both \(input \[1, 1, 4, 4\]\)"),
    _bad(lambda dl: dl.interpolate(dl.ones(1, 1, 4), scale_factor=2.0, mode="bilinear"), ValueError,
         r"interpolate: mode 'bilinear' needs a 4-d input, got input \[1, 1, 4\]"),
    _bad(lambda dl: dl.interpolate(dl.ones(1, 1, 4, 4), scale_factor=2.0, align_corners=True), ValueError,
         r"interpolate: align_corners can only be set with the linear modes"),
    _bad(lambda dl: dl.interpolate(dl.ones(4, 4), scale_factor=2.0), ValueError,
         r"interpolate: expected a 3-d, 4-d or 5-d input \(N, C, \*spatial\), got input float32 \[4, 4\]"),
    _bad(lambda dl: dl.interpolate(dl.ones(1, 1, 4, 4), size=(8, 8, 8)), ValueError,
         r"interpolate: size \[8, 8, 8\] must be an int or have 2 entries for input \[1, 1, 4, 4\]"),
    _bad(lambda dl: dl.interpolate(dl.ones(1, 1, 4, 4), scale_factor=0.1), ValueError,
         r"interpolate: output size \[0, 0\] must be positive \(input \[1, 1, 4, 4\]\)"),
    _bad(lambda dl: dl.interpolate(dl.ones(1, 1, 4, 4), scale_factor=2.0, mode="bicubic"), NotImplementedError,
         r"interpolate: mode 'bicubic' is not supported"),
]

# ---- forward cases (many combinations) and small gradcheck cases per op ---------------------
MAX1 = [((2, 3, 33), dict(kernel_size=3)), ((1, 2, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        ((3, 7), dict(kernel_size=2, stride=1)), ((2, 2, 33), dict(kernel_size=4, stride=3, padding=2, dilation=2)),
        ((1, 1, 8), dict(kernel_size=3, stride=2, ceil_mode=True)),
        ((2, 1, 9), dict(kernel_size=3, stride=2, padding=1, dilation=3, ceil_mode=True))]
MAX2 = [((2, 3, 7, 7), dict(kernel_size=3, stride=2, padding=1)), ((1, 2, 33, 33), dict(kernel_size=2)),
        ((3, 7, 8), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))),
        ((2, 2, 7, 9), dict(kernel_size=3, stride=2, ceil_mode=True)),
        ((1, 3, 10, 11), dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)),
        ((2, 2, 33, 7), dict(kernel_size=(5, 3), stride=(3, 2), padding=(2, 1), dilation=(1, 2))),
        ((1, 1, 1, 1), dict(kernel_size=1)), ((1, 4, 6, 6), dict(kernel_size=3, stride=1, padding=1)),
        ((2, 3, 9, 9), dict(kernel_size=2, stride=3))]
MAX3 = [((1, 2, 7, 7, 7), dict(kernel_size=3, stride=2, padding=1)), ((2, 5, 6, 7), dict(kernel_size=2)),
        ((1, 2, 5, 6, 9), dict(kernel_size=(3, 2, 3), stride=(2, 1, 2), padding=(1, 1, 0), ceil_mode=True)),
        ((1, 1, 7, 8, 9), dict(kernel_size=3, stride=2, dilation=2, padding=1))]
MAX1_G = [((1, 2, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)), ((2, 9), dict(kernel_size=2, dilation=2))]
MAX2_G = [((1, 2, 5, 5), dict(kernel_size=3, stride=2, padding=1)), ((3, 4, 5), dict(kernel_size=2, ceil_mode=True))]
MAX3_G = [((1, 1, 3, 4, 5), dict(kernel_size=2, stride=(1, 2, 2), padding=1)), ((2, 3, 3, 3), dict(kernel_size=2))]

AVG1 = [((2, 3, 33), dict(kernel_size=3)), ((1, 2, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        ((3, 7), dict(kernel_size=2, stride=1)),
        ((2, 2, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
        ((1, 1, 33), dict(kernel_size=4, stride=3, padding=2, count_include_pad=False))]
AVG2 = [((2, 3, 7, 7), dict(kernel_size=3, stride=2, padding=1)), ((1, 2, 33, 33), dict(kernel_size=2)),
        ((3, 7, 8), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), count_include_pad=False)),
        ((2, 2, 7, 9), dict(kernel_size=3, stride=2, ceil_mode=True)),
        ((1, 3, 10, 11), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
        ((1, 3, 10, 11), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        ((2, 2, 7, 7), dict(kernel_size=3, padding=1, divisor_override=5)),
        ((1, 4, 6, 6), dict(kernel_size=3, stride=1, padding=1)), ((1, 1, 1, 1), dict(kernel_size=1))]
AVG3 = [((1, 2, 7, 7, 7), dict(kernel_size=3, stride=2, padding=1)), ((2, 5, 6, 7), dict(kernel_size=2)),
        ((1, 2, 5, 6, 9), dict(kernel_size=(3, 2, 3), stride=(2, 1, 2), padding=(1, 1, 0), ceil_mode=True,
                               count_include_pad=False)),
        ((1, 1, 5, 5, 5), dict(kernel_size=3, padding=1, stride=2, divisor_override=7))]
AVG1_G = [((1, 2, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False))]
AVG2_G = [((1, 2, 5, 5), dict(kernel_size=3, stride=2, padding=1)),
          ((3, 5, 4), dict(kernel_size=2, ceil_mode=True, count_include_pad=False, divisor_override=3))]
AVG3_G = [((1, 1, 3, 4, 5), dict(kernel_size=2, stride=(1, 2, 2), padding=1, count_include_pad=False))]

ADA1 = [((2, 3, 33), dict(output_size=5)), ((3, 7), dict(output_size=7)), ((1, 2, 7), dict(output_size=1)),
        ((1, 1, 5), dict(output_size=9))]
ADA2 = [((2, 3, 7, 7), dict(output_size=1)), ((1, 2, 33, 17), dict(output_size=(5, 4))),
        ((3, 7, 9), dict(output_size=(None, 4))), ((1, 2, 5, 6), dict(output_size=(7, 3))),
        ((2, 4, 7, 7), dict(output_size=(1, 1)))]
ADA3 = [((1, 2, 7, 6, 5), dict(output_size=(3, 2, 4))), ((2, 5, 6, 7), dict(output_size=1)),
        ((1, 1, 4, 5, 6), dict(output_size=(None, 3, None)))]
ADA1_G = [((1, 2, 7), dict(output_size=3)), ((2, 5), dict(output_size=1))]
ADA2_G = [((1, 2, 5, 4), dict(output_size=(3, 2))), ((2, 3, 3), dict(output_size=1))]
ADA3_G = [((1, 1, 3, 4, 5), dict(output_size=(2, 3, 2)))]

INTERP = [((2, 3, 7), dict(scale_factor=2.0)), ((1, 2, 7), dict(size=12)), ((1, 2, 33), dict(size=13)),
          ((2, 3, 7, 7), dict(scale_factor=2)), ((1, 2, 7, 5), dict(size=(9, 11))),
          ((1, 2, 7, 5), dict(scale_factor=(1.7, 0.6))), ((1, 1, 6, 6), dict(scale_factor=0.5)),
          ((1, 2, 7, 5), dict(scale_factor=(1.7, 2.3), recompute_scale_factor=True)),
          ((1, 2, 3, 4, 5), dict(scale_factor=2)), ((1, 1, 3, 4, 5), dict(size=(5, 3, 7))),
          ((1, 2, 3, 4, 5), dict(scale_factor=(1.5, 0.75, 1.3)))]
LINEAR = [((2, 3, 7), dict(scale_factor=2.0, mode="linear")), ((1, 2, 33), dict(size=13, mode="linear")),
          ((1, 2, 7), dict(size=12, mode="linear", align_corners=True)),
          ((2, 3, 7, 7), dict(scale_factor=2, mode="bilinear")),
          ((1, 2, 7, 5), dict(size=(9, 11), mode="bilinear", align_corners=True)),
          ((1, 2, 7, 5), dict(scale_factor=(1.7, 0.6), mode="bilinear")),
          ((1, 2, 7, 5), dict(scale_factor=(1.7, 2.3), mode="bilinear", align_corners=True)),
          ((1, 2, 7, 5), dict(scale_factor=(1.7, 2.3), mode="bilinear", recompute_scale_factor=True)),
          ((1, 1, 6, 6), dict(scale_factor=0.5, mode="bilinear")), ((1, 1, 6, 1), dict(size=(3, 1), mode="bilinear",
                                                                                      align_corners=True)),
          ((1, 2, 3, 4, 5), dict(scale_factor=2, mode="trilinear")),
          ((1, 1, 3, 4, 5), dict(size=(5, 3, 7), mode="trilinear", align_corners=True)),
          ((1, 2, 3, 4, 5), dict(scale_factor=(1.5, 0.75, 1.3), mode="trilinear"))]
INTERP_G = [((1, 2, 5), dict(scale_factor=2.5)), ((1, 1, 3, 4), dict(size=(5, 7))),
            ((1, 1, 2, 3, 2), dict(scale_factor=2)), ((1, 2, 5), dict(size=8, mode="linear")),
            ((1, 1, 3, 4), dict(scale_factor=1.5, mode="bilinear")),
            ((1, 1, 3, 4), dict(size=(5, 7), mode="bilinear", align_corners=True)),
            ((1, 1, 2, 3, 2), dict(scale_factor=(2, 1.5, 2), mode="trilinear"))]
AREA = [((1, 2, 7, 9), dict(size=(3, 4), mode="area"))]

ROWS = [
    row("max_pool1d", MAX1, "distinct", errors=POOL_ERRORS),
    row("max_pool1d", [(s, dict(kw, return_indices=True)) for s, kw in MAX1], "distinct", id="indices"),
    row("max_pool1d", MAX1_G, "distinct", grad=True, id="grad"),
    row("max_pool2d", MAX2, "distinct"),
    row("max_pool2d", [(s, dict(kw, return_indices=True)) for s, kw in MAX2], "distinct", id="indices"),
    row("max_pool2d", MAX2_G, "distinct", grad=True, id="grad"),
    row("max_pool3d", MAX3, "distinct"),
    row("max_pool3d", [(s, dict(kw, return_indices=True)) for s, kw in MAX3], "distinct", id="indices"),
    row("max_pool3d", MAX3_G, "distinct", grad=True, id="grad"),
    row("avg_pool1d", AVG1), row("avg_pool1d", AVG1_G, grad=True, id="grad"),
    row("avg_pool2d", AVG2), row("avg_pool2d", AVG2_G, grad=True, id="grad"),
    row("avg_pool3d", AVG3), row("avg_pool3d", AVG3_G, grad=True, id="grad"),
    row("adaptive_avg_pool1d", ADA1), row("adaptive_avg_pool1d", ADA1_G, grad=True, id="grad"),
    row("adaptive_avg_pool2d", ADA2), row("adaptive_avg_pool2d", ADA2_G, grad=True, id="grad"),
    row("adaptive_avg_pool3d", ADA3), row("adaptive_avg_pool3d", ADA3_G, grad=True, id="grad"),
    row("adaptive_max_pool1d", ADA1, "distinct"),
    row("adaptive_max_pool1d", [(s, dict(kw, return_indices=True)) for s, kw in ADA1], "distinct", id="indices"),
    row("adaptive_max_pool1d", ADA1_G, "distinct", grad=True, id="grad"),
    row("adaptive_max_pool2d", ADA2, "distinct"),
    row("adaptive_max_pool2d", [(s, dict(kw, return_indices=True)) for s, kw in ADA2], "distinct", id="indices"),
    row("adaptive_max_pool2d", ADA2_G, "distinct", grad=True, id="grad"),
    row("adaptive_max_pool3d", ADA3, "distinct"),
    row("adaptive_max_pool3d", ADA3_G, "distinct", grad=True, id="grad"),
    row("interpolate", INTERP, id="nearest", errors=UPSAMPLE_ERRORS),
    row("interpolate", LINEAR, id="linear"),
    row("interpolate", AREA, id="area"),
    row("interpolate", INTERP_G + AREA, grad=True, id="grad"),
]
