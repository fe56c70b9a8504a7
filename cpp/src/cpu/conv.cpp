// CPU convolution kernels (Note [Convolution geometry] in ops/conv.h). Compiled per CPU
// capability (Note [CPU capability variants] in cpu/loops.h).
//
// Note [Convolution as GEMM]
// For image n and group g, with CK = C/groups * KD*KH*KW and P = OD*OH*OW:
//   forward          y[n, g]  (Kg x P)  = W[g] (Kg x CK) @ col (CK x P)
//   backward input   col      (CK x P)  = W[g]^T @ gy[n, g];  gx[n, g] += col2im(col)
//   backward weight  gW[g]    (Kg x CK) += gy[n, g] (Kg x P) @ col^T, summed over n
// where col = im2col(x[n, g]) holds, in row (c, kd, kh, kw) and column p = (od, oh, ow), the
// input element that tap meets at output p (0 in the padding). The columns are cut into
// chunks of whole output lines (od, oh) so that one chunk of col (CK x lines*OW) stays in L2
// between being written and being read by the GEMM. A 1x1 convolution with stride 1 and no
// padding needs no im2col: col is the image itself (C x P, row stride P).
// Threads: forward chunks are independent (disjoint outputs) and run in parallel over
// (n, g, chunk); backward-input chunks of one image overlap in gx, so threads take whole
// (n, g) slabs (or, for fewer slabs than threads, the GEMM splits itself); backward-weight
// threads each sum their chunks into a private gW that is added under a lock at the end.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <type_traits>
#include <vector>

#include "cpu/conv_cpu.h"
#include "cpu/loops.h"
#include "cpu/vec_math.h"
#include "dlcore/ops.h"
#include "ops/conv.h"
#include "ops/linalg.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {
using namespace conv_cpu;

// Per-thread scratch (im2col chunks), kept between calls: reused pages are cheap to write.
struct Scratch {
  void* ptr = nullptr;
  size_t bytes = 0;
  ~Scratch() { std::free(ptr); }
  template <typename T>
  T* get(int64_t n) {
    const size_t need = (static_cast<size_t>(n) * sizeof(T) + 63) / 64 * 64;
    if (need > bytes) {
      std::free(ptr);
      ptr = std::aligned_alloc(64, need);
      bytes = ptr ? need : 0;
      if (!ptr) throw std::bad_alloc();
    }
    return static_cast<T*>(ptr);
  }
};
thread_local Scratch col_scratch;

// C (m x n, row stride ldc, unit column stride) = A @ B + beta * C, strided A and B.
template <typename T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t ars, int64_t acs, const T* b, int64_t brs,
          int64_t bcs, double beta, T* c, int64_t ldc) {
  GemmArgs g;
  g.dtype = std::is_same<T, float>::value ? DType::Float32 : DType::Float64;
  g.m = m, g.n = n, g.k = k, g.alpha = 1.0, g.beta = beta;
  g.a = {const_cast<T*>(a), 0, ars, acs};
  g.b = {const_cast<T*>(b), 0, brs, bcs};
  g.c = {c, 0, ldc, 1};
  gemm_kernel[Device{}](g);
}


// col (ck x (l1 - l0) * ow, row stride ld) = im2col of output lines [l0, l1) of one group's
// channels x (cg planes of in_plane elements).
template <typename T>
void im2col(const ConvParams& q, const Geometry& g, const T* x, int64_t l0, int64_t l1, T* col, int64_t ld) {
  const int64_t KH = q.kernel[1], KW = q.kernel[2], OH = q.out[1], OW = g.ow;
  const int64_t D = q.in[0], H = q.in[1], W = q.in[2];
  for (int64_t row = 0; row < g.ck; ++row) {
    const int64_t c = row / g.kk, kt = row % g.kk / (KH * KW), kr = row % (KH * KW) / KW, ks = row % KW;
    const int64_t iw0 = ks * q.dilation[2] - q.pad[2];
    int64_t lo, hi;
    valid_range(OW, W, q.stride[2], iw0, lo, hi);
    T* dst = col + row * ld;
    for (int64_t l = l0; l < l1; ++l, dst += OW) {
      const int64_t id = l / OH * q.stride[0] - q.pad[0] + kt * q.dilation[0];
      const int64_t ih = l % OH * q.stride[1] - q.pad[1] + kr * q.dilation[1];
      if (id < 0 || id >= D || ih < 0 || ih >= H) {
        std::fill(dst, dst + OW, T(0));
        continue;
      }
      const T* src = x + (c * D + id) * H * W + ih * W + iw0;
      std::fill(dst, dst + lo, T(0));
      if (q.stride[2] == 1) {
        std::memcpy(dst + lo, src + lo, (hi - lo) * sizeof(T));
      } else {
        const int64_t sw = q.stride[2];
        for (int64_t o = lo; o < hi; ++o) dst[o] = src[o * sw];
      }
      std::fill(dst + hi, dst + OW, T(0));
    }
  }
}

