"""Op-table rows for the convolutions: conv1d/2d/3d and conv_transpose1d/2d/3d.

Samples are (input, weight, bias or None, kwargs). References are torch.nn.functional in
float64 (imported inside the reference). Shapes cover stride, padding (ints, tuples, 'same'
with even kernels, where PyTorch pads one more on the right, and 'valid'), dilation, groups
(grouped, depthwise, depthwise with a channel multiplier), 1x1 kernels (the im2col-free
path), odd sizes (7, 33), batch 1, unbatched inputs and no bias. Gradcheck rows use tiny
shapes; the larger ones are forward only.
Tolerances: a float32 output is a dot product of L = C/groups * kernel volume (+ bias) terms
of unit-sized values, with a rounding error of about L * u relative to the sum of |terms|
(u = 6e-8), so rows use atol = rtol = 1e-5 for L <= 80 and 1e-4 for L <= 800.
"""
import warnings

import numpy as np

import dlcore
from optable import ErrorCase, OpRow


def _ref(name):
    def ref(x, w, b, kw):
        import torch
        import torch.nn.functional as F

        def t(a):
            return None if a is None else torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))
        with warnings.catch_warnings():  # 'same' with even kernels: PyTorch warns about a padded copy
            warnings.simplefilter("ignore")
            return getattr(F, name)(t(x), t(w), t(b), **kw).numpy()
    return ref


def _op(name):
    return lambda x, w, b, kw: getattr(dlcore, name)(x, w, b, **kw)


def cases(*items):
    """items: (x_shape, w_shape, bias, kwargs); bias True makes a bias of the output channels."""
    def make(r):
        out = []
        for xs, ws, bias, kw in items:
            transposed = "output_padding" in kw or kw.get("_t", False)
            kw = {k: v for k, v in kw.items() if k != "_t"}
            cout = ws[1] * kw.get("groups", 1) if transposed else ws[0]
            b = r.standard_normal(cout) if bias else None
            out.append((r.standard_normal(xs), r.standard_normal(ws), b, kw))
        return out
    return make


def row(name, items, grad=True, id="", errors=(), l_max=80):
    tol = {"float32": (1e-5, 1e-5) if l_max <= 80 else (1e-4, 1e-4)}
    return OpRow(name, _op(name), _ref(name), cases(*items), grad=grad, id=id, errors=errors, tol=tol)


def _bad(call, exc, match):
    return ErrorCase(call, exc, match)


CONV_ERRORS = [
    _bad(lambda dl: dl.conv2d(dl.ones(8, 4, 32, 32), dl.ones(16, 3, 3, 3)), ValueError,
         r"conv2d: weight has 3 input channels but input has 4 \(input \[8, 4, 32, 32\], weight \[16, 3, 3, 3\]\)"),
    _bad(lambda dl: dl.conv2d(dl.ones(1, 2, 2, 5), dl.ones(3, 2, 3, 3)), ValueError,
         r"conv2d: kernel size 3 \(dilated: 3\) is larger than the padded input size 2 in spatial dim 0 "
         r"\(input \[1, 2, 2, 5\], weight \[3, 2, 3, 3\]\)"),
    _bad(lambda dl: dl.conv2d(dl.ones(1, 2, 5, 5), dl.ones(3, 2, 3, 3), padding=-1), ValueError,
         r"conv2d: padding must be non-negative, got \[-1\]"),
    _bad(lambda dl: dl.conv2d(dl.ones(1, 4, 5, 5), dl.ones(4, 2, 3, 3), groups=3), ValueError,
         r"conv2d: groups=3 does not divide the 4 input channels \(input \[1, 4, 5, 5\], weight \[4, 2, 3, 3\]\)"),
    _bad(lambda dl: dl.conv2d(dl.ones(1, 4, 5, 5), dl.ones(6, 1, 3, 3), groups=4), ValueError,
         r"conv2d: groups=4 does not divide the 6 output channels"),
    _bad(lambda dl: dl.conv2d(dl.ones(2, 1, 4, 5, 5), dl.ones(3, 1, 3, 3)), ValueError,
         r"conv2d: expected a 3-d \(unbatched\) or 4-d \(batched\) input, got shape \[2, 1, 4, 5, 5\]"),
    _bad(lambda dl: dl.conv3d(dl.ones(1, 1, 4, 5, 5), dl.ones(3, 1, 3, 3)), ValueError,
         r"conv3d: expected a 5-d weight, got shape \[3, 1, 3, 3\]"),
    _bad(lambda dl: dl.conv2d(dl.ones(1, 2, 5, 5), dl.ones(3, 2, 3, 3), stride=0), ValueError,
         r"conv2d: stride must be positive, got \[0\]"),
    _bad(lambda dl: dl.conv1d(dl.ones(1, 2, 5), dl.ones(3, 2, 3), stride=2, padding="same"), ValueError,
         r"conv1d: padding='same' needs stride 1"),
    _bad(lambda dl: dl.conv1d(dl.ones(1, 2, 5), dl.ones(3, 2, 3), padding="full"), ValueError,
         r"conv1d: padding must be an int, a tuple, 'same' or 'valid', got 'full'"),
    _bad(lambda dl: dl.conv2d(dl.ones(1, 2, 5, 5), dl.ones(3, 2, 3, 3), dl.ones(4)), ValueError,
         r"conv2d: expected a bias of shape \[3\], got \[4\] \(input \[1, 2, 5, 5\], weight \[3, 2, 3, 3\]\)"),
    _bad(lambda dl: dl.conv2d(dl.ones(1, 2, 5, 5), dl.ones(3, 2, 3, 3, dtype=dl.float64)), TypeError,
         r"conv2d: input and weight must have the same dtype, got float32 \[1, 2, 5, 5\] and float64 \[3, 2, 3, 3\]"),
    _bad(lambda dl: dl.conv2d(dl.ones(1, 2, 5, 5), dl.ones(3, 2, 3, 3), stride=(1, 2, 3)), ValueError,
         r"conv2d: stride must be an int or a tuple of 2 ints, got \[1, 2, 3\]"),
]

