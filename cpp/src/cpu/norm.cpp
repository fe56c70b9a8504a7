// CPU kernels of the normalisation layers over contiguous tensors (Note [Norm layouts] in
// ops/norm.h): batch_norm (statistics, normalise, backward), layer_norm and group_norm
// (forward, backward), local_response_norm (forward, backward).
//
// Note [CPU norm statistics]
// Mean and variance come from one pass of shifted sums, s = sum(x - k) and q = sum((x - k)^2)
// with k the first value of the run: var = q/n - (s/n)^2 loses little to cancellation while
// the spread is not far below |mean - k|, which the shift keeps small.
// Accuracy of the sums (float32 included): they run in T, in two vector registers of W lanes
// each, over blocks of kSumBlock values, so a lane adds about kSumBlock / (2 W) terms (16 with
// AVX-512, 32 with AVX2, 64 with SSE2); the 2 W lanes of a block are then added as a tree, and
// the block totals (and the scalar tails of runs, < W values) in acc_t<T> (double for
// float32). The rounding error is thus about (kSumBlock / (2 W) + log2(2 W)) u times the sum
// of |terms| whatever the run's length (768 or 65536 values alike), instead of the n u of one
// running sum: for float32 at most ~4e-6 relative to the sum of |terms| (tests/test_norm.py
// checks runs of 65536 values centred at 100). float64 keeps the same scheme in double.
// Each forward/backward then writes y = (x - mean) * a + b with per-row (or per-channel)
// constants a, b: subtracting the mean first keeps y exact where x == mean (rows of one value).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/reduce.h"
#include "cpu/vec_math.h"
#include "dlcore/parallel.h"
#include "ops/norm.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {

using reduce_detail::acc_t;
using reduce_detail::kGrain;

// Lambdas passed to the hot loops are forced inline too (see DL_VEC_INLINE in cpu/vec_math.h).
#define DL_VEC_INLINE_LAMBDA __attribute__((always_inline))

// One vector register of T for this capability level (cpu/vec_math.h).
template <typename T> using vec_t = typename VecOf<T>::type;
template <typename T> constexpr int64_t kLanes = kVecBytes / sizeof(T);

// load<V>(p): *p when V is the scalar T, else W values from p (unaligned); store likewise.
// The sum terms below are generic lambdas over V, so one body serves vectors and the tail.
template <typename V, typename T>
DL_VEC_INLINE V load(const T* p) {
  if constexpr (std::is_same_v<V, T>) {
    return *p;
  } else {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  }
}
template <typename V, typename T>
DL_VEC_INLINE void store(T* p, const V& v) {
  if constexpr (std::is_same_v<V, T>) {
    *p = v;
  } else {
    std::memcpy(p, &v, sizeof(V));
  }
}

// The sum of a vector's lanes, as a tree.
template <typename T>
DL_VEC_INLINE T lane_sum(const vec_t<T>& v) {
  T lanes[kLanes<T>];
  std::memcpy(lanes, &v, sizeof(v));
  for (int64_t w = kLanes<T> / 2; w >= 1; w /= 2)
    for (int64_t k = 0; k < w; ++k) lanes[k] += lanes[k + w];
  return lanes[0];
}

// s1 += sum(u), s2 += sum(v) over `runs` runs of `len` values, run r starting at offset
// r * stride: term(at, u, v) sets the terms of the values at offsets at .. at + W - 1 (u, v of
// vec_t<T>) or of the value at `at` alone (u, v of T). The vector lanes go into the Acc sums
// every kSumBlock values (Note [CPU norm statistics]); so do each run's scalar tail (< W
// values), and lanes keep accumulating across runs, so short runs (batch_norm on 4x4 maps)
// stay vectorised.
constexpr int64_t kSumBlock = 512;