// x (one group's channels) += col2im of col, the adjoint of im2col above.
template <typename T>
void col2im_add(const ConvParams& q, const Geometry& g, const T* col, int64_t ld, int64_t l0, int64_t l1, T* x) {
  const int64_t KH = q.kernel[1], KW = q.kernel[2], OH = q.out[1], OW = g.ow;
  const int64_t D = q.in[0], H = q.in[1], W = q.in[2];
  for (int64_t row = 0; row < g.ck; ++row) {
    const int64_t c = row / g.kk, kt = row % g.kk / (KH * KW), kr = row % (KH * KW) / KW, ks = row % KW;
    const int64_t iw0 = ks * q.dilation[2] - q.pad[2];
    int64_t lo, hi;
    valid_range(OW, W, q.stride[2], iw0, lo, hi);
    const T* src = col + row * ld;
    for (int64_t l = l0; l < l1; ++l, src += OW) {
      const int64_t id = l / OH * q.stride[0] - q.pad[0] + kt * q.dilation[0];
      const int64_t ih = l % OH * q.stride[1] - q.pad[1] + kr * q.dilation[1];
      if (id < 0 || id >= D || ih < 0 || ih >= H) continue;
      T* dst = x + (c * D + id) * H * W + ih * W + iw0;
      if (q.stride[2] == 1) {
        for (int64_t o = lo; o < hi; ++o) dst[o] += src[o];
      } else {
        const int64_t sw = q.stride[2];
        for (int64_t o = lo; o < hi; ++o) dst[o * sw] += src[o];
      }
    }
  }
}

// ---- GEMM-based kernels (Note [Convolution as GEMM]) ---------------------------------------

template <typename T>
void conv_forward_t(const ConvParams& q, T* y, const T* x, const T* w, const T* b) {
  const Geometry g(q);
  if (g.cg == 1) return depthwise_forward(q, g, y, x, w, b);
  const int64_t nt = get_num_threads();
  const int64_t lc = g.chunk_lines(sizeof(T), q.n * q.groups >= nt ? 1 : nt);
  const int64_t chunks = (g.lines + lc - 1) / lc;
  const int64_t items = q.n * q.groups * chunks;
  const int64_t item_work = g.kg * g.ck * lc * g.ow;
  parallel_for(0, items, std::max<int64_t>(1, kParallelWork / std::max<int64_t>(1, item_work)),
               [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / (q.groups * chunks), gi = t / chunks % q.groups, ch = t % chunks;
      const int64_t l0 = ch * lc, l1 = std::min(g.lines, l0 + lc), cols = (l1 - l0) * g.ow;
      const T* xg = x + (n * q.c + gi * g.cg) * g.in_plane;
      T* yg = y + (n * q.k + gi * g.kg) * g.p + l0 * g.ow;
      const T* col = xg + l0 * g.ow;
      int64_t ld = g.p;
      if (!g.pointwise) {
        T* buf = col_scratch.get<T>(g.ck * cols);
        im2col(q, g, xg, l0, l1, buf, cols);
        col = buf, ld = cols;
      }
      gemm<T>(g.kg, cols, g.ck, w + gi * g.kg * g.ck, g.ck, 1, col, ld, 1, 0.0, yg, g.p);
      if (b)
        for (int64_t k = 0; k < g.kg; ++k) {
          const T bk = b[gi * g.kg + k];
          T* row = yg + k * g.p;
          for (int64_t i = 0; i < cols; ++i) row[i] += bk;
        }
    }
  });
}

template <typename T>
void conv_backward_input_t(const ConvParams& q, T* gx, const T* gy, const T* w) {
  const Geometry g(q);
  if (g.cg == 1) return depthwise_backward_input(q, g, gx, gy, w);
  const int64_t nt = get_num_threads();
  const int64_t slabs = q.n * q.groups;
  const bool by_slab = slabs >= nt;  // else each GEMM splits itself over the threads
  const int64_t lc = g.chunk_lines(sizeof(T), 1);
  const int64_t slab_work = g.kg * g.ck * g.p;
  parallel_for(0, slabs, by_slab ? std::max<int64_t>(1, kParallelWork / std::max<int64_t>(1, slab_work)) : INT64_MAX,
               [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / q.groups, gi = t % q.groups;
      T* xg = gx + (n * q.c + gi * g.cg) * g.in_plane;
      const T* yg = gy + (n * q.k + gi * g.kg) * g.p;
      const T* wg = w + gi * g.kg * g.ck;
      if (g.pointwise) {  // gx[n, g] = W[g]^T @ gy[n, g], written directly
        gemm<T>(g.ck, g.p, g.kg, wg, 1, g.ck, yg, g.p, 1, 0.0, xg, g.p);
        continue;
      }
      std::fill(xg, xg + g.cg * g.in_plane, T(0));
      for (int64_t l0 = 0; l0 < g.lines; l0 += lc) {
        const int64_t l1 = std::min(g.lines, l0 + lc), cols = (l1 - l0) * g.ow;
        T* buf = col_scratch.get<T>(g.ck * cols);
        gemm<T>(g.ck, cols, g.kg, wg, 1, g.ck, yg + l0 * g.ow, g.p, 1, 0.0, buf, cols);
        col2im_add(q, g, buf, cols, l0, l1, xg);
      }
    }
  });
}

