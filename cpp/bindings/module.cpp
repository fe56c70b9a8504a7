// dlcore._C: the extension module. Translates dlcore's C++ exceptions to Python's and
// calls each binding file's registration function.
#include "common.h"
#include "dlcore/dispatch.h"
#include "dlcore/parallel.h"
#include "dlcore/poison.h"

namespace dlcore {

TensorClass tensor_class(py::module_& m) { return py::reinterpret_borrow<TensorClass>(m.attr("Tensor")); }

}  // namespace dlcore

PYBIND11_MODULE(_C, m) {
  using namespace dlcore;
  m.doc() = "dlcore C++ core";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const OutOfMemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const RuntimeError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
  bind_tensor(m);
  bind_autograd(m);
  bind_creation(m);
  bind_elementwise(m);
  bind_indexing(m);
  bind_reduce(m);
  bind_linalg(m);
  bind_shape(m);
  bind_interop(m);
  bind_cuda(m);
  bind_conv(m);
  bind_pool(m);
  bind_norm(m);
  bind_loss(m);
  bind_attention(m);
  bind_rnn(m);
  bind_optim(m);
  bind_amp(m);
  bind_backends(m);
  bind_boxes(m);

  m.def("_registered_ops", [] {
    py::list out;
    for (const OpInfo& op : registered_ops()) out.append(py::make_tuple(op.name, op.family, op.differentiable));
    return out;
  });
  m.def("_kernel_coverage", [] { return kernel_coverage(); });
  m.def("_set_poison_new_tensors", &set_poison_new_tensors, py::arg("on"),
        "Fill every new tensor with NaN / a large value (tests of unwritten outputs); returns the previous setting.");
  m.def("_cpu_capability", [] { return std::string(active_cpu_capability()); });
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
#ifdef DLCORE_WITH_CUDA
  m.attr("_built_with_cuda") = true;
#else
  m.attr("_built_with_cuda") = false;
#endif
}
