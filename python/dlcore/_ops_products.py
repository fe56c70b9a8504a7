"""Products and distances: einsum, tensordot, the BLAS-style helpers (dot, mv, outer, addmv, addr,
addbmm, baddbmm, chain_matmul), kron, cross, trace and cdist/pdist/cosine_similarity."""
import builtins
import math

from . import _C
from ._ops_common import Tensor, as_int, check_tensor, type_name, wrap_dim
from ._tensor import ones_like

__all__ = [
    "einsum", "tensordot", "dot", "vdot", "inner", "outer", "ger", "mv", "addmv", "addr", "addbmm", "baddbmm",
    "chain_matmul", "kron", "cross", "trace", "cdist", "pdist", "cosine_similarity", "pairwise_distance", "dist",
    "addmv_",
]


# ---- einsum -----------------------------------------------------------------------------------
# Note [einsum plan]
# Subscripts become integer labels: letters by their code point, the dims an ellipsis covers by
# -1, -2, ... counted from the right, so that ellipses of different lengths broadcast like
# ordinary shapes. Each operand first takes the diagonal of repeated labels and sums the labels
# no other operand and not the output uses. Operands are then contracted two at a time, always
# the pair whose result is smallest, each contraction being one bmm of (batch, kept-left,
# summed) by (batch, summed, kept-right). A last sum and permute produce the output, so the
# whole computation is differentiable dlcore ops.

def _parse_subscripts(spec, ndim, fn, pos):
    labels = []
    i = 0
    ellipsis_at = None
    while i < len(spec):
        c = spec[i]
        if spec.startswith("...", i):
            if ellipsis_at is not None:
                raise ValueError(f"{fn}: more than one ellipsis ('...') in the subscripts of operand {pos}")
            ellipsis_at = len(labels)
            i += 3
            continue
        if c == " ":
            i += 1
            continue
        if not c.isalpha() or not c.isascii():
            raise ValueError(f"{fn}: invalid subscript '{c}' for operand {pos}: subscripts must be letters in "
                             "[a-zA-Z]")
        labels.append(ord(c))
        i += 1
    if ellipsis_at is None:
        if len(labels) != ndim:
            raise RuntimeError(f"{fn}: the number of subscripts in the equation ({len(labels)}) does not match "
                               f"the number of dimensions ({ndim}) for operand {pos} and no ellipsis was given")
        return labels
    covered = ndim - len(labels)
    if covered < 0:
        raise RuntimeError(f"{fn}: the number of subscripts in the equation ({len(labels)}) is more than the "
                           f"number of dimensions ({ndim}) for operand {pos}")
    return labels[:ellipsis_at] + [-(covered - k) for k in range(covered)] + labels[ellipsis_at:]


def _diagonal_labels(x, labels):
    """Takes the diagonal over repeated labels, so that each label occurs once."""
    while len(set(labels)) != len(labels):
        seen = {}
        for i, lab in enumerate(labels):
            if lab in seen:
                j = seen[lab]
                if x.shape[i] != x.shape[j]:
                    raise RuntimeError(f"einsum: subscript '{chr(lab)}' is repeated for an operand but the sizes "
                                       f"don't match, {x.shape[j]} != {x.shape[i]}")
                x = _diag_to(x, j, i)
                labels = labels[:i] + labels[i + 1:]
                break
            seen[lab] = i
    return x, labels


def _diag_to(x, j, i):
    """The diagonal of dims j < i of x, left at position j."""
    from ._ops_shape import diagonal
    return diagonal(x, 0, j, i).movedim(-1, j)


def _sum_labels(x, labels, drop):
    dims = [k for k, lab in enumerate(labels) if lab in drop]
    if not dims:
        return x, labels
    return x.sum(dims), [lab for lab in labels if lab not in drop]


def _label_sizes(*terms):
    """The broadcast size of each label over the (tensor, labels) terms."""
    sizes = {}
    for x, labels in terms:
        for lab, n in zip(labels, x.shape):
            m = sizes.get(lab, 1)
            if m != 1 and n != 1 and m != n:
                raise RuntimeError(f"einsum: operands do not broadcast: subscript {_label_str(lab)} has sizes "
                                   f"{m} and {n}")
            sizes[lab] = n if m == 1 else m
    return sizes


