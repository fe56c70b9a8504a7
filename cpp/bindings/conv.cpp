// Convolutions with torch.nn.functional's names and signatures: conv1d/2d/3d and
// conv_transpose1d/2d/3d (ops/conv.h).
#include "common.h"
#include "ops/conv.h"

namespace dlcore {

namespace {

// An int or a tuple of ints.
Shape int_or_tuple(py::handle h, const char* op, const char* arg) {
  if (py::isinstance<py::int_>(h) || py::isinstance<py::tuple>(h) || py::isinstance<py::list>(h)) return parse_dims(h);
  throw TypeError(str_cat(op, ": ", arg, " must be an int or a tuple of ints, got ",
                          std::string(py::str(py::type::of(h).attr("__name__")))));
}

Tensor opt(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }

void def_conv(py::module_& m, const char* name, int64_t spatial) {
  m.def(
      name,
      [name, spatial](const Tensor& x, const Tensor& w, const std::optional<Tensor>& bias, py::object stride,
                      py::object padding, py::object dilation, int64_t groups) {
        Shape pad;
        std::string mode;
        if (py::isinstance<py::str>(padding)) mode = padding.cast<std::string>();
        else pad = int_or_tuple(padding, name, "padding");
        return conv_nd(spatial, x, w, opt(bias), int_or_tuple(stride, name, "stride"), pad, mode,
                       int_or_tuple(dilation, name, "dilation"), groups);
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
      py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1);
}

void def_conv_transpose(py::module_& m, const char* name, int64_t spatial) {
  m.def(
      name,
      [name, spatial](const Tensor& x, const Tensor& w, const std::optional<Tensor>& bias, py::object stride,
                      py::object padding, py::object output_padding, int64_t groups, py::object dilation) {
        return conv_transpose_nd(spatial, x, w, opt(bias), int_or_tuple(stride, name, "stride"),
                                 int_or_tuple(padding, name, "padding"),
                                 int_or_tuple(output_padding, name, "output_padding"), groups,
                                 int_or_tuple(dilation, name, "dilation"));
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
      py::arg("padding") = 0, py::arg("output_padding") = 0, py::arg("groups") = 1, py::arg("dilation") = 1);
}

}  // namespace

void bind_conv(py::module_& m) {
  def_conv(m, "conv1d", 1);
  def_conv(m, "conv2d", 2);
  def_conv(m, "conv3d", 3);
  def_conv_transpose(m, "conv_transpose1d", 1);
  def_conv_transpose(m, "conv_transpose2d", 2);
  def_conv_transpose(m, "conv_transpose3d", 3);
}

}  // namespace dlcore
