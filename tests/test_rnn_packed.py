"""nn.RNN / nn.LSTM / nn.GRU on PackedSequence input against torch.nn with copied weights.

Tolerances as in test_rnn.py: float64 runs compute the same recurrence as torch (sums in
another order), checked at rtol 1e-9 / atol 1e-11; float32 carries dot-product rounding and
the fast tanh/sigmoid through up to 6 steps, and weight gradients sum over all packed rows:
rtol/atol 1e-4.
"""
import numpy as np
import pytest

import dlcore
import dlcore.nn as nn
from dlcore.nn.utils.rnn import PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence

torch = pytest.importorskip("torch")

DTYPES = {"float64": (dlcore.float64, torch.float64, 1e-9, 1e-11),
          "float32": (dlcore.float32, torch.float32, 1e-4, 1e-4)}
KINDS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]


def close(got, want, rtol, atol, what):
    got, want = [a.detach().numpy() if isinstance(a, (dlcore.Tensor, torch.Tensor)) else a for a in (got, want)]
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


def leaves(arr, dtype):
    dl_dt, t_dt, _, _ = DTYPES[dtype]
    return (dlcore.tensor(arr, dtype=dl_dt, requires_grad=True),
            torch.tensor(arr, dtype=t_dt, requires_grad=True))


def run_both(kind, kw, lengths, dtype="float64", enforce_sorted=True, with_state=False, batch_first=False, seed=0):
    """Packs the same padded batch for torch and dlcore, runs both modules, backpropagates a
    weighted sum of every output and checks values and gradients."""
    _, _, rtol, atol = DTYPES[dtype]
    I, H = 3, 4
    t_mod, d_mod = pair(kind, dtype, seed, input_size=I, hidden_size=H, batch_first=batch_first, **kw)
    rng = np.random.default_rng(seed)
    B, T = len(lengths), max(lengths)
    shape = (B, T, I) if batch_first else (T, B, I)
    d_x, t_x = leaves(rng.standard_normal(shape), dtype)
    d_in = pack_padded_sequence(d_x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    t_in = torch.nn.utils.rnn.pack_padded_sequence(t_x, torch.tensor(lengths), batch_first=batch_first,
                                                   enforce_sorted=enforce_sorted)
    layers = t_mod.num_layers * (2 if t_mod.bidirectional else 1)
    lstm = kind == "LSTM"
    d_state = t_state = None
    if with_state:
        states = [leaves(rng.standard_normal((layers, B, H)), dtype) for _ in range(2 if lstm else 1)]
        d_state = tuple(s[0] for s in states) if lstm else states[0][0]
        t_state = tuple(s[1] for s in states) if lstm else states[0][1]
    d_out, d_h = d_mod(d_in, d_state)
    t_out, t_h = t_mod(t_in, t_state)
    assert isinstance(d_out, PackedSequence)
    assert d_out.batch_sizes.tolist() == t_out.batch_sizes.tolist()
    if enforce_sorted:
        assert d_out.sorted_indices is None and d_out.unsorted_indices is None
    else:
        assert d_out.sorted_indices.tolist() == t_out.sorted_indices.tolist()
        assert d_out.unsorted_indices.tolist() == t_out.unsorted_indices.tolist()
    close(d_out.data, t_out.data, rtol, atol, "packed output")
    d_hs, t_hs = (list(d_h), list(t_h)) if lstm else ([d_h], [t_h])
    for i, (a, b) in enumerate(zip(d_hs, t_hs)):
        close(a, b, rtol, atol, f"final state {i}")
    weights = [rng.standard_normal(tuple(t.shape)) for t in [t_out.data] + t_hs]
    d_loss = sum((a * dlcore.tensor(w, dtype=a.dtype)).sum() for a, w in zip([d_out.data] + d_hs, weights))
    t_loss = sum((a * torch.tensor(w, dtype=a.dtype)).sum() for a, w in zip([t_out.data] + t_hs, weights))
    d_loss.backward()
    t_loss.backward()
    close(d_x.grad, t_x.grad, rtol, atol, "grad input")
    for name, p in t_mod.named_parameters():
        close(getattr(d_mod, name).grad, p.grad, rtol, atol, f"grad {name}")
    if with_state:
        for i, (a, b) in enumerate(zip(d_state if lstm else [d_state], t_state if lstm else [t_state])):
            close(a.grad, b.grad, rtol, atol, f"grad initial state {i}")
    return d_mod, d_out, d_h


LENGTHS = {"uneven": [5, 3, 3, 1], "all_equal": [4, 4, 4], "one": [3], "ones": [1, 1]}


@pytest.mark.parametrize("kind,kw", KINDS, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("lengths", list(LENGTHS.values()), ids=list(LENGTHS))
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)], ids=["1layer", "2layers_bi"])
def test_sorted_matches_torch(kind, kw, lengths, layers, bidirectional):
    run_both(kind, dict(kw, num_layers=layers, bidirectional=bidirectional), lengths, with_state=True)


