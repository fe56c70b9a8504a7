"""The spec table: one entry per family of calls, each a generator that writes one random call.

``SPECS`` maps a spec name to ``Spec(gen, covers)``: ``gen(c)`` receives a ``gen.Ctx`` and emits
the snippet (ending in ``out = ...``); ``covers`` lists the registered ops
(``dlcore._C._registered_ops()``) the spec exercises, checked by tests/fuzz/test_fuzz.py.
A generator sets ``c.tol`` to the comparison class of its result (see engine.TOLERANCES) and
``c.comparable = False`` for calls torch cannot run (dlcore-only arguments, random output).
"""
import math
from dataclasses import dataclass

from .gen import FLOATS, lit, numel


@dataclass
class Spec:
    gen: object
    covers: tuple = ()
    weight: float = 1.0


SPECS = {}


def spec(name, covers=(), weight=1.0):
    def register(fn):
        SPECS[name] = Spec(fn, tuple(covers), weight)
        return fn
    return register


def _broadcast_shape(c, shape):
    """A shape broadcastable with `shape` (corrupted: a clashing dim)."""
    k = c.r.randint(0, len(shape))
    out = [1 if c.chance(0.3) else s for s in shape[len(shape) - k:]]
    if c.chance(0.15) and len(out) < 4:
        out = [c.pick((1, 2))] + out if all(s != 0 for s in shape) else out
    if c.bad(0.5) and out:
        i = c.r.randrange(len(out))
        out[i] = out[i] + 2
    return tuple(out)


def _other_operand(c, shape, dtype):
    """The second operand of a binary op: a tensor, a 0-d tensor or a Python number."""
    u = c.r.random()
    if u < 0.6:
        d = dtype if c.chance(0.7) else c.dtype()
        return c.tensor(_broadcast_shape(c, shape), d)
    if u < 0.7:
        return c.tensor((), c.dtype())
    return lit(c.pick((2, 0, -1, 0.5, -3.25, True, 1e30, float("nan"), float("inf"), 7)))


# ---- elementwise ------------------------------------------------------------------------------
UNARY_L = ("neg", "abs", "sign", "exp", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "sigmoid",
           "tanh", "relu", "negative")
UNARY_F = ("relu", "silu", "gelu", "softplus", "elu", "leaky_relu", "relu6", "hardtanh", "logsigmoid",
           "hardsigmoid", "hardswish", "mish", "softsign", "tanhshrink", "sigmoid", "tanh")


@spec("unary", covers=("neg", "abs", "sign", "exp", "log", "log1p", "sqrt", "rsqrt", "sin", "cos",
                       "logical_not", "sigmoid", "tanh", "relu", "leaky_relu", "gelu", "silu", "softplus",
                       "elu", "clamp"), weight=3)
def g_unary(c):
    shape = c.shape()
    dtype = c.fdtype() if c.chance(0.85) else c.dtype()
    grad = c.want_grad()
    x = c.tensor(shape, dtype, grad=grad)
    c.tol = "ew"
    u = c.r.random()
    if u < 0.35:
        op = c.pick(UNARY_L)
        c.result(f"L.{op}({x})" if c.chance(0.5) else f"{x}.{op}()")
    elif u < 0.65:
        op = c.pick(UNARY_F)
        extra = ""
        if op == "gelu" and c.chance(0.5):
            extra = f", approximate={c.pick(('tanh', 'none', 'bogus') if c.invalid else ('tanh', 'none'))!r}"
        elif op == "softplus" and c.chance(0.5):
            extra = f", beta={lit(c.pick((0.5, 2.0, 1.0, -1.0)))}, threshold={lit(c.pick((20.0, 1.0, 0.0)))}"
        elif op == "elu" and c.chance(0.5):
            extra = f", alpha={lit(c.pick((0.5, 2.0, 0.0, -1.0)))}"
        elif op == "leaky_relu" and c.chance(0.5):
            extra = f", {lit(c.pick((0.2, 0.0, -0.5, 3.0)))}"
        elif op == "hardtanh" and c.chance(0.5):
            extra = f", {lit(c.pick((-2.0, 0.0)))}, {lit(c.pick((2.0, 0.5)))}"
        c.result(f"F.{op}({x}{extra})")
    elif u < 0.8:
        lo = c.pick((None, -0.5, 0.0, float("nan"), -1e30, 1))
        hi = c.pick((None, 0.5, 2.0, float("inf"), -1.0))
        if lo is None and hi is None and not c.invalid:
            lo = -1.0
        fn = c.pick(("L.clamp({x}, {lo}, {hi})", "{x}.clamp(min={lo}, max={hi})", "L.clip({x}, {lo}, {hi})"))
        c.result(fn.format(x=x, lo=lit(lo), hi=lit(hi)))
    elif u < 0.9:
        c.result(f"L.logical_not({x})" if c.chance(0.5) else f"~({x} > 0)")
    else:
        c.result(f"-{x}" if c.chance(0.5) else f"abs({x})")
    c.backward()


MATH_F = ("acos", "asin", "atan", "sinh", "cosh", "tan", "asinh", "acosh", "atanh", "erf", "erfc", "erfinv",
          "lgamma", "digamma", "exp2", "expm1", "log2", "log10", "reciprocal", "sinc", "logit")
MATH_R = ("floor", "ceil", "round", "trunc", "fix", "frac")
MATH_B = ("isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit")
MATH_2F = ("atan2", "copysign", "xlogy", "hypot", "nextafter", "logaddexp", "logaddexp2", "fmod", "remainder",
           "floor_divide", "fmax", "fmin", "arctan2", "float_power", "ldexp")
MATH_2I = ("gcd", "lcm", "bitwise_left_shift", "bitwise_right_shift", "fmod", "remainder", "floor_divide",
           "heaviside", "fmax", "fmin")


@spec("math", covers=MATH_F + MATH_R[:4] + MATH_B + MATH_2F[:12] + MATH_2I[:4] + ("i0", "nan_to_num", "heaviside",
                                                                                  "lerp", "polygamma"), weight=3)
def g_math(c):
    """The element-wise math functions, their aliases and in-place forms (valid: floating inputs
    for the float-valued ones, integers for gcd/lcm/shifts; corrupted: the other dtypes)."""
    shape = c.shape()
    grad = c.want_grad()
    c.tol = "ew"
    u = c.r.random()
    if u < 0.3:
        dtype = c.fdtype() if not c.bad(0.3) else c.dtype()
        op = c.pick(MATH_F + MATH_B + ("i0",))
        polygamma = op == "digamma" and c.chance(0.4)
        # torch's i0(+-inf) and polygamma(n >= 2, inf) are NaN, dlcore's the limits; torch's
        # trigamma (digamma's derivative) is good to ~5e-10 only
        kind = "n" if op == "i0" or polygamma else c.pick(("n", "s", "u", "p"))
        x = c.tensor(shape, dtype, kind=kind, grad=grad and op != "digamma")
        extra = f", eps={lit(c.pick((1e-6, 0.25, 0.0)))}" if op == "logit" and c.chance(0.5) else ""
        if polygamma:
            # torch's polygamma(1, x) is good to ~1e-9 only: compared for n >= 2
            n = c.pick((1, 2, 3, -1) if c.invalid else (2, 3) if c.diff else (1, 2, 3))
            c.result(f"L.polygamma({n}, {x})")
        else:
            c.result(f"L.{op}({x}{extra})" if c.chance(0.6) else f"{x}.{op}({extra[2:]})")
    elif u < 0.45:
        dtype = c.fdtype() if c.chance(0.7) else c.dtype(("int64", "int32")) if not c.bad(0.3) else "bool"
        x = c.tensor(shape, dtype, grad=grad)
        op = c.pick(MATH_R)
        if op == "round" and c.chance(0.5):
            c.result(f"L.round({x}, decimals={c.pick((1, 2, -1, 0))})")
        else:
            c.result(f"L.{op}({x})")
    elif u < 0.7:
        dtype = c.fdtype() if not c.bad(0.2) else c.dtype()
        a = c.tensor(shape, dtype, grad=grad)
        op = c.pick(MATH_2F)
        # torch takes a Python number as `other` for these only (dlcore for all)
        b = _other_operand(c, shape, dtype) if op in ("xlogy", "fmod", "remainder", "floor_divide", "float_power",
                                                      "copysign") else c.tensor(_broadcast_shape(c, shape), dtype)
        c.result(f"L.{op}({a}, {b})")
    elif u < 0.82:
        dtype = c.dtype(("int64", "int32")) if not c.bad(0.3) else c.dtype()
        a = c.tensor(shape, dtype)
        b = c.tensor(_broadcast_shape(c, shape), dtype if c.chance(0.7) else c.dtype(("int64", "int32")), kind="i")
        op = c.pick(MATH_2I)
        if op in ("fmod", "remainder", "floor_divide"):
            c.emit(f"{b} = L.where({b} == 0, 3, {b}) if {b}.dtype != L.bool else {b}")
        c.result(f"L.{op}({a}, {b})")
    elif u < 0.9:
        dtype = c.fdtype()
        a = c.tensor(shape, dtype, grad=grad)
        b = c.tensor(_broadcast_shape(c, shape), dtype if not c.bad(0.2) else c.dtype())
        w = lit(c.pick((0.25, 0.75, -0.5, 1.5))) if c.chance(0.5) else c.tensor(_broadcast_shape(c, shape), dtype)
        c.result(f"L.lerp({a}, {b}, {w})")
    else:
        dtype = c.fdtype() if not c.bad(0.2) else c.dtype()
        x = c.tensor(shape, dtype, kind="s", grad=grad)
        if c.chance(0.5):
            c.result(f"L.nan_to_num({x}, nan={lit(c.pick((0.0, 1.5)))}, posinf={lit(c.pick((None, 1e3)))})")
        else:
            y = c.var()
            op = c.pick(("sin_", "floor_", "clamp_min_", "exp2_", "nan_to_num_", "sigmoid_", "square_"))
            arg = "0.5" if op == "clamp_min_" else ""
            c.emit(f"{y} = {x} * 1")
            c.emit(f"{y}.{op}({arg})")
            c.result(y)
    c.backward()


