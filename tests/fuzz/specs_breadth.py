"""Specs of the torch-namespace functions written in Python on top of the registered ops
(python/dlcore/_ops_*.py, dlcore.linalg, the newer nn.functional losses and vision functions).

They register into ``specs.SPECS`` when this module is imported. These functions cover no
registered op of their own (``covers`` stays empty); each spec draws valid calls and, in invalid
mode, wrong dtypes, mismatched shapes, out-of-range dims and sizes from ``gen.HUGE``.
"""
from .gen import DIM_SIZES, FLOATS, lit, numel
from .specs import spec


def _dtype_or_bad(c, dtype, choices=("int64", "bool", "float32", "float64")):
    return c.pick(choices) if c.bad(0.2) else dtype


def _float(c, shape, dtype=None, grad=False, kind=None, no_dups=False, finite=False):
    """A tensor of a float dtype (by default); `finite`: no NaN/inf data."""
    kind = kind or ("n" if finite else None)
    old = c.no_dups
    c.no_dups = c.no_dups or no_dups
    name = c.tensor(shape, dtype or c.fdtype(), kind=kind, grad=grad)
    c.no_dups = old
    return name


def _reduction(c):
    return c.pick(("mean", "sum", "none")) if not c.bad(0.15) else c.pick(("bogus", "elementwise_mean"))


def _perturb(c, shape):
    """`shape`, or (corrupted) one dim changed / one dim dropped."""
    shape = list(shape)
    if c.bad(0.35) and shape:
        i = c.r.randrange(len(shape))
        if c.chance(0.7):
            shape[i] = shape[i] + c.pick((1, 2, 3))
        else:
            del shape[i]
    return tuple(shape)


def _backward(c):
    """Like Ctx.backward, for results that may be tuples (of tensors and non-tensors)."""
    if not c.leaves:
        return
    c.emit("parts = [t for t in (out if isinstance(out, (tuple, list)) else (out,)) "
           "if getattr(t, 'requires_grad', False)]")
    c.emit("if parts:\n    sum(t.sum() for t in parts).backward()")
    grads = ", ".join(f"{v}.grad" for v in c.leaves)
    c.emit(f"out = (out, {grads})")


# ---- products ---------------------------------------------------------------------------------------
EINSUM = (("ij,jk->ik", 2, 2), ("bij,bjk->bik", 3, 3), ("ii->i", 2, None), ("ij->ji", 2, None),
          ("i,i->", 1, 1), ("i,j->ij", 1, 1), ("...ij,...jk->...ik", 3, 3), ("ij->", 2, None),
          ("bi,bi->b", 2, 2), ("ijk->kji", 3, None), ("ii", 2, None), ("ij,kj", 2, 2))


@spec("breadth_products", weight=2)
def g_products(c):
    """einsum, tensordot, kron, cross, dot/inner/outer/mv, cdist/pdist, cosine_similarity."""
    def fl(*args, **kw):   # data without NaN/inf when compared: LAPACK and torch follow no common rule
        return _float(c, *args, finite=c.diff, **kw)

    dtype = c.dtype(FLOATS) if not c.bad(0.15) else c.dtype()
    grad = c.want_grad()
    c.tol = "gemm"
    k = c.r.randrange(8)
    n, m, p = (c.pick(DIM_SIZES[:10]) for _ in range(3))
    if k == 0:
        eq, na, nb = c.pick(EINSUM)
        letters = {}

        def shape_for(sub):
            sub = sub.replace("...", "")
            sh = []
            for ch in sub:
                letters.setdefault(ch, c.pick(DIM_SIZES[:9]))
                sh.append(letters[ch])
            if "..." in eq:
                sh = [2] + sh
            return tuple(sh)

        ins = eq.split("->")[0].split(",")
        if "..." in eq:
            ins = [s.replace("...", "") for s in ins]
        a = fl(_perturb(c, shape_for(ins[0])), dtype, grad)
        args = [a]
        if nb is not None:
            args.append(fl(_perturb(c, shape_for(ins[1])), _dtype_or_bad(c, dtype)))
        if c.bad(0.1):
            eq = c.pick(("ij,jk->il", "i,i,i->i", "ij->ij->i", "iJ->", "ab->c", "..i"))
        if c.chance(0.3):
            c.result(f"L.einsum({eq!r}, [{', '.join(args)}])")
        else:
            c.result(f"L.einsum({eq!r}, {', '.join(args)})")
    elif k == 1:
        sa = c.shape(max_nd=4, max_numel=3000)
        nd = c.r.randint(0, len(sa))
        sb = sa[len(sa) - nd:] + c.shape(max_nd=2, max_numel=50)
        if c.chance(0.3) or c.invalid:
            dims = nd if not c.bad(0.3) else c.pick((len(sa) + 1, -1, 2**40))
        else:
            dims = (list(range(len(sa) - nd, len(sa))), list(range(nd)))
            if c.bad(0.3) and nd:
                dims = (dims[0], dims[1][::-1] + [0])
        a = fl(sa, dtype, grad)
        b = fl(_perturb(c, sb), _dtype_or_bad(c, dtype))
        c.result(f"L.tensordot({a}, {b}, dims={lit(dims)})")
    elif k == 2:
        sa = c.shape(max_nd=3, max_numel=60)
        sb = c.shape(max_nd=3, max_numel=60)
        a = fl(sa, dtype, grad)
        b = fl(sb, _dtype_or_bad(c, dtype))
        c.tol = "ew"
        c.result(f"L.kron({a}, {b})")
    elif k == 3:
        sh = list(c.shape(min_nd=1, max_nd=3, max_numel=300))
        d = c.r.randrange(len(sh))
        sh[d] = 3 if not c.bad(0.3) else c.pick((2, 4, 0))
        a = fl(sh, dtype, grad)
        b = fl(_perturb(c, sh) if c.bad(0.3) else sh, _dtype_or_bad(c, dtype))
        fn = c.pick(("L.cross({a}, {b}, dim={d})", "L.linalg.cross({a}, {b}, dim={d})"))
        c.tol = "ew"
        c.result(fn.format(a=a, b=b, d=d - len(sh) if c.chance(0.5) else d if not c.bad(0.3) else len(sh) + 1))
    elif k == 4:
        op = c.pick(("dot", "inner", "outer", "mv", "vdot", "trace", "chain_matmul", "addmv", "addr"))
        if op in ("dot", "vdot"):
            args = [fl((n,), dtype, grad), fl(_perturb(c, (n,)), _dtype_or_bad(c, dtype))]
        elif op == "inner":
            args = [fl((m, n), dtype, grad), fl(_perturb(c, (p, n)), _dtype_or_bad(c, dtype))]
        elif op == "outer":
            args = [fl((n,), dtype, grad), fl((m,) if not c.bad(0.3) else (m, 2), dtype)]
        elif op == "mv":
            args = [fl((m, n), dtype, grad), fl(_perturb(c, (n,)), _dtype_or_bad(c, dtype))]
        elif op == "trace":
            args = [fl((m, n) if not c.bad(0.3) else (m,), dtype, grad)]
        elif op == "addmv":
            args = [fl((m,), dtype, grad), fl((m, n), dtype), fl(_perturb(c, (n,)), dtype)]
        elif op == "addr":
            args = [fl((m, n), dtype, grad), fl((m,), dtype), fl(_perturb(c, (n,)), dtype)]
        else:
            args = [fl((m, n), dtype, grad), fl(_perturb(c, (n, p)), dtype),
                    fl((p, 2), dtype)]
        c.result(f"L.{op}({', '.join(args)})")
    elif k == 5:
        b = () if c.chance(0.5) else (c.pick((1, 2, 3)),)
        d = c.pick((1, 2, 3, 5))
        pn = c.pick((2.0, 1.0, 0.0, 3.0, float("inf"))) if not c.bad(0.2) else -1.0
        x1 = fl(b + (n, d), dtype, grad)
        x2 = fl(_perturb(c, b + (m, d)), _dtype_or_bad(c, dtype))
        mode = ""
        if pn == 2.0 and c.chance(0.4):
            mode = f", compute_mode={c.pick(('use_mm_for_euclid_dist', 'donot_use_mm_for_euclid_dist'))!r}"
        c.tol = "red"
        c.result(f"L.cdist({x1}, {x2}, p={lit(pn)}{mode})")
    elif k == 6:
        pn = c.pick((2.0, 1.0, 0.0, 3.0, float("inf"))) if not c.bad(0.2) else -1.0
        grad = grad and not (c.diff and n < 2)   # torch's backward of fewer than 2 rows crashes
        x = fl((n, c.pick((1, 2, 4))) if not c.bad(0.2) else (n,), dtype, grad)
        c.tol = "red"
        c.result(f"L.pdist({x}, p={lit(pn)})")
    else:
        sh = c.shape(min_nd=1, max_nd=3, max_numel=500)
        x1 = fl(sh, dtype, grad)
        x2 = fl(_perturb(c, sh), _dtype_or_bad(c, dtype))
        c.tol = "red"
        if c.chance(0.5):
            c.result(f"L.cosine_similarity({x1}, {x2}, dim={c.dim_arg(len(sh))})")
        else:
            c.result(f"L.pairwise_distance({x1}, {x2}, p={lit(c.pick((2.0, 1.0, 3.0)))})")
    _backward(c)


