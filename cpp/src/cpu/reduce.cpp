// CPU reduction kernels over contiguous (outer, red, inner) blocks (Note [Reduction layout]
// in ops/reduce.h; the loops are Note [CPU reduction loops] in cpu/reduce.h).
// Work is split over outputs; when there are fewer outputs than threads and the reduction is
// long, `red` is split into a fixed number of pieces (independent of the thread count, so a
// result does not change with it) that are combined in order.
#include "ops/reduce.h"

#include <memory>

#include "cpu/reduce.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {

using namespace reduce_detail;

// ---- policies -------------------------------------------------------------------------------
template <typename T> struct MeanOp : SumOp<T> {
  using Acc = acc_t<T>;
  Acc finish(Acc a, int64_t n) const { return a / static_cast<Acc>(n); }  // n == 0 gives NaN
};
template <typename T> struct ProdOp {
  using Acc = acc_t<T>;
  Acc init() const { return Acc(1); }
  Acc load(T v) const { return static_cast<Acc>(v); }
  Acc combine(Acc a, Acc b) const { return a * b; }
  Acc finish(Acc a, int64_t) const { return a; }
};
template <typename T, bool kAll> struct LogicalOp {
  using Acc = uint8_t;
  Acc init() const { return kAll ? 1 : 0; }
  Acc load(T v) const { return v != T(0) ? 1 : 0; }  // NaN counts as true
  Acc combine(Acc a, Acc b) const { return kAll ? (a & b) : (a | b); }
  Acc finish(Acc a, int64_t) const { return a; }
};
// Squared deviations from a fixed mean (the second pass of var).
template <typename T> struct SqDevOp : SumOp<T> {
  using Acc = acc_t<T>;
  Acc mean;
  explicit SqDevOp(Acc m) : mean(m) {}
  Acc load(T v) const {
    Acc d = static_cast<Acc>(v) - mean;
    return d * d;
  }
};
// Vector norms.
template <typename T> struct SumSqOp : SumOp<T> {
  using Acc = acc_t<T>;
  Acc load(T v) const { return static_cast<Acc>(v) * static_cast<Acc>(v); }
  Acc finish(Acc a, int64_t) const { return std::sqrt(a); }
};
template <typename T> struct SumAbsOp : SumOp<T> {
  using Acc = acc_t<T>;
  Acc load(T v) const { return std::fabs(static_cast<Acc>(v)); }
};
template <typename T> struct CountNonzeroOp : SumOp<T> {
  using Acc = acc_t<T>;
  Acc load(T v) const { return v != T(0) ? Acc(1) : Acc(0); }
};
template <typename T> struct SumPowOp : SumOp<T> {
  using Acc = acc_t<T>;
  Acc p;
  explicit SumPowOp(Acc pp) : p(pp) {}
  Acc load(T v) const { return std::pow(std::fabs(static_cast<Acc>(v)), p); }
  Acc finish(Acc a, int64_t) const { return std::pow(a, Acc(1) / p); }
};
template <typename T, bool kMax> struct AbsExtremeOp : ExtremeOp<T, kMax> {
  T load(T v) const { return std::fabs(v); }
};

// out[o, i] = finish(fold over r of x[o, r, i]).
template <typename Op, typename T, typename Out>
void reduce_blocks(const Op& op, Out* out, const T* x, int64_t outer, int64_t red, int64_t inner) {
  using Acc = typename Op::Acc;
  if (outer * inner == 0) return;
  const int64_t width = std::min(inner, kCols);
  const int64_t units = outer * ((inner + width - 1) / width);
  const int64_t work = outer * red * inner;
  if (units >= get_num_threads() || work < 2 * kGrain) {
    for_each_block(outer, red, inner, [&](int64_t o, int64_t c0, int64_t w) {
      Acc acc[kCols];
      for (int64_t i = 0; i < w; ++i) acc[i] = op.init();
      fold(op, x, red, inner, o, 0, red, c0, w, acc);
      for (int64_t i = 0; i < w; ++i) out[o * inner + c0 + i] = convert<Out>(op.finish(acc[i], red));
    });
    return;
  }
  // Few outputs, long reductions: split `red` into fixed pieces, combine them in order.
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>({red, 16, work / kGrain}));
  const int64_t n_out = outer * inner;
  std::unique_ptr<Acc[]> partial(new Acc[static_cast<size_t>(parts * n_out)]);
  for (int64_t j = 0; j < parts * n_out; ++j) partial[j] = op.init();
  parallel_for(0, parts, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const int64_t r0 = red * k / parts, r1 = red * (k + 1) / parts;
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t c0 = 0; c0 < inner; c0 += width)
          fold(op, x, red, inner, o, r0, r1, c0, std::min(width, inner - c0),
               partial.get() + k * n_out + o * inner + c0);
    }
  });
  for (int64_t j = 0; j < n_out; ++j) {
    Acc a = partial[j];
    for (int64_t k = 1; k < parts; ++k) a = op.combine(a, partial[k * n_out + j]);
    out[j] = convert<Out>(op.finish(a, red));
  }
}