TRANSPOSE_ERRORS = [
    _bad(lambda dl: dl.conv_transpose2d(dl.ones(1, 4, 5, 5), dl.ones(4, 2, 3, 3), stride=2, output_padding=2),
         ValueError, r"conv_transpose2d: output_padding must be smaller than either stride or dilation, got "
         r"output_padding \[2\], stride \[2\], dilation \[1\]"),
    _bad(lambda dl: dl.conv_transpose2d(dl.ones(1, 4, 5, 5), dl.ones(3, 2, 3, 3)), ValueError,
         r"conv_transpose2d: weight has 3 input channels but input has 4 \(input \[1, 4, 5, 5\], weight \[3, 2, 3, 3\]\)"),
    _bad(lambda dl: dl.conv_transpose2d(dl.ones(1, 4, 5, 5), dl.ones(4, 2, 3, 3), groups=3), ValueError,
         r"conv_transpose2d: groups=3 does not divide the 4 input channels"),
    _bad(lambda dl: dl.conv_transpose1d(dl.ones(1, 4, 2), dl.ones(4, 2, 3), padding=3), ValueError,
         r"conv_transpose1d: padding \[3\] is too large: the output size would be -2 \(input \[1, 4, 2\], "
         r"weight \[4, 2, 3\]\)"),
]

T = {"_t": True}

