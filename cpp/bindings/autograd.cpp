// Autograd from Python: grad mode, backward, autograd.grad, graph nodes (grad_fn), hooks,
// anomaly mode, and the node behind autograd.Function.
#include "common.h"

#include <unordered_set>

namespace dlcore {
namespace {

// A Python object owned from C++ code that may drop it without the GIL (the engine walks
// with the GIL released): the last owner takes the GIL to release it.
using PyRef = std::shared_ptr<py::object>;

PyRef hold(py::object o) {
  return PyRef(new py::object(std::move(o)), [](py::object* p) {
    if (Py_IsInitialized()) {
      py::gil_scoped_acquire gil;
      delete p;
    } else {
      p->release();  // the interpreter is gone: nothing left to decref into
      delete p;
    }
  });
}

std::string type_name(py::handle h) { return py::str(py::type::handle_of(h).attr("__name__")); }

py::tuple grads_tuple(const std::vector<Tensor>& grads) {
  py::tuple t(grads.size());
  for (size_t i = 0; i < grads.size(); ++i) t[i] = grads[i] ? py::cast(grads[i]) : py::none();
  return t;
}

// Replaces `grads` by what a node hook returned (None keeps them).
void replace_grads(std::vector<Tensor>& grads, py::handle result, const char* what) {
  if (result.is_none()) return;
  DL_CHECK(py::isinstance<py::tuple>(result) || py::isinstance<py::list>(result), TypeError, what,
           ": a node hook must return None or a tuple of gradients, got ", type_name(result));
  py::sequence seq = py::reinterpret_borrow<py::sequence>(result);
  DL_CHECK(seq.size() == grads.size(), RuntimeError, what, ": a node hook returned ", seq.size(),
           " gradients but the node has ", grads.size());
  for (size_t i = 0; i < grads.size(); ++i) {
    py::object g = seq[i];
    if (g.is_none()) {
      grads[i] = Tensor();
    } else {
      DL_CHECK(py::isinstance<TensorImpl>(g), TypeError, what, ": a node hook returned a ", type_name(g),
               " at index ", i, "; expected a tensor or None");
      grads[i] = g.cast<Tensor>();
    }
  }
}

TensorHook tensor_hook(py::function fn) {
  PyRef f = hold(std::move(fn));
  return [f](const Tensor& g) -> Tensor {
    py::gil_scoped_acquire gil;
    py::object r = (*f)(g);
    if (r.is_none()) return Tensor();
    DL_CHECK(py::isinstance<TensorImpl>(r), TypeError,
             "register_hook: a tensor hook must return a tensor or None, got ", type_name(r));
    return r.cast<Tensor>();
  };
}

// ---- anomaly mode callbacks (Note [Anomaly mode]) -----------------------------------------------
std::string capture_python_stack() {
  py::gil_scoped_acquire gil;
  std::string out;
  for (py::handle line : py::module_::import("traceback").attr("format_stack")())
    out += py::str(line).cast<std::string>();
  return out;
}

void warn_failed_node(const Node& node) {
  py::gil_scoped_acquire gil;
  std::string msg =
      node.forward_trace
          ? str_cat("Error detected in ", node.name(), ". Traceback of forward call that caused the error:\n",
                    *node.forward_trace)
          : str_cat("Error detected in ", node.name(), ". No forward pass information available. Enable detect "
                    "anomaly during forward pass for more information.");
  if (PyErr_WarnEx(PyExc_UserWarning, msg.c_str(), 1) != 0) PyErr_Clear();  // the node's own error wins
}

// ---- autograd.Function ------------------------------------------------------------------------
// Note [Python Function nodes]
// The node of one autograd.Function call holds the ctx object and a Python trampoline
// (autograd/function.py: _call_backward) and calls it with the GIL re-acquired. Tensors
// given to ctx.save_for_backward live here, not on the ctx, as SavedTensors: an output is
// saved as a detached alias (so out -> node -> saved(out) is no reference cycle Python's
// collector cannot see), and is handed to backward with this node as its grad_fn so that
// a backward written with differentiable ops can be differentiated again. The gradients
// backward returns are checked against the inputs' shapes, dtypes and devices here, where
// the error can name the Function. A tensor stored as a plain attribute of ctx is held by
// the ctx; if it is an output of the same call, out -> node -> ctx -> out is a cycle that
// only ends with the graph, so outputs belong in save_for_backward.
struct PyFunctionNode : Node {
  struct Saved {
    SavedTensor tensor;
    int64_t output_nr = -1;  // >= 0: a differentiable output of this node
  };
  struct OutputMeta {
    bool tensor = false;
    Shape shape;
    DType dtype = DType::Float32;
    Device device;
  };

