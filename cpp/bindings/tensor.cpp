// The Tensor class, dtype and device objects: metadata, autograd attributes, views,
// conversions and Python operators. Formatting (__repr__), tolist and numpy conversion
// live in python/dlcore/_tensor.py.
#include "common.h"
#include "ops/pinned.h"

namespace dlcore {
namespace {

py::tuple shape_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = py::int_(s[i]);
  return t;
}

}  // namespace

void bind_tensor(py::module_& m) {
  py::enum_<DType> dt(m, "dtype");
#define DLCORE_ENUM_VALUE(E, T, N) dt.value(N, DType::E);
  DLCORE_DTYPES(DLCORE_ENUM_VALUE)
#undef DLCORE_ENUM_VALUE
  dt.def("__repr__", [](DType d) { return std::string("dlcore.") + dtype_name(d); });
  dt.def("__str__", [](DType d) { return std::string("dlcore.") + dtype_name(d); });
  dt.def_property_readonly("is_floating_point", [](DType d) { return is_floating(d); });
  dt.def_property_readonly("itemsize", [](DType d) { return dtype_size(d); });
  m.def("promote_types", &promote_types, py::arg("type1"), py::arg("type2"));

  py::class_<Device>(m, "device")
      .def(py::init([](py::object spec, std::optional<int> index) {
             Device d = parse_device_arg(spec);
             if (index) d.index = *index;
             return d;
           }),
           py::arg("type"), py::arg("index") = py::none())
      .def_property_readonly("type", [](const Device& d) { return std::string(device_type_name(d.type)); })
      .def_property_readonly("index", [](const Device& d) -> py::object {
        return d.is_cpu() ? py::object(py::none()) : py::object(py::int_(d.index));
      })
      .def("__str__", [](const Device& d) { return d.is_cpu() ? std::string("cpu") : d.str(); })
      .def("__repr__", [](const Device& d) {
        return d.is_cpu() ? std::string("device(type='cpu')")
                          : str_cat("device(type='cuda', index=", d.index, ")");
      })
      .def("__eq__", [](const Device& a, py::object b) {
        try {
          return a == parse_device_arg(b);
        } catch (const std::exception&) {
          return false;
        }
      })
      .def("__hash__", [](const Device& d) { return static_cast<int>(d.type) * 1000 + d.index; });

  TensorClass cls(m, "Tensor");
  cls.def(py::init([](const Tensor& other) { return detach(other); }), py::arg("data"))
      // ---- metadata
      .def_property_readonly("shape", [](const Tensor& t) { return shape_tuple(t->shape()); })
      .def("size", [](const Tensor& t, std::optional<int64_t> dim) -> py::object {
             if (dim) return py::int_(t->size(*dim));
             return shape_tuple(t->shape());
           }, py::arg("dim") = py::none())
      .def("stride", [](const Tensor& t, std::optional<int64_t> dim) -> py::object {
             if (dim) return py::int_(t->stride(*dim));
             return shape_tuple(t->strides());
           }, py::arg("dim") = py::none())
      .def("dim", [](const Tensor& t) { return t->dim(); })
      .def_property_readonly("ndim", [](const Tensor& t) { return t->dim(); })
      .def("numel", [](const Tensor& t) { return t->numel(); })
      .def("__len__", [](const Tensor& t) {
        DL_CHECK(t->dim() > 0, TypeError, "len() of a 0-d tensor");
        return t->shape()[0];
      })
      .def_property_readonly("dtype", [](const Tensor& t) { return t->dtype(); })
      .def_property_readonly("device", [](const Tensor& t) { return t->device(); })
      .def_property_readonly("is_cuda", [](const Tensor& t) { return t->device().is_cuda(); })
      .def("is_contiguous", [](const Tensor& t) { return t->is_contiguous(); })
      .def("is_floating_point", [](const Tensor& t) { return is_floating(t->dtype()); })
      .def("element_size", [](const Tensor& t) { return t->itemsize(); })
      .def("storage_offset", [](const Tensor& t) { return t->offset(); })
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t->raw_data()); })
      .def("untyped_storage_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t->storage()->data); })
      .def_property_readonly("_version", [](const Tensor& t) { return t->version(); })
      .def_property_readonly("_base", [](const Tensor& t) -> py::object {
        return t->view_base ? py::cast(t->view_base) : py::object(py::none());
      })
      .def("_is_view", [](const Tensor& t) { return t->view_base != nullptr; })
      .def("item", [](const Tensor& t) -> py::object {
        double v = item_as_double(t);
        if (t->dtype() == DType::Bool) return py::bool_(v != 0);
        if (is_integral(t->dtype(), false)) return py::int_(static_cast<int64_t>(v));
        return py::float_(v);
      })
      // ---- autograd
      .def_property("requires_grad", [](const Tensor& t) { return t->requires_grad(); },
                    [](const Tensor& t, bool on) { set_requires_grad(t, on); })
      .def("requires_grad_", [](const Tensor& t, bool on) { set_requires_grad(t, on); return t; },
           py::arg("requires_grad") = true)
      .def_property("grad",
                    [](const Tensor& t) -> py::object {
                      AutogradMeta* a = t->autograd();
                      return a && a->grad ? py::cast(a->grad) : py::object(py::none());
                    },
                    [](const Tensor& t, std::optional<Tensor> g) {
                      if (g && *g)
                        DL_CHECK((*g)->shape() == t->shape(), ValueError, "grad: assigned grad has shape ",
                                 shape_str((*g)->shape()), " but the tensor has shape ", shape_str(t->shape()));
                      t->autograd_mut().grad = g ? *g : Tensor();
                    })
      .def_property("data", [](const Tensor& t) { return detach(t); },
                    [](const Tensor& t, const Tensor& other) {
                      DL_CHECK(other, TypeError, "data: expected a tensor, got None");
                      t->set_data(*other);
                    })
      .def_property_readonly("grad_fn", [](const Tensor& t) -> py::object {
        return t->grad_fn() ? py::cast(t->grad_fn()) : py::object(py::none());
      })
      .def_property_readonly("is_leaf", [](const Tensor& t) { return t->is_leaf(); })
      .def("retain_grad", [](const Tensor& t) { retain_grad(t); })
      .def_property_readonly("retains_grad", [](const Tensor& t) { return t->autograd() && t->autograd()->retains_grad; })
      .def("detach", &detach)
      .def("detach_", [](const Tensor& t) {
        DL_CHECK(!t->view_base, RuntimeError, "detach_: cannot detach a view in place; use detach()");
        if (AutogradMeta* a = t->autograd()) {
          a->grad_fn.reset();
          a->requires_grad = false;
        }
        return t;
      })
      // ---- conversion and copies
      .def("contiguous", &contiguous)
      .def("clone", &clone)
      .def("copy_", [](const Tensor& t, py::handle src) {
        copy_(t, as_tensor_arg(src, "copy_", "src"));
        return t;
      }, py::arg("src"))
      .def("fill_", [](const Tensor& t, double v) { fill_(t, v); return t; }, py::arg("value"))
      .def("zero_", [](const Tensor& t) { zero_(t); return t; })
      .def("float", [](const Tensor& t) { return to_dtype(t, DType::Float32); })
      .def("double", [](const Tensor& t) { return to_dtype(t, DType::Float64); })
      .def("half", [](const Tensor& t) { return to_dtype(t, DType::Float16); })
      .def("bfloat16", [](const Tensor& t) { return to_dtype(t, DType::BFloat16); })
      .def("long", [](const Tensor& t) { return to_dtype(t, DType::Int64); })
      .def("int", [](const Tensor& t) { return to_dtype(t, DType::Int32); })
      .def("bool", [](const Tensor& t) { return to_dtype(t, DType::Bool); })
      .def("cpu", [](const Tensor& t) { return to_device(t, Device{}); })
      .def("cuda", [](const Tensor& t, std::optional<int> idx, bool non_blocking) {
        return to_device(t, Device{DeviceType::CUDA, idx ? *idx : 0}, non_blocking);
      }, py::arg("device") = py::none(), py::arg("non_blocking") = false)
      .def("pin_memory", &pin_memory)
      .def("is_pinned", &is_pinned)
      .def("type_as", [](const Tensor& t, const Tensor& o) { return to_dtype(t, o->dtype()); })
      // ---- views
      .def("view", [](const Tensor& t, py::args a) {
        if (a.size() == 1 && !PyLong_Check(a[0].ptr()) && !PyTuple_Check(a[0].ptr()) && !PyList_Check(a[0].ptr()))
          return to_dtype(t, parse_dtype(a[0]));  // x.view(dtype) is not a reinterpretation here
        return view(t, parse_shape(a));
      })
      .def("reshape", [](const Tensor& t, py::args a) { return reshape(t, parse_shape(a)); })
      .def("permute", [](const Tensor& t, py::args a) { return permute(t, parse_shape(a)); })
      .def("expand", [](const Tensor& t, py::args a) { return expand(t, parse_shape(a)); })
      .def("expand_as", [](const Tensor& t, const Tensor& o) { return expand(t, o->shape()); })
      .def("view_as", [](const Tensor& t, const Tensor& o) { return view(t, o->shape()); })
      .def("reshape_as", [](const Tensor& t, const Tensor& o) { return reshape(t, o->shape()); })
      .def_property_readonly("T", [](const Tensor& t) {
        Shape d(t->dim());
        for (int64_t i = 0; i < t->dim(); ++i) d[i] = t->dim() - 1 - i;
        return permute(t, d);
      })
      .def_property_readonly("mT", [](const Tensor& t) { return transpose(t, -2, -1); })
      .def("t", [](const Tensor& t) {
        DL_CHECK(t->dim() <= 2, ValueError, "t: expects a tensor with <= 2 dimensions, got ", t->describe());
        return t->dim() < 2 ? t : transpose(t, 0, 1);
      });
  DL_DEF_BOTH(m, cls, "transpose", &transpose, py::arg("dim0"), py::arg("dim1"));
  DL_DEF_BOTH(m, cls, "squeeze", &squeeze, py::arg("dim") = py::none());
  DL_DEF_BOTH(m, cls, "unsqueeze", &unsqueeze, py::arg("dim"));
  DL_DEF_BOTH(m, cls, "flatten", &flatten, py::arg("start_dim") = 0, py::arg("end_dim") = -1);
  DL_DEF_BOTH(m, cls, "narrow", &narrow, py::arg("dim"), py::arg("start"), py::arg("length"));
  DL_DEF_BOTH(m, cls, "select", &select, py::arg("dim"), py::arg("index"));
  DL_DEF_BOTH(m, cls, "as_strided", [](const Tensor& t, const Shape& size, const Shape& stride,
                                       std::optional<int64_t> off) {
    return as_strided(t, size, stride, off ? *off : t->offset());
  }, py::arg("size"), py::arg("stride"), py::arg("storage_offset") = py::none());
  m.def("reshape", [](const Tensor& t, const Shape& s) { return reshape(t, s); }, py::arg("input"), py::arg("shape"));
  m.def("permute", [](const Tensor& t, const Shape& d) { return permute(t, d); }, py::arg("input"), py::arg("dims"));
  m.def("contiguous", &contiguous);
  m.def("clone", &clone, py::arg("input"));
  m.def("detach", &detach, py::arg("input"));
  m.def("_to", [](const Tensor& t, py::object dtype, py::object device, bool copy, bool non_blocking) {
    Tensor out = t;
    if (!device.is_none()) out = to_device(out, parse_device_arg(device), non_blocking);
    if (!dtype.is_none()) out = to_dtype(out, parse_dtype(dtype));
    if (copy && out == t) out = clone(t);
    return out;
  }, py::arg("self"), py::arg("dtype") = py::none(), py::arg("device") = py::none(), py::arg("copy") = false,
     py::arg("non_blocking") = false);
  m.def("result_type", [](py::handle a, py::handle b) {
    return result_type({as_tensor_arg(a, "result_type", "tensor1"), as_tensor_arg(b, "result_type", "tensor2")});
  });
}

}  // namespace dlcore
