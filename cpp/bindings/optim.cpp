// Optimizer bindings: the fused per-group updates and the foreach helpers for gradient
// clipping, as private dlcore._C functions called by python/dlcore/optim and nn/utils.
#include "common.h"
#include "ops/optim.h"

namespace dlcore {

namespace {

// A step count for every parameter: one number for the whole group, or a sequence.
std::vector<double> parse_steps(py::handle h, size_t n) {
  if (py::isinstance<py::int_>(h) || py::isinstance<py::float_>(h)) return std::vector<double>(n, h.cast<double>());
  return h.cast<std::vector<double>>();
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def(
      "_sgd_step",
      [](const TensorList& params, const TensorList& grads, const TensorList& momentum_buffers,
         const std::vector<bool>& buffer_is_new, double lr, double momentum, double dampening, double weight_decay,
         bool nesterov, bool maximize) {
        sgd_step(params, grads, momentum_buffers, buffer_is_new,
                 SgdOptions{lr, momentum, dampening, weight_decay, nesterov, maximize});
      },
      py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::arg("buffer_is_new"), py::arg("lr"),
      py::arg("momentum") = 0.0, py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0,
      py::arg("nesterov") = false, py::arg("maximize") = false);
  m.def(
      "_adam_step",
      [](const TensorList& params, const TensorList& grads, const TensorList& exp_avgs, const TensorList& exp_avg_sqs,
         const TensorList& max_exp_avg_sqs, py::handle step, double lr, double beta1, double beta2, double eps,
         double weight_decay, bool amsgrad, bool maximize, bool decoupled) {
        adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, parse_steps(step, params.size()),
                  AdamOptions{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled});
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"),
      py::arg("step"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
      py::arg("amsgrad") = false, py::arg("maximize") = false, py::arg("decoupled") = false);
  m.def(
      "_rmsprop_step",
      [](const TensorList& params, const TensorList& grads, const TensorList& square_avgs,
         const TensorList& grad_avgs, const TensorList& momentum_buffers, double lr, double alpha, double eps,
         double weight_decay, double momentum, bool centered, bool maximize) {
        rmsprop_step(params, grads, square_avgs, grad_avgs, momentum_buffers,
                     RmspropOptions{lr, alpha, eps, weight_decay, momentum, centered, maximize});
      },
      py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("grad_avgs"),
      py::arg("momentum_buffers"), py::arg("lr"), py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"),
      py::arg("momentum"), py::arg("centered") = false, py::arg("maximize") = false);
  m.def("_foreach_norm", &foreach_norm, py::arg("tensors"), py::arg("norm_type") = 2.0);
  m.def("_foreach_scale_", &foreach_scale_, py::arg("tensors"), py::arg("factor"));
  m.def("_foreach_clamp_", &foreach_clamp_, py::arg("tensors"), py::arg("min"), py::arg("max"));
}

}  // namespace dlcore
