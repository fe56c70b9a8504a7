// CUDA reductions over contiguous (outer, red, inner) blocks (CPU reference: cpu/reduce.cpp):
//   reduce_kernel: sum, mean, prod, amax/amin, all/any;
//   arg_reduce_kernel (argmax/argmin, max/min along a dim), var_kernel (var/std),
//   logsumexp_kernel, norm_kernel (vector p-norms).
// cumsum_kernel is in cuda/scan.cu.
//
// Layout (Note [Reduction layout] in ops/reduce.h): x is a contiguous (outer, red, inner)
// block; out[o * inner + i] = reduce over r of x[o, r, i]. Output dtypes as on the CPU:
// sum/prod give x's dtype for floats and int64 for integers and bool; mean x's dtype;
// amax/amin x's dtype; all/any bool. float16/bfloat16 (CUDA only) give their own dtype.
// Accumulation: float for float32/float16/bfloat16, double for float64, int64 for integers
// (the CPU accumulates float32 in double: results agree to float32 rounding, ~1e-6 relative).
// A reduction is a policy {init, load, combine, finish}, as in cpu/reduce.h.
//
// Note [Reduction policies with state]
// The accumulator may be a struct: (value, position) for argmax, (count, mean, M2) for var
// (Chan's parallel combination of Welford accumulators: one pass instead of the CPU's two),
// (max, sum of exp(x - max)) for logsumexp (the online form: one pass). Warp shuffles move
// such a struct field by field (shfl_down below). A policy may take the element's position
// (load(v, r)) and may write its outputs itself (store(out, k, acc, red)), which is how argmax
// writes both indices and values and var both the result and the mean; see load_elem and
// store_elem. Within a thread, elements arrive in increasing r; combine must be associative
// and, for argmax, break ties by position so that the first extreme wins whatever the tree.
//
// Kernel versions:
// 1. rows_kernel (inner == 1): lanes of a warp stride along a row, then a shuffle tree.
//    red <= 4096: one warp per row, 8 rows per block; longer rows: a 256-thread block per row.
// 2. cols_kernel (inner > 1): 32 consecutive outputs across a warp (coalesced loads), the
//    block's 8 warps split `red` and combine through shared memory.
// Few outputs over a long `red`: both split `red` into chunks (grid dimension), write
// (outer, chunks, inner) partial accumulators to a scratch buffer, and a second cols_kernel
// pass combines them in order and applies `finish` with the full `red`.
#include <cmath>
#include <limits>

#include "block.cuh"
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

template <typename A> __device__ __forceinline__ bool is_nan_(A v) {
  if constexpr (std::is_floating_point_v<A>) return v != v;
  else return false;
}
__device__ __forceinline__ bool is_finite_(float v) { return ::isfinite(v); }
__device__ __forceinline__ bool is_finite_(double v) { return ::isfinite(v); }

// ---- argmax / argmin -------------------------------------------------------------------------
template <typename V> struct ArgAcc {
  V v;
  int64_t i;  // position along red; INT64_MAX before the first element
};

// The first position of the maximum (kMax) or minimum; a NaN counts as the extreme. values
// (x's dtype) gets the value when not null.
template <typename T, bool kMax> struct ArgP {
  using V = std::conditional_t<std::is_same_v<T, bool>, int, acc_t<T>>;
  using Acc = ArgAcc<V>;
  T* values;
  __device__ Acc init() const {
    if constexpr (std::is_floating_point_v<V>) return {kMax ? V(-INFINITY) : V(INFINITY), INT64_MAX};
    else return {kMax ? std::numeric_limits<V>::lowest() : std::numeric_limits<V>::max(), INT64_MAX};
  }
  __device__ Acc load(T v, int64_t r) const { return {cast<V>(v), r}; }
  // b wins when strictly better, or as good at a lower position (NaN beats any number).
  __device__ Acc combine(Acc a, Acc b) const {
    const bool a_nan = is_nan_(a.v), b_nan = is_nan_(b.v);
    bool take;
    if (a_nan || b_nan) take = b_nan && (!a_nan || b.i < a.i);
    else take = (kMax ? b.v > a.v : b.v < a.v) || (b.v == a.v && b.i < a.i);
    return take ? b : a;
  }
  __device__ void store(int64_t* out, int64_t k, Acc a, int64_t) const {
    out[k] = a.i;
    if (values) values[k] = cast<T>(a.v);
  }
};