def _contract(a, la, b, lb, keep):
    """Contracts a (labels la) with b (labels lb), keeping the labels in ``keep``."""
    sizes = _label_sizes((a, la), (b, lb))
    sb = set(lb)
    batch = [lab for lab in la if lab in sb and lab in keep]
    summed = [lab for lab in la if lab in sb and lab not in keep]
    left = [lab for lab in la if lab not in sb]
    right = [lab for lab in lb if lab not in set(la)]

    def arrange(x, labels, order):
        perm = [labels.index(lab) for lab in order]
        x = x.permute(perm)
        target = [sizes[lab] for lab in order]
        if list(x.shape) != target:
            x = x.expand(*target)
        return x

    prod = lambda labs: math.prod(sizes[lab] for lab in labs)  # noqa: E731
    a3 = arrange(a, la, batch + left + summed).reshape(prod(batch), prod(left), prod(summed))
    b3 = arrange(b, lb, batch + summed + right).reshape(prod(batch), prod(summed), prod(right))
    out = _C.bmm(a3, b3).reshape([sizes[lab] for lab in batch + left + right])
    return out, batch + left + right


def _label_str(lab):
    return f"'{chr(lab)}'" if lab >= 0 else "'...'"


def _sublist_equation(args):
    """The equation and operands of einsum(op1, sublist1, op2, sublist2, ..., [sublist_out]),
    where sublists hold ints in [0, 52) (0-25 read as A-Z, 26-51 as a-z) and Ellipsis."""
    def letters(sub):
        out = []
        for n in sub:
            if n is Ellipsis:
                out.append("...")
            elif isinstance(n, int) and 0 <= n < 52:
                out.append(chr(ord("A") + n) if n < 26 else chr(ord("a") + n - 26))
            else:
                raise ValueError(f"einsum: subscript in a sublist must be an int in [0, 52) or Ellipsis, got {n!r}")
        return "".join(out)

    ops, subs = list(args[0::2]), list(args[1::2])
    out = None
    if len(subs) < len(ops):
        ops, out = ops[:-1], ops[-1]
    if len(subs) != len(ops):
        raise ValueError("einsum: in sublist format each operand must be followed by its sublist")
    equation = ",".join(letters(sub) for sub in subs) + ("" if out is None else "->" + letters(out))
    return equation, ops


def einsum(equation, *operands):
    """Sums the product of the operands' elements over the indices that the Einstein-notation
    ``equation`` leaves out of the output, e.g. ``einsum('bij,bjk->bik', a, b)``; also takes
    the sublist format einsum(a, [0, 1], b, [1, 2], [0, 2])."""
    if isinstance(equation, Tensor):
        equation, operands = _sublist_equation((equation,) + operands)
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a str, not {type_name(equation)}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for k, op in enumerate(operands):
        check_tensor(op, "einsum", f"operand {k}")
    lhs, arrow, rhs = equation.partition("->")
    specs = lhs.split(",")
    if len(specs) != len(operands):
        raise ValueError(f"einsum: the equation names {len(specs)} operands but {len(operands)} were given")
    inputs = [_parse_subscripts(s, op.dim(), "einsum", k) for k, (s, op) in enumerate(zip(specs, operands))]
    ell = builtins.max([-builtins.min(labs, default=0) for labs in inputs] + [0])
    if arrow:
        if "..." in rhs:
            out_labels = _parse_subscripts(rhs, ell + len(rhs.replace("...", "").replace(" ", "")), "einsum",
                                           "output")
        else:
            out_labels = _parse_subscripts(rhs, len(rhs.replace(" ", "")), "einsum", "output")
        seen = set(lab for labs in inputs for lab in labs)
        for lab in out_labels:
            if out_labels.count(lab) > 1:
                raise ValueError(f"einsum: output subscript {_label_str(lab)} appears more than once in the output")
            if lab >= 0 and lab not in seen:
                raise ValueError(f"einsum: output subscript {_label_str(lab)} does not appear in the equation for "
                                 "any input operand")
    else:
        counts = {}
        for labs in inputs:
            for lab in labs:
                counts[lab] = counts.get(lab, 0) + 1
        out_labels = [-(ell - k) for k in range(ell)] + sorted(lab for lab, c in counts.items()
                                                               if lab >= 0 and c == 1)
    out_set = set(out_labels)

    terms = []
    for op, labs in zip(operands, inputs):
        op, labs = _diagonal_labels(op, labs)
        terms.append((op, labs))

    def needed(skip):
        keep = set(out_set)
        for k, (_, labs) in enumerate(terms):
            if k not in skip:
                keep.update(labs)
        return keep

    for k in range(len(terms)):
        op, labs = terms[k]
        keep = needed({k})
        terms[k] = _sum_labels(op, labs, set(labs) - keep)

    while len(terms) > 1:
        best = None
        for i in range(len(terms)):
            for j in range(i + 1, len(terms)):
                keep = needed({i, j})
                sizes = _label_sizes(terms[i], terms[j])
                cost = math.prod(n for lab, n in sizes.items() if lab in keep)
                if best is None or cost < best[0]:
                    best = (cost, i, j)
        _, i, j = best
        keep = needed({i, j})
        (a, la), (b, lb) = terms[i], terms[j]
        a, la = _sum_labels(a, la, set(la) - keep - set(lb))
        b, lb = _sum_labels(b, lb, set(lb) - keep - set(la))
        merged = _contract(a, la, b, lb, keep)
        terms = [t for k, t in enumerate(terms) if k not in (i, j)] + [merged]

    x, labs = terms[0]
    x, labs = _sum_labels(x, labs, set(labs) - out_set)
    if labs != out_labels:
        x = x.permute([labs.index(lab) for lab in out_labels])
    # einsum('ij->ij', a) is a new view of a, never a itself.
    return x.view(x.shape) if x is operands[0] else x


