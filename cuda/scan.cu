// CUDA scans: cumsum_kernel (ops/reduce.h) and nonzero_kernel (ops/index.h), the stream
// compaction behind nonzero. CPU references: cpu/reduce.cpp (cumsum_typed), cpu/index.cpp
// (nonzero_cpu).
//
// cumsum over a contiguous (outer, red, inner) block (Note [Reduction layout] in ops/reduce.h):
// out[o, r, i] = sum over r' <= r (r' >= r when reverse) of x[o, r', i]. out has x's dtype;
// float32 accumulates in double like the CPU, float16/bfloat16 in float, integers in int64.
//
// Note [CUDA scan kernels]
// 1. scan_rows (inner == 1): a 256-thread block walks a row in tiles of 256 elements; each
//    tile is an inclusive block scan (warp shuffles, then a scan of the warp totals) added to
//    the carry of the tiles before it. Reverse scans read the row from its end.
// 2. scan_cols (inner > 1): one thread per (o, i) column walks `red` sequentially; a warp's
//    loads are consecutive along inner.
// Few, long scans: `red` is split into chunks. chunk_sums writes each chunk's total to an
// (outer, chunks, inner) buffer, chunk_offsets turns it into exclusive prefix sums, and the
// scan kernels start each chunk from that carry (three launches instead of one).
//
// nonzero: a block owns a contiguous segment of the (row-major) elements. count_kernel counts
// each segment's nonzeros, offsets_kernel scans the counts on one block and leaves the total
// last, the host reads the total (the one synchronisation: the output's size depends on it),
// and write_kernel re-walks each segment in tiles, placing every nonzero element's
// coordinates at its segment offset plus its rank in a block scan of the tile's flags. The
// rows come out in element order, as on the CPU.
#include "block.cuh"
#include "loops.cuh"
#include "ops/index.h"
#include "ops/reduce.h"

namespace dlcore {
namespace cuda {
namespace {

constexpr int kScanThreads = 256;
constexpr int64_t kMaxGridY = 65535;

template <typename T>
using scan_acc_t = std::conditional_t<std::is_integral_v<T>, int64_t,
                                      std::conditional_t<std::is_same_v<T, float>, double, acc_t<T>>>;

// Inclusive scan of v over the block (blockDim.x a multiple of 32, every thread calls);
// *total gets the block's sum. warp_tot holds 32 values; the leading barrier lets calls follow
// each other with the same buffer.
template <typename A>
__device__ __forceinline__ A block_inclusive_scan(A v, A* warp_tot, A* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const A y = __shfl_up_sync(0xffffffffu, v, off);
    if (lane >= off) v += y;
  }
  __syncthreads();
  if (lane == 31) warp_tot[warp] = v;
  __syncthreads();
  if (warp == 0) {
    A t = lane < nwarps ? warp_tot[lane] : A(0);
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
      const A y = __shfl_up_sync(0xffffffffu, t, off);
      if (lane >= off) t += y;
    }
    if (lane < nwarps) warp_tot[lane] = t;
  }
  __syncthreads();
  if (warp > 0) v += warp_tot[warp - 1];
  *total = warp_tot[nwarps - 1];
  return v;
}

// ---- cumsum -------------------------------------------------------------------------------------
// Chunk c of a scan covers steps k in [c * chunk_len, min(red, (c + 1) * chunk_len)); step k
// is position r = k (or red - 1 - k when reverse).
struct ChunkRange {
  int64_t begin, end;
  __device__ ChunkRange(int64_t c, int64_t chunk_len, int64_t red)
      : begin(c * chunk_len), end(c * chunk_len + chunk_len < red ? c * chunk_len + chunk_len : red) {}
};

// Version 1. grid = (chunks, row blocks); carry (nullable): (outer, chunks) chunk offsets.
template <typename T, typename A>
__global__ void __launch_bounds__(kScanThreads)
    scan_rows(T* out, const T* x, const A* carry_in, int64_t outer, int64_t red, int64_t chunks, int64_t chunk_len,
              bool reverse) {
  __shared__ A warp_tot[32];
  const int64_t c = blockIdx.x;
  const ChunkRange range(c, chunk_len, red);
  for (int64_t row = blockIdx.y; row < outer; row += gridDim.y) {
    const T* xr = x + row * red;
    T* yr = out + row * red;
    A carry = carry_in ? carry_in[row * chunks + c] : A(0);
    for (int64_t base = range.begin; base < range.end; base += blockDim.x) {
      const int64_t k = base + threadIdx.x;
      const int64_t r = reverse ? red - 1 - k : k;
      const bool in = k < range.end;
      A total;
      const A v = block_inclusive_scan(in ? cast<A>(xr[r]) : A(0), warp_tot, &total);
      if (in) yr[r] = cast<T>(carry + v);
      carry += total;
    }
  }
}

// Version 2. grid = (column blocks, chunks); carry (nullable): (outer, chunks, inner).
template <typename T, typename A>
__global__ void scan_cols(T* out, const T* x, const A* carry_in, int64_t outer, int64_t red, int64_t inner,
                          int64_t chunks, int64_t chunk_len, bool reverse) {
  const int64_t c = blockIdx.y;
  const ChunkRange range(c, chunk_len, red);
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < outer * inner;
       q += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = q / inner, i = q % inner;
    const int64_t base = o * red * inner + i;
    A acc = carry_in ? carry_in[(o * chunks + c) * inner + i] : A(0);
    for (int64_t k = range.begin; k < range.end; ++k) {
      const int64_t at = base + (reverse ? red - 1 - k : k) * inner;
      acc += cast<A>(x[at]);
      out[at] = cast<T>(acc);
    }
  }
}

