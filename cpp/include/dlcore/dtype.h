// Element types: the DType enum, its sizes and names, PyTorch-style type promotion,
// the 16-bit float storage types, and the DL_DISPATCH_* macros that turn a runtime
// dtype into a `scalar_t` for templated kernels.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "dlcore/error.h"

namespace dlcore {

#define DLCORE_DTYPES(X)            \
  X(Bool, bool, "bool")             \
  X(Int32, int32_t, "int32")        \
  X(Int64, int64_t, "int64")        \
  X(Float16, Half, "float16")       \
  X(BFloat16, BFloat16, "bfloat16") \
  X(Float32, float, "float32")      \
  X(Float64, double, "float64")

enum class DType : int8_t { Bool, Int32, Int64, Float16, BFloat16, Float32, Float64 };
constexpr int kNumDTypes = 7;

// IEEE binary16, stored as bits; arithmetic goes through float.
struct Half {
  uint16_t bits = 0;
  Half() = default;
  Half(float f);  // NOLINT: implicit like a numeric type
  operator float() const;
};

// bfloat16: the top 16 bits of a float32, rounded to nearest even.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  BFloat16(float f) {  // NOLINT
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = 0x7fc0;  // NaN
    } else {
      bits = static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
  }
  operator float() const {
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

size_t dtype_size(DType t);
const char* dtype_name(DType t);
DType dtype_from_name(const std::string& name);  // "float32", "float", "int64", ...

inline bool is_floating(DType t) {
  return t == DType::Float16 || t == DType::BFloat16 || t == DType::Float32 || t == DType::Float64;
}
inline bool is_integral(DType t, bool include_bool) {
  return t == DType::Int32 || t == DType::Int64 || (include_bool && t == DType::Bool);
}
// Types the CPU computes in directly; 16-bit floats are storage types on CPU.
inline bool is_cpu_compute_type(DType t) { return t != DType::Float16 && t != DType::BFloat16; }

// The smallest type both a and b convert to without losing their category
// (bool < integer < floating), like torch.promote_types.
DType promote_types(DType a, DType b);

template <typename T> struct dtype_of;
#define DLCORE_DTYPE_OF(E, T, N) \
  template <> struct dtype_of<T> { static constexpr DType value = DType::E; };
DLCORE_DTYPES(DLCORE_DTYPE_OF)
#undef DLCORE_DTYPE_OF

// Dispatch: DL_DISPATCH_FLOAT(dtype, "op", [&] { use scalar_t; }).
#define DL_DISPATCH_CASE(E, T, ...) \
  case ::dlcore::DType::E: {        \
    using scalar_t = T;             \
    return __VA_ARGS__();           \
  }
#define DL_DISPATCH_FAIL(dtype, name) \
  throw ::dlcore::TypeError(std::string(name) + ": unsupported dtype " + ::dlcore::dtype_name(dtype))

#define DL_DISPATCH_FLOAT(dtype, name, ...)                  \
  [&] {                                                      \
    switch (dtype) {                                         \
      DL_DISPATCH_CASE(Float32, float, __VA_ARGS__)          \
      DL_DISPATCH_CASE(Float64, double, __VA_ARGS__)         \
      default: DL_DISPATCH_FAIL(dtype, name);                \
    }                                                        \
  }()

#define DL_DISPATCH_NUMERIC(dtype, name, ...)                \
  [&] {                                                      \
    switch (dtype) {                                         \
      DL_DISPATCH_CASE(Float32, float, __VA_ARGS__)          \
      DL_DISPATCH_CASE(Float64, double, __VA_ARGS__)         \
      DL_DISPATCH_CASE(Int64, int64_t, __VA_ARGS__)          \
      DL_DISPATCH_CASE(Int32, int32_t, __VA_ARGS__)          \
      default: DL_DISPATCH_FAIL(dtype, name);                \
    }                                                        \
  }()

#define DL_DISPATCH_ALL(dtype, name, ...)                    \
  [&] {                                                      \
    switch (dtype) {                                         \
      DL_DISPATCH_CASE(Float32, float, __VA_ARGS__)          \
      DL_DISPATCH_CASE(Float64, double, __VA_ARGS__)         \
      DL_DISPATCH_CASE(Int64, int64_t, __VA_ARGS__)          \
      DL_DISPATCH_CASE(Int32, int32_t, __VA_ARGS__)          \
      DL_DISPATCH_CASE(Bool, bool, __VA_ARGS__)              \
      default: DL_DISPATCH_FAIL(dtype, name);                \
    }                                                        \
  }()

// Every dtype including the 16-bit storage types (copies, casts, fills).
#define DL_DISPATCH_ALL_AND_HALF(dtype, name, ...)           \
  [&] {                                                      \
    switch (dtype) {                                         \
      DL_DISPATCH_CASE(Float32, float, __VA_ARGS__)          \
      DL_DISPATCH_CASE(Float64, double, __VA_ARGS__)         \
      DL_DISPATCH_CASE(Int64, int64_t, __VA_ARGS__)          \
      DL_DISPATCH_CASE(Int32, int32_t, __VA_ARGS__)          \
      DL_DISPATCH_CASE(Bool, bool, __VA_ARGS__)              \
      DL_DISPATCH_CASE(Float16, ::dlcore::Half, __VA_ARGS__) \
      DL_DISPATCH_CASE(BFloat16, ::dlcore::BFloat16, __VA_ARGS__) \
      default: DL_DISPATCH_FAIL(dtype, name);                \
    }                                                        \
  }()

// Scalar conversion that goes through float for the 16-bit types.
template <typename To, typename From>
inline To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<From, Half> || std::is_same_v<From, BFloat16>) {
    return convert<To>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, Half> || std::is_same_v<To, BFloat16>) {
    return To(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace dlcore
