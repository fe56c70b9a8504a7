"""Op-table rows for the elementwise, activation, copy, view, factory and random families."""
import math

import numpy as np

import dlcore
from optable import Const, ErrorCase, OpRow

_erf = np.vectorize(math.erf)


def normal(*shapes):
    """Samples: one tuple per shape group, standard normal values."""
    def make(r):
        return [tuple(r.standard_normal(s) for s in group) for group in shapes]
    return make


def positive(*shapes, lo=0.5, hi=2.0):
    def make(r):
        return [tuple(r.uniform(lo, hi, s) for s in group) for group in shapes]
    return make


# shapes: odd sizes, broadcasting, 0-d and size-1
UNARY_SHAPES = [((7,),), ((3, 11),), ((2, 1, 5),), ((),), ((1,),)]
BINARY_SHAPES = [((7,), (7,)), ((3, 1, 5), (4, 5)), ((2, 3), ()), ((1,), (6,)), ((5, 1), (1, 3))]


def bad_broadcast(fn_name):
    return ErrorCase(lambda dl: getattr(dl, fn_name)(dl.ones(2, 3), dl.ones(4)), ValueError,
                     rf"{fn_name}: shapes \[2, 3\] and \[4\] cannot be broadcast")


def _int_samples(r, shapes):
    """Samples of int64 values of both signs, int32 for the second shape group (promotion)."""
    return [tuple(r.integers(-100, 100, s).astype(np.int32 if k == 1 else np.int64) for s in group)
            for k, group in enumerate(shapes)]


def _no_diff_at_ties(r, shapes):
    # minimum/maximum: values apart from each other (the operands offset by 0.1, so never equal)
    # so that finite differences never straddle a tie
    return [tuple((r.permutation(np.prod(s, dtype=int) or 1).reshape(s) * 0.37 if s else
                   np.array(r.integers(0, 5) * 0.37)) + 0.1 * j for j, s in enumerate(group)) for group in shapes]


