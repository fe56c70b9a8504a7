// CPU cell kernels of the recurrent layers (Note [RNN layer] in ops/rnn.h): one fused pass
// per timestep over B rows, forward (gate nonlinearities + state update, saving the gates)
// and backward (gate gradients from the saved gates). The GEMMs around them are the op's.
// Compiled per CPU capability (Note [CPU capability variants] in cpu/loops.h); float32 uses
// vec_math.h's branch-free exp/tanh so the inner loops over H vectorise.
#include <algorithm>
#include <cmath>

#include "cpu/loops.h"
#include "cpu/vec_math.h"
#include "ops/rnn.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {

DL_VEC_INLINE float act_tanh(float x) { return fast_tanhf(x); }
DL_VEC_INLINE double act_tanh(double x) { return std::tanh(x); }
DL_VEC_INLINE float act_sigmoid(float x) { return 1.0f / (1.0f + fast_expf(-x)); }
DL_VEC_INLINE double act_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Rows per thread chunk: at least 64K gate values. A step of a typical layer (B = 32,
// 4H = 1024) is a few microseconds of work and runs inline: a parallel region per timestep
// would cost more than it saves on shared cores (Note [Threads on shared cores]).
int64_t row_grain(int64_t G, int64_t H) { return std::max<int64_t>(1, 65536 / std::max<int64_t>(G * H, 1)); }

// ---- forward --------------------------------------------------------------------------------
// One row b per call; x, r: that row's (G*H) input and recurrent projections, bias: b_hh.
// Plain loops over H with restrict pointers so that they vectorise.

template <typename T>
void rnn_row_forward(int64_t H, bool relu, const T* __restrict x, const T* __restrict r, const T* __restrict bias,
                     T* __restrict h) {
  if (relu) {
    for (int64_t j = 0; j < H; ++j) {
      const T s = x[j] + r[j] + bias[j];
      h[j] = relu_t(s);
    }
  } else {
    for (int64_t j = 0; j < H; ++j) h[j] = act_tanh(x[j] + r[j] + bias[j]);
  }
}

// w: (4H) the activated gates i, f, g, o of this row.
template <typename T>
void lstm_row_forward(int64_t H, const T* __restrict x, const T* __restrict r, const T* __restrict bias,
                      const T* __restrict cp, T* __restrict c, T* __restrict h, T* __restrict w) {
  for (int64_t j = 0; j < H; ++j) {
    const T i = act_sigmoid(x[j] + r[j] + bias[j]);
    const T f = act_sigmoid(x[H + j] + r[H + j] + bias[H + j]);
    const T g = act_tanh(x[2 * H + j] + r[2 * H + j] + bias[2 * H + j]);
    const T o = act_sigmoid(x[3 * H + j] + r[3 * H + j] + bias[3 * H + j]);
    const T cn = f * cp[j] + i * g;
    c[j] = cn;
    h[j] = o * act_tanh(cn);
    w[j] = i, w[H + j] = f, w[2 * H + j] = g, w[3 * H + j] = o;
  }
}

// w: (4H) r, z, n and hn + b_hn of this row.
template <typename T>
void gru_row_forward(int64_t H, const T* __restrict x, const T* __restrict r, const T* __restrict bias,
                     const T* __restrict hp, T* __restrict h, T* __restrict w) {
  for (int64_t j = 0; j < H; ++j) {
    const T rr = act_sigmoid(x[j] + r[j] + bias[j]);
    const T z = act_sigmoid(x[H + j] + r[H + j] + bias[H + j]);
    const T hn = r[2 * H + j] + bias[2 * H + j];
    const T n = act_tanh(x[2 * H + j] + rr * hn);
    h[j] = (T(1) - z) * n + z * hp[j];
    w[j] = rr, w[H + j] = z, w[2 * H + j] = n, w[3 * H + j] = hn;
  }
}

template <typename T>
void cell_forward(const RnnCellForward& a) {
  const int64_t H = a.H, G = rnn_gate_count(a.mode), GH = G * H;
  const T* xg = static_cast<const T*>(a.xg);         // (B, G*H)
  const T* hg = static_cast<const T*>(a.hg);         // (B, G*H)
  const T* bhh = static_cast<const T*>(a.b_hh);      // (G*H)
  const T* hprev = static_cast<const T*>(a.h_prev);  // (B, H)
  const T* cprev = static_cast<const T*>(a.c_prev);  // (B, H)
  T* hout = static_cast<T*>(a.h);                    // (B, H)
  T* cout = static_cast<T*>(a.c);                    // (B, H)
  T* ws = static_cast<T*>(a.ws);                     // (B, 4H)
  const RnnMode mode = a.mode;
  parallel_for(0, a.B, row_grain(G, H), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* x = xg + b * GH;
      const T* r = hg + b * GH;
      if (mode == RnnMode::Lstm)
        lstm_row_forward(H, x, r, bhh, cprev + b * H, cout + b * H, hout + b * H, ws + b * 4 * H);
      else if (mode == RnnMode::Gru)
        gru_row_forward(H, x, r, bhh, hprev + b * H, hout + b * H, ws + b * 4 * H);
      else
        rnn_row_forward(H, mode == RnnMode::Relu, x, r, bhh, hout + b * H);
    }
  });
}

// ---- backward -------------------------------------------------------------------------------