// ---- kernels ---------------------------------------------------------------------------------
template <typename Out, typename T>
Out* out_ptr(const Tensor& out, const char* op) {
  DL_CHECK(out->dtype() == dtype_of<Out>::value, RuntimeError, op, ": the CPU kernel expects a ",
           dtype_name(dtype_of<Out>::value), " output for ", dtype_name(dtype_of<T>::value), " input, got ",
           out->describe());
  return out->data<Out>();
}

void reduce_cpu(ReduceOp op, const Tensor& out, const Tensor& x, int64_t outer, int64_t red, int64_t inner) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Prod:
      return DL_DISPATCH_ALL(x->dtype(), op == ReduceOp::Sum ? "sum" : "prod", [&] {
        using Out = std::conditional_t<std::is_floating_point_v<scalar_t>, scalar_t, int64_t>;
        Out* o = out_ptr<Out, scalar_t>(out, "reduce_kernel");
        if (op == ReduceOp::Sum) reduce_blocks(SumOp<scalar_t>{}, o, x->data<scalar_t>(), outer, red, inner);
        else reduce_blocks(ProdOp<scalar_t>{}, o, x->data<scalar_t>(), outer, red, inner);
      });
    case ReduceOp::Mean:
      return DL_DISPATCH_FLOAT(x->dtype(), "mean", [&] {
        reduce_blocks(MeanOp<scalar_t>{}, out_ptr<scalar_t, scalar_t>(out, "reduce_kernel"), x->data<scalar_t>(),
                      outer, red, inner);
      });
    case ReduceOp::Max:
    case ReduceOp::Min:
      return DL_DISPATCH_ALL(x->dtype(), op == ReduceOp::Max ? "amax" : "amin", [&] {
        scalar_t* o = out_ptr<scalar_t, scalar_t>(out, "reduce_kernel");
        if (op == ReduceOp::Max) reduce_blocks(ExtremeOp<scalar_t, true>{}, o, x->data<scalar_t>(), outer, red, inner);
        else reduce_blocks(ExtremeOp<scalar_t, false>{}, o, x->data<scalar_t>(), outer, red, inner);
      });
    case ReduceOp::All:
    case ReduceOp::Any:
      return DL_DISPATCH_ALL(x->dtype(), op == ReduceOp::All ? "all" : "any", [&] {
        bool* o = out_ptr<bool, scalar_t>(out, "reduce_kernel");
        if (op == ReduceOp::All) reduce_blocks(LogicalOp<scalar_t, true>{}, o, x->data<scalar_t>(), outer, red, inner);
        else reduce_blocks(LogicalOp<scalar_t, false>{}, o, x->data<scalar_t>(), outer, red, inner);
      });
  }
}

// Rows: the extreme value by the vectorised fold, then the first position that holds it.
// Columns: one pass keeping (best, index) per output; strict comparison keeps the first.
template <typename T, bool kMax>
void arg_reduce_typed(T* values, int64_t* idx, const T* x, int64_t outer, int64_t red, int64_t inner) {
  if (inner == 1) {
    std::unique_ptr<T[]> own;
    if (!values) {
      own.reset(new T[static_cast<size_t>(outer)]);
      values = own.get();
    }
    reduce_blocks(ExtremeOp<T, kMax>{}, values, x, outer, red, 1);
    parallel_for(0, outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(red, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* row = x + o * red;
        const T v = values[o];
        int64_t r = 0;
        if (is_nan(v)) {
          while (!is_nan(row[r])) ++r;
        } else {
          while (row[r] != v) ++r;
        }
        idx[o] = r;
      }
    });
    return;
  }
  for_each_block(outer, red, inner, [&](int64_t o, int64_t c0, int64_t w) {
    T best[kCols];
    int64_t at[kCols];
    const T* first = x + o * red * inner + c0;
    for (int64_t i = 0; i < w; ++i) {
      best[i] = first[i];
      at[i] = 0;
    }
    for (int64_t r = 1; r < red; ++r) {
      const T* row = x + (o * red + r) * inner + c0;
      for (int64_t i = 0; i < w; ++i) {
        const T v = row[i];
        const bool take = (kMax ? v > best[i] : v < best[i]) | (is_nan(v) & !is_nan(best[i]));
        best[i] = take ? v : best[i];
        at[i] = take ? r : at[i];
      }
    }
    for (int64_t i = 0; i < w; ++i) {
      idx[o * inner + c0 + i] = at[i];
      if (values) values[o * inner + c0 + i] = best[i];
    }
  });
}

