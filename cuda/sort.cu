// CUDA sort and topk over contiguous rows (Note [Sort order] in ops/sort.h; CPU reference:
// cpu/sort.cpp), for every dtype including float16/bfloat16.
//
// Note [CUDA sort]
// Each element becomes an unsigned key whose integer order is the wanted order: floats by
// their sign-folded bits, with -0.0 made +0.0 (the two compare equal) and every NaN the
// largest key; integers with the sign bit flipped; descending order complements the key.
// Elements are then ordered by (key, column): every element is distinct, so any sorting
// network gives the one stable result and topk's ties go to the lower index.
// 1. tile_sort: a bitonic network in shared memory over tiles of kTile = 2048 elements
//    (1024 threads, one compare-exchange each per step). Rows of n <= 2048 are one tile,
//    padded to a power of two npad; a block holds kTile / npad rows side by side, and writes
//    the result (the first k columns) directly.
// 2. Longer rows: tile_sort leaves sorted runs of 2048 (keys and columns) in a scratch
//    buffer; merge_pass merges neighbouring runs, doubling the run length, until one run
//    spans the row (ceil(log2(n / 2048)) passes). Each element finds its place on its own:
//    its rank in its run plus a binary search for the number of elements of the other run
//    that come before it. gather_kernel then writes the first k columns.
// topk is the sort (descending when largest) cut to k columns. Values are read back from x
// at the sorted columns, so NaN payloads and the sign of zero are kept, as on the CPU.
#include <climits>

#include "loops.cuh"
#include "ops/sort.h"