@pytest.mark.parametrize("kind,kw", KINDS, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_unsorted_matches_torch(kind, kw, with_state, bidirectional):
    # lengths out of order, two sequences of the maximal length, a repeated shorter length
    run_both(kind, dict(kw, num_layers=2, bidirectional=bidirectional), [2, 6, 3, 6, 1, 3],
             enforce_sorted=False, with_state=with_state, seed=1)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_float32_matches_torch(kind):
    run_both(kind, {"num_layers": 2, "bidirectional": True}, [4, 6, 2], dtype="float32", enforce_sorted=False,
             with_state=True, seed=2)


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_batch_first_is_ignored_for_packed_data(kind):
    # the packed data is the same whatever layout it was packed from; the module's batch_first
    # only describes padded tensors
    run_both(kind, {"bidirectional": True}, [3, 5, 2], enforce_sorted=False, batch_first=True, seed=3)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_same_as_each_sequence_alone(kind):
    mod = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, dtype=dlcore.float64)
    rng = np.random.default_rng(4)
    lengths = [3, 6, 1, 4]
    seqs = [dlcore.tensor(rng.standard_normal((n, 3))) for n in lengths]
    states = [dlcore.tensor(rng.standard_normal((4, len(lengths), 4))) for _ in range(2 if kind == "LSTM" else 1)]
    hx = tuple(states) if kind == "LSTM" else states[0]
    out, h = mod(pack_sequence(seqs, enforce_sorted=False), hx)
    padded, got_lengths = pad_packed_sequence(out)
    assert got_lengths.tolist() == lengths
    for b, s in enumerate(seqs):
        alone_hx = tuple(st[:, b:b + 1] for st in states) if kind == "LSTM" else states[0][:, b:b + 1]
        alone_out, alone_h = mod(s.unsqueeze(1), alone_hx)
        close(padded[:lengths[b], b], alone_out[:, 0], 1e-12, 1e-12, f"output of sequence {b}")
        for got, want in zip(h if kind == "LSTM" else [h], alone_h if kind == "LSTM" else [alone_h]):
            close(got[:, b], want[:, 0], 1e-12, 1e-12, f"final state of sequence {b}")


def test_dropout_between_layers_on_packed_data():
    mod = nn.GRU(3, 5, num_layers=2, dropout=0.5, dtype=dlcore.float64)
    packed = pack_sequence([dlcore.randn(4, 3, dtype=dlcore.float64), dlcore.randn(2, 3, dtype=dlcore.float64)])
    dlcore.manual_seed(0)
    a, _ = mod(packed)
    dlcore.manual_seed(1)
    b, _ = mod(packed)
    assert not np.allclose(a.data.detach().numpy(), b.data.detach().numpy())
    mod.eval()
    c, _ = mod(packed)
    d, _ = mod(packed)
    np.testing.assert_array_equal(c.data.detach().numpy(), d.data.detach().numpy())
    # eval mode is the plain stack of layers: the same as the padded batch where it is valid
    padded, _ = mod(pad_packed_sequence(packed)[0])
    close(pad_packed_sequence(c)[0][:2], padded[:2], 1e-12, 1e-12, "eval output")


def test_errors_name_shapes():
    lstm = nn.LSTM(3, 4)
    packed = pack_sequence([dlcore.randn(3, 3), dlcore.randn(2, 3)])
    with pytest.raises(ValueError, match=r"LSTM.*expected h_0 size \[1, 2, 4\], got \[1, 3, 4\]"):
        lstm(packed, (dlcore.zeros(1, 3, 4), dlcore.zeros(1, 3, 4)))
    with pytest.raises(ValueError, match=r"LSTM.*3-d.*\[2, 4\]"):
        lstm(packed, (dlcore.zeros(2, 4), dlcore.zeros(2, 4)))
    with pytest.raises(TypeError, match="LSTM: hx must be a tuple"):
        lstm(packed, dlcore.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"GRU: input.size\(-1\) must be equal to input_size. Expected 5, got 3"):
        nn.GRU(5, 4)(packed)
    bad = PackedSequence(dlcore.randn(5, 3), dlcore.tensor([2, 3], dtype=dlcore.int64))
    with pytest.raises(ValueError, match=r"RNN: invalid PackedSequence: batch_sizes \[2, 3\]"):
        nn.RNN(3, 4)(bad)