# ---- contractions ---------------------------------------------------------------------------
def tensordot(a, b, dims=2, out=None):
    """Contracts the last ``dims`` dims of a with the first ``dims`` of b, or the dims listed in
    ``dims = (dims_a, dims_b)``."""
    check_tensor(a, "tensordot", "a")
    check_tensor(b, "tensordot", "b")
    if out is not None:
        raise TypeError("tensordot: out= is not supported")
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, (list, tuple)):
        if len(dims) != 2:
            raise ValueError(f"tensordot: dims must be an int or a pair of dim lists, got {dims!r}")
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    else:
        n = as_int(dims, "tensordot", "dims")
        if n < 0:
            raise RuntimeError(f"tensordot: dims must be non-negative, got {n}")
        if n > builtins.min(a.dim(), b.dim()):
            raise RuntimeError(f"tensordot: dims={n} is more than the dims of a {tuple(a.shape)} or b "
                               f"{tuple(b.shape)}")
        da, db = list(range(a.dim() - n, a.dim())), list(range(n))
    if len(da) != len(db):
        raise RuntimeError(f"tensordot: both dim lists must have the same length, got {da} and {db}")
    da = [wrap_dim(d, a.dim(), "tensordot", "dims") for d in da]
    db = [wrap_dim(d, b.dim(), "tensordot", "dims") for d in db]
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise RuntimeError(f"tensordot: contracted dimensions need to match, but first has size {a.shape[i]} "
                               f"in dim {i} and second has size {b.shape[j]} in dim {j} (shapes {tuple(a.shape)} "
                               f"and {tuple(b.shape)})")
    fa = [d for d in range(a.dim()) if d not in da]
    fb = [d for d in range(b.dim()) if d not in db]
    k = math.prod(a.shape[d] for d in da)
    a2 = a.permute(fa + da).reshape(math.prod(a.shape[d] for d in fa), k)
    b2 = b.permute(db + fb).reshape(k, math.prod(b.shape[d] for d in fb))
    return _C.mm(a2, b2).reshape([a.shape[d] for d in fa] + [b.shape[d] for d in fb])


def _check_same_dtype(fn, x, y):
    if x.dtype != y.dtype:
        raise RuntimeError(f"{fn}: expected both inputs to have the same dtype, but found {x.dtype} and {y.dtype}")


def _check_vector(fn, name, x):
    check_tensor(x, fn, name)
    if x.dim() != 1:
        raise RuntimeError(f"{fn}: {name} must be 1-D, got a tensor of shape {tuple(x.shape)}")