// Note [RNN cell backward]
// With dh = grad_h + dh_next, the gradient reaching h_t:
//   RNN   da = dh * (1 - h^2) (tanh) or dh * [h > 0] (relu)
//   LSTM  dc = dc_next + dh * o * (1 - tanh(c)^2); the pre-activation gradients are
//         di = dc g i(1-i), df = dc c_prev f(1-f), dg = dc i (1-g^2), do = dh tanh(c) o(1-o),
//         and dc_prev = dc f (written over dc_next, element by element).
//   GRU   dn = dh (1-z) (1-n^2), dr = dn hn r(1-r), dz = dh (h_prev - n) z(1-z);
//         dxg = (dr, dz, dn), dhg = (dr, dz, dn r) and the direct part dh_prev = dh z.
// For RNN and LSTM dhg equals dxg (the op reuses it).

template <typename T>
void rnn_row_backward(int64_t H, bool relu, const T* __restrict gh, const T* __restrict dn, const T* __restrict h,
                      T* __restrict dx) {
  if (relu) {
    for (int64_t j = 0; j < H; ++j) dx[j] = relu_grad_t(gh[j] + dn[j], h[j]);
  } else {
    for (int64_t j = 0; j < H; ++j) dx[j] = (gh[j] + dn[j]) * (T(1) - h[j] * h[j]);
  }
}

template <typename T>
void lstm_row_backward(int64_t H, const T* __restrict gh, const T* __restrict dn, const T* __restrict w,
                       const T* __restrict c, const T* __restrict cp, T* __restrict dc, T* __restrict dx) {
  for (int64_t j = 0; j < H; ++j) {
    const T dh = gh[j] + dn[j];
    const T i = w[j], f = w[H + j], g = w[2 * H + j], o = w[3 * H + j];
    const T tc = act_tanh(c[j]);
    const T dcj = dc[j] + dh * o * (T(1) - tc * tc);
    dx[j] = dcj * g * i * (T(1) - i);
    dx[H + j] = dcj * cp[j] * f * (T(1) - f);
    dx[2 * H + j] = dcj * i * (T(1) - g * g);
    dx[3 * H + j] = dh * tc * o * (T(1) - o);
    dc[j] = dcj * f;
  }
}

template <typename T>
void gru_row_backward(int64_t H, const T* __restrict gh, const T* __restrict dnext, const T* __restrict w,
                      const T* __restrict hp, T* __restrict dx, T* __restrict dr, T* __restrict dp) {
  for (int64_t j = 0; j < H; ++j) {
    const T dh = gh[j] + dnext[j];
    const T r = w[j], z = w[H + j], n = w[2 * H + j], hn = w[3 * H + j];
    const T dn = dh * (T(1) - z) * (T(1) - n * n);
    const T dsr = dn * hn * r * (T(1) - r);
    const T dsz = dh * (hp[j] - n) * z * (T(1) - z);
    dx[j] = dsr, dx[H + j] = dsz, dx[2 * H + j] = dn;
    dr[j] = dsr, dr[H + j] = dsz, dr[2 * H + j] = dn * r;
    dp[j] = dh * z;
  }
}

template <typename T>
void cell_backward(const RnnCellBackward& a) {
  const int64_t H = a.H, G = rnn_gate_count(a.mode), GH = G * H;
  const T* gh = static_cast<const T*>(a.grad_h);     // (B, H)
  const T* dhn = static_cast<const T*>(a.dh_next);   // (B, H)
  const T* hs = static_cast<const T*>(a.h);          // (B, H)
  const T* hprev = static_cast<const T*>(a.h_prev);  // (B, H)
  const T* cs = static_cast<const T*>(a.c);          // (B, H)
  const T* cprev = static_cast<const T*>(a.c_prev);  // (B, H)
  const T* ws = static_cast<const T*>(a.ws);         // (B, 4H)
  T* dxg = static_cast<T*>(a.dxg);                   // (B, G*H)
  T* dhg = static_cast<T*>(a.dhg);                   // (B, G*H) GRU
  T* dhp = static_cast<T*>(a.dh_prev);               // (B, H) GRU
  T* dcs = static_cast<T*>(a.dc);                    // (B, H) LSTM
  const RnnMode mode = a.mode;
  parallel_for(0, a.B, row_grain(G, H), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* g = gh + b * H;
      const T* dn = dhn + b * H;
      if (mode == RnnMode::Lstm)
        lstm_row_backward(H, g, dn, ws + b * 4 * H, cs + b * H, cprev + b * H, dcs + b * H, dxg + b * GH);
      else if (mode == RnnMode::Gru)
        gru_row_backward(H, g, dn, ws + b * 4 * H, hprev + b * H, dxg + b * GH, dhg + b * GH, dhp + b * H);
      else
        rnn_row_backward(H, mode == RnnMode::Relu, g, dn, hs + b * H, dxg + b * GH);
    }
  });
}

void rnn_cell_forward_cpu(const RnnCellForward& a) {
  if (a.dtype == DType::Float64) return cell_forward<double>(a);
  cell_forward<float>(a);
}

void rnn_cell_backward_cpu(const RnnCellBackward& a) {
  if (a.dtype == DType::Float64) return cell_backward<double>(a);
  cell_backward<float>(a);
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(rnn_cell_forward_kernel, rnn_cell_forward_cpu);
DL_REGISTER_CPU_KERNEL(rnn_cell_backward_kernel, rnn_cell_backward_cpu);

}  // namespace dlcore
