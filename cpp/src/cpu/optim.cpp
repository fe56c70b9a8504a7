// CPU optimizer kernels: fused SGD, Adam/AdamW and RMSprop updates over all parameters of a
// group, and the foreach norm/scale/clamp behind gradient clipping. Every tensor is one
// contiguous run (Note [Optimizer update layout] in ops/optim.h); the runs of all parameters
// are concatenated into one index range that is split across threads, so many small
// parameters and one big one parallelise alike. Inner loops are plain per-element code over
// restrict pointers with loop-invariant branches, which the compiler vectorises.
#include "ops/optim.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <type_traits>

#include "cpu/loops.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {

constexpr int64_t kOptimGrain = 16384;  // elements below which a step stays on one thread

// f(i, begin, end) over the elements [begin, end) of tensor i, for every tensor, with the
// concatenation of all tensors' elements split across threads.
template <typename F>
void for_each_run(const TensorList& ts, F&& f) {
  const size_t n = ts.size();
  std::vector<int64_t> start(n + 1, 0);
  for (size_t i = 0; i < n; ++i) start[i + 1] = start[i] + ts[i]->numel();
  parallel_for(0, start[n], kOptimGrain, [&](int64_t b, int64_t e) {
    size_t i = static_cast<size_t>(std::upper_bound(start.begin(), start.end(), b) - start.begin()) - 1;
    for (; i < n && start[i] < e; ++i) {
      const int64_t lo = std::max(b, start[i]) - start[i], hi = std::min(e, start[i + 1]) - start[i];
      if (lo < hi) f(i, lo, hi);
    }
  });
}

template <typename T>
T* ptr(const TensorList& ts, size_t i) {
  return ts.empty() ? nullptr : ts[i]->data<T>();
}

