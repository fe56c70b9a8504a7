// CPU loss kernels over contiguous (M, C) rows (Note [Loss row layout] in ops/loss.h):
// cross entropy fused with log-softmax (forward: max, exp-sum, loss; backward: one pass that
// recomputes softmax from the saved lse, Note [Cross entropy saves lse]) and nll_loss. Rows
// are split over threads; each row runs the vectorised row passes of cpu/reduce.h.
#include "ops/loss.h"

#include "cpu/reduce.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {

using namespace reduce_detail;

// Rows per thread chunk: about kGrain elements of work.
int64_t row_grain(int64_t C) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, C)); }

// Raises IndexError for a target outside [0, C) that is not ignore_index (before any write).
void check_targets(const int64_t* t, int64_t M, int64_t C, int64_t ignore_index, const char* op) {
  for (int64_t i = 0; i < M; ++i) {
    const int64_t v = t[i];
    DL_CHECK(v == ignore_index || (v >= 0 && v < C), IndexError, op, ": target ", v, " is out of bounds for ", C,
             " classes (expected 0 to ", C - 1, ", or ignore_index ", ignore_index, ")");
  }
}

// x: (M, C); ti: (M,) class indices or null; tp: (M, C) probabilities or null; w: (C,) or null;
// loss: (M,); stats: (M, 2) per row max and log-sum (Note [Cross entropy saves lse]); rw: (M,) when ti.
template <typename T>
void cross_entropy_typed(T* loss, T* stats, T* rw, const T* x, const int64_t* ti, const T* tp, const T* w, int64_t M,
                         int64_t C, int64_t ignore_index, double eps) {
  using Acc = acc_t<T>;
  const Acc keep = Acc(1) - Acc(eps), spread = C > 0 ? Acc(eps) / Acc(C) : Acc(0);
  parallel_for(0, M, row_grain(C), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T* xr = x + i * C;
      const T m = row_max(xr, C);
      const Acc ls = std::log(row_exp_sum<false>(static_cast<T*>(nullptr), xr, m, C));
      stats[2 * i] = m;
      stats[2 * i + 1] = static_cast<T>(ls);
      // lse - x_c as (m - x_c) + log-sum: exact when x_c is the max, however large m is
      auto nll = [&](int64_t c) { return static_cast<Acc>(m - xr[c]) + ls; };
      if (tp) {  // sum_c w_c q_c (lse - x_c), q = (1 - eps) p + eps / C
        const T* pr = tp + i * C;
        Acc s = 0;
        for (int64_t c = 0; c < C; ++c) {
          const Acc q = keep * static_cast<Acc>(pr[c]) + spread;
          s += (w ? static_cast<Acc>(w[c]) : Acc(1)) * q * nll(c);
        }
        loss[i] = static_cast<T>(s);
        continue;
      }
      const int64_t t = ti[i];
      if (t == ignore_index) {
        loss[i] = T(0);
        rw[i] = T(0);
        continue;
      }
      const Acc wt = w ? static_cast<Acc>(w[t]) : Acc(1);
      Acc v = keep * wt * nll(t);
      if (eps > 0) {
        Acc s = 0;
        for (int64_t c = 0; c < C; ++c) s += (w ? static_cast<Acc>(w[c]) : Acc(1)) * nll(c);
        v += spread * s;
      }
      loss[i] = static_cast<T>(v);
      rw[i] = static_cast<T>(wt);
    }
  });
}

// gx: (M, C) = g_i * (softmax * sum(dist) - dist) (Note [Cross entropy formulas]).
template <typename T>
void cross_entropy_backward_typed(T* gx, const T* g, int64_t gs, const T* x, const T* stats, const int64_t* ti,
                                  const T* tp, const T* w, int64_t M, int64_t C, int64_t ignore_index, double eps) {
  using Acc = acc_t<T>;
  const Acc keep = Acc(1) - Acc(eps), spread = C > 0 ? Acc(eps) / Acc(C) : Acc(0);
  Acc wsum = Acc(C);
  if (w) {
    wsum = 0;
    for (int64_t c = 0; c < C; ++c) wsum += static_cast<Acc>(w[c]);
  }
  parallel_for(0, M, row_grain(C), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T* xr = x + i * C;
      T* out = gx + i * C;
      const T m = stats[2 * i], ls = stats[2 * i + 1];
      const Acc gi = static_cast<Acc>(g[i * gs]);
      if (tp) {
        const T* pr = tp + i * C;
        const T k = static_cast<T>(keep), sp = static_cast<T>(spread);
        Acc a = 0;
        for (int64_t c = 0; c < C; ++c) a += (w ? static_cast<Acc>(w[c]) : Acc(1)) * (keep * pr[c] + spread);
        const T ga = static_cast<T>(gi * a), g1 = static_cast<T>(gi);
        if (w) {
          for (int64_t c = 0; c < C; ++c) out[c] = ga * exp_t<T>((xr[c] - m) - ls) - g1 * w[c] * (k * pr[c] + sp);
        } else {
          for (int64_t c = 0; c < C; ++c) out[c] = ga * exp_t<T>((xr[c] - m) - ls) - g1 * (k * pr[c] + sp);
        }
        continue;
      }
      const int64_t t = ti[i];
      if (t == ignore_index) {
        std::fill(out, out + C, T(0));
        continue;
      }
      const Acc wt = w ? static_cast<Acc>(w[t]) : Acc(1);
      const T ga = static_cast<T>(gi * (keep * wt + spread * wsum)), gs_c = static_cast<T>(gi * spread);
      if (w && eps > 0) {
        for (int64_t c = 0; c < C; ++c) out[c] = ga * exp_t<T>((xr[c] - m) - ls) - gs_c * w[c];
      } else {
        for (int64_t c = 0; c < C; ++c) out[c] = ga * exp_t<T>((xr[c] - m) - ls) - gs_c;
      }
      out[t] -= static_cast<T>(gi * keep * wt);
    }
  });
}

