// CUDA reductions for reduce_kernel: sum, mean, prod, amax/amin, all/any (CPU reference:
// cpu/reduce.cpp). The other reduction slots (arg_reduce, var, logsumexp, norm, cumsum) have
// no CUDA kernel yet; calling them raises "<slot> has no CUDA kernel (available: CPU)".
//
// Layout (Note [Reduction layout] in ops/reduce.h): x is a contiguous (outer, red, inner)
// block; out[o * inner + i] = reduce over r of x[o, r, i]. Output dtypes as on the CPU:
// sum/prod give x's dtype for floats and int64 for integers and bool; mean x's dtype;
// amax/amin x's dtype; all/any bool. float16/bfloat16 (CUDA only) give their own dtype.
// Accumulation: float for float32/float16/bfloat16, double for float64, int64 for integers
// (the CPU accumulates float32 in double: results agree to float32 rounding, ~1e-6 relative).
// A reduction is a policy {init, load, combine, finish}, as in cpu/reduce.h.
//
// Kernel versions:
// 1. rows_kernel (inner == 1): lanes of a warp stride along a row, then a shuffle tree.
//    red <= 4096: one warp per row, 8 rows per block; longer rows: a 256-thread block per row.
// 2. cols_kernel (inner > 1): 32 consecutive outputs across a warp (coalesced loads), the
//    block's 8 warps split `red` and combine through shared memory.
// Few outputs over a long `red`: both split `red` into chunks (grid dimension), write
// (outer, chunks, inner) partial accumulators to a scratch tensor, and a second cols_kernel
// pass combines them in order and applies `finish` with the full `red`.
#include <limits>

#include "loops.cuh"
#include "ops/reduce.h"

