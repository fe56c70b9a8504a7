// Indexing: gather/scatter/index_select/masked_fill/one_hot/embedding/nonzero/index_put and
// Tensor.__getitem__ / __setitem__ with PyTorch's rules.
//
// Note [Python indexing]
// An index is a tuple of items (a single item is a 1-tuple). Basic items are applied left to
// right as views that record autograd: an int selects (PyTorch's rule: ints are basic, not
// advanced as in numpy), a slice slices, None inserts a dim, `...` skips the dims no other
// item consumes. Tensors, lists and numpy arrays of ints or bools are advanced items: they are
// collected by the dim of the view they apply to, and index() runs once at the end (a Python
// bool acts as a new dim indexed by [0] or []). __setitem__ writes through the same view with
// copy_ (basic only) or index_put_ (advanced).
#include <pybind11/numpy.h>

#include "common.h"
#include "ops/index.h"

namespace dlcore {
namespace {

struct BasicStep {
  enum Kind : uint8_t { Select, Slice, Unsqueeze } kind;
  int64_t dim = 0, start = 0, stop = 0, step = 1;
};

Tensor apply_step(const Tensor& t, const BasicStep& s) {
  switch (s.kind) {
    case BasicStep::Select: return select(t, s.dim, s.start);
    case BasicStep::Slice: return slice(t, s.dim, s.start, s.stop, s.step);
    case BasicStep::Unsqueeze: break;
  }
  return unsqueeze(t, s.dim);
}

Tensor replay(Tensor t, const std::vector<BasicStep>& steps) {
  for (const BasicStep& s : steps) t = apply_step(t, s);
  return t;
}

struct ParsedIndex {
  std::vector<BasicStep> steps;
  std::vector<Tensor> advanced;  // entries for index(): null = full slice, masks cover their dims
  int64_t covered = 0;           // dims of the view that `advanced` accounts for
  void add_advanced(const Tensor& idx, int64_t dim) {
    while (covered < dim) {
      advanced.emplace_back();
      ++covered;
    }
    advanced.push_back(idx);
    covered += idx->dtype() == DType::Bool ? idx->dim() : 1;
  }
};

Tensor int64_tensor(const std::vector<int64_t>& v) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, DType::Int64);
  std::copy(v.begin(), v.end(), t->data<int64_t>());
  return t;
}

// A tensor copied from a numpy array or (nested) Python sequence. Integers become int64,
// bools bool, floats float64 (or an IndexError for an index).
Tensor tensor_from_array(py::handle obj, bool for_index) {
  if (for_index && PyList_Check(obj.ptr())) {
    // The common x[[0, 2, 5]]: no numpy round trip.
    const Py_ssize_t n = PyList_GET_SIZE(obj.ptr());
    std::vector<int64_t> v;
    v.reserve(n);
    bool ints = n > 0;
    for (Py_ssize_t i = 0; i < n && ints; ++i) {
      PyObject* it = PyList_GET_ITEM(obj.ptr(), i);
      ints = PyLong_CheckExact(it);
      if (ints) v.push_back(PyLong_AsLongLong(it));
    }
    if (ints) {
      if (PyErr_Occurred()) throw py::error_already_set();
      return int64_tensor(v);
    }
  }
  py::array arr = py::module_::import("numpy").attr("asarray")(obj);
  const char kind = arr.dtype().kind();
  Shape shape(arr.shape(), arr.shape() + arr.ndim());
  auto fill = [&](auto tag, DType dtype) {
    using T = decltype(tag);
    py::array_t<T, py::array::c_style | py::array::forcecast> a(arr);
    Tensor t = empty(shape, dtype);
    if (t->numel()) std::memcpy(t->raw_data(), a.data(), static_cast<size_t>(t->numel()) * sizeof(T));
    return t;
  };
  if (kind == 'b') return fill(bool(), DType::Bool);
  if (kind == 'i' || kind == 'u') return fill(int64_t(), DType::Int64);
  if (for_index) {
    // x[[]]: an empty list is an empty integer index, as in PyTorch.
    DL_CHECK(arr.size() == 0, IndexError, "tensors used as indices must be int64, int32 or bool tensors, got an ",
             "array of dtype ", std::string(py::str(arr.dtype())));
    return fill(int64_t(), DType::Int64);
  }
  DL_CHECK(kind == 'f', TypeError, "can't assign an array of dtype ", std::string(py::str(arr.dtype())));
  return fill(double(), DType::Float64);
}

