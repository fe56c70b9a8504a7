// Recording: grad mode, gradient edges, saved tensors, history for out-of-place and
// in-place ops, and the two built-in nodes (FunctionNode, AccumulateGrad).
#include "dlcore/autograd.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>

#include "dlcore/ops.h"
#include "dlcore/overlap.h"

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
  if (t->view_history_stale()) refresh_view_history(*t);
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
  note_forward_trace(*node);
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (!outputs[k]) continue;
    AutogradMeta& m = outputs[k]->autograd_mut();
    m.grad_fn = node;
    m.output_nr = static_cast<uint32_t>(k);
  }
}

// Note [Views and in-place writes]
// A view and its base share memory, so an in-place write through either changes both, and
// autograd must see it on both (PyTorch's semantics):
//   - Writing through a view v of base b (v.mul_(2), v.copy_(w), v[0] = w): the write's own
//     node N (inputs: v's old value, the other operands) is wrapped in a CopySlices node that
//     becomes b's history. Its backward takes the gradient of b's new value, hands the region
//     v covers to N, writes N's gradient for v's old value back into that region and passes
//     the result on to b's old history; N's gradients for the other operands go to them.
//   - Any differentiable view of b whose storage was written since its history was made
//     (the write went through b itself or through another view) derives its history again as
//     an AsStridedBackward of b's newest history (refresh_view_history). So after
//     `v = a[:2]; a.mul_(2)`, v differentiates through the mul.
// The region is described by the view's geometry within the storage (shape, strides, offset),
// so the gradient is laid out in a buffer shaped like the storage range the base covers.
// Writes stay refused through a view of a leaf that requires grad, and through a view made
// under no_grad (it has no history to rewrite), as in PyTorch.
namespace {

struct Geometry {
  Shape shape, strides;
  int64_t offset = 0;
  explicit Geometry(const TensorImpl& t) : shape(t.shape()), strides(t.strides()), offset(t.offset()) {}
  std::pair<int64_t, int64_t> range() const { return element_range(shape, strides, offset, "view"); }
  bool empty() const { return shape_numel(shape) == 0; }
};

// A zero buffer covering the storage range of `base` and `view`; `lo` receives its first offset.
Tensor region_buffer(const Geometry& base, const Geometry& view, const Tensor& like, int64_t& lo) {
  auto [blo, bhi] = base.range();
  lo = blo;
  int64_t hi = bhi;
  if (!view.empty()) {
    auto [vlo, vhi] = view.range();
    lo = std::min(lo, vlo);
    hi = std::max(hi, vhi);
  }
  return zeros({hi - lo + 1}, like->dtype(), like->device());
}

Tensor place(const Tensor& buffer, const Geometry& g, int64_t lo) {
  return make_view(buffer, g.shape, g.strides, g.offset - lo);
}

// The gradient of a view's value w.r.t. its base's: g in the view's region, 0 elsewhere (summed
// where the view repeats a location, as an expanded view does).
Tensor as_strided_backward(const Tensor& g, const Geometry& base, const Geometry& view) {
  if (base.empty()) return zeros(base.shape, g->dtype(), g->device());
  GradModeGuard no_grad(false);
  int64_t lo = 0;
  Tensor buffer = region_buffer(base, view, g, lo);
  if (!view.empty()) {
    Tensor region = place(buffer, view, lo);
    if (is_non_overlapping(region)) {
      copy_(region, g);
    } else {
      Tensor offsets = place(arange(0, static_cast<double>(buffer->numel()), 1, DType::Int64, g->device()), view, lo);
      index_put_(buffer, {contiguous(offsets)}, g, /*accumulate=*/true);
    }
  }
  return clone(place(buffer, base, lo));
}

struct CopySlices : Node {
  CopySlices(const Tensor& base, const Tensor& view, std::shared_ptr<Node> fn)
      : base_geom(*base), view_geom(*view), fn(std::move(fn)) {}
  std::string name() const override { return "CopySlices"; }
  void release_saved() override { fn->release_saved(); }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    check_no_double_backward(*this);
    const Tensor& g = grads[0];
    int64_t lo = 0;
    Tensor buffer = region_buffer(base_geom, view_geom, g, lo);
    Tensor base_region = place(buffer, base_geom, lo);
    copy_(base_region, g);
    Tensor region = place(buffer, view_geom, lo);
    std::vector<Tensor> res = fn->apply({clone(region)});
    if (!res.empty() && res[0]) {
      Tensor r = res[0];
      if (r->shape() != region->shape()) r = sum_to(r, region->shape());
      copy_(region, r);
    } else {
      fill_(region, 0.0);
    }
    std::vector<Tensor> out(next_edges.size());
    out[0] = clone(base_region);
    for (size_t i = 1; i < out.size() && i < res.size(); ++i) out[i] = res[i];
    return out;
  }
  Geometry base_geom, view_geom;
  std::shared_ptr<Node> fn;
};

}  // namespace