// torch's lerp: a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w).
template <typename T>
inline T lerp(T a, T b, T w) {
  return w < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

// Calls f(std::true_type) or f(std::false_type): a runtime option becomes a template flag,
// so each update loop is branch-free and vectorises.
template <typename F>
void with_flag(bool v, F&& f) {
  if (v)
    f(std::true_type{});
  else
    f(std::false_type{});
}
#define DL_FLAG(x) decltype(x)::value

// ---- SGD --------------------------------------------------------------------------------
// g = ±grad + wd p; buf = new ? g : momentum buf + (1 - dampening) g;
// g = nesterov ? g + momentum buf : buf; p -= lr g.
template <typename T, bool kDecay, bool kMomentum>
void sgd_run(T* __restrict p, const T* __restrict gr, T* __restrict buf, bool is_new, int64_t n, const SgdOptions& o) {
  const T sign = o.maximize ? T(-1) : T(1), lr = T(o.lr), wd = T(o.weight_decay), mom = T(o.momentum);
  const T keep = T(1 - o.dampening);
  const bool nesterov = o.nesterov;
  for (int64_t j = 0; j < n; ++j) {
    T g = sign * gr[j];
    if (kDecay) g = g + wd * p[j];
    if (kMomentum) {
      const T b = is_new ? g : buf[j] * mom + keep * g;
      buf[j] = b;
      g = nesterov ? g + mom * b : b;
    }
    p[j] = p[j] + (-lr) * g;
  }
}

void sgd_step_cpu(const TensorList& params, const TensorList& grads, const TensorList& bufs,
                  const std::vector<bool>& is_new, const SgdOptions& o) {
  for_each_run(params, [&](size_t i, int64_t lo, int64_t hi) {
    DL_DISPATCH_FLOAT(params[i]->dtype(), "sgd_step", [&] {
      using T = scalar_t;
      T* buf = ptr<T>(bufs, i);
      with_flag(o.weight_decay != 0, [&](auto decay) {
        with_flag(buf != nullptr, [&](auto momentum) {
          sgd_run<T, DL_FLAG(decay), DL_FLAG(momentum)>(params[i]->data<T>() + lo, grads[i]->data<T>() + lo,
                                                        buf ? buf + lo : nullptr, buf && is_new[i], hi - lo, o);
        });
      });
    });
  });
}

// ---- Adam / AdamW -----------------------------------------------------------------------
// g = ±grad; AdamW: p *= 1 - lr wd, Adam: g += wd p; m = lerp(m, g, 1 - beta1);
// v = beta2 v + (1 - beta2) g g; vmax = max(vmax, v) (amsgrad);
// p -= lr / (1 - beta1^t) * m / (sqrt(v or vmax) / sqrt(1 - beta2^t) + eps).
template <typename T, bool kL2, bool kAmsgrad>
void adam_run(T* __restrict p, const T* __restrict gr, T* __restrict m, T* __restrict v, T* __restrict vmax,
              int64_t n, double step, const AdamOptions& o) {
  const double bc1 = 1 - std::pow(o.beta1, step), bc2 = 1 - std::pow(o.beta2, step);
  const T neg_step_size = T(-(o.lr / bc1)), bc2_sqrt = T(std::sqrt(bc2)), eps = T(o.eps);
  const T w1 = T(1 - o.beta1), beta2 = T(o.beta2), w2 = T(1 - o.beta2), sign = o.maximize ? T(-1) : T(1);
  const T wd = T(o.weight_decay);
  // AdamW's decay is a multiply by exactly 1 when off
  const T shrink = o.decoupled ? T(1 - o.lr * o.weight_decay) : T(1);
  for (int64_t j = 0; j < n; ++j) {
    T g = sign * gr[j];
    const T pj = p[j] * shrink;
    if (kL2) g = g + wd * pj;
    const T mj = lerp(m[j], g, w1);
    T vj = v[j] * beta2 + w2 * g * g;
    m[j] = mj;
    v[j] = vj;
    if (kAmsgrad) {
      vj = std::max(vmax[j], vj);
      vmax[j] = vj;
    }
    const T denom = std::sqrt(vj) / bc2_sqrt + eps;
    p[j] = pj + neg_step_size * mj / denom;
  }
}

void adam_step_cpu(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                   const TensorList& exp_avg_sqs, const TensorList& max_exp_avg_sqs, const std::vector<double>& steps,
                   const AdamOptions& o) {
  for_each_run(params, [&](size_t i, int64_t lo, int64_t hi) {
    DL_DISPATCH_FLOAT(params[i]->dtype(), "adam_step", [&] {
      using T = scalar_t;
      T* vmax = ptr<T>(max_exp_avg_sqs, i);
      with_flag(o.weight_decay != 0 && !o.decoupled, [&](auto l2) {
        with_flag(vmax != nullptr, [&](auto amsgrad) {
          adam_run<T, DL_FLAG(l2), DL_FLAG(amsgrad)>(
              params[i]->data<T>() + lo, grads[i]->data<T>() + lo, exp_avgs[i]->data<T>() + lo,
              exp_avg_sqs[i]->data<T>() + lo, vmax ? vmax + lo : nullptr, hi - lo, steps[i], o);
        });
      });
    });
  });
}

// ---- RMSprop ----------------------------------------------------------------------------
// g = ±grad + wd p; s = alpha s + (1 - alpha) g g; centered: a = lerp(a, g, 1 - alpha),
// avg = sqrt(s - a a) + eps, else sqrt(s) + eps; momentum: buf = momentum buf + g / avg,
// p -= lr buf; else p -= lr g / avg.
template <typename T, bool kDecay, bool kCentered, bool kMomentum>
void rmsprop_run(T* __restrict p, const T* __restrict gr, T* __restrict s, T* __restrict a, T* __restrict buf,
                 int64_t n, const RmspropOptions& o) {
  const T alpha = T(o.alpha), w = T(1 - o.alpha), eps = T(o.eps), wd = T(o.weight_decay);
  const T mom = T(o.momentum), neg_lr = T(-o.lr), sign = o.maximize ? T(-1) : T(1);
  for (int64_t j = 0; j < n; ++j) {
    T g = sign * gr[j];
    if (kDecay) g = g + wd * p[j];
    const T sj = s[j] * alpha + w * g * g;
    s[j] = sj;
    T avg;
    if (kCentered) {
      const T aj = lerp(a[j], g, w);
      a[j] = aj;
      avg = std::sqrt(sj + T(-1) * aj * aj) + eps;
    } else {
      avg = std::sqrt(sj) + eps;
    }
    if (kMomentum) {
      const T b = buf[j] * mom + g / avg;
      buf[j] = b;
      p[j] = p[j] + neg_lr * b;
    } else {
      p[j] = p[j] + neg_lr * g / avg;
    }
  }
}

void rmsprop_step_cpu(const TensorList& params, const TensorList& grads, const TensorList& square_avgs,
                      const TensorList& grad_avgs, const TensorList& bufs, const RmspropOptions& o) {
  for_each_run(params, [&](size_t i, int64_t lo, int64_t hi) {
    DL_DISPATCH_FLOAT(params[i]->dtype(), "rmsprop_step", [&] {
      using T = scalar_t;
      T* a = ptr<T>(grad_avgs, i);
      T* buf = ptr<T>(bufs, i);
      with_flag(o.weight_decay != 0, [&](auto decay) {
        with_flag(a != nullptr, [&](auto centered) {
          with_flag(buf != nullptr, [&](auto momentum) {
            rmsprop_run<T, DL_FLAG(decay), DL_FLAG(centered), DL_FLAG(momentum)>(
                params[i]->data<T>() + lo, grads[i]->data<T>() + lo, square_avgs[i]->data<T>() + lo,
                a ? a + lo : nullptr, buf ? buf + lo : nullptr, hi - lo, o);
          });
        });
      });
    });
  });
}

// ---- foreach norm / scale / clamp ------------------------------------------------------
enum class NormKind { Sum, Max, Min };

// Partial reduction of one run in double: sum |x|^p (p = 1, 2, other, 0 counts nonzeros),
// or max/min |x|.
template <typename T>
double norm_run(const T* __restrict x, int64_t n, double p, NormKind kind) {
  if (kind == NormKind::Max) {
    double r = 0;
    for (int64_t j = 0; j < n; ++j) {
      const double v = std::abs(static_cast<double>(x[j]));
      r = (v > r || v != v) ? v : r;  // NaN sticks, like torch's inf-norm
    }
    return r;
  }
  if (kind == NormKind::Min) {
    double r = std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < n; ++j) {
      const double v = std::abs(static_cast<double>(x[j]));
      r = (v < r || v != v) ? v : r;
    }
    return r;
  }
  double s = 0;
  if (p == 2) {
    for (int64_t j = 0; j < n; ++j) s += static_cast<double>(x[j]) * static_cast<double>(x[j]);
  } else if (p == 1) {
    for (int64_t j = 0; j < n; ++j) s += std::abs(static_cast<double>(x[j]));
  } else if (p == 0) {
    for (int64_t j = 0; j < n; ++j) s += x[j] != T(0) ? 1.0 : 0.0;
  } else {
    for (int64_t j = 0; j < n; ++j) s += std::pow(std::abs(static_cast<double>(x[j])), p);
  }
  return s;
}