namespace dlcore {
namespace cuda {
namespace {

constexpr int kTile = 2048;
constexpr int kSortThreads = kTile / 2;

// 64-bit keys for the 8-byte types, 32-bit otherwise (16-bit floats go through float).
template <typename D> using key_t = std::conditional_t<sizeof(D) == 8, uint64_t, uint32_t>;

template <typename D>
__device__ __forceinline__ key_t<D> sort_key(D v) {
  if constexpr (std::is_same_v<D, double>) {
    if (v != v) return ~0ull;
    const uint64_t u = static_cast<uint64_t>(__double_as_longlong(v == 0.0 ? 0.0 : v));
    return (u >> 63) ? ~u : u | (1ull << 63);
  } else if constexpr (std::is_same_v<D, float> || is_half_v<D>) {
    const float f = cast<float>(v);
    if (f != f) return ~0u;
    const uint32_t u = __float_as_uint(f == 0.0f ? 0.0f : f);
    return (u >> 31) ? ~u : u | (1u << 31);
  } else if constexpr (std::is_same_v<D, bool>) {
    return v ? 1u : 0u;
  } else {
    using U = key_t<D>;
    return static_cast<U>(v) ^ (U(1) << (sizeof(U) * 8 - 1));
  }
}

// (ka, ia) after (kb, ib) in the composite order.
template <typename K, typename I>
__device__ __forceinline__ bool after(K ka, I ia, K kb, I ib) {
  return ka > kb || (ka == kb && ia > ib);
}

// Version 1 (and the first step of version 2). Segment g = (row g / tiles, tile g % tiles);
// a block sorts kTile / npad segments. tiles == 1: writes values/indices (rows, k); else the
// sorted runs go to run_keys/run_cols (rows, n).
template <typename D, typename K>
__global__ void __launch_bounds__(kSortThreads)
    tile_sort(const D* x, int64_t rows, int64_t n, int npad, int64_t tiles, bool descending, D* values,
              int64_t* indices, int64_t k, K* run_keys, int64_t* run_cols) {
  __shared__ K skey[kTile];
  __shared__ int scol[kTile];  // column within the tile; INT_MAX for padding
  const int segs = kTile / npad;
  const int64_t total = rows * tiles;
  const int64_t seg0 = static_cast<int64_t>(blockIdx.x) * segs;
  for (int e = threadIdx.x; e < kTile; e += blockDim.x) {
    const int64_t g = seg0 + e / npad;
    const int j = e % npad;
    K key = ~K(0);
    int col = INT_MAX;
    if (g < total) {
      const int64_t row = g / tiles, tile = g % tiles;
      const int64_t len = std::min<int64_t>(kTile, n - tile * kTile);
      if (j < len) {
        key = sort_key(x[row * n + tile * kTile + j]);
        if (descending) key = ~key;
        col = j;
      }
    }
    skey[e] = key;
    scol[e] = col;
  }
  __syncthreads();
  // Bitonic network on each npad-long segment; the last merge (size == npad) is ascending in
  // every segment.
  for (int size = 2; size <= npad; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int t = threadIdx.x; t < kTile / 2; t += blockDim.x) {
        const int a = 2 * stride * (t / stride) + t % stride, b = a + stride;
        const bool up = size == npad || (a & size) == 0;
        const K ka = skey[a], kb = skey[b];
        const int ia = scol[a], ib = scol[b];
        if (after(ka, ia, kb, ib) == up) {
          skey[a] = kb;
          skey[b] = ka;
          scol[a] = ib;
          scol[b] = ia;
        }
      }
      __syncthreads();
    }
  }
  for (int e = threadIdx.x; e < kTile; e += blockDim.x) {
    const int64_t g = seg0 + e / npad;
    const int j = e % npad;
    if (g >= total) continue;
    const int64_t row = g / tiles, tile = g % tiles;
    if (j >= std::min<int64_t>(kTile, n - tile * kTile)) continue;
    const int64_t col = tile * kTile + scol[e];
    if (tiles == 1) {
      if (j < k) {
        values[row * k + j] = x[row * n + col];
        indices[row * k + j] = col;
      }
    } else {
      const int64_t at = row * n + tile * kTile + j;
      run_keys[at] = skey[e];
      run_cols[at] = col;
    }
  }
}

// Merges the sorted runs of length `run` pairwise: runs 2m and 2m + 1 of each row become one
// run at 2m * run. A run without a partner (the last one) stays in place.
template <typename K>
__global__ void merge_pass(K* kout, int64_t* cout, const K* kin, const int64_t* cin, int64_t rows, int64_t n,
                           int64_t run) {
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < rows * n; q += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = q / n, p = q % n;
    const int64_t r = p / run, start = r * run, other = (r ^ 1) * run;
    const K key = kin[q];
    const int64_t col = cin[q];
    int64_t dest = p;
    if (other < n) {
      const K* rk = kin + row * n;
      const int64_t* rc = cin + row * n;
      int64_t lo = other, hi = std::min(n, other + run);  // count the other run's elements before this one
      while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (after(key, col, rk[mid], rc[mid])) lo = mid + 1;
        else hi = mid;
      }
      dest = (r & ~int64_t(1)) * run + (p - start) + (lo - other);
    }
    kout[row * n + dest] = key;
    cout[row * n + dest] = col;
  }
}

// values/indices (rows, k) = the first k sorted columns of each row.
template <typename D>
__global__ void gather_kernel(D* values, int64_t* indices, const D* x, const int64_t* cols, int64_t rows, int64_t n,
                              int64_t k) {
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < rows * k; q += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = q / k, j = q % k;
    const int64_t col = cols[row * n + j];
    values[q] = x[row * n + col];
    indices[q] = col;
  }
}

