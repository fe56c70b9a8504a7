// Normalisation layers as dlcore.<op> functions with torch.nn.functional's names, arguments and
// defaults: batch_norm, layer_norm, group_norm, local_response_norm.
#include "common.h"
#include "ops/norm.h"

namespace dlcore {

void bind_norm(py::module_& m) {
  m.def("batch_norm", [](const Tensor& input, const OptTensor& running_mean, const OptTensor& running_var,
                         const OptTensor& weight, const OptTensor& bias, bool training, py::object momentum,
                         double eps) {
    if (momentum.is_none())
      throw ValueError("batch_norm: momentum=None (a cumulative moving average) is not supported; pass a float");
    return batch_norm(input, running_mean, running_var, weight, bias, training, momentum.cast<double>(), eps);
  }, py::arg("input"), py::arg("running_mean"), py::arg("running_var"), py::arg("weight") = py::none(),
     py::arg("bias") = py::none(), py::arg("training") = false, py::arg("momentum") = 0.1, py::arg("eps") = 1e-5);

  m.def("layer_norm", [](const Tensor& input, py::handle normalized_shape, const OptTensor& weight,
                         const OptTensor& bias, double eps) {
    Shape ns = normalized_shape.is_none() ? Shape{} : parse_dims(normalized_shape);
    return layer_norm(input, ns, weight, bias, eps);
  }, py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
     py::arg("eps") = 1e-5);

  m.def("group_norm", &group_norm, py::arg("input"), py::arg("num_groups"), py::arg("weight") = py::none(),
        py::arg("bias") = py::none(), py::arg("eps") = 1e-5);

  m.def("local_response_norm", &local_response_norm, py::arg("input"), py::arg("size"), py::arg("alpha") = 1e-4,
        py::arg("beta") = 0.75, py::arg("k") = 1.0);
}

}  // namespace dlcore