// sums[(o, c, i)] = sum of chunk c of column (o, i). Rows: grid = (chunks, row blocks), a block
// per chunk; columns: grid = (column blocks, chunks), a thread per column.
template <typename T, typename A>
__global__ void __launch_bounds__(kScanThreads)
    chunk_sums_rows(A* sums, const T* x, int64_t outer, int64_t red, int64_t chunks, int64_t chunk_len, bool reverse) {
  __shared__ A scratch[32];
  const int64_t c = blockIdx.x;
  const ChunkRange range(c, chunk_len, red);
  for (int64_t row = blockIdx.y; row < outer; row += gridDim.y) {
    A s = 0;
    for (int64_t k = range.begin + threadIdx.x; k < range.end; k += blockDim.x)
      s += cast<A>(x[row * red + (reverse ? red - 1 - k : k)]);
    s = block_reduce(s, SumOp{}, A(0), scratch);
    if (threadIdx.x == 0) sums[row * chunks + c] = s;
  }
}

template <typename T, typename A>
__global__ void chunk_sums_cols(A* sums, const T* x, int64_t outer, int64_t red, int64_t inner, int64_t chunks,
                                int64_t chunk_len, bool reverse) {
  const int64_t c = blockIdx.y;
  const ChunkRange range(c, chunk_len, red);
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < outer * inner;
       q += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = q / inner, i = q % inner;
    A s = 0;
    for (int64_t k = range.begin; k < range.end; ++k) s += cast<A>(x[(o * red + (reverse ? red - 1 - k : k)) * inner + i]);
    sums[(o * chunks + c) * inner + i] = s;
  }
}

// In place over c: sums[(o, c, i)] = sum of the chunks before c (exclusive prefix).
template <typename A>
__global__ void chunk_offsets(A* sums, int64_t outer, int64_t inner, int64_t chunks) {
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < outer * inner;
       q += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = q / inner, i = q % inner;
    A run = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      A& s = sums[(o * chunks + c) * inner + i];
      const A t = s;
      s = run;
      run += t;
    }
  }
}

template <typename A> constexpr DType scan_acc_dtype() {
  if constexpr (std::is_same_v<A, float>) return DType::Float32;
  else if constexpr (std::is_same_v<A, double>) return DType::Float64;
  else return DType::Int64;
}