template <typename D>
void sort_rows(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t rows, int64_t n, int64_t k,
               bool descending) {
  using K = key_t<D>;
  const D* xp = static_cast<const D*>(x->raw_data());
  D* vp = static_cast<D*>(values->raw_data());
  int64_t* ip = indices->data<int64_t>();
  const int64_t tiles = ceil_div(n, kTile);
  int npad = 1;
  while (npad < std::min<int64_t>(n, kTile)) npad <<= 1;
  const int64_t blocks = ceil_div(rows * tiles, kTile / npad);
  DL_CHECK(blocks <= INT_MAX, ValueError, "sort: ", rows, " rows of ", n, " elements is too many for one launch");
  if (tiles == 1) {
    tile_sort<D, K><<<static_cast<unsigned>(blocks), kSortThreads>>>(xp, rows, n, npad, 1, descending, vp, ip, k,
                                                                     nullptr, nullptr);
    DL_CUDA_LAUNCH_CHECK();
    return;
  }
  const Device dev = x->device();
  const DType key_dtype = sizeof(K) == 8 ? DType::Int64 : DType::Int32;
  Tensor keys[2] = {empty({rows, n}, key_dtype, dev), empty({rows, n}, key_dtype, dev)};
  Tensor cols[2] = {empty({rows, n}, DType::Int64, dev), empty({rows, n}, DType::Int64, dev)};
  auto kp = [&](int b) { return static_cast<K*>(keys[b]->raw_data()); };
  auto cp = [&](int b) { return cols[b]->data<int64_t>(); };
  tile_sort<D, K><<<static_cast<unsigned>(blocks), kSortThreads>>>(xp, rows, n, npad, tiles, descending, nullptr,
                                                                   nullptr, k, kp(0), cp(0));
  DL_CUDA_LAUNCH_CHECK();
  int cur = 0;
  for (int64_t run = kTile; run < n; run *= 2, cur ^= 1) {
    merge_pass<K><<<grid_for(rows * n), kBlock>>>(kp(cur ^ 1), cp(cur ^ 1), kp(cur), cp(cur), rows, n, run);
    DL_CUDA_LAUNCH_CHECK();
  }
  gather_kernel<D><<<grid_for(rows * k), kBlock>>>(vp, ip, xp, cp(cur), rows, n, k);
  DL_CUDA_LAUNCH_CHECK();
}

void check_outputs(const char* op, const Tensor& values, const Tensor& indices, const Tensor& x, int64_t rows,
                   int64_t n, int64_t k) {
  DL_CHECK(x->is_contiguous() && x->numel() == rows * n, RuntimeError, op, ": expected a contiguous (", rows, ", ",
           n, ") input, got ", x->describe());
  DL_CHECK(values->dtype() == x->dtype() && values->is_contiguous() && values->numel() == rows * k, RuntimeError, op,
           ": expected a contiguous ", dtype_name(x->dtype()), " (", rows, ", ", k, ") values tensor, got ",
           values->describe());
  DL_CHECK(indices->dtype() == DType::Int64 && indices->is_contiguous() && indices->numel() == rows * k,
           RuntimeError, op, ": expected a contiguous int64 (", rows, ", ", k, ") indices tensor, got ",
           indices->describe());
}

void sort_cuda(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t rows, int64_t n,
               bool descending) {
  check_outputs("sort_kernel", values, indices, x, rows, n, n);
  if (rows * n == 0) return;
  DeviceGuard guard(x->device().index);
  DL_DISPATCH_ALL_AND_HALF(x->dtype(), "sort", [&] {
    sort_rows<device_t<scalar_t>>(values, indices, x, rows, n, n, descending);
  });
}

void topk_cuda(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t rows, int64_t n, int64_t k,
               bool largest) {
  DL_CHECK(k >= 0 && k <= n, ValueError, "topk: k (", k, ") is out of range for rows of ", n);
  check_outputs("topk_kernel", values, indices, x, rows, n, k);
  if (rows * k == 0) return;
  DeviceGuard guard(x->device().index);
  DL_DISPATCH_ALL_AND_HALF(x->dtype(), "topk", [&] {
    sort_rows<device_t<scalar_t>>(values, indices, x, rows, n, k, largest);
  });
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(sort_kernel, CUDA, cuda::sort_cuda);
DL_REGISTER_KERNEL(topk_kernel, CUDA, cuda::topk_cuda);

}  // namespace dlcore
