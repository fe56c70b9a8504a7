// CPU pooling kernels over contiguous (NC, D, H, W) planes (Note [Pool layout] in ops/pool.h),
// forward and backward. Planes run in parallel; within a plane each output row (od, oh) is
// built in small per-row buffers while sweeping the window positions (kd, kh, kw) in order,
// so the inner loop runs over the output width and vectorises (strides 1 and 2 are
// specialised so the loads are not gathers).
#include "ops/pool.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/loops.h"
#include "dlcore/parallel.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {

constexpr int64_t kWork = 16384;  // elements touched per parallel chunk at least

int64_t plane_grain(int64_t per_plane) { return std::max<int64_t>(1, kWork / std::max<int64_t>(1, per_plane)); }

// Output columns [lo, hi) whose input column ow * s + off lies in [0, in).
inline void valid_cols(int64_t off, int64_t s, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + s - 1) / s;
  hi = in - 1 - off >= 0 ? std::min(out, (in - 1 - off) / s + 1) : 0;
  if (hi < lo) hi = lo;
}

// Taps [k0, k1) of a window dim (input size `in`, `out` positions) that reach the input for some
// output position o * stride - pad + k * dil: a kernel may be far larger than the input when
// the padding is large, and the taps in the padding alone must not cost a loop iteration each.
inline void live_taps(int64_t in, int64_t out, int64_t stride, int64_t pad, int64_t dil, int64_t kernel,
                      int64_t& k0, int64_t& k1) {
  const int64_t reach = (out - 1) * stride;  // <= the padded input size (the output size check)
  k0 = pad > reach ? (pad - reach + dil - 1) / dil : 0;
  k1 = std::min(kernel, (in - 1 + pad) / dil + 1);
  if (k1 < k0) k1 = k0;
}

// The first in-input position of a window starting at `start` (step `dil`), or `start` when it
// is inside already.
inline int64_t first_inside(int64_t start, int64_t dil) {
  return start < 0 ? start + (-start + dil - 1) / dil * dil : start;
}

// ---- max pool --------------------------------------------------------------------------------
// x: (ID, IH, IW) one plane; y, yi: (OD, OH, OW). m / id: OW-long row buffers. I is the index
// type inside the row (int32 for float planes below 2^31 elements, so it vectorises with T).
template <typename T, typename I, int S>
void max_pool_plane(const T* x, T* y, int64_t* yi, const PoolParams& p, T* m, I* id) {
  const int64_t IH = p.in[1], IW = p.in[2], OH = p.out[1], OW = p.out[2];
  const int64_t sw = S ? S : p.stride[2], pw = p.pad[2], dw = p.dilation[2];
  for (int64_t od = 0; od < p.out[0]; ++od) {
    const int64_t d0 = od * p.stride[0] - p.pad[0];
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = oh * p.stride[1] - p.pad[1];
      // -inf, and PyTorch's initial index: the window's first element once leading padding is
      // stepped over (an all-padding window keeps it, as in PyTorch).
      const int64_t first_row = (first_inside(d0, p.dilation[0]) * IH + first_inside(h0, p.dilation[1])) * IW;
      for (int64_t ow = 0; ow < OW; ++ow) {
        m[ow] = -std::numeric_limits<T>::infinity();
        id[ow] = static_cast<I>(first_row + first_inside(ow * sw - pw, dw));
      }
      int64_t kd0, kd1, kh0, kh1, kw0, kw1;
      live_taps(p.in[0], 1, 1, -d0, p.dilation[0], p.kernel[0], kd0, kd1);
      live_taps(IH, 1, 1, -h0, p.dilation[1], p.kernel[1], kh0, kh1);
      live_taps(IW, OW, sw, pw, dw, p.kernel[2], kw0, kw1);
      for (int64_t kd = kd0; kd < kd1; ++kd) {
        const int64_t idd = d0 + kd * p.dilation[0];
        if (idd < 0 || idd >= p.in[0]) continue;
        for (int64_t kh = kh0; kh < kh1; ++kh) {
          const int64_t ih = h0 + kh * p.dilation[1];
          if (ih < 0 || ih >= IH) continue;
          const int64_t rb = (idd * IH + ih) * IW;
          const T* xr = x + rb;
          for (int64_t kw = kw0; kw < kw1; ++kw) {
            const int64_t off = kw * dw - pw;
            int64_t lo, hi;
            valid_cols(off, sw, IW, OW, lo, hi);
            const I base = static_cast<I>(rb + off);
            for (int64_t ow = lo; ow < hi; ++ow) {
              const T v = xr[ow * sw + off];
              const bool take = v > m[ow] || v != v;  // NaN propagates
              m[ow] = take ? v : m[ow];
              id[ow] = take ? static_cast<I>(base + static_cast<I>(ow * sw)) : id[ow];
            }
          }
        }
      }
      T* yr = y + (od * OH + oh) * OW;
      int64_t* ir = yi + (od * OH + oh) * OW;
      for (int64_t ow = 0; ow < OW; ++ow) {
        yr[ow] = m[ow];
        ir[ow] = static_cast<int64_t>(id[ow]);
      }
    }
  }
}

