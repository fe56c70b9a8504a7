"""Variable-length sequences for recurrent layers, as in torch.nn.utils.rnn: PackedSequence and
the functions that pack, pad and unpad batches of sequences.

Note [Packing as a gather]
Packing and padding only move rows: each is one ``index_select`` of the flattened input (for
padding, of the packed rows followed by one row of ``padding_value``), with the row indices
worked out on the host from the lengths. So every function here is differentiable and runs on
the input's device.
"""
from collections import namedtuple

import numpy as np

import dlcore

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]


def _int64_cpu(values):
    return dlcore.tensor(np.asarray(values, dtype=np.int64).reshape(-1), dtype=dlcore.int64)


def _host_ints(values, what):
    if isinstance(values, dlcore.Tensor):
        if values.is_floating_point():
            raise TypeError(f"{what} must be integers, got a {values.dtype} tensor")
        return values.cpu().numpy().astype(np.int64).reshape(-1)
    return np.asarray(list(values), dtype=np.int64).reshape(-1)


def invert_permutation(permutation):
    """The inverse of a permutation given as an int64 tensor (None stays None)."""
    if permutation is None:
        return None
    perm = _host_ints(permutation, "permutation")
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(perm.size)
    return _int64_cpu(inverse).to(device=permutation.device)


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """A batch of variable-length sequences packed time step by time step: ``data`` holds the
    rows of step 0 of every sequence, then of step 1 of those still running, ...;
    ``batch_sizes[t]`` is how many sequences are running at step t (an int64 CPU tensor).
    ``sorted_indices`` maps the packed (length-sorted) order to the original batch order and
    ``unsorted_indices`` back; both are None when the batch was already sorted. Build it with
    ``pack_padded_sequence`` or ``pack_sequence``."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:
            if not isinstance(data, (tuple, list)) or len(data) != 2:
                raise TypeError("PackedSequence: expected data and batch_sizes")
            data, batch_sizes = data
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _with_data(self, data):
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def to(self, *args, **kwargs):
        """``data.to(...)``; the index tensors follow data's device, batch_sizes stays on the CPU."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        move = (lambda t: None if t is None else t.to(device=data.device))
        return type(self)(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def cpu(self):
        return self.to(device="cpu")

    def cuda(self, device=None):
        return self.to(device="cuda" if device is None else device)

    def double(self):
        return self._with_data(self.data.double())

    def float(self):
        return self._with_data(self.data.float())

    def half(self):
        return self._with_data(self.data.half())

    @property
    def is_cuda(self):
        return self.data.is_cuda

    def is_pinned(self):
        return self.data.is_pinned()


def _sort_order(lengths, enforce_sorted):
    """(lengths in packing order, the permutation into that order or None)."""
    if enforce_sorted:
        if np.any(lengths[:-1] < lengths[1:]):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
                               "to sidestep this requirement if you do not need ONNX exportability.")
        return lengths, None
    order = np.argsort(-lengths, kind="stable")
    return lengths[order], order


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Packs a padded batch ``input`` (T x B x * or, with ``batch_first``, B x T x *) whose
    sequence b has ``lengths[b]`` valid steps. With ``enforce_sorted`` the lengths must be
    non-increasing; otherwise the batch is sorted here and the permutation kept in the result."""
    if not isinstance(input, dlcore.Tensor):
        raise TypeError(f"pack_padded_sequence: input must be a Tensor, got {type(input).__name__}")
    if input.dim() < 2:
        raise ValueError(f"pack_padded_sequence: expected input of at least 2 dimensions (T x B x *), got shape "
                         f"{list(input.shape)}")
    lengths = _host_ints(lengths, "pack_padded_sequence: lengths")
    batch_dim = 0 if batch_first else 1
    steps_dim = 1 - batch_dim
    if lengths.size != input.shape[batch_dim]:
        raise ValueError(f"pack_padded_sequence: expected {input.shape[batch_dim]} lengths (the batch size of input "
                         f"of shape {list(input.shape)}), got {lengths.size}")
    if lengths.size and lengths.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    if lengths.size and lengths.max() > input.shape[steps_dim]:
        raise ValueError(f"pack_padded_sequence: a length of {lengths.max()} exceeds the {input.shape[steps_dim]} "
                         f"steps of input of shape {list(input.shape)}")
    sorted_lengths, order = _sort_order(lengths, enforce_sorted)
    batch = lengths.size
    max_len = int(sorted_lengths[0]) if batch else 0
    batch_sizes = (sorted_lengths[None, :] > np.arange(max_len)[:, None]).sum(1)
    columns = np.arange(batch) if order is None else order
    rows = []  # row t * B + b of the time-major flattened input, for step t of sequence b
    steps = input.shape[steps_dim]
    for t in range(max_len):
        b = columns[:batch_sizes[t]]
        rows.append(t * batch + b if not batch_first else b * steps + t)
    rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    flat = input.reshape([-1] + list(input.shape[2:]))
    data = flat.index_select(0, _int64_cpu(rows).to(device=input.device))
    sorted_indices = None if order is None else _int64_cpu(order).to(device=input.device)
    return PackedSequence(data, _int64_cpu(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Inverse of ``pack_padded_sequence``: returns (padded, lengths), padded T x B x * (or
    B x T x *) in the original batch order, with ``total_length`` steps if given, and lengths an
    int64 CPU tensor."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}")
    data = sequence.data
    batch_sizes = _host_ints(sequence.batch_sizes, "batch_sizes")
    max_len = batch_sizes.size
    if total_length is not None:
        if total_length < max_len:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {max_len}")
        max_len = total_length
    batch = int(batch_sizes[0]) if batch_sizes.size else 0
    sorted_lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(1)
    unsorted = (np.arange(batch) if sequence.unsorted_indices is None
                else _host_ints(sequence.unsorted_indices, "unsorted_indices"))
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)])
    pad_row = data.shape[0]
    rows = np.full((max_len, batch), pad_row, dtype=np.int64)  # rows[t, j]: packed row of step t of sequence j
    for t in range(batch_sizes.size):
        running = unsorted < batch_sizes[t]
        rows[t, running] = offsets[t] + unsorted[running]
    if batch_first:
        rows = rows.T
    source = dlcore.cat([data, dlcore.full([1] + list(data.shape[1:]), padding_value, dtype=data.dtype,
                                           device=data.device)], 0)
    padded = source.index_select(0, _int64_cpu(rows).to(device=data.device))
    padded = padded.reshape(list(rows.shape) + list(data.shape[1:]))
    return padded, _int64_cpu(sorted_lengths[unsorted])


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stacks tensors of shape (L_i, *) into one (max L) x B x * tensor (B x (max L) x * with
    ``batch_first``), filling with ``padding_value`` on ``padding_side`` ("right" or "left")."""
    sequences = list(sequences)
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    for i, s in enumerate(sequences):
        if not isinstance(s, dlcore.Tensor):
            raise TypeError(f"pad_sequence: sequences[{i}] must be a Tensor, got {type(s).__name__}")
        if s.dim() < 1:
            raise ValueError(f"pad_sequence: sequences[{i}] is 0-d; every sequence needs a first (time) dimension")
        if list(s.shape[1:]) != list(sequences[0].shape[1:]):
            raise ValueError(f"pad_sequence: sequences[{i}] has shape {list(s.shape)}, which does not match the "
                             f"trailing dimensions {list(sequences[0].shape[1:])} of sequences[0]")
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    max_len = int(lengths.max())
    first = sequences[0]
    trailing = list(first.shape[1:])
    starts = np.concatenate([[0], np.cumsum(lengths)])
    pad_row = int(starts[-1])
    steps = np.arange(max_len)
    # rows[b, t]: the row of the concatenated sequences for step t of sequence b, else the pad row
    shift = (max_len - lengths)[:, None] if padding_side == "left" else np.zeros((len(sequences), 1), np.int64)
    index_in_seq = steps[None, :] - shift
    valid = (index_in_seq >= 0) & (index_in_seq < lengths[:, None])
    rows = np.where(valid, starts[:-1, None] + index_in_seq, pad_row)
    if not batch_first:
        rows = rows.T
    source = dlcore.cat([s.to(dtype=first.dtype) for s in sequences]
                        + [dlcore.full([1] + trailing, padding_value, dtype=first.dtype, device=first.device)], 0)
    out = source.index_select(0, _int64_cpu(rows).to(device=first.device))
    return out.reshape(list(rows.shape) + trailing)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Splits a padded batch back into its sequences: a list of (lengths[b], *) tensors."""
    lengths = _host_ints(lengths, "unpad_sequence: lengths")
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    if lengths.size != padded_sequences.shape[0]:
        raise ValueError(f"unpad_sequence: got {lengths.size} lengths for a batch of {padded_sequences.shape[0]}")
    return [padded_sequences[b][:int(n)] for b, n in enumerate(lengths)]


def pack_sequence(sequences, enforce_sorted=True):
    """Packs a list of (L_i, *) tensors: ``pack_padded_sequence(pad_sequence(sequences), lengths)``."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of sequences in a PackedSequence, in the original batch order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