BINARY = ("add", "sub", "mul", "div", "true_divide", "pow", "minimum", "maximum", "eq", "ne", "lt", "le",
          "gt", "ge", "logical_and", "logical_or", "logical_xor")
OPERATORS = ("+", "-", "*", "/", "**", "==", "!=", "<", "<=", ">", ">=", "&", "|")


@spec("binary", covers=BINARY + ("where",), weight=3)
def g_binary(c):
    shape = c.shape()
    dtype = c.dtype(FLOATS) if c.chance(0.7) else c.dtype()
    grad = c.want_grad()
    a = c.tensor(shape, dtype, grad=grad)
    b = _other_operand(c, shape, dtype)
    c.tol = "ew"
    u = c.r.random()
    if u < 0.45:
        op = c.pick(BINARY)
        alpha = f", alpha={lit(c.pick((2, 0.5, -1)))}" if op in ("add", "sub") and c.chance(0.3) else ""
        if b.startswith("x") and c.chance(0.4):
            c.result(f"{a}.{op}({b}{alpha})")
        else:
            c.result(f"L.{op}({a}, {b}{alpha})")
    elif u < 0.8:
        op = c.pick(OPERATORS)
        c.result(f"({b}) {op} {a}" if c.chance(0.3) else f"{a} {op} ({b})")
    else:
        cond = c.tensor(_broadcast_shape(c, shape), "bool" if not c.bad(0.3) else c.dtype())
        c.result(f"L.where({cond}, {a}, {b})" if c.chance(0.7) else f"{a}.where({cond}, {b})")
    if not c.invalid or c.chance(0.5):
        c.backward()


BITWISE = ("bitwise_and", "bitwise_or", "bitwise_xor")
INTEGRAL = ("int64", "int32", "bool")


@spec("bitwise", covers=BITWISE + tuple(f"{op}_" for op in BITWISE) + ("bitwise_not",))
def g_bitwise(c):
    shape = c.shape()
    dtype = c.dtype(INTEGRAL) if not c.bad(0.3) else c.dtype()
    a = c.tensor(shape, dtype)
    b = c.tensor(_broadcast_shape(c, shape), c.dtype(INTEGRAL) if not c.bad(0.3) else c.dtype()) \
        if c.chance(0.7) else lit(c.pick((3, -1, 0, True, 2**40)))
    c.tol = "ew"
    u = c.r.random()
    if u < 0.35:
        c.result(f"L.{c.pick(BITWISE)}({a}, {b})")
    elif u < 0.55:
        c.result(f"L.bitwise_not({a})" if c.chance(0.5) else f"~{a}")
    elif u < 0.8:
        c.result(f"{a} {c.pick(('&', '|', '^'))} ({b})")
    else:
        c.emit(f"{a}.{c.pick(BITWISE)}_({b})")
        c.result(a)


# ---- views and indexing -------------------------------------------------------------------------
def _view_shape(c, shape):
    """A target shape for view/reshape: a refactoring of numel (maybe with -1), or junk."""
    n = numel(shape)
    if c.bad(0.6):
        junk = list(shape) + [c.pick((2, 0))]
        return tuple(c.pick(([c.huge()], [-1, -1], junk, [c.huge(), 2**33], [2**31, 2**31, 4], [0, -1])))
    dims = []
    rest = n
    for f in (2, 3, 5, 7, 11):
        while rest % f == 0 and rest > 1 and c.chance(0.6):
            dims.append(f)
            rest //= f
    if rest != 1 or not dims:
        dims.append(rest)
    c.r.shuffle(dims)
    if c.chance(0.3) and n > 0:
        dims[c.r.randrange(len(dims))] = -1
    if c.chance(0.2):
        dims.insert(c.r.randrange(len(dims) + 1), 1)
    return tuple(dims)


def _index_expr(c, shape):
    """A random __getitem__ key as source: ints, slices (with steps), None, ..., int/bool tensors."""
    parts = []
    nd = len(shape)
    d = 0
    used_ellipsis = False
    while d < nd + (1 if c.bad(0.3) else 0):
        size = shape[d] if d < nd else 1
        u = c.r.random()
        if u < 0.25 and size > 0:
            i = c.r.randrange(-size, size)
            parts.append(str(c.pick((size, -size - 1, 2**63 - 1)) if c.bad(0.5) else i))
        elif u < 0.6:
            start = c.pick((None, 0, 1, -1, -2, 2**40, -2**40))
            stop = c.pick((None, size, 2, -1, 2**62, 0))
            step = c.pick((None, 1, 2, 3, 5)) if not c.bad(0.3) else c.pick((0, -1, 2**63 - 1))
            s = ("" if start is None else str(start)) + ":" + ("" if stop is None else str(stop))
            if step is not None:
                s += f":{step}"
            parts.append(s)
        elif u < 0.7:
            parts.append("None")
            continue
        elif u < 0.75 and not used_ellipsis:
            parts.append("...")
            used_ellipsis = True
            d = nd - c.r.randint(0, nd - d) if nd > d else d
            continue
        elif u < 0.85:
            parts.append(c.index_tensor((c.small(0, 3),), size))
            c.tensor_index = True
        elif u < 0.9:
            m = c.tensor((size,), "bool")
            parts.append(m)
        else:
            parts.append(lit([c.r.randrange(-size, size) if size else 0 for _ in range(c.small(1, 3))])
                         if size else ":")
            c.tensor_index = True
        d += 1
    if not parts:
        return "..."
    return ", ".join(parts)


@spec("view", covers=("view", "reshape", "permute", "transpose", "expand", "squeeze", "unsqueeze",
                      "flatten", "narrow", "select", "slice", "as_strided", "index"), weight=3)
def g_view(c):
    shape = c.shape()
    nd = len(shape)
    x = c.tensor(shape, c.dtype(), grad=c.chance(0.15))
    c.tol = "exact"
    k = c.r.randrange(14)
    layout = True   # compare S(out) (shape + strides of non-trivial dims) for pure views
    if k == 0:
        s = _view_shape(c, shape)
        c.result(f"{x}.view({lit(s)})" if c.chance(0.5) else f"{x}.view(*{lit(s)})")
    elif k == 1:
        s = _view_shape(c, shape)
        c.result(c.pick((f"{x}.reshape({lit(s)})", f"L.reshape({x}, {lit(s)})")))
        layout = False
    elif k == 2:
        perm = list(range(nd))
        c.r.shuffle(perm)
        if c.bad():
            perm = perm[:-1] if perm and c.chance(0.5) else perm + [c.pick((0, nd, -1))]
        c.result(f"{x}.permute({lit(tuple(perm))})" if c.chance(0.5) else f"L.permute({x}, {lit(perm)})")
    elif k == 3:
        c.result(f"{x}.transpose({c.dim_arg(nd)}, {c.dim_arg(nd)})")
    elif k == 4:
        tgt = [s if s != 1 or c.chance(0.5) else c.pick((0, 1, 3, 7)) for s in shape]
        if c.chance(0.3):
            tgt = [c.pick((2, 1))] + tgt
        if c.chance(0.3) and tgt:
            tgt[-1] = -1
        if c.bad():
            if tgt:
                tgt[c.r.randrange(len(tgt))] = c.huge()
            else:
                tgt = [c.huge()]
        c.result(f"{x}.expand({lit(tuple(tgt))})")
    elif k == 5:
        c.result(f"{x}.squeeze({c.dim_arg(nd)})" if c.chance(0.6) else f"{x}.squeeze()")
    elif k == 6:
        c.result(f"{x}.unsqueeze({c.dim_arg(nd + 1)})")
    elif k == 7:
        c.result(f"{x}.flatten({c.dim_arg(nd)}, {c.dim_arg(nd)})" if c.chance(0.7) else f"L.flatten({x})")
        layout = False
    elif k == 8:
        d = c.dim_arg(nd)
        size = shape[d] if nd and -nd <= d < nd else 3
        start = c.r.randint(-size, size)
        length = c.r.randint(0, size - (start + size if start < 0 else start))
        if c.bad():
            start, length = c.pick(((c.huge(), 0), (start, c.huge()), (size + 1, 0), (0, size + 1)))
        if nd == 0 and not c.invalid:
            c.result(x)
        else:
            if nd == 0:
                c.tags.add("narrow_0d")
            c.result(f"{x}.narrow({d}, {start}, {length})" if c.chance(0.5) else
                     f"L.narrow({x}, {d}, {start}, {length})")
    elif k == 9:
        if nd == 0 and not c.invalid:
            c.result(x)
        else:
            d = c.dim_arg(nd)
            size = shape[d] if nd and -nd <= d < nd else 1
            i = c.r.randrange(-size, size) if size and not c.bad() else c.pick((size, -size - 1, 2**63 - 1, -2**63))
            c.result(f"{x}.select({d}, {i})")
    elif k == 10:
        c.result(f"{x}[{_index_expr(c, shape)}]")
        layout = False
    elif k == 11:
        # as_strided within the storage of a fresh contiguous buffer (corrupted: outside it)
        n = max(numel(shape), 1)
        sz = c.shape(max_nd=3, max_numel=2000)
        st = [c.r.randint(0, 3) for _ in sz]
        need = 1 + sum((s - 1) * t for s, t in zip(sz, st)) if numel(sz) else 0
        off = c.r.randint(0, max(n - need, 0)) if need <= n else 0
        b = c.var("b")
        c.emit(f"{b} = {x}.detach().contiguous()")
        if c.bad():
            j = c.r.randrange(3)
            if j == 0 and sz:
                st[0] = c.huge()
            elif j == 1:
                off = c.pick((n, -1, 2**62, 2**63 - 1))
            else:
                sz = list(sz) + [c.huge()]
                st = list(st) + [1]
        elif need > n:
            sz, st = (0,), (1,)
        c.result(f"{b}.as_strided({lit(tuple(sz))}, {lit(tuple(st))}, {off})")
    elif k == 12:
        c.result(c.pick((f"{x}.t()", f"{x}.T", f"{x}.mT")))
    else:
        c.result(c.pick((f"{x}.view_as({x}.reshape(-1))", f"{x}.reshape_as({x}.reshape(-1))",
                         f"{x}.expand_as({x})", f"{x}.contiguous().view(-1)")))
        layout = False
    if layout and c.chance(0.5):
        c.emit("out = (out, S(out), out.storage_offset() if out.numel() else None)")
    elif c.leaves and c.chance(0.8):
        c.emit("out = out * 1.0")
        c.backward()


