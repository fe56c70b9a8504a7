// Shape ops that copy (cat, stack, split, chunk, pad, repeat, tile, flip, roll, tril/triu) and
// sorting (sort, argsort, topk), with PyTorch's names, arguments and return types.
#include "common.h"

namespace dlcore {
namespace {

// Sizes given as f(2, 3), f((2, 3)), f([2, 3]) or f(name=(2, 3)).
Shape sizes_arg(py::args args, const py::kwargs& kw = {}, const char* name = "dims") {
  if (kw.contains(name)) return parse_dims(kw[name]);
  return args.size() == 0 ? Shape{} : parse_shape(args);
}

py::tuple as_tuple(const std::vector<Tensor>& ts) {
  py::tuple out(ts.size());
  for (size_t i = 0; i < ts.size(); ++i) out[i] = py::cast(ts[i]);
  return out;
}

// torch.return_types-like named tuples: (values, indices) with .values and .indices.
py::object return_type(const char* name) {
  static py::dict* cache = new py::dict();  // leaked on purpose: lives as long as the interpreter
  if (!cache->contains(name)) {
    py::object nt = py::module_::import("collections").attr("namedtuple");
    (*cache)[name] = nt(name, py::make_tuple("values", "indices"));
  }
  return (*cache)[name];
}

py::object values_indices(const char* name, const std::tuple<Tensor, Tensor>& r) {
  return return_type(name)(std::get<0>(r), std::get<1>(r));
}

py::tuple split_fn(const Tensor& t, py::handle size_or_sections, int64_t dim) {
  if (PyLong_Check(size_or_sections.ptr())) return as_tuple(split(t, size_or_sections.cast<int64_t>(), dim));
  return as_tuple(split_with_sizes(t, size_or_sections.cast<Shape>(), dim));
}

}  // namespace

void bind_shape(py::module_& m) {
  TensorClass cls = tensor_class(m);
  py::object no = py::none();

  // ---- cat / stack / split / chunk
  auto cat_fn = [](const std::vector<Tensor>& ts, int64_t dim) { return cat(ts, dim); };
  m.def("cat", cat_fn, py::arg("tensors"), py::arg("dim") = 0);
  m.def("concat", cat_fn, py::arg("tensors"), py::arg("dim") = 0);
  m.def("concatenate", cat_fn, py::arg("tensors"), py::arg("dim") = 0);
  m.def("stack", [](const std::vector<Tensor>& ts, int64_t dim) { return stack(ts, dim); }, py::arg("tensors"),
        py::arg("dim") = 0);
  m.def("split", &split_fn, py::arg("tensor"), py::arg("split_size_or_sections"), py::arg("dim") = 0);
  cls.def("split", &split_fn, py::arg("split_size"), py::arg("dim") = 0);
  DL_DEF_BOTH(m, cls, "split_with_sizes", [](const Tensor& t, const Shape& sizes, int64_t dim) {
    return as_tuple(split_with_sizes(t, sizes, dim));
  }, py::arg("split_sizes"), py::arg("dim") = 0);
  DL_DEF_BOTH(m, cls, "chunk", [](const Tensor& t, int64_t chunks, int64_t dim) {
    return as_tuple(chunk(t, chunks, dim));
  }, py::arg("chunks"), py::arg("dim") = 0);

  // ---- pad (wired as dlcore.nn.functional.pad by the Python package)
  m.def("pad", [](const Tensor& t, const Shape& pads, const std::string& mode, py::object value) {
    DL_CHECK(value.is_none() || mode == "constant", ValueError, "pad: padding mode '", mode,
             "' doesn't take in a value argument");
    return pad(t, pads, mode, value.is_none() ? 0.0 : value.cast<double>());
  }, py::arg("input"), py::arg("pad"), py::arg("mode") = "constant", py::arg("value") = no);

  // ---- repeat / tile / flip / roll / tril / triu
  cls.def("repeat", [](const Tensor& t, py::args sizes) { return repeat(t, sizes_arg(sizes)); });
  m.def("tile", [](const Tensor& t, const Shape& dims) { return tile(t, dims); }, py::arg("input"), py::arg("dims"));
  cls.def("tile", [](const Tensor& t, py::args dims, py::kwargs kw) { return tile(t, sizes_arg(dims, kw)); });
  m.def("flip", [](const Tensor& t, py::handle dims) { return flip(t, parse_dims(dims)); }, py::arg("input"),
        py::arg("dims"));
  cls.def("flip", [](const Tensor& t, py::args dims, py::kwargs kw) { return flip(t, sizes_arg(dims, kw)); });
  DL_DEF_BOTH(m, cls, "roll", [](const Tensor& t, py::handle shifts, py::handle dims) {
    return roll(t, parse_dims(shifts), parse_dims(dims));
  }, py::arg("shifts"), py::arg("dims") = no);
  DL_DEF_BOTH(m, cls, "tril", &tril, py::arg("diagonal") = 0);
  DL_DEF_BOTH(m, cls, "triu", &triu, py::arg("diagonal") = 0);

  // ---- sorting
  DL_DEF_BOTH(m, cls, "sort", [](const Tensor& t, int64_t dim, bool descending, bool stable) {
    (void)stable;  // every sort is stable (Note [Sort order])
    return values_indices("sort", sort(t, dim, descending));
  }, py::arg("dim") = -1, py::arg("descending") = false, py::arg("stable") = false);
  DL_DEF_BOTH(m, cls, "argsort", [](const Tensor& t, int64_t dim, bool descending, bool stable) {
    (void)stable;
    return argsort(t, dim, descending);
  }, py::arg("dim") = -1, py::arg("descending") = false, py::arg("stable") = false);
  DL_DEF_BOTH(m, cls, "topk", [](const Tensor& t, int64_t k, int64_t dim, bool largest, bool sorted) {
    return values_indices("topk", topk(t, k, dim, largest, sorted));
  }, py::arg("k"), py::arg("dim") = -1, py::arg("largest") = true, py::arg("sorted") = true);
}

}  // namespace dlcore
