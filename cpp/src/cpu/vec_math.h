// Branch-free float32 math that GCC auto-vectorises (std::exp/erf calls do not).
// Accuracy: exp within 2 ulp; erfc relative error < 1.2e-7 over the whole line; expm1 within
// 4 ulp, erf within 2 ulp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu/loops.h"

// Forced inline: a call left in a loop body would stop its vectorisation.
#define DL_VEC_INLINE inline __attribute__((always_inline))

namespace dlcore {
inline namespace CPU_CAPABILITY {

// One vector register of the capability level being compiled (AVX-512: 64 bytes, AVX2: 32,
// baseline SSE2: 16). VecOf<T>::type is that register of T as a GCC vector type, for kernels
// that keep their lanes explicitly (plain loops over small lane arrays are not reliably
// vectorised as lanes).
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif
template <typename T>
struct VecOf {
  typedef T type __attribute__((vector_size(kVecBytes)));
};

DL_VEC_INLINE float fast_expf(float x) {
  // exp(x) = 2^n * exp(r), n = round(x / ln2), |r| <= ln2/2, exp(r) by a degree-7 polynomial.
  // 2^n is applied as two factors so that results in the subnormal range and overflow to
  // infinity come out right without branches.
  float xc = x > 89.0f ? 89.0f : (x < -104.0f ? -104.0f : x);
  // Round to nearest by adding and subtracting 1.5 * 2^23 (std::floor would be a libm call
  // under the default -ftrapping-math, which stops vectorisation).
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t ni = static_cast<int32_t>(n);
  int32_t n1 = ni >> 1;
  int32_t b1 = (n1 + 127) << 23, b2 = (ni - n1 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, 4);
  std::memcpy(&s2, &b2, 4);
  // NaN needs no select (which would stop vectorisation): it flows through r and p.
  return p * s1 * s2;
}

// tanh: an odd Taylor polynomial near 0 (where 1 - 2/(e^2x + 1) would cancel), else that
// formula; relative error < 5e-7 everywhere.
DL_VEC_INLINE float fast_tanhf(float x) {
  float a = std::fabs(x);
  float x2 = x * x;
  float p = -1382.0f / 155925.0f;  // x^11 .. x^3 coefficients of tanh's series, Horner form
  p = p * x2 + 62.0f / 2835.0f;
  p = p * x2 + -17.0f / 315.0f;
  p = p * x2 + 2.0f / 15.0f;
  p = p * x2 + -1.0f / 3.0f;
  float small = x + x * x2 * p;
  float big = 1.0f - 2.0f / (fast_expf(2.0f * a) + 1.0f);
  big = x < 0.0f ? -big : big;
  return a < 0.25f ? small : big;
}

// erfc(|z|) with relative error < 1.2e-7 (a Chebyshev-fitted exponent, Press et al.).
DL_VEC_INLINE float erfc_abs(float z) {
  float a = std::fabs(z);
  float t = 1.0f / (1.0f + 0.5f * a);
  float q = -a * a - 1.26551223f +
            t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f + t * (0.27886807f +
            t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
  return t * fast_expf(q);
}

// 1 + erf(z), accurate in relative terms also where it is tiny (z << 0).
DL_VEC_INLINE float one_plus_erf(float z) {
  float c = erfc_abs(z);
  return z < 0.0f ? c : 2.0f - c;
}

// expm1 for float32: for |x| < 1, where exp(x) - 1 would cancel, its Taylor polynomial to
// x^12 / 12! in double (truncation < 2e-9 relative); elsewhere fast_expf(x) - 1. Within 4 ulp.
DL_VEC_INLINE float fast_expm1f(float x) {
  const double d = x;
  double p = 2.08767569878681e-09;  // 1 / 12!
  p = p * d + 2.505210838544172e-08;
  p = p * d + 2.755731922398589e-07;
  p = p * d + 2.7557319223985893e-06;
  p = p * d + 2.48015873015873e-05;
  p = p * d + 0.0001984126984126984;
  p = p * d + 0.001388888888888889;
  p = p * d + 0.008333333333333333;
  p = p * d + 0.041666666666666664;
  p = p * d + 0.16666666666666666;
  p = p * d + 0.5;
  p = p * d + 1.0;
  const float small = static_cast<float>(p * d);
  const float big = fast_expf(x) - 1.0f;
  return std::fabs(x) < 1.0f ? small : big;  // NaN takes `big`, where it stays NaN
}

// erf for float32: for |x| < 1 the Maclaurin series 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1))
// to n = 12 in double; elsewhere 1 - erfc(|x|) with the sign of x (erfc_abs's relative error
// 1.2e-7 is below an ulp of erf there).
DL_VEC_INLINE float fast_erff(float x) {
  const double d = x, z = d * d;
  double p = 9.422759064650411e-11;
  p = p * z + -1.2290555301717926e-09;
  p = p * z + 1.4807192815879218e-08;
  p = p * z + -1.6365844691234924e-07;
  p = p * z + 1.6462114365889246e-06;
  p = p * z + -1.492565035840625e-05;
  p = p * z + 0.00012055332981789664;
  p = p * z + -0.0008548327023450852;
  p = p * z + 0.005223977625442188;
  p = p * z + -0.026866170645131252;
  p = p * z + 0.11283791670955126;
  p = p * z + -0.37612638903183754;
  p = p * z + 1.1283791670955126;
  const float small = static_cast<float>(p * d);
  const float c = erfc_abs(x);
  const float big = x < 0.0f ? c - 1.0f : 1.0f - c;
  return std::fabs(x) < 1.0f ? small : big;
}

// ---- per-dtype scalar functions: float32 by the vectorisable versions above, double by libm ----

template <typename T> DL_VEC_INLINE T exp_t(T x) {
  if constexpr (std::is_same_v<T, float>) return fast_expf(x);
  else return std::exp(x);
}
template <typename T> DL_VEC_INLINE T tanh_t(T x) {
  if constexpr (std::is_same_v<T, float>) return fast_tanhf(x);
  else return std::tanh(x);
}
template <typename T> DL_VEC_INLINE T one_plus_erf_t(T z) {
  if constexpr (std::is_same_v<T, float>) return one_plus_erf(z);
  else return z < 0 ? std::erfc(-z) : 1 + std::erf(z);
}

template <typename T> DL_VEC_INLINE T expm1_t(T x) {
  if constexpr (std::is_same_v<T, float>) return fast_expm1f(x);
  else return std::expm1(x);
}
template <typename T> DL_VEC_INLINE T erf_t(T x) {
  if constexpr (std::is_same_v<T, float>) return fast_erff(x);
  else return std::erf(x);
}

// The activations, as the unary ops and the GEMM epilogue compute them.
template <typename T> DL_VEC_INLINE T gelu_t(T x) {
  return T(0.5) * x * one_plus_erf_t(x * T(0.70710678118654752440));  // 0.5 x (1 + erf(x / sqrt 2))
}
template <typename T> DL_VEC_INLINE T gelu_tanh_t(T x) {
  // 0.5 x (1 + tanh(u)) == x * sigmoid(2u), u = sqrt(2 / pi) (x + 0.044715 x^3)
  const T u = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
  return x / (T(1) + exp_t(T(-2) * u));
}
template <typename T> DL_VEC_INLINE T silu_t(T x) { return x / (T(1) + exp_t(-x)); }
// relu as PyTorch's: NaN and -0.0 pass through (x < 0 is false for both). Its gradient passes
// g except where the input (or output) is <= 0, so a NaN position passes g too.
template <typename T> DL_VEC_INLINE T relu_t(T x) { return x < T(0) ? T(0) : x; }
template <typename T> DL_VEC_INLINE T relu_grad_t(T g, T x) { return x <= T(0) ? T(0) : g; }

}  // namespace CPU_CAPABILITY
}  // namespace dlcore
