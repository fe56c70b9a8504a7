// CPU depthwise convolution kernels, compiled per CPU capability (Note [CPU capability variants]
// in cpu/loops.h).
//
// Note [Depthwise convolution]
// With one input channel per group (depthwise, C/groups == 1, K/groups output channels per
// input channel) a tap touches one input plane, so the kernels work plane by plane without
// im2col: each output line is accumulated tap by tap as `row[ow] += w * x_row[ow * sw + off]`
// over the range of ow whose input is inside the image, which vectorises over ow for stride 1.
// Forward and backward input run one task per (n, channel) plane; backward weight runs one
// task per output channel and keeps per-tap partial sums per ow lane (summed at the end, so the
// inner loop stays elementwise and vectorises).
#include <algorithm>
#include <vector>

#include "cpu/conv_cpu.h"
#include "cpu/vec_math.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace conv_cpu {

// ---- depthwise (Note [Depthwise convolution]) ----------------------------------------------

// Calls f(line, id, ih, tap0) for every output line of a plane and every (kd, kh) whose input
// line (id, ih) is inside the image; tap0 = (kd * KH + kh) * KW.
template <typename F>
DL_VEC_INLINE void for_each_tap_line(const ConvParams& q, F&& f) {
  for (int64_t od = 0; od < q.out[0]; ++od)
    for (int64_t oh = 0; oh < q.out[1]; ++oh)
      for (int64_t kt = 0; kt < q.kernel[0]; ++kt) {
        const int64_t id = od * q.stride[0] - q.pad[0] + kt * q.dilation[0];
        if (id < 0 || id >= q.in[0]) continue;
        for (int64_t kr = 0; kr < q.kernel[1]; ++kr) {
          const int64_t ih = oh * q.stride[1] - q.pad[1] + kr * q.dilation[1];
          if (ih < 0 || ih >= q.in[1]) continue;
          f(od * q.out[1] + oh, id * q.in[1] + ih, (kt * q.kernel[1] + kr) * q.kernel[2]);
        }
      }
}

template <typename T>
void depthwise_forward(const ConvParams& q, const Geometry& g, T* y, const T* x, const T* w, const T* b) {
  const int64_t OW = g.ow, W = q.in[2], KW = q.kernel[2], sw = q.stride[2];
  parallel_for(0, q.n * q.k, std::max<int64_t>(1, kParallelWork / std::max<int64_t>(1, g.p * g.kk)),
               [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / q.k, k = t % q.k;
      const T* xp = x + (n * q.c + k / g.kg) * g.in_plane;
      const T* wk = w + k * g.kk;
      T* yp = y + t * g.p;
      std::fill(yp, yp + g.p, b ? b[k] : T(0));
      for_each_tap_line(q, [&](int64_t line, int64_t in_line, int64_t tap0) {
        T* __restrict yr = yp + line * OW;
        const T* xr = xp + in_line * W;
        for (int64_t ks = 0; ks < KW; ++ks) {
          const T wv = wk[tap0 + ks];
          const int64_t off = ks * q.dilation[2] - q.pad[2];
          int64_t lo, hi;
          valid_range(OW, W, sw, off, lo, hi);
          const T* __restrict xs = xr + off;
          if (sw == 1) {
            for (int64_t o = lo; o < hi; ++o) yr[o] += wv * xs[o];
          } else {
            for (int64_t o = lo; o < hi; ++o) yr[o] += wv * xs[o * sw];
          }
        }
      });
    }
  });
}

