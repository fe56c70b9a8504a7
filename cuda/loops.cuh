// The generic CUDA elementwise launcher, shared by copy.cu, binary.cu and unary.cu: the
// device mirror of cpu/loops.h.
//
// launch_elementwise<Out, A, B, C>(iter, device, f) writes out[i] = f(a[i], b[i], c[i]) for
// 0 to 3 inputs (unused ones are NoInput) over an ElementwiseIter whose data pointers are
// device pointers. Operand types are device storage types (device_t<T>: __half for Half);
// functors convert to their compute type themselves (Computed<> below does it for the
// usual "compute in acc_t<T>" case).
//
// Note [Elementwise kernel versions]
// 1. contig_kernel<V>: the iteration is one dense run (after ElementwiseIter coalesced the
//    dims) where every input is dense or a broadcast scalar (stride 0), and every dense
//    pointer is aligned to a V-element vector. Each thread handles V elements with one
//    16-byte load/store per dense operand (V = 16 / the widest operand's size); the
//    numel % V tail is done element by element by the first threads.
// 2. strided_kernel: anything else. Up to 16 coalesced dims (shape and per-operand byte
//    strides, innermost last) travel by value in the kernel parameters; each thread turns a
//    linear index into per-operand byte offsets, with 32-bit division when numel < 2^31.
// Both use grid-stride loops, so a capped grid still covers any size.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <type_traits>

#include "cuda_check.cuh"
#include "dlcore/iter.h"

namespace dlcore {
namespace cuda {

// ---- element types ------------------------------------------------------------------------
// dlcore::Half / BFloat16 are bit-compatible with CUDA's __half / __nv_bfloat16.
template <typename T> struct device_type { using type = T; };
template <> struct device_type<Half> { using type = __half; };
template <> struct device_type<BFloat16> { using type = __nv_bfloat16; };
template <typename T> using device_t = typename device_type<T>::type;

template <typename T>
constexpr bool is_half_v = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;
// The type arithmetic is done in: float for the 16-bit floats, the type itself otherwise.
template <typename T> using acc_t = std::conditional_t<is_half_v<T>, float, T>;

// Value conversion with the CPU's semantics (dlcore::convert): 16-bit floats go through
// float, anything to bool is `!= 0`.
template <typename To, typename From>
__device__ __forceinline__ To cast(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<From, __half>) {
    return cast<To>(__half2float(v));
  } else if constexpr (std::is_same_v<From, __nv_bfloat16>) {
    return cast<To>(__bfloat162float(v));
  } else if constexpr (std::is_same_v<To, __half>) {
    return __float2half_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, __nv_bfloat16>) {
    return __float2bfloat16_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else {
    return static_cast<To>(v);
  }
}

// Wraps an op written for the compute type: loads T, computes Op in acc_t<T>, stores Out.
template <typename Out, typename T, typename Op>
struct Computed {
  Op op;
  __device__ __forceinline__ Out operator()(T a) const { return cast<Out>(op(cast<acc_t<T>>(a))); }
  __device__ __forceinline__ Out operator()(T a, T b) const {
    return cast<Out>(op(cast<acc_t<T>>(a), cast<acc_t<T>>(b)));
  }
};

// ---- kernels ------------------------------------------------------------------------------
struct NoInput {};
constexpr int kMaxDims = 16;
constexpr int kBlock = 256;
constexpr int64_t kMaxGrid = int64_t(1) << 20;  // blocks; grid-stride loops cover the rest

template <typename A, typename B, typename C>
constexpr int num_operands() {
  return 1 + !std::is_same_v<A, NoInput> + !std::is_same_v<B, NoInput> + !std::is_same_v<C, NoInput>;
}

template <int NT>
struct ContigArgs {
  char* data[NT];
  bool scalar[NT];  // broadcast input: every element reads data[k][0]
  int64_t numel;
};

template <int NT>
struct StridedArgs {
  char* data[NT];
  int64_t sizes[kMaxDims];         // coalesced shape, innermost last
  int64_t strides[NT][kMaxDims];   // bytes
  int ndim;
  bool index32;                    // numel < 2^31: cheaper 32-bit division
  int64_t numel;