void refresh_view_history(TensorImpl& view) {
  view.view_version = view.version();
  const Tensor& base = view.view_base;
  if (!base || !base->requires_grad()) return;
  GradModeGuard grad_mode(true);
  const Geometry base_geom(*base), view_geom(view);
  auto node = std::make_shared<FunctionNode>(
      "AsStridedBackward", [base_geom, view_geom](const std::vector<Tensor>& g, const Node& n) {
        check_no_double_backward(n);
        return std::vector<Tensor>{as_strided_backward(g[0], base_geom, view_geom)};
      });
  node->next_edges = {gradient_edge(base)};
  node->input_meta = {InputMeta{base->shape(), base->dtype()}};
  AutogradMeta& m = view.autograd_mut();
  m.grad_fn = node;
  m.output_nr = 0;
}

bool inplace_records(const Tensor& target, std::initializer_list<const Tensor*> others) {
  if (!t_grad_enabled) return false;
  if (target->requires_grad() || (target->view_base && target->view_base->requires_grad())) return true;
  return any_requires_grad(others);
}

void check_inplace(const Tensor& t, const char* op) {
  if (!t_grad_enabled) return;
  if (t->is_leaf() && t->requires_grad() && !t->view_base)
    throw RuntimeError(str_cat(op, ": a leaf tensor that requires grad (", t->describe(),
                               ") is used in an in-place operation; wrap it in no_grad() or clone it first"));
  if (!t->view_base) return;
  const Tensor& base = t->view_base;
  if (base->is_leaf() && base->requires_grad())
    throw RuntimeError(str_cat(op, ": a view (", t->describe(), ") of a leaf tensor that requires grad (",
                               base->describe(), ") is used in an in-place operation; wrap it in no_grad() "
                               "or write to a clone"));
  if (!t->differentiable_view)
    throw RuntimeError(str_cat(op, ": a view (", t->describe(), ") made in no_grad mode is modified in place "
                               "while recording gradients; make the view with grad mode on, or write under "
                               "no_grad()"));
}

void rebase_history(const Tensor& t, const std::shared_ptr<Node>& node, uint32_t output_nr) {
  node->num_outputs = std::max(node->num_outputs, output_nr + 1);
  if (!node->forward_trace) note_forward_trace(*node);
  if (t->view_base && t->differentiable_view) {
    DL_CHECK(node->num_outputs == 1, NotImplementedError, node->name(), ": an in-place write through a view (",
             t->describe(), ") by a node with ", node->num_outputs, " outputs is not supported");
    // Note [Views and in-place writes]: the base takes the write as a CopySlices.
    const Tensor& base = t->view_base;
    auto copy_slices = std::make_shared<CopySlices>(base, t, node);
    copy_slices->next_edges.push_back(gradient_edge(base));
    copy_slices->input_meta.push_back({base->shape(), base->dtype()});
    for (size_t i = 1; i < node->next_edges.size(); ++i) {
      copy_slices->next_edges.push_back(node->next_edges[i]);
      copy_slices->input_meta.push_back(node->input_meta[i]);
    }
    AutogradMeta& bm = base->autograd_mut();
    bm.grad_fn = copy_slices;
    bm.output_nr = 0;
    refresh_view_history(*t);
    return;
  }
  AutogradMeta& m = t->autograd_mut();
  m.grad_fn = node;
  m.output_nr = output_nr;
}

void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn fn) {
  if (!any_requires_grad(inputs)) return;
  auto node = std::make_shared<FunctionNode>(name, std::move(fn));
  set_history(node, inputs, outputs);
}

