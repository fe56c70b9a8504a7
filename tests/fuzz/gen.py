"""Building blocks of the fuzzer's call generators: the per-call context ``Ctx`` that draws
random shapes, dtypes, layouts and argument values and writes them down as Python source.

A generated call is a short piece of source text (a *snippet*) written against three names:
``L`` (the tensor library: ``dlcore``, or ``torch`` in differential mode), ``F`` (its
``nn.functional``) and ``np``, plus the helpers of ``PRELUDE``. The last statement assigns the
result to ``out``. Because the snippet is plain source, the reproducer of a crash is simply
``PRELUDE`` + the snippet, and the differential mode runs the very same text on torch.

Tensors with valid shapes are kept small (``MAX_NUMEL`` elements at most, ~1e5): the huge and
negative sizes of ``HUGE`` only ever go into *arguments* (sizes given to factories, view
shapes, kernel sizes...), never into arrays the fuzzer itself allocates.
"""
import math

A_DEF = '''\
def A(shape, seed, kind="n"):
    """Deterministic numpy data: n normal, s normal with nan/inf, i ints in [-5, 5], p positive,
    u uniform [0, 1), b bool, c class indices in [0, 4)."""
    r = np.random.default_rng(seed)
    if kind == "s":
        a = r.standard_normal(shape)
        u = r.random(shape)
        return np.where(u < 0.15, np.nan, np.where(u < 0.25, np.inf, np.where(u < 0.35, -np.inf, a)))
    return {"n": lambda: r.standard_normal(shape), "i": lambda: r.integers(-5, 6, shape),
            "p": lambda: r.random(shape) + 0.1, "u": lambda: r.random(shape),
            "b": lambda: r.random(shape) < 0.5, "c": lambda: r.integers(0, 4, shape)}[kind]()
'''
S_DEF = '''\
def S(t):
    """(shape, strides of the dims longer than 1): what a view's layout must agree on."""
    return tuple(t.shape), tuple(st if sz > 1 else None for sz, st in zip(t.shape, t.stride()))
'''
# Executed once per library; reproducers start with the parts they use (and ``import dlcore as L``).
PRELUDE = "import numpy as np\n" + A_DEF + S_DEF


def prelude_for(source):
    """The part of PRELUDE that `source` needs."""
    return "import numpy as np\n" + (A_DEF if "A(" in source else "") + (S_DEF if "S(" in source else "")


MAX_NUMEL = 100_000
FLOATS = ("float32", "float64")
DTYPES = ("float32", "float64", "int64", "int32", "bool")
# Sizes that must be rejected (or, where legitimately accepted, fail to allocate).
HUGE = (2**31, 2**32, 2**40, 2**62, 2**63 - 1, -1, -2, -2**31, -2**63, 2**63, 2**64)
DIM_SIZES = (0, 1, 1, 2, 2, 3, 3, 4, 5, 7, 8, 33)


