// The backward walk.
//
// 1. Collect the graph reachable from the roots with an explicit stack (no recursion, so a
//    chain of any length is fine) and count, per node, how many edges lead into it.
// 2. Kahn's algorithm: a node runs once every edge into it has delivered its gradient.
//    Gradients for the same (node, output) are summed in that node's input buffer.
// 3. After a node runs, its gradients are reduced to each input's shape and dtype (Note
//    [Node inputs and outputs]) and passed on; its buffer is dropped at once, and without
//    retain_graph its saved tensors too, so intermediates are freed as the walk goes.
#include <unordered_map>
#include <unordered_set>

#include "core/autocast.h"
#include "dlcore/autograd.h"
#include "dlcore/ops.h"

namespace dlcore {
namespace {

// Brings an incoming gradient to the shape and dtype of the forward input it belongs to.
Tensor conform(Tensor g, const InputMeta& meta) {
  if (g->shape() != meta.shape) {
    DL_CHECK(shape_numel(meta.shape) == g->numel() || g->dim() >= static_cast<int64_t>(meta.shape.size()),
             RuntimeError, "autograd: gradient of shape ", shape_str(g->shape()),
             " does not broadcast back to input shape ", shape_str(meta.shape));
    g = g->dim() >= static_cast<int64_t>(meta.shape.size()) ? sum_to(g, meta.shape) : reshape(g, meta.shape);
  }
  if (g->dtype() != meta.dtype) g = to_dtype(g, meta.dtype);
  return g;
}

void accumulate(Tensor& slot, Tensor g) {
  if (!slot) {
    slot = std::move(g);
  } else if (grad_enabled()) {
    slot = add(slot, g);
  } else if (slot.use_count() == 1 && slot->is_contiguous() && !slot->view_base) {
    add_(slot, g);
  } else {
    slot = add(slot, g);
  }
}

// Note [Hooks]: a hook's replacement must keep the gradient's shape.
Tensor hooked(const Tensor& g, const TensorHook& hook) {
  Tensor r = hook(g);
  if (!r) return g;
  DL_CHECK(r->shape() == g->shape(), RuntimeError, "hook: a tensor hook changed the gradient's shape from ",
           shape_str(g->shape()), " to ", shape_str(r->shape()));
  return r;
}

void run_tensor_hooks(const NodeHooks& hooks, std::vector<Tensor>& grads) {
  for (const auto& [k, id, hook] : hooks.tensor)
    if (k < grads.size() && grads[k]) grads[k] = hooked(grads[k], hook);
}

void run_leaf_hooks(const LeafHooks& hooks, std::vector<Tensor>& grads) {
  for (const auto& [id, hook] : hooks.tensor)
    if (grads[0]) grads[0] = hooked(grads[0], hook);
}

// Note [Anomaly mode]
void check_nan(const Node& node, const std::vector<Tensor>& grads) {
  GradModeGuard no_grad(false);
  for (size_t i = 0; i < grads.size(); ++i) {
    const Tensor& g = grads[i];
    if (!g || !is_floating(g->dtype()) || g->numel() == 0) continue;
    DL_CHECK(item_as_double(any(ne(g, g))) == 0, RuntimeError, "Function '", node.name(),
             "' returned nan values in its ", i, "th output.");
  }
}

struct GraphRoot : Node {
  std::vector<Tensor> grads;
  std::vector<Tensor> apply(std::vector<Tensor>&&) override { return std::move(grads); }
  std::string name() const override { return "GraphRoot"; }
};

}  // namespace

std::vector<Tensor> run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots,
                                 bool retain_graph, bool create_graph, const std::vector<Tensor>& inputs,
                                 bool allow_unused) {
  DL_CHECK(roots.size() == grad_roots.size(), ValueError, "backward: got ", roots.size(), " outputs but ",
           grad_roots.size(), " gradients");
  auto root = std::make_shared<GraphRoot>();
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    DL_CHECK(r->requires_grad(), RuntimeError,
             "element ", i, " of tensors does not require grad and does not have a grad_fn");
    const Tensor& g = grad_roots[i];
    DL_CHECK(g->shape() == r->shape(), ValueError, "backward: gradient has shape ", shape_str(g->shape()),
             " but the output has shape ", shape_str(r->shape()));
    root->next_edges.push_back(gradient_edge(r));
    root->input_meta.push_back({r->shape(), r->dtype()});
    root->grads.push_back(g->dtype() == r->dtype() ? g : to_dtype(g, r->dtype()));
  }

  // Where autograd.grad() wants its results: (node, output index) -> position in `inputs`.
  const bool capture_mode = !inputs.empty();
  std::unordered_map<Node*, std::vector<std::pair<uint32_t, size_t>>> captures;
  std::vector<Tensor> captured(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    DL_CHECK(inputs[i]->requires_grad(), RuntimeError, "grad: input ", i, " (", inputs[i]->describe(),
             ") does not require grad");
    Edge e = gradient_edge(inputs[i]);
    captures[e.fn.get()].emplace_back(e.input_nr, i);
  }

  // 1. dependencies
  std::unordered_map<Node*, int> deps;
  {
    std::vector<Node*> stack{root.get()};
    std::unordered_set<Node*> seen{root.get()};
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      for (const Edge& e : n->next_edges) {
        if (!e.fn) continue;
        ++deps[e.fn.get()];
        if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
      }
    }
  }

  // 2./3. the walk. Backward formulas run without autocast (Note [Autocast]).
  GradModeGuard mode(create_graph);
  autocast::Suspend no_autocast;
  if (!retain_graph) autocast::clear_cache();
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  std::vector<std::shared_ptr<Node>> ready{root};
  while (!ready.empty()) {
    std::shared_ptr<Node> node = std::move(ready.back());
    ready.pop_back();
    std::vector<Tensor> in;
    if (node != root) {
      auto it = buffers.find(node.get());
      in = std::move(it->second);
      buffers.erase(it);
      in.resize(node->num_outputs);
    }
    std::shared_ptr<const NodeHooks> hooks = node->hooks_snapshot();
    std::shared_ptr<const LeafHooks> leaf;
    if (node->is_accumulate_grad()) leaf = leaf_hooks(static_cast<AccumulateGrad&>(*node).variable);
    if (hooks) run_tensor_hooks(*hooks, in);
    if (leaf) run_leaf_hooks(*leaf, in);
    for (auto& [k, weak] : node->retained) {
      Tensor t = weak.lock();
      if (t && in[k]) {
        std::lock_guard<std::mutex> lock(node->mutex);  // Note [Concurrent backward]
        AutogradMeta& m = t->autograd_mut();
        m.grad = m.grad ? add(m.grad, in[k]) : clone(in[k]);
      }
    }
    if (capture_mode) {
      auto c = captures.find(node.get());
      if (c != captures.end())
        for (auto& [k, pos] : c->second)
          if (k < in.size() && in[k]) accumulate(captured[pos], in[k]);
      if (node->is_accumulate_grad()) continue;  // grad() leaves .grad alone
    }
    bool any = false;
    for (const Tensor& g : in) any = any || g;
    std::vector<Tensor> out;
    if (any || node == root) {
      if (hooks)
        for (const auto& [id, hook] : hooks->pre) hook(in);
      std::vector<Tensor> grad_outputs;
      if (hooks && !hooks->post.empty()) grad_outputs = in;
      if (anomaly_enabled()) {
        try {
          out = node->apply(std::move(in));
          if (anomaly_check_nan()) check_nan(*node, out);
        } catch (...) {
          report_anomaly(*node);
          throw;
        }
      } else {
        out = node->apply(std::move(in));
      }
      if (hooks)
        for (const auto& [id, hook] : hooks->post) hook(out, grad_outputs);
      if (leaf)
        for (const auto& [id, hook] : leaf->post_accumulate) hook(static_cast<AccumulateGrad&>(*node).variable);
    }
    if (!retain_graph) node->release_saved();
    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.fn) continue;
      Node* next = e.fn.get();
      if (i < out.size() && out[i]) {
        auto& buf = buffers[next];
        if (buf.size() < next->num_outputs) buf.resize(next->num_outputs);
        accumulate(buf[e.input_nr], conform(std::move(out[i]), node->input_meta[i]));
      } else {
        buffers.try_emplace(next, std::vector<Tensor>(next->num_outputs));
      }
      if (--deps[next] == 0) ready.push_back(e.fn);
    }
  }

  if (capture_mode) {
    for (size_t i = 0; i < captured.size(); ++i)
      DL_CHECK(captured[i] || allow_unused, RuntimeError, "grad: input ", i, " (", inputs[i]->describe(),
               ") was not used in the graph; pass allow_unused=True if this is intended");
  }
  return captured;
}

}  // namespace dlcore