template <typename T, typename Term>
DL_VEC_INLINE void pair_sums(int64_t runs, int64_t len, int64_t stride, Term term, acc_t<T>& s1, acc_t<T>& s2) {
  using V = vec_t<T>;
  using Acc = acc_t<T>;
  constexpr int64_t W = kLanes<T>;
  static_assert(kSumBlock % (2 * W) == 0, "a block is whole pairs of vectors");
  V a1 = {}, a2 = {}, b1 = {}, b2 = {}, u, v;
  int64_t filled = 0;  // values in the lanes since they were last added into s1, s2
  auto flush = [&]() DL_VEC_INLINE_LAMBDA {
    s1 += static_cast<Acc>(lane_sum<T>(a1 + b1));
    s2 += static_cast<Acc>(lane_sum<T>(a2 + b2));
    a1 = a2 = b1 = b2 = V{};
    filled = 0;
  };
  for (int64_t r = 0; r < runs; ++r) {
    const int64_t base = r * stride;
    int64_t i = 0;
    while (len - i >= W) {
      if (filled == kSumBlock) flush();
      const int64_t e = i + std::min(len - i, kSumBlock - filled) / W * W;
      filled += e - i;
      for (; i + 2 * W <= e; i += 2 * W) {
        term(base + i, u, v);
        a1 += u;
        a2 += v;
        term(base + i + W, u, v);
        b1 += u;
        b2 += v;
      }
      if (i < e) {  // one vector left: into a, then a and b trade places to stay balanced
        term(base + i, u, v);
        a1 += u;
        a2 += v;
        std::swap(a1, b1);
        std::swap(a2, b2);
        i += W;
      }
    }
    if (i < len) {
      T t1 = 0, t2 = 0;
      for (; i < len; ++i) {
        T x, y;
        term(base + i, x, y);
        t1 += x;
        t2 += y;
      }
      s1 += static_cast<Acc>(t1);
      s2 += static_cast<Acc>(t2);
    }
  }
  if (filled) flush();
}

// One run of n contiguous values.
template <typename T, typename Term>
DL_VEC_INLINE void pair_sums(int64_t n, Term term, acc_t<T>& s1, acc_t<T>& s2) {
  pair_sums<T>(1, n, 0, term, s1, s2);
}

// The V of a generic term lambda's output argument.
#define DL_TERM_TYPE(u) std::remove_reference_t<decltype(u)>

// s += sum(p[at] - shift), q += sum((p[at] - shift)^2) over the runs of pair_sums (by default
// one run of n values); shift is a value of T (the first value), so p[at] - shift is exact
// near the shift.
template <typename T>
DL_VEC_INLINE void shifted_sums(const T* p, int64_t n, T shift, acc_t<T>& s, acc_t<T>& q, int64_t runs = 1,
                                int64_t stride = 0) {
  pair_sums<T>(runs, n, stride, [&](int64_t at, auto& u, auto& v) DL_VEC_INLINE_LAMBDA {
    u = load<DL_TERM_TYPE(u)>(p + at) - shift;
    v = u * u;
  }, s, q);
}

// sg += sum(g * w), sgx += sum(g * w * (x - m)) over the runs of pair_sums (by default one
// run of n values); w (one run only) null: 1.
template <typename T>
DL_VEC_INLINE void grad_sums(const T* g, const T* x, int64_t n, T m, acc_t<T>& sg, acc_t<T>& sgx,
                             const T* w = nullptr, int64_t runs = 1, int64_t stride = 0) {
  if (w) {
    pair_sums<T>(n, [&](int64_t i, auto& u, auto& v) DL_VEC_INLINE_LAMBDA {
      using V = DL_TERM_TYPE(u);
      u = load<V>(g + i) * load<V>(w + i);
      v = u * (load<V>(x + i) - m);
    }, sg, sgx);
  } else {
    pair_sums<T>(runs, n, stride, [&](int64_t at, auto& u, auto& v) DL_VEC_INLINE_LAMBDA {
      using V = DL_TERM_TYPE(u);
      u = load<V>(g + at);
      v = u * (load<V>(x + at) - m);
    }, sg, sgx);
  }
}

// y[i] = (x[i] - m) * a + b.
template <typename T>
DL_VEC_INLINE void affine_run(T* y, const T* x, int64_t n, T m, T a, T b) {
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * a + b;
}

// The variance q/n - (s/n)^2 of shifted sums, clamped at 0 against rounding. NaN stays NaN
// (std::max(Acc(0), NaN) would be 0): a NaN or inf value makes its group's variance NaN, and so
// its output, as in PyTorch.
template <typename Acc>
DL_VEC_INLINE Acc shifted_var(Acc s, Acc q, int64_t n) {
  const Acc ms = s / static_cast<Acc>(n);
  const Acc v = q / static_cast<Acc>(n) - ms * ms;
  return v < Acc(0) ? Acc(0) : v;
}

