// Elementwise binary/unary ops and activations, as dlcore.<op> functions, Tensor methods
// and Python operators. Python numbers become wrapped-number tensors (Note [Type promotion]).
#include "common.h"

namespace dlcore {
namespace {

using BinFn = Tensor (*)(const Tensor&, const Tensor&);

template <BinFn F>
Tensor bin(py::handle a, py::handle b) {
  return F(as_tensor_arg(a, "binary op", "input"), as_tensor_arg(b, "binary op", "other"));
}

Tensor sub2(const Tensor& a, const Tensor& b) { return sub(a, b); }

// add/sub's alpha, checked against the result dtype of (input, other) as PyTorch does: a
// float alpha needs a floating result, a bool alpha a bool one.
double alpha_arg(py::handle alpha, const Tensor& a, const Tensor& b, const char* op) {
  const DType t = result_type({a, b});
  const bool is_bool = PyBool_Check(alpha.ptr());
  const bool is_int = !is_bool && PyIndex_Check(alpha.ptr());
  DL_CHECK(!is_bool || t == DType::Bool, TypeError, op, ": a boolean alpha is only supported for bool results, got ",
           a->describe(), " and ", b->describe());
  DL_CHECK(is_floating(t) || is_bool || is_int, TypeError, op,
           ": for integral input tensors, argument alpha must not be a floating point number, got alpha=",
           std::string(py::repr(alpha)), " with ", a->describe(), " and ", b->describe());
  return alpha.cast<double>();
}

// clamp/clip. The result dtype is PyTorch's result_type(input, min, max) with the bounds as
// the Python numbers they are (Note [Type promotion]): an int tensor clamped to 2 stays int,
// clamped to 2.0 it is float32. The C++ op only sees doubles, so the input is promoted here.
Tensor clamp_fn(const Tensor& x, py::handle min, py::handle max) {
  std::vector<Tensor> operands{x};
  std::optional<double> bounds[2];
  const char* names[2] = {"min", "max"};
  int i = 0;
  for (py::handle b : {min, max}) {
    if (!b.is_none()) {
      Tensor t = as_tensor_arg(b, "clamp", names[i]);
      DL_CHECK(t->numel() == 1, TypeError, "clamp: ", names[i], " must be a number or a one-element tensor, got ",
               t->describe());
      operands.push_back(t);
      bounds[i] = item_as_double(t);
    }
    ++i;
  }
  const DType dtype = result_type(operands);
  return clamp(dtype == x->dtype() ? x : to_dtype(x, dtype), bounds[0], bounds[1]);
}

template <BinFn F>
Tensor rbin(const Tensor& self, py::handle other) {
  return F(as_tensor_arg(other, "binary op", "other"), self);
}

}  // namespace

void bind_elementwise(py::module_& m) {
  TensorClass cls = tensor_class(m);
  py::object no = py::none();

  // ---- binary ---------------------------------------------------------------------------
  auto add_fn = [](py::handle a, py::handle b, py::handle alpha) {
    Tensor x = as_tensor_arg(a, "add", "input"), y = as_tensor_arg(b, "add", "other");
    return add(x, y, alpha_arg(alpha, x, y, "add"));
  };
  auto sub_fn = [](py::handle a, py::handle b, py::handle alpha) {
    Tensor x = as_tensor_arg(a, "sub", "input"), y = as_tensor_arg(b, "sub", "other");
    return sub(x, y, alpha_arg(alpha, x, y, "sub"));
  };
  DL_DEF_BOTH(m, cls, "add", add_fn, py::arg("other"), py::kw_only(), py::arg("alpha") = 1);
  DL_DEF_BOTH(m, cls, "sub", sub_fn, py::arg("other"), py::kw_only(), py::arg("alpha") = 1);
#define DL_BIN(name, fn) DL_DEF_BOTH(m, cls, name, &bin<fn>, py::arg("other"))
  DL_BIN("mul", mul);
  DL_BIN("div", div);
  DL_BIN("true_divide", div);
  DL_BIN("pow", pow);
  DL_BIN("minimum", minimum);
  DL_BIN("maximum", maximum);
  DL_BIN("eq", eq);
  DL_BIN("ne", ne);
  DL_BIN("lt", lt);
  DL_BIN("le", le);
  DL_BIN("gt", gt);
  DL_BIN("ge", ge);
  DL_BIN("logical_and", logical_and);
  DL_BIN("logical_or", logical_or);
  DL_BIN("logical_xor", logical_xor);
  DL_BIN("bitwise_and", bitwise_and);
  DL_BIN("bitwise_or", bitwise_or);
  DL_BIN("bitwise_xor", bitwise_xor);
  DL_BIN("atan2", atan2);
  DL_BIN("copysign", copysign);
  DL_BIN("xlogy", xlogy);
  DL_BIN("hypot", hypot);
  DL_BIN("nextafter", nextafter);
  DL_BIN("logaddexp", logaddexp);
  DL_BIN("logaddexp2", logaddexp2);
  DL_BIN("fmod", fmod);
  DL_BIN("remainder", remainder);
  DL_BIN("floor_divide", floor_divide);
  DL_BIN("fmax", fmax);
  DL_BIN("fmin", fmin);
  DL_BIN("gcd", gcd);
  DL_BIN("lcm", lcm);
  DL_BIN("bitwise_left_shift", bitwise_left_shift);
  DL_BIN("bitwise_right_shift", bitwise_right_shift);
#undef DL_BIN
  DL_DEF_BOTH(m, cls, "heaviside", [](const Tensor& x, py::handle values) {
    return heaviside(x, as_tensor_arg(values, "heaviside", "values"));
  }, py::arg("values"));
  DL_DEF_BOTH(m, cls, "lerp", [](const Tensor& x, py::handle end, py::handle weight) {
    return lerp(x, as_tensor_arg(end, "lerp", "end"), as_tensor_arg(weight, "lerp", "weight"));
  }, py::arg("end"), py::arg("weight"));
  m.def("where", [](const Tensor& c, py::handle a, py::handle b) {
    return where(c, as_tensor_arg(a, "where", "input"), as_tensor_arg(b, "where", "other"));
  }, py::arg("condition"), py::arg("input"), py::arg("other"));
  cls.def("where", [](const Tensor& self, const Tensor& c, py::handle b) {
    return where(c, self, as_tensor_arg(b, "where", "other"));
  }, py::arg("condition"), py::arg("other"));

  // Python operators. Note: `a + b` with a plain Tensor and a number is the hot path of
  // eager overhead, so these go straight to C++.
  cls.def("__add__", [](const Tensor& a, py::handle b) { return add(a, as_tensor_arg(b, "add", "other")); }, py::is_operator());
  cls.def("__radd__", [](const Tensor& a, py::handle b) { return add(as_tensor_arg(b, "add", "other"), a); }, py::is_operator());
  cls.def("__sub__", [](const Tensor& a, py::handle b) { return sub(a, as_tensor_arg(b, "sub", "other")); }, py::is_operator());
  cls.def("__rsub__", &rbin<sub2>, py::is_operator());
  cls.def("__mul__", [](const Tensor& a, py::handle b) { return mul(a, as_tensor_arg(b, "mul", "other")); }, py::is_operator());
  cls.def("__rmul__", [](const Tensor& a, py::handle b) { return mul(as_tensor_arg(b, "mul", "other"), a); }, py::is_operator());
  cls.def("__truediv__", [](const Tensor& a, py::handle b) { return div(a, as_tensor_arg(b, "div", "other")); }, py::is_operator());
  cls.def("__rtruediv__", &rbin<div>, py::is_operator());
  cls.def("__pow__", [](const Tensor& a, py::handle b) { return pow(a, as_tensor_arg(b, "pow", "exponent")); }, py::is_operator());
  cls.def("__rpow__", &rbin<pow>, py::is_operator());
  cls.def("__neg__", [](const Tensor& a) { return neg(a); });
  cls.def("__abs__", [](const Tensor& a) { return abs(a); });
  cls.def("__eq__", [](const Tensor& a, py::handle b) { return eq(a, as_tensor_arg(b, "eq", "other")); }, py::is_operator());
  cls.def("__ne__", [](const Tensor& a, py::handle b) { return ne(a, as_tensor_arg(b, "ne", "other")); }, py::is_operator());
  cls.def("__lt__", [](const Tensor& a, py::handle b) { return lt(a, as_tensor_arg(b, "lt", "other")); }, py::is_operator());
  cls.def("__le__", [](const Tensor& a, py::handle b) { return le(a, as_tensor_arg(b, "le", "other")); }, py::is_operator());
  cls.def("__gt__", [](const Tensor& a, py::handle b) { return gt(a, as_tensor_arg(b, "gt", "other")); }, py::is_operator());
  cls.def("__ge__", [](const Tensor& a, py::handle b) { return ge(a, as_tensor_arg(b, "ge", "other")); }, py::is_operator());
  // &, |, ^, ~ are bitwise as in PyTorch (logical on bool tensors; floats raise).
  cls.def("__and__", &bin<bitwise_and>, py::is_operator());
  cls.def("__rand__", &rbin<bitwise_and>, py::is_operator());
  cls.def("__or__", &bin<bitwise_or>, py::is_operator());
  cls.def("__ror__", &rbin<bitwise_or>, py::is_operator());
  cls.def("__xor__", &bin<bitwise_xor>, py::is_operator());
  cls.def("__rxor__", &rbin<bitwise_xor>, py::is_operator());
  cls.def("__invert__", [](const Tensor& a) { return bitwise_not(a); });
  // // and % are floor division and the remainder with the divisor's sign, as for Python numbers.
  cls.def("__floordiv__", &bin<floor_divide>, py::is_operator());
  cls.def("__rfloordiv__", &rbin<floor_divide>, py::is_operator());
  cls.def("__mod__", &bin<remainder>, py::is_operator());
  cls.def("__rmod__", &rbin<remainder>, py::is_operator());
  cls.def("__lshift__", &bin<bitwise_left_shift>, py::is_operator());
  cls.def("__rlshift__", &rbin<bitwise_left_shift>, py::is_operator());
  cls.def("__rshift__", &bin<bitwise_right_shift>, py::is_operator());
  cls.def("__rrshift__", &rbin<bitwise_right_shift>, py::is_operator());
  cls.attr("__hash__") = py::getattr(py::module_::import("builtins").attr("object"), "__hash__");

  // In place: a += b keeps a's identity.
  auto iadd = [](Tensor a, py::handle b) { return add_(a, as_tensor_arg(b, "add_", "other")); };
  auto isub = [](Tensor a, py::handle b) { return sub_(a, as_tensor_arg(b, "sub_", "other")); };
  auto imul = [](Tensor a, py::handle b) { return mul_(a, as_tensor_arg(b, "mul_", "other")); };
  auto idiv = [](Tensor a, py::handle b) { return div_(a, as_tensor_arg(b, "div_", "other")); };
  cls.def("__iadd__", iadd, py::is_operator());
  cls.def("__isub__", isub, py::is_operator());
  cls.def("__imul__", imul, py::is_operator());
  cls.def("__itruediv__", idiv, py::is_operator());
  cls.def("add_", [](Tensor a, py::handle b, py::handle alpha) {
    Tensor y = as_tensor_arg(b, "add_", "other");
    return add_(a, y, alpha_arg(alpha, a, y, "add_"));
  }, py::arg("other"), py::kw_only(), py::arg("alpha") = 1);
  cls.def("sub_", [](Tensor a, py::handle b, py::handle alpha) {
    Tensor y = as_tensor_arg(b, "sub_", "other");
    return sub_(a, y, alpha_arg(alpha, a, y, "sub_"));
  }, py::arg("other"), py::kw_only(), py::arg("alpha") = 1);
  cls.def("mul_", imul, py::arg("other"));
  cls.def("div_", idiv, py::arg("other"));
  auto iand = [](Tensor a, py::handle b) { return bitwise_and_(a, as_tensor_arg(b, "bitwise_and_", "other")); };
  auto ior = [](Tensor a, py::handle b) { return bitwise_or_(a, as_tensor_arg(b, "bitwise_or_", "other")); };
  auto ixor = [](Tensor a, py::handle b) { return bitwise_xor_(a, as_tensor_arg(b, "bitwise_xor_", "other")); };
  cls.def("__iand__", iand, py::is_operator());
  cls.def("__ior__", ior, py::is_operator());
  cls.def("__ixor__", ixor, py::is_operator());
  cls.def("bitwise_and_", iand, py::arg("other"));
  cls.def("bitwise_or_", ior, py::arg("other"));
  cls.def("bitwise_xor_", ixor, py::arg("other"));

  // ---- unary and activations ------------------------------------------------------------
#define DL_UN(name, fn) DL_DEF_BOTH(m, cls, name, [](const Tensor& x) { return fn(x); })
  DL_UN("neg", neg);
  DL_UN("negative", neg);
  DL_UN("abs", abs);
  DL_UN("sign", sign);
  DL_UN("exp", exp);
  DL_UN("log", log);
  DL_UN("log1p", log1p);
  DL_UN("sqrt", sqrt);
  DL_UN("rsqrt", rsqrt);
  DL_UN("sin", sin);
  DL_UN("cos", cos);
  DL_UN("logical_not", logical_not);
  DL_UN("bitwise_not", bitwise_not);
  DL_UN("sigmoid", sigmoid);
  DL_UN("tanh", tanh);
  DL_UN("relu", relu);
  DL_UN("silu", silu);
  DL_UN("acos", acos);
  DL_UN("asin", asin);
  DL_UN("atan", atan);
  DL_UN("sinh", sinh);
  DL_UN("cosh", cosh);
  DL_UN("tan", tan);
  DL_UN("asinh", asinh);
  DL_UN("acosh", acosh);
  DL_UN("atanh", atanh);
  DL_UN("erf", erf);
  DL_UN("erfc", erfc);
  DL_UN("erfinv", erfinv);
  DL_UN("lgamma", lgamma);
  DL_UN("digamma", digamma);
  DL_UN("exp2", exp2);
  DL_UN("expm1", expm1);
  DL_UN("log2", log2);
  DL_UN("log10", log10);
  DL_UN("reciprocal", reciprocal);
  DL_UN("i0", i0);
  DL_UN("sinc", sinc);
  DL_UN("floor", floor);
  DL_UN("ceil", ceil);
  DL_UN("trunc", trunc);
  DL_UN("isnan", isnan);
  DL_UN("isinf", isinf);
  DL_UN("isfinite", isfinite);
  DL_UN("isposinf", isposinf);
  DL_UN("isneginf", isneginf);
  DL_UN("signbit", signbit);
#undef DL_UN
  m.def("polygamma", [](int64_t n, const Tensor& x) { return polygamma(n, x); }, py::arg("n"), py::arg("input"));
  cls.def("polygamma", [](const Tensor& x, int64_t n) { return polygamma(n, x); }, py::arg("n"));
  DL_DEF_BOTH(m, cls, "round", [](const Tensor& x, int64_t decimals) { return round(x, decimals); }, py::kw_only(),
              py::arg("decimals") = 0);
  DL_DEF_BOTH(m, cls, "logit", [](const Tensor& x, std::optional<double> eps) { return logit(x, eps); },
              py::arg("eps") = no);
  DL_DEF_BOTH(m, cls, "nan_to_num", [](const Tensor& x, std::optional<double> nan, std::optional<double> posinf,
                                        std::optional<double> neginf) { return nan_to_num(x, nan, posinf, neginf); },
              py::arg("nan") = 0.0, py::arg("posinf") = no, py::arg("neginf") = no);
  DL_DEF_BOTH(m, cls, "leaky_relu", &leaky_relu, py::arg("negative_slope") = 0.01);
  DL_DEF_BOTH(m, cls, "prelu", &prelu, py::arg("weight"));
  DL_DEF_BOTH(m, cls, "gelu", [](const Tensor& x, const std::string& approximate) {
    DL_CHECK(approximate == "none" || approximate == "tanh", ValueError,
             "gelu: approximate must be 'none' or 'tanh', got '", approximate, "'");
    return gelu(x, approximate == "tanh");
  }, py::kw_only(), py::arg("approximate") = "none");
  DL_DEF_BOTH(m, cls, "softplus", &softplus, py::arg("beta") = 1.0, py::arg("threshold") = 20.0);
  DL_DEF_BOTH(m, cls, "elu", &elu, py::arg("alpha") = 1.0);
  DL_DEF_BOTH(m, cls, "clamp", &clamp_fn, py::arg("min") = no, py::arg("max") = no);
  DL_DEF_BOTH(m, cls, "clip", &clamp_fn, py::arg("min") = no, py::arg("max") = no);
}

}  // namespace dlcore