namespace dlcore {
namespace cuda {
namespace {

// ---- policies -------------------------------------------------------------------------------
template <typename T>
using red_acc_t = std::conditional_t<std::is_integral_v<T>, int64_t, acc_t<T>>;  // bool is integral

template <typename T> struct SumP {
  using Acc = red_acc_t<T>;
  __device__ Acc init() const { return Acc(0); }
  __device__ Acc load(T v) const { return cast<Acc>(v); }
  __device__ Acc combine(Acc a, Acc b) const { return a + b; }
  __device__ Acc finish(Acc a, int64_t) const { return a; }
};
template <typename T> struct MeanP : SumP<T> {
  using Acc = red_acc_t<T>;
  __device__ Acc finish(Acc a, int64_t n) const { return a / static_cast<Acc>(n); }  // n == 0 gives NaN
};
template <typename T> struct ProdP : SumP<T> {
  using Acc = red_acc_t<T>;
  __device__ Acc init() const { return Acc(1); }
  __device__ Acc combine(Acc a, Acc b) const { return a * b; }
};
// Maximum (kMax) or minimum; a NaN wins over everything (PyTorch's propagation).
template <typename T, bool kMax> struct ExtremeP {
  using Acc = std::conditional_t<std::is_same_v<T, bool>, int, acc_t<T>>;  // int: shuffles take no bool
  __device__ Acc init() const {
    if constexpr (std::is_floating_point_v<Acc>) return kMax ? -INFINITY : INFINITY;
    else return kMax ? std::numeric_limits<Acc>::lowest() : std::numeric_limits<Acc>::max();
  }
  __device__ Acc load(T v) const { return cast<Acc>(v); }
  __device__ Acc combine(Acc a, Acc b) const {
    const bool b_nan = std::is_floating_point_v<Acc> && b != b;
    return ((kMax ? b > a : b < a) || b_nan) ? b : a;
  }
  __device__ Acc finish(Acc a, int64_t) const { return a; }
};
template <typename T, bool kAll> struct LogicalP {
  using Acc = int;  // 0/1; int so that warp shuffles take it
  __device__ Acc init() const { return kAll ? 1 : 0; }
  __device__ Acc load(T v) const { return cast<acc_t<T>>(v) != acc_t<T>(0) ? 1 : 0; }  // NaN counts as true
  __device__ Acc combine(Acc a, Acc b) const { return kAll ? (a & b) : (a | b); }
  __device__ Acc finish(Acc a, int64_t) const { return a; }
};

// ---- kernels ----------------------------------------------------------------------------------
constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;   // version 1, short rows
constexpr int kColWarps = 8;       // version 2: warps splitting `red`
constexpr int64_t kShortRow = 4096;
constexpr int64_t kMaxGridYZ = 65535;

template <typename P, typename Acc>
__device__ __forceinline__ Acc warp_combine(const P& p, Acc v) {
#pragma unroll
  for (int off = kWarp / 2; off > 0; off >>= 1) v = p.combine(v, __shfl_down_sync(0xffffffffu, v, off));
  return v;
}

// Loads element k of x as an accumulator: through the policy on the first pass, as is on the
// second (x holds partial accumulators then).
template <bool kAccIn, typename P, typename In>
__device__ __forceinline__ typename P::Acc load_acc(const P& p, const In* x, int64_t k) {
  if constexpr (kAccIn) return x[k];
  else return p.load(x[k]);
}

// Version 1. blockDim = (threads along the row, rows per block); grid = (chunks, row blocks).
// Chunk c of a row covers [c * chunk_len, min(red, (c + 1) * chunk_len)).
template <typename P, typename In, typename Out>
__global__ void rows_kernel(P p, const In* x, Out* out, typename P::Acc* partial, int64_t outer, int64_t red,
                            int64_t chunks, int64_t chunk_len) {
  using Acc = typename P::Acc;
  __shared__ Acc warp_acc[kWarp];
  const int tx = threadIdx.x, lane = tx & (kWarp - 1), warp = tx / kWarp, nwarps = blockDim.x / kWarp;
  const int64_t c = blockIdx.x;
  const int64_t begin = c * chunk_len;
  const int64_t end = begin + chunk_len < red ? begin + chunk_len : red;
  for (int64_t row = static_cast<int64_t>(blockIdx.y) * blockDim.y + threadIdx.y; row < outer;
       row += static_cast<int64_t>(gridDim.y) * blockDim.y) {
    Acc acc = p.init();
    for (int64_t r = begin + tx; r < end; r += blockDim.x) acc = p.combine(acc, p.load(x[row * red + r]));
    acc = warp_combine(p, acc);
    if (nwarps > 1) {  // blockDim.y == 1 here: combine the warps through shared memory
      if (lane == 0) warp_acc[warp] = acc;
      __syncthreads();
      if (warp == 0) {
        acc = lane < nwarps ? warp_acc[lane] : p.init();
        acc = warp_combine(p, acc);
      }
      __syncthreads();
    }
    if (tx == 0) {
      if (chunks == 1) out[row] = cast<Out>(p.finish(acc, red));
      else partial[row * chunks + c] = acc;
    }
  }
}

// Version 2. blockDim = (32 outputs, kColWarps slices of red); grid = (inner tiles, outer
// blocks, chunks). With chunks == 1 the result goes to out, finished with `red_total`.
template <bool kAccIn, typename P, typename In, typename Out>
__global__ void cols_kernel(P p, const In* x, Out* out, typename P::Acc* partial, int64_t outer, int64_t red,
                            int64_t inner, int64_t chunks, int64_t chunk_len, int64_t red_total) {
  using Acc = typename P::Acc;
  __shared__ Acc slice_acc[kColWarps][kWarp];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kWarp + tx;
  const int64_t c = blockIdx.z;
  const int64_t begin = c * chunk_len;
  const int64_t end = begin + chunk_len < red ? begin + chunk_len : red;
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    Acc acc = p.init();
    if (i < inner)
      for (int64_t r = begin + ty; r < end; r += kColWarps) acc = p.combine(acc, load_acc<kAccIn>(p, x, (o * red + r) * inner + i));
    slice_acc[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && i < inner) {
      for (int k = 1; k < kColWarps; ++k) acc = p.combine(acc, slice_acc[k][tx]);
      if (chunks == 1) out[o * inner + i] = cast<Out>(p.finish(acc, red_total));
      else partial[(o * chunks + c) * inner + i] = acc;
    }
    __syncthreads();
  }
}

// ---- launch -----------------------------------------------------------------------------------
template <typename Acc> constexpr DType acc_dtype() {
  if constexpr (std::is_same_v<Acc, float>) return DType::Float32;
  else if constexpr (std::is_same_v<Acc, double>) return DType::Float64;
  else if constexpr (std::is_same_v<Acc, int>) return DType::Int32;
  else return DType::Int64;
}

// Splits `red` when there are too few blocks to fill the GPU: aim for ~1024 blocks in all,
// each chunk at least `min_chunk` long.
int64_t chunks_for(int64_t blocks, int64_t red, int64_t min_chunk) {
  constexpr int64_t kTargetBlocks = 1024;
  if (blocks >= kTargetBlocks || red <= 2 * min_chunk) return 1;
  return std::max<int64_t>(1, std::min({ceil_div(kTargetBlocks, blocks), ceil_div(red, min_chunk), kMaxGridYZ}));
}

template <typename P, typename In, typename Out>
void run_reduce(const P& p, const In* x, Out* out, int64_t outer, int64_t red, int64_t inner, Device dev) {
  using Acc = typename P::Acc;
  int64_t chunks = 1;
  Tensor scratch;
  Acc* partial = nullptr;
  auto make_scratch = [&] {
    scratch = empty({outer, chunks, inner}, acc_dtype<Acc>(), dev);
    partial = static_cast<Acc*>(scratch->raw_data());
  };
  if (inner == 1) {
    if (red <= kShortRow) {
      const dim3 block(kWarp, kRowsPerBlock);
      const dim3 grid(1, static_cast<unsigned>(std::min(kMaxGridYZ, ceil_div(outer, kRowsPerBlock))));
      rows_kernel<P, In, Out><<<grid, block>>>(p, x, out, nullptr, outer, red, 1, red);
      DL_CUDA_LAUNCH_CHECK();
      return;
    }
    chunks = chunks_for(outer, red, 16 * kBlock);
    if (chunks > 1) make_scratch();
    const int64_t chunk_len = ceil_div(red, chunks);
    const dim3 block(kBlock, 1);
    const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(std::min(kMaxGridYZ, outer)));
    rows_kernel<P, In, Out><<<grid, block>>>(p, x, out, partial, outer, red, chunks, chunk_len);
    DL_CUDA_LAUNCH_CHECK();
  } else {
    const int64_t tiles = ceil_div(inner, kWarp);
    const int64_t oblocks = std::min(kMaxGridYZ, outer);
    chunks = chunks_for(tiles * oblocks, red, 64 * kColWarps);
    if (chunks > 1) make_scratch();
    const int64_t chunk_len = ceil_div(red, chunks);
    const dim3 block(kWarp, kColWarps);
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(oblocks), static_cast<unsigned>(chunks));
    cols_kernel<false, P, In, Out><<<grid, block>>>(p, x, out, partial, outer, red, inner, chunks, chunk_len, red);
    DL_CUDA_LAUNCH_CHECK();
  }
  if (chunks == 1) return;
  // Second pass over the (outer, chunks, inner) partials.
  const dim3 block(kWarp, kColWarps);
  const dim3 grid(static_cast<unsigned>(ceil_div(inner, kWarp)), static_cast<unsigned>(std::min(kMaxGridYZ, outer)), 1);
  cols_kernel<true, P, Acc, Out><<<grid, block>>>(p, partial, out, nullptr, outer, chunks, inner, 1, chunks, red);
  DL_CUDA_LAUNCH_CHECK();
}