// ---- var / std ----------------------------------------------------------------------------------
template <typename A> struct WelfordAcc {
  int64_t n;
  A mean;
  A m2;  // sum of squared deviations from mean
};

// out = m2 / divisor (square-rooted when take_sqrt); mean_out (nullable) gets the mean. Any
// inf or NaN makes the result NaN, as the CPU's two passes do (x - mean is inf - inf or NaN).
template <typename T> struct VarP {
  using A = acc_t<T>;
  using Acc = WelfordAcc<A>;
  T* mean_out;
  A divisor;  // max(0, red - correction)
  bool take_sqrt;
  __device__ Acc init() const { return {0, A(0), A(0)}; }
  __device__ Acc load(T v) const { return {1, cast<A>(v), A(0)}; }
  __device__ Acc combine(Acc a, Acc b) const {
    if (b.n == 0) return a;
    if (a.n == 0) return b;
    const int64_t n = a.n + b.n;
    const A d = b.mean - a.mean, wb = static_cast<A>(b.n) / static_cast<A>(n);
    return {n, a.mean + d * wb, a.m2 + b.m2 + d * d * static_cast<A>(a.n) * wb};
  }
  __device__ void store(T* out, int64_t k, Acc a, int64_t) const {
    const A var = a.n > 0 && !is_finite_(a.mean) ? A(NAN) : a.m2 / divisor;  // divisor 0: NaN or inf
    out[k] = cast<T>(take_sqrt ? ::sqrt(var) : var);
    if (mean_out) mean_out[k] = cast<T>(a.n > 0 ? a.mean : A(NAN));
  }
};

// ---- logsumexp ----------------------------------------------------------------------------------
template <typename A> struct LseAcc {
  A m;  // maximum so far (NaN once any NaN is seen)
  A s;  // sum of exp(x - m); 0 while m is not finite
};

// out = m + log(s); a non-finite maximum is the answer (-inf: all -inf or red == 0).
template <typename T> struct LseP {
  using A = acc_t<T>;
  using Acc = LseAcc<A>;
  __device__ Acc init() const { return {A(-INFINITY), A(0)}; }
  __device__ Acc load(T v) const { return {cast<A>(v), A(1)}; }
  __device__ Acc combine(Acc a, Acc b) const {
    if (a.m != a.m) return a;
    if (b.m != b.m) return b;
    const Acc& hi = b.m > a.m ? b : a;
    const Acc& lo = b.m > a.m ? a : b;
    if (!is_finite_(hi.m)) return {hi.m, A(0)};
    return {hi.m, hi.s + lo.s * exp_(lo.m - hi.m)};  // lo.m == -inf adds 0
  }
  __device__ A finish(Acc a, int64_t) const { return is_finite_(a.m) ? a.m + log_(a.s) : a.m; }
};

// ---- vector norms -------------------------------------------------------------------------------
template <typename T> struct SumSqP : SumP<T> {
  using Acc = acc_t<T>;
  __device__ Acc load(T v) const {
    const Acc a = cast<Acc>(v);
    return a * a;
  }
  __device__ Acc finish(Acc a, int64_t) const { return ::sqrt(a); }
};
template <typename T> struct SumAbsP : SumP<T> {
  using Acc = acc_t<T>;
  __device__ Acc load(T v) const { return ::fabs(cast<Acc>(v)); }
};
template <typename T> struct CountNonzeroP : SumP<T> {
  using Acc = acc_t<T>;
  __device__ Acc load(T v) const { return cast<Acc>(v) != Acc(0) ? Acc(1) : Acc(0); }
};
template <typename T> struct SumPowP : SumP<T> {
  using Acc = acc_t<T>;
  Acc p;
  __device__ Acc load(T v) const { return ::pow(::fabs(cast<Acc>(v)), p); }
  __device__ Acc finish(Acc a, int64_t) const { return ::pow(a, Acc(1) / p); }
};
template <typename T, bool kMax> struct AbsExtremeP : ExtremeP<T, kMax> {
  using Acc = acc_t<T>;
  __device__ Acc load(T v) const { return ::fabs(cast<Acc>(v)); }
};