template <typename T, typename I>
void max_pool_typed(T* y, int64_t* yi, const T* x, const PoolParams& p) {
  const int64_t ip = p.in_plane(), op = p.out_plane();
  const int64_t kvol = std::min<int64_t>(p.kernel[0], 64) * std::min<int64_t>(p.kernel[1], 64) *
                       std::min<int64_t>(p.kernel[2], 64);  // a work estimate: capped, never overflows
  parallel_for(0, p.nc, plane_grain(op * kvol), [&](int64_t b, int64_t e) {
    std::vector<T> m(p.out[2]);
    std::vector<I> id(p.out[2]);
    for (int64_t c = b; c < e; ++c) {
      const T* xp = x + c * ip;
      T* yp = y + c * op;
      int64_t* ipp = yi + c * op;
      if (p.stride[2] == 1) max_pool_plane<T, I, 1>(xp, yp, ipp, p, m.data(), id.data());
      else if (p.stride[2] == 2) max_pool_plane<T, I, 2>(xp, yp, ipp, p, m.data(), id.data());
      else max_pool_plane<T, I, 0>(xp, yp, ipp, p, m.data(), id.data());
    }
  });
}

void max_pool_cpu(const Tensor& y, const Tensor& indices, const Tensor& x, const PoolParams& p) {
  DL_DISPATCH_FLOAT(x->dtype(), "max_pool", [&] {
    if (std::is_same_v<scalar_t, float> && p.in_plane() < (int64_t(1) << 31))
      max_pool_typed<scalar_t, int32_t>(y->data<scalar_t>(), indices->data<int64_t>(), x->data<scalar_t>(), p);
    else
      max_pool_typed<scalar_t, int64_t>(y->data<scalar_t>(), indices->data<int64_t>(), x->data<scalar_t>(), p);
  });
}

// gx: (NC, in), zeroed here; g, idx: (NC, out).
template <typename T>
void max_pool_backward_typed(T* gx, const T* g, const int64_t* idx, const PoolParams& p) {
  const int64_t ip = p.in_plane(), op = p.out_plane();
  parallel_for(0, p.nc, plane_grain(ip + op), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      T* gp = gx + c * ip;
      std::fill(gp, gp + ip, T(0));
      const T* gr = g + c * op;
      const int64_t* ir = idx + c * op;
      for (int64_t j = 0; j < op; ++j)
        if (ir[j] >= 0 && ir[j] < ip) gp[ir[j]] += gr[j];  // an all-padding window's index may lie outside
    }
  });
}

void max_pool_backward_cpu(const Tensor& grad_x, const Tensor& grad_y, const Tensor& indices, const PoolParams& p) {
  DL_DISPATCH_FLOAT(grad_x->dtype(), "max_pool_backward", [&] {
    max_pool_backward_typed<scalar_t>(grad_x->data<scalar_t>(), grad_y->data<scalar_t>(), indices->data<int64_t>(),
                                      p);
  });
}

// ---- avg pool --------------------------------------------------------------------------------
// Note [Avg pool divisor]
// As PyTorch: a window [start, start + k) is first clipped to the padded input
// [-pad, in + pad), giving pool_size, then to the input; the divisor is divisor_override if
// set, else pool_size with count_include_pad, else the clipped window's element count. A
// window with no input element gives 0. Sums run in window order (kd, kh, kw), like PyTorch.
struct Extent {
  int64_t start, end, padded;  // clipped to the input; size clipped to the padded input
};
inline Extent extent(int64_t o, int i, const PoolParams& p) {
  int64_t s = o * p.stride[i] - p.pad[i];
  int64_t e = std::min(s + p.kernel[i], p.in[i] + p.pad[i]);
  Extent r{std::max<int64_t>(s, 0), std::min(e, p.in[i]), e - s};
  return r;
}