def dot(input, other):
    """The inner product of two 1-D tensors of the same length and dtype."""
    _check_vector("dot", "input", input)
    _check_vector("dot", "other", other)
    _check_same_dtype("dot", input, other)
    if input.shape[0] != other.shape[0]:
        raise RuntimeError(f"dot: inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
                           f"[{other.shape[0]}] to have the same number of elements")
    return (input * other).sum()


def vdot(input, other):
    """dot of the conjugate of input with other (the same as dot for real tensors)."""
    _check_vector("vdot", "input", input)
    _check_vector("vdot", "other", other)
    _check_same_dtype("vdot", input, other)
    if input.shape[0] != other.shape[0]:
        raise RuntimeError(f"vdot: inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
                           f"[{other.shape[0]}] to have the same number of elements")
    return (input * other).sum()


def inner(input, other):
    """Sums the product over the last dims; a 0-d operand multiplies instead."""
    check_tensor(input, "inner", "input")
    check_tensor(other, "inner", "other")
    if input.dim() == 0 or other.dim() == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner: last dimension of both inputs must match, got shapes {tuple(input.shape)} "
                           f"and {tuple(other.shape)}")
    return tensordot(input, other, ([-1], [-1]))


def outer(input, vec2):
    """The outer product of two 1-D tensors: out[i, j] = input[i] * vec2[j]."""
    _check_vector("outer", "input", input)
    _check_vector("outer", "vec2", vec2)
    return input.unsqueeze(1) * vec2.unsqueeze(0)


def ger(input, vec2):
    """Alias of outer."""
    return outer(input, vec2)


def mv(input, vec):
    """Matrix-vector product of a 2-D input and a 1-D vec."""
    check_tensor(input, "mv", "input")
    check_tensor(vec, "mv", "vec")
    if input.dim() != 2 or vec.dim() != 1:
        raise RuntimeError(f"mv: expected a 2-D matrix and a 1-D vector, got shapes {tuple(input.shape)} and "
                           f"{tuple(vec.shape)}")
    if input.shape[1] != vec.shape[0]:
        raise RuntimeError(f"mv: size mismatch, got input {tuple(input.shape)} and vec {tuple(vec.shape)}")
    _check_same_dtype("mv", input, vec)
    return _C.mm(input, vec.unsqueeze(1)).squeeze(1)


def _beta_alpha(input, product, beta, alpha):
    """beta * input + alpha * product, where beta=0 ignores input's values (nan and inf too)."""
    out = product if alpha == 1 else product * alpha
    if beta == 0:
        from ._ops_shape import broadcast_shapes
        shape = broadcast_shapes(input.shape, out.shape)
        out = out if tuple(out.shape) == shape else out.expand(*shape).contiguous()
        if input.requires_grad:  # input's gradient is zero (not undefined), as in torch
            out = out + (_C.where(input.isfinite(), input, 0.0) * 0.0).to(out.dtype)
        return out
    return out + (input if beta == 1 else input * beta)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    """beta * input + alpha * (mat @ vec)."""
    check_tensor(input, "addmv", "input")
    return _beta_alpha(input, mv(mat, vec), beta, alpha)