// (mean, 1 / sqrt(var + eps)) of n values from their shifted sums.
template <typename Acc>
void finish_stats(Acc shift, Acc s, Acc q, int64_t n, double eps, Acc& mean, Acc& rstd) {
  const Acc ms = s / static_cast<Acc>(n);
  const Acc var = shifted_var(s, q, n);
  mean = shift + ms;
  rstd = Acc(1) / std::sqrt(var + static_cast<Acc>(eps));
}

template <typename T> const T* ptr_or_null(const Tensor& t) { return t ? t->data<T>() : nullptr; }
template <typename T> T* mut_or_null(const Tensor& t) { return t ? t->data<T>() : nullptr; }

// ---- batch_norm ---------------------------------------------------------------------------------

struct NCS {
  int64_t N, C, S;
};
NCS ncs_of(const Tensor& x) {
  const int64_t N = x->size(0), C = x->size(1);
  return {N, C, N * C > 0 ? x->numel() / (N * C) : 0};
}

// x: (N, C, S); mean, var: (C). Channels in parallel; (N, C) inputs (S == 1) sweep the rows
// with one accumulator per channel instead.
template <typename T>
void bn_stats_typed(const T* x, T* mean, T* var, NCS d) {
  using Acc = acc_t<T>;
  const int64_t count = d.N * d.S;
  if (d.S == 1) {
    std::vector<Acc> s(d.C, Acc(0)), q(d.C, Acc(0)), shift(d.C);
    for (int64_t c = 0; c < d.C; ++c) shift[c] = static_cast<Acc>(x[c]);
    for (int64_t n = 0; n < d.N; ++n) {
      const T* row = x + n * d.C;
      for (int64_t c = 0; c < d.C; ++c) {
        const Acc v = static_cast<Acc>(row[c]) - shift[c];
        s[c] += v;
        q[c] += v * v;
      }
    }
    for (int64_t c = 0; c < d.C; ++c) {
      mean[c] = static_cast<T>(shift[c] + s[c] / count);
      var[c] = static_cast<T>(shifted_var(s[c], q[c], count));
    }
    return;
  }
  parallel_for(0, d.C, std::max<int64_t>(1, kGrain / count), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const T shift = x[c * d.S];
      Acc s = 0, q = 0;
      shifted_sums(x + c * d.S, d.S, shift, s, q, d.N, d.C * d.S);
      mean[c] = static_cast<T>(static_cast<Acc>(shift) + s / count);
      var[c] = static_cast<T>(shifted_var(s, q, count));
    }
  });
}

// Per-channel a = invstd * w, b = bias (Note [CPU norm statistics]).
template <typename T>
void bn_coefficients(const T* invstd, const T* w, const T* b, int64_t C, std::vector<T>& a, std::vector<T>& c0) {
  a.resize(C);
  c0.resize(C);
  for (int64_t c = 0; c < C; ++c) {
    a[c] = invstd[c] * (w ? w[c] : T(1));
    c0[c] = b ? b[c] : T(0);
  }
}

// y, x: (N, C, S).
template <typename T>
void bn_apply_typed(T* y, const T* x, const T* mean, const T* invstd, const T* w, const T* b, NCS d) {
  std::vector<T> a, c0;
  bn_coefficients(invstd, w, b, d.C, a, c0);
  if (d.S == 1) {
    parallel_for(0, d.N, std::max<int64_t>(1, kGrain / d.C), [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t c = 0; c < d.C; ++c) y[n * d.C + c] = (x[n * d.C + c] - mean[c]) * a[c] + c0[c];
    });
    return;
  }
  parallel_for(0, d.N * d.C, std::max<int64_t>(1, kGrain / d.S), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r % d.C;
      affine_run(y + r * d.S, x + r * d.S, d.S, mean[c], a[c], c0[c]);
    }
  });
}