  __device__ __forceinline__ void offsets(int64_t linear, int64_t* off) const {
#pragma unroll
    for (int t = 0; t < NT; ++t) off[t] = 0;
    if (ndim == 0) return;
    if (index32) {
      uint32_t rem = static_cast<uint32_t>(linear);
      for (int d = ndim - 1; d > 0; --d) {
        const uint32_t size = static_cast<uint32_t>(sizes[d]);
        const uint32_t q = rem / size;
        const uint32_t idx = rem - q * size;
        rem = q;
#pragma unroll
        for (int t = 0; t < NT; ++t) off[t] += static_cast<int64_t>(idx) * strides[t][d];
      }
#pragma unroll
      for (int t = 0; t < NT; ++t) off[t] += static_cast<int64_t>(rem) * strides[t][0];
    } else {
      int64_t rem = linear;
      for (int d = ndim - 1; d > 0; --d) {
        const int64_t q = rem / sizes[d];
        const int64_t idx = rem - q * sizes[d];
        rem = q;
#pragma unroll
        for (int t = 0; t < NT; ++t) off[t] += idx * strides[t][d];
      }
#pragma unroll
      for (int t = 0; t < NT; ++t) off[t] += rem * strides[t][0];
    }
  }
};

template <typename Out, typename A, typename B, typename C, typename F>
__device__ __forceinline__ Out apply(const F& f, const A& a, const B& b, const C& c) {
  constexpr int NT = num_operands<A, B, C>();
  if constexpr (NT == 1) return f();
  else if constexpr (NT == 2) return f(a);
  else if constexpr (NT == 3) return f(a, b);
  else return f(a, b, c);
}

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <typename T, int V>
__device__ __forceinline__ void load_pack(Pack<T, V>& p, const char* base, bool scalar, int64_t i) {
  if (scalar) {
    const T s = *reinterpret_cast<const T*>(base);
#pragma unroll
    for (int j = 0; j < V; ++j) p.v[j] = s;
  } else {
    p = *reinterpret_cast<const Pack<T, V>*>(base + i * static_cast<int64_t>(sizeof(T)));
  }
}

template <typename T>
__device__ __forceinline__ T load_one(const char* base, bool scalar, int64_t i) {
  return *reinterpret_cast<const T*>(base + (scalar ? 0 : i * static_cast<int64_t>(sizeof(T))));
}

template <int V, typename Out, typename A, typename B, typename C, typename F>
__global__ void contig_kernel(ContigArgs<num_operands<A, B, C>()> args, F f) {
  constexpr int NT = num_operands<A, B, C>();
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t nvec = args.numel / V;
  for (int64_t v = tid; v < nvec; v += step) {
    const int64_t i = v * V;
    Pack<A, V> pa;
    Pack<B, V> pb;
    Pack<C, V> pc;
    if constexpr (NT > 1) load_pack(pa, args.data[1], args.scalar[1], i);
    if constexpr (NT > 2) load_pack(pb, args.data[2], args.scalar[2], i);
    if constexpr (NT > 3) load_pack(pc, args.data[3], args.scalar[3], i);
    Pack<Out, V> po;
#pragma unroll
    for (int j = 0; j < V; ++j) po.v[j] = apply<Out>(f, pa.v[j], pb.v[j], pc.v[j]);
    *reinterpret_cast<Pack<Out, V>*>(args.data[0] + i * static_cast<int64_t>(sizeof(Out))) = po;
  }
  const int64_t i = nvec * V + tid;  // the tail: fewer than V elements
  if (i < args.numel) {
    A a{};
    B b{};
    C c{};
    if constexpr (NT > 1) a = load_one<A>(args.data[1], args.scalar[1], i);
    if constexpr (NT > 2) b = load_one<B>(args.data[2], args.scalar[2], i);
    if constexpr (NT > 3) c = load_one<C>(args.data[3], args.scalar[3], i);
    reinterpret_cast<Out*>(args.data[0])[i] = apply<Out>(f, a, b, c);
  }
}

template <typename Out, typename A, typename B, typename C, typename F>
__global__ void strided_kernel(StridedArgs<num_operands<A, B, C>()> args, F f) {
  constexpr int NT = num_operands<A, B, C>();
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < args.numel; i += step) {
    int64_t off[NT];
    args.offsets(i, off);
    A a{};
    B b{};
    C c{};
    if constexpr (NT > 1) a = *reinterpret_cast<const A*>(args.data[1] + off[1]);
    if constexpr (NT > 2) b = *reinterpret_cast<const B*>(args.data[2] + off[2]);
    if constexpr (NT > 3) c = *reinterpret_cast<const C*>(args.data[3] + off[3]);
    *reinterpret_cast<Out*>(args.data[0] + off[0]) = apply<Out>(f, a, b, c);
  }
}

// The grid of a grid-stride loop over n items with kBlock threads per block: at least one
// block, at most kMaxGrid.
inline unsigned grid_for(int64_t n) {
  return static_cast<unsigned>(std::min(kMaxGrid, std::max<int64_t>(1, ceil_div(n, kBlock))));
}

// A tensor's data, or null for an absent (null) tensor: optional weights, grads not asked for.
template <typename T>
T* data_or_null(const Tensor& t) {
  return t ? t->data<T>() : nullptr;
}

// f(float{}) or f(double{}) for a float32 / float64 dtype; TypeError naming `op` otherwise.
template <typename F>
void float_dispatch(DType dt, const char* op, F f) {
  if (dt == DType::Float32) return f(float{});
  if (dt == DType::Float64) return f(double{});
  throw TypeError(str_cat(op, ": unsupported dtype ", dtype_name(dt), " on CUDA"));
}

// f(T{}) with T the device type of a floating dtype: float, double, __half or __nv_bfloat16
// (the 16-bit types compute in float); TypeError naming `op` otherwise.
template <typename F>
void floating_dispatch(DType dt, const char* op, F f) {
  switch (dt) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    case DType::Float16: return f(__half{});
    case DType::BFloat16: return f(__nv_bfloat16{});
    default: break;
  }
  throw TypeError(str_cat(op, ": unsupported dtype ", dtype_name(dt), " on CUDA (expected a floating point dtype)"));
}