// div: the OW divisors of output row (od, oh) (0 where the window is empty).
template <typename T>
void avg_divisors(const Extent& ed, const Extent& eh, const PoolParams& p, T* div) {
  for (int64_t ow = 0; ow < p.out[2]; ++ow) {
    const Extent ew = extent(ow, 2, p);
    if (ed.start >= ed.end || eh.start >= eh.end || ew.start >= ew.end) {
      div[ow] = T(0);
      continue;
    }
    const int64_t d = p.divisor ? p.divisor
                      : p.count_include_pad ? ed.padded * eh.padded * ew.padded
                                            : (ed.end - ed.start) * (eh.end - eh.start) * (ew.end - ew.start);
    div[ow] = static_cast<T>(d);
  }
}

// x: (ID, IH, IW); y: (OD, OH, OW); acc, div: OW-long buffers.
template <typename T, int S>
void avg_pool_plane(const T* x, T* y, const PoolParams& p, T* acc, T* div) {
  const int64_t IH = p.in[1], IW = p.in[2], OH = p.out[1], OW = p.out[2];
  const int64_t sw = S ? S : p.stride[2];
  for (int64_t od = 0; od < p.out[0]; ++od) {
    const Extent ed = extent(od, 0, p);
    for (int64_t oh = 0; oh < OH; ++oh) {
      const Extent eh = extent(oh, 1, p);
      avg_divisors(ed, eh, p, div);
      std::fill(acc, acc + OW, T(0));
      int64_t kw0, kw1;
      live_taps(IW, OW, sw, p.pad[2], 1, p.kernel[2], kw0, kw1);
      for (int64_t idd = ed.start; idd < ed.end; ++idd)
        for (int64_t ih = eh.start; ih < eh.end; ++ih) {
          const T* xr = x + (idd * IH + ih) * IW;
          for (int64_t kw = kw0; kw < kw1; ++kw) {
            const int64_t off = kw - p.pad[2];
            int64_t lo, hi;
            valid_cols(off, sw, IW, OW, lo, hi);
            for (int64_t ow = lo; ow < hi; ++ow) acc[ow] += xr[ow * sw + off];
          }
        }
      T* yr = y + (od * OH + oh) * OW;
      for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = div[ow] != T(0) ? acc[ow] / div[ow] : T(0);
    }
  }
}

// gx: (ID, IH, IW) zeroed here; g: (OD, OH, OW); gs, div: OW-long buffers.
template <typename T, int S>
void avg_pool_backward_plane(T* gx, const T* g, const PoolParams& p, T* gs, T* div) {
  const int64_t IH = p.in[1], IW = p.in[2], OH = p.out[1], OW = p.out[2];
  const int64_t sw = S ? S : p.stride[2];
  std::fill(gx, gx + p.in_plane(), T(0));
  for (int64_t od = 0; od < p.out[0]; ++od) {
    const Extent ed = extent(od, 0, p);
    for (int64_t oh = 0; oh < OH; ++oh) {
      const Extent eh = extent(oh, 1, p);
      avg_divisors(ed, eh, p, div);
      const T* gr = g + (od * OH + oh) * OW;
      for (int64_t ow = 0; ow < OW; ++ow) gs[ow] = div[ow] != T(0) ? gr[ow] / div[ow] : T(0);
      int64_t kw0, kw1;
      live_taps(IW, OW, sw, p.pad[2], 1, p.kernel[2], kw0, kw1);
      for (int64_t idd = ed.start; idd < ed.end; ++idd)
        for (int64_t ih = eh.start; ih < eh.end; ++ih) {
          T* xr = gx + (idd * IH + ih) * IW;
          for (int64_t kw = kw0; kw < kw1; ++kw) {
            const int64_t off = kw - p.pad[2];
            int64_t lo, hi;
            valid_cols(off, sw, IW, OW, lo, hi);
            for (int64_t ow = lo; ow < hi; ++ow) xr[ow * sw + off] += gs[ow];
          }
        }
    }
  }
}