// Note [Batch norm backward]
// With k = w * invstd, training: grad_x = k * g + c1 * (x - mean) + c0 where
// c1 = -k * invstd^2 * sum(g * (x - mean)) / count and c0 = -k * sum(g) / count;
// eval: grad_x = k * g. grad_weight = sum(g * (x - mean)) * invstd, grad_bias = sum(g).
template <typename T>
void bn_backward_typed(bool training, T* gx, T* gw, T* gb, const T* g, const T* x, const T* mean,
                       const T* invstd, const T* w, NCS d) {
  using Acc = acc_t<T>;
  const int64_t count = d.N * d.S;
  const bool need_sums = training || gw || gb;
  auto finish = [&](int64_t c, Acc sg, Acc sgx, T& k, T& c1, T& c0) {
    const Acc is = static_cast<Acc>(invstd[c]);
    if (gw) gw[c] = static_cast<T>(sgx * is);
    if (gb) gb[c] = static_cast<T>(sg);
    const Acc kk = is * (w ? static_cast<Acc>(w[c]) : Acc(1));
    Acc cc1 = 0, cc0 = 0;
    if (training) {
      cc1 = -kk * is * is * sgx / count;
      cc0 = -kk * sg / count;
    }
    k = static_cast<T>(kk);
    c1 = static_cast<T>(cc1);
    c0 = static_cast<T>(cc0);
  };
  if (d.S == 1) {
    std::vector<Acc> sg(d.C, Acc(0)), sgx(d.C, Acc(0));
    if (need_sums)
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t c = 0; c < d.C; ++c) {
          const Acc gv = static_cast<Acc>(g[n * d.C + c]);
          sg[c] += gv;
          sgx[c] += gv * (static_cast<Acc>(x[n * d.C + c]) - static_cast<Acc>(mean[c]));
        }
    std::vector<T> k(d.C), c1(d.C), c0(d.C);
    for (int64_t c = 0; c < d.C; ++c) finish(c, sg[c], sgx[c], k[c], c1[c], c0[c]);
    if (gx)
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t c = 0; c < d.C; ++c)
          gx[n * d.C + c] = k[c] * g[n * d.C + c] + c1[c] * (x[n * d.C + c] - mean[c]) + c0[c];
    return;
  }
  parallel_for(0, d.C, std::max<int64_t>(1, kGrain / count), [&](int64_t ca, int64_t cb) {
    for (int64_t c = ca; c < cb; ++c) {
      Acc sg = 0, sgx = 0;
      const T m = mean[c];
      if (need_sums) grad_sums<T>(g + c * d.S, x + c * d.S, d.S, m, sg, sgx, nullptr, d.N, d.C * d.S);
      T k, c1, c0;
      finish(c, sg, sgx, k, c1, c0);
      if (!gx) continue;
      const T mc = mean[c];
      for (int64_t n = 0; n < d.N; ++n) {
        const int64_t at = (n * d.C + c) * d.S;
        const T* gr = g + at;
        const T* xr = x + at;
        T* out = gx + at;
        for (int64_t i = 0; i < d.S; ++i) out[i] = k * gr[i] + c1 * (xr[i] - mc) + c0;
      }
    }
  });
}

void bn_stats_cpu(const Tensor& x, const Tensor& mean, const Tensor& var) {
  DL_DISPATCH_FLOAT(x->dtype(), "batch_norm", [&] {
    bn_stats_typed<scalar_t>(x->data<scalar_t>(), mean->data<scalar_t>(), var->data<scalar_t>(), ncs_of(x));
  });
}

void bn_apply_cpu(const Tensor& y, const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& w,
                  const Tensor& b) {
  DL_DISPATCH_FLOAT(x->dtype(), "batch_norm", [&] {
    bn_apply_typed<scalar_t>(y->data<scalar_t>(), x->data<scalar_t>(), mean->data<scalar_t>(),
                             invstd->data<scalar_t>(), ptr_or_null<scalar_t>(w), ptr_or_null<scalar_t>(b), ncs_of(x));
  });
}

void bn_backward_cpu(bool training, const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g,
                     const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& w) {
  DL_DISPATCH_FLOAT(x->dtype(), "batch_norm_backward", [&] {
    bn_backward_typed<scalar_t>(training, mut_or_null<scalar_t>(gx), mut_or_null<scalar_t>(gw),
                                mut_or_null<scalar_t>(gb), g->data<scalar_t>(), x->data<scalar_t>(),
                                mean->data<scalar_t>(), invstd->data<scalar_t>(), ptr_or_null<scalar_t>(w), ncs_of(x));
  });
}

// ---- layer_norm ---------------------------------------------------------------------------------

