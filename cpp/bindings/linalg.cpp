// Matrix products: dlcore.matmul/mm/bmm/addmm, their Tensor methods, the `@` operator, and
// dlcore._C.linear (wrapped by the functional API).
#include "common.h"

namespace dlcore {

void bind_linalg(py::module_& m) {
  TensorClass cls = tensor_class(m);

  DL_DEF_BOTH(m, cls, "matmul", &matmul, py::arg("other"));
  DL_DEF_BOTH(m, cls, "mm", &mm, py::arg("mat2"));
  DL_DEF_BOTH(m, cls, "bmm", &bmm, py::arg("mat2"));
  DL_DEF_BOTH(m, cls, "addmm", &addmm, py::arg("mat1"), py::arg("mat2"), py::kw_only(), py::arg("beta") = 1.0,
              py::arg("alpha") = 1.0);
  m.def("linear", &linear, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none());

  // A non-Tensor operand fails the conversion and pybind11 answers NotImplemented, so
  // Python can try the other operand's method.
  cls.def("__matmul__", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }, py::is_operator());
  cls.def("__rmatmul__", [](const Tensor& b, const Tensor& a) { return matmul(a, b); }, py::is_operator());
}

}  // namespace dlcore