template <typename T>
void cumsum_typed(const Tensor& out, const Tensor& x, int64_t outer, int64_t red, int64_t inner, bool reverse) {
  using A = scan_acc_t<T>;
  T* op = static_cast<T*>(out->raw_data());
  const T* xp = static_cast<const T*>(x->raw_data());
  const Device dev = x->device();
  // Chunking: about 1024 blocks (rows) or 64K threads (columns) in all, chunks of at least
  // 4096 (rows) or 64 (columns) steps.
  int64_t chunks = 1;
  if (inner == 1) {
    constexpr int64_t kMinChunk = 4096, kTargetBlocks = 1024;
    if (outer < kTargetBlocks && red >= 2 * kMinChunk)
      chunks = std::min({ceil_div(kTargetBlocks, outer), ceil_div(red, kMinChunk), kMaxGridY});
  } else {
    constexpr int64_t kMinChunk = 64, kTargetThreads = 65536;
    if (outer * inner < kTargetThreads && red >= 2 * kMinChunk)
      chunks = std::min({ceil_div(kTargetThreads, outer * inner), ceil_div(red, kMinChunk), kMaxGridY});
  }
  const int64_t chunk_len = ceil_div(red, chunks);
  chunks = ceil_div(red, chunk_len);  // no empty trailing chunk
  Tensor sums;
  A* carry = nullptr;
  if (chunks > 1) {
    sums = empty({outer, chunks, inner}, scan_acc_dtype<A>(), dev);
    carry = static_cast<A*>(sums->raw_data());
  }
  if (inner == 1) {
    const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(std::min(kMaxGridY, outer)));
    if (carry) {
      chunk_sums_rows<T, A><<<grid, kScanThreads>>>(carry, xp, outer, red, chunks, chunk_len, reverse);
      DL_CUDA_LAUNCH_CHECK();
      chunk_offsets<A><<<grid_for(outer), kBlock>>>(carry, outer, 1, chunks);
      DL_CUDA_LAUNCH_CHECK();
    }
    scan_rows<T, A><<<grid, kScanThreads>>>(op, xp, carry, outer, red, chunks, chunk_len, reverse);
    DL_CUDA_LAUNCH_CHECK();
  } else {
    const dim3 grid(grid_for(outer * inner), static_cast<unsigned>(chunks));
    if (carry) {
      chunk_sums_cols<T, A><<<grid, kBlock>>>(carry, xp, outer, red, inner, chunks, chunk_len, reverse);
      DL_CUDA_LAUNCH_CHECK();
      chunk_offsets<A><<<grid_for(outer * inner), kBlock>>>(carry, outer, inner, chunks);
      DL_CUDA_LAUNCH_CHECK();
    }
    scan_cols<T, A><<<grid, kBlock>>>(op, xp, carry, outer, red, inner, chunks, chunk_len, reverse);
    DL_CUDA_LAUNCH_CHECK();
  }
}

void cumsum_cuda(const Tensor& out, const Tensor& x, int64_t outer, int64_t red, int64_t inner, bool reverse) {
  DL_CHECK(out->dtype() == x->dtype(), RuntimeError, "cumsum_kernel: expected a ", dtype_name(x->dtype()),
           " output for ", x->describe(), ", got ", out->describe());
  if (outer * red * inner == 0) return;
  DeviceGuard guard(x->device().index);
  switch (x->dtype()) {
    case DType::Float32: return cumsum_typed<float>(out, x, outer, red, inner, reverse);
    case DType::Float64: return cumsum_typed<double>(out, x, outer, red, inner, reverse);
    case DType::Float16: return cumsum_typed<__half>(out, x, outer, red, inner, reverse);
    case DType::BFloat16: return cumsum_typed<__nv_bfloat16>(out, x, outer, red, inner, reverse);
    case DType::Int64: return cumsum_typed<int64_t>(out, x, outer, red, inner, reverse);
    case DType::Int32: return cumsum_typed<int32_t>(out, x, outer, red, inner, reverse);
    default: break;
  }
  throw TypeError(str_cat("cumsum: unsupported dtype ", dtype_name(x->dtype()), " on CUDA"));
}

// ---- nonzero ------------------------------------------------------------------------------------
constexpr int kNzThreads = 256;
constexpr int64_t kNzMaxBlocks = 1024;  // offsets_kernel scans the counts with one 1024-thread block

template <typename T>
__device__ __forceinline__ int64_t is_nonzero(T v) {
  return cast<acc_t<T>>(v) != acc_t<T>(0) ? 1 : 0;  // NaN counts
}

// counts[b] = nonzeros among elements [b * seg, min(numel, (b + 1) * seg)).
template <typename T>
__global__ void __launch_bounds__(kNzThreads) count_kernel(int64_t* counts, const T* x, int64_t numel, int64_t seg) {
  __shared__ int64_t scratch[32];
  const int64_t begin = blockIdx.x * seg, end = begin + seg < numel ? begin + seg : numel;
  int64_t n = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) n += is_nonzero(x[i]);
  n = block_reduce(n, SumOp{}, int64_t(0), scratch);
  if (threadIdx.x == 0) counts[blockIdx.x] = n;
}

