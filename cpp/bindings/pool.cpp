// Pooling and interpolate as dlcore.<name> functions with torch.nn.functional's names,
// arguments and defaults: sizes may be an int or a tuple, stride=None means the kernel size,
// return_indices=True returns (output, indices), adaptive output_size entries may be None.
#include "common.h"
#include "ops/pool.h"
#include "ops/upsample.h"

namespace dlcore {
namespace {

std::vector<std::optional<int64_t>> parse_output_size(py::handle h) {
  std::vector<std::optional<int64_t>> out;
  if (h.is_none()) return {std::nullopt};
  if (PyIndex_Check(h.ptr())) return {h.cast<int64_t>()};
  for (py::handle e : py::reinterpret_borrow<py::sequence>(h)) {
    if (e.is_none()) out.push_back(std::nullopt);
    else out.push_back(e.cast<int64_t>());
  }
  return out;
}

py::object with_indices(const std::tuple<Tensor, Tensor>& r, bool return_indices) {
  if (return_indices) return py::make_tuple(std::get<0>(r), std::get<1>(r));
  return py::cast(std::get<0>(r));
}

void def_pools(py::module_& m, int dims) {
  const std::string d = std::to_string(dims) + "d";
  py::object none = py::none();
  m.def(("max_pool" + d).c_str(),
        [dims](const Tensor& x, py::object kernel_size, py::object stride, py::object padding, py::object dilation,
               bool ceil_mode, bool return_indices) {
          return with_indices(max_pool(x, dims, parse_dims(kernel_size), parse_dims(stride), parse_dims(padding),
                                       parse_dims(dilation), ceil_mode),
                              return_indices);
        },
        py::arg("input"), py::arg("kernel_size"), py::arg("stride") = none, py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("ceil_mode") = false, py::arg("return_indices") = false);
  if (dims == 1) {
    m.def("avg_pool1d",
          [](const Tensor& x, py::object kernel_size, py::object stride, py::object padding, bool ceil_mode,
             bool count_include_pad) {
            return avg_pool(x, 1, parse_dims(kernel_size), parse_dims(stride), parse_dims(padding), ceil_mode,
                            count_include_pad, std::nullopt);
          },
          py::arg("input"), py::arg("kernel_size"), py::arg("stride") = none, py::arg("padding") = 0,
          py::arg("ceil_mode") = false, py::arg("count_include_pad") = true);
  } else {
    m.def(("avg_pool" + d).c_str(),
          [dims](const Tensor& x, py::object kernel_size, py::object stride, py::object padding, bool ceil_mode,
                 bool count_include_pad, std::optional<int64_t> divisor_override) {
            return avg_pool(x, dims, parse_dims(kernel_size), parse_dims(stride), parse_dims(padding), ceil_mode,
                            count_include_pad, divisor_override);
          },
          py::arg("input"), py::arg("kernel_size"), py::arg("stride") = none, py::arg("padding") = 0,
          py::arg("ceil_mode") = false, py::arg("count_include_pad") = true, py::arg("divisor_override") = none);
  }
  m.def(("adaptive_avg_pool" + d).c_str(),
        [dims](const Tensor& x, py::object output_size) {
          return adaptive_avg_pool(x, dims, parse_output_size(output_size));
        },
        py::arg("input"), py::arg("output_size"));
  m.def(("adaptive_max_pool" + d).c_str(),
        [dims](const Tensor& x, py::object output_size, bool return_indices) {
          return with_indices(adaptive_max_pool(x, dims, parse_output_size(output_size)), return_indices);
        },
        py::arg("input"), py::arg("output_size"), py::arg("return_indices") = false);
}

std::optional<std::vector<double>> parse_scale(py::handle h) {
  if (h.is_none()) return std::nullopt;
  if (PyNumber_Check(h.ptr()) && !PySequence_Check(h.ptr())) return std::vector<double>{h.cast<double>()};
  std::vector<double> out;
  for (py::handle e : py::reinterpret_borrow<py::sequence>(h)) out.push_back(e.cast<double>());
  return out;
}

}  // namespace

void bind_pool(py::module_& m) {
  for (int dims = 1; dims <= 3; ++dims) def_pools(m, dims);
  py::object none = py::none();
  m.def("interpolate",
        [](const Tensor& x, py::object size, py::object scale_factor, const std::string& mode,
           std::optional<bool> align_corners, std::optional<bool> recompute_scale_factor, bool antialias) {
          DL_CHECK(!antialias, NotImplementedError, "interpolate: antialias=True is not supported (input ",
                   shape_str(x->shape()), ")");
          std::optional<Shape> s;
          if (!size.is_none()) s = parse_dims(size);
          return interpolate(x, s, parse_scale(scale_factor), mode, align_corners, recompute_scale_factor);
        },
        py::arg("input"), py::arg("size") = none, py::arg("scale_factor") = none, py::arg("mode") = "nearest",
        py::arg("align_corners") = none, py::arg("recompute_scale_factor") = none, py::arg("antialias") = false);
}

}  // namespace dlcore
