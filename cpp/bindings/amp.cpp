// Mixed precision: the autocast state (Note [Autocast] in core/autocast.h) and GradScaler's
// kernels (ops/amp.h), as private dlcore._C functions wrapped by python/dlcore/amp.py.
#include "common.h"
#include "core/autocast.h"
#include "ops/amp.h"

namespace dlcore {

namespace {

DeviceType autocast_device(const std::string& device_type) {
  if (device_type == "cuda") return DeviceType::CUDA;
  if (device_type == "cpu") return DeviceType::CPU;
  throw RuntimeError(str_cat("autocast: unsupported device_type '", device_type, "' (expected 'cuda' or 'cpu')"));
}

}  // namespace

void bind_amp(py::module_& m) {
  m.def("_is_autocast_enabled", [](const std::string& d) { return autocast::is_enabled(autocast_device(d)); },
        py::arg("device_type"));
  m.def("_set_autocast_enabled",
        [](const std::string& d, bool on) { autocast::set_enabled(autocast_device(d), on); },
        py::arg("device_type"), py::arg("enabled"));
  m.def("_get_autocast_dtype", [](const std::string& d) { return autocast::get_dtype(autocast_device(d)); },
        py::arg("device_type"));
  m.def("_set_autocast_dtype",
        [](const std::string& d, py::handle dtype) { autocast::set_dtype(autocast_device(d), parse_dtype(dtype)); },
        py::arg("device_type"), py::arg("dtype"));
  m.def("_is_autocast_cache_enabled", &autocast::is_cache_enabled);
  m.def("_set_autocast_cache_enabled", &autocast::set_cache_enabled, py::arg("enabled"));
  m.def("_autocast_increment_nesting", &autocast::increment_nesting);
  m.def("_autocast_decrement_nesting", &autocast::decrement_nesting);
  m.def("_clear_autocast_cache", &autocast::clear_cache);
  // For losses written in Python (nn.functional): their tensors cast to float32 under autocast.
  m.def("_autocast_fp32", [](py::args args) {
    py::tuple out(args.size());
    for (size_t i = 0; i < args.size(); ++i) {
      if (autocast::active() && py::isinstance<TensorImpl>(args[i])) {
        out[i] = py::cast(autocast::fp32(args[i].cast<Tensor>()));
      } else {
        out[i] = args[i];
      }
    }
    return out;
  });
  m.def("_amp_foreach_non_finite_check_and_unscale_", &amp_foreach_non_finite_check_and_unscale_,
        py::arg("grads"), py::arg("found_inf"), py::arg("inv_scale"));
  m.def("_amp_update_scale_", &amp_update_scale_, py::arg("scale"), py::arg("growth_tracker"), py::arg("found_inf"),
        py::arg("growth_factor"), py::arg("backoff_factor"), py::arg("growth_interval"));
}

}  // namespace dlcore