def addmv_(input, mat, vec, *, beta=1, alpha=1):
    """In-place addmv: writes beta * input + alpha * (mat @ vec) into input."""
    check_tensor(input, "addmv_", "input")
    return input.addmv_(mat, vec, beta=beta, alpha=alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """beta * input + alpha * outer(vec1, vec2)."""
    check_tensor(input, "addr", "input")
    return _beta_alpha(input, outer(vec1, vec2), beta, alpha)


def _check_batches(fn, b1, b2):
    check_tensor(b1, fn, "batch1")
    check_tensor(b2, fn, "batch2")
    if b1.dim() != 3 or b2.dim() != 3:
        raise RuntimeError(f"{fn}: batch1 and batch2 must be 3-D, got shapes {tuple(b1.shape)} and "
                           f"{tuple(b2.shape)}")
    if b1.shape[0] != b2.shape[0] or b1.shape[2] != b2.shape[1]:
        raise RuntimeError(f"{fn}: batch1 {tuple(b1.shape)} and batch2 {tuple(b2.shape)} are incompatible: "
                           "expected (b, n, m) and (b, m, p)")


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * sum_i batch1[i] @ batch2[i]."""
    check_tensor(input, "addbmm", "input")
    _check_batches("addbmm", batch1, batch2)
    b, n, m = batch1.shape
    p = batch2.shape[2]
    product = _C.mm(batch1.permute(1, 0, 2).reshape(n, b * m), batch2.reshape(b * m, p))
    return _beta_alpha(input, product, beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * bmm(batch1, batch2)."""
    check_tensor(input, "baddbmm", "input")
    _check_batches("baddbmm", batch1, batch2)
    return _beta_alpha(input, _C.bmm(batch1, batch2), beta, alpha)


def chain_matmul(*matrices, out=None):
    """The product of 2-D matrices, multiplied in the order that needs the fewest operations."""
    if out is not None:
        raise TypeError("chain_matmul: out= is not supported")
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    if not matrices:
        raise RuntimeError("chain_matmul: expected one or more matrices")
    for k, m in enumerate(matrices):
        check_tensor(m, "chain_matmul", f"matrices[{k}]")
        if m.dim() != 2:
            raise RuntimeError(f"chain_matmul: matrices[{k}] must be 2-D, got shape {tuple(m.shape)}")
    for k in range(len(matrices) - 1):
        if matrices[k].shape[1] != matrices[k + 1].shape[0]:
            raise RuntimeError(f"chain_matmul: matrices[{k}] {tuple(matrices[k].shape)} and matrices[{k + 1}] "
                               f"{tuple(matrices[k + 1].shape)} cannot be multiplied")
    n = len(matrices)
    if n == 1:
        return matrices[0].clone()
    dims = [matrices[0].shape[0]] + [m.shape[1] for m in matrices]
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j], split[i][j] = builtins.min(
                (cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1], k) for k in range(i, j))

    def product(i, j):
        if i == j:
            return matrices[i]
        k = split[i][j]
        return _C.mm(product(i, k), product(k + 1, j))

    return product(0, n - 1)


def kron(input, other):
    """The Kronecker product: every element of input times a block equal to other."""
    check_tensor(input, "kron", "input")
    check_tensor(other, "kron", "other")
    nd = builtins.max(input.dim(), other.dim())
    sa = [1] * (nd - input.dim()) + list(input.shape)
    sb = [1] * (nd - other.dim()) + list(other.shape)
    a = input.reshape([v for s in sa for v in (s, 1)])
    b = other.reshape([v for s in sb for v in (1, s)])
    return (a * b).reshape([x * y for x, y in zip(sa, sb)])


def cross(input, other, dim=None):
    """The 3-D cross product along ``dim`` (by default the first dim of size 3) of broadcast inputs."""
    check_tensor(input, "cross", "input")
    check_tensor(other, "cross", "other")
    from ._ops_shape import broadcast_tensors
    if input.dim() != other.dim():
        raise RuntimeError(f"cross: inputs must have the same number of dimensions, got shapes "
                           f"{tuple(input.shape)} and {tuple(other.shape)}")
    a, b = broadcast_tensors(input, other)
    if dim is None:
        dim = next((d for d, n in enumerate(a.shape) if n == 3), None)
        if dim is None:
            raise RuntimeError(f"cross: no dimension of size 3 in input of shape {tuple(a.shape)}")
    dim = wrap_dim(dim, a.dim(), "cross")
    if a.shape[dim] != 3:
        raise RuntimeError(f"cross: inputs dimension {dim} must have length 3, got shapes {tuple(input.shape)} "
                           f"and {tuple(other.shape)}")
    return a.roll(-1, dim) * b.roll(-2, dim) - a.roll(-2, dim) * b.roll(-1, dim)


def trace(input):
    """The sum of the main diagonal of a 2-D tensor."""
    check_tensor(input, "trace")
    if input.dim() != 2:
        raise RuntimeError(f"trace: expected a matrix, got a tensor of shape {tuple(input.shape)}")
    from ._ops_shape import diagonal
    return diagonal(input).sum()