bool is_sequence_index(py::handle h) {
  return PyList_Check(h.ptr()) || PyTuple_Check(h.ptr()) || py::hasattr(h, "__array__");
}

// How many dims of the indexed tensor an item consumes (sequences already made tensors).
int64_t consumed_dims(py::handle item) {
  if (PyLong_CheckExact(item.ptr()) || PySlice_Check(item.ptr())) return 1;
  if (item.is_none() || item.ptr() == Py_Ellipsis || PyBool_Check(item.ptr())) return 0;
  if (py::isinstance<TensorImpl>(item)) {
    const Tensor t = item.cast<Tensor>();
    return t->dtype() == DType::Bool ? t->dim() : 1;
  }
  return 1;
}

[[noreturn]] void bad_item(py::handle item) {
  throw IndexError(str_cat("only integers, slices (`:`), ellipsis (`...`), None and int64, int32 or bool tensors ",
                           "(or lists/arrays of them) are valid indices, got ",
                           std::string(py::str(py::type::of(item).attr("__name__")))));
}

// Applies the basic items of `index` to t (Note [Python indexing]) and collects the advanced ones.
Tensor apply_index(const Tensor& t, py::handle index, ParsedIndex& p) {
  std::vector<py::object> items;
  auto add_item = [&](py::handle h) {
    PyObject* o = h.ptr();
    const bool plain = PyLong_CheckExact(o) || PySlice_Check(o) || o == Py_None || o == Py_Ellipsis ||
                       PyBool_Check(o) || py::isinstance<TensorImpl>(h);
    const bool seq = !plain && is_sequence_index(h);
    items.push_back(seq ? py::cast(tensor_from_array(h, true)) : py::reinterpret_borrow<py::object>(h));
  };
  if (PyTuple_Check(index.ptr())) {
    for (py::handle h : py::reinterpret_borrow<py::tuple>(index)) add_item(h);
  } else {
    add_item(index);
  }
  int64_t consumed = 0, ellipses = 0;
  for (py::handle item : items) {
    consumed += consumed_dims(item);
    ellipses += item.ptr() == Py_Ellipsis;
  }
  DL_CHECK(ellipses <= 1, IndexError, "an index can only have a single ellipsis ('...')");
  DL_CHECK(consumed <= t->dim(), IndexError, "too many indices for tensor of dimension ", t->dim(), " (",
           t->describe(), ")");
  Tensor cur = t;
  int64_t dim = 0;
  auto push = [&](BasicStep s) {
    cur = apply_step(cur, s);
    p.steps.push_back(s);
  };
  for (py::handle item : items) {
    PyObject* o = item.ptr();
    if (PyLong_Check(o) && !PyBool_Check(o)) {
      push({BasicStep::Select, dim, item.cast<int64_t>()});
    } else if (PySlice_Check(o)) {
      Py_ssize_t start, stop, step;
      if (PySlice_Unpack(o, &start, &stop, &step) < 0) throw py::error_already_set();
      DL_CHECK(step > 0, ValueError, "step must be greater than zero");
      if (!(start == 0 && step == 1 && stop >= cur->shape()[dim])) push({BasicStep::Slice, dim, start, stop, step});
      ++dim;
    } else if (item.is_none()) {
      push({BasicStep::Unsqueeze, dim});
      ++dim;
    } else if (o == Py_Ellipsis) {
      dim += t->dim() - consumed;
    } else if (py::isinstance<TensorImpl>(item) || PyBool_Check(o)) {
      Tensor idx = PyBool_Check(o) ? wrap_scalar(o == Py_True ? 1.0 : 0.0, DType::Bool) : item.cast<Tensor>();
      if (idx->dtype() == DType::Bool && idx->dim() == 0) {
        // x[True] / x[False]: a new dim of size 1 or 0.
        push({BasicStep::Unsqueeze, dim});
        idx = item_as_double(idx) != 0 ? int64_tensor({0}) : int64_tensor({});
        if (!cur->device().is_cpu()) idx = to_device(idx, cur->device());
      }
      p.add_advanced(idx, dim);
      dim += idx->dtype() == DType::Bool ? idx->dim() : 1;
    } else if (PyIndex_Check(o)) {  // numpy integers
      push({BasicStep::Select, dim, py::reinterpret_borrow<py::int_>(PyNumber_Index(o)).cast<int64_t>()});
    } else {
      bad_item(item);
    }
  }
  return cur;
}