template <typename T>
void depthwise_backward_input(const ConvParams& q, const Geometry& g, T* gx, const T* gy, const T* w) {
  const int64_t OW = g.ow, W = q.in[2], KW = q.kernel[2], sw = q.stride[2];
  parallel_for(0, q.n * q.c, std::max<int64_t>(1, kParallelWork / std::max<int64_t>(1, g.p * g.kk * g.kg)),
               [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / q.c, c = t % q.c;
      T* xp = gx + t * g.in_plane;
      std::fill(xp, xp + g.in_plane, T(0));
      for (int64_t k = c * g.kg; k < (c + 1) * g.kg; ++k) {
        const T* yp = gy + (n * q.k + k) * g.p;
        const T* wk = w + k * g.kk;
        for_each_tap_line(q, [&](int64_t line, int64_t in_line, int64_t tap0) {
          const T* __restrict yr = yp + line * OW;
          T* xr = xp + in_line * W;
          for (int64_t ks = 0; ks < KW; ++ks) {
            const T wv = wk[tap0 + ks];
            const int64_t off = ks * q.dilation[2] - q.pad[2];
            int64_t lo, hi;
            valid_range(OW, W, sw, off, lo, hi);
            T* __restrict xs = xr + off;
            if (sw == 1) {
              for (int64_t o = lo; o < hi; ++o) xs[o] += wv * yr[o];
            } else {
              for (int64_t o = lo; o < hi; ++o) xs[o * sw] += wv * yr[o];
            }
          }
        });
      }
    }
  });
}

template <typename T>
void depthwise_backward_weight(const ConvParams& q, const Geometry& g, T* gw, T* gb, const T* gy, const T* x) {
  const int64_t OW = g.ow, W = q.in[2], KW = q.kernel[2], sw = q.stride[2];
  parallel_for(0, q.k, std::max<int64_t>(1, kParallelWork / std::max<int64_t>(1, q.n * g.p * g.kk)),
               [&](int64_t k0, int64_t k1) {
    std::vector<T> lanes(gw ? g.kk * OW : 0);  // per tap, per ow: partial sums
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t c = k / g.kg;
      if (gb) {
        double s = 0;
        for (int64_t n = 0; n < q.n; ++n) s += lane_sum(gy + (n * q.k + k) * g.p, g.p);
        gb[k] = static_cast<T>(s);
      }
      if (!gw) continue;
      std::fill(lanes.begin(), lanes.end(), T(0));
      for (int64_t n = 0; n < q.n; ++n) {
        const T* yp = gy + (n * q.k + k) * g.p;
        const T* xp = x + (n * q.c + c) * g.in_plane;
        for_each_tap_line(q, [&](int64_t line, int64_t in_line, int64_t tap0) {
          const T* __restrict yr = yp + line * OW;
          const T* xr = xp + in_line * W;
          for (int64_t ks = 0; ks < KW; ++ks) {
            T* __restrict acc = lanes.data() + (tap0 + ks) * OW;
            const int64_t off = ks * q.dilation[2] - q.pad[2];
            int64_t lo, hi;
            valid_range(OW, W, sw, off, lo, hi);
            const T* __restrict xs = xr + off;
            if (sw == 1) {
              for (int64_t o = lo; o < hi; ++o) acc[o] += yr[o] * xs[o];
            } else {
              for (int64_t o = lo; o < hi; ++o) acc[o] += yr[o] * xs[o * sw];
            }
          }
        });
      }
      for (int64_t tap = 0; tap < g.kk; ++tap) gw[k * g.kk + tap] = static_cast<T>(lane_sum(&lanes[tap * OW], OW));
    }
  });
}

#define DL_DEPTHWISE_INSTANTIATE(T)                                                                    \
  template void depthwise_forward<T>(const ConvParams&, const Geometry&, T*, const T*, const T*, const T*); \
  template void depthwise_backward_input<T>(const ConvParams&, const Geometry&, T*, const T*, const T*);    \
  template void depthwise_backward_weight<T>(const ConvParams&, const Geometry&, T*, T*, const T*, const T*);
DL_DEPTHWISE_INSTANTIATE(float)
DL_DEPTHWISE_INSTANTIATE(double)
#undef DL_DEPTHWISE_INSTANTIATE

}  // namespace conv_cpu
}  // namespace CPU_CAPABILITY
}  // namespace dlcore