def _view_of(c, base, shape):
    """A view expression of `base` (for in-place writes through views); returns (expr, shape)."""
    nd = len(shape)
    k = c.r.randrange(6)
    if k == 0 or nd == 0:
        return base, shape
    if k == 1 and nd >= 2:
        i, j = c.r.sample(range(nd), 2)
        s = list(shape)
        s[i], s[j] = s[j], s[i]
        return f"{base}.transpose({i}, {j})", tuple(s)
    if k == 2:
        d = c.r.randrange(nd)
        st = c.r.randint(2, 3)
        s = list(shape)
        s[d] = -(-shape[d] // st)
        return f"{base}[{', '.join([':'] * d + [f'::{st}'])}]", tuple(s)
    if k == 3 and shape[0] > 0:
        i = c.r.randrange(shape[0])
        return f"{base}.select(0, {i})", tuple(shape[1:])
    if k == 4 and shape[-1] > 0:
        st = c.r.randint(0, shape[-1])
        ln = c.r.randint(0, shape[-1] - st)
        return f"{base}.narrow(-1, {st}, {ln})", tuple(shape[:-1]) + (ln,)
    return f"{base}.unsqueeze(0)", (1,) + tuple(shape)


INPLACE = ("add_", "sub_", "mul_", "div_", "copy_", "fill_", "zero_", "masked_fill_", "scatter_",
           "scatter_add_", "index_put_", "setitem", "iadd", "imul", "isub", "idiv")


@spec("inplace", covers=("add_", "sub_", "mul_", "div_", "copy_", "fill_", "zero_", "index_put_",
                         "masked_fill", "scatter", "scatter_add"), weight=3)
def g_inplace(c):
    shape = c.shape(min_nd=0 if c.chance(0.2) else 1)
    dtype = c.dtype(FLOATS) if c.chance(0.7) else c.dtype()
    base = c.tensor(shape, dtype, layout=c.pick(("contig", "T", "step", "offset")) if not c.invalid else None)
    c.tol = "ew"
    v, vshape = _view_of(c, base, shape)
    vn = c.var("v")
    c.emit(f"{vn} = {v}")
    op = c.pick(INPLACE)
    vnd = len(vshape)
    if op in ("add_", "sub_", "mul_", "div_", "iadd", "imul", "isub", "idiv"):
        o = _other_operand(c, vshape, dtype)
        if op.startswith("i"):
            sym = {"iadd": "+=", "imul": "*=", "isub": "-=", "idiv": "/="}[op]
            c.emit(f"{vn} {sym} {o}")
        else:
            alpha = f", alpha={lit(c.pick((2, -0.5)))}" if op in ("add_", "sub_") and c.chance(0.3) else ""
            c.emit(f"{vn}.{op}({o}{alpha})")
    elif op == "copy_":
        src = c.tensor(_broadcast_shape(c, vshape), c.dtype())
        c.emit(f"{vn}.copy_({src})")
    elif op == "fill_":
        val = c.pick((1.5, 0, -2, float("nan"), float("inf"), True, 2**40))
        if c.chance(0.2):
            val_src = c.tensor((), c.dtype())
            c.emit(f"{vn}.fill_({val_src})")
        else:
            c.emit(f"{vn}.fill_({lit(val)})")
    elif op == "zero_":
        c.emit(f"{vn}.zero_()")
    elif op == "masked_fill_":
        m = c.tensor(_broadcast_shape(c, vshape), "bool" if not c.bad(0.3) else c.dtype())
        c.emit(f"{vn}.masked_fill_({m}, {lit(c.pick((0.5, -1, float('nan'))))})")
    elif op in ("scatter_", "scatter_add_"):
        if vnd == 0 and not c.invalid:
            c.emit(f"{vn}.zero_()")
        else:
            d = c.dim_arg(vnd)
            dd = d % vnd if vnd and -vnd <= d < vnd else 0
            ishape = tuple(c.r.randint(0, s) for s in vshape)
            idx = c.index_tensor(ishape, vshape[dd] if vnd else 1)
            if op == "scatter_add_" or c.chance(0.6):
                src = c.tensor(tuple(s + c.r.randint(0, 1) for s in ishape), dtype if not c.bad(0.3) else c.dtype(),
                               layout="contig")
                if op == "scatter_":
                    # duplicate indices make scatter_ (non-accumulating) order-dependent
                    c.comparable = c.comparable and not c.diff
                c.emit(f"{vn}.{op}({d}, {idx}, {src})")
            else:
                c.comparable = False
                c.emit(f"{vn}.scatter_({d}, {idx}, value={lit(c.pick((1.0, -2.0)))})")
    elif op == "index_put_":
        if vnd == 0 and not c.invalid:
            c.emit(f"{vn}.zero_()")
        else:
            k = c.r.randint(1, max(min(vnd, 2), 1))
            n = c.small(0, 4)
            idxs = [c.index_tensor((n,), vshape[j] if j < vnd else 1) for j in range(k)]
            acc = c.chance(0.5)
            if not acc:
                c.comparable = False   # duplicate indices: which write wins is unspecified
            vals = c.tensor(_broadcast_shape(c, (n,) + tuple(vshape[k:])), dtype, layout="contig")
            c.emit(f"{vn}.index_put_(({', '.join(idxs)},), {vals}, accumulate={acc})")
    else:  # setitem
        key = _index_expr(c, vshape)
        val = c.pick((lit(c.pick((0.25, -3, float("nan")))), c.tensor((), dtype), c.tensor((1,), dtype)))
        if c.tensor_index:   # tensor/list indices may repeat: which write wins is unspecified
            c.comparable = False
        c.emit(f"{vn}[{key}] = {val}")
    c.result(f"({vn}, {base})")


@spec("index", covers=("gather", "index_select", "masked_fill", "one_hot", "embedding", "nonzero", "index",
                       "index_put", "scatter", "scatter_add"), weight=2)
def g_index(c):
    shape = c.shape(min_nd=1)
    nd = len(shape)
    dtype = c.dtype(FLOATS) if c.chance(0.7) else c.dtype()
    x = c.tensor(shape, dtype, grad=c.chance(0.2))
    c.tol = "exact"
    k = c.r.randrange(10)
    d = c.dim_arg(nd)
    dd = d % nd if -nd <= d < nd else 0
    if k == 0:
        ishape = tuple(c.r.randint(0, s + (1 if i != dd else 3)) for i, s in enumerate(shape))
        if not c.invalid:
            ishape = tuple(min(a, s) if i != dd else a for i, (a, s) in enumerate(zip(ishape, shape)))
        idx = c.index_tensor(ishape, shape[dd])
        c.result(f"L.gather({x}, {d}, {idx})" if c.chance(0.5) else f"{x}.gather({d}, {idx})")
    elif k == 1:
        idx = c.index_tensor((c.small(0, 6),), shape[dd])
        c.result(f"L.index_select({x}, {d}, {idx})")
    elif k == 2:
        m = c.tensor(_broadcast_shape(c, shape), "bool" if not c.bad(0.3) else c.dtype())
        val = c.pick((lit(c.pick((0.5, -1, float("-inf")))), c.tensor((), dtype)))
        c.result(f"L.masked_fill({x}, {m}, {val})" if c.chance(0.5) else f"{x}.masked_fill({m}, {val})")
    elif k == 3:
        n = c.size_arg(1, 6)
        idx = c.index_tensor(c.shape(max_nd=3, max_numel=1000), n if n > 0 and n < 100 else 4)
        nc = c.pick((-1, n)) if not c.bad() else c.pick((0, -2, 2**40, 2**62, 2**31))
        if nc >= 2**31 or (nc == -1 and c.huge_index):
            c.tags.add("one_hot_huge")
        c.result(f"F.one_hot({idx}, {nc})")
        c.leaves = []
    elif k == 4:
        n = c.small(1, 8)
        w = c.tensor((n, c.small(0, 5)), c.fdtype(), grad=c.chance(0.3))
        idx = c.index_tensor(c.shape(max_nd=3, max_numel=1000), n)
        pidx = c.pick((0, n - 1, -1)) if not c.bad() else c.pick((n, -n - 1, 2**40))
        pad = "" if c.chance(0.5) else f", padding_idx={pidx}"
        c.result(f"F.embedding({idx}, {w}{pad})")
    elif k == 5:
        c.result(f"L.nonzero({x})" if c.chance(0.6) else f"{x}.nonzero(as_tuple=True)")
        c.leaves = []
    elif k == 6:
        c.result(f"{x}[{_index_expr(c, shape)}]")
    elif k == 7:
        n = c.small(0, 4)
        idx = c.index_tensor((n,), shape[0])
        vals = c.tensor(_broadcast_shape(c, (n,) + tuple(shape[1:])), dtype)
        c.result(f"L.index_put({x}, ({idx},), {vals}, accumulate=True)" if c.chance(0.5) else
                 f"{x}.index_put(({idx},), {vals}, True)")
    elif k == 8:
        ishape = tuple(c.r.randint(0, s) for s in shape)
        idx = c.index_tensor(ishape, shape[dd])
        src = c.tensor(ishape, dtype if not c.bad(0.3) else c.dtype())
        c.result(f"L.scatter_add({x}, {d}, {idx}, {src})")
    else:
        ishape = tuple(c.r.randint(0, s) for s in shape)
        idx = c.index_tensor(ishape, shape[dd])
        c.comparable = False   # repeated indices: unspecified winner
        c.result(f"L.scatter({x}, {d}, {idx}, value={lit(c.pick((2.0, -1.0)))})" if c.chance(0.5) else
                 f"{x}.scatter({d}, {idx}, {c.tensor(ishape, dtype)})")
    if c.leaves and c.chance(0.7) and dtype in FLOATS:
        c.backward()


# ---- shape ops ----------------------------------------------------------------------------------
@spec("shape", covers=("cat", "stack", "split", "split_with_sizes", "chunk", "pad", "repeat", "tile", "flip",
                       "roll", "tril", "triu"), weight=3)
def g_shape(c):
    shape = c.shape()
    nd = len(shape)
    dtype = c.dtype(FLOATS) if c.chance(0.7) else c.dtype()
    x = c.tensor(shape, dtype, grad=c.chance(0.2))
    c.tol = "exact"
    k = c.r.randrange(12)
    if k in (0, 1):
        d = c.dim_arg(nd + (1 if k == 1 else 0))
        dd = d % max(nd, 1) if nd else 0
        others = []
        for _ in range(c.small(0, 3)):
            s = list(shape)
            if k == 0 and nd and -nd <= d < nd:
                s[dd] = c.pick((0, 1, 3))
            if c.bad(0.4) and s:
                s[c.r.randrange(len(s))] += 1
            others.append(c.tensor(tuple(s), dtype if c.chance(0.7) else c.dtype()))
        fn = c.pick(("L.cat", "L.concat")) if k == 0 else "L.stack"
        c.result(f"{fn}([{', '.join([x] + others)}], {d})" if c.chance(0.9) else f"{fn}([], {d})")
    elif k == 2:
        d = c.dim_arg(nd)
        c.result(f"L.split({x}, {c.size_arg(0, 4)}, {d})" if c.chance(0.5) else f"{x}.split({c.size_arg(1, 4)}, {d})")
    elif k == 3:
        d = c.dim_arg(nd)
        size = shape[d] if nd and -nd <= d < nd else 0
        parts = []
        rest = size
        while rest > 0:
            p = c.r.randint(0, rest)
            parts.append(p)
            rest -= p
        if c.bad() or not parts:
            parts.append(c.pick((1, -1, 2**62)) if c.invalid else 0)
        c.result(f"{x}.split_with_sizes({lit(parts)}, {d})" if c.chance(0.5) else f"L.split({x}, {lit(parts)}, {d})")
    elif k == 4:
        n = c.size_arg(1, 5)
        if n >= 2**31:
            c.tags.add("chunk_huge")
        c.result(f"L.chunk({x}, {n}, {c.dim_arg(nd)})")
    elif k == 5:
        npad = c.r.randint(0, min(nd, 3)) * 2 if nd else 0
        pads = [c.r.randint(-1 if c.chance(0.2) else 0, 3) for _ in range(npad)]
        if c.bad() and pads:
            pads[c.r.randrange(len(pads))] = c.huge()
        elif c.bad():
            pads = [1]
        mode = c.pick(("constant", "constant", "reflect", "replicate", "circular"))
        if mode != "constant":
            npad = min(npad, 2 * max(nd - 2, 0)) if not c.invalid else npad
            pads = [abs(p) for p in pads[:npad]]
            if mode in ("reflect", "circular") and not c.invalid:
                pads = [min(p, max(shape[nd - 1 - i // 2] - 1, 0)) for i, p in enumerate(pads)]
        val = f", value={lit(c.pick((0.0, -1.5, float('nan'))))}" if mode == "constant" and c.chance(0.4) else ""
        c.result(f"F.pad({x}, {lit(tuple(pads))}, mode={mode!r}{val})")
    elif k == 6:
        reps = [c.r.randint(0, 3) for _ in range(nd + c.r.randint(0, 1))]
        if c.bad():
            reps = (reps or [1]) + [c.huge()]
            if reps[-1] >= 2**31:
                c.tags.add("repeat_huge")
        if numel(shape) * numel([max(r, 1) for r in reps]) > 200_000 and not c.invalid:
            reps = [1] * len(reps)
        c.result(f"{x}.repeat({lit(tuple(reps))})" if c.chance(0.5) else f"{x}.tile({lit(tuple(reps))})")
    elif k == 7:
        dims = c.dims_arg(nd, allow_none=False)
        dims = dims if isinstance(dims, tuple) else (dims,)
        c.result(f"L.flip({x}, {lit(dims)})")
    elif k == 8:
        shifts = c.pick((1, -2, 5, 2**62, -2**63)) if c.chance(0.5) else c.small(-3, 3)
        dims = c.dim_arg(nd) if c.chance(0.7) else None
        c.result(f"L.roll({x}, {shifts}, {dims})" if dims is not None else f"L.roll({x}, {shifts})")
    elif k == 9:
        diag = c.small(-3, 3) if not c.bad() else c.pick((2**62, -2**63, 2**63 - 1))
        c.result(f"L.{c.pick(('tril', 'triu'))}({x}, {diag})")
    elif k == 10:
        c.result(f"{x}.flip({c.dim_arg(nd)})")
    else:
        n = c.size_arg(1, 4)
        if n >= 2**31:
            c.tags.add("chunk_huge")
        c.result(f"{x}.chunk({n})")
    if c.leaves and c.chance(0.7) and dtype in FLOATS:
        c.emit("out = out if isinstance(out, L.Tensor) else L.cat([o.reshape(-1) for o in out])")
        c.backward()


# ---- reductions, sort, softmax -------------------------------------------------------------------
REDUCE = ("sum", "mean", "prod", "amax", "amin", "max", "min", "argmax", "argmin", "var", "std", "logsumexp",
          "norm", "all", "any", "cumsum")


@spec("reduce", covers=REDUCE, weight=3)
def g_reduce(c):
    shape = c.shape()
    nd = len(shape)
    op = c.pick(REDUCE)
    if op in ("argmax", "argmin", "max", "min"):
        c.no_dups = True
    dtype = c.dtype(FLOATS) if c.chance(0.75) else c.dtype()
    if c.no_dups and c.diff and dtype not in FLOATS:
        dtype = "float64"
    grad = op not in ("argmax", "argmin", "all", "any") and c.want_grad()
    x = c.tensor(shape, dtype, grad=grad, kind="n" if c.no_dups and c.diff else None)
    c.tol = "red" if op not in ("amax", "amin", "max", "min", "argmax", "argmin", "all", "any") else "exact"
    kd = c.chance(0.3)
    if op in ("sum", "mean", "prod", "amax", "amin", "logsumexp"):
        dims = c.dims_arg(nd, allow_none=op not in ("logsumexp",))
        if op == "prod" and isinstance(dims, tuple) and not c.invalid:
            dims = dims[0] if dims else None
        dt = f", dtype=L.{c.dtype()}" if op in ("sum", "mean", "prod") and c.chance(0.2) else ""
        if dims is None:
            c.result(f"L.{op}({x}{dt})" if op not in ("amax", "amin") else f"L.{op}({x})")
        else:
            c.result(f"L.{op}({x}, {lit(dims)}, {kd}{dt})" if c.chance(0.5) else
                     f"{x}.{op}({lit(dims)}, keepdim={kd}{dt})")
    elif op in ("max", "min", "argmax", "argmin"):
        if c.chance(0.3):
            c.result(f"L.{op}({x})")
        else:
            d = c.dim_arg(nd)
            c.result(f"L.{op}({x}, {d}, {kd})" if c.chance(0.5) else f"{x}.{op}({d}, keepdim={kd})")
    elif op in ("var", "std"):
        dims = c.dims_arg(nd)
        corr = c.pick(("", ", unbiased=False", ", correction=0", ", correction=2", ", unbiased=True"))
        c.result(f"L.{op}({x}, {lit(dims)}{corr}, keepdim={kd})")
    elif op == "norm":
        p = c.pick(("'fro'", "1", "2", "float('inf')", "-float('inf')", "0", "3.5", "'nuc'" if c.invalid else "2"))
        dims = c.dims_arg(nd)
        c.result(f"L.norm({x}, {p}, {lit(dims)}, {kd})" if dims is not None else f"L.norm({x}, {p})")
    elif op in ("all", "any"):
        c.result(f"L.{op}({x}, {c.dim_arg(nd)}, {kd})" if c.chance(0.6) else f"{x}.{op}()")
    else:
        dt = f", dtype=L.{c.dtype()}" if c.chance(0.2) else ""
        c.result(f"L.cumsum({x}, {c.dim_arg(nd)}{dt})")
    if grad:
        c.emit("out = out if isinstance(out, L.Tensor) else out[0]")
        c.backward()


@spec("sort", covers=("sort", "argsort", "topk"), weight=1.5)
def g_sort(c):
    c.no_dups = True
    shape = c.shape()
    nd = len(shape)
    dtype = c.dtype(FLOATS) if c.chance(0.8) else c.dtype()
    stable = c.chance(0.5) or dtype not in FLOATS
    x = c.tensor(shape, dtype, kind="n" if c.diff and not stable else None)
    c.tol = "exact"
    d = c.dim_arg(nd)
    desc = c.chance(0.5)
    k = c.r.randrange(3)
    if k == 0:
        c.result(f"L.sort({x}, dim={d}, descending={desc}, stable={stable})" if c.chance(0.5) else
                 f"{x}.sort(dim={d}, descending={desc}, stable={stable})")
    elif k == 1:
        c.result(f"L.argsort({x}, {d}, descending={desc}, stable={stable})")
    else:
        size = shape[d] if nd and -nd <= d < nd else 1
        kk = c.r.randint(0, size) if not c.bad() else c.pick((size + 1, -1, 2**40, 2**63 - 1))
        if not stable and c.diff:
            c.emit(f"out = {x}.topk({kk}, {d}, largest={c.chance(0.5)}, sorted=True)")
            c.result("out")
        else:
            c.result(f"L.topk({x}, {kk}, {d}, {c.chance(0.5)}, True)[0]")


@spec("softmax", covers=("softmax", "log_softmax"), weight=1.5)
def g_softmax(c):
    shape = c.shape()
    x = c.tensor(shape, c.fdtype(), grad=c.want_grad())
    c.tol = "red"
    op = c.pick(("softmax", "log_softmax"))
    d = c.dim_arg(len(shape))
    dt = f", dtype=L.{c.pick(FLOATS)}" if c.chance(0.2) else ""
    c.result(c.pick((f"F.{op}({x}, {d}{dt})", f"{x}.{op}({d}{dt})", f"L.{op}({x}, {d})")))
    c.backward()


# ---- nn: pooling, conv, norms, losses, attention, interpolate, rnn --------------------------------
def _spatial(c, k, lo=1, hi=9):
    return [c.r.randint(lo, hi) for _ in range(k)]


def _tuple_or_int(c, vals):
    if len(set(vals)) == 1 and c.chance(0.5):
        return lit(vals[0])
    return lit(tuple(vals))


def _has_huge(*lists):
    return any(isinstance(v, int) and abs(v) >= 2**31 for lst in lists for v in lst)


def _corrupt_list(c, vals, choices):
    vals = list(vals)
    if c.bad() and vals:
        vals[c.r.randrange(len(vals))] = c.pick(choices)
    if c.bad(0.15):
        vals = vals + [1]
    return vals


@spec("pool", covers=("max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
                      "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
                      "adaptive_max_pool2d", "adaptive_max_pool3d"), weight=2.5)
def g_pool(c):
    k = c.r.randint(1, 3)
    batched = c.chance(0.7)
    sp = _spatial(c, k, 0 if c.chance(0.1) else 1, 12 if k < 3 else 6)
    shape = ([c.small(0 if c.chance(0.1) else 1, 3)] if batched else []) + [c.small(0 if c.chance(0.1) else 1, 3)] + sp
    if c.bad(0.2):
        shape = shape[1:] if c.chance(0.5) else [1] + shape
    x = c.tensor(tuple(shape), c.fdtype(), grad=c.want_grad())
    c.tol = "red"
    kind = c.pick(("max", "avg", "adaptive_avg", "adaptive_max"))
    if kind.startswith("adaptive"):
        osz = [c.r.randint(1, 6) for _ in range(k)]
        osz = _corrupt_list(c, osz, (0, -1, 2**31, 2**40, 2**62, 2**63 - 1))
        if any(v >= 2**31 for v in osz):
            c.tags.add("adaptive_huge")
        if c.chance(0.2):
            osz[0] = None
        ri = f", return_indices={c.chance(0.5)}" if kind == "adaptive_max" else ""
        c.result(f"F.{kind}_pool{k}d({x}, {_tuple_or_int(c, osz) if osz[0] is not None else lit(tuple(osz))}{ri})")
    else:
        ks = [c.r.randint(1, 4) for _ in range(k)]
        st = [c.r.randint(1, 3) for _ in range(k)]
        pd = [c.r.randint(0, kk // 2) for kk in ks]
        ks = _corrupt_list(c, ks, (0, -1, 2**31, 2**62, 2**63 - 1, 100))
        st = _corrupt_list(c, st, (0, -2, 2**31, 2**63 - 1))
        pd = _corrupt_list(c, pd, (-1, 5, 2**31, 2**62))
        ceil = c.chance(0.4)
        args = f"{x}, {_tuple_or_int(c, ks)}"
        if c.chance(0.8):
            args += f", {_tuple_or_int(c, st)}" if c.chance(0.8) else ", None"
        args += f", {_tuple_or_int(c, pd)}"
        if _has_huge(ks, st, pd):
            c.tags.add("pool_huge_arg")
        if kind == "max":
            dil = _corrupt_list(c, [c.r.randint(1, 2) for _ in range(k)], (0, -1, 2**40))
            if _has_huge(dil):
                c.tags.add("pool_huge_arg")
            args += f", {_tuple_or_int(c, dil)}, {ceil}"
            if c.chance(0.4):
                args += f", return_indices={c.chance(0.5)}"
        else:
            args += f", {ceil}, {c.chance(0.5)}"
            if k > 1 and c.chance(0.3):
                args += f", {c.pick((1, 3, 0, -1)) if c.invalid else c.pick((1, 3, 5))}"
        c.result(f"F.{kind}_pool{k}d({args})")
    if c.leaves:
        c.emit("out = out if isinstance(out, L.Tensor) else out[0]")
        c.backward()


@spec("conv", covers=("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                      "conv_transpose3d"), weight=3)
def g_conv(c):
    k = c.r.randint(1, 3)
    transposed = c.chance(0.35)
    groups = c.pick((1, 1, 1, 2, 3))
    cin = groups * c.small(1, 3)
    cout = groups * c.small(1, 3)
    if c.bad(0.2):
        cin = c.pick((0, cin + 1))      # 0: the known SIGFPE; cin+1: groups do not divide
        if cin == 0:
            c.tags.add("conv_cin0")
    if c.bad(0.2):
        groups = c.pick((0, -1, 2**31, 2**63 - 1, 4))
    batched = c.chance(0.8)
    sp = _spatial(c, k, 1, 10 if k < 3 else 6)
    ks = [c.r.randint(1, 3) for _ in range(k)]
    if k == 3 and c.chance(0.25):  # the direct 3-d kernels' widths (Note [Direct 3-d convolution])
        ks = [c.pick((3, 5)) for _ in range(3)]
    dtype = c.fdtype()
    x = c.tensor(tuple(([c.small(0 if c.chance(0.1) else 1, 3)] if batched else []) + [cin] + sp), dtype,
                 grad=c.want_grad())
    g = max(groups, 1) if isinstance(groups, int) and groups < 2**20 else 1
    wshape = ([cin, max(cout // g, 1)] if transposed else [cout, max(cin // g, 1)]) + ks
    if c.bad(0.15):
        wshape = wshape[:-1] if c.chance(0.5) else wshape + [2]
    if c.bad(0.15):
        wshape[-1] = c.pick((0, 40, 2**31))  if wshape[-1] != 2**31 else 1
        if numel(wshape) > 10**6:
            wshape[-1] = 0
    if 0 in wshape[2:]:
        c.tags.add("conv_k0")
    w = c.tensor(tuple(wshape), dtype if not c.bad(0.2) else c.dtype(), grad=c.want_grad())
    b = "None"
    if c.chance(0.5):
        nb = (cout if transposed else cout) + (1 if c.bad(0.2) else 0)
        b = c.tensor((nb,), dtype)
    c.tol = "gemm"
    st0 = [c.r.randint(1, 3) for _ in range(k)]
    dil0 = [c.r.randint(1, 2) for _ in range(k)]
    st = _corrupt_list(c, st0, (0, -1, 2**31, 2**62, 2**63 - 1))
    dil = _corrupt_list(c, dil0, (0, -1, 2**31, 2**62))
    if transposed:
        pd = _corrupt_list(c, [c.r.randint(0, 1) for _ in range(k)], (-1, 2**31, 2**62))
        op = [c.r.randint(0, max(s, d) - 1) for s, d in zip(st0, dil0)]
        op = _corrupt_list(c, op, (5, -1, 2**40))
        if _has_huge(st, dil, pd, op):
            c.tags.add("conv_huge_arg")
        c.result(f"F.conv_transpose{k}d({x}, {w}, {b}, {_tuple_or_int(c, st)}, {_tuple_or_int(c, pd)}, "
                 f"{_tuple_or_int(c, op)}, {groups}, {_tuple_or_int(c, dil)})")
    else:
        if c.chance(0.2):
            pd = repr(c.pick(("same", "valid"))) if not c.bad(0.3) else repr("bogus")
            if pd == "'same'" and not c.invalid:
                st = [1] * k
        else:
            pdl = _corrupt_list(c, [c.r.randint(0, 2) for _ in range(k)], (-1, 2**31, 2**62))
            pd = _tuple_or_int(c, pdl)
            if _has_huge(pdl):
                c.tags.add("conv_huge_arg")
        if _has_huge(st, dil):
            c.tags.add("conv_huge_arg")
        c.result(f"F.conv{k}d({x}, {w}, {b}, {_tuple_or_int(c, st)}, {pd}, {_tuple_or_int(c, dil)}, {groups})")
    c.backward()


@spec("norm", covers=("batch_norm", "layer_norm", "group_norm", "local_response_norm"), weight=2)
def g_norm(c):
    shape = c.nz_shape(min_nd=2, max_nd=4) if c.chance(0.85) else c.shape(min_nd=1, max_nd=4)
    nd = len(shape)
    dtype = c.fdtype()
    c.no_dups = c.diff    # constant groups (expanded input) make var ~ 0: ill-conditioned, not comparable
    x = c.tensor(shape, dtype, grad=c.want_grad())
    c.no_dups = False
    c.tol = "red"
    C = shape[1] if nd > 1 else 1
    k = c.r.randrange(4)
    eps = lit(c.pick((1e-5, 1e-3, 0.0, -1.0))) if c.invalid else lit(c.pick((1e-5, 1e-3)))
    if k == 0:
        training = c.chance(0.6)
        nc = C + (1 if c.bad(0.3) else 0)
        rm = c.tensor((nc,), dtype, layout="contig") if c.chance(0.8) or not training else "None"
        rv = c.tensor((nc,), dtype, kind="p", layout="contig") if rm != "None" else "None"
        w = c.tensor((nc,), dtype) if c.chance(0.5) else "None"
        bb = c.tensor((nc,), dtype) if c.chance(0.5) else "None"
        c.result(f"F.batch_norm({x}, {rm}, {rv}, {w}, {bb}, {training}, {lit(c.pick((0.1, 0.0, 1.0)))}, {eps})")
        if c.leaves and numel(shape) == 0:
            c.tags.add("bn_empty_backward")
        if c.leaves:
            c.backward()
        c.emit(f"out = (out, {rm}, {rv})")
        return
    if k == 1:
        m = c.r.randint(1, nd)
        ns = list(shape[nd - m:])
        if c.bad():
            ns = ns + [2] if c.chance(0.5) else [c.huge()]
        w = c.tensor(tuple(ns), dtype) if c.chance(0.5) else "None"
        bb = c.tensor(tuple(ns), dtype) if c.chance(0.5) and w != "None" else "None"
        c.result(f"F.layer_norm({x}, {lit(tuple(ns))}, {w}, {bb}, {eps})")
    elif k == 2:
        divs = [g for g in range(1, C + 1) if C % g == 0] or [1]
        G = c.pick(divs) if not c.bad() else c.pick((0, -1, C + 1, 2**31, 2**63 - 1))
        w = c.tensor((C,), dtype) if c.chance(0.5) else "None"
        bb = c.tensor((C,), dtype) if c.chance(0.5) else "None"
        c.result(f"F.group_norm({x}, {G}, {w}, {bb}, {eps})")
    else:
        size = c.r.randint(1, 5) if not c.bad() else c.pick((0, -1, 2**31, 2**62))
        if size >= 2**31:
            c.tags.add("lrn_huge_size")
        c.result(f"F.local_response_norm({x}, {size}, {lit(c.pick((1e-4, 0.1)))}, {lit(c.pick((0.75, 0.5)))}, "
                 f"{lit(c.pick((1.0, 2.0)))})")
    c.backward()


@spec("loss", covers=("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"),
      weight=2.5)
def g_loss(c):
    dtype = c.fdtype()
    red = c.pick(("mean", "sum", "none")) if not c.bad(0.2) else "'bogus'"
    red = red if red.startswith("'") else repr(red)
    c.tol = "red"
    k = c.r.randrange(6)
    if k <= 1:
        N, C = c.small(0 if c.chance(0.1) else 1, 6), c.small(1, 6)
        extra = [c.small(1, 4) for _ in range(c.pick((0, 0, 1, 2)))]
        shape = ([N, C] + extra) if c.chance(0.85) else [C]
        x = c.tensor(tuple(shape), dtype, grad=c.want_grad())
        tshape = tuple([shape[0]] + extra) if len(shape) > 1 else ()
        if k == 0 and c.chance(0.3):
            tgt = c.tensor(tuple(shape), dtype, kind="u")
        else:
            tgt = c.index_tensor(tshape if not c.bad(0.2) else tshape + (2,), C)
        w = c.tensor((C + (1 if c.bad(0.2) else 0),), dtype, kind="p") if c.chance(0.3) else "None"
        ii = c.pick((-100, 0, 1)) if c.chance(0.3) else -100
        if k == 0:
            ls = lit(c.pick((0.0, 0.1, 0.5) if not c.invalid else (0.0, -0.1, 1.5)))
            c.result(f"F.cross_entropy({x}, {tgt}, {w}, ignore_index={ii}, reduction={red}, label_smoothing={ls})")
        else:
            c.result(f"F.nll_loss(F.log_softmax({x}, {1 if len(shape) > 1 else 0}), {tgt}, {w}, "
                     f"ignore_index={ii}, reduction={red})")
    elif k == 2:
        shape = c.shape(max_nd=3)
        x = c.tensor(shape, dtype, kind="u", grad=c.want_grad())
        t = c.tensor(shape if not c.bad(0.3) else _broadcast_shape(c, shape), dtype, kind="u")
        w = c.tensor(_broadcast_shape(c, shape), dtype, kind="p") if c.chance(0.3) else "None"
        c.result(f"F.binary_cross_entropy({x}, {t}, {w}, reduction={red})")
    elif k == 3:
        shape = c.shape(max_nd=3)
        x = c.tensor(shape, dtype, grad=c.want_grad())
        t = c.tensor(shape if not c.bad(0.3) else _broadcast_shape(c, shape), dtype, kind="u")
        w = c.tensor(_broadcast_shape(c, shape), dtype, kind="p") if c.chance(0.3) else "None"
        pw = c.tensor(shape[-1:] if shape else (), dtype, kind="p") if c.chance(0.3) else "None"
        c.result(f"F.binary_cross_entropy_with_logits({x}, {t}, {w}, reduction={red}, pos_weight={pw})")
    elif k == 4:
        shape = c.shape(max_nd=3)
        x = c.tensor(shape, dtype, grad=c.want_grad())
        t = c.tensor(shape if not c.bad(0.3) else _broadcast_shape(c, shape), dtype)
        fn = c.pick(("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"))
        extra = ""
        if fn == "smooth_l1_loss" and c.chance(0.5):
            extra = f", beta={lit(c.pick((0.0, 0.5, 2.0)))}"
        elif fn == "huber_loss" and c.chance(0.5):
            extra = f", delta={lit(c.pick((0.5, 2.0)))}"
        c.result(f"F.{fn}({x}, {t}, reduction={red}{extra})")
    else:
        shape = c.shape(min_nd=1, max_nd=3)
        x = c.tensor(shape, dtype, grad=c.want_grad())
        t = c.tensor(shape, dtype, kind="u")
        j = c.r.randrange(3)
        if j == 0:
            r2 = red if c.chance(0.8) else "'batchmean'"
            c.result(f"F.kl_div(F.log_softmax({x}, -1), {t}, reduction={r2}, log_target={c.chance(0.3)})")
        elif j == 1:
            c.result(f"F.cosine_similarity({x}, {t}, {c.dim_arg(len(shape))})")
        else:
            c.result(f"F.normalize({x}, {lit(c.pick((2.0, 1.0, float('inf'))))}, {c.dim_arg(len(shape))})")
    c.backward()


@spec("linalg", covers=("matmul", "mm", "bmm", "addmm", "linear"), weight=2.5)
def g_linalg(c):
    dtype = c.fdtype()
    M, K, N = (c.pick((0, 1, 2, 3, 7, 8, 33)) for _ in range(3))
    Kb = K if not c.bad(0.4) else K + 1
    c.tol = "gemm"
    k = c.r.randrange(6)
    g = c.want_grad()
    if k == 0:
        a = c.tensor((M, K), dtype, grad=g)
        b = c.tensor((Kb, N), dtype if not c.bad(0.3) else c.dtype())
        c.result(f"L.mm({a}, {b})" if c.chance(0.5) else f"{a}.mm({b})")
    elif k == 1:
        B = c.small(0, 3)
        a = c.tensor((B, M, K), dtype, grad=g)
        b = c.tensor((B if not c.bad(0.3) else B + 1, Kb, N), dtype)
        c.result(f"L.bmm({a}, {b})")
    elif k == 2:
        inp = c.tensor(_broadcast_shape(c, (M, N)), dtype)
        a = c.tensor((M, K), dtype, grad=g)
        b = c.tensor((Kb, N), dtype)
        c.result(f"L.addmm({inp}, {a}, {b}, beta={lit(c.pick((1.0, 0.0, 0.5)))}, alpha={lit(c.pick((1.0, -2.0)))})")
    elif k == 3:
        lead = c.shape(max_nd=2, max_numel=50)
        x = c.tensor(tuple(lead) + (K,), dtype, grad=g)
        w = c.tensor((N, Kb), dtype)
        bias = c.tensor((N,), dtype) if c.chance(0.5) else "None"
        c.result(f"F.linear({x}, {w}, {bias})")
    else:
        shapes = c.pick((((K,), (Kb,)), ((K,), (Kb, N)), ((M, K), (Kb,)), ((2, M, K), (Kb, N)),
                         ((M, K), (3, Kb, N)), ((2, 1, M, K), (3, Kb, N)), ((M, K), (Kb, N))))
        a = c.tensor(shapes[0], dtype, grad=g)
        b = c.tensor(shapes[1], dtype if not c.bad(0.2) else c.dtype())
        c.result(f"L.matmul({a}, {b})" if c.chance(0.5) else f"{a} @ {b}")
    c.backward()


@spec("attention", covers=("scaled_dot_product_attention",), weight=2)
def g_attention(c):
    dtype = c.fdtype()
    lead = list(c.shape(max_nd=2, max_numel=12))
    L_, S_ = c.pick((0, 1, 2, 5, 7, 33)), c.pick((0, 1, 3, 7, 33))
    E, Ev = c.pick((1, 2, 4, 8)), c.pick((1, 3, 4))
    if c.bad(0.2):
        E = 0    # head dim 0: known SIGFPE
        c.tags.add("sdpa_e0")
    Ek = E if not c.bad(0.3) else E + 1
    g = c.want_grad()
    q = c.tensor(tuple(lead + [L_, E]), dtype, grad=g)
    kk = c.tensor(tuple(lead + [S_, Ek]), dtype)
    v = c.tensor(tuple(lead + [S_ if not c.bad(0.2) else S_ + 1, Ev]), dtype)
    c.tol = "gemm"
    args = f"{q}, {kk}, {v}"
    causal = c.chance(0.3)
    if c.chance(0.4):
        mshape = _broadcast_shape(c, tuple(lead + [L_, S_]))
        m = c.tensor(mshape, c.pick(("bool", dtype)) if not c.bad(0.2) else c.dtype())
        args += f", attn_mask={m}"
        causal = causal and c.invalid
    if causal:
        args += ", is_causal=True"
    if c.chance(0.3):
        args += f", scale={lit(c.pick((0.5, 1.0, 0.0, -1.0)))}"
    if c.chance(0.15):
        args += f", dropout_p={lit(c.pick((0.5, 1.0)) if not c.invalid else c.pick((-0.5, 2.0)))}"
        c.comparable = False
    if c.chance(0.15):
        c.comparable = False
        args += f", window_size={lit((c.small(-1, 3), c.small(-1, 3)))}"
    c.result(f"F.scaled_dot_product_attention({args})")
    c.backward()


@spec("interpolate", covers=("interpolate",), weight=1.5)
def g_interpolate(c):
    k = c.r.randint(1, 3)
    mode = c.pick(("nearest", "nearest-exact" if c.invalid else "nearest", "area",
                   {1: "linear", 2: "bilinear", 3: "trilinear"}[k],
                   "bicubic" if k == 2 else "nearest"))
    if c.bad(0.2):
        mode = c.pick(("linear", "bilinear", "bicubic", "trilinear", "bogus"))
    sp = _spatial(c, k, 1, 9 if k < 3 else 5)
    shape = [c.small(1, 2), c.small(1, 3)] + sp
    if c.bad(0.2):
        shape = shape[1:]
    x = c.tensor(tuple(shape), c.fdtype(), grad=c.want_grad())
    c.tol = "red"
    args = f"{x}"
    if c.chance(0.5):
        size = [c.r.randint(1, 12) for _ in range(k)]
        size = _corrupt_list(c, size, (0, -1, 2**31, 2**40, 2**62))
        args += f", size={_tuple_or_int(c, size)}"
    else:
        sf = [c.pick((0.5, 1.0, 2.0, 1.7, 3.0)) for _ in range(k)]
        sf = _corrupt_list(c, sf, (0.0, -1.0, float("nan"), float("inf"), 1e10, 2.0**40))
        args += f", scale_factor={_tuple_or_int(c, sf)}"
        if c.chance(0.3):
            args += f", recompute_scale_factor={c.chance(0.5)}"
    args += f", mode={mode!r}"
    if mode in ("linear", "bilinear", "bicubic", "trilinear") and c.chance(0.5):
        args += f", align_corners={c.chance(0.5)}"
    if mode in ("bilinear", "bicubic") and c.bad(0.2):
        args += ", antialias=True"
    c.result(f"F.interpolate({args})")
    c.backward()


@spec("rnn", covers=("rnn_layer",), weight=0.7)
def g_rnn(c):
    c.comparable = False
    mode = c.pick(("RNN_TANH", "RNN_RELU", "LSTM", "GRU")) if not c.bad(0.2) else "BOGUS"
    gates = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}.get(mode, 1)
    T, B, I, H = c.small(0, 5), c.small(0 if c.chance(0.1) else 1, 3), c.small(1, 4), c.small(1, 4)
    if c.bad(0.2):
        H = c.pick((0, H + 1))
    dtype = c.fdtype()
    x = c.tensor((T, B, I), dtype, grad=c.want_grad())
    h = c.tensor((B, H), dtype)
    cx = c.tensor((B, H), dtype) if mode == "LSTM" or c.bad(0.2) else "None"
    wih = c.tensor((gates * H, I + (1 if c.bad(0.2) else 0)), dtype)
    whh = c.tensor((gates * H, H), dtype)
    bih = c.tensor((gates * H,), dtype) if c.chance(0.5) else "None"
    bhh = c.tensor((gates * H,), dtype) if c.chance(0.5) else "None"
    c.result(f"L.rnn_layer({x}, {h}, {cx}, {wih}, {whh}, {bih}, {bhh}, {mode!r}, {c.chance(0.5)})")
    if c.leaves:
        c.emit("out = out[0]")
        c.backward()


# ---- creation, randomness, copies, misc ------------------------------------------------------------
def _size_list(c, max_numel=100_000):
    if c.bad(0.6):
        c.tags.add("factory_huge")
        s = list(c.shape(max_nd=3, max_numel=1000))
        pos = c.r.randint(0, len(s))
        s.insert(pos, c.huge())
        if c.chance(0.3):
            s = [2**31, 2**31] if c.chance(0.5) else [2**32, 2**32, 2**32]
        return tuple(s)
    return c.shape(max_nd=4, max_numel=max_numel)


@spec("factory", covers=("zeros", "ones", "full", "arange", "linspace", "eye", "rand", "randn", "randint",
                         "randperm"), weight=2.5)
def g_factory(c):
    c.tol = "exact"
    size = _size_list(c)
    dt = f", dtype=L.{c.dtype()}" if c.chance(0.4) else ""
    k = c.r.randrange(13)
    if k == 0:
        fn = c.pick(("zeros", "ones", "empty"))
        if fn == "empty":
            c.tol = "shape"
        c.result(f"L.{fn}({lit(size)}{dt})" if c.chance(0.5) or not size else f"L.{fn}(*{lit(size)}{dt})")
    elif k == 1:
        val = c.pick((1.5, 0, -3, True, float("nan"), float("inf"), 2**40, 2**62))
        c.result(f"L.full({lit(size)}, {lit(val)}{dt})")
    elif k == 2:
        c.tol = "shape"
        c.result(f"L.{c.pick(('rand', 'randn'))}({lit(size)}{dt if 'int' not in dt and 'bool' not in dt else ''})")
    elif k == 3:
        c.tol = "shape"
        lo = c.pick((0, -5, 3, 2**62, -2**63))
        hi = lo + c.pick((1, 10, 0, -1, 2**40)) if lo < 2**62 else 2**62 + 5
        c.result(f"L.randint({lo}, {hi}, {lit(size)}{dt if 'float' not in dt and 'bool' not in dt else ''})")
    elif k == 4:
        c.tol = "shape"
        n = c.small(0, 50) if not c.bad() else c.huge()
        if n >= 2**31:
            c.tags.add("factory_huge")
        c.result(f"L.randperm({n})")
    elif k == 5:
        c.tol = "ew"
        start = c.pick((0, -3, 1.5, 0.1, 2**62, -2**63))
        end = c.pick((10, 0, -1, 7.25, 1e6, 2**31, 2**62, float("inf"), float("nan")))
        step = c.pick((1, 2, -1, 0.3, 0.1, 3)) if not c.bad() else c.pick((0, 1e-300, -1e-9, float("nan"), 2**62))
        if not c.invalid:
            start, end = c.pick(((0, 10), (-3, 7.25), (1.5, -4.0), (0, 0), (0.1, 3.3)))
            step = c.pick((1, 2, 0.3, 0.1)) if end >= start else c.pick((-1, -0.5))
        elif isinstance(step, (int, float)) and step and math.isfinite(start) and math.isfinite(end) and \
                math.isfinite(step) and abs((end - start) / step) >= 2**31:
            c.tags.add("factory_huge")
        c.result(f"L.arange({lit(start)}, {lit(end)}, {lit(step)}{dt if 'bool' not in dt else ''})")
    elif k == 6:
        c.tol = "ew"
        steps = c.small(0, 20) if not c.bad() else c.huge()
        if steps >= 2**31:
            c.tags.add("factory_huge")
        c.result(f"L.linspace({lit(c.pick((0.0, -1.0, 3)))}, {lit(c.pick((1.0, 10, -2.5)))}, {steps}"
                 f"{dt if 'bool' not in dt and 'int' not in dt else ''})")
    elif k == 7:
        n = c.small(0, 6) if not c.bad() else c.huge()
        m = c.small(0, 6) if not c.bad() else c.huge()
        if max(n, m) >= 2**31:
            c.tags.add("factory_huge")
        c.result(f"L.eye({n}, {m}{dt})" if c.chance(0.7) else f"L.eye({n}{dt})")
    elif k == 8:
        x = c.tensor(c.shape(max_nd=3, max_numel=1000), c.dtype())
        fn = c.pick(("zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like"))
        if fn in ("empty_like", "rand_like", "randn_like"):
            c.tol = "shape"
        dt2 = dt if fn not in ("rand_like", "randn_like") else ""
        c.result(f"L.{fn}({x}, 2.5{dt2})" if fn == "full_like" else f"L.{fn}({x}{dt2})")
    elif k == 9:
        x = c.tensor(c.shape(max_nd=2, max_numel=100), c.dtype())
        fn = c.pick(("new_zeros", "new_ones", "new_full", "new_empty"))
        if fn == "new_empty":
            c.tol = "shape"
        c.result(f"{x}.new_full({lit(size)}, {lit(c.pick((1.5, -2, 0)))})" if fn == "new_full" else
                 f"{x}.{fn}({lit(size)})")
    elif k == 10:
        data = c.pick(([], [[]], [[1, 2], [3, 4]], [1.5, float("nan")], [True, False], [[1, 2], [3]], 3.0, 7,
                       [2**63 - 1], [2**64], [[1.0], [2.0, 3.0]], [1, 2.5, True], [[[0.5]]]))
        c.result(f"L.tensor({lit(data)}{dt})")
    elif k == 11:
        c.comparable = False
        sh = c.shape(max_nd=3, max_numel=1000)
        seed = c.r.randrange(1 << 30)
        npdt = c.pick(("float32", "float64", "int64", "int32", "bool", "float16", "uint8", "complex64", "int16"))
        sl = c.pick(("", "[::-1]", ".T", "[..., ::2]", "[None]"))
        c.result(f"L.from_numpy(np.random.default_rng({seed}).standard_normal({lit(sh)}).astype({npdt!r}){sl})"
                 if c.chance(0.5) else
                 f"L.as_tensor(np.random.default_rng({seed}).standard_normal({lit(sh)}).astype({npdt!r}){sl})")
    else:
        c.tol = "ew"
        c.result(f"L.arange({c.small(0, 30)}{dt if 'bool' not in dt else ''}).reshape(-1, 1)")


@spec("random", covers=("multinomial", "dropout"), weight=1)
def g_random(c):
    c.tol = "shape"
    k = c.r.randrange(3)
    if k == 0:
        shape = c.shape(min_nd=1, max_nd=2, max_numel=2000)
        p = c.tensor(shape, c.fdtype(), kind=c.pick(("u", "u", "n", "s")))
        n = c.small(0, 5) if not c.bad() else c.huge()
        c.result(f"L.multinomial({p}, {n}, {c.chance(0.5)})" if c.chance(0.5) else f"{p}.multinomial({n})")
    elif k == 1:
        x = c.tensor(c.shape(), c.fdtype(), grad=c.want_grad())
        p = lit(c.pick((0.0, 0.5, 1.0, 0.1)) if not c.invalid else c.pick((-0.1, 1.5, float("nan"))))
        c.result(f"F.dropout({x}, {p}, {c.chance(0.7)})")
        c.backward()
    else:
        x = c.tensor(c.shape(min_nd=2, max_nd=5), c.fdtype())
        fn = c.pick(("dropout1d", "dropout2d", "dropout3d"))
        c.result(f"F.{fn}({x}, {lit(c.pick((0.0, 0.5, 1.0)))}, {c.chance(0.7)})")


@spec("copy", covers=("copy_", "contiguous", "clone", "to_dtype", "to_device", "detach", "fill_", "zero_"),
      weight=1.5)
def g_copy(c):
    shape = c.shape()
    dtype = c.dtype()
    x = c.tensor(shape, dtype, grad=c.chance(0.2))
    c.tol = "exact"
    k = c.r.randrange(10)
    if k == 0:
        c.result(f"{x}.contiguous()" if c.chance(0.5) or c.diff else f"L.contiguous({x})")
    elif k == 1:
        c.result(f"{x}.clone()" if c.chance(0.5) else f"L.clone({x})")
    elif k == 2:
        c.result(f"{x}.to(L.{c.dtype()})" if c.chance(0.7) else f"{x}.to('cpu', L.{c.dtype()})")
        if dtype in FLOATS:
            c.tol = "ew"
            c.no_dups = False
        if "s" in c.kinds:
            c.comparable = False   # nan/inf -> int conversion is undefined behaviour in C too
    elif k == 3:
        c.result(c.pick((f"{x}.float()", f"{x}.double()", f"{x}.long()", f"{x}.int()", f"{x}.bool()",
                         f"{x}.type_as({c.tensor((), c.dtype())})")))
        c.comparable = c.comparable and dtype not in FLOATS
    elif k == 4:
        c.result(f"{x}.detach()")
    elif k == 5:
        c.result(c.pick((f"{x}.tolist()", f"{x}.numpy().sum()", f"{x}.item()", f"repr({x})[:0]",
                         f"float({x})", f"int({x})", f"bool({x})", f"len({x})", f"{x}.numel()")))
        c.comparable = False
    elif k == 6:
        if not shape:
            c.tags.add("size_0d")
        c.result(f"({x}.size({c.dim_arg(len(shape))}), {x}.stride({c.dim_arg(len(shape))}))")
        c.comparable = False
    elif k == 7:
        c.comparable = False
        c.emit("import io")
        c.emit("buf = io.BytesIO()")
        c.emit(f"L.save({{'t': {x}, 'v': {x}.reshape(-1)[:1]}}, buf)")
        c.emit("buf.seek(0)")
        c.result("L.load(buf)")
    elif k == 8:
        c.result(f"({x}.clone().fill_({lit(c.pick((2.5, -1, float('nan'))))}), {x}.clone().zero_())")
    else:
        src = c.tensor(_broadcast_shape(c, shape), c.dtype())
        c.result(f"L.zeros({lit(shape)}, dtype=L.{dtype}).copy_({src})")


@spec("misc", covers=(), weight=0.5)
def g_misc(c):
    c.comparable = False
    c.tol = "shape"
    k = c.r.randrange(6)
    if k == 5:
        # fork after a parallel op: the child must be able to run parallel ops too
        c.tags.add("fork_after_parallel")
        n = c.pick((1000, 100_000, 1_000_000))
        c.emit("import os")
        c.emit(f"L.ones({n}).sum()")
        c.emit("pid = os.fork()")
        c.emit(f"if pid == 0:\n    try:\n        L.ones({n}).sum()\n    finally:\n        os._exit(0)")
        c.emit("_, st = os.waitpid(pid, 0)")
        c.emit("if os.WIFSIGNALED(st):\n    os.kill(os.getpid(), os.WTERMSIG(st))   # the child's crash is ours")
        c.result("st")
        return
    if k == 0:
        n = c.small(1, 3) if not c.bad() else c.pick((0, -1, 64, 65, 2**31 - 1, 2**31, 2**62, 2**63 - 1))
        if n >= 2**31:
            c.tags.add("threads_huge")
        c.emit(f"L.set_num_threads({n})")
        c.result("L.get_num_threads()")
    elif k == 1:
        s = c.pick((0, 1, 2**32, 2**63 - 1, -1, 2**64, -2**63))
        c.emit(f"L.manual_seed({s})")
        c.result("L.rand(3)")
    elif k == 2:
        a, b = c.dtype(), c.dtype()
        c.result(f"(L.promote_types(L.{a}, L.{b}), L.result_type({c.tensor((2,), a)}, {lit(c.pick((1, 1.5, True)))}))")
    elif k == 3:
        x = c.tensor(c.shape(max_nd=2, max_numel=100), "float32", grad=True, layout="contig")
        depth = c.pick((1, 10, 100, 1000, 100_000 if c.chance(0.1) else 10))
        if depth >= 100_000:
            c.tags.add("deep_graph")
        c.emit(f"y = {x}")
        c.emit(f"for _ in range({depth}):\n    y = y * 1.0001 + 0.0")
        c.emit("y.sum().backward()")
        c.result(f"{x}.grad")
    else:
        x = c.tensor(c.shape(max_nd=2, max_numel=100), "float32", layout="contig")
        c.emit(f"with L.no_grad():\n    y = {x} * 2")
        c.result(f"(y.requires_grad, {x}.requires_grad_().sum().backward())")


@spec("functional_extra", covers=("prelu",), weight=0.7)
def g_functional_extra(c):
    """The functionals not drawn elsewhere: glu, prelu, dice_loss, upsample."""
    dtype = c.fdtype()
    c.tol = "red"
    k = c.r.randrange(4)
    if k == 0:
        shape = c.shape(min_nd=1)
        x = c.tensor(shape, dtype, grad=c.want_grad())
        c.result(f"F.glu({x}, {c.dim_arg(len(shape))})")
    elif k == 1:
        shape = c.shape(min_nd=1, max_nd=4)
        x = c.tensor(shape, dtype, grad=c.want_grad())
        n = c.pick((1, shape[1] if len(shape) > 1 else 1, 2))
        c.result(f"F.prelu({x}, {c.tensor((n,), dtype)})")
    elif k == 2:
        c.comparable = False
        shape = c.nz_shape(min_nd=2, max_nd=4)
        x = c.tensor(shape, dtype, grad=c.want_grad())
        if c.chance(0.5):
            t = c.index_tensor((shape[0],) + tuple(shape[2:]), shape[1])
            c.result(f"F.dice_loss({x}, {t}, multiclass=True)")
        else:
            t = c.tensor(shape, dtype, kind="u")
            c.result(f"F.soft_dice_loss({x}, {t}, squared_denominator={c.chance(0.5)})")
    else:
        c.comparable = False
        x = c.tensor((1, c.small(1, 3), c.small(1, 6), c.small(1, 6)), dtype)
        c.result(f"F.upsample({x}, scale_factor={c.pick((2, 0.5, 3))}, mode={c.pick(('nearest', 'bilinear'))!r})")
    c.backward()


AUTOCAST_INNER = ("linalg", "conv", "softmax", "loss", "norm", "attention", "binary", "reduce")


@spec("autocast", covers=(), weight=1)
def g_autocast(c):
    """Another spec's call run under CPU autocast (bfloat16) or on float16/bfloat16 tensors."""
    c.comparable = False
    inner = c.pick(AUTOCAST_INNER)
    sub = type(c)(c.r, c.invalid, c.diff)
    SPECS[inner].gen(sub)
    c.tags |= sub.tags
    if c.chance(0.6):
        c.emit(f"with L.autocast('cpu', dtype=L.{c.pick(('bfloat16', 'float16'))}):")
        c.lines.extend("    " + ln for ln in "\n".join(sub.lines).splitlines())
    else:
        low = c.pick(("half", "bfloat16"))
        for ln in sub.lines:
            c.emit(ln)
            # every float tensor the call makes (not the grad leaves) becomes float16 / bfloat16
            if ln.startswith("x") and "= L.tensor(" in ln and "dtype=L.float" in ln and "requires_grad" not in ln:
                name = ln.split(" = ")[0]
                c.emit(f"{name} = {name}.{low}()")


@spec("metadata", covers=(), weight=0.5)
def g_metadata(c):
    """Tensor metadata and small methods on odd layouts."""
    c.comparable = False
    x = c.tensor(c.shape(), c.dtype(), grad=c.chance(0.3))
    c.result(c.pick((f"({x}.dim(), {x}.ndim, {x}.shape, {x}.dtype, {x}.device, {x}.is_contiguous())",
                     f"({x}.element_size(), {x}.data_ptr() - {x}.untyped_storage_ptr(), {x}.is_leaf)",
                     f"({x}.is_floating_point(), {x}.is_cuda, {x}.is_pinned(), {x}.type())",
                     f"{x}.cpu().half().float()", f"{x}.bfloat16().double()", f"{x}.new_tensor([1, 2])",
                     f"{x}.detach_()", f"{x}.data", f"L.concatenate([{x}, {x}])", f"L.is_tensor({x})",
                     f"L.from_dlpack({x}.detach())", f"{x}.to(L.float16).sum()",
                     f"({x}.requires_grad_(), {x}.retain_grad(), {x}.retains_grad)",
                     f"L.tensor({x}.tolist(), dtype={x}.dtype)")))


# ---- box ops (dlcore.ops: torchvision's, not in torch, so never compared) ---------------------------
from .gen import DIM_SIZES  # noqa: E402

BOX_PAIRWISE = ("box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou")
BOX_LOSSES = ("generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss")


@spec("boxes", covers=("box_iou_elementwise", "nms", "batched_nms"), weight=0.8)
def g_boxes(c):
    """The IoU family and nms / batched_nms on boxes made of a corner and a positive size (corrupted:
    negative sizes, i.e. inverted boxes, nan/inf corners, wrong shapes and dtypes)."""
    c.comparable = False
    c.tol = "shape"
    dtype = c.fdtype()

    def boxes(shape, grad=False):
        xy = c.tensor(tuple(shape) + (2,), dtype, kind="s" if c.chance(0.1) else "u", grad=grad)
        wh = c.tensor(tuple(shape) + (2,), dtype, kind="n" if c.bad(0.3) else "p")
        name = c.var("b")
        c.emit(f"{name} = L.cat([{xy} * 10, {xy} * 10 + {wh}], -1)")
        return f"{name}[..., :3]" if c.bad(0.1) else name

    k = c.r.randrange(3)
    if k == 0:
        a = boxes((c.pick(DIM_SIZES),), grad=c.want_grad())
        b = boxes((c.pick(DIM_SIZES),) if not c.bad(0.1) else (2, 3))
        c.result(f"L.ops.{c.pick(BOX_PAIRWISE)}({a}, {b})")
        c.backward()
    elif k == 1:
        shape = c.shape(max_nd=2, max_numel=2000)
        a = boxes(shape, grad=c.want_grad())
        b = boxes(_broadcast_shape(c, shape))
        red = c.pick(("none", "mean", "sum")) if not c.bad(0.2) else "bogus"
        c.result(f"L.ops.{c.pick(BOX_LOSSES)}({a}, {b}, reduction={red!r}, eps={lit(c.pick((1e-7, 0.0, 1.0)))})")
        c.backward()
    else:
        n = c.pick(DIM_SIZES + (200, 2000))
        b = boxes((n,))
        s = c.tensor((n + (1 if c.bad(0.15) else 0),), dtype if not c.bad(0.2) else c.dtype(),
                     kind=c.pick(("u", "u", "s")))
        thr = lit(c.pick((0.5, 0.5, 0.3, 0.9, 0.0, 1.0, -0.5, float("nan"))))
        if c.chance(0.5):
            c.result(f"L.ops.nms({b}, {s}, {thr})")
        else:
            c.result(f"L.ops.batched_nms({b}, {s}, {c.index_tensor((n,), 4)}, {thr})")


from . import specs_breadth  # noqa: E402,F401  (the torch-namespace functions written in Python)