void arg_reduce_cpu(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& x, int64_t outer,
                    int64_t red, int64_t inner) {
  DL_DISPATCH_ALL(x->dtype(), is_max ? "argmax" : "argmin", [&] {
    scalar_t* v = values ? out_ptr<scalar_t, scalar_t>(values, "arg_reduce_kernel") : nullptr;
    int64_t* i = out_ptr<int64_t, scalar_t>(indices, "arg_reduce_kernel");
    if (is_max) arg_reduce_typed<scalar_t, true>(v, i, x->data<scalar_t>(), outer, red, inner);
    else arg_reduce_typed<scalar_t, false>(v, i, x->data<scalar_t>(), outer, red, inner);
  });
}

template <typename T>
void var_typed(T* out, T* mean_out, const T* x, int64_t outer, int64_t red, int64_t inner, double correction,
               bool take_sqrt) {
  using Acc = acc_t<T>;
  const Acc n = static_cast<Acc>(red);
  const Acc divisor = static_cast<Acc>(std::max(0.0, static_cast<double>(red) - correction));
  for_each_block(outer, red, inner, [&](int64_t o, int64_t c0, int64_t w) {
    Acc mean[kCols], ss[kCols];
    if (inner == 1) {
      mean[0] = fold_row(SumOp<T>{}, x + o * red, red) / n;
      ss[0] = fold_row(SqDevOp<T>(mean[0]), x + o * red, red);
    } else {
      for (int64_t i = 0; i < w; ++i) mean[i] = ss[i] = Acc(0);
      fold(SumOp<T>{}, x, red, inner, o, 0, red, c0, w, mean);
      for (int64_t i = 0; i < w; ++i) mean[i] /= n;
      for (int64_t r = 0; r < red; ++r) {
        const T* row = x + (o * red + r) * inner + c0;
        for (int64_t i = 0; i < w; ++i) {
          const Acc d = static_cast<Acc>(row[i]) - mean[i];
          ss[i] += d * d;
        }
      }
    }
    for (int64_t i = 0; i < w; ++i) {
      const Acc v = ss[i] / divisor;  // divisor 0: NaN (or inf), like PyTorch
      out[o * inner + c0 + i] = static_cast<T>(take_sqrt ? std::sqrt(v) : v);
      if (mean_out) mean_out[o * inner + c0 + i] = static_cast<T>(mean[i]);
    }
  });
}

void var_cpu(const Tensor& out, const Tensor& mean, const Tensor& x, int64_t outer, int64_t red, int64_t inner,
             double correction, bool take_sqrt) {
  DL_DISPATCH_FLOAT(x->dtype(), take_sqrt ? "std" : "var", [&] {
    var_typed<scalar_t>(out_ptr<scalar_t, scalar_t>(out, "var_kernel"),
                        mean ? out_ptr<scalar_t, scalar_t>(mean, "var_kernel") : nullptr, x->data<scalar_t>(),
                        outer, red, inner, correction, take_sqrt);
  });
}

template <typename T>
void logsumexp_typed(T* out, const T* x, int64_t outer, int64_t red, int64_t inner) {
  using Acc = acc_t<T>;
  for_each_block(outer, red, inner, [&](int64_t o, int64_t c0, int64_t w) {
    T m[kCols];
    Acc s[kCols];
    if (inner == 1) {
      m[0] = fold_row(ExtremeOp<T, true>{}, x + o * red, red);
      s[0] = std::isfinite(m[0]) ? fold_row(ExpSumOp<T>(m[0]), x + o * red, red) : Acc(1);
    } else {
      for (int64_t i = 0; i < w; ++i) {
        m[i] = lowest_value<T>();
        s[i] = Acc(0);
      }
      fold(ExtremeOp<T, true>{}, x, red, inner, o, 0, red, c0, w, m);
      T shift[kCols];
      for (int64_t i = 0; i < w; ++i) shift[i] = std::isfinite(m[i]) ? m[i] : T(0);
      for (int64_t r = 0; r < red; ++r) {
        const T* row = x + (o * red + r) * inner + c0;
        for (int64_t i = 0; i < w; ++i) s[i] += static_cast<Acc>(exp_t<T>(row[i] - shift[i]));
      }
    }
    // A non-finite maximum is the answer: -inf (all -inf or empty), +inf, or NaN.
    for (int64_t i = 0; i < w; ++i)
      out[o * inner + c0 + i] = std::isfinite(m[i]) ? static_cast<T>(m[i] + std::log(s[i])) : m[i];
  });
}

