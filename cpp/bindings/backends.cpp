// dlcore._C._{get,set}_{matmul,cudnn}_allow_tf32 (Note [TF32] in ops/linalg.h), the switch of
// Note [Deterministic algorithms] (ops/index.h), wrapped by
// python/dlcore/backends.py, and dlcore._C._linear_activation: act(x @ weight^T + bias) with
// the bias and activation in the GEMM's epilogue (Note [GEMM epilogue]).
#include "common.h"
#include "ops/index.h"
#include "ops/linalg.h"

namespace dlcore {

void bind_backends(py::module_& m) {
  m.def("_get_matmul_allow_tf32", [] { return matmul_allow_tf32(); });
  m.def("_set_matmul_allow_tf32", [](bool allow) { set_matmul_allow_tf32(allow); }, py::arg("allow"));
  m.def("_get_cudnn_allow_tf32", [] { return conv_allow_tf32(); });
  m.def("_set_cudnn_allow_tf32", [](bool allow) { set_conv_allow_tf32(allow); }, py::arg("allow"));
  m.def("_get_deterministic_algorithms", [] { return deterministic_algorithms(); });
  m.def("_set_deterministic_algorithms", [](bool on) { set_deterministic_algorithms(on); }, py::arg("on"));
  m.def(
      "_linear_activation",
      [](const Tensor& input, const Tensor& weight, const OptTensor& bias, const std::string& activation) {
        return linear_activation(input, weight, bias ? *bias : Tensor(),
                                 gemm_activation(activation, "linear_activation"));
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("activation") = "none");
}

}  // namespace dlcore