template <typename T>
void conv_backward_weight_t(const ConvParams& q, T* gw, T* gb, const T* gy, const T* x) {
  const Geometry g(q);
  if (g.cg == 1) return depthwise_backward_weight(q, g, gw, gb, gy, x);
  if (gb)
    parallel_for(0, q.k, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, q.n * g.p)), [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        double s = 0;
        for (int64_t n = 0; n < q.n; ++n) s += lane_sum(gy + (n * q.k + k) * g.p, g.p);
        gb[k] = static_cast<T>(s);
      }
    });
  if (!gw) return;
  const int64_t nt = get_num_threads();
  const int64_t lc = g.chunk_lines(sizeof(T), q.n >= nt ? 1 : nt);
  const int64_t chunks = (g.lines + lc - 1) / lc;
  const int64_t item_work = q.k * g.ck * lc * g.ow;
  const int64_t wsize = q.k * g.ck;  // gW: groups x (Kg x CK) = (K, CK)
  std::fill(gw, gw + wsize, T(0));
  std::mutex merge;
  parallel_for(0, q.n * chunks, std::max<int64_t>(1, kParallelWork / std::max<int64_t>(1, item_work)),
               [&](int64_t t0, int64_t t1) {
    std::vector<T> part(wsize, T(0));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / chunks, l0 = t % chunks * lc;
      const int64_t l1 = std::min(g.lines, l0 + lc), cols = (l1 - l0) * g.ow;
      for (int64_t gi = 0; gi < q.groups; ++gi) {
        const T* xg = x + (n * q.c + gi * g.cg) * g.in_plane;
        const T* yg = gy + (n * q.k + gi * g.kg) * g.p + l0 * g.ow;
        const T* col = xg + l0 * g.ow;
        int64_t ld = g.p;
        if (!g.pointwise) {
          T* buf = col_scratch.get<T>(g.ck * cols);
          im2col(q, g, xg, l0, l1, buf, cols);
          col = buf, ld = cols;
        }
        // part[g] (Kg x CK) += gy chunk (Kg x cols) @ col^T (cols x CK)
        gemm<T>(g.kg, g.ck, cols, yg, g.p, 1, col, 1, ld, 1.0, part.data() + gi * g.kg * g.ck, g.ck);
      }
    }
    std::lock_guard<std::mutex> lock(merge);
    for (int64_t i = 0; i < wsize; ++i) gw[i] += part[i];
  });
}

// ---- dtype dispatch -------------------------------------------------------------------------

template <typename T>
const T* ptr(const Tensor& t) {
  return t ? t->data<T>() : nullptr;
}
template <typename T>
T* mut(const Tensor& t) {
  return t ? t->data<T>() : nullptr;
}

void conv_forward_cpu(const ConvParams& q, const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b) {
  if (y->numel() == 0) return;
  if (x->dtype() == DType::Float64) return conv_forward_t(q, mut<double>(y), ptr<double>(x), ptr<double>(w), ptr<double>(b));
  conv_forward_t(q, mut<float>(y), ptr<float>(x), ptr<float>(w), ptr<float>(b));
}

void conv_backward_input_cpu(const ConvParams& q, const Tensor& gx, const Tensor& gy, const Tensor& w) {
  if (gx->numel() == 0) return;
  if (gy->numel() == 0) return zero_(gx);
  if (gx->dtype() == DType::Float64) return conv_backward_input_t(q, mut<double>(gx), ptr<double>(gy), ptr<double>(w));
  conv_backward_input_t(q, mut<float>(gx), ptr<float>(gy), ptr<float>(w));
}

void conv_backward_weight_cpu(const ConvParams& q, const Tensor& gw, const Tensor& gb, const Tensor& gy,
                              const Tensor& x) {
  if (q.n == 0 || gy->numel() == 0) {
    if (gw) zero_(gw);
    if (gb) zero_(gb);
    return;
  }
  if (gy->dtype() == DType::Float64)
    return conv_backward_weight_t(q, mut<double>(gw), mut<double>(gb), ptr<double>(gy), ptr<double>(x));
  conv_backward_weight_t(q, mut<float>(gw), mut<float>(gb), ptr<float>(gy), ptr<float>(x));
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(conv_forward_kernel, conv_forward_cpu);
DL_REGISTER_CPU_KERNEL(conv_backward_input_kernel, conv_backward_input_cpu);
DL_REGISTER_CPU_KERNEL(conv_backward_weight_kernel, conv_backward_weight_cpu);

}  // namespace dlcore
