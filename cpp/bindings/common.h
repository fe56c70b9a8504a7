// Shared helpers for the pybind11 bindings: argument conversion (Python numbers to
// wrapped-number tensors, dtype and device arguments, shapes) and binding one C++ function
// both as a module function and as a Tensor method.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "dlcore/autograd.h"
#include "dlcore/ops.h"

namespace py = pybind11;

namespace dlcore {

using TensorClass = py::class_<TensorImpl, Tensor>;

// The Tensor class object (registered by bind_tensor); use to add methods from any file.
TensorClass tensor_class(py::module_& m);

// A Tensor, or a Python bool/int/float turned into a wrapped-number 0-d tensor.
Tensor as_tensor_arg(py::handle h, const char* op, const char* arg);
DType parse_dtype(py::handle h);             // dlcore.dtype, "float32", numpy dtype, float/int/bool
std::optional<DType> parse_opt_dtype(py::handle h);
Device parse_device_arg(py::handle h);       // dlcore.device, "cuda:0", int (cuda index)
Shape parse_shape(py::args args);            // f(2, 3) or f((2, 3)) or f([2, 3])
Shape parse_dims(py::handle h);              // None -> {}, int -> {d}, sequence -> dims

// Registration functions, one per binding file.
void bind_tensor(py::module_& m);
void bind_autograd(py::module_& m);
void bind_creation(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_indexing(py::module_& m);
void bind_reduce(py::module_& m);
void bind_linalg(py::module_& m);
void bind_shape(py::module_& m);
void bind_interop(py::module_& m);
void bind_cuda(py::module_& m);
void bind_conv(py::module_& m);
void bind_pool(py::module_& m);
void bind_norm(py::module_& m);
void bind_loss(py::module_& m);
void bind_attention(py::module_& m);
void bind_rnn(py::module_& m);
void bind_optim(py::module_& m);
void bind_amp(py::module_& m);
void bind_backends(py::module_& m);
void bind_boxes(py::module_& m);

}  // namespace dlcore

// Binds `fn` as dlcore.<name>(input, ...) and as Tensor.<name>(self, ...). The extra
// arguments annotate the parameters after the tensor.
#define DL_DEF_BOTH(m, cls, name, fn, ...)                  \
  do {                                                       \
    (m).def(name, fn, py::arg("input"), ##__VA_ARGS__);      \
    (cls).def(name, fn, ##__VA_ARGS__);                      \
  } while (0)