// ---- policy plumbing (Note [Reduction policies with state]) ------------------------------------
// load_elem(p, v, r, 0) is p.load(v, r) when the policy takes positions, else p.load(v): the
// int/long parameter ranks the overloads.
template <typename P, typename In>
__device__ __forceinline__ auto load_elem(const P& p, In v, int64_t r, int) -> decltype(p.load(v, r)) {
  return p.load(v, r);
}
template <typename P, typename In>
__device__ __forceinline__ typename P::Acc load_elem(const P& p, In v, int64_t, long) {
  return p.load(v);
}
// store_elem(p, out, k, acc, n, 0) is p.store(...) when the policy has one, else out[k] = finish.
template <typename P, typename Out>
__device__ __forceinline__ auto store_elem(const P& p, Out* out, int64_t k, typename P::Acc a, int64_t n, int)
    -> decltype(p.store(out, k, a, n)) {
  p.store(out, k, a, n);
}
template <typename P, typename Out>
__device__ __forceinline__ void store_elem(const P& p, Out* out, int64_t k, typename P::Acc a, int64_t n, long) {
  out[k] = cast<Out>(p.finish(a, n));
}

template <typename V> __device__ __forceinline__ V shfl_down(V v, int off) {
  return __shfl_down_sync(0xffffffffu, v, off);
}
template <typename V> __device__ __forceinline__ ArgAcc<V> shfl_down(ArgAcc<V> a, int off) {
  return {shfl_down(a.v, off), shfl_down(a.i, off)};
}
template <typename A> __device__ __forceinline__ WelfordAcc<A> shfl_down(WelfordAcc<A> a, int off) {
  return {shfl_down(a.n, off), shfl_down(a.mean, off), shfl_down(a.m2, off)};
}
template <typename A> __device__ __forceinline__ LseAcc<A> shfl_down(LseAcc<A> a, int off) {
  return {shfl_down(a.m, off), shfl_down(a.s, off)};
}

// ---- kernels ----------------------------------------------------------------------------------
constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;   // version 1, short rows
constexpr int kColWarps = 8;       // version 2: warps splitting `red`
constexpr int64_t kShortRow = 4096;
constexpr int64_t kMaxGridYZ = 65535;

template <typename P, typename Acc>
__device__ __forceinline__ Acc warp_combine(const P& p, Acc v) {
#pragma unroll
  for (int off = kWarp / 2; off > 0; off >>= 1) v = p.combine(v, shfl_down(v, off));
  return v;
}

// Loads element k of x (at position r along red) as an accumulator: through the policy on
// the first pass, as is on the second (x holds partial accumulators then).
template <bool kAccIn, typename P, typename In>
__device__ __forceinline__ typename P::Acc load_acc(const P& p, const In* x, int64_t k, int64_t r) {
  if constexpr (kAccIn) return x[k];
  else return load_elem(p, x[k], r, 0);
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
    for (int64_t r = begin + tx; r < end; r += blockDim.x) acc = p.combine(acc, load_elem(p, x[row * red + r], r, 0));
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
      if (chunks == 1) store_elem(p, out, row, acc, red, 0);
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
      for (int64_t r = begin + ty; r < end; r += kColWarps) acc = p.combine(acc, load_acc<kAccIn>(p, x, (o * red + r) * inner + i, r));
    slice_acc[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && i < inner) {
      for (int k = 1; k < kColWarps; ++k) acc = p.combine(acc, slice_acc[k][tx]);
      if (chunks == 1) store_elem(p, out, o * inner + i, acc, red_total, 0);
      else partial[(o * chunks + c) * inner + i] = acc;
    }
    __syncthreads();
  }
}

// ---- launch -----------------------------------------------------------------------------------
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
    // (outer, chunks, inner) accumulators; int64 words keep struct accumulators aligned.
    scratch = empty({ceil_div(outer * chunks * inner * int64_t(sizeof(Acc)), 8)}, DType::Int64, dev);
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

// The other slots check their operands' dtypes the same way.
void expect_dtype(const Tensor& t, DType dt, const char* slot, const char* what, const Tensor& x) {
  DL_CHECK(t->dtype() == dt, RuntimeError, slot, ": expected a ", dtype_name(dt), " ", what, " for ",
           x->describe(), ", got ", t->describe());
}

