// Losses with torch.nn.functional's names and signatures: cross_entropy, nll_loss,
// binary_cross_entropy, binary_cross_entropy_with_logits (ops/loss.h).
#include "common.h"
#include "ops/loss.h"

namespace dlcore {

void bind_loss(py::module_& m) {
  py::object none = py::none();
  m.def("cross_entropy", &cross_entropy, py::arg("input"), py::arg("target"), py::arg("weight") = none,
        py::arg("ignore_index") = -100, py::arg("reduction") = "mean", py::arg("label_smoothing") = 0.0);
  m.def("nll_loss", &nll_loss, py::arg("input"), py::arg("target"), py::arg("weight") = none,
        py::arg("ignore_index") = -100, py::arg("reduction") = "mean");
  m.def("binary_cross_entropy", &binary_cross_entropy, py::arg("input"), py::arg("target"),
        py::arg("weight") = none, py::arg("reduction") = "mean");
  m.def("binary_cross_entropy_with_logits", &binary_cross_entropy_with_logits, py::arg("input"),
        py::arg("target"), py::arg("weight") = none, py::arg("reduction") = "mean", py::arg("pos_weight") = none);
}

}  // namespace dlcore
