// Box ops (ops/boxes.h): the element-wise IoU family and nms / batched_nms, bound with leading
// underscores; the Python package dlcore.ops (python/dlcore/ops) adds the torchvision-named
// functions on top.
#include "common.h"
#include "ops/boxes.h"

namespace dlcore {

void bind_boxes(py::module_& m) {
  m.def("_box_iou_elementwise", &box_iou_elementwise, py::arg("boxes1"), py::arg("boxes2"), py::arg("kind"),
        py::arg("eps") = 1e-7, py::arg("loss_form") = false, py::arg("name") = "box_iou_elementwise",
        "The IoU-family value of boxes1[..., i] and boxes2[..., i] (Note [Box IoU formulas]).");
  m.def("_nms", &nms, py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"));
  m.def("_batched_nms", &batched_nms, py::arg("boxes"), py::arg("scores"), py::arg("idxs"), py::arg("iou_threshold"));
}

}  // namespace dlcore
