// DType tables, promotion, and float16 conversion.
#include "dlcore/dtype.h"

#include <cmath>

namespace dlcore {

size_t dtype_size(DType t) {
  switch (t) {
#define DLCORE_SIZE(E, T, N) case DType::E: return sizeof(T);
    DLCORE_DTYPES(DLCORE_SIZE)
#undef DLCORE_SIZE
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
#define DLCORE_NAME(E, T, N) case DType::E: return N;
    DLCORE_DTYPES(DLCORE_NAME)
#undef DLCORE_NAME
  }
  return "?";
}

DType dtype_from_name(const std::string& name) {
  if (name == "float32" || name == "float") return DType::Float32;
  if (name == "float64" || name == "double") return DType::Float64;
  if (name == "float16" || name == "half") return DType::Float16;
  if (name == "bfloat16") return DType::BFloat16;
  if (name == "int64" || name == "long") return DType::Int64;
  if (name == "int32" || name == "int") return DType::Int32;
  if (name == "bool") return DType::Bool;
  throw TypeError("unknown dtype '" + name + "'");
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  // float16 + bfloat16 has no common 16-bit type: float32, as in PyTorch.
  if ((a == DType::Float16 && b == DType::BFloat16) || (a == DType::BFloat16 && b == DType::Float16))
    return DType::Float32;
  // Otherwise the enum is ordered bool < int32 < int64 < f16/bf16 < f32 < f64.
  return static_cast<int>(a) > static_cast<int>(b) ? a : b;
}

// Note [Half conversion]: round-to-nearest-even, with subnormals, infinities and NaN.
Half::Half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) {  // NaN
    bits = static_cast<uint16_t>(sign | 0x7e00u);
    return;
  }
  if (absx >= 0x477ff000u) {  // rounds to >= 65520: infinity
    bits = static_cast<uint16_t>(sign | 0x7c00u);
    return;
  }
  if (absx < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
    // Scale so that the half subnormal unit (2^-24) becomes 1, then round to nearest even.
    float af;
    std::memcpy(&af, &absx, 4);
    float scaled = af * 16777216.0f;  // exact
    float r = std::nearbyint(scaled);  // default rounding mode: nearest even
    bits = static_cast<uint16_t>(sign | static_cast<uint32_t>(r));
    return;
  }
  uint32_t mant = absx & 0x7fffffu;
  uint32_t exp = (absx >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  bits = static_cast<uint16_t>(sign | h);
}

Half::operator float() const {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exp = (bits >> 10) & 0x1fu;
  const uint32_t mant = bits & 0x3ffu;
  uint32_t out;
  if (exp == 0) {
    float f = static_cast<float>(mant) * 5.9604644775390625e-8f;  // mant * 2^-24
    std::memcpy(&out, &f, 4);
    out |= sign;
  } else if (exp == 31) {
    out = sign | 0x7f800000u | (mant << 13);
  } else {
    out = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &out, 4);
  return f;
}

}  // namespace dlcore
