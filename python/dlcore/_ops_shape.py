"""Shape ops: diagonals, broadcasting, stacking and splitting, dim moves, rotations, unfold and
the index helpers (tril_indices, meshgrid, cartesian_prod, combinations)."""
import builtins
import itertools
import math

import numpy as np

from . import _C
from ._ops_common import Tensor, as_int, check_tensor, index_tensor, requires_grad, type_name, wrap_dim
from ._tensor import zeros

__all__ = [
    "diag", "diag_embed", "diagflat", "diagonal", "diagonal_scatter", "tril_indices", "triu_indices", "block_diag",
    "cartesian_prod", "combinations", "meshgrid", "broadcast_shapes", "broadcast_tensors", "broadcast_to",
    "atleast_1d", "atleast_2d", "atleast_3d", "column_stack", "hstack", "vstack", "row_stack", "dstack",
    "tensor_split", "hsplit", "vsplit", "dsplit", "unbind", "unflatten", "ravel", "movedim", "moveaxis",
    "swapaxes", "swapdims", "t", "rot90", "fliplr", "flipud", "narrow_copy", "select_scatter", "slice_scatter",
    "unsafe_chunk", "unsafe_split", "unsafe_split_with_sizes",
]


def _dims_arg(dims):
    return list(dims[0]) if len(dims) == 1 and isinstance(dims[0], (list, tuple)) else list(dims)


# ---- diagonals --------------------------------------------------------------------------------
def _diag_length(n, m, offset):
    return builtins.max(0, builtins.min(n, m - offset) if offset >= 0 else builtins.min(n + offset, m))


def _diag_flat_index(n, m, offset, device):
    """Positions of the offset diagonal in an (n, m) matrix flattened row-major."""
    start = offset if offset >= 0 else -offset * m
    return index_tensor(start + np.arange(_diag_length(n, m, offset)) * (m + 1), device)


# Note [diagonal as a view]
# torch.diagonal is a view, and scripts write through it (x.diagonal().fill_(0)). as_strided
# gives that view, but it does not record autograd, so when input needs a gradient the
# diagonal is gathered into a new tensor instead (index_select on the flattened matrix dims),
# which differentiates like the view does; only writes through it do not reach input.
def diagonal(input, offset=0, dim1=0, dim2=1):
    """The offset diagonal of the (dim1, dim2) planes, as a new last dim."""
    check_tensor(input, "diagonal")
    offset = as_int(offset, "diagonal", "offset")
    if input.dim() < 2:
        raise RuntimeError(f"diagonal: input must have at least 2 dimensions, got shape {tuple(input.shape)}")
    d1 = wrap_dim(dim1, input.dim(), "diagonal", "dim1")
    d2 = wrap_dim(dim2, input.dim(), "diagonal", "dim2")
    if d1 == d2:
        raise RuntimeError(f"diagonal: dim1 and dim2 cannot be identical, got {dim1} and {dim2}")
    n, m = input.shape[d1], input.shape[d2]
    length = _diag_length(n, m, offset)
    rest = [d for d in range(input.dim()) if d not in (d1, d2)]
    if not requires_grad(input):
        strides = input.stride()
        start = input.storage_offset()
        if length:
            start += offset * strides[d2] if offset >= 0 else -offset * strides[d1]
        return input.as_strided([input.shape[d] for d in rest] + [length],
                                [strides[d] for d in rest] + [strides[d1] + strides[d2]], start)
    flat = input.permute(rest + [d1, d2]).reshape([input.shape[d] for d in rest] + [n * m])
    return flat.index_select(-1, _diag_flat_index(n, m, offset, input.device))


