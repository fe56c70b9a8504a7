// CPU kernels for the shape ops that copy: the index-map copy behind pad/flip/roll (Note
// [Index maps]) and tril/triu. Both run over output rows (all dims but the last) in parallel.
#include "ops/shape.h"

#include "cpu/loops.h"

namespace dlcore {
namespace {

constexpr int64_t kFill = INT64_MIN;  // an element offset meaning "write the fill value"

// Offsets into `in` (elements) for each output index of each dim, kFill where the map is -1.
std::vector<std::vector<int64_t>> map_offsets(const Tensor& in, const IndexMaps& maps) {
  std::vector<std::vector<int64_t>> off(maps.size());
  for (size_t d = 0; d < maps.size(); ++d) {
    off[d].resize(maps[d].size());
    for (size_t i = 0; i < maps[d].size(); ++i)
      off[d][i] = maps[d][i] < 0 ? kFill : maps[d][i] * in->strides()[d];
  }
  return off;
}

void remap_cpu(const Tensor& out, const Tensor& in, const IndexMaps& maps, double fill) {
  // out: contiguous (d_0, ..., d_{n-1}); in: strided, same rank.
  const int64_t nd = out->dim();
  if (out->numel() == 0) return;
  if (nd == 0) {
    DL_DISPATCH_ALL_AND_HALF(out->dtype(), "remap", [&] { *out->data<scalar_t>() = *in->data<scalar_t>(); });
    return;
  }
  const auto off = map_offsets(in, maps);
  const Shape& shape = out->shape();
  const int64_t inner = shape[nd - 1];
  const int64_t rows = out->numel() / inner;
  DL_DISPATCH_ALL_AND_HALF(out->dtype(), "remap", [&] {
    const scalar_t fv = convert<scalar_t>(fill);
    const scalar_t* src = in->data<scalar_t>();
    scalar_t* dst = out->data<scalar_t>();
    const std::vector<int64_t>& last = off[nd - 1];
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / inner), [&](int64_t b, int64_t e) {
      // Multi-index of row b over dims [0, nd-1).
      std::vector<int64_t> idx(nd, 0);
      for (int64_t d = nd - 2, r = b; d >= 0; --d) {
        idx[d] = r % shape[d];
        r /= shape[d];
      }
      for (int64_t row = b; row < e; ++row) {
        scalar_t* o = dst + row * inner;
        int64_t base = 0;
        bool filled = false;
        for (int64_t d = 0; d < nd - 1; ++d) {
          const int64_t v = off[d][idx[d]];
          if (v == kFill) filled = true;
          else base += v;
        }
        if (filled) {
          for (int64_t j = 0; j < inner; ++j) o[j] = fv;
        } else {
          const scalar_t* s = src + base;
          for (int64_t j = 0; j < inner; ++j) o[j] = last[j] == kFill ? fv : s[last[j]];
        }
        for (int64_t d = nd - 2; d >= 0; --d) {
          if (++idx[d] < shape[d]) break;
          idx[d] = 0;
        }
      }
    });
  });
}

void tri_cpu(const Tensor& out, const Tensor& in, int64_t diagonal, bool upper) {
  // in, out: contiguous (batch, R, C)
  const int64_t R = out->shape()[out->dim() - 2];
  const int64_t C = out->shape()[out->dim() - 1];
  if (out->numel() == 0) return;
  const int64_t rows = out->numel() / C;  // batch * R
  DL_DISPATCH_ALL_AND_HALF(out->dtype(), upper ? "triu" : "tril", [&] {
    const scalar_t* x = in->data<scalar_t>();
    scalar_t* y = out->data<scalar_t>();
    const scalar_t zero = convert<scalar_t>(0.0);
    parallel_for(0, rows, std::max<int64_t>(1, 32768 / C), [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        const int64_t r = row % R;
        // tril keeps c - r <= diagonal; triu keeps c - r >= diagonal.
        const int64_t split = std::min(std::max<int64_t>(r + diagonal + (upper ? 0 : 1), 0), C);
        const scalar_t* xr = x + row * C;
        scalar_t* yr = y + row * C;
        for (int64_t c = 0; c < split; ++c) yr[c] = upper ? zero : xr[c];
        for (int64_t c = split; c < C; ++c) yr[c] = upper ? xr[c] : zero;
      }
    });
  });
}

}  // namespace

DL_REGISTER_CPU_KERNEL(remap_kernel, remap_cpu);
DL_REGISTER_CPU_KERNEL(tri_kernel, tri_cpu);

}  // namespace dlcore
