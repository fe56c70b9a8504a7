// Scaled dot-product attention: the op and its kernel slots (cpu/attention.cpp).
//
// Note [Attention layout]
// q: (batch..., L, E), k: (batch..., S, E), v: (batch..., S, Ev), out: (batch..., L, Ev), with
// the batch dims of q, k and v broadcast to one batch shape whose entries are numbered
// bh = 0 .. B-1 (row-major). Every operand is a pointer plus, per batch dim, a stride
// (0 where broadcast), a row stride and a column stride, all in elements. q, k, v, out and
// the gradients have column stride 1 (the op copies other views); the mask may have any
// strides (0 where it broadcasts over rows or columns).
// lse: (B, L) contiguous, in float32 for 16-bit inputs (else their dtype), the per-row
// logsumexp of the scaled, masked scores: the forward writes it, the backward recomputes every
// probability as exp(score - lse) from it.
//
// Note [Attention windows and block skipping]
// Key j takes part in query row i only if i - window_left <= j <= i + window_right (a negative
// bound is absent): is_causal is the window (-1, 0), flash-attention's window_size=(left, right)
// the general case, both top-left aligned (row i against key i). A bool mask applies on top.
// The kernels never compute a tile (a block of query rows against a block of keys) in which no
// entry takes part: its key columns are trimmed to those that some row of the block may attend,
// from the window bounds directly and, for a bool mask, from the OR of the block's mask rows
// (one byte pass over the mask per block of rows, cheap next to the tile products). So a
// sliding window of w positions costs about (w + kBq) / S of full attention and a block-sparse
// mask costs in proportion to its density, with no new argument needed for masks. An additive
// mask is applied as it is (no skipping). A row in which no key takes part gives out = 0 and
// lse = -inf, and zero gradients (Note [Attention forward tiles] in cpu/attention.cpp).
//
// Note [Attention dropout]
// Dropout acts on the normalised probabilities P (as in PyTorch): O = (P * keep / (1 - p)) V,
// while the softmax statistics use P itself. keep(bh, i, j) = u >= p with u the uniform of
// lane j % 4 of philox4x32(counter = (bh * L + i) * ceil(S / 4) + j / 4, stream, seed), so
// the backward regenerates the same mask from (seed, stream) and no mask is stored.
#pragma once

#include <utility>
#include <vector>

#include "dlcore/dispatch.h"
#include "dlcore/ops.h"

namespace dlcore {

struct AttnOperand {
  void* data = nullptr;
  Shape batch_strides;  // one per batch dim of AttnParams::batch
  int64_t row_stride = 0, col_stride = 1;
};

enum class AttnMask : int { None, Bool, Additive };

struct AttnParams {
  DType dtype = DType::Float32;  // q, k, v, out, additive mask and all gradients
  Device device;                 // where every pointer lives
  Shape batch;                   // broadcast batch shape, B = its numel
  int64_t L = 0, S = 0, E = 0, Ev = 0;
  double scale = 1.0;
  int64_t window_left = -1, window_right = -1;  // Note [Attention windows and block skipping]
  double dropout_p = 0.0;
  uint64_t seed = 0, stream = 0;  // Note [Attention dropout]
  AttnMask mask_kind = AttnMask::None;
  AttnOperand q, k, v, mask, out;
  void* lse = nullptr;  // (B, L) of attn_lse_dtype(dtype)
  // Backward only: grad_out like out; grad_q/k/v contiguous of the broadcast shapes
  // (batch..., L|S, E|Ev); grad_mask (batch..., L, S) contiguous or null when not needed.
  AttnOperand grad_out;
  void* grad_q = nullptr;
  void* grad_k = nullptr;
  void* grad_v = nullptr;
  void* grad_mask = nullptr;
};

// The dtype of lse: float32 for float16/bfloat16 inputs (their precision would spoil every
// recomputed probability), the inputs' dtype otherwise.
inline DType attn_lse_dtype(DType t) {
  return t == DType::Float16 || t == DType::BFloat16 ? DType::Float32 : t;
}

// out and lse from q, k, v (and mask).
DL_DECLARE_KERNEL(attention_forward_kernel, void (*)(const AttnParams& p));
// grad_q, grad_k, grad_v (and grad_mask) from q, k, v, mask, out, lse and grad_out.
DL_DECLARE_KERNEL(attention_backward_kernel, void (*)(const AttnParams& p));

// torch.nn.functional.scaled_dot_product_attention. attn_mask: bool (true = takes part) or
// a float added to the scores; scale: 1/sqrt(E) when absent. window_size (left, right): query i
// attends keys i - left .. i + right only, -1 for no bound (flash-attention's argument; Note
// [Attention windows and block skipping]); it combines with is_causal and with attn_mask.
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const OptTensor& attn_mask = std::nullopt, double dropout_p = 0.0,
                                    bool is_causal = false, std::optional<double> scale = std::nullopt,
                                    std::pair<int64_t, int64_t> window_size = {-1, -1});

}  // namespace dlcore
