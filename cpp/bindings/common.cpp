// Argument conversion shared by the binding files.
#include "common.h"

namespace dlcore {

Tensor as_tensor_arg(py::handle h, const char* op, const char* arg) {
  if (py::isinstance<TensorImpl>(h)) return h.cast<Tensor>();
  if (PyBool_Check(h.ptr())) return wrap_scalar(h.ptr() == Py_True ? 1.0 : 0.0, DType::Bool);
  if (PyLong_Check(h.ptr())) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(h.ptr(), &overflow);
    DL_CHECK(!overflow, ValueError, op, ": integer argument '", arg, "' does not fit in int64");
    Tensor t = empty({}, DType::Int64);
    *t->data<int64_t>() = v;
    t->is_wrapped_number = true;
    return t;
  }
  if (PyFloat_Check(h.ptr())) return wrap_scalar(PyFloat_AsDouble(h.ptr()), DType::Float64);
  // numpy scalars and other numbers
  if (PyNumber_Check(h.ptr()) && py::hasattr(h, "dtype") && py::hasattr(h, "item"))
    return as_tensor_arg(h.attr("item")(), op, arg);
  throw TypeError(str_cat(op, ": argument '", arg, "' must be a Tensor or a number, not ",
                          std::string(py::str(py::type::of(h).attr("__name__")))));
}

DType parse_dtype(py::handle h) {
  if (py::isinstance<DType>(h)) return h.cast<DType>();
  if (py::isinstance<py::str>(h)) return dtype_from_name(h.cast<std::string>());
  if (h.ptr() == reinterpret_cast<PyObject*>(&PyFloat_Type)) return DType::Float64;
  if (h.ptr() == reinterpret_cast<PyObject*>(&PyLong_Type)) return DType::Int64;
  if (h.ptr() == reinterpret_cast<PyObject*>(&PyBool_Type)) return DType::Bool;
  // numpy dtypes and scalar types: go by their name
  py::module_ np = py::module_::import("numpy");
  std::string name = py::str(np.attr("dtype")(h).attr("name"));
  return dtype_from_name(name);
}

std::optional<DType> parse_opt_dtype(py::handle h) {
  if (h.is_none()) return std::nullopt;
  return parse_dtype(h);
}

Device parse_device_arg(py::handle h) {
  if (h.is_none()) return Device{};
  if (py::isinstance<Device>(h)) return h.cast<Device>();
  if (py::isinstance<py::str>(h)) return parse_device(h.cast<std::string>());
  if (PyLong_Check(h.ptr())) return Device{DeviceType::CUDA, h.cast<int>()};
  throw TypeError("expected a device (dlcore.device, 'cpu', 'cuda' or 'cuda:N'), got " +
                  std::string(py::str(py::type::of(h).attr("__name__"))));
}

Shape parse_shape(py::args args) {
  if (args.size() == 1 && !PyLong_Check(args[0].ptr())) return args[0].cast<Shape>();
  return args.cast<Shape>();
}

Shape parse_dims(py::handle h) {
  if (h.is_none()) return {};
  if (PyLong_Check(h.ptr())) return {h.cast<int64_t>()};
  return h.cast<Shape>();
}

}  // namespace dlcore