# ---- distances ------------------------------------------------------------------------------
def _pnorm(diff, p, dim):
    if p == 0:
        # the count of non-zero differences (a NaN difference counts as NaN), with a zero gradient
        count = _C.where(diff != diff, diff.detach(), (diff != 0).to(diff.dtype))
        return (count + _C.where(diff.isfinite(), diff, 0.0) * 0.0).sum(dim)
    return diff.norm(p, dim)


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """The p-norm distance between each row of x1 (..., P, M) and each row of x2 (..., R, M), as
    (..., P, R)."""
    check_tensor(x1, "cdist", "x1")
    check_tensor(x2, "cdist", "x2")
    if x1.dim() < 2 or x2.dim() < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, got shapes {tuple(x1.shape)} and "
                           f"{tuple(x2.shape)}")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: X1 and X2 must have the same number of columns, got shapes "
                           f"{tuple(x1.shape)} and {tuple(x2.shape)}")
    if not x1.is_floating_point() or not x2.is_floating_point():
        raise RuntimeError(f"cdist only supports floating-point dtypes, got {x1.dtype} and {x2.dtype}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"cdist: {compute_mode!r} is not a valid value for compute_mode")
    rows, cols = x1.shape[-2], x2.shape[-2]
    if p == 2 and (compute_mode == "use_mm_for_euclid_dist" or
                   (compute_mode == _CDIST_MODES[0] and (rows > 25 or cols > 25))):
        return _euclidean_dist(x1, x2)
    return _pnorm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, -1)


_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


# Note [cdist through matmul]
# For many rows the Euclidean distances come from one matmul, as in PyTorch:
# |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, with [-2a, |a|^2, 1] . [b, 1, |b|^2] giving all three terms.
# This needs no (P, R, M) difference tensor, at the cost of cancellation for nearby points; the
# clamp to 1e-30 before the sqrt keeps the gradient at zero distance finite (zero).
def _euclidean_dist(x1, x2):
    n1 = (x1 * x1).sum(-1, True)
    n2 = (x2 * x2).sum(-1, True)
    a = _C.cat([x1 * -2, n1, ones_like(n1)], -1)
    b = _C.cat([x2, ones_like(n2), n2], -1)
    return _C.matmul(a, b.transpose(-1, -2)).clamp(min=1e-30).sqrt()


def pdist(input, p=2):
    """The p-norm distances between the rows of a 2-D input, for each pair i < j in row-major order."""
    check_tensor(input, "pdist")
    if input.dim() != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got shape {tuple(input.shape)}")
    if not input.is_floating_point():
        raise RuntimeError(f"pdist only supports floating-point dtypes, got {input.dtype}")
    if p < 0:
        raise RuntimeError(f"pdist only supports non-negative p values, got {p}")
    from ._ops_shape import triu_indices
    n = input.shape[0]
    rows, cols = triu_indices(n, n, 1, device=input.device).unbind(0)
    return _pnorm(input.index_select(0, rows) - input.index_select(0, cols), p, -1)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 * x2) / (max(|x1|, eps) * max(|x2|, eps)) along ``dim`` of the broadcast inputs."""
    check_tensor(x1, "cosine_similarity", "x1")
    check_tensor(x2, "cosine_similarity", "x2")
    from ._ops_shape import broadcast_tensors
    a, b = broadcast_tensors(x1, x2)
    dim = wrap_dim(dim, a.dim(), "cosine_similarity")
    na = a.norm(2, dim, True).clamp(min=eps)
    nb = b.norm(2, dim, True).clamp(min=eps)
    return ((a / na) * (b / nb)).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of x1 - x2 + eps along the last dim."""
    check_tensor(x1, "pairwise_distance", "x1")
    check_tensor(x2, "pairwise_distance", "x2")
    nd = builtins.max(x1.dim(), x2.dim())
    diff = x1 - x2 + eps
    if nd == 0:
        return diff.abs()
    out = _pnorm(diff, p, nd - 1)
    return out.unsqueeze(-1) if keepdim else out


def dist(input, other, p=2):
    """The p-norm of input - other over all elements."""
    check_tensor(input, "dist", "input")
    check_tensor(other, "dist", "other")
    diff = input - other
    if p == 0:
        return (diff != 0).sum().to(diff.dtype)
    return diff.norm(p)


_METHODS = {name: globals()[name] for name in [
    "dot", "vdot", "inner", "outer", "ger", "mv", "addmv", "addr", "addbmm", "baddbmm", "kron", "cross",
    "trace", "dist",
]}
_INPLACE = {"addmv_": addmv, "addr_": addr, "addbmm_": addbmm, "baddbmm_": baddbmm}
