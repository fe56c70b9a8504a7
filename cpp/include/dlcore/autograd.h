// Reverse-mode autograd: a define-by-run tape of Nodes, walked by an iterative engine.
//
// Note [Node inputs and outputs]
// A Node is the backward of one forward op. Its *outputs* in the forward sense are the
// tensors the op produced (their grads come in); `next_edges[i]` points at the producer of
// the op's i-th forward *input* (where the grads go out). `input_meta[i]` remembers that
// input's shape and dtype: the engine sums a broadcast gradient down to it (once, here,
// so no backward formula has to) and casts it to the input's dtype.
//
// Note [Saved tensors]
// A backward formula reads forward tensors through SavedTensor, which records the version
// counter at save time (Note [Version counter]) and refuses a tensor modified in place since.
// Outputs are saved as detached aliases so that out -> grad_fn -> saved(out) is no cycle.
//
// Note [Hooks]
// Hooks are type-erased callables (the bindings wrap Python functions in them). A tensor
// hook sees the gradient w.r.t. a tensor before anything else uses it and may replace it:
// for a non-leaf it lives on the tensor's grad_fn, keyed by output index, so it stays with
// the value it was registered on even if the tensor is later written in place; for a leaf it
// lives in a side table keyed by the tensor (weakly: the table itself keeps no tensor alive,
// though a hook whose closure holds its own tensor does) and runs before AccumulateGrad.
// Per node the engine runs, in order: tensor hooks, retain_grad, autograd.grad captures,
// pre-hooks (all grads), the node, post-hooks, and for a leaf the post-accumulate-grad
// hooks. Hook lists are copied on write, so a walk reads a snapshot.
//
// Note [Anomaly mode]
// When anomaly mode is on, every node recorded remembers the Python stack of the forward
// call that made it (captured through a callback the bindings install: the core does not
// know Python), and the engine checks each backward's outputs for NaN. When a node fails,
// the engine reports the node with its forward stack before the error propagates. With the
// mode off none of this runs: recording costs one relaxed atomic load.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "dlcore/tensor.h"

namespace dlcore {

struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;
  bool valid() const { return fn != nullptr; }
};

struct InputMeta {
  Shape shape;
  DType dtype = DType::Float32;
};

// Note [Freeing deep graphs]
// A graph of n chained ops is a chain of n Nodes, each owning the next through its edges and
// its saved tensors. Freeing the head would recurse n destructors deep and overflow the stack
// for long chains, so a Node hands what it owns to a per-thread queue instead
// (release_deferred), and the outermost release empties the queue in a loop.
void release_deferred(std::shared_ptr<void> owned);

// Note [Hooks]. A tensor hook returns a replacement gradient, or null to keep it. A pre-hook
// gets the gradients w.r.t. the node's outputs and a post-hook also the gradients it
// returned; both may replace entries in place.
using TensorHook = std::function<Tensor(const Tensor& grad)>;
using NodePreHook = std::function<void(std::vector<Tensor>& grad_outputs)>;
using NodePostHook = std::function<void(std::vector<Tensor>& grad_inputs, const std::vector<Tensor>& grad_outputs)>;
using PostAccumulateHook = std::function<void(const Tensor& leaf)>;

struct NodeHooks {
  std::vector<std::tuple<uint32_t, int64_t, TensorHook>> tensor;  // (output index, id, hook)
  std::vector<std::pair<int64_t, NodePreHook>> pre;
  std::vector<std::pair<int64_t, NodePostHook>> post;
};

struct Node : std::enable_shared_from_this<Node> {
  virtual ~Node();
  // grads[k] is the gradient w.r.t. forward output k (null when no gradient reached it).
  // Returns one gradient per forward input (null where none is needed).
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grads) = 0;
  virtual std::string name() const = 0;
  virtual void release_saved() {}
  virtual bool is_accumulate_grad() const { return false; }

  std::vector<Edge> next_edges;
  std::vector<InputMeta> input_meta;
  uint32_t num_outputs = 1;
  // Tensors that asked for retain_grad(): (output index, tensor).
  std::vector<std::pair<uint32_t, std::weak_ptr<TensorImpl>>> retained;
  // Whether input i needs a gradient (its edge is valid).
  bool needs_input_grad(size_t i) const { return i < next_edges.size() && next_edges[i].valid(); }
  // Note [Hooks]: null until a hook is registered; replaced, never modified, under `mutex`.
  std::shared_ptr<const NodeHooks> hooks;
  std::shared_ptr<const NodeHooks> hooks_snapshot();
  // Note [Anomaly mode]: the forward Python stack, recorded only in anomaly mode.
  std::shared_ptr<const std::string> forward_trace;
  // Note [Concurrent backward]: several threads may run backward over one retained graph
  // (the GIL is released during the walk). Each walk has its own buffers; what they share is
  // the .grad of leaves and of retain_grad() tensors, updated under the owning node's mutex.
  std::mutex mutex;
};

class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, bool is_output);
  Tensor unpack(const Node& owner) const;  // throws if modified in place since saved
  bool defined() const { return tensor_ != nullptr; }
  void reset() { tensor_.reset(); }

 private:
  Tensor tensor_;
  int64_t version_ = 0;
};