ROWS = [
    # ---- binary arithmetic
    OpRow("add", lambda a, b: dlcore.add(a, b), np.add, normal(*BINARY_SHAPES), errors=[bad_broadcast("add")]),
    OpRow("add", lambda a, b: dlcore.add(a, b, alpha=2.5), lambda a, b: a + 2.5 * b, normal(*BINARY_SHAPES), id="alpha"),
    OpRow("add", lambda a: a + 2, lambda a: a + 2, normal(*UNARY_SHAPES), id="scalar"),
    OpRow("sub", lambda a, b: a - b, np.subtract, normal(*BINARY_SHAPES), errors=[bad_broadcast("sub")]),
    OpRow("sub", lambda a: 3.0 - a, lambda a: 3.0 - a, normal(*UNARY_SHAPES), id="rsub"),
    OpRow("mul", lambda a, b: a * b, np.multiply, normal(*BINARY_SHAPES)),
    OpRow("div", lambda a, b: a / b, np.divide, positive(*BINARY_SHAPES)),
    OpRow("div", lambda a: 1.5 / a, lambda a: 1.5 / a, positive(*UNARY_SHAPES), id="rdiv"),
    OpRow("pow", lambda a, b: a ** b, np.power, positive(*BINARY_SHAPES),
          tol={"float32": (1e-5, 1e-6)}),
    OpRow("pow", lambda a: a ** 2, lambda a: a ** 2, normal(*UNARY_SHAPES), id="square"),
    OpRow("minimum", dlcore.minimum, np.minimum, lambda r: _no_diff_at_ties(r, BINARY_SHAPES)),
    OpRow("maximum", dlcore.maximum, np.maximum, lambda r: _no_diff_at_ties(r, BINARY_SHAPES)),
    # ---- comparisons and logical ops (bool results)
    *[OpRow(n, getattr(dlcore, n), getattr(np, u), lambda r: [(np.round(a), np.round(b)) for a, b in
                                                             normal(*BINARY_SHAPES)(r)], grad=False)
      for n, u in [("eq", "equal"), ("ne", "not_equal"), ("lt", "less"), ("le", "less_equal"),
                   ("gt", "greater"), ("ge", "greater_equal")]],
    *[OpRow(n, getattr(dlcore, n), getattr(np, n), lambda r: [(np.round(a), np.round(b)) for a, b in
                                                             normal(*BINARY_SHAPES)(r)], grad=False)
      for n in ["logical_and", "logical_or", "logical_xor"]],
    # ---- bitwise ops (integer samples; bool ones are the logical ops)
    *[OpRow(n, getattr(dlcore, n), getattr(np, n), lambda r: [(a, b) for a, b in _int_samples(r, BINARY_SHAPES)],
            grad=False, dtypes=("float32",),
            errors=[ErrorCase(lambda dl, n=n: getattr(dl, n)(dl.ones(2), dl.ones(2)), TypeError,
                              f"{n}: only integer and bool tensors are supported")])
      for n in ["bitwise_and", "bitwise_or", "bitwise_xor"]],
    OpRow("bitwise_not", dlcore.bitwise_not, np.invert, lambda r: _int_samples(r, UNARY_SHAPES), grad=False,
          dtypes=("float32",)),
    *[OpRow(n + "_", lambda a, b, n=n: getattr(a.clone(), n + "_")(b), getattr(np, n),
            lambda r: _int_samples(r, [((3, 4), (4,)), ((5,), ())]), grad=False, dtypes=("float32",))
      for n in ["bitwise_and", "bitwise_or", "bitwise_xor"]],
    OpRow("where", lambda c, a, b: dlcore.where(c, a, b), np.where,
          lambda r: [(r.standard_normal((3, 4)) > 0, r.standard_normal((3, 4)), r.standard_normal((4,))),
                     (r.standard_normal((5,)) > 0, r.standard_normal(()), r.standard_normal((5,)))],
          errors=[ErrorCase(lambda dl: dl.where(dl.ones(3), dl.ones(3), dl.ones(3)), TypeError,
                            "where: condition must be a bool tensor")]),
    # ---- in place (through a clone so that leaves are not written)
    OpRow("add_", lambda a, b: a.clone().add_(b, alpha=0.5), lambda a, b: a + 0.5 * b, normal(((3, 4), (4,)), ((5,), ())),
          errors=[ErrorCase(lambda dl: dl.ones(3).add_(dl.ones(2, 3)), ValueError,
                            r"add_: output of shape \[3\] does not match the broadcast shape \[2, 3\]"),
                  ErrorCase(lambda dl: dl.ones(3, dtype=dl.int64).add_(dl.ones(3)), TypeError,
                            "add_: result type float32 can't be cast to the output dtype int64")]),
    OpRow("sub_", lambda a, b: a.clone().sub_(b), np.subtract, normal(((3, 4), (4,)))),
    OpRow("mul_", lambda a, b: a.clone().mul_(b), np.multiply, normal(((3, 4), (4,)), ((5,), ()))),
    OpRow("div_", lambda a, b: a.clone().div_(b), np.divide, positive(((3, 4), (4,)))),
    # ---- unary
    OpRow("neg", lambda a: -a, np.negative, normal(*UNARY_SHAPES),
          errors=[ErrorCase(lambda dl: dl.neg(dl.ones(2, dtype=dl.bool)), TypeError,
                            r"neg: not supported for bool tensors \(bool \[2\]\)")]),
    OpRow("abs", dlcore.abs, np.abs, normal(*UNARY_SHAPES)),
    OpRow("sign", dlcore.sign, np.sign, normal(*UNARY_SHAPES)),
    OpRow("exp", dlcore.exp, np.exp, normal(*UNARY_SHAPES)),
    OpRow("exp", dlcore.exp, np.exp, lambda r: [(np.array([-104.0, -88.0, -87.3, -20.0, 0.0, 1e-8, 20.0, 88.0, 88.7]),)],
          grad=False, id="range", tol={"float32": (2e-6, 1e-44)}),  # exp(-104) is below the float32 subnormals
    OpRow("log", dlcore.log, np.log, positive(*UNARY_SHAPES)),
    OpRow("log1p", dlcore.log1p, np.log1p, positive(*UNARY_SHAPES, lo=-0.5, hi=2.0)),
    OpRow("sqrt", dlcore.sqrt, np.sqrt, positive(*UNARY_SHAPES)),
    OpRow("rsqrt", dlcore.rsqrt, lambda a: 1 / np.sqrt(a), positive(*UNARY_SHAPES)),
    OpRow("sin", dlcore.sin, np.sin, normal(*UNARY_SHAPES)),
    OpRow("cos", dlcore.cos, np.cos, normal(*UNARY_SHAPES)),
    OpRow("logical_not", dlcore.logical_not, np.logical_not, lambda r: [(np.round(r.standard_normal((3, 5))),)], grad=False),
    OpRow("clamp", lambda a: dlcore.clamp(a, -0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7),
          lambda r: [(r.choice([-1.3, -0.9, -0.2, 0.1, 0.4, 1.1], size=(4, 5)) + r.uniform(-0.05, 0.05, (4, 5)),)],
          errors=[ErrorCase(lambda dl: dl.clamp(dl.ones(2)), ValueError, "clamp: at least one of min and max")]),
    OpRow("clamp", lambda a: a.clamp(min=0.1), lambda a: np.maximum(a, 0.1),
          lambda r: [(r.choice([-1.0, 0.5, 2.0], size=(7,)) + r.uniform(-0.05, 0.05, (7,)),)], id="min"),
    # ---- activations
    OpRow("sigmoid", dlcore.sigmoid, lambda a: 1 / (1 + np.exp(-a)), normal(*UNARY_SHAPES),
          errors=[ErrorCase(lambda dl: dl.sigmoid(dl.ones(2, dtype=dl.float16)), TypeError,
                            "sigmoid: float16 arithmetic is not supported on CPU")]),
    OpRow("tanh", dlcore.tanh, np.tanh, normal(*UNARY_SHAPES)),
    OpRow("relu", dlcore.relu, lambda a: np.maximum(a, 0), lambda r: [(np.asarray(np.sign(x) * (0.05 + np.abs(x))),) for (x,) in normal(*UNARY_SHAPES)(r)]),
    OpRow("leaky_relu", lambda a: dlcore.leaky_relu(a, 0.2), lambda a: np.where(a > 0, a, 0.2 * a),
          lambda r: [(np.asarray(np.sign(x) * (0.05 + np.abs(x))),) for (x,) in normal(*UNARY_SHAPES)(r)]),
    OpRow("prelu", dlcore.prelu, lambda a, w: np.where(a > 0, a, w.reshape(w.shape + (1,) * (a.ndim - 2)) * a),
          lambda r: [(np.sign(x) * (0.05 + np.abs(x)), r.standard_normal(c))
                     for x, c in ((r.standard_normal((2, 3, 4)), 3), (r.standard_normal((2, 4)), 4),
                                  (r.standard_normal((2, 3, 4)), 1), (r.standard_normal((7,)), 1))],
          errors=[ErrorCase(lambda dl: dl.prelu(dl.ones(2, 3, 5), dl.ones(4)), ValueError,
                            r"prelu: weight of shape \[4\] must have 1 or input.shape\[1\] elements"),
                  ErrorCase(lambda dl: dl.prelu(dl.ones(2, 3), dl.ones(3, dtype=dl.float64)), TypeError,
                            r"prelu: input \(float32\) and weight \(float64\) must be of the same floating dtype")]),
    OpRow("gelu", dlcore.gelu, lambda a: 0.5 * a * (1 + _erf(a / np.sqrt(2))),
          lambda r: normal(*UNARY_SHAPES)(r) + [(np.linspace(-9, 9, 37),)],
          errors=[ErrorCase(lambda dl: dl.gelu(dl.ones(2), approximate="fast"), ValueError,
                            "gelu: approximate must be 'none' or 'tanh'")]),
    OpRow("gelu", lambda a: dlcore.gelu(a, approximate="tanh"),
          lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3))),
          lambda r: normal(*UNARY_SHAPES)(r) + [(np.linspace(-9, 9, 37),)], id="tanh"),
    OpRow("silu", dlcore.silu, lambda a: a / (1 + np.exp(-a)), normal(*UNARY_SHAPES)),
    OpRow("softplus", lambda a: dlcore.softplus(a, beta=2.0, threshold=5.0),
          lambda a: np.where(2 * a > 5, a, np.log1p(np.exp(2 * a)) / 2), lambda r: [(r.uniform(-4, 4, (5, 7)),)]),
    OpRow("elu", lambda a: dlcore.elu(a, 1.5), lambda a: np.where(a > 0, a, 1.5 * np.expm1(a)),
          lambda r: [(np.asarray(np.sign(x) * (0.05 + np.abs(x))),) for (x,) in normal(*UNARY_SHAPES)(r)]),
    # ---- copies and conversion
    OpRow("copy_", lambda a, b: a.clone().copy_(b), lambda a, b: np.broadcast_to(b, a.shape).copy(),
          normal(((3, 4), (4,)), ((5,), ())),
          errors=[ErrorCase(lambda dl: dl.ones(3).copy_(dl.ones(2, 3)), ValueError,
                            r"copy_: source of shape \[2, 3\] does not broadcast to destination shape \[3\]")]),
    OpRow("fill_", lambda a: a.clone().fill_(2.5), lambda a: np.full_like(a, 2.5), normal(*UNARY_SHAPES), grad=False),
    OpRow("zero_", lambda a: a.clone().zero_(), np.zeros_like, normal(*UNARY_SHAPES), grad=False),
    OpRow("contiguous", lambda a: a.t().contiguous(), lambda a: a.T.copy(), normal(((3, 5),))),
    OpRow("clone", lambda a: a.clone(), lambda a: a.copy(), normal(*UNARY_SHAPES)),
    OpRow("to_dtype", lambda a: a.double() * 1.0, lambda a: a, normal(*UNARY_SHAPES)),
    OpRow("to_dtype", lambda a: a.to(dlcore.int32), lambda a: np.trunc(a).astype(np.int32),
          lambda r: [(r.uniform(-50, 50, (9,)),)], grad=False, id="int"),
    OpRow("to_dtype", lambda a: a.to(dlcore.float16).float(), lambda a: _half_round(a),
          lambda r: [(r.standard_normal((17,)) * 100,), (np.array([1e-7, 6e-8, 65504.0, 70000.0, -2.5e-5]),)],
          grad=False, id="half", dtypes=("float32",), tol={"float32": (0, 0)}),
    OpRow("to_dtype", lambda a: a.to(dlcore.bfloat16).float(),
          lambda a: _bf16_round(a), lambda r: [(r.standard_normal((17,)) * 100,)], grad=False, id="bf16",
          dtypes=("float32",), tol={"float32": (0, 0)}),
    OpRow("to_device", lambda a: a.to("cpu") * 1.0, lambda a: a, normal(((4,),)),
          errors=[ErrorCase(lambda dl: dl.ones(2).to("tpu"), ValueError, "unknown device 'tpu'")]),
    OpRow("detach", lambda a: a.detach() * 1.0, lambda a: a, normal(((3,),)), grad=False),
    # ---- views
    OpRow("view", lambda a: a.view(5, 3), lambda a: a.reshape(5, 3), normal(((3, 5),)),
          errors=[ErrorCase(lambda dl: dl.ones(3, 4).t().view(12), ValueError, "view: shape .* is not compatible"),
                  ErrorCase(lambda dl: dl.ones(3, 4).view(5, -1), ValueError,
                            r"view: shape \[5, -1\] is invalid for input of size 12")]),
    OpRow("reshape", lambda a: a.reshape(-1), lambda a: a.reshape(-1), normal(((3, 5),), ((2, 1, 3),))),
    OpRow("reshape", lambda a: a.t().reshape(15), lambda a: a.T.reshape(15), normal(((3, 5),)), id="copy"),
    OpRow("permute", lambda a: a.permute(2, 0, 1) * 1.0, lambda a: a.transpose(2, 0, 1), normal(((2, 3, 4),)),
          errors=[ErrorCase(lambda dl: dl.ones(2, 3).permute(0, 0), ValueError, "permute: repeated dim 0")]),
    OpRow("transpose", lambda a: a.transpose(0, -1), lambda a: np.swapaxes(a, 0, -1), normal(((2, 3, 4),), ((5,),))),
    OpRow("expand", lambda a: a.expand(4, 3, 5), lambda a: np.broadcast_to(a, (4, 3, 5)), normal(((3, 1),), ((1, 5),)),
          errors=[ErrorCase(lambda dl: dl.ones(3, 2).expand(3, 4), ValueError,
                            "expand: the expanded size 4 must match the existing size 2 at dim 1")]),
    OpRow("squeeze", lambda a: a.squeeze(), np.squeeze, normal(((1, 3, 1, 2),), ((1,),))),
    OpRow("squeeze", lambda a: a.squeeze(2), lambda a: np.squeeze(a, 2), normal(((1, 3, 1, 2),)), id="dim"),
    OpRow("unsqueeze", lambda a: a.unsqueeze(1), lambda a: np.expand_dims(a, 1), normal(((3, 4),), ((2,),))),
    OpRow("unsqueeze", lambda a: a.unsqueeze(-1), lambda a: np.expand_dims(a, -1), normal(((3, 4),)), id="neg",
          errors=[ErrorCase(lambda dl: dl.ones(3, 4).unsqueeze(4), IndexError,
                            r"unsqueeze: dimension 4 out of range for a 3-d tensor")]),
    OpRow("flatten", lambda a: a.flatten(1), lambda a: a.reshape(a.shape[0], -1), normal(((2, 3, 4),))),
    OpRow("narrow", lambda a: a.narrow(1, 1, 3), lambda a: a[:, 1:4], normal(((2, 7),)),
          errors=[ErrorCase(lambda dl: dl.ones(2, 5).narrow(1, 3, 4), IndexError,
                            r"narrow: start \(3\) \+ length \(4\) exceeds dimension size \(5\)")]),
    OpRow("select", lambda a: a.select(1, -2), lambda a: a[:, -2], normal(((3, 7),)),
          errors=[ErrorCase(lambda dl: dl.ones(2, 5).select(1, 5), IndexError,
                            "index 5 is out of bounds for dimension 1 with size 5")]),
    OpRow("slice", lambda a: a[1:7:2], lambda a: a[1:7:2], normal(((9, 2),), ((3,),))),
    OpRow("as_strided", lambda a: a.detach().as_strided([2, 2], [1, 2], 1), lambda a: np.lib.stride_tricks.as_strided(
          a.reshape(-1)[1:], (2, 2), (8, 16)), lambda r: [(r.standard_normal((6,)),)], grad=False, noncontig=False,
          dtypes=("float64",),
          errors=[ErrorCase(lambda dl: dl.ones(4).as_strided([3], [2], 0), ValueError,
                            "as_strided: .* reach past the storage of 4 elements")]),
]


