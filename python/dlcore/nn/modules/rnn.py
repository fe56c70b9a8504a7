"""Recurrent layers RNN, LSTM, GRU and their single-step cells, with torch.nn's names,
parameter layout (weight_ih_l{k}{_reverse}, gate rows LSTM i,f,g,o / GRU r,z,n) and
initialisation U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).

Every layer-direction is one call of the fused ``dlcore.rnn_layer`` op (its timestep loop,
forward and backward, runs in C++); this file only stacks layers and directions, applies
dropout between layers and handles batch_first, unbatched and PackedSequence inputs.
"""
import math
import warnings

import dlcore

from .. import init
from ..module import Module
from ..parameter import Parameter
from ..utils.rnn import PackedSequence

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check_sizes(cls, input_size, hidden_size):
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{cls}: {name} must be a positive integer, got {v!r}")


class RNNBase(Module):
    """The stack of layers and directions shared by RNN, LSTM and GRU."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        cls = type(self).__name__
        if mode not in _GATES:
            raise ValueError(f"{cls}: unknown mode {mode!r}")
        _check_sizes(cls, input_size, hidden_size)
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers <= 0:
            raise ValueError(f"{cls}: num_layers must be a positive integer, got {num_layers!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"{cls}: dropout should be a number in range [0, 1] representing the probability "
                             f"of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{cls}: dropout option adds dropout after all but last recurrent layer, so non-zero "
                          f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}")
        if proj_size:
            raise NotImplementedError(f"{cls}: proj_size={proj_size} is not supported")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = 0
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for d in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if d == 1 else "")
                shapes = [("weight_ih", (gate_size, layer_input)), ("weight_hh", (gate_size, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                names = []
                for base, shape in shapes:
                    name = base + suffix
                    setattr(self, name, Parameter(dlcore.empty(*shape, dtype=dtype, device=device)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for name in self._flat_weights_names:
            init.uniform_(getattr(self, name), -stdv, stdv)

    def flatten_parameters(self):
        """Kept for torch compatibility: the weights are always used as they are."""

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def _layer_params(self, layer, direction):
        names = self._all_weights[layer * (2 if self.bidirectional else 1) + direction]
        ps = [getattr(self, n) for n in names]
        return ps if self.bias else ps + [None, None]

    def _check_input(self, input):
        cls = type(self).__name__
        if not isinstance(input, dlcore.Tensor):
            raise TypeError(f"{cls}: input must be a Tensor, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(f"{cls}: expected input to be 2-d (unbatched) or 3-d, got shape {list(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{cls}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                             f"got {input.shape[-1]} (input shape {list(input.shape)})")

    def _check_state(self, name, h, batched, batch):
        cls = type(self).__name__
        want = [self.num_layers * (2 if self.bidirectional else 1)] + ([batch] if batched else []) + \
            [self.hidden_size]
        if not isinstance(h, dlcore.Tensor):
            raise TypeError(f"{cls}: {name} must be a Tensor, got {type(h).__name__}")
        if not batched and h.dim() != 2:
            raise ValueError(f"{cls}: for unbatched 2-d input, {name} should also be 2-d but got shape "
                             f"{list(h.shape)}")
        if batched and h.dim() != 3:
            raise ValueError(f"{cls}: for batched 3-d input, {name} should also be 3-d but got shape "
                             f"{list(h.shape)}")
        if list(h.shape) != want:
            raise ValueError(f"{cls}: expected {name} size {want}, got {list(h.shape)}")

    def _initial_states(self, hx, batched, batch, dtype, device):
        """(h0, c0) as (layers * directions, batch, H) tensors (c0 None unless LSTM)."""
        lstm = self.mode == "LSTM"
        if hx is None:
            zeros = dlcore.zeros(self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size,
                                 dtype=dtype, device=device)
            return zeros, (zeros if lstm else None)
        if lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTM: hx must be a tuple (h_0, c_0)")
            h0, c0 = hx
            self._check_state("h_0", h0, batched, batch)
            self._check_state("c_0", c0, batched, batch)
            return (h0, c0) if batched else (h0.unsqueeze(1), c0.unsqueeze(1))
        self._check_state("hx", hx, batched, batch)
        return (hx if batched else hx.unsqueeze(1)), None

    def _stack(self, x, h0, c0, run):
        """Runs every layer and direction with ``run(x, h, c, params, reverse) -> (out, h, c)``,
        concatenating directions on the last dim and applying dropout between layers; returns
        (output, h_n, c_n)."""
        lstm = self.mode == "LSTM"
        directions = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                k = layer * directions + d
                out, h, c = run(x, h0[k], c0[k] if lstm else None, self._layer_params(layer, d), d == 1)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = outs[0] if directions == 1 else dlcore.cat(outs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = dlcore.dropout(x, self.dropout, True)
        return x, dlcore.stack(h_n, 0), (dlcore.stack(c_n, 0) if lstm else None)

    def _run_padded(self, x, h, c, params, reverse):
        return dlcore.rnn_layer(x, h, c, *params, self.mode, reverse)

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        self._check_input(input)
        lstm = self.mode == "LSTM"
        batched = input.dim() == 3
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        h0, c0 = self._initial_states(hx, batched, x.shape[1], input.dtype, input.device)
        output, h_n, c_n = self._stack(x, h0, c0, self._run_padded)
        if batched and self.batch_first:
            output = output.transpose(0, 1)
        if not batched:
            output, h_n = output.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if lstm else None
        return (output, (h_n, c_n)) if lstm else (output, h_n)

    # Note [Packed sequences as chunks of constant batch]
    # A PackedSequence is sorted by length (longest first), so at step t the running sequences
    # are the first batch_sizes[t] of the sorted batch, and the packed rows of a run of steps
    # with the same batch size b form a (steps, b, features) block. Each such run (one per
    # distinct length) is one call of the fused layer op on the first b states. Forwards, the
    # sequences b..end of the previous run stop there, so their states are final; backwards
    # (the reverse direction), runs are taken from the last one and sequences join, starting
    # from h_0, when their last step is reached. batch_first does not apply to packed data.
    def _forward_packed(self, input, hx):
        cls = type(self).__name__
        data, batch_sizes, sorted_indices, unsorted_indices = input
        if not isinstance(data, dlcore.Tensor) or data.dim() != 2:
            raise ValueError(f"{cls}: the data of a PackedSequence input must be a 2-d tensor (steps x features), "
                             f"got {getattr(data, 'shape', type(data).__name__)}")
        if data.shape[-1] != self.input_size:
            raise ValueError(f"{cls}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                             f"got {data.shape[-1]} (packed data shape {list(data.shape)})")
        sizes = [int(b) for b in batch_sizes.tolist()]
        if not sizes or sizes[0] <= 0 or any(b < n for b, n in zip(sizes, sizes[1:])) or sum(sizes) != data.shape[0]:
            raise ValueError(f"{cls}: invalid PackedSequence: batch_sizes {sizes} must be positive, non-increasing "
                             f"and sum to the {data.shape[0]} rows of its data")
        chunks = []  # (first row, steps, batch) of each run of steps with the same batch size
        t = row = 0
        while t < len(sizes):
            end = t
            while end < len(sizes) and sizes[end] == sizes[t]:
                end += 1
            chunks.append((row, end - t, sizes[t]))
            row += (end - t) * sizes[t]
            t = end
        lstm = self.mode == "LSTM"
        h0, c0 = self._initial_states(hx, True, sizes[0], data.dtype, data.device)
        if hx is not None and sorted_indices is not None:  # hx is in the original batch order
            h0 = h0.index_select(1, sorted_indices)
            c0 = c0.index_select(1, sorted_indices) if lstm else None

        def run(x, h, c, params, reverse):
            return self._run_chunks(x, h, c, params, reverse, chunks)
        output, h_n, c_n = self._stack(data, h0, c0, run)
        if unsorted_indices is not None:
            h_n = h_n.index_select(1, unsorted_indices)
            c_n = c_n.index_select(1, unsorted_indices) if lstm else None
        output = PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices)
        return (output, (h_n, c_n)) if lstm else (output, h_n)

    def _run_chunks(self, data, h0, c0, params, reverse, chunks):
        """One layer-direction over packed rows ``data`` (Note [Packed sequences as chunks of
        constant batch]); returns (packed output, h_n, c_n) with the states in sorted order."""
        lstm = self.mode == "LSTM"
        outs, h_done, c_done = [], [], []
        if not reverse:
            h, c = h0, c0
            for row, steps, b in chunks:
                if b < h.shape[0]:
                    h_done.append(h[b:])
                    h = h[:b]
                    if lstm:
                        c_done.append(c[b:])
                        c = c[:b]
                x = data[row:row + steps * b].reshape(steps, b, data.shape[1])
                out, h, c = dlcore.rnn_layer(x, h, c, *params, self.mode, False)
                outs.append(out.reshape(steps * b, out.shape[2]))
            h_done.append(h)
            c_done.append(c)
            h_n = dlcore.cat(h_done[::-1], 0) if len(h_done) > 1 else h
            c_n = (dlcore.cat(c_done[::-1], 0) if len(c_done) > 1 else c) if lstm else None
            return dlcore.cat(outs, 0) if len(outs) > 1 else outs[0], h_n, c_n
        h = c = None
        for row, steps, b in reversed(chunks):
            if h is None:
                h, c = h0[:b], (c0[:b] if lstm else None)
            elif b > h.shape[0]:
                h = dlcore.cat([h, h0[h.shape[0]:b]], 0)
                c = dlcore.cat([c, c0[c.shape[0]:b]], 0) if lstm else None
            x = data[row:row + steps * b].reshape(steps, b, data.shape[1])
            out, h, c = dlcore.rnn_layer(x, h, c, *params, self.mode, True)
            outs.append(out.reshape(steps * b, out.shape[2]))
        return dlcore.cat(outs[::-1], 0) if len(outs) > 1 else outs[0], h, c

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; select from 'tanh' or 'relu'")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory; gates i, f, g, o in the rows of weight_ih/weight_hh."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit; gates r, z, n, with n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


# ---- cells --------------------------------------------------------------------------------------

class RNNCellBase(Module):
    def __init__(self, mode, input_size, hidden_size, bias, device=None, dtype=None):
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gate_size = _GATES[mode] * hidden_size
        self.weight_ih = Parameter(dlcore.empty(gate_size, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(dlcore.empty(gate_size, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(dlcore.empty(gate_size, dtype=dtype, device=device))
            self.bias_hh = Parameter(dlcore.empty(gate_size, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def _prepare(self, input, states):
        """Checks shapes; returns (batched, input as (1, B, I), states as (B, H) each)."""
        cls = type(self).__name__
        if not isinstance(input, dlcore.Tensor):
            raise TypeError(f"{cls}: input must be a Tensor, got {type(input).__name__}")
        if input.dim() not in (1, 2):
            raise ValueError(f"{cls}: expected input to be 1-d or 2-d, got shape {list(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{cls}: input has inconsistent input_size: got {input.shape[-1]} expected "
                             f"{self.input_size} (input shape {list(input.shape)})")
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        B = x.shape[0]
        out = []
        for name, h in states:
            if h is None:
                h = dlcore.zeros(B, self.hidden_size, dtype=input.dtype, device=input.device)
            else:
                want = [B, self.hidden_size] if batched else [self.hidden_size]
                if list(h.shape) != want:
                    raise ValueError(f"{cls}: expected {name} of shape {want} for input {list(input.shape)}, "
                                     f"got {list(h.shape)}")
                if not batched:
                    h = h.unsqueeze(0)
            out.append(h)
        return batched, x.unsqueeze(0), out

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    """One step of the Elman RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; select from 'tanh' or 'relu'")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, bias,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        batched, x, (h,) = self._prepare(input, [("hx", hx)])
        _, h, _ = dlcore.rnn_layer(x, h, None, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.mode)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: returns (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError("LSTMCell: hx must be a tuple (h, c)")
        h0, c0 = (None, None) if hx is None else hx
        batched, x, (h, c) = self._prepare(input, [("h", h0), ("c", c0)])
        _, h, c = dlcore.rnn_layer(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, "LSTM")
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step: returns h'."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        batched, x, (h,) = self._prepare(input, [("hx", hx)])
        _, h, _ = dlcore.rnn_layer(x, h, None, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, "GRU")
        return h if batched else h.squeeze(0)