_diagonal = diagonal  # for diag, whose `diagonal` argument hides the function


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """A tensor whose (dim1, dim2) planes hold the last dim of input on their offset diagonal."""
    check_tensor(input, "diag_embed")
    offset = as_int(offset, "diag_embed", "offset")
    nd = input.dim() + 1
    d1 = wrap_dim(dim1, nd, "diag_embed", "dim1")
    d2 = wrap_dim(dim2, nd, "diag_embed", "dim2")
    if d1 == d2:
        raise RuntimeError(f"diag_embed: dim1 and dim2 cannot be identical, got {dim1} and {dim2}")
    x = input.unsqueeze(0) if input.dim() == 0 else input
    length = x.shape[-1]
    n = length + builtins.abs(offset)
    batch = list(x.shape[:-1])
    idx = _diag_flat_index(n, n, offset, x.device)
    idx = idx.reshape([1] * len(batch) + [length]).expand(*batch, length)
    out = zeros(batch + [n * n], dtype=x.dtype, device=x.device).scatter(-1, idx, x).reshape(batch + [n, n])
    # out has the new dims last; put them at d1 and d2.
    lo, hi = (d1, d2) if d1 < d2 else (d2, d1)
    order = list(range(nd - 2))
    order.insert(lo, nd - 2 if d1 < d2 else nd - 1)
    order.insert(hi, nd - 1 if d1 < d2 else nd - 2)
    return out.permute(order)


def diag(input, diagonal=0):
    """For a 1-D input, the square matrix with input on the given diagonal; for a 2-D input, that
    diagonal as a 1-D tensor."""
    check_tensor(input, "diag")
    k = as_int(diagonal, "diag", "diagonal")
    if input.dim() == 1:
        return diag_embed(input, k)
    if input.dim() == 2:
        return _diagonal(input, k).clone()
    raise RuntimeError(f"diag: expected a 1-D or 2-D input, got shape {tuple(input.shape)}")


def diagflat(input, offset=0):
    """The square matrix with the flattened input on the offset diagonal."""
    check_tensor(input, "diagflat")
    return diag_embed(input.reshape(-1), as_int(offset, "diagflat", "offset"))


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    """A copy of input whose diagonal (as diagonal(input, offset, dim1, dim2) selects it) is src."""
    check_tensor(input, "diagonal_scatter")
    check_tensor(src, "diagonal_scatter", "src")
    offset = as_int(offset, "diagonal_scatter", "offset")
    if input.dim() < 2:
        raise RuntimeError(f"diagonal_scatter: input must have at least 2 dimensions, got shape "
                           f"{tuple(input.shape)}")
    d1 = wrap_dim(dim1, input.dim(), "diagonal_scatter", "dim1")
    d2 = wrap_dim(dim2, input.dim(), "diagonal_scatter", "dim2")
    if d1 == d2:
        raise RuntimeError(f"diagonal_scatter: dim1 and dim2 cannot be identical, got {dim1} and {dim2}")
    n, m = input.shape[d1], input.shape[d2]
    rest = [d for d in range(input.dim()) if d not in (d1, d2)]
    want = tuple([input.shape[d] for d in rest] + [_diag_length(n, m, offset)])
    if tuple(src.shape) != want:
        raise RuntimeError(f"diagonal_scatter: src must have shape {want} (the diagonal of input "
                           f"{tuple(input.shape)}), got {tuple(src.shape)}")
    order = rest + [d1, d2]
    flat = input.permute(order).reshape(list(want[:-1]) + [n * m])
    idx = _diag_flat_index(n, m, offset, input.device).reshape([1] * len(rest) + [want[-1]]).expand(*want)
    out = flat.scatter(-1, idx, src.to(input.dtype)).reshape([input.shape[d] for d in order])
    return out.permute([order.index(d) for d in range(input.dim())])


def _tri_indices(fn, row, col, offset, dtype, device, upper):
    row, col, offset = as_int(row, fn, "row"), as_int(col, fn, "col"), as_int(offset, fn, "offset")
    if row < 0 or col < 0:
        raise RuntimeError(f"{fn}: row and col must be non-negative, got {row} and {col}")
    r, c = np.indices((row, col)).reshape(2, -1)
    keep = c - r >= offset if upper else c - r <= offset
    out = index_tensor(np.stack([r[keep], c[keep]]).reshape(2, -1), _C.device("cpu") if device is None
                       else _C.device(device) if isinstance(device, str) else device)
    return out if dtype is None or dtype == out.dtype else out.to(dtype)


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, N) coordinates of the lower triangle (on and below the offset diagonal) of a
    row x col matrix, row by row."""
    return _tri_indices("tril_indices", row, col, offset, dtype, device, False)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, N) coordinates of the upper triangle (on and above the offset diagonal) of a
    row x col matrix, row by row."""
    return _tri_indices("triu_indices", row, col, offset, dtype, device, True)