void logsumexp_cpu(const Tensor& out, const Tensor& x, int64_t outer, int64_t red, int64_t inner) {
  DL_DISPATCH_FLOAT(x->dtype(), "logsumexp", [&] {
    logsumexp_typed<scalar_t>(out_ptr<scalar_t, scalar_t>(out, "logsumexp_kernel"), x->data<scalar_t>(), outer, red,
                              inner);
  });
}

void norm_cpu(const Tensor& out, const Tensor& x, int64_t outer, int64_t red, int64_t inner, double p) {
  DL_DISPATCH_FLOAT(x->dtype(), "norm", [&] {
    using T = scalar_t;
    T* o = out_ptr<T, T>(out, "norm_kernel");
    const T* xp = x->data<T>();
    if (p == 2) reduce_blocks(SumSqOp<T>{}, o, xp, outer, red, inner);
    else if (p == 1) reduce_blocks(SumAbsOp<T>{}, o, xp, outer, red, inner);
    else if (std::isinf(p) && p > 0) reduce_blocks(AbsExtremeOp<T, true>{}, o, xp, outer, red, inner);
    else if (std::isinf(p)) reduce_blocks(AbsExtremeOp<T, false>{}, o, xp, outer, red, inner);
    else if (p == 0) reduce_blocks(CountNonzeroOp<T>{}, o, xp, outer, red, inner);
    else reduce_blocks(SumPowOp<T>(p), o, xp, outer, red, inner);
  });
}

// A scan is a chain of dependent additions; rows (inner == 1) are scanned kRows at a time,
// side by side, so that the chains overlap. Columns scan w outputs per step (vectorised).
template <typename T>
void cumsum_typed(T* out, const T* x, int64_t outer, int64_t red, int64_t inner, bool reverse) {
  using Acc = acc_t<T>;
  constexpr int64_t kRows = 8;
  const int64_t cols = inner == 1 ? kRows : inner;
  const int64_t groups = inner == 1 ? (outer + kRows - 1) / kRows : outer;
  for_each_block(groups, red, cols, [&](int64_t g, int64_t c0, int64_t w) {
    Acc acc[kCols];
    for (int64_t i = 0; i < w; ++i) acc[i] = Acc(0);
    // Element i of this block at step r: rows g*kRows + i (row case), or row g, column c0 + i.
    const int64_t rows = inner == 1 ? std::min(kRows, outer - g * kRows) : w;
    for (int64_t k = 0; k < red; ++k) {
      const int64_t r = reverse ? red - 1 - k : k;
      if (inner == 1) {
        for (int64_t i = 0; i < rows; ++i) {
          const int64_t at = (g * kRows + i) * red + r;
          acc[i] += static_cast<Acc>(x[at]);
          out[at] = static_cast<T>(acc[i]);
        }
      } else {
        const int64_t at = (g * red + r) * inner + c0;
        for (int64_t i = 0; i < w; ++i) {
          acc[i] += static_cast<Acc>(x[at + i]);
          out[at + i] = static_cast<T>(acc[i]);
        }
      }
    }
  });
}

void cumsum_cpu(const Tensor& out, const Tensor& x, int64_t outer, int64_t red, int64_t inner, bool reverse) {
  DL_DISPATCH_NUMERIC(x->dtype(), "cumsum", [&] {
    cumsum_typed<scalar_t>(out_ptr<scalar_t, scalar_t>(out, "cumsum_kernel"), x->data<scalar_t>(), outer, red, inner,
                           reverse);
  });
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(reduce_kernel, reduce_cpu);
DL_REGISTER_CPU_KERNEL(arg_reduce_kernel, arg_reduce_cpu);
DL_REGISTER_CPU_KERNEL(var_kernel, var_cpu);
DL_REGISTER_CPU_KERNEL(logsumexp_kernel, logsumexp_cpu);
DL_REGISTER_CPU_KERNEL(norm_kernel, norm_cpu);
DL_REGISTER_CPU_KERNEL(cumsum_kernel, cumsum_cpu);

}  // namespace dlcore
