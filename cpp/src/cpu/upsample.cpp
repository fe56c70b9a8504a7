// CPU interpolate kernels (nearest, (bi/tri)linear) over contiguous (NC, D, H, W) planes,
// forward and backward. Source indices and weights are computed once per dim into tables
// (Note [Interpolate source index] in ops/upsample.h) and shared by all planes, which run in
// parallel. Nearest copies whole rows when a source row repeats, and exact 2x widening
// duplicates elements without a table.
#include "ops/upsample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/loops.h"
#include "dlcore/parallel.h"

namespace dlcore {
inline namespace CPU_CAPABILITY {
namespace {

constexpr int64_t kWork = 16384;

int64_t plane_grain(int64_t per_plane) { return std::max<int64_t>(1, kWork / std::max<int64_t>(1, per_plane)); }

// PyTorch's nearest_idx (computed in float32 whatever the dtype).
std::vector<int64_t> nearest_table(int64_t in, int64_t out, double scale) {
  std::vector<int64_t> t(out);
  const float s = scale > 0 ? static_cast<float>(1.0 / scale) : static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    if (out == in) t[o] = o;
    else if (out == 2 * in) t[o] = o >> 1;
    else t[o] = std::min(static_cast<int64_t>(std::floor(static_cast<float>(o) * s)), in - 1);
  }
  return t;
}

// Linear interpolation along one dim: output o reads i0[o] and i1[o] with weights l0, l1.
template <typename T>
struct LinearTable {
  std::vector<int64_t> i0, i1;
  std::vector<T> l0, l1;
};

// PyTorch's area_pixel_compute_scale / area_pixel_compute_source_index, in T (float32 for
// float32 like PyTorch's opmath).
template <typename T>
LinearTable<T> linear_table(int64_t in, int64_t out, bool align_corners, double scale) {
  LinearTable<T> t;
  t.i0.resize(out), t.i1.resize(out), t.l0.resize(out), t.l1.resize(out);
  T s;
  if (align_corners) s = out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  else s = scale > 0 ? static_cast<T>(1.0 / scale) : static_cast<T>(in) / static_cast<T>(out);
  for (int64_t o = 0; o < out; ++o) {
    T src;
    if (align_corners) {
      src = s * static_cast<T>(o);
    } else {
      src = s * (static_cast<T>(o) + T(0.5)) - T(0.5);
      if (src < 0) src = 0;
    }
    const int64_t i = std::min(static_cast<int64_t>(std::floor(src)), in - 1);
    const T lam = std::min(std::max(src - static_cast<T>(i), T(0)), T(1));
    t.i0[o] = i;
    t.i1[o] = i + (i < in - 1 ? 1 : 0);
    t.l1[o] = lam;
    t.l0[o] = T(1) - lam;
  }
  return t;
}

// ---- nearest -----------------------------------------------------------------------------------
// y: (NC, OD, OH, OW) from x: (NC, ID, IH, IW).
template <typename T>
void nearest_typed(T* y, const T* x, const PoolParams& p) {
  const auto td = nearest_table(p.in[0], p.out[0], p.scale[0]);
  const auto th = nearest_table(p.in[1], p.out[1], p.scale[1]);
  const auto tw = nearest_table(p.in[2], p.out[2], p.scale[2]);
  const int64_t IH = p.in[1], IW = p.in[2], OH = p.out[1], OW = p.out[2];
  const int64_t ip = p.in_plane(), op = p.out_plane();
  const bool same_w = OW == IW, double_w = OW == 2 * IW;
  parallel_for(0, p.nc, plane_grain(op), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const T* xp = x + c * ip;
      T* yp = y + c * op;
      for (int64_t od = 0; od < p.out[0]; ++od)
        for (int64_t oh = 0; oh < OH; ++oh) {
          T* yr = yp + (od * OH + oh) * OW;
          if (oh > 0 && th[oh] == th[oh - 1]) {  // the same source row: copy the previous output row
            std::memcpy(yr, yr - OW, OW * sizeof(T));
            continue;
          }
          const T* xr = xp + (td[od] * IH + th[oh]) * IW;
          if (same_w) {
            std::memcpy(yr, xr, OW * sizeof(T));
          } else if (double_w) {
            for (int64_t i = 0; i < IW; ++i) {
              yr[2 * i] = xr[i];
              yr[2 * i + 1] = xr[i];
            }
          } else {
            for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = xr[tw[ow]];
          }
        }
    }
  });
}

