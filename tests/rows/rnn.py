"""Op-table rows for rnn_layer: one layer-direction of an RNN (tanh, relu), LSTM or GRU.

The reference is the recurrence written out step by step in float64 numpy with PyTorch's
gate order (LSTM i, f, g, o; GRU r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn))).

Tolerances: float32 pre-activations are dot products of length I + H <= 40 (error ~ (I + H) u
with u = 6e-8), the fast tanh/sigmoid add < 1e-6 relative, and the gates are contractions
(|derivative| <= 1), so the error stays near 20 ulp of values of magnitude ~1 through T <= 9
steps: rtol = atol = 3e-5. float64: the default.
"""
import numpy as np

import dlcore
from optable import ErrorCase, OpRow

F32 = {"float32": (3e-5, 3e-5)}
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def rnn_ref(mode, reverse):
    """numpy float64 recurrence; returns (output, h_n) or (output, h_n, c_n) for LSTM."""
    def ref(x, h, *rest):
        if mode == "LSTM":
            c, w_ih, w_hh, b_ih, b_hh = rest
        else:
            c, (w_ih, w_hh, b_ih, b_hh) = None, rest
        T = x.shape[0]
        outs = [None] * T
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            gi = x[t] @ w_ih.T + (0 if b_ih is None else b_ih)
            gh = h @ w_hh.T + (0 if b_hh is None else b_hh)
            if mode == "RNN_TANH":
                h = np.tanh(gi + gh)
            elif mode == "RNN_RELU":
                h = np.maximum(gi + gh, 0)
            elif mode == "LSTM":
                i, f, g, o = np.split(gi + gh, 4, axis=-1)
                c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
                h = _sigmoid(o) * np.tanh(c)
            else:
                ir, iz, in_ = np.split(gi, 3, axis=-1)
                hr, hz, hn = np.split(gh, 3, axis=-1)
                r, z = _sigmoid(ir + hr), _sigmoid(iz + hz)
                n = np.tanh(in_ + r * hn)
                h = (1 - z) * n + z * h
            outs[t] = h
        out = np.stack(outs, 0)
        return (out, h, c) if mode == "LSTM" else (out, h)
    return ref


def rnn_call(mode, reverse):
    def op(x, h, *rest):
        if mode == "LSTM":
            c, w_ih, w_hh, b_ih, b_hh = rest
            return dlcore.rnn_layer(x, h, c, w_ih, w_hh, b_ih, b_hh, mode, reverse)
        w_ih, w_hh, b_ih, b_hh = rest
        return dlcore.rnn_layer(x, h, None, w_ih, w_hh, b_ih, b_hh, mode, reverse)[:2]
    return op


def layer_samples(mode, shapes, bias=True):
    """One sample per (T, B, I, H): x, h0 (, c0), W_ih, W_hh, b_ih, b_hh (None without bias).
    Weights ~ U(-1, 1) / sqrt(H) * 2 so that the gates are neither saturated nor linear."""
    G = GATES[mode]

    def make(r):
        out = []
        for T, B, I, H in shapes:
            s = 2.0 / np.sqrt(H)
            args = [r.standard_normal((T, B, I)), r.standard_normal((B, H))]
            if mode == "LSTM":
                args.append(r.standard_normal((B, H)))
            args += [r.uniform(-s, s, (G * H, I)), r.uniform(-s, s, (G * H, H))]
            args += [r.uniform(-s, s, (G * H,)), r.uniform(-s, s, (G * H,))] if bias else [None, None]
            out.append(tuple(args))
        return out
    return make


# Gradcheck sizes: T = 1, B = 1, odd I and H.
SMALL = [(3, 2, 3, 2), (1, 1, 2, 3), (2, 3, 1, 1)]
# Forward only: longer sequences, odd sizes.
LARGE = [(9, 33, 7, 17), (5, 1, 33, 8)]


def _err(call, exc, match):
    return ErrorCase(call, exc, match)


