// Recording: grad mode, gradient edges, saved tensors, history for out-of-place and
// in-place ops, and the two built-in nodes (FunctionNode, AccumulateGrad).
#include "dlcore/autograd.h"
#include "dlcore/ops.h"

namespace dlcore {

namespace {
thread_local bool t_grad_enabled = true;
}

bool grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool on) { t_grad_enabled = on; }

bool any_requires_grad(std::initializer_list<const Tensor*> ts) {
  if (!t_grad_enabled) return false;
  for (const Tensor* t : ts)
    if (t && *t && (*t)->requires_grad()) return true;
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& ts) {
  if (!t_grad_enabled) return false;
  for (const Tensor& t : ts)
    if (t && t->requires_grad()) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  AutogradMeta* m = t->autograd();
  if (!m) return {};
  if (m->grad_fn) return {m->grad_fn, m->output_nr};
  if (!m->requires_grad) return {};
  std::shared_ptr<Node> acc = m->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t);
    acc->input_meta.push_back({t->shape(), t->dtype()});
    m->grad_accumulator = acc;
  }
  return {acc, 0};
}

void set_history(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
                 const std::vector<Tensor>& outputs) {
  node->next_edges.reserve(inputs.size());
  node->input_meta.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    if (in && in->requires_grad()) {
      node->next_edges.push_back(gradient_edge(in));
      node->input_meta.push_back({in->shape(), in->dtype()});
    } else {
      node->next_edges.push_back({});
      node->input_meta.push_back({});
    }
  }
  node->num_outputs = static_cast<uint32_t>(outputs.size());
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (!outputs[k]) continue;
    AutogradMeta& m = outputs[k]->autograd_mut();
    m.grad_fn = node;
    m.output_nr = static_cast<uint32_t>(k);
  }
}

void check_inplace(const Tensor& t, const char* op) {
  if (!t_grad_enabled) return;
  if (t->is_leaf() && t->requires_grad())
    throw RuntimeError(str_cat(op, ": a leaf tensor that requires grad (", t->describe(),
                               ") is used in an in-place operation; wrap it in no_grad() or clone it first"));
  if (t->view_base)
    throw RuntimeError(str_cat(op, ": in-place write through a view (", t->describe(), " of ",
                               t->view_base->describe(), ") while recording gradients is not supported; "
                               "build the result out of place instead"));
}

void rebase_history(const Tensor& t, const std::shared_ptr<Node>& node) {
  AutogradMeta& m = t->autograd_mut();
  m.grad_fn = node;
  m.output_nr = 0;
  node->num_outputs = 1;
}

void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn fn) {
  if (!any_requires_grad(inputs)) return;
  auto node = std::make_shared<FunctionNode>(name, std::move(fn));
  set_history(node, inputs, outputs);
}

void retain_grad(const Tensor& t) {
  DL_CHECK(t->requires_grad(), RuntimeError, "retain_grad: can't retain_grad on a tensor that does not require grad");
  AutogradMeta& m = t->autograd_mut();
  if (!m.grad_fn || m.retains_grad) return;  // leaves keep .grad anyway
  m.retains_grad = true;
  m.grad_fn->retained.emplace_back(m.output_nr, t);
}

void set_requires_grad(const Tensor& t, bool on) {
  if (!t->is_leaf()) {
    DL_CHECK(on, RuntimeError,
             "requires_grad: you can only change requires_grad flags of leaf tensors; use detach() to get a "
             "tensor without history (", t->describe(), ")");
    return;
  }
  DL_CHECK(!on || is_floating(t->dtype()), RuntimeError,
           "requires_grad: only floating point tensors can require gradients, got ", t->describe());
  t->autograd_mut().requires_grad = on;
}

void check_no_double_backward(const Node& node) {
  if (grad_enabled())
    throw NotImplementedError(str_cat(node.name(), ": double backward (create_graph=True) is not supported"));
}

// ---- saved tensors ----------------------------------------------------------------------------
SavedTensor::SavedTensor(const Tensor& t, bool is_output) : version_(t ? t->version() : 0) {
  if (!t) return;
  if (is_output) {
    // A detached alias: same storage (and version counter), no grad_fn, so no cycle.
    tensor_ = std::make_shared<TensorImpl>(t->storage(), t->shape(), t->strides(), t->offset(), t->dtype());
  } else {
    tensor_ = t;
  }
}

Tensor SavedTensor::unpack(const Node& owner) const {
  if (!tensor_) return tensor_;
  if (tensor_->version() != version_)
    throw RuntimeError(str_cat("one of the tensors needed for gradient computation has been modified by an "
                               "in-place operation: ", tensor_->describe(), " is at version ",
                               tensor_->version(), "; expected version ", version_, " instead (saved by ",
                               owner.name(), ")"));
  return tensor_;
}

// ---- nodes ------------------------------------------------------------------------------------
std::vector<Tensor> FunctionNode::apply(std::vector<Tensor>&& grads) {
  if (!fn_)
    throw RuntimeError(str_cat("Trying to backward through the graph a second time (or directly access saved "
                               "tensors after they have already been freed) at ", name_,
                               ". Specify retain_graph=True on the first backward call if you need to."));
  return fn_(grads, *this);
}

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>&& grads) {
  Tensor& g = grads[0];
  if (!g) return {};
  AutogradMeta& m = variable->autograd_mut();
  if (!m.grad) {
    // Keep the incoming buffer when nobody else holds it; otherwise copy, so that the
    // leaf's .grad never aliases a user's tensor.
    if (grad_enabled()) {
      m.grad = g.use_count() == 1 && !g->requires_grad() ? g : clone(g);
    } else {
      m.grad = g.use_count() == 1 && g->is_contiguous() ? g : clone(g);
    }
  } else if (grad_enabled()) {
    m.grad = add(m.grad, g);  // create_graph: keep the sum differentiable
  } else {
    add_(m.grad, g);
  }
  return {};
}

}  // namespace dlcore