void record_zero_grads(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) {
  std::vector<Device> devices;
  for (const Tensor& t : inputs) devices.push_back(t ? t->device() : Device{});
  record(name, inputs, outputs, [devices](const std::vector<Tensor>&, const Node& n) {
    std::vector<Tensor> out(n.input_meta.size());
    for (size_t i = 0; i < out.size(); ++i)
      if (n.needs_input_grad(i)) out[i] = zeros(n.input_meta[i].shape, n.input_meta[i].dtype, devices[i]);
    return out;
  });
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

// ---- hooks (Note [Hooks]) ------------------------------------------------------------------
namespace {
std::atomic<int64_t> g_next_hook_id{1};

// Leaf hooks by tensor address; `owner` tells a live entry from one whose tensor is gone (and
// whose address may be reused). Dead entries are dropped whenever the table is written.
std::mutex g_leaf_mutex;
std::unordered_map<const TensorImpl*, std::shared_ptr<const LeafHooks>> g_leaf_hooks;
std::atomic<size_t> g_leaf_entries{0};  // lets a backward without leaf hooks skip the lock

template <typename Edit>
void edit_leaf_hooks(const Tensor& t, Edit edit) {
  std::vector<std::shared_ptr<const LeafHooks>> dead;  // freed after unlocking
  std::lock_guard<std::mutex> lock(g_leaf_mutex);
  for (auto it = g_leaf_hooks.begin(); it != g_leaf_hooks.end();) {
    if (it->second->owner.expired()) {
      dead.push_back(std::move(it->second));
      it = g_leaf_hooks.erase(it);
    } else {
      ++it;
    }
  }
  auto it = g_leaf_hooks.find(t.get());
  auto next = it == g_leaf_hooks.end() ? std::make_shared<LeafHooks>() : std::make_shared<LeafHooks>(*it->second);
  next->owner = t;
  edit(*next);
  if (it != g_leaf_hooks.end()) dead.push_back(std::move(it->second));
  if (next->tensor.empty() && next->post_accumulate.empty()) {
    g_leaf_hooks.erase(t.get());
  } else {
    g_leaf_hooks[t.get()] = std::move(next);
  }
  g_leaf_entries.store(g_leaf_hooks.size());
}

template <typename Edit>
void edit_node_hooks(Node& node, Edit edit) {
  std::shared_ptr<const NodeHooks> old;  // freed after unlocking
  std::lock_guard<std::mutex> lock(node.mutex);
  auto next = node.hooks ? std::make_shared<NodeHooks>(*node.hooks) : std::make_shared<NodeHooks>();
  edit(*next);
  old = std::move(node.hooks);
  node.hooks = std::move(next);
}

template <typename V>
void erase_id(V& v, int64_t id) {
  v.erase(std::remove_if(v.begin(), v.end(), [id](const auto& e) { return std::get<int64_t>(e) == id; }), v.end());
}

template <typename V>
void erase_id_pair(V& v, int64_t id) {
  v.erase(std::remove_if(v.begin(), v.end(), [id](const auto& e) { return e.first == id; }), v.end());
}
}  // namespace

std::shared_ptr<const NodeHooks> Node::hooks_snapshot() {
  std::lock_guard<std::mutex> lock(mutex);
  return hooks;
}

std::shared_ptr<const LeafHooks> leaf_hooks(const Tensor& t) {
  if (g_leaf_entries.load(std::memory_order_relaxed) == 0) return nullptr;
  std::lock_guard<std::mutex> lock(g_leaf_mutex);
  auto it = g_leaf_hooks.find(t.get());
  if (it == g_leaf_hooks.end() || it->second->owner.lock() != t) return nullptr;
  return it->second;
}

void HookHandle::remove() const {
  if (auto n = node.lock()) {
    edit_node_hooks(*n, [this](NodeHooks& h) {
      erase_id(h.tensor, id);
      erase_id_pair(h.pre, id);
      erase_id_pair(h.post, id);
    });
  } else if (auto t = leaf.lock()) {
    edit_leaf_hooks(t, [this](LeafHooks& h) {
      erase_id_pair(h.tensor, id);
      erase_id_pair(h.post_accumulate, id);
    });
  }
}

HookHandle register_tensor_hook(const Tensor& t, TensorHook hook) {
  DL_CHECK(t->requires_grad(), RuntimeError, "register_hook: cannot register a hook on a tensor that doesn't "
           "require gradient (", t->describe(), ")");
  HookHandle h;
  h.id = g_next_hook_id++;
  Edge e = gradient_edge(t);  // refreshes a stale view's history first
  if (!e.fn->is_accumulate_grad()) {
    edit_node_hooks(*e.fn, [&](NodeHooks& hs) { hs.tensor.emplace_back(e.input_nr, h.id, std::move(hook)); });
    h.node = e.fn;
  } else {
    edit_leaf_hooks(t, [&](LeafHooks& hs) { hs.tensor.emplace_back(h.id, std::move(hook)); });
    h.leaf = t;
  }
  return h;
}

HookHandle register_post_accumulate_grad_hook(const Tensor& t, PostAccumulateHook hook) {
  DL_CHECK(t->requires_grad(), RuntimeError, "register_post_accumulate_grad_hook: cannot register a hook on a "
           "tensor that doesn't require gradient (", t->describe(), ")");
  DL_CHECK(t->is_leaf(), RuntimeError, "register_post_accumulate_grad_hook: post accumulate grad hooks cannot be "
           "registered on non-leaf tensors (", t->describe(), ")");
  HookHandle h;
  h.id = g_next_hook_id++;
  edit_leaf_hooks(t, [&](LeafHooks& hs) { hs.post_accumulate.emplace_back(h.id, std::move(hook)); });
  h.leaf = t;
  return h;
}

HookHandle register_node_prehook(const std::shared_ptr<Node>& node, NodePreHook hook) {
  HookHandle h;
  h.id = g_next_hook_id++;
  edit_node_hooks(*node, [&](NodeHooks& hs) { hs.pre.emplace_back(h.id, std::move(hook)); });
  h.node = node;
  return h;
}

HookHandle register_node_posthook(const std::shared_ptr<Node>& node, NodePostHook hook) {
  HookHandle h;
  h.id = g_next_hook_id++;
  edit_node_hooks(*node, [&](NodeHooks& hs) { hs.post.emplace_back(h.id, std::move(hook)); });
  h.node = node;
  return h;
}

// ---- anomaly mode (Note [Anomaly mode]) -----------------------------------------------------
namespace {
std::atomic<bool> g_anomaly{false};
std::atomic<bool> g_anomaly_nan{true};
std::atomic<TraceCapture> g_trace_capture{nullptr};
std::atomic<AnomalyReport> g_anomaly_report{nullptr};
}  // namespace

bool anomaly_enabled() { return g_anomaly.load(std::memory_order_relaxed); }
bool anomaly_check_nan() { return g_anomaly_nan.load(std::memory_order_relaxed); }
void set_anomaly_enabled(bool on, bool check_nan) {
  g_anomaly_nan.store(check_nan);
  g_anomaly.store(on);
}

void set_anomaly_callbacks(TraceCapture capture, AnomalyReport report) {
  g_trace_capture.store(capture);
  g_anomaly_report.store(report);
}

void note_forward_trace(Node& node) {
  if (!anomaly_enabled()) return;
  if (TraceCapture capture = g_trace_capture.load())
    node.forward_trace = std::make_shared<const std::string>(capture());
}

void report_anomaly(const Node& node) {
  if (AnomalyReport report = g_anomaly_report.load()) report(node);
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
namespace {
thread_local bool t_release_queue_gone = false;  // trivial: readable during thread exit
struct ReleaseQueue {
  std::vector<std::shared_ptr<void>> items;
  bool draining = false;
  ~ReleaseQueue() { t_release_queue_gone = true; }
};
thread_local ReleaseQueue t_release;
}  // namespace

// Note [Freeing deep graphs]
void release_deferred(std::shared_ptr<void> owned) {
  if (!owned || t_release_queue_gone) return;  // thread exit: freed right here
  ReleaseQueue& q = t_release;
  q.items.push_back(std::move(owned));
  if (q.draining) return;  // an outer call is emptying the queue
  q.draining = true;
  while (!q.items.empty()) {
    std::shared_ptr<void> last = std::move(q.items.back());
    q.items.pop_back();
    last.reset();  // may queue more
  }
  q.draining = false;
}

Node::~Node() {
  for (Edge& e : next_edges)
    if (e.fn && e.fn.use_count() == 1) release_deferred(std::move(e.fn));
}

void FunctionNode::release_saved() {
  if (fn_) release_deferred(std::make_shared<BackwardFn>(std::move(fn_)));
  fn_ = nullptr;
}

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
  std::lock_guard<std::mutex> lock(mutex);  // Note [Concurrent backward]
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