def block_diag(*tensors):
    """A block-diagonal matrix of the given 0-, 1- or 2-D tensors (a 1-D tensor is one row)."""
    from ._C import promote_types
    blocks, dimmed, zerodim = [], None, None
    for k, x in enumerate(tensors):
        check_tensor(x, "block_diag", f"tensors[{k}]")
        if x.dim() > 2:
            raise RuntimeError(f"block_diag: input tensors must have 2 or fewer dimensions, tensors[{k}] has "
                               f"shape {tuple(x.shape)}")
        if x.dim():
            dimmed = x.dtype if dimmed is None else promote_types(dimmed, x.dtype)
        else:
            zerodim = x.dtype if zerodim is None else promote_types(zerodim, x.dtype)
        blocks.append(x.reshape(1, -1) if x.dim() < 2 else x)
    if not blocks:
        return zeros(1, 0)
    # 0-d tensors take part in the promotion as in binary ops: only from a higher category
    dtype = dimmed if zerodim is None else zerodim if dimmed is None else \
        _C.result_type(zeros(0, dtype=dimmed), zeros((), dtype=zerodim))
    total = builtins.sum(b.shape[1] for b in blocks)
    rows, col = [], 0
    for b in blocks:
        rows.append(_C.pad(b.to(dtype), (col, total - col - b.shape[1])))
        col += b.shape[1]
    return _C.cat(rows, 0)