def lit(v):
    """Python source for a value (nan/inf as float('...'), tuples and lists recursively)."""
    if isinstance(v, float):
        if math.isnan(v):
            return "float('nan')"
        if math.isinf(v):
            return "float('inf')" if v > 0 else "-float('inf')"
        return repr(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(lit(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(lit(x) for x in v) + "]"
    return repr(v)


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


class Ctx:
    """State of one generated call. ``invalid``: this call may draw invalid arguments (never in
    differential mode, which wants results to compare)."""

    def __init__(self, rng, invalid, diff):
        self.r = rng
        self.invalid = invalid
        self.diff = diff
        self.lines = []
        self.nvars = 0
        self.tol = "exact"          # comparison class: exact / ew / red / gemm / shape
        self.comparable = True      # False: dlcore-only call (no torch counterpart)
        self.no_dups = False        # avoid layouts/values with repeated elements (index outputs)
        self.leaves = []            # tensors created with requires_grad=True
        self.kinds = set()          # value kinds drawn (see PRELUDE's A)
        self.tensor_index = False   # an index expression holds tensor/list indices
        self.tags = set()           # conditions named by known.KNOWN (known crashes)
        self.huge_index = False     # an index tensor holds values beyond 2**31

    # ---- random draws ---------------------------------------------------------------------
    def bad(self, p=0.5):
        """True when this (invalid-mode) call should corrupt the argument at hand."""
        return self.invalid and self.r.random() < p

    def pick(self, seq):
        return seq[self.r.randrange(len(seq))]

    def chance(self, p):
        return self.r.random() < p

    def huge(self):
        return self.pick(HUGE)

    def small(self, lo=0, hi=5):
        return self.r.randint(lo, hi)

    def size_arg(self, lo=0, hi=5):
        """A size-like integer: usually in [lo, hi], when corrupted one of HUGE."""
        return self.huge() if self.bad() else self.small(lo, hi)

    def dim_arg(self, ndim):
        """A dim index: valid (negative or not) or, when corrupted, out of range/huge."""
        if self.bad(0.35):
            return self.pick((ndim, -ndim - 1, ndim + 3, 2**31, -2**63, 2**63 - 1))
        n = max(ndim, 1)
        return self.r.randrange(-n, n)

    def dims_arg(self, ndim, allow_none=True):
        """None, one dim, or a tuple of distinct dims (corrupted: repeated / out of range)."""
        u = self.r.random()
        if allow_none and u < 0.25:
            return None
        if u < 0.6:
            return self.dim_arg(ndim)
        k = self.r.randint(0, ndim) if ndim else 0
        dims = self.r.sample(range(ndim), k) if ndim else []
        dims = [d - ndim if self.chance(0.3) else d for d in dims]
        if self.bad(0.4):
            dims.append(dims[0] if dims else ndim + 1)
        return tuple(dims)

    def dtype(self, choices=DTYPES):
        return self.pick(choices)

    def fdtype(self):
        """A float dtype, or (corrupted) any dtype."""
        return self.dtype(DTYPES) if self.bad(0.3) else self.dtype(FLOATS)

    def shape(self, min_nd=0, max_nd=4, nd=None, max_numel=MAX_NUMEL):
        nd = self.r.randint(min_nd, max_nd) if nd is None else nd
        for _ in range(20):
            sh = [self.pick(DIM_SIZES) for _ in range(nd)]
            if not self.diff and self.chance(0.08):
                sh = [max(s, 1) for s in sh]
            if numel(sh) <= max_numel:
                return tuple(sh)
        return tuple([1] * nd)

    def nz_shape(self, **kw):
        """A shape without zero-size dims (zero-size inputs are still drawn elsewhere)."""
        return tuple(max(s, 1) for s in self.shape(**kw))

    # ---- source emission ------------------------------------------------------------------
    def emit(self, line):
        self.lines.append(line)

    def var(self, prefix="x"):
        self.nvars += 1
        return f"{prefix}{self.nvars}"

    def result(self, expr):
        self.emit(f"out = {expr}")

    def tensor(self, shape, dtype="float32", kind=None, layout=None, grad=False, name=None,
               allow_overlap=True):
        """Emits a tensor of `shape`/`dtype` in a random memory layout; returns its name."""
        shape = tuple(shape)
        if kind is None:
            if dtype in FLOATS:
                kind = "s" if self.chance(0.12) else "n"
            elif dtype == "bool":
                kind = "b"
            else:
                kind = "i"
        self.kinds.add(kind)
        nd = len(shape)
        if layout is None:
            options = ["contig", "contig", "offset"]
            if nd >= 1:
                options += ["step", "step"]
            if nd >= 2:
                options += ["T", "T", "permute"]
            if nd >= 1 and not self.no_dups:
                options += ["expand"]
                if allow_overlap and not grad:   # as_strided is not differentiable in dlcore
                    options += ["overlap"]
            layout = self.pick(options)
        if (layout in ("T", "permute") and nd < 2) or (layout in ("step", "expand", "overlap") and nd < 1):
            layout = "contig"
        seed = self.r.randrange(1 << 30)
        grad = grad and dtype in FLOATS
        rg = ", requires_grad=True" if grad else ""
        name = name or self.var()

        def make(base_shape):
            return f"L.tensor(A({lit(tuple(base_shape))}, {seed}, {kind!r}), dtype=L.{dtype}{rg})"

        if layout == "contig" or nd == 0:
            src, tail = make(shape), ""
        elif layout == "offset":
            k = self.r.randint(1, 3)
            src, tail = make((numel(shape) + k,)), f"[{k}:].view({lit(tuple(shape))})"
        elif layout == "step":
            d = self.r.randrange(nd)
            st = self.r.randint(2, 3)
            base = list(shape)
            base[d] = shape[d] * st
            idx = ", ".join([":"] * d + [f"::{st}"])
            src, tail = make(base), f"[{idx}]"
        elif layout == "T":
            i, j = self.r.sample(range(nd), 2)
            base = list(shape)
            base[i], base[j] = base[j], base[i]
            src, tail = make(base), f".transpose({i}, {j})"
        elif layout == "permute":
            perm = list(range(nd))
            self.r.shuffle(perm)
            base = [0] * nd
            for k, p in enumerate(perm):
                base[p] = shape[k]
            src, tail = make(base), f".permute({lit(tuple(perm))})"
        elif layout == "expand":
            base = [1 if self.chance(0.5) else s for s in shape]
            src, tail = make(base), f".expand({lit(tuple(shape))})"
        else:  # overlap: as_strided over a small buffer, strides in 0..2
            strides = [self.r.randint(0, 2) for _ in shape]
            need = 1 + sum((s - 1) * st for s, st in zip(shape, strides)) if numel(shape) else 1
            src = make((need,))
            tail = f".as_strided({lit(tuple(shape))}, {lit(tuple(strides))})"
        if grad and tail:
            base = self.var("leaf")
            self.emit(f"{base} = {src}")
            self.leaves.append(base)
            self.emit(f"{name} = {base}{tail}")
        else:
            self.emit(f"{name} = {src}{tail}")
            if grad:
                self.leaves.append(name)
        return name

    def index_tensor(self, shape, high):
        """An int64 tensor of indices in [0, high) (corrupted: out of range / negative)."""
        name = self.var("i")
        seed = self.r.randrange(1 << 30)
        lo, hi = 0, max(high, 1)
        if self.bad(0.4):
            lo, hi = self.pick(((-high - 3, 0), (high, high + 3), (-2**40, 2**40), (2**62, 2**62 + 1)))
            self.huge_index = self.huge_index or hi > 2**31
        self.emit(f"{name} = L.tensor(np.random.default_rng({seed}).integers({lo}, {hi}, "
                  f"{lit(tuple(shape))}), dtype=L.int64)")
        return name

    def backward(self, out="out"):
        """When grad leaves exist, back-propagate sum(out) and return the grads too."""
        if not self.leaves:
            return
        self.emit(f"if {out}.requires_grad:\n    {out}.sum().backward()")
        grads = ", ".join(f"{v}.grad" for v in self.leaves)
        self.emit(f"out = ({out}, {grads})")

    def want_grad(self):
        return self.chance(0.25)

    def source(self):
        return "\n".join(self.lines)
