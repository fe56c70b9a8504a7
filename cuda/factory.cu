// CUDA random fills from Philox (dlcore/philox.h); CPU reference: cpu/factory.cpp.
//
// out is contiguous. Element mapping, identical to the CPU's so the same seed gives the same
// numbers on both devices: group g = i / lanes draws philox4x32(counter g, stream offset,
// key seed); float32 uses 4 lanes (one 32-bit word each), float64 2 lanes (two words each).
//   uniform: low + (high - low) * u, in double, then rounded to the dtype (through float for
//     float16/bfloat16, whose u has as many bits as their significand: 11 and 8, never 1);
//   normal: Box-Muller on word pairs, 1 - u1 keeps log's argument in (0, 1], in double;
//     float16/bfloat16 take the float32 mapping;
//   randint: low + an integer uniform in [0, range), 4 lanes of 32-bit words when range <= 2^32,
//     else 2 of 64-bit words, then converted to the dtype (Note [Uniform integers]).
// Arithmetic uses __dmul_rn/__dadd_rn so nvcc cannot contract it into an FMA that the CPU
// does not do: uniform is bit-identical to the CPU; normal's log/sin/cos are libdevice's,
// within an ulp of glibc's in double, so float32 results agree to the last bit almost always.
// Kernel: one thread per Philox group, grid-stride loop.
#include "loops.cuh"
#include "dlcore/philox.h"
#include "ops/factory.h"

namespace dlcore {
namespace cuda {
namespace {

constexpr double kTwoPi = 6.283185307179586476925;

// Lanes per Philox draw: 2 for float64 (53-bit uniforms from two words), 4 otherwise.
template <typename T> constexpr int lanes_v = std::is_same_v<T, double> ? 2 : 4;
// Random bits of a float32-lane uniform: 24, or the significand of a 16-bit float.
template <typename T>
constexpr int uniform_bits_v = std::is_same_v<T, __half> ? 11 : std::is_same_v<T, __nv_bfloat16> ? 8 : 24;

__device__ __forceinline__ double affine(double a, double scale, double u) { return __dadd_rn(a, __dmul_rn(scale, u)); }

template <typename T>
__global__ void uniform_kernel_impl(T* out, int64_t n, double low, double high, uint64_t seed, uint64_t offset) {
  constexpr int lanes = lanes_v<T>;
  const int64_t groups = (n + lanes - 1) / lanes;
  const double scale = high - low;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Philox4 r = philox4x32(static_cast<uint64_t>(g), offset, seed);
#pragma unroll
    for (int l = 0; l < lanes; ++l) {
      const int64_t i = g * lanes + l;
      if (i >= n) break;
      const double u = lanes == 4 ? static_cast<double>(uniform_bits(r.v[l], uniform_bits_v<T>))
                                  : uniform_f64(r.v[2 * l], r.v[2 * l + 1]);
      out[i] = cast<T>(affine(low, scale, u));
    }
  }
}

template <typename T>
__global__ void normal_kernel_impl(T* out, int64_t n, double mean, double std, uint64_t seed, uint64_t offset) {
  constexpr int lanes = lanes_v<T>;
  const int64_t groups = (n + lanes - 1) / lanes;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Philox4 r = philox4x32(static_cast<uint64_t>(g), offset, seed);
    double z[4];
    if constexpr (lanes == 4) {
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        const double u1 = 1.0 - static_cast<double>(uniform_f32(r.v[2 * k]));
        const double u2 = static_cast<double>(uniform_f32(r.v[2 * k + 1]));
        const double rad = ::sqrt(-2.0 * ::log(u1));
        const double angle = __dmul_rn(kTwoPi, u2);
        z[2 * k] = __dmul_rn(rad, ::cos(angle));
        z[2 * k + 1] = __dmul_rn(rad, ::sin(angle));
      }
    } else {
      const double u1 = 1.0 - uniform_f64(r.v[0], r.v[1]);
      const double u2 = uniform_f64(r.v[2], r.v[3]);
      const double rad = ::sqrt(-2.0 * ::log(u1));
      const double angle = __dmul_rn(kTwoPi, u2);
      z[0] = __dmul_rn(rad, ::cos(angle));
      z[1] = __dmul_rn(rad, ::sin(angle));
    }
#pragma unroll
    for (int l = 0; l < lanes; ++l) {
      const int64_t i = g * lanes + l;
      if (i >= n) break;
      out[i] = cast<T>(affine(mean, std, z[l]));
    }
  }
}