  PyFunctionNode(std::string name, PyRef ctx, PyRef backward, bool materialize)
      : ctx(std::move(ctx)), backward_(std::move(backward)), name_(std::move(name)), materialize_(materialize) {}
  std::string name() const override { return name_; }
  void release_saved() override {
    saved.clear();
    released_ = true;
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;

  PyRef ctx;
  std::vector<Saved> saved;
  std::vector<char> input_is_tensor;
  std::vector<Device> input_devices;
  std::vector<OutputMeta> outputs;

 private:
  Tensor unpack(const Saved& s);
  Tensor check_grad(size_t i, py::handle g);

  PyRef backward_;
  std::string name_;
  bool materialize_;
  bool released_ = false;
};

Tensor PyFunctionNode::unpack(const Saved& s) {
  Tensor t = s.tensor.unpack(*this);
  if (!t || s.output_nr < 0 || !grad_enabled()) return t;
  Tensor alias = detach(t);
  AutogradMeta& m = alias->autograd_mut();
  m.grad_fn = shared_from_this();
  m.output_nr = static_cast<uint32_t>(s.output_nr);
  return alias;
}

Tensor PyFunctionNode::check_grad(size_t i, py::handle g) {
  if (g.is_none()) return Tensor();
  DL_CHECK(input_is_tensor[i], RuntimeError, "function ", name_, " returned a gradient different than None at "
           "position ", i + 1, ", but the corresponding forward input was not a Tensor");
  DL_CHECK(py::isinstance<TensorImpl>(g), TypeError, "function ", name_, " returned a ", type_name(g),
           " as the gradient at index ", i, "; expected a tensor or None");
  Tensor t = g.cast<Tensor>();
  if (!needs_input_grad(i)) return Tensor();
  DL_CHECK(t->device() == input_devices[i], RuntimeError, "Function ", name_, " returned an invalid gradient at "
           "index ", i, " - expected device ", input_devices[i].str(), " but got ", t->device().str());
  const InputMeta& meta = input_meta[i];
  if (t->shape() != meta.shape) {
    bool compatible = false;
    try {
      compatible = broadcast_shapes(meta.shape, t->shape(), name_.c_str()) == t->shape();
    } catch (const std::exception&) {
    }
    DL_CHECK(compatible, RuntimeError, "Function ", name_, " returned an invalid gradient at index ", i, " - got ",
             shape_str(t->shape()), " but expected shape compatible with ", shape_str(meta.shape));
    t = sum_to(t, meta.shape);
  }
  if (t->dtype() != meta.dtype) {
    DL_CHECK(is_floating(t->dtype()), RuntimeError, "Function ", name_, " returned an invalid gradient at index ",
             i, " - expected dtype ", dtype_name(meta.dtype), " but got ", dtype_name(t->dtype()));
    t = to_dtype(t, meta.dtype);
  }
  return t;
}

std::vector<Tensor> PyFunctionNode::apply(std::vector<Tensor>&& grads) {
  if (released_)
    throw RuntimeError(str_cat("Trying to backward through the graph a second time (or directly access saved "
                               "tensors after they have already been freed) at ", name_,
                               ". Specify retain_graph=True on the first backward call if you need to."));
  std::vector<Tensor> unpacked;
  for (const Saved& s : saved) unpacked.push_back(unpack(s));
  if (materialize_)
    for (size_t k = 0; k < grads.size() && k < outputs.size(); ++k)
      if (!grads[k] && outputs[k].tensor) grads[k] = zeros(outputs[k].shape, outputs[k].dtype, outputs[k].device);

  py::gil_scoped_acquire gil;
  py::object res = (*backward_)(*ctx, grads_tuple(grads), grads_tuple(unpacked));
  py::tuple out = py::reinterpret_borrow<py::tuple>(res);
  const size_t n = next_edges.size();
  size_t got = out.size();
  if (got > n) {
    bool extra_none = true;
    for (size_t i = n; i < got; ++i) extra_none = extra_none && out[i].is_none();
    if (extra_none) got = n;
  }
  DL_CHECK(got == n, RuntimeError, "function ", name_, " returned an incorrect number of gradients (expected ", n,
           ", got ", out.size(), ")");
  std::vector<Tensor> result(n);
  for (size_t i = 0; i < n; ++i) result[i] = check_grad(i, out[i]);
  return result;
}

// Records one Function call (Note [Python Function nodes]); returns the outputs, where an
// input returned as-is (and not marked dirty) is replaced by an alias that carries the node.
py::list record_function(const std::string& name, py::object ctx, py::object backward, py::sequence inputs,
                         py::sequence outputs, std::vector<bool> non_differentiable, std::vector<bool> dirty,
                         py::sequence to_save, bool materialize) {
  auto node = std::make_shared<PyFunctionNode>(name, hold(std::move(ctx)), hold(std::move(backward)), materialize);
  std::vector<Tensor> ins;
  std::unordered_set<const TensorImpl*> input_set;
  for (py::handle h : inputs) {
    bool is_tensor = py::isinstance<TensorImpl>(h);
    ins.push_back(is_tensor ? h.cast<Tensor>() : Tensor());
    node->input_is_tensor.push_back(is_tensor);
    node->input_devices.push_back(is_tensor ? ins.back()->device() : Device{});
    if (is_tensor) input_set.insert(ins.back().get());
  }
  const size_t n_out = outputs.size();
  DL_CHECK(non_differentiable.size() == n_out && dirty.size() == n_out, ValueError,
           "_function_record: expected one flag per output");
  std::vector<Tensor> orig(n_out), returned(n_out), history(n_out);
  std::vector<bool> differentiable(n_out, false);
  std::unordered_set<const TensorImpl*> seen;
  py::list result;
  for (size_t k = 0; k < n_out; ++k) {
    py::object o = outputs[k];
    if (!py::isinstance<TensorImpl>(o)) {
      node->outputs.push_back({});
      result.append(o);
      continue;
    }
    Tensor t = o.cast<Tensor>();
    orig[k] = t;
    if (dirty[k]) {
      check_inplace(t, name.c_str());
      returned[k] = t;
    } else if (input_set.count(t.get()) || seen.count(t.get()) || t->requires_grad()) {
      returned[k] = detach(t);
    } else {
      returned[k] = t;
    }
    seen.insert(t.get());
    differentiable[k] = !non_differentiable[k] && is_floating(t->dtype());
    if (differentiable[k] && !dirty[k]) history[k] = returned[k];
    node->outputs.push_back({true, t->shape(), t->dtype(), t->device()});
    result.append(py::cast(returned[k]));
  }
  set_history(node, ins, history);
  for (size_t k = 0; k < n_out; ++k)
    if (dirty[k] && differentiable[k]) rebase_history(returned[k], node, static_cast<uint32_t>(k));
  for (py::handle h : to_save) {
    PyFunctionNode::Saved s;
    if (!h.is_none()) {
      Tensor t = h.cast<Tensor>();
      size_t k = 0;
      while (k < n_out && orig[k] != t && returned[k] != t) ++k;
      if (k < n_out) {
        s.tensor = SavedTensor(returned[k], /*is_output=*/true);
        if (differentiable[k]) s.output_nr = static_cast<int64_t>(k);
      } else {
        s.tensor = SavedTensor(t, /*is_output=*/false);
      }
    }
    node->saved.push_back(std::move(s));
  }
  return result;
}

}  // namespace

void bind_autograd(py::module_& m) {
  py::class_<HookHandle>(m, "_HookHandle")
      .def("remove", &HookHandle::remove)
      .def_readonly("id", &HookHandle::id)
      .def("__enter__", [](const HookHandle& h) { return h; })
      .def("__exit__", [](const HookHandle& h, py::args) { h.remove(); });

  py::class_<Node, std::shared_ptr<Node>>(m, "Node")
      .def("name", &Node::name)
      .def("__repr__", [](const Node& n) { return "<" + n.name() + ">"; })
      .def_property_readonly("next_functions", [](const Node& n) {
        py::list out;
        for (const Edge& e : n.next_edges)
          out.append(py::make_tuple(e.fn ? py::cast(e.fn) : py::object(py::none()), e.input_nr));
        return py::tuple(out);
      })
      .def("register_prehook", [](const std::shared_ptr<Node>& n, py::function fn) {
        PyRef f = hold(std::move(fn));
        std::string name = n->name();
        return register_node_prehook(n, [f, name](std::vector<Tensor>& grad_outputs) {
          py::gil_scoped_acquire gil;
          replace_grads(grad_outputs, (*f)(grads_tuple(grad_outputs)), name.c_str());
        });
      }, py::arg("fn"), "Calls fn(grad_outputs) before the node runs; it may return replacements.")
      .def("register_hook", [](const std::shared_ptr<Node>& n, py::function fn) {
        PyRef f = hold(std::move(fn));
        std::string name = n->name();
        return register_node_posthook(n, [f, name](std::vector<Tensor>& grad_inputs,
                                                   const std::vector<Tensor>& grad_outputs) {
          py::gil_scoped_acquire gil;
          replace_grads(grad_inputs, (*f)(grads_tuple(grad_inputs), grads_tuple(grad_outputs)), name.c_str());
        });
      }, py::arg("fn"), "Calls fn(grad_inputs, grad_outputs) after the node ran; it may return replacements.");

  py::class_<PyFunctionNode, Node, std::shared_ptr<PyFunctionNode>>(m, "_FunctionBackward")
      .def("__getattr__", [](const PyFunctionNode& n, py::str attr) { return py::getattr(*n.ctx, attr); });

  TensorClass cls = tensor_class(m);
  cls.def("register_hook", [](const Tensor& t, py::function fn) { return register_tensor_hook(t, tensor_hook(fn)); },
          py::arg("hook"), "Calls hook(grad) when the gradient w.r.t. this tensor is computed; it may return a "
          "replacement.");
  cls.def("register_post_accumulate_grad_hook", [](const Tensor& t, py::function fn) {
    PyRef f = hold(std::move(fn));
    return register_post_accumulate_grad_hook(t, [f](const Tensor& leaf) {
      py::gil_scoped_acquire gil;
      py::object r = (*f)(leaf);
      DL_CHECK(r.is_none(), RuntimeError, "register_post_accumulate_grad_hook: the hook must return None, got ",
               type_name(r));
    });
  }, py::arg("hook"), "Calls hook(tensor) after the gradient was accumulated into this leaf's .grad.");

  m.def("is_grad_enabled", &grad_enabled);
  m.def("_set_grad_enabled", &set_grad_enabled, py::arg("mode"));

  set_anomaly_callbacks(&capture_python_stack, &warn_failed_node);
  m.def("_set_anomaly_enabled", &set_anomaly_enabled, py::arg("mode"), py::arg("check_nan") = true);
  m.def("_is_anomaly_enabled", &anomaly_enabled);
  m.def("_is_anomaly_check_nan_enabled", &anomaly_check_nan);

  m.def("_function_record", &record_function, py::arg("name"), py::arg("ctx"), py::arg("backward"),
        py::arg("inputs"), py::arg("outputs"), py::arg("non_differentiable"), py::arg("dirty"), py::arg("to_save"),
        py::arg("materialize"));

  m.def("_run_backward", [](const std::vector<Tensor>& roots, const std::vector<std::optional<Tensor>>& grads,
                            bool retain_graph, bool create_graph, const std::vector<Tensor>& inputs,
                            bool allow_unused) {
    std::vector<Tensor> seeds;
    for (size_t i = 0; i < roots.size(); ++i) {
      if (i < grads.size() && grads[i] && *grads[i]) {
        seeds.push_back(*grads[i]);
      } else {
        DL_CHECK(roots[i]->numel() == 1, RuntimeError, "grad can be implicitly created only for scalar outputs (got ",
                 roots[i]->describe(), "); pass gradient=");
        seeds.push_back(ones(roots[i]->shape(), roots[i]->dtype(), roots[i]->device()));
      }
    }
    py::gil_scoped_release release;
    return run_backward(roots, seeds, retain_graph, create_graph, inputs, allow_unused);
  }, py::arg("roots"), py::arg("grads"), py::arg("retain_graph"), py::arg("create_graph"), py::arg("inputs"),
     py::arg("allow_unused"));
}

}  // namespace dlcore
