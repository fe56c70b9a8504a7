"""nn.RNN / nn.LSTM / nn.GRU and their cells against torch.nn with copied weights.

Tolerances: float64 runs agree with torch to ~1e-12 (both compute the same recurrence; the
sums differ only in order), checked at rtol 1e-9 / atol 1e-11. float32 runs carry the
rounding of dot products of length I + H (~40 * 6e-8) plus the fast tanh/sigmoid (< 1e-6
relative) through T = 6 steps, and the weight gradients sum T * B such terms: rtol/atol 1e-4.
"""
import math

import numpy as np
import pytest

import dlcore
import dlcore.nn as nn

torch = pytest.importorskip("torch")

DTYPES = {"float64": (dlcore.float64, torch.float64, 1e-9, 1e-11),
          "float32": (dlcore.float32, torch.float32, 1e-4, 1e-4)}


def close(got, want, rtol, atol, what):
    got = got.detach().numpy() if isinstance(got, dlcore.Tensor) else got
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else want
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=rtol, atol=atol,
                               err_msg=what)


def pair(kind, dtype="float64", seed=0, **kw):
    """A torch module and a dlcore module of the same class with the torch weights copied."""
    dl_dt, t_dt, _, _ = DTYPES[dtype]
    torch.manual_seed(seed)
    t_mod = getattr(torch.nn, kind)(**kw).to(t_dt)
    d_mod = getattr(nn, kind)(**kw, dtype=dl_dt)
    d_mod.load_state_dict({k: dlcore.tensor(v.detach().numpy()) for k, v in t_mod.state_dict().items()})
    return t_mod, d_mod


def leaf(arr, lib, requires_grad=True):
    if lib is torch:
        return torch.tensor(arr, requires_grad=requires_grad)
    return dlcore.tensor(arr, requires_grad=requires_grad)


def run_both(t_mod, d_mod, x, states, lstm):
    """Forward both modules, backward a random linear function of (output, h_n[, c_n]);
    returns per library (output, states, input/state leaves)."""
    results = {}
    rng = np.random.default_rng(1)
    seeds = None
    for lib, mod in ((torch, t_mod), (dlcore, d_mod)):
        xs = leaf(x, lib)
        hs = [leaf(s, lib) for s in states] if states is not None else None
        hx = None if hs is None else (tuple(hs) if lstm else hs[0])
        out, st = mod(xs, hx)
        st = list(st) if lstm else [st]
        if seeds is None:
            seeds = [rng.standard_normal(tuple(o.shape)) for o in [out] + st]
        loss = sum((o * lib.tensor(g, dtype=o.dtype)).sum() for o, g in zip([out] + st, seeds))
        loss.backward()
        results[lib] = (out, st, xs, hs or [])
    return results


def compare(t_mod, d_mod, res, dtype):
    _, _, rtol, atol = DTYPES[dtype]
    (t_out, t_st, t_x, t_h), (d_out, d_st, d_x, d_h) = res[torch], res[dlcore]
    close(d_out, t_out, rtol, atol, "output")
    for i, (d, t) in enumerate(zip(d_st, t_st)):
        close(d, t, rtol, atol, f"state {i}")
    close(d_x.grad, t_x.grad, rtol, atol, "input grad")
    for i, (d, t) in enumerate(zip(d_h, t_h)):
        close(d.grad, t.grad, rtol, atol, f"initial state {i} grad")
    t_params = dict(t_mod.named_parameters())
    for name, p in d_mod.named_parameters():
        close(p.grad, t_params[name].grad, rtol, atol, f"grad of {name}")


CONFIGS = [
    ("LSTM", dict(input_size=5, hidden_size=7)),
    ("LSTM", dict(input_size=4, hidden_size=6, num_layers=2, bidirectional=True, batch_first=True)),
    ("LSTM", dict(input_size=3, hidden_size=5, num_layers=2, bias=False)),
    ("GRU", dict(input_size=5, hidden_size=7)),
    ("GRU", dict(input_size=4, hidden_size=3, num_layers=3, bidirectional=True)),
    ("GRU", dict(input_size=4, hidden_size=6, bias=False, batch_first=True)),
    ("RNN", dict(input_size=5, hidden_size=7)),
    ("RNN", dict(input_size=4, hidden_size=6, num_layers=2, nonlinearity="relu", bidirectional=True)),
    ("RNN", dict(input_size=3, hidden_size=5, nonlinearity="relu", batch_first=True, bias=False)),
]


