// CPU random fills from Philox (dlcore/philox.h). Element i uses counter i / lanes, so the
// result does not depend on how the work is split across threads. The element mapping is
// described in cuda/factory.cu, whose kernels give the same numbers.
#include "ops/factory.h"

#include <cmath>

#include "cpu/loops.h"
#include "dlcore/philox.h"

namespace dlcore {
namespace {

constexpr double kTwoPi = 6.283185307179586476925;

// The floating dtypes, 16-bit ones included: the kernels compute in double and convert.
#define DL_DISPATCH_FLOAT_AND_HALF(dtype, name, ...)              \
  [&] {                                                           \
    switch (dtype) {                                              \
      DL_DISPATCH_CASE(Float32, float, __VA_ARGS__)               \
      DL_DISPATCH_CASE(Float64, double, __VA_ARGS__)              \
      DL_DISPATCH_CASE(Float16, ::dlcore::Half, __VA_ARGS__)      \
      DL_DISPATCH_CASE(BFloat16, ::dlcore::BFloat16, __VA_ARGS__) \
      default: DL_DISPATCH_FAIL(dtype, name);                     \
    }                                                             \
  }()

// Random bits of a float32-lane uniform: 24, or the significand of a 16-bit float.
template <typename T>
constexpr int uniform_bits_v = std::is_same_v<T, Half> ? 11 : std::is_same_v<T, BFloat16> ? 8 : 24;

void uniform_cpu(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) {
  const int64_t n = out->numel();
  DL_DISPATCH_FLOAT_AND_HALF(out->dtype(), "uniform_", [&] {
    scalar_t* p = out->data<scalar_t>();
    constexpr int lanes = std::is_same_v<scalar_t, double> ? 2 : 4;
    const int64_t groups = (n + lanes - 1) / lanes;
    parallel_for(0, groups, 8192, [&](int64_t b, int64_t e) {
      for (int64_t g = b; g < e; ++g) {
        Philox4 r = philox4x32(static_cast<uint64_t>(g), offset, seed);
        for (int l = 0; l < lanes; ++l) {
          int64_t i = g * lanes + l;
          if (i >= n) break;
          double u = lanes == 4 ? uniform_bits(r.v[l], uniform_bits_v<scalar_t>)
                                : uniform_f64(r.v[2 * l], r.v[2 * l + 1]);
          p[i] = convert<scalar_t>(low + (high - low) * u);
        }
      }
    });
  });
}

void normal_cpu(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) {
  const int64_t n = out->numel();
  DL_DISPATCH_FLOAT_AND_HALF(out->dtype(), "normal_", [&] {
    scalar_t* p = out->data<scalar_t>();
    constexpr bool f32 = !std::is_same_v<scalar_t, double>;
    constexpr int lanes = f32 ? 4 : 2;
    const int64_t groups = (n + lanes - 1) / lanes;
    parallel_for(0, groups, 4096, [&](int64_t b, int64_t e) {
      for (int64_t g = b; g < e; ++g) {
        Philox4 r = philox4x32(static_cast<uint64_t>(g), offset, seed);
        double z[4];
        // Box-Muller on uniform pairs; 1 - u keeps the log argument in (0, 1].
        if (f32) {
          for (int k = 0; k < 2; ++k) {
            double u1 = 1.0 - uniform_f32(r.v[2 * k]), u2 = uniform_f32(r.v[2 * k + 1]);
            double rad = std::sqrt(-2.0 * std::log(u1));
            z[2 * k] = rad * std::cos(kTwoPi * u2);
            z[2 * k + 1] = rad * std::sin(kTwoPi * u2);
          }
        } else {
          double u1 = 1.0 - uniform_f64(r.v[0], r.v[1]), u2 = uniform_f64(r.v[2], r.v[3]);
          double rad = std::sqrt(-2.0 * std::log(u1));
          z[0] = rad * std::cos(kTwoPi * u2);
          z[1] = rad * std::sin(kTwoPi * u2);
        }
        for (int l = 0; l < lanes; ++l) {
          int64_t i = g * lanes + l;
          if (i >= n) break;
          p[i] = convert<scalar_t>(mean + std * z[l]);
        }
      }
    });
  });
}

void randint_cpu(const Tensor& out, int64_t low, uint64_t range, uint64_t seed, uint64_t offset) {
  const int64_t n = out->numel();
  const bool wide = uniform_int_wide(range);
  const int lanes = wide ? 2 : 4;
  const int64_t groups = (n + lanes - 1) / lanes;
  DL_DISPATCH_ALL_AND_HALF(out->dtype(), "randint", [&] {
    scalar_t* p = out->data<scalar_t>();
    parallel_for(0, groups, 8192, [&](int64_t b, int64_t e) {
      for (int64_t g = b; g < e; ++g) {
        Philox4 r = philox4x32(static_cast<uint64_t>(g), offset, seed);
        for (int l = 0; l < lanes; ++l) {
          int64_t i = g * lanes + l;
          if (i >= n) break;
          const uint64_t v = uniform_int(uniform_int_word(r, l, wide), range, static_cast<uint64_t>(i), offset, seed);
          p[i] = convert<scalar_t>(static_cast<int64_t>(static_cast<uint64_t>(low) + v));
        }
      }
    });
  });
}

}  // namespace

DL_REGISTER_CPU_KERNEL(uniform_kernel, uniform_cpu);
DL_REGISTER_CPU_KERNEL(normal_kernel, normal_cpu);
DL_REGISTER_CPU_KERNEL(randint_kernel, randint_cpu);

}  // namespace dlcore