template <typename T>
void avg_pool_typed(bool backward, T* dst, const T* src, const PoolParams& p) {
  const int64_t ip = p.in_plane(), op = p.out_plane();
  const int64_t kvol = std::min<int64_t>(p.kernel[0], 64) * std::min<int64_t>(p.kernel[1], 64) *
                       std::min<int64_t>(p.kernel[2], 64);  // a work estimate: capped, never overflows
  parallel_for(0, p.nc, plane_grain(op * kvol), [&](int64_t b, int64_t e) {
    std::vector<T> buf(p.out[2]), div(p.out[2]);
    for (int64_t c = b; c < e; ++c) {
      if (backward) {
        T* gx = dst + c * ip;
        const T* g = src + c * op;
        if (p.stride[2] == 1) avg_pool_backward_plane<T, 1>(gx, g, p, buf.data(), div.data());
        else if (p.stride[2] == 2) avg_pool_backward_plane<T, 2>(gx, g, p, buf.data(), div.data());
        else avg_pool_backward_plane<T, 0>(gx, g, p, buf.data(), div.data());
      } else {
        const T* x = src + c * ip;
        T* y = dst + c * op;
        if (p.stride[2] == 1) avg_pool_plane<T, 1>(x, y, p, buf.data(), div.data());
        else if (p.stride[2] == 2) avg_pool_plane<T, 2>(x, y, p, buf.data(), div.data());
        else avg_pool_plane<T, 0>(x, y, p, buf.data(), div.data());
      }
    }
  });
}

void avg_pool_cpu(const Tensor& y, const Tensor& x, const PoolParams& p) {
  DL_DISPATCH_FLOAT(x->dtype(), "avg_pool", [&] {
    avg_pool_typed<scalar_t>(false, y->data<scalar_t>(), x->data<scalar_t>(), p);
  });
}

void avg_pool_backward_cpu(const Tensor& grad_x, const Tensor& grad_y, const PoolParams& p) {
  DL_DISPATCH_FLOAT(grad_x->dtype(), "avg_pool_backward", [&] {
    avg_pool_typed<scalar_t>(true, grad_x->data<scalar_t>(), grad_y->data<scalar_t>(), p);
  });
}

// ---- adaptive pools --------------------------------------------------------------------------
// PyTorch's adaptive windows: [floor(o * in / out), ceil((o + 1) * in / out)).
inline int64_t ada_start(int64_t o, int64_t out, int64_t in) { return (o / out) * in + ((o % out) * in) / out; }
inline int64_t ada_end(int64_t o, int64_t out, int64_t in) { return 1 + ((o + 1) * in - 1) / out; }

bool is_global(const PoolParams& p) { return p.out[0] == 1 && p.out[1] == 1 && p.out[2] == 1; }

// Sum of a contiguous run with 8 independent accumulators (vectorises).
template <typename T>
T sum_run(const T* x, int64_t n) {
  T lane[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) lane[k] += x[i + k];
  for (; i < n; ++i) lane[0] += x[i];
  return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

// Calls f(od, oh, ow, d0, d1, h0, h1, w0, w1) for every output of one plane.
template <typename F>
void for_each_adaptive_window(const PoolParams& p, F&& f) {
  for (int64_t od = 0; od < p.out[0]; ++od) {
    const int64_t d0 = ada_start(od, p.out[0], p.in[0]), d1 = ada_end(od, p.out[0], p.in[0]);
    for (int64_t oh = 0; oh < p.out[1]; ++oh) {
      const int64_t h0 = ada_start(oh, p.out[1], p.in[1]), h1 = ada_end(oh, p.out[1], p.in[1]);
      for (int64_t ow = 0; ow < p.out[2]; ++ow) {
        const int64_t w0 = ada_start(ow, p.out[2], p.in[2]), w1 = ada_end(ow, p.out[2], p.in[2]);
        f((od * p.out[1] + oh) * p.out[2] + ow, d0, d1, h0, h1, w0, w1);
      }
    }
  }
}

// y: (NC, out) = window mean; the global case (out all 1) is one contiguous sum per plane.
template <typename T>
void adaptive_avg_typed(T* y, const T* x, const PoolParams& p) {
  const int64_t ip = p.in_plane(), op = p.out_plane(), IH = p.in[1], IW = p.in[2];
  parallel_for(0, p.nc, plane_grain(ip + op), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const T* xp = x + c * ip;
      if (is_global(p)) {
        y[c] = sum_run(xp, ip) / static_cast<T>(ip);
        continue;
      }
      T* yp = y + c * op;
      for_each_adaptive_window(p, [&](int64_t o, int64_t d0, int64_t d1, int64_t h0, int64_t h1, int64_t w0,
                                      int64_t w1) {
        T s = 0;
        for (int64_t d = d0; d < d1; ++d)
          for (int64_t h = h0; h < h1; ++h) {
            const T* r = xp + (d * IH + h) * IW;
            for (int64_t w = w0; w < w1; ++w) s += r[w];
          }
        yp[o] = s / static_cast<T>(d1 - d0) / static_cast<T>(h1 - h0) / static_cast<T>(w1 - w0);
      });
    }
  });
}

