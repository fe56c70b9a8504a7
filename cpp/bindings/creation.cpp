// Factories and random tensors. Python-side signatures (sizes as varargs, dtype inference
// for arange, requires_grad=) are in python/dlcore/_creation.py; these take plain values.
#include "common.h"
#include "ops/factory.h"

namespace dlcore {

void bind_creation(py::module_& m) {
  auto dt = [](py::handle h, DType def) { return h.is_none() ? def : parse_dtype(h); };
  m.def("_empty", [dt](const Shape& s, py::object d, py::object dev) { return empty(s, dt(d, DType::Float32), parse_device_arg(dev)); });
  m.def("_full", [dt](const Shape& s, double v, py::object d, py::object dev) {
    return full(s, v, dt(d, DType::Float32), parse_device_arg(dev));
  });
  m.def("_arange", [dt](double a, double b, double step, py::object d, py::object dev) {
    return arange(a, b, step, dt(d, DType::Float32), parse_device_arg(dev));
  });
  m.def("_linspace", [dt](double a, double b, int64_t n, py::object d, py::object dev) {
    return linspace(a, b, n, dt(d, DType::Float32), parse_device_arg(dev));
  });
  m.def("_eye", [dt](int64_t n, int64_t mm, py::object d, py::object dev) { return eye(n, mm, dt(d, DType::Float32), parse_device_arg(dev)); });
  m.def("_rand", [dt](const Shape& s, py::object d, py::object dev) { return rand(s, dt(d, DType::Float32), parse_device_arg(dev)); });
  m.def("_randn", [dt](const Shape& s, py::object d, py::object dev) { return randn(s, dt(d, DType::Float32), parse_device_arg(dev)); });
  m.def("_randint", [dt](int64_t lo, int64_t hi, const Shape& s, py::object d, py::object dev) {
    return randint(lo, hi, s, dt(d, DType::Int64), parse_device_arg(dev));
  });
  m.def("_randperm", [dt](int64_t n, py::object d, py::object dev) { return randperm(n, dt(d, DType::Int64), parse_device_arg(dev)); });
  m.def("manual_seed", &manual_seed, py::arg("seed"));
  m.def("initial_seed", &initial_seed);
  m.def("_get_rng_state", [] {
    const GeneratorState s = get_rng_state();
    return py::make_tuple(s.seed, s.offset);
  });
  m.def("_set_rng_state", [](uint64_t seed, uint64_t offset) { set_rng_state({seed, offset}); }, py::arg("seed"),
        py::arg("offset"));
  DL_DEF_BOTH(m, tensor_class(m), "multinomial", &multinomial, py::arg("num_samples"), py::arg("replacement") = false);
  m.def("dropout", &dropout, py::arg("input"), py::arg("p") = 0.5, py::arg("training") = true);
}

}  // namespace dlcore