// The common node: a name, the saved state captured in a closure, and a formula.
// Once the graph is freed (backward without retain_graph) the closure is dropped and a
// second backward through it raises.
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grads, const Node& self)>;

struct FunctionNode : Node {
  FunctionNode(std::string name, BackwardFn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  ~FunctionNode() override { release_saved(); }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  std::string name() const override { return name_; }
  void release_saved() override;

 private:
  std::string name_;
  BackwardFn fn_;
};

struct AccumulateGrad : Node {
  explicit AccumulateGrad(Tensor var) : variable(std::move(var)) {}
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  std::string name() const override { return "AccumulateGrad"; }
  bool is_accumulate_grad() const override { return true; }
  Tensor variable;
};

// ---- grad mode -------------------------------------------------------------------------------
bool grad_enabled();
void set_grad_enabled(bool on);
struct GradModeGuard {
  explicit GradModeGuard(bool on) : prev_(grad_enabled()) { set_grad_enabled(on); }
  ~GradModeGuard() { set_grad_enabled(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};

// ---- recording -------------------------------------------------------------------------------
// True when grad mode is on and any of the tensors requires grad.
bool any_requires_grad(std::initializer_list<const Tensor*> ts);
bool any_requires_grad(const std::vector<Tensor>& ts);
Edge gradient_edge(const Tensor& t);  // (grad_fn, output_nr) or the leaf's AccumulateGrad
// Connects `node` to the given forward inputs (null tensors or ones that need no grad get an
// invalid edge) and makes it the grad_fn of every output.
void set_history(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
                 const std::vector<Tensor>& outputs);
// Whether an in-place write to `target` reading `others` is recorded: grad mode is on and the
// target, its base (for a view) or another operand requires grad.
bool inplace_records(const Tensor& target, std::initializer_list<const Tensor*> others);
// For in-place ops: `t` keeps its identity but its history becomes `node` (output 0); through
// a view, the base's history takes the write (Note [Views and in-place writes]).
// `output_nr` is the output of `node` that `t` becomes (only 0 through a view).
void rebase_history(const Tensor& t, const std::shared_ptr<Node>& node, uint32_t output_nr = 0);
// Raises if `t` may not be written in place under autograd: a leaf that requires grad, a view
// of one, or a view made under no_grad (Note [Views and in-place writes]).
void check_inplace(const Tensor& t, const char* op);

// Records `fn` as the backward of an op with the given inputs and outputs, when needed.
// The formula gets grads per output and returns grads per input.
void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn fn);

// Records a backward that gives every input zeros of its own shape: for outputs that do not
// depend on the inputs' values (an op over zero-size operands, Note [Empty convolutions]).
void record_zero_grads(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs);

// For backward formulas that run a dedicated kernel whose result carries no history: under
// create_graph (grad mode on during backward) that would be a silently wrong second
// derivative, so it raises instead.
void check_no_double_backward(const Node& node);

// ---- engine ----------------------------------------------------------------------------------
// Backward from `roots` seeded with `grad_roots` (one per root). If `inputs` is non-empty,
// returns the gradients that reach them instead of accumulating into leaves' .grad.
std::vector<Tensor> run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots,
                                 bool retain_graph, bool create_graph, const std::vector<Tensor>& inputs,
                                 bool allow_unused);

void retain_grad(const Tensor& t);
void set_requires_grad(const Tensor& t, bool on);

// ---- hooks (Note [Hooks]) -----------------------------------------------------------------
// Removes the hook it names, if its tensor or node is still alive; removing twice is a no-op.
struct HookHandle {
  std::weak_ptr<Node> node;
  std::weak_ptr<TensorImpl> leaf;
  int64_t id = 0;
  void remove() const;
};
HookHandle register_tensor_hook(const Tensor& t, TensorHook hook);
HookHandle register_post_accumulate_grad_hook(const Tensor& t, PostAccumulateHook hook);
HookHandle register_node_prehook(const std::shared_ptr<Node>& node, NodePreHook hook);
HookHandle register_node_posthook(const std::shared_ptr<Node>& node, NodePostHook hook);
// The hooks of a leaf (null when none): tensor hooks and post-accumulate-grad hooks.
struct LeafHooks {
  std::weak_ptr<TensorImpl> owner;
  std::vector<std::pair<int64_t, TensorHook>> tensor;
  std::vector<std::pair<int64_t, PostAccumulateHook>> post_accumulate;
};
std::shared_ptr<const LeafHooks> leaf_hooks(const Tensor& t);

// ---- anomaly mode (Note [Anomaly mode]) ----------------------------------------------------
bool anomaly_enabled();
bool anomaly_check_nan();
void set_anomaly_enabled(bool on, bool check_nan = true);
// Installed by the bindings: the current Python stack as text, and the report of a node that
// failed in backward (its name and forward stack).
using TraceCapture = std::string (*)();
using AnomalyReport = void (*)(const Node& failed);
void set_anomaly_callbacks(TraceCapture capture, AnomalyReport report);
// Records the forward stack on `node` when anomaly mode is on (no-op otherwise).
void note_forward_trace(Node& node);
// Hands a node that failed in backward to the report callback (anomaly mode).
void report_anomaly(const Node& failed);

}  // namespace dlcore