def _cfg_id(c):
    return c[0] + "-" + "-".join(f"{k}={v}" for k, v in c[1].items() if k not in ("input_size", "hidden_size"))


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[_cfg_id(c) for c in CONFIGS])
def test_matches_torch(cfg, dtype, with_state):
    kind, kw = cfg
    t_mod, d_mod = pair(kind, dtype, **kw)
    T, B = 6, 3
    rng = np.random.default_rng(0)
    np_dt = np.float64 if dtype == "float64" else np.float32
    shape = (B, T, kw["input_size"]) if kw.get("batch_first") else (T, B, kw["input_size"])
    x = rng.standard_normal(shape).astype(np_dt)
    D = 2 if kw.get("bidirectional") else 1
    states = None
    if with_state:
        n_states = 2 if kind == "LSTM" else 1
        states = [rng.standard_normal((kw.get("num_layers", 1) * D, B, kw["hidden_size"])).astype(np_dt)
                  for _ in range(n_states)]
    res = run_both(t_mod, d_mod, x, states, kind == "LSTM")
    assert tuple(res[dlcore][0].shape) == tuple(res[torch][0].shape)
    compare(t_mod, d_mod, res, dtype)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_unbatched(kind):
    kw = dict(input_size=4, hidden_size=5, num_layers=2, bidirectional=True)
    t_mod, d_mod = pair(kind, **kw)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 4))
    states = [rng.standard_normal((4, 5)) for _ in range(2 if kind == "LSTM" else 1)]
    res = run_both(t_mod, d_mod, x, states, kind == "LSTM")
    assert list(res[dlcore][0].shape) == [7, 10]
    assert list(res[dlcore][1][0].shape) == [4, 5]
    compare(t_mod, d_mod, res, "float64")


def test_parameters_match_torch_names_shapes_and_init():
    for kind, kw in [("LSTM", dict(input_size=3, hidden_size=16, num_layers=2, bidirectional=True)),
                     ("GRU", dict(input_size=5, hidden_size=9, num_layers=3)),
                     ("RNN", dict(input_size=2, hidden_size=4, bias=False, bidirectional=True))]:
        t_mod = getattr(torch.nn, kind)(**kw)
        d_mod = getattr(nn, kind)(**kw)
        t_shapes = [(n, tuple(p.shape)) for n, p in t_mod.named_parameters()]
        d_shapes = [(n, tuple(p.shape)) for n, p in d_mod.named_parameters()]
        assert d_shapes == t_shapes
        bound = 1 / math.sqrt(kw["hidden_size"])
        values = np.concatenate([p.detach().numpy().ravel() for p in d_mod.parameters()])
        assert np.abs(values).max() <= bound
        assert abs(values.std() - bound / math.sqrt(3)) < 0.15 * bound  # U(-b, b) has std b / sqrt(3)
        assert [[tuple(p.shape) for p in ps] for ps in d_mod.all_weights] == \
            [[tuple(p.shape) for p in ps] for ps in t_mod.all_weights]


@pytest.mark.parametrize("kind,kw", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}),
                                     ("GRUCell", {}), ("GRUCell", {"bias": False})])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_cells_match_torch(kind, kw, batched, with_state):
    t_mod, d_mod = pair(kind, input_size=5, hidden_size=4, **kw)
    rng = np.random.default_rng(3)
    lead = (3,) if batched else ()
    x = rng.standard_normal(lead + (5,))
    n_states = 2 if kind == "LSTMCell" else 1
    states = [rng.standard_normal(lead + (4,)) for _ in range(n_states)]
    outs, grads = {}, {}
    for lib, mod in ((torch, t_mod), (dlcore, d_mod)):
        xs = leaf(x, lib)
        hs = [leaf(s, lib) for s in states]
        hx = (tuple(hs) if n_states == 2 else hs[0]) if with_state else None
        res = mod(xs, hx)
        res = list(res) if n_states == 2 else [res]
        loss = sum((r * lib.tensor(np.arange(r.numel(), dtype=np.float64).reshape(tuple(r.shape)) / 10)).sum()
                   for r in res)
        loss.backward()
        outs[lib] = res
        grads[lib] = [xs.grad] + ([h.grad for h in hs] if with_state else []) + \
            [p.grad for _, p in mod.named_parameters()]
    for d, t in zip(outs[dlcore], outs[torch]):
        assert tuple(d.shape) == tuple(t.shape)
        close(d, t, 1e-9, 1e-11, "cell output")
    for d, t in zip(grads[dlcore], grads[torch]):
        close(d, t, 1e-9, 1e-11, "cell grad")


def test_dropout_between_layers():
    kw = dict(input_size=4, hidden_size=8, num_layers=3, dropout=0.5)
    t_mod, d_mod = pair("LSTM", **kw)
    x = np.random.default_rng(4).standard_normal((5, 2, 4))
    d_mod.eval()
    t_mod.eval()
    with torch.no_grad():
        want, _ = t_mod(torch.tensor(x))
    got_eval, _ = d_mod(dlcore.tensor(x))
    close(got_eval, want, 1e-9, 1e-11, "eval output (dropout off)")
    d_mod.train()
    dlcore.manual_seed(0)
    xs = dlcore.tensor(x, requires_grad=True)
    got_train, (h, c) = d_mod(xs)
    assert not np.allclose(got_train.detach().numpy(), got_eval.detach().numpy())
    dlcore.manual_seed(0)
    again, _ = d_mod(dlcore.tensor(x))
    np.testing.assert_array_equal(again.detach().numpy(), got_train.detach().numpy())
    got_train.sum().backward()
    assert xs.grad is not None and np.isfinite(xs.grad.numpy()).all()
    # p = 0 in training mode equals torch
    t_mod0, d_mod0 = pair("GRU", input_size=4, hidden_size=8, num_layers=2, dropout=0.0)
    close(d_mod0(dlcore.tensor(x))[0], t_mod0(torch.tensor(x))[0], 1e-9, 1e-11, "dropout=0 training output")


