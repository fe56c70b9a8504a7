"""Known problems, so that the fuzzer gets past them while they are being fixed.

KNOWN: crashes/hangs. Calls matching an entry are skipped (not run). An entry is ``(id, match)``:
``match`` is a tag that the generators put on calls with the crashing condition (``c.tags``), or a
compiled regex searched in the call's source.

KNOWN_MISMATCHES: differential mismatches. Matching calls still run and are compared; a difference
is reported as ``known_mismatch`` instead of failing.

Remove an entry once its fix lands (``tools/fuzz.py --check-known N`` says which KNOWN entries still
crash). DLCORE_FUZZ_NO_KNOWN=1 (or ``tools/fuzz.py --no-skip-known``) ignores both lists.
"""
import os
import re

KNOWN = []  # (id, match) entries; none open


def _src(rx, spec=None, also=None):
    """A matcher: regex `rx` found in the source (and `also` too), in spec `spec` if given."""
    rx, also = re.compile(rx), re.compile(also) if also else None
    return lambda call, detail: (spec is None or call.spec == spec) and bool(rx.search(call.source)) and \
        (also is None or bool(also.search(call.source)))


def _detail(rx):
    """A matcher on the comparison's description of the difference."""
    rx = re.compile(rx)
    return lambda call, detail: bool(rx.search(detail))


# Known differential mismatches (dlcore vs torch on valid calls), each with the reason it is accepted.
SPECIAL = r"'s'\)"                 # the call has nan/inf data (PRELUDE kind "s")
INT = r"dtype=L\.(int32|int64|bool)"
KNOWN_MISMATCHES = [
    # still open on the dlcore side: gradient/value conventions at NaN and inf inputs, and the
    # float32 rounding of (Python float * alpha) in add/sub on float64 tensors
    ("sdpa-all-minus-inf-scores-give-0", _src(SPECIAL, spec="attention")),
    ("interpolate-nan-inf-neighbours", _src(SPECIAL, spec="interpolate")),
    ("conv-inf-times-padding-nan", _src(SPECIAL, spec="conv")),
    ("prod-var-std-grad-edge-cases", _src(r"(prod|var|std)\(", spec="reduce", also=SPECIAL + "|correction=2")),
    ("relu6-hardtanh-grad-at-the-bounds-is-1", _src(r"F\.(relu6|hardtanh)\(", also=r"requires_grad=True")),
    ("add-sub-alpha-scalar-rounded-to-float32", _src(r"(add|sub)_?\([^)]*\b\d[\d.e+-]*, alpha=|"
                                                    r"(add|sub)_?\(.*float\(.*alpha=", also=r"float64")),
    ("amax-amin-max-min-grad-at-nan", _src(r"(amax|amin|max|min)\(", spec="reduce", also=SPECIAL)),
    ("minimum-maximum-grad-at-nan", _src(r"(minimum|maximum)\(", spec="binary", also=SPECIAL)),
    ("elu-grad-at-nan-is-nan-torch-gives-1", _src(r"F\.elu\(", also=SPECIAL)),
    ("norm-layers-inf-input-gives-inf-not-nan", _src(r"F\.(layer_norm|group_norm|batch_norm)\(", spec="norm",
                                                     also=SPECIAL)),
    ("huber-smooth-l1-grad-at-nan-is-0", _src(r"F\.(huber_loss|smooth_l1_loss)\(", also=SPECIAL)),
    # torch-side differences (torch is the imprecise one): not dlcore bugs, never to be removed
    ("torch-hardsigmoid-hardswish-f64-grad-uses-f32-constant",
     _src(r"F\.hard(sigmoid|swish)\(", also=r"float64.*requires_grad=True")),
    ("torch-gelu-float32-inf-gives-nan", _src(r"F\.gelu\(", also=SPECIAL)),
    ("torch-norm-p0-not-differentiable", _src(r"L\.norm\([^,]+, 0[,)]", also=r"requires_grad=True")),
    ("torch-var-std-empty-dim-tuple-grad-inf", _src(r"L\.(var|std)\(.*, \(\),", also=r"requires_grad=True")),
    # an ignored target's row: torch masks its label-smoothing term by multiplying with 0, so a
    # non-finite logit there gives NaN; the row's gradient is 0 by definition (dlcore's)
    # a max-pool window entirely in the padding: torch's backward sends its gradient to an index
    # past the plane (the next channel's first element, or out of bounds); dlcore's drops it
    ("torch-max-pool-all-padding-window-grad", lambda call, detail: call.spec == "pool" and "max_pool" in call.source
     and detail.startswith("output 1")),
    ("torch-cross-entropy-ignored-row-nan-grad", _src(r"F\.cross_entropy\(.*ignore_index=", also=SPECIAL)),
]


def known_mismatch(call, detail=""):
    """The id of the KNOWN_MISMATCHES entry the call (whose results differ as `detail`) matches."""
    if os.environ.get("DLCORE_FUZZ_NO_KNOWN") == "1":
        return None
    for kid, match in KNOWN_MISMATCHES:
        if match(call, detail):
            return kid
    return None


def known_match(call):
    """The id of the KNOWN entry the call matches, or None."""
    if os.environ.get("DLCORE_FUZZ_NO_KNOWN") == "1":
        return None
    for kid, match in KNOWN:
        if (match in call.tags) if isinstance(match, str) else match.search(call.source):
            return kid
    return None