void cross_entropy_cpu(const Tensor& loss, const Tensor& stats, const Tensor& row_weight, const Tensor& x,
                       const Tensor& target, const Tensor& weight, int64_t ignore_index, double eps) {
  const int64_t M = x->shape()[0], C = x->shape()[1];
  const bool prob = is_floating(target->dtype());
  if (!prob) check_targets(target->data<int64_t>(), M, C, ignore_index, "cross_entropy");
  DL_DISPATCH_FLOAT(x->dtype(), "cross_entropy", [&] {
    cross_entropy_typed<scalar_t>(loss->data<scalar_t>(), stats->data<scalar_t>(),
                                  prob ? nullptr : row_weight->data<scalar_t>(), x->data<scalar_t>(),
                                  prob ? nullptr : target->data<int64_t>(), prob ? target->data<scalar_t>() : nullptr,
                                  weight ? weight->data<scalar_t>() : nullptr, M, C, ignore_index, eps);
  });
}

void cross_entropy_backward_cpu(const Tensor& grad_x, const Tensor& grad_loss, int64_t g_stride, const Tensor& x,
                                const Tensor& stats, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                                double eps) {
  const int64_t M = x->shape()[0], C = x->shape()[1];
  const bool prob = is_floating(target->dtype());
  DL_DISPATCH_FLOAT(x->dtype(), "cross_entropy_backward", [&] {
    cross_entropy_backward_typed<scalar_t>(
        grad_x->data<scalar_t>(), grad_loss->data<scalar_t>(), g_stride, x->data<scalar_t>(), stats->data<scalar_t>(),
        prob ? nullptr : target->data<int64_t>(), prob ? target->data<scalar_t>() : nullptr,
        weight ? weight->data<scalar_t>() : nullptr, M, C, ignore_index, eps);
  });
}

// x: (M, C) log-probabilities; loss, rw: (M,).
void nll_loss_cpu(const Tensor& loss, const Tensor& row_weight, const Tensor& x, const Tensor& target,
                  const Tensor& weight, int64_t ignore_index) {
  const int64_t M = x->shape()[0], C = x->shape()[1];
  const int64_t* t = target->data<int64_t>();
  check_targets(t, M, C, ignore_index, "nll_loss");
  DL_DISPATCH_FLOAT(x->dtype(), "nll_loss", [&] {
    const scalar_t* xp = x->data<scalar_t>();
    const scalar_t* w = weight ? weight->data<scalar_t>() : nullptr;
    scalar_t* l = loss->data<scalar_t>();
    scalar_t* rw = row_weight->data<scalar_t>();
    for (int64_t i = 0; i < M; ++i) {
      if (t[i] == ignore_index) {
        l[i] = rw[i] = scalar_t(0);
        continue;
      }
      rw[i] = w ? w[t[i]] : scalar_t(1);
      l[i] = -rw[i] * xp[i * C + t[i]];
    }
  });
}

void nll_loss_backward_cpu(const Tensor& grad_x, const Tensor& grad_loss, int64_t g_stride, const Tensor& target,
                           const Tensor& weight, int64_t ignore_index) {
  const int64_t M = grad_x->shape()[0], C = grad_x->shape()[1];
  const int64_t* t = target->data<int64_t>();
  DL_DISPATCH_FLOAT(grad_x->dtype(), "nll_loss_backward", [&] {
    scalar_t* gx = grad_x->data<scalar_t>();
    const scalar_t* g = grad_loss->data<scalar_t>();
    const scalar_t* w = weight ? weight->data<scalar_t>() : nullptr;
    std::fill(gx, gx + M * C, scalar_t(0));
    for (int64_t i = 0; i < M; ++i)
      if (t[i] != ignore_index) gx[i * C + t[i]] = -(w ? w[t[i]] : scalar_t(1)) * g[i * g_stride];
  });
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(cross_entropy_kernel, cross_entropy_cpu);
DL_REGISTER_CPU_KERNEL(cross_entropy_backward_kernel, cross_entropy_backward_cpu);
DL_REGISTER_CPU_KERNEL(nll_loss_kernel, nll_loss_cpu);
DL_REGISTER_CPU_KERNEL(nll_loss_backward_kernel, nll_loss_backward_cpu);

}  // namespace dlcore