ERRORS = [
    _err(lambda dl: dl.rnn_layer(dl.ones(3, 4), dl.zeros(2, 5), None, dl.ones(20, 4), dl.ones(20, 5), None, None,
                                 "GRU"), ValueError,
         r"rnn_layer: input must be 3-d \(T, B, input_size\), got shape \[3, 4\]"),
    _err(lambda dl: dl.rnn_layer(dl.ones(3, 2, 4), dl.zeros(2, 5), dl.zeros(2, 5), dl.ones(20, 6), dl.ones(20, 5),
                                 None, None, "LSTM"), ValueError,
         r"rnn_layer: weight_ih must be \[20, 4\] for input \[3, 2, 4\] and weight_hh \[20, 5\], got \[20, 6\]"),
    _err(lambda dl: dl.rnn_layer(dl.ones(3, 2, 4), dl.zeros(2, 5), None, dl.ones(20, 4), dl.ones(21, 5), None, None,
                                 "LSTM"), ValueError,
         r"rnn_layer: weight_hh must be \(4 \* hidden_size, hidden_size\), got shape \[21, 5\]"),
    _err(lambda dl: dl.rnn_layer(dl.ones(3, 2, 4), dl.zeros(3, 5), None, dl.ones(15, 4), dl.ones(15, 5), None, None,
                                 "GRU"), ValueError,
         r"rnn_layer: expected hx of shape \[2, 5\] for input \[3, 2, 4\], got \[3, 5\]"),
    _err(lambda dl: dl.rnn_layer(dl.ones(3, 2, 4), dl.zeros(2, 5), None, dl.ones(20, 4), dl.ones(20, 5), None, None,
                                 "LSTM"), ValueError, r"rnn_layer: LSTM needs cx"),
    _err(lambda dl: dl.rnn_layer(dl.ones(3, 2, 4), dl.zeros(2, 5), None, dl.ones(5, 4), dl.ones(5, 5), dl.ones(4),
                                 None, "RNN_TANH"), ValueError, r"rnn_layer: bias_ih must be \[5\], got \[4\]"),
    _err(lambda dl: dl.rnn_layer(dl.ones(3, 2, 4), dl.zeros(2, 5), None, dl.ones(5, 4), dl.ones(5, 5), None, None,
                                 "RNN"), ValueError, r"rnn_layer: mode must be 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU'"),
    _err(lambda dl: dl.rnn_layer(dl.ones(3, 2, 4), dl.zeros(2, 5, dtype=dl.float64), None, dl.ones(5, 4),
                                 dl.ones(5, 5), None, None, "RNN_TANH"), TypeError,
         r"rnn_layer: hx is float64 \[2, 5\] but input is float32 \[3, 2, 4\]"),
    _err(lambda dl: dl.rnn_layer(dl.ones(0, 2, 4), dl.zeros(2, 5), None, dl.ones(5, 4), dl.ones(5, 5), None, None,
                                 "RNN_TANH"), ValueError, r"rnn_layer: input has no timesteps \(shape \[0, 2, 4\]\)"),
]

ROWS = []
for _mode in GATES:
    for _rev in (False, True):
        _id = _mode.lower() + ("-reverse" if _rev else "")
        ROWS.append(OpRow("rnn_layer", rnn_call(_mode, _rev), rnn_ref(_mode, _rev), layer_samples(_mode, SMALL),
                          tol=F32, id=_id, errors=ERRORS if (_mode == "LSTM" and not _rev) else ()))
    ROWS.append(OpRow("rnn_layer", rnn_call(_mode, False), rnn_ref(_mode, False),
                      layer_samples(_mode, [(2, 2, 3, 2)], bias=False), tol=F32, id=_mode.lower() + "-nobias"))
    ROWS.append(OpRow("rnn_layer", rnn_call(_mode, True), rnn_ref(_mode, True), layer_samples(_mode, LARGE),
                      grad=False, tol=F32, id=_mode.lower() + "-large"))