Tensor getitem(const Tensor& t, py::handle index) {
  PyObject* o = index.ptr();
  if (PyLong_CheckExact(o)) return select(t, 0, py::reinterpret_borrow<py::int_>(index).cast<int64_t>());
  ParsedIndex p;
  Tensor out = apply_index(t, index, p);
  if (!p.advanced.empty()) return dlcore::index(out, p.advanced);
  // x[...] / x[:]: a new alias, as in PyTorch, not x itself.
  if (out == t) return view(t, t->shape());
  return out;
}

Tensor value_arg(py::handle value) {
  if (py::isinstance<TensorImpl>(value)) return value.cast<Tensor>();
  if (PyBool_Check(value.ptr()) || PyLong_Check(value.ptr()) || PyFloat_Check(value.ptr()))
    return as_tensor_arg(value, "__setitem__", "value");
  if (is_sequence_index(value)) return tensor_from_array(value, false);
  return as_tensor_arg(value, "__setitem__", "value");
}

// Note [setitem under autograd]
// __setitem__ does the write with grad mode off (the indexed region is a temporary view) and
// then gives `t` one node for it: the gradient for t's old value is g with the written region
// zeroed, and for the value it is that region of g (the same basic steps replayed on g, then
// the same advanced index). When t is itself a view, rebase_history hands that node to t's
// base (Note [Views and in-place writes]).
void setitem(const Tensor& t, py::handle index, py::handle value) {
  const Tensor value_t = value_arg(value);
  Tensor v = value_t;
  const bool grad = inplace_records(t, {&v});
  if (grad) check_inplace(t, "__setitem__");
  ParsedIndex p;
  {
    GradModeGuard no_grad(false);
    Tensor dst = apply_index(t, index, p);
    if (p.advanced.empty()) {
      copy_(dst, v);
    } else {
      index_put_(dst, p.advanced, v, false);
    }
    if (!grad) return;
  }
  std::vector<BasicStep> steps = p.steps;
  std::vector<Tensor> adv = p.advanced;
  auto node = std::make_shared<FunctionNode>("CopySlices", [steps, adv](const std::vector<Tensor>& g, const Node& n) {
    Tensor gt, gv;
    if (n.needs_input_grad(0)) {
      gt = clone(g[0]);
      GradModeGuard no_grad(false);
      Tensor region = replay(gt, steps);
      if (adv.empty()) fill_(region, 0.0);
      else index_put_(region, adv, wrap_scalar(0.0, gt->dtype()), false);
    }
    if (n.needs_input_grad(1)) {
      Tensor region = replay(g[0], steps);
      gv = adv.empty() ? region : dlcore::index(region, adv);  // the engine sums it to the value's shape
    }
    return std::vector<Tensor>{gt, gv};
  });
  node->next_edges = {t->requires_grad() ? gradient_edge(t) : Edge{},
                      value_t->requires_grad() ? gradient_edge(value_t) : Edge{}};
  node->input_meta = {InputMeta{t->shape(), t->dtype()}, InputMeta{value_t->shape(), value_t->dtype()}};
  rebase_history(t, node);
}

