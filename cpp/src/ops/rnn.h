// Recurrent layers: one layer-direction of an Elman RNN, LSTM or GRU over a whole sequence,
// and the fused per-timestep cell kernels behind it (cpu/rnn.cpp).
//
// Note [RNN layer]
// With G gates (RNN 1, LSTM 4, GRU 3) and hidden size H, one layer-direction computes, for
// x: (T, B, I), W_ih: (G*H, I), W_hh: (G*H, H), b_ih, b_hh: (G*H):
//   xg = x @ W_ih^T + b_ih                (T, B, G*H)   one GEMM for all timesteps
//   for t in 0..T-1 (T-1..0 when reverse):
//     hg = h_prev @ W_hh^T                (B, G*H)      one GEMM per step
//     h_t (, c_t) = cell(xg[t], hg + b_hh, h_prev (, c_prev))   one fused kernel per step
// Gate rows of the weights are in PyTorch's order, each block H rows:
//   RNN   h = act(a),  a = xg + hg + b_hh, act = tanh or relu
//   LSTM  i, f, g, o: c = sigmoid(f) * c_prev + sigmoid(i) * tanh(g),  h = sigmoid(o) * tanh(c)
//   GRU   r, z, n:    r = sigmoid(xr + hr), z = sigmoid(xz + hz),
//                     n = tanh(xn + r * (hn + b_hn)),  h = (1 - z) * n + z * h_prev
// (b_hh is folded into the xr/xz sums and, for n, kept inside the product with r.)
//
// Note [RNN saved state]
// The forward keeps, per timestep, what the backward cell needs so that no gate is recomputed
// from a GEMM: ws (T, B, 4H) holds LSTM's activated gates i, f, g, o, or GRU's r, z, n and
// hn + b_hn (the term r multiplies); RNN needs only its output h. LSTM's cell states c_t go
// to cs (T, B, H). The backward walks the steps in the opposite order, each step one fused
// kernel (gate gradients) and one GEMM (dh_prev = dhg @ W_hh), and finishes with whole-
// sequence GEMMs: dx = dxg @ W_ih, dW_ih = dxg^T x, dW_hh = dhg^T h_prev.
#pragma once

#include <string>
#include <tuple>

#include "dlcore/dispatch.h"
#include "dlcore/ops.h"

namespace dlcore {

enum class RnnMode : int { Tanh, Relu, Lstm, Gru };

inline int64_t rnn_gate_count(RnnMode m) { return m == RnnMode::Lstm ? 4 : m == RnnMode::Gru ? 3 : 1; }

// One forward step for B rows. All (B, .) buffers are contiguous rows.
struct RnnCellForward {
  DType dtype = DType::Float32;
  RnnMode mode = RnnMode::Tanh;
  int64_t B = 0, H = 0;
  const void* xg = nullptr;      // (B, G*H) input projection, b_ih included
  const void* hg = nullptr;      // (B, G*H) h_prev @ W_hh^T
  const void* b_hh = nullptr;    // (G*H), zeros when the layer has no bias
  const void* h_prev = nullptr;  // (B, H)  (GRU)
  const void* c_prev = nullptr;  // (B, H)  (LSTM)
  void* h = nullptr;             // (B, H)  h_t
  void* c = nullptr;             // (B, H)  c_t (LSTM)
  void* ws = nullptr;            // (B, 4H) Note [RNN saved state] (LSTM, GRU)
};

// One backward step. dh = grad_h + dh_next is the gradient reaching h_t.
struct RnnCellBackward {
  DType dtype = DType::Float32;
  RnnMode mode = RnnMode::Tanh;
  int64_t B = 0, H = 0;
  const void* grad_h = nullptr;   // (B, H) gradient of output[t] (zeros when none)
  const void* dh_next = nullptr;  // (B, H) gradient arriving through the recurrence
  const void* h = nullptr;        // (B, H) h_t (RNN)
  const void* h_prev = nullptr;   // (B, H) (GRU)
  const void* c = nullptr;        // (B, H) c_t (LSTM)
  const void* c_prev = nullptr;   // (B, H) (LSTM)
  const void* ws = nullptr;       // (B, 4H) (LSTM, GRU)
  void* dxg = nullptr;            // (B, G*H) gradient of the pre-activations from x
  void* dhg = nullptr;            // (B, G*H) GRU only: gradient of h_prev @ W_hh^T (+ b_hh)
  void* dh_prev = nullptr;        // (B, H) GRU: written with the direct part z * dh
  void* dc = nullptr;             // (B, H) LSTM: dc_next in, dc_prev out (in place)
};

DL_DECLARE_KERNEL(rnn_cell_forward_kernel, void (*)(const RnnCellForward& a));
DL_DECLARE_KERNEL(rnn_cell_backward_kernel, void (*)(const RnnCellBackward& a));

// One layer-direction over a whole sequence (Note [RNN layer]). mode: "RNN_TANH",
// "RNN_RELU", "LSTM" or "GRU" (PyTorch's names). input: (T, B, I), hx (and cx for LSTM):
// (B, H). Returns (output (T, B, H), h_n (B, H), c_n (B, H) for LSTM, else null).
std::tuple<Tensor, Tensor, Tensor> rnn_layer(const Tensor& input, const Tensor& hx, const OptTensor& cx,
                                             const Tensor& weight_ih, const Tensor& weight_hh,
                                             const OptTensor& bias_ih, const OptTensor& bias_hh,
                                             const std::string& mode, bool reverse);

}  // namespace dlcore