// counts[0, nblocks) becomes exclusive offsets and counts[nblocks] the total. One block of
// 1024 threads, nblocks <= 1024.
__global__ void __launch_bounds__(1024) offsets_kernel(int64_t* counts, int nblocks) {
  __shared__ int64_t warp_tot[32];
  const int b = threadIdx.x;
  const int64_t v = b < nblocks ? counts[b] : 0;
  int64_t total;
  const int64_t incl = block_inclusive_scan(v, warp_tot, &total);
  if (b < nblocks) counts[b] = incl - v;
  if (b == 0) counts[nblocks] = total;
}

struct NzShape {
  int64_t size[kMaxDims];
  int nd;
};

// out (n, nd): the coordinates of each nonzero element, in element order.
template <typename T>
__global__ void __launch_bounds__(kNzThreads)
    write_kernel(int64_t* out, const T* x, const int64_t* offsets, int64_t numel, int64_t seg, NzShape shape) {
  __shared__ int64_t warp_tot[32];
  const int64_t begin = blockIdx.x * seg, end = begin + seg < numel ? begin + seg : numel;
  int64_t row0 = offsets[blockIdx.x];
  for (int64_t base = begin; base < end; base += blockDim.x) {
    const int64_t i = base + threadIdx.x;
    const int64_t flag = i < end ? is_nonzero(x[i]) : 0;
    int64_t total;
    const int64_t rank = block_inclusive_scan(flag, warp_tot, &total) - flag;
    if (flag) {
      int64_t* dst = out + (row0 + rank) * shape.nd;
      int64_t rem = i;
      for (int d = shape.nd - 1; d >= 0; --d) {
        const int64_t q = rem / shape.size[d];
        dst[d] = rem - q * shape.size[d];
        rem = q;
      }
    }
    row0 += total;
  }
}

Tensor nonzero_cuda(const Tensor& t) {
  const int64_t numel = t->numel();
  const int64_t nd = t->dim();
  const Device dev = t->device();
  DL_CHECK(t->is_contiguous(), RuntimeError, "nonzero_kernel: expected a contiguous input, got ", t->describe());
  DL_CHECK(nd <= kMaxDims, ValueError, "nonzero: at most ", kMaxDims, " dimensions on CUDA, got ", t->describe());
  if (numel == 0) return empty({0, nd}, DType::Int64, dev);
  DeviceGuard guard(dev.index);
  // Segments of at least 4 elements a thread; at most kNzMaxBlocks of them, none empty.
  const int64_t seg0 = ceil_div(numel, std::min(kNzMaxBlocks, ceil_div(numel, 4 * kNzThreads)));
  const int64_t seg = ceil_div(seg0, kNzThreads) * kNzThreads;
  const int nblocks = static_cast<int>(ceil_div(numel, seg));
  Tensor counts = empty({nblocks + 1}, DType::Int64, dev);
  int64_t* cp = counts->data<int64_t>();
  NzShape shape{};
  shape.nd = static_cast<int>(nd);
  for (int64_t d = 0; d < nd; ++d) shape.size[d] = t->shape()[d];
  Tensor out;
  DL_DISPATCH_ALL_AND_HALF(t->dtype(), "nonzero", [&] {
    using D = device_t<scalar_t>;
    const D* x = static_cast<const D*>(t->raw_data());
    count_kernel<D><<<nblocks, kNzThreads>>>(cp, x, numel, seg);
    DL_CUDA_LAUNCH_CHECK();
    offsets_kernel<<<1, 1024>>>(cp, nblocks);
    DL_CUDA_LAUNCH_CHECK();
    int64_t n = 0;
    DL_CUDA_CHECK(cudaMemcpy(&n, cp + nblocks, sizeof(n), cudaMemcpyDeviceToHost));
    out = empty({n, nd}, DType::Int64, dev);
    if (n == 0 || nd == 0) return;
    write_kernel<D><<<nblocks, kNzThreads>>>(out->data<int64_t>(), x, cp, numel, seg, shape);
    DL_CUDA_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(cumsum_kernel, CUDA, cuda::cumsum_cuda);
DL_REGISTER_KERNEL(nonzero_kernel, CUDA, cuda::nonzero_cuda);

}  // namespace dlcore