// gx: (NC, in) zeroed here; every output's gradient added to its source element.
template <typename T>
void nearest_backward_typed(T* gx, const T* g, const PoolParams& p) {
  const auto td = nearest_table(p.in[0], p.out[0], p.scale[0]);
  const auto th = nearest_table(p.in[1], p.out[1], p.scale[1]);
  const auto tw = nearest_table(p.in[2], p.out[2], p.scale[2]);
  const int64_t IH = p.in[1], IW = p.in[2], OH = p.out[1], OW = p.out[2];
  const int64_t ip = p.in_plane(), op = p.out_plane();
  const bool double_w = OW == 2 * IW;
  parallel_for(0, p.nc, plane_grain(ip + op), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      T* gp = gx + c * ip;
      const T* gq = g + c * op;
      std::fill(gp, gp + ip, T(0));
      for (int64_t od = 0; od < p.out[0]; ++od)
        for (int64_t oh = 0; oh < OH; ++oh) {
          const T* gr = gq + (od * OH + oh) * OW;
          T* xr = gp + (td[od] * IH + th[oh]) * IW;
          if (double_w) {
            for (int64_t i = 0; i < IW; ++i) xr[i] += gr[2 * i] + gr[2 * i + 1];
          } else {
            for (int64_t ow = 0; ow < OW; ++ow) xr[tw[ow]] += gr[ow];
          }
        }
    }
  });
}

// ---- linear ------------------------------------------------------------------------------------
// y = sum over the 2 (linear), 4 (bilinear) or 8 (trilinear) neighbours of weight * x, the
// W interpolation innermost like PyTorch. Missing leading dims have in == out == 1 (weights
// 1 and 0 on the same element), and the D level is skipped when it is trivial.
template <typename T>
void linear_typed(T* y, const T* x, const PoolParams& p) {
  const auto td = linear_table<T>(p.in[0], p.out[0], p.align_corners, p.scale[0]);
  const auto th = linear_table<T>(p.in[1], p.out[1], p.align_corners, p.scale[1]);
  const auto tw = linear_table<T>(p.in[2], p.out[2], p.align_corners, p.scale[2]);
  const int64_t IH = p.in[1], IW = p.in[2], OH = p.out[1], OW = p.out[2];
  const int64_t ip = p.in_plane(), op = p.out_plane();
  const bool has_d = p.in[0] != 1 || p.out[0] != 1;
  const int64_t* w0 = tw.i0.data();
  const int64_t* w1 = tw.i1.data();
  const T* a0 = tw.l0.data();
  const T* a1 = tw.l1.data();
  parallel_for(0, p.nc, plane_grain(op * 4), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const T* xp = x + c * ip;
      T* yp = y + c * op;
      for (int64_t od = 0; od < p.out[0]; ++od)
        for (int64_t oh = 0; oh < OH; ++oh) {
          T* yr = yp + (od * OH + oh) * OW;
          const T hl0 = th.l0[oh], hl1 = th.l1[oh];
          const T* r00 = xp + (td.i0[od] * IH + th.i0[oh]) * IW;
          const T* r01 = xp + (td.i0[od] * IH + th.i1[oh]) * IW;
          if (!has_d) {
            for (int64_t ow = 0; ow < OW; ++ow) {
              const T t0 = r00[w0[ow]] * a0[ow] + r00[w1[ow]] * a1[ow];
              const T t1 = r01[w0[ow]] * a0[ow] + r01[w1[ow]] * a1[ow];
              yr[ow] = t0 * hl0 + t1 * hl1;
            }
            continue;
          }
          const T dl0 = td.l0[od], dl1 = td.l1[od];
          const T* r10 = xp + (td.i1[od] * IH + th.i0[oh]) * IW;
          const T* r11 = xp + (td.i1[od] * IH + th.i1[oh]) * IW;
          for (int64_t ow = 0; ow < OW; ++ow) {
            const T t00 = r00[w0[ow]] * a0[ow] + r00[w1[ow]] * a1[ow];
            const T t01 = r01[w0[ow]] * a0[ow] + r01[w1[ow]] * a1[ow];
            const T t10 = r10[w0[ow]] * a0[ow] + r10[w1[ow]] * a1[ow];
            const T t11 = r11[w0[ow]] * a0[ow] + r11[w1[ow]] * a1[ow];
            yr[ow] = (t00 * hl0 + t01 * hl1) * dl0 + (t10 * hl0 + t11 * hl1) * dl1;
          }
        }
    }
  });
}