def _half_round(a):
    with np.errstate(over="ignore"):  # 70000 overflows to inf, as it must
        return a.astype(np.float16).astype(np.float64)


def _bf16_round(a):
    x = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    x = ((x + 0x7FFF + ((x >> 16) & 1)) >> 16) << 16
    return x.astype(np.uint32).view(np.float32).astype(np.float64)


def _seeded(fn):
    def run(*args):
        dlcore.manual_seed(1234)
        return fn(*args)
    return run


# Factories and random tensors: checked for shape/dtype/values here, statistics in test_random.py.
ROWS += [
    OpRow("zeros", lambda: dlcore.zeros(2, 3), lambda: np.zeros((2, 3)), lambda r: [()], grad=False,
          errors=[ErrorCase(lambda dl: dl.zeros(2, -1), ValueError, r"full: negative dimension in shape \[2, -1\]")]),
    OpRow("ones", lambda: dlcore.ones((4,), dtype=dlcore.int32), lambda: np.ones(4, np.int32), lambda r: [()], grad=False),
    OpRow("full", lambda: dlcore.full((2, 2), 7), lambda: np.full((2, 2), 7, np.int64), lambda r: [()], grad=False),
    OpRow("arange", lambda: dlcore.arange(1, 10, 3), lambda: np.arange(1, 10, 3), lambda r: [()], grad=False,
          errors=[ErrorCase(lambda dl: dl.arange(0, 5, 0), ValueError, "arange: step must be non-zero")]),
    OpRow("arange", lambda: dlcore.arange(0, 1, 0.1), lambda: np.arange(0, 1, 0.1), lambda r: [()], grad=False, id="float",
          tol={"float32": (1e-6, 1e-7), "float64": (1e-6, 1e-7)}),
    OpRow("linspace", lambda: dlcore.linspace(-1, 2, 7, dtype=dlcore.float64), lambda: np.linspace(-1, 2, 7),
          lambda r: [()], grad=False),
    OpRow("eye", lambda: dlcore.eye(3, 4), lambda: np.eye(3, 4), lambda r: [()], grad=False),
    OpRow("rand", lambda: dlcore.rand(1000).lt(1.0).all() if hasattr(dlcore, "all") else dlcore.rand(3), None,
          lambda r: [()], grad=False,
          errors=[ErrorCase(lambda dl: dl.rand(2, dtype=dl.int64), TypeError, "rand: expected a floating dtype")]),
    OpRow("randn", lambda: dlcore.randn(3), None, lambda r: [()], grad=False),
    OpRow("randint", lambda: dlcore.randint(0, 5, (3,)), None, lambda r: [()], grad=False,
          errors=[ErrorCase(lambda dl: dl.randint(5, 5, (3,)), ValueError, "randint: expected high > low"),
                  ErrorCase(lambda dl: dl.randint(0, 2**31 + 1, (3,), dtype=dl.int32), RuntimeError,
                            r"randint: low=0 and high - 1=2147483648 must be in \[-2147483648, 2147483647\]")]),
    OpRow("randperm", lambda: dlcore.randperm(5), None, lambda r: [()], grad=False),
    # a one-hot row draws its category whatever the random numbers (distributions: tests/test_random.py)
    OpRow("multinomial", lambda p: dlcore.multinomial(p, 3, replacement=True).to(dlcore.float64),
          lambda p: np.full((p.shape[0], 3), 2.0), lambda r: [(np.eye(7)[[2, 2, 2, 2]],)], grad=False,
          errors=[ErrorCase(lambda dl: dl.multinomial(dl.ones(2, 3), 4), ValueError,
                            "multinomial: cannot draw 4 samples without replacement from 3 categories"),
                  ErrorCase(lambda dl: dl.multinomial(dl.tensor([0.5, -1.0]), 1), ValueError,
                            "multinomial: probs must be finite and non-negative, got -1 at row 0, index 1"),
                  ErrorCase(lambda dl: dl.multinomial(dl.zeros(2, 3), 1, True), ValueError,
                            "multinomial: row 0 of probs sums to zero"),
                  ErrorCase(lambda dl: dl.multinomial(dl.ones(2, 2, 2), 1), ValueError,
                            "multinomial: expected probs of 1 or 2 dimensions")]),
    OpRow("dropout", _seeded(lambda a: dlcore.dropout(a, 0.3, True)),
          None, normal(((4, 5),)),
          errors=[ErrorCase(lambda dl: dl.dropout(dl.ones(2), 1.5), ValueError,
                            "dropout: probability has to be between 0 and 1, but got 1.5")]),
]