def meshgrid(*tensors, indexing=None):
    """Coordinate grids from 1-D tensors: with indexing='ij' output k varies along dim k, with
    'xy' the first two dims are swapped (matrix vs Cartesian indexing)."""
    tensors = _dims_arg(tensors)
    if indexing is None:
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for k, x in enumerate(tensors):
        check_tensor(x, "meshgrid", f"tensors[{k}]")
        if x.dim() > 1:
            raise RuntimeError(f"meshgrid: expects 0- or 1-D tensors, tensors[{k}] has shape {tuple(x.shape)}")
    flat = [x.reshape(-1) for x in tensors]
    swap = indexing == "xy" and len(flat) >= 2
    if swap:
        flat[0], flat[1] = flat[1], flat[0]
    shape = [x.shape[0] for x in flat]
    grids = [x.reshape([1] * k + [-1] + [1] * (len(flat) - k - 1)).expand(*shape) for k, x in enumerate(flat)]
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def cartesian_prod(*tensors):
    """The Cartesian product of 1-D tensors as rows of an (N, len(tensors)) tensor (1-D for one
    tensor)."""
    tensors = _dims_arg(tensors)
    for k, x in enumerate(tensors):
        check_tensor(x, "cartesian_prod", f"tensors[{k}]")
        if x.dim() != 1:
            raise RuntimeError(f"cartesian_prod: expects 1-D tensors, tensors[{k}] has shape {tuple(x.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    return _C.stack([g.reshape(-1) for g in meshgrid(*tensors, indexing="ij")], 1)


def combinations(input, r=2, with_replacement=False):
    """The length-r combinations of a 1-D input's elements, as rows (itertools order)."""
    check_tensor(input, "combinations")
    r = as_int(r, "combinations", "r")
    if input.dim() != 1:
        raise RuntimeError(f"combinations: expects a 1-D tensor, got shape {tuple(input.shape)}")
    if r < 0:
        raise RuntimeError(f"combinations: r must be non-negative, got {r}")
    if r == 0:
        return zeros(0, dtype=input.dtype, device=input.device)
    gen = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = np.array(list(gen(range(input.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    return input.index_select(0, index_tensor(idx.reshape(-1), input.device)).reshape(-1, r)


# ---- broadcasting -----------------------------------------------------------------------------
def broadcast_shapes(*shapes):
    """The shape that tensors of the given shapes broadcast to."""
    out = []
    for s in shapes:
        s = [s] if isinstance(s, int) else list(s)
        if any(n < 0 for n in s):
            raise RuntimeError(f"broadcast_shapes: shapes cannot have negative sizes, got {tuple(s)}")
        for k in range(1, len(s) + 1):
            if k > len(out):
                out.insert(0, s[-k])
            elif out[-k] == 1:
                out[-k] = s[-k]
            elif s[-k] != 1 and s[-k] != out[-k]:
                raise RuntimeError(f"shape mismatch: objects cannot be broadcast to a single shape, got "
                                   f"{[tuple([x] if isinstance(x, int) else x) for x in shapes]}")
    return tuple(out)


def broadcast_tensors(*tensors):
    """Expanded views of the tensors with their common broadcast shape."""
    tensors = _dims_arg(tensors)
    for k, x in enumerate(tensors):
        check_tensor(x, "broadcast_tensors", f"tensors[{k}]")
    shape = broadcast_shapes(*(x.shape for x in tensors))
    return tuple(x if tuple(x.shape) == shape else x.expand(*shape) for x in tensors)


def broadcast_to(input, size):
    """input expanded (as a view) to ``size``; -1 keeps a size."""
    check_tensor(input, "broadcast_to")
    size = list(size)
    nd = len(size)
    if nd < input.dim():
        raise RuntimeError(f"broadcast_to: the number of sizes provided ({nd}) must be greater or equal to the "
                           f"number of dimensions in the tensor ({input.dim()}), input shape {tuple(input.shape)}")
    shape = [input.shape[k - nd + input.dim()] if n == -1 and k >= nd - input.dim() else n
             for k, n in enumerate(size)]
    for k in range(1, input.dim() + 1):
        if input.shape[-k] != 1 and input.shape[-k] != shape[-k]:
            raise RuntimeError(f"broadcast_to: the expanded size {shape[-k]} must match the existing size "
                               f"{input.shape[-k]} at dimension {nd - k}, input shape {tuple(input.shape)}, "
                               f"target {tuple(size)}")
    return input.expand(*shape)


# The view shape atleast_{1,2,3}d gives a tensor of shape s with fewer dims than required.
_ATLEAST = {
    1: lambda s: [1],
    2: lambda s: [1] * (2 - len(s)) + s,
    3: lambda s: [1, 1, 1] if not s else [1] + s + [1] if len(s) == 1 else s + [1],
}


def _atleast(fn, nd, tensors):
    single = len(tensors) == 1 and isinstance(tensors[0], Tensor)
    tensors = _dims_arg(tensors)
    out = []
    for k, x in enumerate(tensors):
        check_tensor(x, fn, f"tensors[{k}]")
        out.append(x if x.dim() >= nd else x.reshape(_ATLEAST[nd](list(x.shape))))
    return out[0] if single else tuple(out)


def _atleast_list(fn, nd, tensors):
    """The tensors of a sequence, each viewed with at least nd dims (always a list)."""
    return [x if x.dim() >= nd else x.reshape(_ATLEAST[nd](list(x.shape))) for x in tensors]


def atleast_1d(*tensors):
    """Each tensor viewed with at least one dim (0-d becomes shape (1,))."""
    return _atleast("atleast_1d", 1, tensors)


def atleast_2d(*tensors):
    """Each tensor viewed with at least two dims (a 1-D tensor becomes one row)."""
    return _atleast("atleast_2d", 2, tensors)


def atleast_3d(*tensors):
    """Each tensor viewed with at least three dims: (n,) -> (1, n, 1), (m, n) -> (m, n, 1)."""
    return _atleast("atleast_3d", 3, tensors)


def _seq(fn, tensors):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{fn}: expected a sequence of tensors, got {type_name(tensors)}")
    if not tensors:
        raise RuntimeError(f"{fn}: expects a non-empty sequence of tensors")
    for k, x in enumerate(tensors):
        check_tensor(x, fn, f"tensors[{k}]")
    return list(tensors)


def hstack(tensors):
    """Concatenates along dim 1, or dim 0 when the tensors are 1-D."""
    ts = _atleast_list("hstack", 1, _seq("hstack", tensors))
    return _C.cat(ts, 0 if ts[0].dim() == 1 else 1)


def vstack(tensors):
    """Concatenates along dim 0 after atleast_2d."""
    return _C.cat(_atleast_list("vstack", 2, _seq("vstack", tensors)), 0)


def row_stack(tensors):
    """Alias of vstack."""
    return vstack(tensors)


def dstack(tensors):
    """Concatenates along dim 2 after atleast_3d."""
    return _C.cat(_atleast_list("dstack", 3, _seq("dstack", tensors)), 2)


def column_stack(tensors):
    """Stacks 0-, 1-D tensors as columns and concatenates 2-D tensors along dim 1."""
    ts = [x.reshape(-1, 1) if x.dim() <= 1 else x for x in _seq("column_stack", tensors)]
    return _C.cat(ts, 1)


# ---- splitting ------------------------------------------------------------------------------
def tensor_split(input, indices_or_sections, dim=0):
    """Views of input split along dim into n nearly equal parts (an int) or at the given indices."""
    check_tensor(input, "tensor_split")
    if input.dim() == 0:
        raise RuntimeError("tensor_split: expected at least a 1-dimensional tensor, got a 0-d tensor")
    d = wrap_dim(dim, input.dim(), "tensor_split")
    n = input.shape[d]
    spec = indices_or_sections
    if isinstance(spec, Tensor):
        if spec.dim() > 1 or spec.is_floating_point():
            raise RuntimeError(f"tensor_split: indices_or_sections tensor must be a 0-D or 1-D int64 tensor, got "
                               f"{spec.dtype} of shape {tuple(spec.shape)}")
        spec = spec.item() if spec.dim() == 0 else spec.tolist()
    if isinstance(spec, (list, tuple)):
        bounds = [as_int(i, "tensor_split", "indices") for i in spec]
    else:
        sections = as_int(spec, "tensor_split", "sections")
        if sections <= 0:
            raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got {sections}")
        q, r = divmod(n, sections)
        bounds = list(itertools.accumulate([q + 1] * r + [q] * (sections - r)))[:-1]
    edges = [0] + [builtins.min(builtins.max(b + n if b < 0 else b, 0), n) for b in bounds] + [n]
    return tuple(input.narrow(d, lo, builtins.max(hi - lo, 0)) for lo, hi in zip(edges, edges[1:]))


def _split_dir(fn, input, spec, dim, min_dim):
    check_tensor(input, fn)
    if input.dim() < min_dim:
        raise RuntimeError(f"{fn} requires a tensor with at least {min_dim} dimension(s), but got a tensor with "
                           f"{input.dim()} dimension(s), with shape {tuple(input.shape)}")
    if not isinstance(spec, (list, tuple, Tensor)):
        sections = as_int(spec, fn, "sections")
        if sections <= 0 or input.shape[dim] % sections:
            raise RuntimeError(f"{fn} attempted to split along dimension {dim}, but the size of the dimension "
                               f"{input.shape[dim]} is not divisible by the split_size {sections}!")
    return tensor_split(input, spec, dim)


def hsplit(input, indices_or_sections):
    """tensor_split along dim 1 (dim 0 for a 1-D input); an int must divide the size evenly."""
    dim = 0 if isinstance(input, Tensor) and input.dim() == 1 else 1
    return _split_dir("hsplit", input, indices_or_sections, dim, 1)


def vsplit(input, indices_or_sections):
    """tensor_split along dim 0 of an input with at least 2 dims."""
    return _split_dir("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input, indices_or_sections):
    """tensor_split along dim 2 of an input with at least 3 dims."""
    return _split_dir("dsplit", input, indices_or_sections, 2, 3)


def unbind(input, dim=0):
    """The slices of input along dim, as a tuple of views."""
    check_tensor(input, "unbind")
    d = wrap_dim(dim, input.dim(), "unbind")
    if input.dim() == 0:
        raise IndexError("unbind: dimension specified as 0 but tensor has no dimensions")
    return tuple(input.select(d, i) for i in range(input.shape[d]))


def unsafe_chunk(input, chunks, dim=0):
    """Same as chunk."""
    return _C.chunk(input, chunks, dim)


def unsafe_split(tensor, split_size_or_sections, dim=0):
    """Same as split."""
    return _C.split(tensor, split_size_or_sections, dim)


def unsafe_split_with_sizes(input, split_sizes, dim=0):
    """Same as split_with_sizes."""
    return _C.split_with_sizes(input, split_sizes, dim)


# ---- reshaping and moving dims -------------------------------------------------------------
def unflatten(input, dim, sizes):
    """Splits dim into the given sizes (one of which may be -1)."""
    check_tensor(input, "unflatten")
    d = wrap_dim(dim, input.dim(), "unflatten")
    sizes = [as_int(s, "unflatten", "sizes") for s in sizes]
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    if sizes.count(-1) > 1:
        raise RuntimeError(f"unflatten: only one dimension can be inferred, got sizes {tuple(sizes)}")
    known = math.prod(s for s in sizes if s != -1)
    n = input.shape[d] if input.dim() else 1
    if -1 in sizes:
        if known == 0 or n % known:
            raise RuntimeError(f"unflatten: provided sizes {tuple(sizes)} don't multiply up to the size of dim "
                               f"{dim} ({n}) in the input tensor of shape {tuple(input.shape)}")
        sizes[sizes.index(-1)] = n // known
    elif known != n:
        raise RuntimeError(f"unflatten: provided sizes {tuple(sizes)} don't multiply up to the size of dim {dim} "
                           f"({n}) in the input tensor of shape {tuple(input.shape)}")
    shape = list(input.shape)
    return input.reshape(shape[:d] + sizes + shape[d + 1:])


def ravel(input):
    """input flattened to 1-D (a view when input is contiguous)."""
    check_tensor(input, "ravel")
    return input.reshape(-1)


def movedim(input, source, destination):
    """input with the dims ``source`` moved to positions ``destination``, the others keeping their order."""
    check_tensor(input, "movedim")
    src = [source] if not isinstance(source, (list, tuple)) else list(source)
    dst = [destination] if not isinstance(destination, (list, tuple)) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: invalid source or destination dims: source ({src} dims) should contain the "
                           f"same number of dims as destination ({dst} dims)")
    nd = input.dim()
    src = [wrap_dim(d, nd, "movedim", "source") for d in src]
    dst = [wrap_dim(d, nd, "movedim", "destination") for d in dst]
    if len(set(src)) != len(src):
        raise RuntimeError(f"movedim: repeated dim in `source` ({source})")
    if len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({destination})")
    if nd == 0:
        return input.view(input.shape)
    order = [None] * nd
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(d for d in range(nd) if d not in src)
    order = [next(rest) if o is None else o for o in order]
    return input.permute(order)


def moveaxis(input, source, destination):
    """Alias of movedim."""
    return movedim(input, source, destination)


def swapaxes(input, axis0, axis1):
    """Alias of transpose."""
    return _C.transpose(input, axis0, axis1)


def swapdims(input, dim0, dim1):
    """Alias of transpose."""
    return _C.transpose(input, dim0, dim1)


def t(input):
    """The transpose of a 2-D tensor; 0- and 1-D tensors are returned as they are (as views)."""
    check_tensor(input, "t")
    if input.dim() > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.dim()}D")
    return _C.transpose(input, 0, 1) if input.dim() == 2 else input.view(input.shape)


def rot90(input, k=1, dims=(0, 1)):
    """input rotated by 90 degrees k times in the plane of dims, from the first towards the second."""
    check_tensor(input, "rot90")
    k = as_int(k, "rot90", "k")
    dims = list(dims)
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.dim() < 2:
        raise RuntimeError(f"rot90: expected total dims >= 2, but got total dims = {input.dim()}")
    d0, d1 = (wrap_dim(d, input.dim(), "rot90", "dims") for d in dims)
    if d0 == d1:
        raise RuntimeError(f"rot90: expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k %= 4
    if k == 1:
        return _C.flip(input, [d1]).transpose(d0, d1)
    if k == 2:
        return _C.flip(input, [d0, d1])
    if k == 3:
        return _C.flip(input, [d0]).transpose(d0, d1)
    return input.clone()


def fliplr(input):
    """input flipped along dim 1 (left/right)."""
    check_tensor(input, "fliplr")
    if input.dim() < 2:
        raise RuntimeError(f"fliplr: input must be >= 2-d, got shape {tuple(input.shape)}")
    return _C.flip(input, [1])


def flipud(input):
    """input flipped along dim 0 (up/down)."""
    check_tensor(input, "flipud")
    if input.dim() < 1:
        raise RuntimeError("flipud: input must be >= 1-d, got a 0-d tensor")
    return _C.flip(input, [0])


def narrow_copy(input, dim, start, length):
    """narrow(input, dim, start, length) as a new contiguous tensor."""
    check_tensor(input, "narrow_copy")
    return _C.narrow(input, dim, start, length).clone()


# ---- scatter into slices ----------------------------------------------------------------------
def _write_positions(input, src, dim, positions, fn):
    """A copy of input whose slices at ``positions`` along dim are replaced by src's."""
    want = list(input.shape)
    want[dim] = len(positions)
    if list(src.shape) != want:
        raise RuntimeError(f"{fn}: expected src to have a size equal to the slice of self {tuple(want)}, got "
                           f"src of shape {tuple(src.shape)} (self {tuple(input.shape)})")
    idx = index_tensor(np.asarray(positions, dtype=np.int64), input.device)
    idx = idx.reshape([1] * dim + [-1] + [1] * (input.dim() - dim - 1)).expand(*want)
    return input.scatter(dim, idx, src.to(input.dtype))


def select_scatter(input, src, dim, index):
    """A copy of input whose slice input.select(dim, index) is src."""
    check_tensor(input, "select_scatter")
    check_tensor(src, "select_scatter", "src")
    if input.dim() == 0:
        raise RuntimeError("select_scatter: input must have at least one dimension")
    d = wrap_dim(dim, input.dim(), "select_scatter")
    n = input.shape[d]
    i = as_int(index, "select_scatter", "index")
    if not -n <= i < n:
        raise IndexError(f"select_scatter: index {i} is out of bounds for dimension {d} with size {n}")
    return _write_positions(input, src.unsqueeze(d), d, [i % n], "select_scatter")


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    """A copy of input whose slice input[..., start:end:step, ...] (along dim) is src."""
    check_tensor(input, "slice_scatter")
    check_tensor(src, "slice_scatter", "src")
    if input.dim() == 0:
        raise RuntimeError("slice_scatter: input must have at least one dimension")
    d = wrap_dim(dim, input.dim(), "slice_scatter")
    step = as_int(step, "slice_scatter", "step")
    if step <= 0:
        raise RuntimeError(f"slice_scatter: slice step must be positive, got {step}")
    positions = range(input.shape[d])[slice(start, end, step)]
    return _write_positions(input, src, d, list(positions), "slice_scatter")


# ---- unfold -----------------------------------------------------------------------------------
def unfold(input, dimension, size, step):
    """The windows of length ``size`` taken every ``step`` along ``dimension``, as a new last dim
    (a view, or a gathered copy when input needs a gradient; Note [diagonal as a view])."""
    check_tensor(input, "unfold")
    d = wrap_dim(dimension, input.dim(), "unfold", "dimension")
    size, step = as_int(size, "unfold", "size"), as_int(step, "unfold", "step")
    n = input.shape[d] if input.dim() else 1
    if size < 0 or size > n:
        raise RuntimeError(f"unfold: maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"unfold: step is {step} but must be > 0")
    count = (n - size) // step + 1
    if input.dim() == 0:
        return input.reshape(1)
    if not requires_grad(input):
        shape, strides = list(input.shape), list(input.stride())
        shape[d] = count
        strides[d] = strides[d] * step
        return input.as_strided(shape + [size], strides + [input.stride()[d]], input.storage_offset())
    idx = index_tensor((np.arange(count)[:, None] * step + np.arange(size)[None, :]).reshape(-1), input.device)
    out = input.index_select(d, idx)
    shape = list(input.shape)
    out = out.reshape(shape[:d] + [count, size] + shape[d + 1:])
    return movedim(out, d + 1, -1)


_METHODS = {name: globals()[name] for name in [
    "diag", "diag_embed", "diagflat", "diagonal", "diagonal_scatter", "broadcast_to", "tensor_split", "hsplit",
    "vsplit", "dsplit", "unbind", "unflatten", "ravel", "movedim", "moveaxis", "swapaxes", "swapdims", "rot90",
    "fliplr", "flipud", "narrow_copy", "select_scatter", "slice_scatter", "unsafe_chunk", "unsafe_split",
    "unsafe_split_with_sizes", "unfold",
]}