double foreach_norm_cpu(const TensorList& tensors, double p) {
  const NormKind kind = std::isinf(p) ? (p > 0 ? NormKind::Max : NormKind::Min) : NormKind::Sum;
  double total = kind == NormKind::Min ? std::numeric_limits<double>::infinity() : 0.0;
  std::mutex mu;
  for_each_run(tensors, [&](size_t i, int64_t lo, int64_t hi) {
    const double part = DL_DISPATCH_FLOAT(tensors[i]->dtype(), "foreach_norm", [&] {
      return norm_run<scalar_t>(tensors[i]->data<scalar_t>() + lo, hi - lo, p, kind);
    });
    std::lock_guard<std::mutex> lock(mu);
    if (kind == NormKind::Max || std::isnan(part))
      total = std::isnan(part) ? part : std::max(total, part);
    else if (kind == NormKind::Min)
      total = std::min(total, part);
    else
      total += part;
  });
  if (kind != NormKind::Sum || p == 0 || p == 1) return total;
  return p == 2 ? std::sqrt(total) : std::pow(total, 1.0 / p);
}

void foreach_scale_cpu(const TensorList& tensors, double factor) {
  for_each_run(tensors, [&](size_t i, int64_t lo, int64_t hi) {
    DL_DISPATCH_FLOAT(tensors[i]->dtype(), "foreach_scale_", [&] {
      scalar_t* __restrict x = tensors[i]->data<scalar_t>() + lo;
      const scalar_t f = static_cast<scalar_t>(factor);
      for (int64_t j = 0; j < hi - lo; ++j) x[j] = x[j] * f;
    });
  });
}

// Like torch.clamp: NaN stays NaN.
void foreach_clamp_cpu(const TensorList& tensors, double lo_v, double hi_v) {
  for_each_run(tensors, [&](size_t i, int64_t lo, int64_t hi) {
    DL_DISPATCH_FLOAT(tensors[i]->dtype(), "foreach_clamp_", [&] {
      scalar_t* __restrict x = tensors[i]->data<scalar_t>() + lo;
      const scalar_t a = static_cast<scalar_t>(lo_v), b = static_cast<scalar_t>(hi_v);
      for (int64_t j = 0; j < hi - lo; ++j) {
        const scalar_t v = x[j];
        x[j] = v != v ? v : (v < a ? a : (v > b ? b : v));
      }
    });
  });
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(sgd_step_kernel, sgd_step_cpu);
DL_REGISTER_CPU_KERNEL(adam_step_kernel, adam_step_cpu);
DL_REGISTER_CPU_KERNEL(rmsprop_step_kernel, rmsprop_step_cpu);
DL_REGISTER_CPU_KERNEL(foreach_norm_kernel, foreach_norm_cpu);
DL_REGISTER_CPU_KERNEL(foreach_scale_kernel, foreach_scale_cpu);
DL_REGISTER_CPU_KERNEL(foreach_clamp_kernel, foreach_clamp_cpu);

}  // namespace dlcore
