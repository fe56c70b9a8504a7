// CPU sort and topk over contiguous rows (Note [Sort order] in ops/sort.h), parallel over rows.
#include "ops/sort.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cpu/loops.h"

namespace dlcore {
namespace {

template <typename T>
inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

// a before b in ascending order (NaN last).
template <typename T>
inline bool less_nan_last(T a, T b) {
  return is_nan(b) ? !is_nan(a) : a < b;
}

void sort_cpu(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t rows, int64_t n,
              bool descending) {
  DL_DISPATCH_ALL(x->dtype(), "sort", [&] {
    const scalar_t* xs = x->data<scalar_t>();
    scalar_t* vs = values->data<scalar_t>();
    int64_t* is = indices->data<int64_t>();
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const scalar_t* row = xs + r * n;
        int64_t* idx = is + r * n;
        std::iota(idx, idx + n, int64_t(0));
        if (descending)
          std::stable_sort(idx, idx + n, [row](int64_t i, int64_t j) { return less_nan_last(row[j], row[i]); });
        else
          std::stable_sort(idx, idx + n, [row](int64_t i, int64_t j) { return less_nan_last(row[i], row[j]); });
        for (int64_t i = 0; i < n; ++i) vs[r * n + i] = row[idx[i]];
      }
    });
  });
}

void topk_cpu(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t rows, int64_t n, int64_t k,
              bool largest) {
  DL_DISPATCH_ALL(x->dtype(), "topk", [&] {
    const scalar_t* xs = x->data<scalar_t>();
    scalar_t* vs = values->data<scalar_t>();
    int64_t* is = indices->data<int64_t>();
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
      std::vector<int64_t> idx(n);
      for (int64_t r = b; r < e; ++r) {
        const scalar_t* row = xs + r * n;
        std::iota(idx.begin(), idx.end(), int64_t(0));
        // A strict total order: by value, then by index (lower first).
        auto better = [row, largest](int64_t i, int64_t j) {
          const scalar_t a = row[i], c = row[j];
          const bool ab = largest ? less_nan_last(c, a) : less_nan_last(a, c);
          const bool ba = largest ? less_nan_last(a, c) : less_nan_last(c, a);
          return ab || (!ba && i < j);
        };
        std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), better);
        for (int64_t i = 0; i < k; ++i) {
          is[r * k + i] = idx[i];
          vs[r * k + i] = row[idx[i]];
        }
      }
    });
  });
}

}  // namespace

DL_REGISTER_CPU_KERNEL(sort_kernel, sort_cpu);
DL_REGISTER_CPU_KERNEL(topk_kernel, topk_cpu);

}  // namespace dlcore