// y, x: (M, D); w, b: (D) or null; mean, rstd: (M).
template <typename T>
void ln_forward_typed(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t M, int64_t D, double eps) {
  using Acc = acc_t<T>;
  parallel_for(0, M, std::max<int64_t>(1, kGrain / D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * D;
      T* yr = y + r * D;
      const T shift = xr[0];
      Acc s = 0, q = 0, m, rs;
      shifted_sums(xr, D, shift, s, q);
      finish_stats(static_cast<Acc>(shift), s, q, D, eps, m, rs);
      mean[r] = static_cast<T>(m);
      rstd[r] = static_cast<T>(rs);
      const T a = static_cast<T>(rs), mt = static_cast<T>(m);
      if (w && b) {
        for (int64_t i = 0; i < D; ++i) yr[i] = ((xr[i] - mt) * a) * w[i] + b[i];
      } else if (w) {
        for (int64_t i = 0; i < D; ++i) yr[i] = ((xr[i] - mt) * a) * w[i];
      } else if (b) {
        for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] - mt) * a + b[i];
      } else {
        affine_run(yr, xr, D, mt, a, T(0));
      }
    }
  });
}

// Note [Layer norm backward]
// Per row, with xhat = (x - mean) * rstd and gh = g * w:
//   grad_x = rstd * (gh - sum(gh) / D - xhat * sum(gh * xhat) / D) = (rstd * w) * g + c1 * (x - mean) + c0.
// grad_weight = sum over rows of g * xhat and grad_bias = sum of g, accumulated per thread
// chunk: in T over blocks of kLnBlock rows, then into a double buffer (float32), then the
// chunks are added in order, so results do not depend on timing.
constexpr int64_t kLnBlock = 32;

template <typename T>
void ln_backward_typed(T* gx, T* gw, T* gb, const T* g, const T* x, const T* mean, const T* rstd, const T* w,
                       int64_t M, int64_t D) {
  using Acc = acc_t<T>;
  const bool need_wb = gw || gb;
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), M * D / kGrain));
  std::vector<std::vector<Acc>> acc_w(need_wb ? chunks : 0), acc_b(need_wb ? chunks : 0);
  parallel_for(0, chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t r0 = M * k / chunks, r1 = M * (k + 1) / chunks;
      std::vector<T> bw, bb;
      if (need_wb) {
        acc_w[k].assign(D, Acc(0));
        acc_b[k].assign(D, Acc(0));
        bw.assign(D, T(0));
        bb.assign(D, T(0));
      }
      std::vector<T> ones(need_wb && !w ? D : 0, T(1));
      T* pw = bw.data();
      T* pb = bb.data();
      for (int64_t r = r0; r < r1; ++r) {
        const T* gr = g + r * D;
        const T* xr = x + r * D;
        const T m = mean[r], rs = rstd[r];
        Acc sa = 0, sb = 0;  // sum(gh), sum(gh * (x - mean))
        if (need_wb) {
          // One sweep: the row sums and this row's share of grad_weight/grad_bias.
          const T* wv = w ? w : ones.data();
          pair_sums<T>(D, [&](int64_t i, auto& u, auto& v) DL_VEC_INLINE_LAMBDA {
            using V = DL_TERM_TYPE(u);
            const V gi = load<V>(gr + i), xc = load<V>(xr + i) - m;
            store(pw + i, load<V>(pw + i) + gi * (xc * rs));
            store(pb + i, load<V>(pb + i) + gi);
            u = gi * load<V>(wv + i);
            v = u * xc;
          }, sa, sb);
          if ((r - r0) % kLnBlock == kLnBlock - 1 || r == r1 - 1) {
            Acc* aw = acc_w[k].data();
            Acc* ab = acc_b[k].data();
            for (int64_t i = 0; i < D; ++i) {
              aw[i] += static_cast<Acc>(pw[i]);
              ab[i] += static_cast<Acc>(pb[i]);
              pw[i] = T(0);
              pb[i] = T(0);
            }
          }
        } else {
          grad_sums(gr, xr, D, m, sa, sb, w);
        }
        if (!gx) continue;
        const Acc ars = static_cast<Acc>(rs);
        const T c1 = static_cast<T>(-ars * ars * ars * sb / D);
        const T c0 = static_cast<T>(-ars * sa / D);
        T* out = gx + r * D;
        if (w) {
          for (int64_t i = 0; i < D; ++i) out[i] = (rs * w[i]) * gr[i] + c1 * (xr[i] - m) + c0;
        } else {
          for (int64_t i = 0; i < D; ++i) out[i] = rs * gr[i] + c1 * (xr[i] - m) + c0;
        }
      }
    }
  });
  if (!need_wb) return;
  for (int64_t i = 0; i < D; ++i) {
    Acc sw = 0, sb = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      sw += acc_w[k][i];
      sb += acc_b[k][i];
    }
    if (gw) gw[i] = static_cast<T>(sw);
    if (gb) gb[i] = static_cast<T>(sb);
  }
}

