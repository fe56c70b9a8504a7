// Reductions and the softmax family as dlcore.<op> functions and Tensor methods, with
// PyTorch's names, arguments and overloads: max/min with a dim return a (values, indices)
// named tuple, with a tensor they are maximum/minimum; var/std take unbiased or correction.
#include "common.h"

namespace dlcore {
namespace {

std::optional<int64_t> opt_dim(py::handle h, const char* op) {
  if (h.is_none()) return std::nullopt;
  DL_CHECK(PyIndex_Check(h.ptr()) && !PyBool_Check(h.ptr()), TypeError, op, ": dim must be an int or None, not ",
           std::string(py::str(py::type::of(h).attr("__name__"))));
  return py::int_(py::reinterpret_borrow<py::object>(h)).cast<int64_t>();  // numpy integers too
}

Tensor with_dtype(const Tensor& x, py::handle dtype) { return dtype.is_none() ? x : to_dtype(x, parse_dtype(dtype)); }

// prod/cumsum with dtype=: the input is converted to it and the result comes back in it.
// Integers add and multiply in int64 (as without dtype=); wrapping the int64 result to a
// narrower integer gives what computing in that integer would, as PyTorch does.
Tensor in_dtype(const Tensor& result, py::handle dtype) {
  return dtype.is_none() || result->dtype() == parse_dtype(dtype) ? result : to_dtype(result, parse_dtype(dtype));
}

// PyTorch 2.x: `correction` (default 1) or the older `unbiased` flag, not both.
double parse_correction(py::handle unbiased, py::handle correction, const char* op) {
  DL_CHECK(unbiased.is_none() || correction.is_none(), ValueError, op,
           ": pass either unbiased or correction, not both");
  if (!correction.is_none()) return correction.cast<double>();
  if (!unbiased.is_none()) return unbiased.cast<bool>() ? 1.0 : 0.0;
  return 1.0;
}

// norm's p: 'fro' (the 2-norm of the flattened dims) or a number (inf and -inf included).
double parse_p(py::handle p) {
  if (p.is_none()) return 2.0;
  if (py::isinstance<py::str>(p)) {
    std::string s = p.cast<std::string>();
    if (s == "fro") return 2.0;
    throw NotImplementedError("norm: p='" + s + "' is not supported; use 'fro' or a number");
  }
  DL_CHECK(PyNumber_Check(p.ptr()), TypeError, "norm: p must be 'fro' or a number, not ",
           std::string(py::str(py::type::of(p).attr("__name__"))));
  return p.cast<double>();
}

// max/min: (input) -> extreme of all elements; (input, dim, keepdim) -> (values, indices);
// (input, other tensor) -> elementwise maximum/minimum.
py::object max_min(bool is_max, const py::object& result_type, const Tensor& x, const py::object& dim, bool keepdim,
                   const py::object& other) {
  const char* name = is_max ? "max" : "min";
  py::object o = other;
  if (py::isinstance<TensorImpl>(dim)) o = dim;
  if (!o.is_none()) {
    Tensor t = as_tensor_arg(o, name, "other");
    return py::cast(is_max ? maximum(x, t) : minimum(x, t));
  }
  if (dim.is_none()) {
    DL_CHECK(x->numel() > 0, IndexError, name, ": cannot reduce an empty tensor (input shape ", shape_str(x->shape()),
             ") without a dim: the operation has no identity");
    return py::cast(is_max ? amax(x, {}, false) : amin(x, {}, false));
  }
  auto [values, indices] = is_max ? max_dim(x, *opt_dim(dim, name), keepdim) : min_dim(x, *opt_dim(dim, name), keepdim);
  return result_type(values, indices);
}

}  // namespace

void bind_reduce(py::module_& m) {
  TensorClass cls = tensor_class(m);
  py::object none = py::none();

  // ---- sum, mean, prod ----------------------------------------------------------------------
  DL_DEF_BOTH(m, cls, "sum", [](const Tensor& x, py::object dim, bool keepdim, py::object dtype) {
    return sum(x, parse_dims(dim), keepdim, parse_opt_dtype(dtype));
  }, py::arg("dim") = none, py::arg("keepdim") = false, py::kw_only(), py::arg("dtype") = none);
  DL_DEF_BOTH(m, cls, "mean", [](const Tensor& x, py::object dim, bool keepdim, py::object dtype) {
    return mean(with_dtype(x, dtype), parse_dims(dim), keepdim);
  }, py::arg("dim") = none, py::arg("keepdim") = false, py::kw_only(), py::arg("dtype") = none);
  DL_DEF_BOTH(m, cls, "prod", [](const Tensor& x, py::object dim, bool keepdim, py::object dtype) {
    return in_dtype(prod(with_dtype(x, dtype), opt_dim(dim, "prod"), keepdim), dtype);
  }, py::arg("dim") = none, py::arg("keepdim") = false, py::kw_only(), py::arg("dtype") = none);

  // ---- extremes -----------------------------------------------------------------------------
  DL_DEF_BOTH(m, cls, "amax", [](const Tensor& x, py::object dim, bool keepdim) {
    return amax(x, parse_dims(dim), keepdim);
  }, py::arg("dim") = py::tuple(), py::arg("keepdim") = false);
  DL_DEF_BOTH(m, cls, "amin", [](const Tensor& x, py::object dim, bool keepdim) {
    return amin(x, parse_dims(dim), keepdim);
  }, py::arg("dim") = py::tuple(), py::arg("keepdim") = false);

  // (values, indices) results: named tuples like torch.return_types.max / .min.
  py::object namedtuple = py::module_::import("collections").attr("namedtuple");
  py::tuple fields = py::make_tuple("values", "indices");
  py::object max_result = namedtuple("max", fields, py::arg("module") = "dlcore.return_types");
  py::object min_result = namedtuple("min", fields, py::arg("module") = "dlcore.return_types");
  DL_DEF_BOTH(m, cls, "max", [max_result](const Tensor& x, py::object dim, bool keepdim, py::object other) {
    return max_min(true, max_result, x, dim, keepdim, other);
  }, py::arg("dim") = none, py::arg("keepdim") = false, py::kw_only(), py::arg("other") = none);
  DL_DEF_BOTH(m, cls, "min", [min_result](const Tensor& x, py::object dim, bool keepdim, py::object other) {
    return max_min(false, min_result, x, dim, keepdim, other);
  }, py::arg("dim") = none, py::arg("keepdim") = false, py::kw_only(), py::arg("other") = none);
  DL_DEF_BOTH(m, cls, "argmax", [](const Tensor& x, py::object dim, bool keepdim) {
    return argmax(x, opt_dim(dim, "argmax"), keepdim);
  }, py::arg("dim") = none, py::arg("keepdim") = false);
  DL_DEF_BOTH(m, cls, "argmin", [](const Tensor& x, py::object dim, bool keepdim) {
    return argmin(x, opt_dim(dim, "argmin"), keepdim);
  }, py::arg("dim") = none, py::arg("keepdim") = false);

  // ---- statistics -----------------------------------------------------------------------------
  // var(x, False) is the old var(x, unbiased=False).
  auto var_std = [](bool take_sqrt, const Tensor& x, py::object dim, py::object unbiased, bool keepdim,
                    py::object correction) {
    const char* name = take_sqrt ? "std" : "var";
    if (PyBool_Check(dim.ptr())) {
      DL_CHECK(unbiased.is_none(), TypeError, name, ": got unbiased twice");
      unbiased = dim;
      dim = py::none();
    }
    const double c = parse_correction(unbiased, correction, name);
    return take_sqrt ? std(x, parse_dims(dim), c, keepdim) : var(x, parse_dims(dim), c, keepdim);
  };
  DL_DEF_BOTH(m, cls, "var", [var_std](const Tensor& x, py::object dim, py::object unbiased, bool keepdim,
                                       py::object correction) {
    return var_std(false, x, dim, unbiased, keepdim, correction);
  }, py::arg("dim") = none, py::arg("unbiased") = none, py::arg("keepdim") = false, py::kw_only(),
     py::arg("correction") = none);
  DL_DEF_BOTH(m, cls, "std", [var_std](const Tensor& x, py::object dim, py::object unbiased, bool keepdim,
                                       py::object correction) {
    return var_std(true, x, dim, unbiased, keepdim, correction);
  }, py::arg("dim") = none, py::arg("unbiased") = none, py::arg("keepdim") = false, py::kw_only(),
     py::arg("correction") = none);
  DL_DEF_BOTH(m, cls, "logsumexp", [](const Tensor& x, py::object dim, bool keepdim) {
    return logsumexp(x, parse_dims(dim), keepdim);
  }, py::arg("dim"), py::arg("keepdim") = false);
  DL_DEF_BOTH(m, cls, "norm", [](const Tensor& x, py::object p, py::object dim, bool keepdim, py::object dtype) {
    return norm(with_dtype(x, dtype), parse_p(p), parse_dims(dim), keepdim);
  }, py::arg("p") = "fro", py::arg("dim") = none, py::arg("keepdim") = false, py::arg("dtype") = none);

  // ---- logical ------------------------------------------------------------------------------
  DL_DEF_BOTH(m, cls, "all", [](const Tensor& x, py::object dim, bool keepdim) {
    return all(x, opt_dim(dim, "all"), keepdim);
  }, py::arg("dim") = none, py::arg("keepdim") = false);
  DL_DEF_BOTH(m, cls, "any", [](const Tensor& x, py::object dim, bool keepdim) {
    return any(x, opt_dim(dim, "any"), keepdim);
  }, py::arg("dim") = none, py::arg("keepdim") = false);

  // ---- scans and softmax ------------------------------------------------------------------------
  DL_DEF_BOTH(m, cls, "cumsum", [](const Tensor& x, int64_t dim, py::object dtype) {
    DL_CHECK(dtype.is_none() || parse_dtype(dtype) != DType::Bool, TypeError,
             "cumsum: dtype=bool is not supported (as in PyTorch); got input ", x->describe());
    return in_dtype(cumsum(with_dtype(x, dtype), dim), dtype);
  }, py::arg("dim"), py::kw_only(), py::arg("dtype") = none);
  DL_DEF_BOTH(m, cls, "softmax", [](const Tensor& x, int64_t dim, py::object dtype) {
    return softmax(with_dtype(x, dtype), dim);
  }, py::arg("dim"), py::arg("dtype") = none);
  DL_DEF_BOTH(m, cls, "log_softmax", [](const Tensor& x, int64_t dim, py::object dtype) {
    return log_softmax(with_dtype(x, dtype), dim);
  }, py::arg("dim"), py::arg("dtype") = none);
}

}  // namespace dlcore