// The kernel parameters of an iteration over NT operands (also used by cuda/index.cu).
template <int NT>
StridedArgs<NT> make_strided_args(const ElementwiseIter& it) {
  StridedArgs<NT> sa{};
  sa.ndim = it.ndim();
  sa.numel = it.numel;
  sa.index32 = it.numel <= INT32_MAX;
  for (int d = 0; d < sa.ndim; ++d) sa.sizes[d] = it.shape[d];
  for (int t = 0; t < NT; ++t) {
    sa.data[t] = it.data[t];
    for (int d = 0; d < sa.ndim; ++d) sa.strides[t][d] = it.strides[t][d];
  }
  return sa;
}

// ---- launcher -----------------------------------------------------------------------------
template <typename T>
constexpr int64_t operand_size() {
  return std::is_same_v<T, NoInput> ? 0 : static_cast<int64_t>(sizeof(T));
}

template <typename Out, typename A = NoInput, typename B = NoInput, typename C = NoInput, typename F>
void launch_elementwise(const ElementwiseIter& it, int device, const F& f) {
  constexpr int NT = num_operands<A, B, C>();
  if (it.numel == 0) return;
  DL_CHECK(it.ntensors() == NT, RuntimeError, "launch_elementwise: expected ", NT, " operands, got ", it.ntensors());
  const int64_t sizes[4] = {operand_size<Out>(), operand_size<A>(), operand_size<B>(), operand_size<C>()};
  constexpr int64_t widest = std::max({operand_size<Out>(), operand_size<A>(), operand_size<B>(), operand_size<C>()});
  constexpr int V = static_cast<int>(16 / widest);
  DeviceGuard guard(device);

  // Version 1: one dense run, inputs dense or broadcast scalars, vectors aligned.
  bool contig = it.ndim() <= 1;
  ContigArgs<NT> ca{};
  for (int t = 0; t < NT && contig; ++t) {
    const int64_t stride = it.ndim() == 0 ? sizes[t] : it.strides[t][0];
    ca.data[t] = it.data[t];
    ca.scalar[t] = stride == 0 && t > 0;
    const bool dense = stride == sizes[t];
    const bool aligned = reinterpret_cast<uintptr_t>(it.data[t]) % (V * sizes[t]) == 0;
    contig = ca.scalar[t] || (dense && aligned);
  }
  if (contig) {
    ca.numel = it.numel;
    const int64_t grid = std::min(kMaxGrid, std::max<int64_t>(1, ceil_div(it.numel / V, kBlock)));
    contig_kernel<V, Out, A, B, C><<<static_cast<unsigned>(grid), kBlock>>>(ca, f);
    DL_CUDA_LAUNCH_CHECK();
    return;
  }

  // Version 2: general strides.
  const StridedArgs<NT> sa = make_strided_args<NT>(it);
  const int64_t grid = std::min(kMaxGrid, ceil_div(it.numel, kBlock));
  strided_kernel<Out, A, B, C><<<static_cast<unsigned>(grid), kBlock>>>(sa, f);
  DL_CUDA_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace dlcore