void ln_forward_cpu(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                    const Tensor& b, double eps) {
  const int64_t M = mean->numel(), D = x->numel() / M;
  DL_DISPATCH_FLOAT(x->dtype(), "layer_norm", [&] {
    ln_forward_typed<scalar_t>(y->data<scalar_t>(), mean->data<scalar_t>(), rstd->data<scalar_t>(),
                               x->data<scalar_t>(), ptr_or_null<scalar_t>(w), ptr_or_null<scalar_t>(b), M, D, eps);
  });
}

void ln_backward_cpu(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g, const Tensor& x,
                     const Tensor& mean, const Tensor& rstd, const Tensor& w) {
  const int64_t M = mean->numel(), D = x->numel() / M;
  DL_DISPATCH_FLOAT(x->dtype(), "layer_norm_backward", [&] {
    ln_backward_typed<scalar_t>(mut_or_null<scalar_t>(gx), mut_or_null<scalar_t>(gw), mut_or_null<scalar_t>(gb),
                                g->data<scalar_t>(), x->data<scalar_t>(), mean->data<scalar_t>(),
                                rstd->data<scalar_t>(), ptr_or_null<scalar_t>(w), M, D);
  });
}

// ---- group_norm ---------------------------------------------------------------------------------

// y, x: (N, C, S); w, b: (C) or null; mean, rstd: (N, G). Group g of sample n is the
// contiguous block x[n, g * Cg : (g + 1) * Cg, :].
template <typename T>
void gn_forward_typed(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, NCS d, int64_t G, double eps) {
  using Acc = acc_t<T>;
  const int64_t Cg = d.C / G, D = Cg * d.S;
  parallel_for(0, d.N * G, std::max<int64_t>(1, kGrain / D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * D;
      const T shift = xr[0];
      Acc s = 0, q = 0, m, rs;
      shifted_sums(xr, D, shift, s, q);
      finish_stats(static_cast<Acc>(shift), s, q, D, eps, m, rs);
      mean[r] = static_cast<T>(m);
      rstd[r] = static_cast<T>(rs);
      const int64_t c0 = (r % G) * Cg;
      for (int64_t j = 0; j < Cg; ++j) {
        const Acc a = rs * (w ? static_cast<Acc>(w[c0 + j]) : Acc(1));
        const T bb = b ? b[c0 + j] : T(0);
        affine_run(y + r * D + j * d.S, xr + j * d.S, d.S, static_cast<T>(m), static_cast<T>(a), bb);
      }
    }
  });
}

// Note [Group norm backward]
// Per (n, g) with D = Cg * S values: per channel sg[c] = sum_s g and sgx[c] = sum_s g * (x - mean);
// A = sum_c w[c] * sg[c], B = sum_c w[c] * sgx[c]; grad_x = rstd * w[c] * g + c1 * (x - mean) + c0
// with c1 = -rstd^3 * B / D and c0 = -rstd * A / D. grad_weight[c] = sum_n sgx * rstd,
// grad_bias[c] = sum_n sg, reduced over n in order after the parallel part.
template <typename T>
void gn_backward_typed(T* gx, T* gw, T* gb, const T* g, const T* x, const T* mean, const T* rstd, const T* w,
                       NCS d, int64_t G) {
  using Acc = acc_t<T>;
  const int64_t Cg = d.C / G, D = Cg * d.S;
  std::vector<Acc> sg(d.N * d.C), sgx(d.N * d.C);  // (N, C)
  parallel_for(0, d.N * G, std::max<int64_t>(1, kGrain / D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / G, c0 = (r % G) * Cg;
      const T m = mean[r];
      const Acc rs = static_cast<Acc>(rstd[r]);
      Acc A = 0, B = 0;
      for (int64_t j = 0; j < Cg; ++j) {
        Acc a = 0, bsum = 0;
        grad_sums(g + r * D + j * d.S, x + r * D + j * d.S, d.S, m, a, bsum);
        sg[n * d.C + c0 + j] = a;
        sgx[n * d.C + c0 + j] = bsum;
        const Acc wc = w ? static_cast<Acc>(w[c0 + j]) : Acc(1);
        A += wc * a;
        B += wc * bsum;
      }
      if (!gx) continue;
      const Acc c1 = -rs * rs * rs * B / D, cc0 = -rs * A / D;
      const T t1 = static_cast<T>(c1), t0 = static_cast<T>(cc0), mt = static_cast<T>(m);
      for (int64_t j = 0; j < Cg; ++j) {
        const T k = static_cast<T>(rs * (w ? static_cast<Acc>(w[c0 + j]) : Acc(1)));
        const int64_t at = r * D + j * d.S;
        const T* gr = g + at;
        const T* xr = x + at;
        T* out = gx + at;
        for (int64_t i = 0; i < d.S; ++i) out[i] = k * gr[i] + t1 * (xr[i] - mt) + t0;
      }
    }
  });
  for (int64_t c = 0; c < d.C; ++c) {
    Acc aw = 0, ab = 0;
    for (int64_t n = 0; n < d.N; ++n) {
      aw += sgx[n * d.C + c] * static_cast<Acc>(rstd[n * G + c / Cg]);
      ab += sg[n * d.C + c];
    }
    if (gw) gw[c] = static_cast<T>(aw);
    if (gb) gb[c] = static_cast<T>(ab);
  }
}