// gx: (NC, in) zeroed here; each output's gradient spread over its neighbours by the weights.
template <typename T>
void linear_backward_typed(T* gx, const T* g, const PoolParams& p) {
  const auto td = linear_table<T>(p.in[0], p.out[0], p.align_corners, p.scale[0]);
  const auto th = linear_table<T>(p.in[1], p.out[1], p.align_corners, p.scale[1]);
  const auto tw = linear_table<T>(p.in[2], p.out[2], p.align_corners, p.scale[2]);
  const int64_t IH = p.in[1], IW = p.in[2], OH = p.out[1], OW = p.out[2];
  const int64_t ip = p.in_plane(), op = p.out_plane();
  parallel_for(0, p.nc, plane_grain(ip + op * 4), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      T* gp = gx + c * ip;
      const T* gq = g + c * op;
      std::fill(gp, gp + ip, T(0));
      for (int64_t od = 0; od < p.out[0]; ++od)
        for (int64_t oh = 0; oh < OH; ++oh) {
          const T* gr = gq + (od * OH + oh) * OW;
          const int64_t ds[2] = {td.i0[od], td.i1[od]}, hs[2] = {th.i0[oh], th.i1[oh]};
          const T dw[2] = {td.l0[od], td.l1[od]}, hw[2] = {th.l0[oh], th.l1[oh]};
          for (int a = 0; a < 2; ++a)
            for (int bb = 0; bb < 2; ++bb) {
              const T wdh = dw[a] * hw[bb];
              if (wdh == T(0)) continue;  // also skips the duplicated neighbour of a missing dim
              T* xr = gp + (ds[a] * IH + hs[bb]) * IW;
              for (int64_t ow = 0; ow < OW; ++ow) {
                const T v = wdh * gr[ow];
                xr[tw.i0[ow]] += v * tw.l0[ow];
                xr[tw.i1[ow]] += v * tw.l1[ow];
              }
            }
        }
    }
  });
}

void nearest_cpu(const Tensor& y, const Tensor& x, const PoolParams& p) {
  DL_DISPATCH_FLOAT(x->dtype(), "upsample_nearest", [&] {
    nearest_typed<scalar_t>(y->data<scalar_t>(), x->data<scalar_t>(), p);
  });
}
void nearest_backward_cpu(const Tensor& grad_x, const Tensor& grad_y, const PoolParams& p) {
  DL_DISPATCH_FLOAT(grad_x->dtype(), "upsample_nearest_backward", [&] {
    nearest_backward_typed<scalar_t>(grad_x->data<scalar_t>(), grad_y->data<scalar_t>(), p);
  });
}
void linear_cpu(const Tensor& y, const Tensor& x, const PoolParams& p) {
  DL_DISPATCH_FLOAT(x->dtype(), "upsample_linear", [&] {
    linear_typed<scalar_t>(y->data<scalar_t>(), x->data<scalar_t>(), p);
  });
}
void linear_backward_cpu(const Tensor& grad_x, const Tensor& grad_y, const PoolParams& p) {
  DL_DISPATCH_FLOAT(grad_x->dtype(), "upsample_linear_backward", [&] {
    linear_backward_typed<scalar_t>(grad_x->data<scalar_t>(), grad_y->data<scalar_t>(), p);
  });
}

}  // namespace
}  // namespace CPU_CAPABILITY

DL_REGISTER_CPU_KERNEL(upsample_nearest_kernel, nearest_cpu);
DL_REGISTER_CPU_KERNEL(upsample_nearest_backward_kernel, nearest_backward_cpu);
DL_REGISTER_CPU_KERNEL(upsample_linear_kernel, linear_cpu);
DL_REGISTER_CPU_KERNEL(upsample_linear_backward_kernel, linear_backward_cpu);

}  // namespace dlcore
