// CPU indexing kernels over restrided operands (Note [Restrided operands] in ops/index.h):
// gather, scatter (= or +=), index offsets for advanced indexing, nonzero, index range.
//
// Note [Index errors in parallel loops]
// An exception must not leave an OpenMP region, so the loops only record the first bad index
// value they meet (BadIndex) and the kernel raises it after the loop.
#include "ops/index.h"

#include <atomic>

#include "cpu/loops.h"

namespace dlcore {
namespace {

struct BadIndex {
  std::atomic<bool> hit{false};
  int64_t value = 0;
  size_t which = 0;
  void set(int64_t v, size_t w = 0) {
    bool expected = false;
    if (hit.compare_exchange_strong(expected, true)) {
      value = v;
      which = w;
    }
  }
  void raise(const IndexDim& d) const {
    if (hit.load())
      throw IndexError(str_cat(d.op, ": index ", value, " is out of bounds for dimension ", d.dim, " with size ",
                               d.size));
  }
};

// The checked (and wrapped) index, or -1 after recording a bad one.
inline int64_t checked(int64_t k, const IndexDim& d, BadIndex& bad, size_t which = 0) {
  if (d.size < 0) return k;
  const int64_t orig = k;
  if (k < 0 && d.wrap) k += d.size;
  if (k < 0 || k >= d.size) {
    bad.set(orig, which);
    return -1;
  }
  return k;
}

template <typename T>
inline T add_values(T a, T b) {
  if constexpr (std::is_same_v<T, bool>) return a || b;
  else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) return T(float(a) + float(b));
  else return a + b;
}

void index_gather_cpu(const Tensor& out, const Tensor& src, const Tensor& index, const IndexDim& d) {
  // out, src (restrided), index (int64): all with out's shape.
  ElementwiseIter it(out, {src, index});
  BadIndex bad;
  DL_DISPATCH_ALL_AND_HALF(out->dtype(), d.op, [&] {
    const int64_t step = d.stride * static_cast<int64_t>(sizeof(scalar_t));
    cpu_loop(it, [&](char** p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        const int64_t k = checked(*reinterpret_cast<const int64_t*>(p[2] + i * s[2]), d, bad);
        if (k < 0 && d.size >= 0) continue;
        *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = *reinterpret_cast<const scalar_t*>(p[1] + i * s[1] + k * step);
      }
    }, 16384);
  });
  bad.raise(d);
}

void index_scatter_cpu(const Tensor& dst, const Tensor& index, const Tensor& src, const IndexDim& d,
                       bool accumulate) {
  // dst (restrided), index (int64), src: all with the iteration shape. Accumulation runs on one
  // thread, so that duplicate indices add up without atomics.
  ElementwiseIter it(dst, {index, src});
  BadIndex bad;
  DL_DISPATCH_ALL_AND_HALF(dst->dtype(), d.op, [&] {
    const int64_t step = d.stride * static_cast<int64_t>(sizeof(scalar_t));
    cpu_loop(it, [&](char** p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        const int64_t k = checked(*reinterpret_cast<const int64_t*>(p[1] + i * s[1]), d, bad);
        if (k < 0 && d.size >= 0) continue;
        scalar_t* o = reinterpret_cast<scalar_t*>(p[0] + i * s[0] + k * step);
        const scalar_t v = *reinterpret_cast<const scalar_t*>(p[2] + i * s[2]);
        *o = accumulate ? add_values(*o, v) : v;
      }
    }, accumulate ? INT64_MAX : 16384);
  });
  bad.raise(d);
}