void gn_forward_cpu(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                    const Tensor& b, int64_t groups, double eps) {
  DL_DISPATCH_FLOAT(x->dtype(), "group_norm", [&] {
    gn_forward_typed<scalar_t>(y->data<scalar_t>(), mean->data<scalar_t>(), rstd->data<scalar_t>(),
                               x->data<scalar_t>(), ptr_or_null<scalar_t>(w), ptr_or_null<scalar_t>(b), ncs_of(x),
                               groups, eps);
  });
}

void gn_backward_cpu(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g, const Tensor& x,
                     const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t groups) {
  DL_DISPATCH_FLOAT(x->dtype(), "group_norm_backward", [&] {
    gn_backward_typed<scalar_t>(mut_or_null<scalar_t>(gx), mut_or_null<scalar_t>(gw), mut_or_null<scalar_t>(gb),
                                g->data<scalar_t>(), x->data<scalar_t>(), mean->data<scalar_t>(),
                                rstd->data<scalar_t>(), ptr_or_null<scalar_t>(w), ncs_of(x), groups);
  });
}

// ---- local_response_norm ------------------------------------------------------------------------

// p[i] = s[i]^-beta; beta = 0.75 (the default) as 1 / (sqrt(s) * sqrt(sqrt(s))), which vectorises.
template <typename T>
DL_VEC_INLINE void pow_neg_run(T* p, const T* s, int64_t n, T beta) {
  if (beta == T(0.75)) {
    for (int64_t i = 0; i < n; ++i) {
      const T r = std::sqrt(s[i]);
      p[i] = T(1) / (r * std::sqrt(r));
    }
  } else {
    for (int64_t i = 0; i < n; ++i) p[i] = std::pow(s[i], -beta);
  }
}

// The channel window of output c is [c - size/2, c + (size-1)/2] clipped to [0, C).
struct Window {
  int64_t lo, hi;  // inclusive
};
inline Window window_of(int64_t c, int64_t before, int64_t after, int64_t C) {
  return {std::max<int64_t>(0, c - before), std::min<int64_t>(C - 1, c + after)};
}

// The work of one sample: per = C * S outputs, each summing at most min(size, C) values (size
// may be anything up to INT64_MAX: PyTorch allows windows wider than the channels).
inline int64_t lrn_grain(NCS d, int64_t size) {
  return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, d.C * d.S * std::min(size, d.C)));
}

// y, scale, x: (N, C, S). Samples in parallel.
template <typename T>
void lrn_forward_typed(T* y, T* scale, const T* x, NCS d, int64_t size, double alpha, double beta, double k) {
  const int64_t before = size / 2, after = (size - 1) / 2;
  const T coef = static_cast<T>(alpha / static_cast<double>(size)), kk = static_cast<T>(k), be = static_cast<T>(beta);
  const int64_t per = d.C * d.S;
  parallel_for(0, d.N, lrn_grain(d, size), [&](int64_t n0, int64_t n1) {
    std::vector<T> acc(d.S), p(d.S);
    for (int64_t n = n0; n < n1; ++n) {
      const T* xn = x + n * per;
      for (int64_t c = 0; c < d.C; ++c) {
        std::fill(acc.begin(), acc.end(), T(0));
        const Window win = window_of(c, before, after, d.C);
        for (int64_t j = win.lo; j <= win.hi; ++j) {
          const T* xj = xn + j * d.S;
          for (int64_t i = 0; i < d.S; ++i) acc[i] += xj[i] * xj[i];
        }
        T* sc = scale + n * per + c * d.S;
        for (int64_t i = 0; i < d.S; ++i) sc[i] = kk + coef * acc[i];
        pow_neg_run(p.data(), sc, d.S, be);
        const T* xc = xn + c * d.S;
        T* yc = y + n * per + c * d.S;
        for (int64_t i = 0; i < d.S; ++i) yc[i] = xc[i] * p[i];
      }
    }
  });
}

