// CPU softmax and log_softmax over contiguous (outer, red, inner) blocks (Note [Softmax
// layout] in ops/softmax.h), forward and backward. Rows (inner == 1) use the vectorised row
// passes of cpu/reduce.h (Note [Softmax row passes]); columns (softmax over a leading or
// middle dim) keep per-output statistics in small buffers and sweep the rows (Note [CPU
// reduction loops]). Sums accumulate in double for float32 (row exp-sums per block, Note
// [Softmax row passes]); float32 exp is the vectorisable fast_expf.
#include "ops/softmax.h"

#include "cpu/reduce.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {

using namespace reduce_detail;

// sum(a * b) over a contiguous run, with kLanes accumulators in kBlock blocks like fold_row.
template <typename T>
acc_t<T> dot_row(const T* a, const T* b, int64_t n) {
  using Acc = acc_t<T>;
  Acc total = 0;
  for (int64_t s = 0; s < n; s += kBlock) {
    const int64_t m = std::min(kBlock, n - s);
    Acc lane[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= m; i += kLanes)
      for (int k = 0; k < kLanes; ++k) lane[k] += static_cast<Acc>(a[s + i + k]) * static_cast<Acc>(b[s + i + k]);
    for (; i < m; ++i) lane[0] += static_cast<Acc>(a[s + i]) * static_cast<Acc>(b[s + i]);
    for (int h = kLanes / 2; h > 0; h /= 2)
      for (int k = 0; k < h; ++k) lane[k] += lane[k + h];
    total += lane[0];
  }
  return total;
}

// x, y: (outer, red, inner). A row whose max is -inf (all -inf) or +inf gives NaN, as in PyTorch.
template <typename T>
void softmax_typed(bool log, T* y, const T* x, int64_t outer, int64_t red, int64_t inner) {
  using Acc = acc_t<T>;
  for_each_block(outer, red, inner, [&](int64_t o, int64_t c0, int64_t w) {
    if (inner == 1) {
      const T* xr = x + o * red;
      T* yr = y + o * red;
      // Note [Softmax row passes] in cpu/reduce.h: max, exp-sum, one write.
      const T m = row_max(xr, red);
      if (log) {
        const T log_sum = static_cast<T>(std::log(row_exp_sum<false>(yr, xr, m, red)));
        for (int64_t i = 0; i < red; ++i) yr[i] = (xr[i] - m) - log_sum;
      } else {
        const T inv = static_cast<T>(Acc(1) / row_exp_sum<true>(yr, xr, m, red));
        for (int64_t i = 0; i < red; ++i) yr[i] *= inv;
      }
      return;
    }
    T m[kCols], k[kCols];
    Acc s[kCols];
    for (int64_t i = 0; i < w; ++i) {
      m[i] = lowest_value<T>();
      s[i] = Acc(0);
    }
    fold(ExtremeOp<T, true>{}, x, red, inner, o, 0, red, c0, w, m);
    for (int64_t r = 0; r < red; ++r) {
      const T* xr = x + (o * red + r) * inner + c0;
      T* yr = y + (o * red + r) * inner + c0;
      if (log) {
        for (int64_t i = 0; i < w; ++i) s[i] += static_cast<Acc>(exp_t<T>(xr[i] - m[i]));
      } else {
        for (int64_t i = 0; i < w; ++i) {
          const T e = exp_t<T>(xr[i] - m[i]);
          yr[i] = e;
          s[i] += static_cast<Acc>(e);
        }
      }
    }
    for (int64_t i = 0; i < w; ++i) k[i] = static_cast<T>(log ? std::log(s[i]) : Acc(1) / s[i]);
    for (int64_t r = 0; r < red; ++r) {
      const T* xr = x + (o * red + r) * inner + c0;
      T* yr = y + (o * red + r) * inner + c0;
      if (log) {
        for (int64_t i = 0; i < w; ++i) yr[i] = (xr[i] - m[i]) - k[i];
      } else {
        for (int64_t i = 0; i < w; ++i) yr[i] *= k[i];
      }
    }
  });
}

// gx, g, y: (outer, red, inner).
template <typename T>
void softmax_backward_typed(bool log, T* gx, const T* g, const T* y, int64_t outer, int64_t red, int64_t inner) {
  using Acc = acc_t<T>;
  for_each_block(outer, red, inner, [&](int64_t o, int64_t c0, int64_t w) {
    if (inner == 1) {
      const T* gr = g + o * red;
      const T* yr = y + o * red;
      T* out = gx + o * red;
      if (log) {
        const T s = static_cast<T>(fold_row(SumOp<T>{}, gr, red));
        for (int64_t i = 0; i < red; ++i) out[i] = gr[i] - exp_t<T>(yr[i]) * s;
      } else {
        const T d = static_cast<T>(dot_row(gr, yr, red));
        for (int64_t i = 0; i < red; ++i) out[i] = yr[i] * (gr[i] - d);
      }
      return;
    }
    Acc s[kCols];
    T sv[kCols];
    for (int64_t i = 0; i < w; ++i) s[i] = Acc(0);
    for (int64_t r = 0; r < red; ++r) {
      const int64_t at = (o * red + r) * inner + c0;
      if (log) {
        for (int64_t i = 0; i < w; ++i) s[i] += static_cast<Acc>(g[at + i]);
      } else {
        for (int64_t i = 0; i < w; ++i) s[i] += static_cast<Acc>(g[at + i]) * static_cast<Acc>(y[at + i]);
      }
    }
    for (int64_t i = 0; i < w; ++i) sv[i] = static_cast<T>(s[i]);
    for (int64_t r = 0; r < red; ++r) {
      const int64_t at = (o * red + r) * inner + c0;
      if (log) {
        for (int64_t i = 0; i < w; ++i) gx[at + i] = g[at + i] - exp_t<T>(y[at + i]) * sv[i];
      } else {
        for (int64_t i = 0; i < w; ++i) gx[at + i] = y[at + i] * (g[at + i] - sv[i]);
      }
    }
  });
}

void softmax_cpu(bool log, const Tensor& y, const Tensor& x, int64_t outer, int64_t red, int64_t inner) {
  DL_DISPATCH_FLOAT(x->dtype(), log ? "log_softmax" : "softmax", [&] {
    softmax_typed<scalar_t>(log, y->data<scalar_t>(), x->data<scalar_t>(), outer, red, inner);
  });
}

void softmax_backward_cpu(bool log, const Tensor& grad_x, const Tensor& grad_y, const Tensor& y, int64_t outer,
                          int64_t red, int64_t inner) {
  DL_DISPATCH_FLOAT(y->dtype(), log ? "log_softmax_backward" : "softmax_backward", [&] {
    softmax_backward_typed<scalar_t>(log, grad_x->data<scalar_t>(), grad_y->data<scalar_t>(), y->data<scalar_t>(),
                                     outer, red, inner);
  });
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(softmax_kernel, softmax_cpu);
DL_REGISTER_CPU_KERNEL(softmax_backward_kernel, softmax_backward_cpu);

}  // namespace dlcore
