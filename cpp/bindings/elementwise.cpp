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

template <BinFn F>
Tensor rbin(const Tensor& self, py::handle other) {
  return F(as_tensor_arg(other, "binary op", "other"), self);
}

}  // namespace

void bind_elementwise(py::module_& m) {
  TensorClass cls = tensor_class(m);
  py::object no = py::none();

  // ---- binary ---------------------------------------------------------------------------
  auto add_fn = [](py::handle a, py::handle b, double alpha) {
    return add(as_tensor_arg(a, "add", "input"), as_tensor_arg(b, "add", "other"), alpha);
  };
  auto sub_fn = [](py::handle a, py::handle b, double alpha) {
    return sub(as_tensor_arg(a, "sub", "input"), as_tensor_arg(b, "sub", "other"), alpha);
  };
  DL_DEF_BOTH(m, cls, "add", add_fn, py::arg("other"), py::kw_only(), py::arg("alpha") = 1.0);
  DL_DEF_BOTH(m, cls, "sub", sub_fn, py::arg("other"), py::kw_only(), py::arg("alpha") = 1.0);
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
#undef DL_BIN
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
  cls.def("__and__", [](const Tensor& a, py::handle b) { return logical_and(a, as_tensor_arg(b, "and", "other")); }, py::is_operator());
  cls.def("__or__", [](const Tensor& a, py::handle b) { return logical_or(a, as_tensor_arg(b, "or", "other")); }, py::is_operator());
  cls.def("__xor__", [](const Tensor& a, py::handle b) { return logical_xor(a, as_tensor_arg(b, "xor", "other")); }, py::is_operator());
  cls.def("__invert__", [](const Tensor& a) {
    DL_CHECK(a->dtype() == DType::Bool, TypeError, "~ is only supported for bool tensors here, got ", a->describe());
    return logical_not(a);
  });
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
  cls.def("add_", [](Tensor a, py::handle b, double alpha) { return add_(a, as_tensor_arg(b, "add_", "other"), alpha); },
          py::arg("other"), py::kw_only(), py::arg("alpha") = 1.0);
  cls.def("sub_", [](Tensor a, py::handle b, double alpha) { return sub_(a, as_tensor_arg(b, "sub_", "other"), alpha); },
          py::arg("other"), py::kw_only(), py::arg("alpha") = 1.0);
  cls.def("mul_", imul, py::arg("other"));
  cls.def("div_", idiv, py::arg("other"));

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
  DL_UN("sigmoid", sigmoid);
  DL_UN("tanh", tanh);
  DL_UN("relu", relu);
  DL_UN("silu", silu);
#undef DL_UN
  DL_DEF_BOTH(m, cls, "leaky_relu", &leaky_relu, py::arg("negative_slope") = 0.01);
  DL_DEF_BOTH(m, cls, "gelu", [](const Tensor& x, const std::string& approximate) {
    DL_CHECK(approximate == "none" || approximate == "tanh", ValueError,
             "gelu: approximate must be 'none' or 'tanh', got '", approximate, "'");
    return gelu(x, approximate == "tanh");
  }, py::kw_only(), py::arg("approximate") = "none");
  DL_DEF_BOTH(m, cls, "softplus", &softplus, py::arg("beta") = 1.0, py::arg("threshold") = 20.0);
  DL_DEF_BOTH(m, cls, "elu", &elu, py::arg("alpha") = 1.0);
  DL_DEF_BOTH(m, cls, "clamp", &clamp, py::arg("min") = no, py::arg("max") = no);
  DL_DEF_BOTH(m, cls, "clip", &clamp, py::arg("min") = no, py::arg("max") = no);
}

}  // namespace dlcore