// gx: (NC, in) zeroed here, then each window gets g / (its size).
template <typename T>
void adaptive_avg_backward_typed(T* gx, const T* g, const PoolParams& p) {
  const int64_t ip = p.in_plane(), op = p.out_plane(), IH = p.in[1], IW = p.in[2];
  parallel_for(0, p.nc, plane_grain(ip + op), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      T* gp = gx + c * ip;
      if (is_global(p)) {
        const T v = g[c] / static_cast<T>(ip);
        std::fill(gp, gp + ip, v);
        continue;
      }
      std::fill(gp, gp + ip, T(0));
      const T* gr = g + c * op;
      for_each_adaptive_window(p, [&](int64_t o, int64_t d0, int64_t d1, int64_t h0, int64_t h1, int64_t w0,
                                      int64_t w1) {
        const T v = gr[o] / static_cast<T>(d1 - d0) / static_cast<T>(h1 - h0) / static_cast<T>(w1 - w0);
        for (int64_t d = d0; d < d1; ++d)
          for (int64_t h = h0; h < h1; ++h) {
            T* r = gp + (d * IH + h) * IW;
            for (int64_t w = w0; w < w1; ++w) r[w] += v;
          }
      });
    }
  });
}

template <typename T>
void adaptive_max_typed(T* y, int64_t* yi, const T* x, const PoolParams& p) {
  const int64_t ip = p.in_plane(), op = p.out_plane(), IH = p.in[1], IW = p.in[2];
  parallel_for(0, p.nc, plane_grain(ip + op), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const T* xp = x + c * ip;
      T* yp = y + c * op;
      int64_t* ir = yi + c * op;
      for_each_adaptive_window(p, [&](int64_t o, int64_t d0, int64_t d1, int64_t h0, int64_t h1, int64_t w0,
                                      int64_t w1) {
        T m = -std::numeric_limits<T>::infinity();
        int64_t mi = (d0 * IH + h0) * IW + w0;
        for (int64_t d = d0; d < d1; ++d)
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) {
              const int64_t at = (d * IH + h) * IW + w;
              const T v = xp[at];
              if (v > m || v != v) {
                m = v;
                mi = at;
              }
            }
        yp[o] = m;
        ir[o] = mi;
      });
    }
  });
}

void adaptive_avg_pool_cpu(const Tensor& y, const Tensor& x, const PoolParams& p) {
  DL_DISPATCH_FLOAT(x->dtype(), "adaptive_avg_pool", [&] {
    adaptive_avg_typed<scalar_t>(y->data<scalar_t>(), x->data<scalar_t>(), p);
  });
}

void adaptive_avg_pool_backward_cpu(const Tensor& grad_x, const Tensor& grad_y, const PoolParams& p) {
  DL_DISPATCH_FLOAT(grad_x->dtype(), "adaptive_avg_pool_backward", [&] {
    adaptive_avg_backward_typed<scalar_t>(grad_x->data<scalar_t>(), grad_y->data<scalar_t>(), p);
  });
}

void adaptive_max_pool_cpu(const Tensor& y, const Tensor& indices, const Tensor& x, const PoolParams& p) {
  DL_DISPATCH_FLOAT(x->dtype(), "adaptive_max_pool", [&] {
    adaptive_max_typed<scalar_t>(y->data<scalar_t>(), indices->data<int64_t>(), x->data<scalar_t>(), p);
  });
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(max_pool_kernel, max_pool_cpu);
DL_REGISTER_CPU_KERNEL(max_pool_backward_kernel, max_pool_backward_cpu);
DL_REGISTER_CPU_KERNEL(avg_pool_kernel, avg_pool_cpu);
DL_REGISTER_CPU_KERNEL(avg_pool_backward_kernel, avg_pool_backward_cpu);
DL_REGISTER_CPU_KERNEL(adaptive_max_pool_kernel, adaptive_max_pool_cpu);
DL_REGISTER_CPU_KERNEL(adaptive_avg_pool_kernel, adaptive_avg_pool_cpu);
DL_REGISTER_CPU_KERNEL(adaptive_avg_pool_backward_kernel, adaptive_avg_pool_backward_cpu);

}  // namespace dlcore