def _count_nodes(t):
    seen, stack = set(), [t.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        stack.extend(f for f, _ in n.next_functions)
    return len(seen)


def test_one_autograd_node_per_layer_direction():
    mod = nn.LSTM(3, 4)
    counts = []
    for T in (2, 30):
        out, _ = mod(dlcore.randn(T, 2, 3))
        assert out.grad_fn.name() == "RnnLayerBackward"
        counts.append(_count_nodes(out))
    assert counts[0] == counts[1]


def test_errors_name_shapes():
    with pytest.raises(ValueError, match=r"LSTM: input.size\(-1\) must be equal to input_size. Expected 4, got 6"):
        nn.LSTM(4, 5)(dlcore.ones(3, 2, 6))
    with pytest.raises(ValueError, match=r"GRU: expected hx size \[2, 2, 5\], got \[1, 2, 5\]"):
        nn.GRU(4, 5, num_layers=2)(dlcore.ones(3, 2, 4), dlcore.zeros(1, 2, 5))
    with pytest.raises(ValueError, match=r"LSTM: expected c_0 size \[1, 2, 5\], got \[1, 3, 5\]"):
        nn.LSTM(4, 5)(dlcore.ones(3, 2, 4), (dlcore.zeros(1, 2, 5), dlcore.zeros(1, 3, 5)))
    with pytest.raises(ValueError, match=r"RNN: for unbatched 2-d input, hx should also be 2-d but got shape "
                                         r"\[1, 1, 5\]"):
        nn.RNN(4, 5)(dlcore.ones(3, 4), dlcore.zeros(1, 1, 5))
    with pytest.raises(ValueError, match=r"RNN: expected input to be 2-d \(unbatched\) or 3-d, got shape "
                                         r"\[2, 3, 2, 4\]"):
        nn.RNN(4, 5)(dlcore.ones(2, 3, 2, 4))
    with pytest.raises(ValueError, match=r"GRUCell: expected hx of shape \[3, 5\] for input \[3, 4\], got \[2, 5\]"):
        nn.GRUCell(4, 5)(dlcore.ones(3, 4), dlcore.zeros(2, 5))
    with pytest.raises(ValueError, match=r"LSTMCell: input has inconsistent input_size: got 3 expected 4"):
        nn.LSTMCell(4, 5)(dlcore.ones(2, 3))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple"):
        nn.LSTM(4, 5)(dlcore.ones(3, 2, 4), dlcore.zeros(1, 2, 5))
    with pytest.raises(ValueError, match=r"RNN: unknown nonlinearity 'sigmoid'"):
        nn.RNN(4, 5, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"LSTM: dropout should be a number in range \[0, 1\]"):
        nn.LSTM(4, 5, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match=r"GRU: hidden_size must be a positive integer, got 0"):
        nn.GRU(4, 0)
    with pytest.raises(NotImplementedError, match=r"LSTM: proj_size=3 is not supported"):
        nn.LSTM(4, 5, proj_size=3)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(4, 5, dropout=0.2)


def test_repr():
    assert repr(nn.LSTM(4, 5, num_layers=2, batch_first=True)) == "LSTM(4, 5, num_layers=2, batch_first=True)"
    # as torch: the layers do not show their nonlinearity, the cells show it unquoted
    for kind, kw in [("RNN", {"nonlinearity": "relu"}), ("GRU", {"bias": False, "dropout": 0.5, "num_layers": 2}),
                     ("LSTM", {"bidirectional": True}), ("RNNCell", {"nonlinearity": "relu"}),
                     ("GRUCell", {"bias": False}), ("LSTMCell", {})]:
        assert repr(getattr(nn, kind)(4, 5, **kw)) == repr(getattr(torch.nn, kind)(4, 5, **kw))


def test_char_lstm_loss_falls_on_shakespeare():
    from dlcore.data.datasets import Shakespeare

    data = Shakespeare("train", block_size=32, num_samples=16, seed=0)
    V = data.vocab_size
    xs, ys = zip(*[data[i] for i in range(16)])
    x, y = dlcore.stack(list(xs), 0), dlcore.stack(list(ys), 0)  # (16, 32) int64
    dlcore.manual_seed(0)
    emb, lstm, head = nn.Embedding(V, 32), nn.LSTM(32, 64, batch_first=True), nn.Linear(64, V)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(head.parameters())
    opt = dlcore.optim.Adam(params, lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(40):
        out, _ = lstm(emb(x))
        loss = loss_fn(head(out).reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 0.9 * math.log(V)  # starts near chance
    assert losses[-1] < 0.6 * losses[0], losses