const char* reduce_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Mean: return "mean";
    case ReduceOp::Prod: return "prod";
    case ReduceOp::Max: return "amax";
    case ReduceOp::Min: return "amin";
    case ReduceOp::All: return "all";
    case ReduceOp::Any: return "any";
  }
  return "?";
}

// The output dtype the op allocated must be the one this kernel writes.
template <typename Out>
Out* out_ptr(const Tensor& out, DType expected, ReduceOp op, DType in) {
  DL_CHECK(out->dtype() == expected, RuntimeError, "reduce_kernel (", reduce_name(op), "): expected a ",
           dtype_name(expected), " output for ", dtype_name(in), " input, got ", out->describe());
  return static_cast<Out*>(out->raw_data());
}

void reduce_cuda(ReduceOp op, const Tensor& out, const Tensor& x, int64_t outer, int64_t red, int64_t inner) {
  if (outer * inner == 0) return;
  DeviceGuard guard(out->device().index);
  const Device dev = out->device();
  const DType in = x->dtype();
  DL_DISPATCH_ALL_AND_HALF(in, reduce_name(op), [&] {
    using T = device_t<scalar_t>;
    const T* xp = static_cast<const T*>(x->raw_data());
    constexpr bool is_float = std::is_floating_point_v<acc_t<T>>;
    switch (op) {
      case ReduceOp::Sum:
      case ReduceOp::Prod: {
        using Out = std::conditional_t<is_float, T, int64_t>;
        Out* o = out_ptr<Out>(out, is_float ? in : DType::Int64, op, in);
        if (op == ReduceOp::Sum) run_reduce(SumP<T>{}, xp, o, outer, red, inner, dev);
        else run_reduce(ProdP<T>{}, xp, o, outer, red, inner, dev);
        return;
      }
      case ReduceOp::Mean:
        if constexpr (is_float) {
          run_reduce(MeanP<T>{}, xp, out_ptr<T>(out, in, op, in), outer, red, inner, dev);
          return;
        }
        break;
      case ReduceOp::Max:
        run_reduce(ExtremeP<T, true>{}, xp, out_ptr<T>(out, in, op, in), outer, red, inner, dev);
        return;
      case ReduceOp::Min:
        run_reduce(ExtremeP<T, false>{}, xp, out_ptr<T>(out, in, op, in), outer, red, inner, dev);
        return;
      case ReduceOp::All:
        run_reduce(LogicalP<T, true>{}, xp, out_ptr<bool>(out, DType::Bool, op, in), outer, red, inner, dev);
        return;
      case ReduceOp::Any:
        run_reduce(LogicalP<T, false>{}, xp, out_ptr<bool>(out, DType::Bool, op, in), outer, red, inner, dev);
        return;
    }
    throw TypeError(str_cat(reduce_name(op), ": ", dtype_name(in), " input is not supported on CUDA"));
  });
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(reduce_kernel, CUDA, cuda::reduce_cuda);

}  // namespace dlcore