template <typename T>
__global__ void randint_kernel_impl(T* out, int64_t n, int64_t low, uint64_t range, uint64_t seed, uint64_t offset) {
  const bool wide = uniform_int_wide(range);
  const int lanes = wide ? 2 : 4;
  const int64_t groups = (n + lanes - 1) / lanes;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Philox4 r = philox4x32(static_cast<uint64_t>(g), offset, seed);
    for (int l = 0; l < lanes; ++l) {
      const int64_t i = g * lanes + l;
      if (i >= n) break;
      const uint64_t v = uniform_int(uniform_int_word(r, l, wide), range, static_cast<uint64_t>(i), offset, seed);
      out[i] = cast<T>(static_cast<int64_t>(static_cast<uint64_t>(low) + v));
    }
  }
}

// Calls fn(T{}) with the device type of a floating dtype, or of any dtype when `all`.
template <typename Fn>
void dispatch(DType dtype, const char* op, bool all, Fn&& fn) {
  switch (dtype) {
    case DType::Float32: return fn(float{});
    case DType::Float64: return fn(double{});
    case DType::Float16: return fn(__half{});
    case DType::BFloat16: return fn(__nv_bfloat16{});
    case DType::Int64: if (all) return fn(int64_t{}); break;
    case DType::Int32: if (all) return fn(int32_t{}); break;
    case DType::Bool: if (all) return fn(bool{}); break;
  }
  throw TypeError(str_cat(op, ": expected a floating dtype, got ", dtype_name(dtype)));
}


void uniform_cuda(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) {
  DL_CHECK(out->is_contiguous(), RuntimeError, "uniform_kernel: expected a contiguous output, got ", out->describe());
  const int64_t n = out->numel();
  if (n == 0) return;
  DeviceGuard guard(out->device().index);
  dispatch(out->dtype(), "uniform_", false, [&](auto tag) {
    using T = decltype(tag);
    uniform_kernel_impl<T><<<grid_for(ceil_div(n, lanes_v<T>)), kBlock>>>(
        static_cast<T*>(out->raw_data()), n, low, high, seed, offset);
    DL_CUDA_LAUNCH_CHECK();
  });
}

void normal_cuda(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) {
  DL_CHECK(out->is_contiguous(), RuntimeError, "normal_kernel: expected a contiguous output, got ", out->describe());
  const int64_t n = out->numel();
  if (n == 0) return;
  DeviceGuard guard(out->device().index);
  dispatch(out->dtype(), "normal_", false, [&](auto tag) {
    using T = decltype(tag);
    normal_kernel_impl<T><<<grid_for(ceil_div(n, lanes_v<T>)), kBlock>>>(
        static_cast<T*>(out->raw_data()), n, mean, std, seed, offset);
    DL_CUDA_LAUNCH_CHECK();
  });
}

void randint_cuda(const Tensor& out, int64_t low, uint64_t range, uint64_t seed, uint64_t offset) {
  DL_CHECK(out->is_contiguous(), RuntimeError, "randint_kernel: expected a contiguous output, got ", out->describe());
  const int64_t n = out->numel();
  if (n == 0) return;
  DeviceGuard guard(out->device().index);
  dispatch(out->dtype(), "randint", true, [&](auto tag) {
    using T = decltype(tag);
    randint_kernel_impl<T><<<grid_for(ceil_div(n, uniform_int_wide(range) ? 2 : 4)), kBlock>>>(
        static_cast<T*>(out->raw_data()), n, low, range, seed, offset);
    DL_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(uniform_kernel, CUDA, cuda::uniform_cuda);
DL_REGISTER_KERNEL(normal_kernel, CUDA, cuda::normal_cuda);
DL_REGISTER_KERNEL(randint_kernel, CUDA, cuda::randint_cuda);

}  // namespace dlcore
