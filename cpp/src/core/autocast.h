// Automatic mixed precision (PyTorch's CUDA autocast): a thread-local state and the casts the
// affected ops apply to their arguments on entry.
//
// Note [Autocast]
// Inside `dlcore.autocast("cuda", dtype)` each op of one of three lists, called with CUDA
// floating tensors, first casts its arguments and then runs as usual:
//   lower precision (to the region's dtype, bfloat16 or float16): matmul, mm, bmm, addmm,
//     linear, conv*, conv_transpose*, scaled_dot_product_attention, rnn_layer;
//   float32: softmax, log_softmax, layer_norm, group_norm, the losses (cross_entropy,
//     nll_loss, binary_cross_entropy(_with_logits); mse/l1/smooth_l1/huber/kl_div in Python),
//     exp, log, log1p, rsqrt, pow, softplus, sum, prod, cumsum, norm, logsumexp, interpolate;
//   batch_norm computes in float32 and returns the input's dtype (cuDNN's behaviour in
//     PyTorch; dlcore's CUDA norm kernels are float32/float64).
// Every other op runs in the widest type of its inputs (the ordinary type promotion of the
// elementwise ops and cat). Only CUDA tensors of float32/float16/bfloat16 are cast: float64,
// integer and CPU tensors pass through untouched. The op re-enters itself with the cast
// arguments and autocast suspended (Suspend), so the ops it calls internally are not cast
// again, and the autograd engine suspends autocast while it runs backward formulas.
// Casts are ordinary to_dtype calls, so gradients flow back through them and reach float32
// parameters as float32.
//
// Note [Autocast weight cache]
// With cache_enabled, the lower-precision copy of a float32 leaf that requires grad (a
// parameter) is kept until the outermost region exits (clear_cache), so a weight used
// several times in one forward is cast once. An entry is reused only while the parameter's
// storage, geometry and version are unchanged (an in-place update or `.data =` recasts it),
// only with grad mode on (a copy made under no_grad carries no history), and the engine
// clears the cache before a backward that frees the graph.
#pragma once

#include <optional>
#include <vector>

#include "dlcore/ops.h"

namespace dlcore {
namespace autocast {

// ---- the thread-local state (PyTorch's torch.{is,set}_autocast_* functions) ----------------
bool is_enabled(DeviceType device);
// Enabling the CPU raises: the CPU kernels do not compute in 16-bit floats.
void set_enabled(DeviceType device, bool on);
DType get_dtype(DeviceType device);    // float16 for CUDA, bfloat16 for the CPU by default
void set_dtype(DeviceType device, DType dtype);  // bfloat16 or float16
bool is_cache_enabled();
void set_cache_enabled(bool on);
int increment_nesting();  // returns the new depth
int decrement_nesting();
void clear_cache();

// ---- what the ops call ------------------------------------------------------------------------
// True when CUDA autocast is on in this thread (and not suspended by an enclosing op).
bool active();

// Turns CUDA autocast off for its lifetime (inside an op, and during backward).
class Suspend {
 public:
  Suspend();
  ~Suspend();
  Suspend(const Suspend&) = delete;
  Suspend& operator=(const Suspend&) = delete;

 private:
  bool prev_;
};

// t cast to the region's lower-precision dtype when it is a CUDA float32/16-bit tensor; else t.
Tensor lower(const Tensor& t);
OptTensor lower(const OptTensor& t);
// t cast to float32 when it is a CUDA float16/bfloat16 tensor; else t.
Tensor fp32(const Tensor& t);
OptTensor fp32(const OptTensor& t);
std::vector<Tensor> fp32(const std::vector<Tensor>& ts);
// Whether t is a CUDA float16/bfloat16 tensor.
bool is_reduced(const Tensor& t);

}  // namespace autocast
}  // namespace dlcore

// At the top of an op: when CUDA autocast is on, return `call` (the op itself with its
// arguments wrapped in autocast::lower / autocast::fp32) evaluated with autocast suspended.
#define DL_AUTOCAST(call)                              \
  do {                                                 \
    if (::dlcore::autocast::active()) {                \
      ::dlcore::autocast::Suspend dl_autocast_off_;    \
      return call;                                     \
    }                                                  \
  } while (0)