# ---- dlcore.linalg ------------------------------------------------------------------------------------
LINALG_SQ = ("inv", "det", "slogdet", "matrix_exp", "eigvalsh", "cholesky", "svdvals", "matrix_power", "cond",
             "matrix_rank", "pinv", "solve", "solve_triangular", "lu_factor", "inv_ex", "qr", "eigh", "svd")


@spec("breadth_linalg", weight=2)
def g_linalg(c):
    """dlcore.linalg on well-conditioned batches (valid) or non-square / wrong-dtype / mismatched
    operands (corrupted). Decompositions with sign freedom are compared through a reconstruction."""
    def fl(*args, **kw):   # data without NaN/inf when compared: LAPACK and torch follow no common rule
        return _float(c, *args, finite=c.diff, **kw)

    dtype = "float64" if c.diff and c.chance(0.7) else c.fdtype()
    grad = c.want_grad()
    # torch leaves the gradient of an empty input undefined (None) where dlcore gives an empty one
    n = c.pick((1, 2, 3, 4, 5) if grad and c.diff else (0, 1, 2, 3, 4, 5))
    batch = c.pick(((), (), (2,), (2, 3)) if grad and c.diff else ((), (), (2,), (0,), (2, 3)))
    c.tol = "red"
    op = c.pick(LINALG_SQ + ("vector_norm", "matrix_norm", "norm", "multi_dot", "vecdot", "vander", "lstsq",
                             "householder_product"))
    sq = batch + ((n, n) if not c.bad(0.3) else (n, n + 1))
    if op in LINALG_SQ:
        # no repeated values: the vectors' gradients at repeated singular values / eigenvalues are undefined
        x = fl(sq, dtype, grad, no_dups=True)
        a = c.var("a")
        if op in ("cholesky", "eigvalsh", "eigh"):
            c.emit(f"{a} = {x} @ {x}.mT + {n} * L.eye({n}, dtype=L.{dtype})" if not c.bad(0.4) else f"{a} = {x}")
        else:
            c.emit(f"{a} = {x} + {2 * n + 1} * L.eye({n}, dtype=L.{dtype})" if not c.bad(0.4) else f"{a} = {x}")
        if op == "matrix_power":
            c.result(f"L.linalg.matrix_power({a}, {c.pick((0, 1, 2, 3, -1)) if not c.bad(0.3) else 2**40})")
        elif op in ("solve", "solve_triangular"):
            k = c.pick((1, 2, 3))
            b = fl(_perturb(c, batch + (n, k)), _dtype_or_bad(c, dtype))
            if op == "solve":
                c.result(f"L.linalg.solve({a}, {b})")
            else:
                up = c.pick((True, False))
                c.result(f"L.linalg.solve_triangular({a}, {b}, upper={up}, unitriangular={c.pick((True, False))})")
        elif op == "lu_factor":
            c.emit(f"lu, piv = L.linalg.lu_factor({a})")
            c.result("L.linalg.lu_solve(lu, piv, L.ones(lu.shape[:-1] + (2,), dtype=lu.dtype))")
        elif op == "inv_ex":
            c.result(f"L.linalg.inv_ex({a})[0]")
        elif op == "slogdet":
            c.result(f"tuple(L.linalg.slogdet({a}))")
        elif op == "qr":
            mode = c.pick(("reduced", "complete", "r")) if not c.bad(0.1) else "bogus"
            c.emit(f"q, r = L.linalg.qr({a}, mode={mode!r})")
            c.result("(q @ r if q.numel() else r.abs()) if q.numel() or {m!r} != 'r' else r.abs()".format(m=mode))
        elif op == "eigh":
            c.emit(f"w, v = L.linalg.eigh({a})")
            c.result("(w, (v * w.unsqueeze(-2)) @ v.mT)")
        elif op == "svd":
            c.emit(f"u, s, vh = L.linalg.svd({a}, full_matrices=False)")
            c.result("(s, (u * s.unsqueeze(-2)) @ vh)")
        elif op == "cond":
            c.result(f"L.linalg.cond({a}, p={lit(c.pick((None, 'fro', 1, float('inf'), 2, -2)))})")
        elif op == "matrix_rank":
            c.tol = "exact"
            c.result(f"L.linalg.matrix_rank({a})")
        else:
            c.result(f"L.linalg.{op}({a})")
    elif op == "vector_norm":
        sh = c.shape(max_nd=3, max_numel=2000)
        x = fl(sh, c.fdtype(), grad)
        o = lit(c.pick((2, 1, 3.5, float("inf"), -float("inf"), -1) + (() if grad and c.diff else (0,))))
        c.result(f"L.linalg.vector_norm({x}, ord={o}, dim={lit(c.dims_arg(len(sh)))}, "
                 f"keepdim={c.pick((True, False))})")
    elif op in ("matrix_norm", "norm"):
        x = fl(batch + (n, c.pick((1, 2, 3))) if not c.bad(0.2) else (n,), dtype, grad)
        o = c.pick(("fro", "nuc", 1, -1, float("inf"), -float("inf"), 2, -2)) if not c.bad(0.2) else c.pick((3, "bad"))
        c.result(f"L.linalg.{op}({x}, ord={lit(o)})")
    elif op == "multi_dot":
        sizes = [c.pick((1, 2, 3, 4)) for _ in range(c.pick((2, 3, 4)))]
        mats = []
        for i in range(len(sizes) - 1):
            mats.append(fl(_perturb(c, (sizes[i], sizes[i + 1])), dtype, grad and i == 0, kind="n"))
        c.result(f"L.linalg.multi_dot([{', '.join(mats)}])" if not c.bad(0.1) else "L.linalg.multi_dot([])")
    elif op == "vecdot":
        sh = c.shape(min_nd=1, max_nd=3, max_numel=500)
        c.result(f"L.linalg.vecdot({fl(sh, dtype, grad)}, {fl(_perturb(c, sh), dtype)}, "
                 f"dim={c.dim_arg(len(sh))})")
    elif op == "vander":
        x = fl(batch + (n,), dtype, grad)
        c.result(f"L.linalg.vander({x}, N={c.pick((None, 0, 1, 3)) if not c.bad(0.3) else c.huge()})")
    elif op == "lstsq":
        m = n + c.pick((0, 1, 2))
        x = fl(batch + (m, n), dtype, grad)
        a = c.var("a")
        c.emit(f"{a} = {x} + L.eye({m}, {n}, dtype=L.{dtype}) * {2 * m + 1}")
        b = fl(_perturb(c, batch + (m, 2)), dtype)
        c.result(f"L.linalg.lstsq({a}, {b}).solution")
    else:
        m = n + c.pick((0, 1, 2))
        k = min(n, c.pick((0, 1, 2, 3))) if not c.bad(0.3) else n + 2
        x = fl(batch + (m, n), dtype, grad)
        tau = fl(batch + (k,), dtype)
        c.result(f"L.linalg.householder_product({x}, {tau})")
    _backward(c)