// Note [LRN backward]
// y_j = x_j * scale_j^-beta with scale_j = k + alpha/size * sum_{i in win(j)} x_i^2, so
// grad_x_i = g_i * scale_i^-beta - 2 alpha beta / size * x_i * sum_{j : i in win(j)} t_j,
// t_j = g_j * x_j * scale_j^(-beta-1). i is in win(j) iff j is in [i - (size-1)/2, i + size/2].
template <typename T>
void lrn_backward_typed(T* gx, const T* g, const T* x, const T* scale, NCS d, int64_t size, double alpha,
                        double beta) {
  const int64_t before = size / 2, after = (size - 1) / 2;
  const T coef = static_cast<T>(2.0 * alpha * beta / static_cast<double>(size)), be = static_cast<T>(beta);
  const int64_t per = d.C * d.S;
  parallel_for(0, d.N, lrn_grain(d, size), [&](int64_t n0, int64_t n1) {
    std::vector<T> t(per), p(per), acc(d.S);
    for (int64_t n = n0; n < n1; ++n) {
      const T* gn = g + n * per;
      const T* xn = x + n * per;
      const T* sn = scale + n * per;
      pow_neg_run(p.data(), sn, per, be);
      for (int64_t i = 0; i < per; ++i) t[i] = gn[i] * xn[i] * p[i] / sn[i];
      for (int64_t c = 0; c < d.C; ++c) {
        std::fill(acc.begin(), acc.end(), T(0));
        const Window win = window_of(c, after, before, d.C);
        for (int64_t j = win.lo; j <= win.hi; ++j) {
          const T* tj = t.data() + j * d.S;
          for (int64_t i = 0; i < d.S; ++i) acc[i] += tj[i];
        }
        const int64_t at = c * d.S;
        T* out = gx + n * per + at;
        for (int64_t i = 0; i < d.S; ++i) out[i] = gn[at + i] * p[at + i] - coef * xn[at + i] * acc[i];
      }
    }
  });
}

void lrn_forward_cpu(const Tensor& y, const Tensor& scale, const Tensor& x, int64_t size, double alpha, double beta,
                     double k) {
  DL_DISPATCH_FLOAT(x->dtype(), "local_response_norm", [&] {
    lrn_forward_typed<scalar_t>(y->data<scalar_t>(), scale->data<scalar_t>(), x->data<scalar_t>(), ncs_of(x), size,
                                alpha, beta, k);
  });
}

void lrn_backward_cpu(const Tensor& gx, const Tensor& g, const Tensor& x, const Tensor& scale, int64_t size,
                      double alpha, double beta) {
  DL_DISPATCH_FLOAT(x->dtype(), "local_response_norm_backward", [&] {
    lrn_backward_typed<scalar_t>(gx->data<scalar_t>(), g->data<scalar_t>(), x->data<scalar_t>(),
                                 scale->data<scalar_t>(), ncs_of(x), size, alpha, beta);
  });
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(batch_norm_stats_kernel, bn_stats_cpu);
DL_REGISTER_CPU_KERNEL(batch_norm_apply_kernel, bn_apply_cpu);
DL_REGISTER_CPU_KERNEL(batch_norm_backward_kernel, bn_backward_cpu);
DL_REGISTER_CPU_KERNEL(layer_norm_kernel, ln_forward_cpu);
DL_REGISTER_CPU_KERNEL(layer_norm_backward_kernel, ln_backward_cpu);
DL_REGISTER_CPU_KERNEL(group_norm_kernel, gn_forward_cpu);
DL_REGISTER_CPU_KERNEL(group_norm_backward_kernel, gn_backward_cpu);
DL_REGISTER_CPU_KERNEL(lrn_kernel, lrn_forward_cpu);
DL_REGISTER_CPU_KERNEL(lrn_backward_kernel, lrn_backward_cpu);

}  // namespace dlcore