// index_put_'s `indices`: a tuple/list of tensors, None or index-like sequences.
std::vector<Tensor> index_list(py::handle seq) {
  std::vector<Tensor> out;
  for (py::handle h : py::reinterpret_borrow<py::sequence>(seq)) {
    if (h.is_none()) out.emplace_back();
    else if (py::isinstance<TensorImpl>(h)) out.push_back(h.cast<Tensor>());
    else out.push_back(tensor_from_array(h, true));
  }
  return out;
}

}  // namespace

void bind_indexing(py::module_& m) {
  TensorClass cls = tensor_class(m);
  py::object no = py::none();

  cls.def("__getitem__", &getitem);
  cls.def("__setitem__", &setitem);

  DL_DEF_BOTH(m, cls, "gather", &gather, py::arg("dim"), py::arg("index"));
  auto scatter_fn = [](const Tensor& t, int64_t dim, const Tensor& index, py::object src, py::object value) {
    DL_CHECK(src.is_none() != value.is_none(), ValueError, "scatter: expected exactly one of src and value");
    py::handle s = src.is_none() ? value : src;
    return scatter(t, dim, index, as_tensor_arg(s, "scatter", "src"));
  };
  DL_DEF_BOTH(m, cls, "scatter", scatter_fn, py::arg("dim"), py::arg("index"), py::arg("src") = no,
              py::arg("value") = no);
  DL_DEF_BOTH(m, cls, "scatter_add", &scatter_add, py::arg("dim"), py::arg("index"), py::arg("src"));
  cls.def("scatter_", [scatter_fn](const Tensor& t, int64_t dim, const Tensor& index, py::object src,
                                   py::object value) {
    copy_(t, scatter_fn(t, dim, index, src, value));
    return t;
  }, py::arg("dim"), py::arg("index"), py::arg("src") = no, py::arg("value") = no);
  cls.def("scatter_add_", [](const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src) {
    copy_(t, scatter_add(t, dim, index, src));
    return t;
  }, py::arg("dim"), py::arg("index"), py::arg("src"));
  DL_DEF_BOTH(m, cls, "index_select", &index_select, py::arg("dim"), py::arg("index"));
  DL_DEF_BOTH(m, cls, "masked_fill", [](const Tensor& t, const Tensor& mask, py::handle value) {
    return masked_fill(t, mask, as_tensor_arg(value, "masked_fill", "value"));
  }, py::arg("mask"), py::arg("value"));
  cls.def("masked_fill_", [](const Tensor& t, const Tensor& mask, py::handle value) {
    copy_(t, masked_fill(t, mask, as_tensor_arg(value, "masked_fill_", "value")));
    return t;
  }, py::arg("mask"), py::arg("value"));
  m.def("one_hot", &one_hot, py::arg("tensor"), py::arg("num_classes") = -1);
  m.def("embedding", [](const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx) {
    return embedding(weight, input, padding_idx);
  }, py::arg("input"), py::arg("weight"), py::arg("padding_idx") = no);
  DL_DEF_BOTH(m, cls, "nonzero", [](const Tensor& t, bool as_tuple) -> py::object {
    Tensor nz = nonzero(t);
    if (!as_tuple) return py::cast(nz);
    if (t->dim() == 0) return py::make_tuple(zeros({nz->shape()[0]}, DType::Int64, t->device()));
    py::tuple out(t->dim());
    for (int64_t d = 0; d < t->dim(); ++d) out[d] = contiguous(select(nz, 1, d));
    return out;
  }, py::kw_only(), py::arg("as_tuple") = false);
  cls.def("index_put_", [](Tensor t, py::handle indices, py::handle values, bool accumulate) {
    index_put_(t, index_list(indices), value_arg(values), accumulate);
    return t;
  }, py::arg("indices"), py::arg("values"), py::arg("accumulate") = false);
  DL_DEF_BOTH(m, cls, "index_put", [](const Tensor& t, py::handle indices, py::handle values, bool accumulate) {
    return index_put(t, index_list(indices), value_arg(values), accumulate);
  }, py::arg("indices"), py::arg("values"), py::arg("accumulate") = false);
}

}  // namespace dlcore