void index_offsets_cpu(const Tensor& offsets, const std::vector<Tensor>& indices, const std::vector<IndexDim>& dims) {
  // offsets: int64 (B); indices: int64 broadcast to B.
  ElementwiseIter it(offsets, indices);
  BadIndex bad;
  const size_t k = indices.size();
  cpu_loop(it, [&](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t off = 0;
      for (size_t j = 0; j < k; ++j) {
        const int64_t v = checked(*reinterpret_cast<const int64_t*>(p[j + 1] + i * s[j + 1]), dims[j], bad, j);
        off += v * dims[j].stride;
      }
      *reinterpret_cast<int64_t*>(p[0] + i * s[0]) = off;
    }
  }, 32768);
  if (bad.hit.load()) bad.raise(dims[bad.which]);
}

Tensor nonzero_cpu(const Tensor& t) {
  // t: contiguous, any shape; out: int64 (n, ndim), row-major order of the elements.
  const int64_t numel = t->numel();
  const int64_t nd = t->dim();
  const Shape& shape = t->shape();
  if (numel == 0) return empty({0, nd}, DType::Int64);  // the coordinate walk below divides by the sizes
  return DL_DISPATCH_ALL_AND_HALF(t->dtype(), "nonzero", [&] {
    const scalar_t* x = t->data<scalar_t>();
    auto nz = [&](int64_t i) { return convert<double>(x[i]) != 0.0; };
    // Pass 1: count per chunk; pass 2: each chunk writes from its prefix position.
    const int64_t nchunks = std::max<int64_t>(1, std::min<int64_t>(64, numel / 65536));
    const int64_t per = nchunks ? (numel + nchunks - 1) / nchunks : 0;
    std::vector<int64_t> counts(nchunks + 1, 0);
    parallel_for(0, nchunks, 2, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        int64_t cnt = 0;
        for (int64_t i = c * per, end = std::min(numel, (c + 1) * per); i < end; ++i) cnt += nz(i) ? 1 : 0;
        counts[c + 1] = cnt;
      }
    });
    for (int64_t c = 0; c < nchunks; ++c) counts[c + 1] += counts[c];
    // The fill loop writes every element's coordinates and advances only past nonzero ones
    // (no unpredictable branch); writes past a chunk's last row go to a scratch row.
    Tensor out = empty({counts[nchunks], nd}, DType::Int64);
    int64_t* o = out->data<int64_t>();
    parallel_for(0, nchunks, 2, [&](int64_t b, int64_t e) {
      std::vector<int64_t> idx(nd), scratch(nd);
      for (int64_t c = b; c < e; ++c) {
        int64_t row = counts[c];
        const int64_t last = counts[c + 1];
        const int64_t begin = c * per, end = std::min(numel, (c + 1) * per);
        for (int64_t d = nd - 1, r = begin; d >= 0; --d) {
          idx[d] = r % shape[d];
          r /= shape[d];
        }
        for (int64_t i = begin; i < end; ++i) {
          int64_t* dst = row < last ? o + row * nd : scratch.data();
          for (int64_t d = 0; d < nd; ++d) dst[d] = idx[d];
          row += nz(i) ? 1 : 0;
          for (int64_t d = nd - 1; d >= 0 && ++idx[d] == shape[d]; --d) idx[d] = 0;
        }
      }
    });
    return out;
  });
}

void index_range_cpu(const Tensor& index, int64_t* lo, int64_t* hi) {
  const int64_t* x = index->data<int64_t>();
  int64_t a = x[0], b = x[0];
  for (int64_t i = 1, n = index->numel(); i < n; ++i) {
    a = std::min(a, x[i]);
    b = std::max(b, x[i]);
  }
  *lo = a;
  *hi = b;
}

}  // namespace

DL_REGISTER_CPU_KERNEL(index_gather_kernel, index_gather_cpu);
DL_REGISTER_CPU_KERNEL(index_scatter_kernel, index_scatter_cpu);
DL_REGISTER_CPU_KERNEL(index_offsets_kernel, index_offsets_cpu);
DL_REGISTER_CPU_KERNEL(nonzero_kernel, nonzero_cpu);
DL_REGISTER_CPU_KERNEL(index_range_kernel, index_range_cpu);

}  // namespace dlcore