# ---- shapes -------------------------------------------------------------------------------------------
@spec("breadth_shape", weight=2.5)
def g_shape(c):
    """diag*/tri*_indices/block_diag/cartesian_prod/combinations/meshgrid, the *stack/*split family,
    unbind/unflatten/movedim/rot90, vander, broadcast_*, atleast_*."""
    dtype = c.dtype() if c.chance(0.3) else c.dtype(FLOATS)
    grad = c.want_grad()
    c.tol = "exact"
    k = c.r.randrange(14)
    if k == 0:
        sh = c.shape(min_nd=1, max_nd=2, max_numel=500) if not c.bad(0.15) else c.shape(min_nd=3, max_nd=3)
        x = c.tensor(sh, dtype, grad=grad)
        off = c.pick((0, 1, -1, 2, -3, 5)) if not c.bad(0.2) else c.huge()
        c.result(f"L.{c.pick(('diag', 'diagflat'))}({x}, {off})")
    elif k == 1:
        sh = c.shape(min_nd=1, max_nd=4, max_numel=3000)
        x = c.tensor(sh, dtype, grad=grad)
        nd = len(sh)
        if c.chance(0.5):
            d1, d2 = c.dim_arg(nd), c.dim_arg(nd)
            if not c.invalid and d1 % max(nd, 1) == d2 % max(nd, 1):
                d1, d2 = 0, nd - 1
            if nd < 2 and not c.invalid:
                c.result(f"L.diagonal({x}.unsqueeze(0), 0, 0, 1)")
            else:
                c.result(f"L.diagonal({x}, offset={c.pick((0, 1, -1, 3))}, dim1={d1}, dim2={d2})")
        else:
            d1, d2 = c.r.sample(range(-nd - 1, nd + 1), 2) if not c.bad(0.3) else (0, 0)
            if not c.invalid and d1 % (nd + 1) == d2 % (nd + 1):
                d1, d2 = -2, -1
            c.result(f"L.diag_embed({x}, offset={c.pick((0, 1, -2))}, dim1={d1}, dim2={d2})")
    elif k == 2:
        rows, cols = c.size_arg(0, 9), c.size_arg(0, 9)
        off = c.pick((0, 1, -1, 4, -20)) if not c.bad(0.2) else c.huge()
        fn = c.pick(("tril_indices", "triu_indices"))
        c.result(f"L.{fn}({rows}, {cols}, {off})")
    elif k == 3:
        mats = [c.tensor(c.shape(max_nd=2 if not c.bad(0.2) else 3, max_numel=50), c.dtype(FLOATS), grad=grad)
                for _ in range(c.r.randint(0 if c.invalid else 1, 4))]
        c.result(f"L.block_diag({', '.join(mats)})")
    elif k == 4:
        vs = [c.tensor((c.pick(DIM_SIZES[:9]),) if not c.bad(0.2) else (2, 2), dtype, grad=grad)
              for _ in range(c.r.randint(0 if c.invalid else 1, 3))]
        u = c.r.random()
        if u < 0.35:
            c.result(f"L.cartesian_prod({', '.join(vs)})")
        elif u < 0.7:
            indexing = c.pick(("ij", "xy")) if not c.bad(0.2) else "ji"
            c.result(f"L.meshgrid({''.join(v + ', ' for v in vs)}indexing={indexing!r})")
        else:
            r = c.pick((0, 1, 2, 3)) if not c.bad(0.2) else -1
            c.result(f"L.combinations({vs[0] if vs else 'L.ones(2)'}, r={r}, "
                     f"with_replacement={c.pick((True, False))})")
    elif k == 5:
        base = c.shape(max_nd=3, max_numel=500)
        ts = [c.tensor(_perturb(c, base), dtype if not c.bad(0.1) else c.dtype(), grad=grad and i == 0)
              for i in range(c.r.randint(0 if c.invalid else 1, 3))]
        fn = c.pick(("hstack", "vstack", "dstack", "column_stack", "row_stack", "atleast_1d", "atleast_2d",
                     "atleast_3d", "broadcast_tensors"))
        if fn.startswith("atleast") or fn == "broadcast_tensors":
            c.result(f"L.{fn}({', '.join(ts)})" if ts else f"L.{fn}()")
        else:
            c.result(f"L.{fn}([{', '.join(ts)}])" if ts or not c.invalid else f"L.{fn}([])")
    elif k == 6:
        sh = c.shape(min_nd=1, max_nd=4, max_numel=3000)
        x = c.tensor(sh, dtype, grad=grad)
        nd = len(sh)
        u = c.r.random()
        if u < 0.4:
            d = c.dim_arg(nd)
            parts = c.pick((1, 2, 3, 5)) if c.chance(0.5) and not c.bad(0.2) else \
                [c.small(0, 6) for _ in range(c.r.randint(0, 3))] if not c.bad(0.3) else c.pick((0, -1, 2**40))
            c.result(f"L.tensor_split({x}, {lit(parts)}, dim={d})")
        else:
            fn = c.pick(("hsplit", "vsplit", "dsplit"))
            dim = {"hsplit": 1 if nd > 1 else 0, "vsplit": 0, "dsplit": 2}[fn]
            size = sh[dim] if dim < nd else 1
            divs = [d for d in (1, 2, 3, 4, 5) if size % d == 0]
            arg = c.pick(divs) if c.chance(0.6) else sorted(c.small(0, 6) for _ in range(c.r.randint(0, 3)))
            if c.bad(0.3):
                arg = c.pick((0, 7, -1, 2**40))
            c.result(f"L.{fn}({x}, {lit(arg)})")
    elif k == 7:
        sh = c.shape(min_nd=1, max_nd=4, max_numel=3000)
        x = c.tensor(sh, dtype, grad=grad)
        c.result(f"L.unbind({x}, {c.dim_arg(len(sh))})")
    elif k == 8:
        sh = c.shape(min_nd=1, max_nd=3, max_numel=3000)
        x = c.tensor(sh, dtype, grad=grad)
        d = c.dim_arg(len(sh))
        size = sh[d] if -len(sh) <= d < len(sh) else 4
        opts = [(size,), (1, size), (size, 1)]
        for f in (2, 3, 4):
            if size and size % f == 0:
                opts += [(f, size // f), (-1, f), (f, -1)]
        us = c.pick(opts) if not c.bad(0.4) else c.pick(((-1, -1), (size + 1, 1), (0, -1), (2**40, 2**40), ()))
        c.result(f"L.unflatten({x}, {d}, {lit(us)})")
    elif k == 9:
        sh = c.shape(min_nd=1, max_nd=4, max_numel=3000)
        x = c.tensor(sh, dtype, grad=grad)
        nd = len(sh)
        if c.chance(0.5):
            c.result(f"L.{c.pick(('movedim', 'moveaxis', 'swapaxes', 'swapdims'))}({x}, {c.dim_arg(nd)}, "
                     f"{c.dim_arg(nd)})")
        else:
            kk = c.r.randint(0, nd)
            src = c.r.sample(range(nd), kk)
            dst = c.r.sample(range(nd), kk)
            if c.bad(0.4):
                dst = dst + [0] if c.chance(0.5) else [0] * kk
            c.result(f"L.movedim({x}, {lit(tuple(src))}, {lit(tuple(dst))})")
    elif k == 10:
        sh = c.shape(min_nd=0, max_nd=4, max_numel=3000)
        x = c.tensor(sh, dtype, grad=grad)
        nd = len(sh)
        dims = c.r.sample(range(nd), 2) if nd >= 2 and not c.bad(0.3) else c.pick(([0, 0], [0], [0, nd + 2]))
        fn = c.pick(("rot90", "rot90", "fliplr", "flipud"))
        if fn == "rot90":
            c.result(f"L.rot90({x}, {c.pick((0, 1, 2, 3, -1, 5, -7))}, {lit(dims)})")
        else:
            c.result(f"L.{fn}({x})")
    elif k == 11:
        size = max(c.pick(DIM_SIZES[:9]), 2 if grad and c.diff else 0)
        x = c.tensor((size,) if not c.bad(0.2) else (2, 2), dtype, grad=grad)
        n = c.pick((None, 2, 3, 5) if grad and c.diff else (None, 0, 1, 3, 5)) if not c.bad(0.3) else c.huge()
        c.tol = "ew"
        c.result(f"L.vander({x}, N={n}, increasing={c.pick((True, False))})")
    elif k == 12:
        sh = c.shape(max_nd=3, max_numel=500)
        x = c.tensor(sh, dtype, grad=grad)
        tgt = (c.pick((1, 3)),) * c.r.randint(0, 1) + tuple(s if c.chance(0.7) else -1 for s in sh)
        if c.bad(0.4):
            tgt = c.pick(((2**40,) + tuple(sh), (-2,) + tuple(sh), tuple(s + 1 for s in sh) or (-1,)))
        if c.chance(0.5):
            c.result(f"L.broadcast_to({x}, {lit(tgt)})")
        else:
            c.result(f"L.broadcast_shapes({lit(tuple(sh))}, {lit(tgt)})")
    else:
        sh = c.shape(min_nd=1, max_nd=3, max_numel=1000)
        # torch's *_scatter write through the aliases of a self-overlapping input
        x = c.tensor(sh, dtype, grad=grad, allow_overlap=not c.diff)
        nd = len(sh)
        d = c.dim_arg(nd)
        size = sh[d] if -nd <= d < nd else 1
        fn = c.pick(("narrow_copy", "select_scatter", "slice_scatter", "diagonal_scatter", "unfold"))
        if fn == "narrow_copy":
            # torch's narrow_copy backward mishandles a negative start
            st = c.pick((0, 1) if grad and c.diff else (0, 1, -1)) if not c.bad(0.3) else c.huge()
            c.result(f"L.narrow_copy({x}, {d}, {st}, {max(0, min(size - 1, 1))})")
        elif fn == "select_scatter":
            i = c.small(0, max(size - 1, 0)) if not c.bad(0.3) else size + 1
            src_shape = tuple(s for j, s in enumerate(sh) if j != d % nd)
            src = c.tensor(_perturb(c, src_shape), dtype)
            c.result(f"L.select_scatter({x}, {src}, {d}, {i})")
        elif fn == "slice_scatter":
            st, en, step = c.small(0, 2), c.pick((None, size, 3)), c.pick((1, 2)) if not c.bad(0.3) else 0
            n = len(range(*slice(st, en, step).indices(size))) if step else 1
            ssh = list(sh)
            ssh[d % nd] = n
            src = c.tensor(_perturb(c, ssh), dtype)
            c.result(f"L.slice_scatter({x}, {src}, {d}, {st}, {en}, {step})")
        elif fn == "diagonal_scatter":
            if nd < 2:
                c.result(f"L.diagonal_scatter({x}, {x})")
            else:
                c.emit(f"dg = L.diagonal({x}, 1, 0, 1)")
                src = c.tensor(_perturb(c, ()), dtype) if c.bad(0.3) else "dg * 2"
                c.result(f"L.diagonal_scatter({x}, {src}, 1, 0, 1)")
        else:
            c.result(f"{x}.unfold({d}, {c.pick((1, 2, 3)) if not c.bad(0.3) else c.huge()}, "
                     f"{c.pick((1, 2)) if not c.bad(0.2) else 0})")
    _backward(c)


# ---- indexing ---------------------------------------------------------------------------------------
@spec("breadth_index", weight=2.5)
def g_index(c):
    """take/take_along_dim/put, index_add/copy/fill/reduce, masked_select/scatter, scatter_reduce,
    repeat_interleave, argwhere, isin, unravel_index."""
    dtype = c.dtype(FLOATS) if c.chance(0.75) else c.dtype(("int64", "int32"))
    grad = c.want_grad()
    c.tol = "ew"
    c.no_dups = True
    sh = c.shape(min_nd=0, max_nd=3, max_numel=2000)
    nd = len(sh)
    n = numel(sh)
    k = c.r.randrange(10)
    # a NaN reaching amax/amin: torch's gradient to the other candidates is NaN, dlcore's 0
    fin = "n" if c.diff and dtype in FLOATS else None
    if k == 0:
        x = c.tensor(sh, dtype, grad=grad)
        i = c.index_tensor(c.shape(max_nd=2, max_numel=50), n)
        if not c.invalid:
            c.emit(f"{i} = {i} - {n} * ({i} % 2)")
        c.result(f"L.take({x}, {i})")
    elif k == 1:
        x = c.tensor(sh, dtype, grad=grad)
        if nd == 0 or c.chance(0.2):
            c.result(f"L.take_along_dim({x}, {c.index_tensor((c.small(0, 4),), n)})")
        else:
            d = c.dim_arg(nd)
            ish = list(sh)
            ish[d % nd] = c.small(0, 4)
            c.result(f"L.take_along_dim({x}, {c.index_tensor(_perturb(c, ish), sh[d % nd])}, dim={d})")
    elif k == 2:
        x = c.tensor(sh, dtype)
        m = c.small(0, 5)
        i = c.index_tensor((m,), n)
        c.emit(f"{i} = L.unique({i})" if not c.invalid else "")
        src = c.tensor(_perturb(c, (m,)) if c.invalid else (m,), _dtype_or_bad(c, dtype))
        if not c.invalid:
            c.emit(f"{src} = {src}[:{i}.numel()]")
        acc = c.pick((True, False))
        c.emit(f"y = {x}.clone()")
        c.result(f"y.put_({i}, {src}, accumulate={acc})" if c.chance(0.5) else f"L.put({x}, {i}, {src}, {acc})")
    elif k in (3, 4):
        if nd == 0:
            sh, nd = (3,), 1
        x = c.tensor(sh, dtype, grad=grad)
        d = c.dim_arg(nd)
        dd = d % nd if -nd <= d < nd else 0
        m = c.small(0, 5)
        size = sh[dd]
        fn = c.pick(("index_add", "index_copy", "index_fill", "index_reduce"))
        if fn in ("index_copy", "index_reduce") and not c.invalid:
            c.emit(f"perm = L.tensor(np.random.default_rng({c.r.randrange(999)}).permutation({max(size, m)})[:{m}] "
                   f"% {max(size, 1)}, dtype=L.int64)")
            idx = "L.unique(perm)" if fn == "index_copy" else "perm"
            if size == 0:
                idx = "L.zeros(0, dtype=L.int64)"
                m = 0
        else:
            idx = c.index_tensor((m,), size)
        if fn == "index_copy" and not c.invalid and size:
            c.comparable = False
        ssh = list(sh)
        ssh[dd] = m if idx != "L.unique(perm)" else m
        if fn == "index_fill":
            v = lit(c.pick((0.5, -2, 3))) if c.chance(0.6) else c.tensor((), dtype)
            c.result(f"L.index_fill({x}, {d}, {idx}, {v})")
        else:
            if idx == "L.unique(perm)":
                c.emit("perm = L.unique(perm)")
                idx = "perm"
                src = c.var("s")
                c.emit(f"{src} = L.tensor(A({lit(tuple(ssh[:dd]))} + (perm.numel(),) + {lit(tuple(ssh[dd + 1:]))}, "
                       f"{c.r.randrange(1000)}, 'n'), dtype=L.{dtype})")
            else:
                src = c.tensor(_perturb(c, ssh), _dtype_or_bad(c, dtype), kind=fin)
            if fn == "index_add":
                alpha = f", alpha={lit(c.pick((1, 2, -1)))}" if c.chance(0.3) else ""
                c.result(f"L.index_add({x}, {d}, {idx}, {src}{alpha})")
            elif fn == "index_copy":
                c.result(f"L.index_copy({x}, {d}, {idx}, {src})")
            else:
                red = c.pick(("prod", "mean", "amax", "amin")) if not c.bad(0.2) else "sum"
                c.result(f"L.index_reduce({x}, {d}, {idx}, {src}, {red!r}, include_self={c.pick((True, False))})")
    elif k == 5:
        x = c.tensor(sh, dtype, grad=grad)
        mask = c.tensor(_perturb(c, sh[c.r.randint(0, nd):]) if not c.bad(0.2) else sh, "bool" if not c.bad(0.2)
                        else "int64")
        if c.chance(0.5):
            c.result(f"L.masked_select({x}, {mask})")
        else:
            src = c.tensor((n + c.small(0, 3),) if not c.bad(0.3) else (0,), _dtype_or_bad(c, dtype))
            c.result(f"L.masked_scatter({x}, {mask}, {src})")
    elif k == 6:
        if nd == 0:
            sh, nd = (4,), 1
        x = c.tensor(sh, dtype, grad=grad and not c.diff)
        d = c.dim_arg(nd)
        dd = d % nd if -nd <= d < nd else 0
        ish = [c.small(0, s) for s in sh]
        i = c.index_tensor(_perturb(c, ish), sh[dd])
        src = c.tensor(_perturb(c, tuple(ish)) if c.invalid else sh, _dtype_or_bad(c, dtype), kind=fin)
        red = c.pick(("sum", "prod", "mean", "amax", "amin")) if not c.bad(0.2) else "max"
        c.result(f"L.scatter_reduce({x}, {d}, {i}, {src}, {red!r}, include_self={c.pick((True, False))})")
    elif k == 7:
        x = c.tensor(sh, dtype, grad=grad)
        u = c.r.random()
        if u < 0.35:
            c.result(f"L.repeat_interleave({x}, {c.size_arg(0, 3)})")
        elif u < 0.7 and nd:
            d = c.dim_arg(nd)
            m = sh[d % nd] if -nd <= d < nd else 2
            r = c.tensor(_perturb(c, (m,)), "int64", kind="u")
            c.emit(f"{r} = ({r} * 4).long()" if not c.bad(0.2) else f"{r} = ({r} * 4).long() - 2")
            c.result(f"L.repeat_interleave({x}, {r}, dim={d})")
        else:
            r = c.var("r")
            c.emit(f"{r} = L.tensor({[c.small(0, 3) if not c.bad(0.2) else -1 for _ in range(c.small(0, 5))]}, "
                   f"dtype=L.int64)")
            c.result(f"L.repeat_interleave({r})")
    elif k == 8:
        x = c.tensor(sh, dtype if c.chance(0.5) else "bool")
        if c.chance(0.5):
            c.result(f"L.argwhere({x})")
        else:
            t = c.tensor(c.shape(max_nd=2, max_numel=40), dtype, kind="i")
            c.emit(f"{x} = {x}.round() if {x}.is_floating_point() else {x}")
            c.result(f"L.isin({x}, {t}, invert={c.pick((True, False))})")
    else:
        i = c.index_tensor(c.shape(max_nd=2, max_numel=40), max(n, 1))
        shape = tuple(max(s, 1) for s in sh) if not c.bad(0.2) else c.pick(((-1, 2), (2**62, 2**62), ()))
        c.result(f"L.unravel_index({i}, {lit(shape)})")
    _backward(c)


# ---- searching and sets -------------------------------------------------------------------------------
@spec("breadth_search", weight=2)
def g_search(c):
    """unique/unique_consecutive, searchsorted/bucketize, histc/histogram/bincount."""
    dtype = c.dtype(FLOATS) if c.chance(0.6) else c.dtype(("int64", "int32"))
    c.tol = "ew"
    sh = c.shape(min_nd=0, max_nd=3, max_numel=2000)
    k = c.r.randrange(6)
    if k == 0:
        x = c.tensor(sh, dtype, kind="i")
        nd = len(sh)
        dim = c.pick((None, None) + tuple(range(-nd, nd))) if not c.bad(0.2) else nd + 1
        flags = ", ".join(f"{f}={c.pick((True, False))}" for f in ("return_inverse", "return_counts"))
        c.result(f"L.unique({x}, sorted=True, {flags}, dim={dim})")
    elif k == 1:
        x = c.tensor(sh, dtype, kind="i")
        nd = len(sh)
        dim = c.pick((None, None) + tuple(range(-nd, nd))) if not c.bad(0.2) else nd + 1
        flags = ", ".join(f"{f}={c.pick((True, False))}" for f in ("return_inverse", "return_counts"))
        c.result(f"L.unique_consecutive({x}, {flags}, dim={dim})")
    elif k == 2:
        bsh = c.shape(min_nd=1, max_nd=2, max_numel=200)
        b = c.tensor(bsh, dtype, kind="n" if c.diff else None)
        sb = c.var("sb")
        c.emit(f"{sb} = {b}.sort(-1).values" if not c.bad(0.1) else f"{sb} = {b}")
        vsh = bsh[:-1] + (c.small(0, 6),) if len(bsh) > 1 and c.chance(0.7) else c.shape(max_nd=2, max_numel=40)
        if len(bsh) > 1 and c.bad(0.3):
            vsh = (bsh[0] + 1, 2)
        v = c.tensor(vsh, _dtype_or_bad(c, dtype))
        extra = f", right={c.pick((True, False))}" if c.chance(0.5) else f", side={c.pick(('left', 'right'))!r}"
        if c.chance(0.3):
            extra += ", out_int32=True"
        if c.chance(0.2):
            srt = c.var("so")
            c.emit(f"{srt} = {b}.argsort(-1)")
            c.emit(f"{sb} = {b}")
            extra += f", sorter={srt}"
        if len(bsh) > 1 and len(vsh) == 1 and not c.invalid:
            vsh = bsh[:-1] + (2,)
            v = c.tensor(vsh, dtype)
        c.result(f"L.searchsorted({sb}, {v}{extra})")
    elif k == 3:
        b = c.tensor((c.small(0, 8),) if not c.bad(0.2) else (2, 3), dtype, kind="n" if c.diff else None)
        v = c.tensor(sh, _dtype_or_bad(c, dtype))
        c.result(f"L.bucketize({v}, {b}.sort().values, right={c.pick((True, False))}, "
                 f"out_int32={c.pick((True, False))})")
    elif k == 4:
        if c.diff and numel(sh) < 2:
            sh = (3,)   # a single value lies on the middle bin edge, where torch's float32 rounding decides
        c.no_dups = c.diff
        x = c.tensor(sh, c.fdtype() if not c.bad(0.2) else "int64", kind=c.pick(("n", "u", "s")) if c.invalid else
                     c.pick(("n", "u")))
        bins = c.pick((1, 3, 7)) if not c.bad(0.3) else c.pick((0, -1, 2**40))
        lo, hi = c.pick(((0, 0), (-1.0, 1.0), (0.0, 0.5), (2.0, 3.0))) if not c.bad(0.2) else (1.0, -1.0)
        if c.chance(0.5):
            c.result(f"L.histc({x}, bins={bins}, min={lit(lo)}, max={lit(hi)})")
        else:
            w = f", weight={c.tensor(_perturb(c, sh), x and 'float32')}" if c.chance(0.3) else ""
            if w and not c.invalid:
                c.emit(f"w_ = {x}.abs()")
                w = ", weight=w_"
            rng = f", range={lit((lo, hi))}" if c.chance(0.5) and lo < hi else ""
            c.result(f"tuple(L.histogram({x}, bins={bins}{rng}{w}, density={c.pick((True, False))}))")
    else:
        # torch's bincount of an empty input is int64 even with float weights
        x = c.tensor((max(c.pick(DIM_SIZES), 1 if c.diff else 0),) if not c.bad(0.2) else (2, 3),
                     "int64" if not c.bad(0.2) else "float32",
                     kind="c" if not c.bad(0.2) else "i")
        w = ""
        if c.chance(0.4):
            w = f", weights={c.tensor(_perturb(c, (0,)) if c.invalid else (0,), c.fdtype())}"
            if not c.invalid:
                c.emit(f"ww = L.ones({x}.shape) * 0.5")
                w = ", weights=ww"
        c.result(f"L.bincount({x}{w}, minlength={c.pick((0, 3, 7)) if not c.bad(0.2) else -1})")


# ---- reductions and statistics -----------------------------------------------------------------------
@spec("breadth_reduce", weight=3)
def g_reduce(c):
    """cumprod/cummax/cummin/logcumsumexp/diff/gradient, median/mode/kthvalue/quantile,
    var_mean/std_mean, nansum/nanmean, count_nonzero, aminmax, isclose/allclose, cov/corrcoef,
    trapezoid, renorm."""
    dtype = c.fdtype()
    grad = c.want_grad()
    c.tol = "red"
    sh = c.shape(min_nd=0, max_nd=3, max_numel=2000)
    nd = len(sh)
    k = c.r.randrange(13)
    kind = None if c.invalid else "n"
    if k == 0:
        x = _float(c, sh, dtype, grad, no_dups=True, kind=kind)
        fn = c.pick(("cumprod", "logcumsumexp", "cummax", "cummin"))
        d = c.dim_arg(nd)
        if fn in ("cummax", "cummin"):
            c.result(f"tuple(L.{fn}({x}, {d}))")
        else:
            c.result(f"L.{fn}({x}, {d})" if fn != "cumprod" or c.chance(0.7) else
                     f"L.cumprod({x}, {d}, dtype=L.float64)")
    elif k == 1:
        x = c.tensor(sh, c.dtype(), grad=grad)
        d = c.dim_arg(nd)
        nn = c.pick((1, 2, 3, 0)) if not c.bad(0.2) else -1
        pre = f", prepend={x}.narrow(-1, 0, 1)" if nd and c.chance(0.3) and d in (-1, nd - 1) else ""
        c.result(f"L.diff({x}, n={nn}, dim={d}{pre})")
    elif k == 2:
        x = _float(c, sh, dtype, grad, no_dups=True, kind=kind)
        if nd == 0 or c.chance(0.25):
            c.result(f"L.{c.pick(('median', 'nanmedian'))}({x})")
        else:
            fn = c.pick(("median", "nanmedian"))
            c.result(f"tuple(L.{fn}({x}, {c.dim_arg(nd)}, keepdim={c.pick((True, False))}))")
    elif k == 3:
        x = c.tensor(sh, c.dtype() if c.chance(0.4) else dtype, kind="i" if c.chance(0.6) or c.diff else None)
        c.result(f"L.mode({x}, {c.dim_arg(nd)}).values" if nd or c.chance(0.5) else f"L.mode({x}).values")
    elif k == 4:
        x = _float(c, sh, dtype, grad, no_dups=True, kind=kind)
        d = c.dim_arg(nd)
        size = sh[d] if -nd <= d < nd else 1
        kk = c.r.randint(1, max(size, 1)) if not c.bad(0.3) else c.pick((0, size + 1, -1))
        c.result(f"tuple(L.kthvalue({x}, {kk}, {d}, keepdim={c.pick((True, False))}))")
    elif k == 5:
        x = _float(c, sh, dtype, grad, kind=kind)
        q = c.pick((0.5, 0.0, 1.0, 0.25, [0.1, 0.9], "t")) if not c.bad(0.3) else c.pick((1.5, -0.1, float("nan")))
        if q == "t":
            q = c.tensor((3,), dtype if not c.bad(0.2) else "int64", kind="u")
        interp = c.pick(("linear", "lower", "higher", "midpoint", "nearest")) if not c.bad(0.1) else "cubic"
        fn = c.pick(("quantile", "nanquantile"))
        dim = c.dim_arg(nd) if nd and c.chance(0.6) else None
        c.result(f"L.{fn}({x}, {lit(q)}, dim={dim}, keepdim={c.pick((True, False))}, interpolation={interp!r})")
    elif k == 6:
        x = c.tensor(sh, dtype, grad=grad, kind="n" if c.diff else None)
        # torch's gradient with correction >= the sample count is finite (its value is NaN)
        corr = c.pick((0, 1) if grad and c.diff else (0, 1, 2)) if not c.bad(0.2) else 1.5
        fn = c.pick(("var_mean", "std_mean"))
        dims = c.dims_arg(nd)
        if dims == () and grad and c.diff:
            dims = None   # torch's var_mean gradient over an empty dim tuple is wrong
        c.result(f"tuple(L.{fn}({x}, dim={lit(dims)}, correction={corr}, keepdim={c.pick((True, False))}))")
    elif k == 7:
        fn = c.pick(("nansum", "nanmean", "count_nonzero", "aminmax"))
        x = c.tensor(sh, dtype if c.chance(0.7) else c.dtype(), kind="s" if c.chance(0.6) else None,
                     grad=grad and fn != "aminmax")
        if fn == "aminmax":
            dim = f", dim={c.dim_arg(nd)}" if c.chance(0.5) else ""
            c.result(f"tuple(L.aminmax({x}{dim}))")
        else:
            c.result(f"L.{fn}({x}, {lit(c.dims_arg(nd))})")
    elif k == 8:
        a = c.tensor(sh, dtype, kind="s" if c.chance(0.4) else None)
        b = c.var("b")
        c.emit(f"{b} = {a} + 1e-7 * L.ones({lit(_perturb(c, sh))}, dtype=L.{dtype})")
        fn = c.pick(("isclose", "allclose"))
        rt = c.pick((1e-5, 0.0, 1e-9)) if not c.bad(0.2) else -1.0
        c.result(f"L.{fn}({a}, {b}, rtol={rt}, atol={c.pick((1e-8, 0.0, 1e-6))}, equal_nan={c.pick((True, False))})")
    elif k == 9:
        x = _float(c, c.shape(min_nd=1, max_nd=2, max_numel=300) if not c.bad(0.2) else (2, 2, 2), dtype, grad,
                   no_dups=c.diff, finite=c.diff)
        if c.chance(0.5):
            c.result(f"L.corrcoef({x})")
        else:
            c.emit(f"nobs = {x}.shape[-1]")
            fw = (", fweights=L.arange(nobs) % 3" if c.chance(0.3) else "") + (
                ", aweights=L.arange(nobs, dtype=L.float64) + 0.5" if c.chance(0.3) else "")
            c.result(f"L.cov({x}, correction={c.pick((0, 1, 2))}{fw})")
    elif k == 10:
        # torch's trapezoid sums the data, then subtracts the halved ends: inf - inf at infinite ends
        y = c.tensor(sh, dtype, grad=grad, kind="n" if c.diff else None)
        d = c.dim_arg(nd)
        u = c.r.random()
        fn = c.pick(("trapezoid", "cumulative_trapezoid"))
        if u < 0.4:
            c.result(f"L.{fn}({y}, dx={lit(c.pick((1.0, 0.5, 2)))}, dim={d})")
        else:
            size = sh[d] if -nd <= d < nd else 1
            xs = c.tensor(_perturb(c, (size,)), dtype)
            c.result(f"L.{fn}({y}, {xs}, dim={d})")
    elif k == 11:
        x = c.tensor(sh, dtype, grad=grad, kind="n" if c.diff else None)
        p = c.pick((2.0, 1.0, 3.0)) if not c.bad(0.2) else c.pick((0.0, -1.0))
        mx = c.pick((1.0, 0.5, 10.0)) if not c.bad(0.2) else -1.0
        c.result(f"L.renorm({x}, {p}, {c.dim_arg(nd)}, {mx})")
    else:
        x = c.tensor(sh, dtype, grad=grad)
        d = c.dim_arg(nd) if nd else None
        sp = c.pick((1.0, 0.5, 2)) if c.chance(0.7) else None
        if d is None:
            c.result(f"L.gradient({x})" if not c.invalid else f"L.gradient({x}, dim=0)")
        else:
            c.result(f"L.gradient({x}, dim={d}" + (f", spacing={lit(sp)})" if sp else ")"))
    _backward(c)


# ---- nn.functional ------------------------------------------------------------------------------------
@spec("breadth_functional", weight=2.5)
def g_functional(c):
    """The newer losses, pixel_(un)shuffle, affine_grid/grid_sample, embedding_bag, ctc_loss, lp_pool,
    max_unpool, fractional_max_pool (shapes only)."""
    dtype = c.fdtype()
    grad = c.want_grad()
    c.tol = "red"
    k = c.r.randrange(11)
    n = c.pick((0, 1, 2, 3, 5))
    cl = c.pick((1, 2, 3, 4))
    red = _reduction(c)
    # the losses' gradients at infinite inputs: torch's formulas give NaN where the limits exist
    fin = "n" if c.diff else None
    if k == 0:
        sh = c.shape(max_nd=3, max_numel=500)
        a = c.tensor(sh, dtype, grad=grad, kind=fin)
        b = c.tensor(_perturb(c, sh), dtype)
        t = c.var("t")
        c.emit(f"{t} = L.where(L.tensor(A({lit(_perturb(c, sh))}, 3, 'b')), 1.0, -1.0).to(L.{dtype})")
        fn = c.pick(("margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss"))
        if fn == "margin_ranking_loss":
            c.result(f"F.margin_ranking_loss({a}, {b}, {t}, margin={lit(c.pick((0.0, 0.5)))}, reduction={red!r})")
        elif fn == "hinge_embedding_loss":
            c.result(f"F.hinge_embedding_loss({a}, {t}, margin={lit(c.pick((1.0, 0.2)))}, reduction={red!r})")
        else:
            c.result(f"F.soft_margin_loss({a}, {t}, reduction={red!r})")
    elif k == 1:
        d = c.pick((1, 3, 4))
        a = c.tensor((n, d), dtype, grad=grad, kind=fin)
        b = c.tensor(_perturb(c, (n, d)), dtype)
        fn = c.pick(("cosine_embedding_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss"))
        if fn == "cosine_embedding_loss":
            t = c.var("t")
            c.emit(f"{t} = L.where(L.tensor(A({lit(_perturb(c, (n,)))}, 5, 'b')), 1, -1)")
            c.result(f"F.cosine_embedding_loss({a}, {b}, {t}, margin={lit(c.pick((0.0, 0.3)))}, reduction={red!r})")
        else:
            e = c.tensor(_perturb(c, (n, d)), dtype)
            extra = f", p={lit(c.pick((2, 1)))}, swap={c.pick((True, False))}" if fn == "triplet_margin_loss" else \
                f", swap={c.pick((True, False))}"
            c.result(f"F.{fn}({a}, {b}, {e}, margin={lit(c.pick((1.0, 0.5)))}{extra}, reduction={red!r})")
    elif k == 2:
        sh = c.shape(max_nd=3, max_numel=500)
        a = c.tensor(sh, dtype, grad=grad, kind=fin)
        fn = c.pick(("poisson_nll_loss", "gaussian_nll_loss"))
        if fn == "poisson_nll_loss":
            t = c.tensor(_perturb(c, sh), dtype, kind="p")
            log_in = c.pick((True, False))
            if not log_in:
                c.emit(f"{a} = {a}.abs() + 0.1")
            c.result(f"F.poisson_nll_loss({a}, {t}, log_input={log_in}, full={c.pick((True, False))}, "
                     f"reduction={red!r})")
        else:
            t = c.tensor(_perturb(c, sh), dtype)
            vsh = sh if c.chance(0.6) else sh[:-1] + (1,) if sh else sh
            v = c.tensor(_perturb(c, vsh), dtype, kind="p" if not c.bad(0.2) else "n")
            c.result(f"F.gaussian_nll_loss({a}, {t}, {v}, full={c.pick((True, False))}, reduction={red!r})")
    elif k == 3:
        n = max(n, 1) if c.diff else n
        x = c.tensor((n, cl), dtype, grad=grad, kind=fin)
        fn = c.pick(("multilabel_soft_margin_loss", "multi_margin_loss", "multilabel_margin_loss"))
        if fn == "multilabel_soft_margin_loss":
            t = c.tensor(_perturb(c, (n, cl)), dtype, kind="b")
            c.emit(f"{t} = {t}.to(L.{dtype})")
            c.result(f"F.multilabel_soft_margin_loss({x}, {t}, reduction={red!r})")
        elif fn == "multi_margin_loss":
            t = c.index_tensor(_perturb(c, (n,)), cl)
            w = f", weight={c.tensor(_perturb(c, (cl,)), dtype, kind='p')}" if c.chance(0.3) else ""
            c.result(f"F.multi_margin_loss({x}, {t}, p={c.pick((1, 2)) if not c.bad(0.2) else 3}, "
                     f"margin={lit(c.pick((1.0, 0.5)))}{w}, reduction={red!r})")
        else:
            t = c.var("t")
            hi = cl if not c.bad(0.2) else cl + 3
            c.emit(f"{t} = L.tensor(np.random.default_rng({c.r.randrange(999)}).integers(-1, {hi}, "
                   f"{lit(_perturb(c, (n, cl)))}), dtype=L.int64)")
            c.result(f"F.multilabel_margin_loss({x}, {t}, reduction={red!r})")
    elif k == 4:
        t_len, s_len = c.pick((1, 3, 6, 10)), c.pick((0, 1, 2, 4))
        x = c.tensor((t_len, n, cl + 1), dtype, grad=grad, kind="n" if c.diff else None)
        lp = c.var("lp")
        c.emit(f"{lp} = {x}.log_softmax(-1)")
        tg = c.var("tg")
        c.emit(f"{tg} = L.tensor(np.random.default_rng({c.r.randrange(999)}).integers(1, {cl + 1}, "
               f"{lit((n, s_len))}), dtype=L.int64)")
        il = c.var("il")
        tl = c.var("tl")
        bad_len = t_len + 2 if c.bad(0.3) else t_len
        c.emit(f"{il} = L.full({lit(_perturb(c, (n,)))}, {bad_len}, dtype=L.int64)")
        hi = s_len + 1 + (2 if c.bad(0.2) else 0)
        c.emit(f"{tl} = L.tensor(np.random.default_rng({c.r.randrange(999)}).integers(0, {hi}, "
               f"({n},)), dtype=L.int64)")
        c.tol = "red"
        # torch's gradient of an infinite (impossible-alignment) loss is NaN, dlcore's 0
        zi = True if grad and c.diff else c.pick((True, False))
        c.result(f"F.ctc_loss({lp}, {tg}, {il}, {tl}, blank={0 if not c.bad(0.2) else cl + 5}, reduction={red!r}, "
                 f"zero_infinity={zi})")
    elif k == 5:
        n = max(n, 1) if c.diff else n
        r = c.pick((1, 2, 3)) if not c.bad(0.3) else c.pick((0, -1, 2**40))
        c.tol = "exact"
        if c.chance(0.5):
            rr = r if isinstance(r, int) and 0 < r < 4 else 2
            x = c.tensor((n, cl * rr * rr if not c.bad(0.3) else cl * rr * rr + 1, 2, 3), dtype, grad=grad)
            c.result(f"F.pixel_shuffle({x}, {r})")
        else:
            rr = r if isinstance(r, int) and 0 < r < 4 else 2
            x = c.tensor((n, cl, 2 * rr, rr if not c.bad(0.3) else rr + 1), dtype, grad=grad)
            c.result(f"F.pixel_unshuffle({x}, {r})")
    elif k == 6:
        three = c.chance(0.3)
        sp = (c.pick((1, 2, 4)), c.pick((1, 3, 5))) + ((c.pick((1, 2)),) if three else ())
        th = c.tensor((n, len(sp), len(sp) + 1) if not c.bad(0.3) else (n, 2, 2), dtype, grad=grad)
        ac = c.pick((True, False))
        size = (n, cl) + sp if not c.bad(0.3) else c.pick(((n + 1, cl) + sp, (n, cl, 2), (n, cl, -1, 2)))
        c.tol = "red"
        c.result(f"F.affine_grid({th}, {lit(size)}, align_corners={ac})")
    elif k == 7:
        three = c.chance(0.25)
        sp = (c.pick((1, 2, 4)), c.pick((1, 3, 5))) + ((c.pick((1, 2)),) if three else ())
        x = c.tensor((n, cl) + sp, dtype, grad=grad)
        osp = (c.pick((1, 2, 3)), c.pick((1, 4))) + ((2,) if three else ())
        modes = ("bilinear", "nearest") + (() if three else ("bicubic",))
        mode = c.pick(modes) if not c.bad(0.15) else "area"
        g = c.tensor(_perturb(c, (n,) + osp + (len(sp),)), _dtype_or_bad(c, dtype), kind="u",
                     grad=grad and not (c.diff and mode == "nearest"))
        gg = c.var("g")
        c.emit(f"{gg} = {g} * 2.4 - 1.2")
        pad = c.pick(("zeros", "border", "reflection")) if not c.bad(0.15) else "wrap"
        c.result(f"F.grid_sample({x}, {gg}, mode={mode!r}, padding_mode={pad!r}, "
                 f"align_corners={c.pick((True, False))})")
    elif k == 8:
        num, dim = c.pick((1, 3, 7)), c.pick((1, 2, 4))
        mode = c.pick(("sum", "mean", "max")) if not c.bad(0.15) else "min"
        # torch's max mode skips NaN rows, and its empty bags are 0 whatever the data
        w = c.tensor((num, dim), dtype, grad=grad, kind="n" if c.diff else None)
        if c.chance(0.5):
            i = c.index_tensor((n, c.pick((1, 3))), num)
            c.result(f"F.embedding_bag({i}, {w}, mode={mode!r})")
        else:
            m = c.small(0, 8)
            i = c.index_tensor((m,), num)
            off = c.var("off")
            offs = sorted(c.small(0, m) for _ in range(c.small(1, 3)))
            offs[0] = 0 if not c.bad(0.3) else c.pick((1, -1, m + 5))
            c.emit(f"{off} = L.tensor({sorted(offs) if not c.invalid else offs}, dtype=L.int64)")
            psw = ""
            if mode == "sum" and c.chance(0.3):
                psw = f", per_sample_weights={c.tensor(_perturb(c, (m,)), dtype, kind='n' if c.diff else None)}"
            c.result(f"F.embedding_bag({i}, {w}, {off}, mode={mode!r}, "
                     f"include_last_offset={c.pick((False, True)) if c.invalid else False}{psw})")
    elif k == 9:
        d = c.pick((1, 2))
        sp = tuple(c.pick((2, 3, 4, 6)) for _ in range(d))
        x = c.tensor((n, cl) + sp, dtype, kind="p", grad=grad)
        ks = c.pick((1, 2)) if not c.bad(0.2) else c.pick((0, -1, 2**40))
        pn = c.pick((1.0, 2.0, 3)) if not c.bad(0.1) else 0.0
        c.result(f"F.lp_pool{d}d({x}, {lit(pn)}, {ks}, stride={c.pick((None, 1, 2))}, "
                 f"ceil_mode={c.pick((True, False))})")
    else:
        d = c.pick((1, 2))
        sp = tuple(c.pick((2, 4, 6)) for _ in range(d))
        x = _float(c, (max(n, 1), cl) + sp, dtype, grad, no_dups=True, kind="n" if not c.invalid else None)
        c.emit(f"pooled, ind = F.max_pool{d}d({x}, 2, return_indices=True)")
        if c.bad(0.3):
            c.emit(f"ind = ind + {c.pick((1000, -5))}")
        osz = "" if not c.bad(0.3) else f", output_size={lit(c.pick(((1,), (2**40,) * d, (7,) * (d + 3))))}"
        c.result(f"F.max_unpool{d}d(pooled, ind, 2{osz})")
    _backward(c)


@spec("breadth_more", weight=1.5)
def g_more(c):
    """The rest: linalg.lu/lu_solve/solve_ex/ldl_factor/ldl_solve/tensorinv/tensorsolve/eigvals,
    addbmm/baddbmm, histogramdd, as_strided_scatter, fractional_max_pool2d/3d (random windows: shapes
    only), max_pool*_with_indices and adaptive_max_pool*_with_indices."""
    dtype = "float64" if c.diff else c.fdtype()
    grad = c.want_grad()
    c.tol = "red"
    n = c.pick((1, 2, 3, 4) if grad and c.diff else (0, 1, 2, 3, 4))
    batch = c.pick(((), (2,), (2, 1)))
    k = c.r.randrange(10)
    if k in (0, 1):
        x = _float(c, batch + ((n, n) if not c.bad(0.2) else (n, n + 1)), dtype, grad, no_dups=True, finite=c.diff)
        a = c.var("a")
        c.emit(f"{a} = {x} + {2 * n + 1} * L.eye({n}, dtype=L.{dtype})")
        b = _float(c, _perturb(c, batch + (n, 2)), _dtype_or_bad(c, dtype), finite=c.diff)
        if k == 0:
            u = c.r.random()
            if u < 0.3:
                c.emit(f"P, Lo, U = L.linalg.lu({a})")
                c.result("P @ Lo @ U")
            elif u < 0.6:
                c.emit(f"LU, piv = L.linalg.lu_factor({a})")
                c.result(f"L.linalg.lu_solve(LU, piv, {b}, left=True, adjoint={c.pick((True, False))})")
            else:
                c.result(f"L.linalg.solve_ex({a}, {b})[0]")
        else:
            c.emit(f"{a} = {a} + {a}.mT")
            c.emit(f"LD, piv = L.linalg.ldl_factor({a})")
            c.result(f"L.linalg.ldl_solve(LD, piv, {b})")
    elif k == 2:
        sh = c.pick(((2, 3, 6), (4, 2, 2), (6, 2, 3), (2, 2, 2, 2)))
        ind = c.pick((1, 2)) if not c.bad(0.3) else c.pick((0, -1, 5))
        left = numel(sh[:ind]) if ind in (1, 2) else 0
        x = _float(c, sh, dtype, grad, no_dups=True, finite=c.diff)
        if left and left * left == numel(sh):
            a = c.var("a")
            c.emit(f"{a} = {x} + {2 * left} * L.eye({left}, dtype=L.{dtype}).reshape({lit(sh)})")
            x = a
        if c.chance(0.5):
            c.result(f"L.linalg.tensorinv({x}, ind={ind})")
        else:
            b = _float(c, _perturb(c, sh[:ind] if ind in (1, 2) else sh[:1]), dtype, finite=c.diff)
            c.result(f"L.linalg.tensorsolve({x}, {b})")
    elif k == 3:
        # a real spectrum: a symmetric matrix
        x = _float(c, batch + (n, n), dtype, grad=False, finite=c.diff)
        c.comparable = False
        c.result(f"L.linalg.eigvals({x} + {x}.mT)")
    elif k == 4:
        b, m, p, q = (c.pick((0, 1, 2, 3)) for _ in range(4))
        inp = _float(c, _perturb(c, (m, q)), dtype, grad, finite=c.diff)
        b1 = _float(c, (b, m, p), dtype, finite=c.diff)
        b2 = _float(c, _perturb(c, (b, p, q)), _dtype_or_bad(c, dtype), finite=c.diff)
        beta, alpha = c.pick((1, 0, 0.5)), c.pick((1, -2))
        if c.chance(0.5):
            c.result(f"L.addbmm({inp}, {b1}, {b2}, beta={beta}, alpha={alpha})")
        else:
            inp2 = _float(c, _perturb(c, (b, m, q)), dtype, grad, finite=c.diff)
            c.result(f"L.baddbmm({inp2}, {b1}, {b2}, beta={beta}, alpha={alpha})")
    elif k == 5:
        d = c.pick((1, 2, 3))
        # one distinct value per dim puts it on the middle bin edge, where torch's float32 rounding decides
        x = _float(c, (c.pick(DIM_SIZES[:9]) if not c.diff else c.pick((2, 3, 5, 8)), d) if not c.bad(0.2) else (3,),
                   c.fdtype(), kind="u", no_dups=c.diff)
        bins = [c.pick((1, 2, 4)) for _ in range(d)] if c.chance(0.5) else c.pick((1, 3))
        if c.bad(0.3):
            bins = c.pick(([0] * d, [2] * (d + 1), -1))
        rng = f", range={lit([v for _ in range(d) for v in (0.0, 1.0)])}" if c.chance(0.5) else ""
        c.result(f"tuple(L.histogramdd({x}, {lit(bins)}{rng}, density={c.pick((True, False))}))")
    elif k == 6:
        # torch's gradient for as_strided_scatter's input is wrong (1 at the overwritten positions, 0 elsewhere)
        x = c.tensor((3, 4), c.dtype(FLOATS), layout="contig", grad=grad and not c.diff)
        # self-overlapping strides write one position twice, in an unspecified order: not compared
        size, stride = c.pick((((2, 2), (4, 1)), ((3,), (1,)), ((1, 4), (1, 1)), ((), ()), ((2, 2), (1, 1))))
        c.comparable = stride != (1, 1) or size != (2, 2)
        if c.bad(0.3):
            stride = c.pick(((2**40,) * len(size), (-1,) * len(size)))
        src = c.tensor(_perturb(c, size), c.dtype(FLOATS))
        off = c.pick((None, 0, 2)) if not c.bad(0.2) else c.pick((2**40, -1))
        c.result(f"L.as_strided_scatter({x}, {src}, {lit(size)}, {lit(stride)}, {off})")
    elif k == 7:
        c.comparable = False
        c.tol = "shape"
        three = c.chance(0.3)
        sp = tuple(c.pick((3, 5, 8)) for _ in range(3 if three else 2))
        x = c.tensor((c.pick((1, 2)), 2) + sp if not c.bad(0.15) else sp[:1], dtype, grad=grad)
        ks = c.pick((2, 3)) if not c.bad(0.2) else c.pick((0, 9, -1))
        size = f"output_size={c.pick((1, 2))}" if c.chance(0.5) else f"output_ratio={c.pick((0.5, 0.7))}"
        if c.bad(0.2):
            size = c.pick(("output_ratio=1.5", "output_size=20", "output_size=None"))
        c.result(f"F.fractional_max_pool{3 if three else 2}d({x}, {ks}, {size}, "
                 f"return_indices={c.pick((True, False))})")
    else:
        d = c.pick((1, 2, 3))
        sp = tuple(c.pick((2, 3, 5)) for _ in range(d))
        x = _float(c, (2,) + sp if c.chance(0.5) else (1, 2) + sp, dtype, grad, no_dups=True, kind="n")
        if c.chance(0.5):
            ks = c.pick((1, 2)) if not c.bad(0.2) else c.pick((0, 7, 2**40))
            c.result(f"F.max_pool{d}d_with_indices({x}, {ks}, stride={c.pick((None, 1, 2))}, "
                     f"padding={c.pick((0, 1)) if ks == 2 else 0}, ceil_mode={c.pick((True, False))})")
        else:
            os_ = c.pick((1, 2, 3)) if not c.bad(0.2) else c.pick((0, -1, 2**40))
            c.result(f"F.adaptive_max_pool{d}d_with_indices({x}, {os_})")
    _backward(c)