void arg_reduce_cuda(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& x, int64_t outer,
                     int64_t red, int64_t inner) {
  if (outer * inner == 0) return;
  const char* name = is_max ? "argmax" : "argmin";
  DL_CHECK(red > 0, IndexError, name, ": cannot reduce over a zero-size dimension (", x->describe(), ")");
  expect_dtype(indices, DType::Int64, "arg_reduce_kernel", "indices tensor", x);
  if (values) expect_dtype(values, x->dtype(), "arg_reduce_kernel", "values tensor", x);
  DeviceGuard guard(x->device().index);
  DL_DISPATCH_ALL_AND_HALF(x->dtype(), name, [&] {
    using T = device_t<scalar_t>;
    const T* xp = static_cast<const T*>(x->raw_data());
    T* vp = values ? static_cast<T*>(values->raw_data()) : nullptr;
    int64_t* ip = indices->data<int64_t>();
    if (is_max) run_reduce(ArgP<T, true>{vp}, xp, ip, outer, red, inner, x->device());
    else run_reduce(ArgP<T, false>{vp}, xp, ip, outer, red, inner, x->device());
  });
}

void var_cuda(const Tensor& out, const Tensor& mean, const Tensor& x, int64_t outer, int64_t red, int64_t inner,
              double correction, bool take_sqrt) {
  if (outer * inner == 0) return;
  expect_dtype(out, x->dtype(), "var_kernel", "output", x);
  if (mean) expect_dtype(mean, x->dtype(), "var_kernel", "mean tensor", x);
  DeviceGuard guard(x->device().index);
  floating_dispatch(x->dtype(), take_sqrt ? "std" : "var", [&](auto zero) {
    using T = decltype(zero);
    using A = acc_t<T>;
    const A divisor = static_cast<A>(std::max(0.0, static_cast<double>(red) - correction));
    const VarP<T> p{mean ? static_cast<T*>(mean->raw_data()) : nullptr, divisor, take_sqrt};
    run_reduce(p, static_cast<const T*>(x->raw_data()), static_cast<T*>(out->raw_data()), outer, red, inner,
               x->device());
  });
}

void logsumexp_cuda(const Tensor& out, const Tensor& x, int64_t outer, int64_t red, int64_t inner) {
  if (outer * inner == 0) return;
  expect_dtype(out, x->dtype(), "logsumexp_kernel", "output", x);
  DeviceGuard guard(x->device().index);
  floating_dispatch(x->dtype(), "logsumexp", [&](auto zero) {
    using T = decltype(zero);
    run_reduce(LseP<T>{}, static_cast<const T*>(x->raw_data()), static_cast<T*>(out->raw_data()), outer, red, inner,
               x->device());
  });
}

void norm_cuda(const Tensor& out, const Tensor& x, int64_t outer, int64_t red, int64_t inner, double p) {
  if (outer * inner == 0) return;
  expect_dtype(out, x->dtype(), "norm_kernel", "output", x);
  DeviceGuard guard(x->device().index);
  floating_dispatch(x->dtype(), "norm", [&](auto zero) {
    using T = decltype(zero);
    using A = acc_t<T>;
    const T* xp = static_cast<const T*>(x->raw_data());
    T* o = static_cast<T*>(out->raw_data());
    const Device dev = x->device();
    if (p == 2) run_reduce(SumSqP<T>{}, xp, o, outer, red, inner, dev);
    else if (p == 1) run_reduce(SumAbsP<T>{}, xp, o, outer, red, inner, dev);
    else if (std::isinf(p) && p > 0) run_reduce(AbsExtremeP<T, true>{}, xp, o, outer, red, inner, dev);
    else if (std::isinf(p)) run_reduce(AbsExtremeP<T, false>{}, xp, o, outer, red, inner, dev);
    else if (p == 0) run_reduce(CountNonzeroP<T>{}, xp, o, outer, red, inner, dev);
    else run_reduce(SumPowP<T>{{}, static_cast<A>(p)}, xp, o, outer, red, inner, dev);
  });
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(reduce_kernel, CUDA, cuda::reduce_cuda);
DL_REGISTER_KERNEL(arg_reduce_kernel, CUDA, cuda::arg_reduce_cuda);
DL_REGISTER_KERNEL(var_kernel, CUDA, cuda::var_cuda);
DL_REGISTER_KERNEL(logsumexp_kernel, CUDA, cuda::logsumexp_cuda);
DL_REGISTER_KERNEL(norm_kernel, CUDA, cuda::norm_cuda);

}  // namespace dlcore