ROWS = [
    # ---- conv1d
    row("conv1d", [((2, 3, 7), (4, 3, 3), True, {}),
                   ((1, 2, 8), (3, 2, 4), False, dict(stride=2, padding=1, dilation=2)),
                   ((2, 4, 9), (6, 2, 3), True, dict(stride=3, padding=(2,), groups=2)),
                   ((3, 7), (2, 3, 2), True, dict(padding=1))], errors=CONV_ERRORS[9:10]),
    row("conv1d", [((2, 3, 8), (4, 3, 4), True, dict(padding="same", dilation=2)),
                   ((2, 3, 7), (2, 3, 3), False, dict(padding="same")),
                   ((1, 2, 6), (3, 2, 3), True, dict(padding="valid"))], id="same-valid"),
    row("conv1d", [((2, 4, 33), (8, 1, 5), True, dict(padding=2, groups=4)),
                   ((2, 4, 7), (4, 1, 3), False, dict(padding="same", groups=4, dilation=3))], id="depthwise"),
    row("conv1d", [((3, 33, 33), (7, 33, 1), True, {}), ((2, 16, 100), (24, 16, 7), True, dict(stride=2, padding=3))],
        grad=False, id="large", l_max=120),
    # ---- conv2d
    row("conv2d", [((2, 3, 7, 6), (4, 3, 3, 3), True, dict(padding=1)),
                   ((1, 3, 5, 5), (2, 3, 3, 3), False, {}),
                   ((3, 6, 5), (4, 3, 2, 3), True, dict(padding=(1, 0)))], errors=CONV_ERRORS),
    row("conv2d", [((2, 4, 7, 9), (6, 2, 3, 2), True, dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
                   ((1, 6, 7, 7), (3, 2, 3, 3), False, dict(stride=2, padding=2, dilation=2, groups=3))],
        id="strided-grouped"),
    row("conv2d", [((2, 4, 7, 6), (4, 1, 3, 3), True, dict(padding=1, groups=4)),
                   ((1, 3, 7, 7), (6, 1, 3, 3), False, dict(stride=2, padding=1, groups=3)),
                   ((2, 2, 6, 7), (4, 1, 2, 3), True, dict(stride=(1, 2), dilation=(2, 1), groups=2))], id="depthwise"),
    row("conv2d", [((2, 4, 5, 7), (3, 4, 1, 1), True, {}),
                   ((1, 4, 7, 5), (6, 2, 1, 1), False, dict(groups=2)),
                   ((2, 3, 7, 7), (4, 3, 1, 1), True, dict(stride=2, padding=1))], id="1x1"),
    row("conv2d", [((2, 3, 7, 6), (4, 3, 4, 3), True, dict(padding="same", dilation=(1, 2))),
                   ((1, 2, 5, 6), (3, 2, 2, 2), False, dict(padding="same")),
                   ((1, 2, 5, 6), (3, 2, 2, 3), True, dict(padding="valid", dilation=2))], id="same-valid"),
    row("conv2d", [((2, 16, 33, 33), (8, 16, 3, 3), True, dict(padding=1)),
                   ((3, 33, 7, 9), (7, 33, 1, 1), True, {}),
                   ((2, 8, 33, 17), (16, 1, 5, 5), True, dict(padding=2, stride=2, groups=8)),
                   ((1, 32, 15, 15), (64, 4, 3, 3), False, dict(padding=1, groups=8, stride=2))],
        grad=False, id="large", l_max=160),
    # ---- conv3d
    row("conv3d", [((2, 4, 5, 6, 5), (4, 2, 3, 2, 3), True, dict(stride=(1, 2, 1), padding=(1, 0, 1), groups=2)),
                   ((1, 2, 4, 5, 3), (3, 2, 2, 3, 1), False, dict(padding="same")),
                   ((2, 4, 4, 4), (2, 2, 1, 1, 1), True, {})]),
    row("conv3d", [((1, 3, 5, 5, 5), (3, 1, 3, 3, 3), True, dict(padding=1, groups=3)),
                   ((2, 2, 4, 5, 6), (4, 1, 2, 3, 3), False, dict(stride=2, dilation=(1, 1, 2), groups=2))],
        id="depthwise"),
    row("conv3d", [((2, 8, 7, 9, 11), (6, 8, 3, 3, 3), True, dict(padding=1, stride=(1, 2, 2)))],
        grad=False, id="large", l_max=220),
    # ---- conv_transpose1d
    row("conv_transpose1d", [((2, 4, 7), (4, 3, 3), True, dict(stride=2, padding=1, output_padding=1)),
                             ((1, 4, 5), (4, 1, 3), False, dict(groups=2, dilation=2, **T)),
                             ((4, 6), (4, 2, 2), True, dict(stride=3, **T))], errors=TRANSPOSE_ERRORS[3:]),
    # ---- conv_transpose2d
    row("conv_transpose2d", [((2, 4, 5, 6), (4, 3, 3, 3), True, dict(stride=2, padding=1, output_padding=1)),
                             ((1, 4, 5, 6), (4, 3, 3, 2), False, dict(stride=(2, 3), padding=(1, 0), groups=2,
                                                                       dilation=2, **T)),
                             ((2, 4, 5, 5), (4, 2, 3, 3), True, dict(groups=4, stride=2, **T)),
                             ((2, 3, 4, 5), (3, 2, 1, 1), True, dict(**T))], errors=TRANSPOSE_ERRORS),
    row("conv_transpose2d", [((2, 3, 4, 4), (3, 3, 3, 3), False, dict(dilation=2, output_padding=1))],
        id="dilation-output-padding"),
    row("conv_transpose2d", [((2, 16, 17, 15), (16, 8, 4, 4), True, dict(stride=2, padding=1, **T)),
                             ((1, 33, 7, 7), (33, 5, 1, 1), True, dict(**T))], grad=False, id="large", l_max=200),
    # ---- conv_transpose3d
    row("conv_transpose3d", [((2, 4, 3, 4, 5), (4, 3, 3, 2, 3), True,
                              dict(stride=(1, 2, 2), padding=1, output_padding=(0, 1, 0))),
                             ((1, 4, 3, 3, 3), (4, 1, 2, 2, 2), False, dict(groups=4, stride=2, **T))]),
]
