// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"): a
// counter-based generator, so element i of a random tensor depends only on (seed, call
// offset, i). CPU and CUDA produce the same numbers, whatever the thread count.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define DL_HOST_DEVICE __host__ __device__
#else
#define DL_HOST_DEVICE
#endif

namespace dlcore {

struct Philox4 {
  uint32_t v[4];
};

DL_HOST_DEVICE inline Philox4 philox4x32(uint64_t counter, uint64_t stream, uint64_t seed) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// [0, 1) with 24 (float) or 53 (double) random bits.
DL_HOST_DEVICE inline float uniform_f32(uint32_t u) { return static_cast<float>(u >> 8) * (1.0f / 16777216.0f); }
// [0, 1) with `bits` random bits (at most 24): exact in a type with that many significand bits,
// so that 16-bit floats (11 bits for float16, 8 for bfloat16) never round up to 1.
DL_HOST_DEVICE inline float uniform_bits(uint32_t u, int bits) {
  return static_cast<float>(u >> (32 - bits)) / static_cast<float>(1u << bits);
}
DL_HOST_DEVICE inline double uniform_f64(uint32_t a, uint32_t b) {
  uint64_t x = (static_cast<uint64_t>(a) << 32 | b) >> 11;
  return static_cast<double>(x) * (1.0 / 9007199254740992.0);
}

// Note [Uniform integers]
// randint's element i takes an integer uniform in [0, range) from one random word w: the
// 32-bit word v[i % 4] of group i / 4 when range <= 2^32, else the 64-bit word
// v[2l] << 32 | v[2l + 1] (l = i % 2) of group i / 2. The high half of w * range is the value
// and the low half rejects w when it is below 2^bits mod range (Lemire, "Fast Random Integer
// Generation in an Interval", 2019), which leaves every value exactly 2^bits div range words:
// exactly uniform, for any int64 range, with no floating point. A rejection (probability below
// range / 2^bits) draws the next words of the element's own retry sequence, the words of
// philox4x32(k * 2^56 + i, stream, seed) for k = 1, 2, ... in order; group counters stay below
// 2^56, so the two never meet.
constexpr int kRetryShift = 56;

DL_HOST_DEVICE inline bool uniform_int_wide(uint64_t range) { return range > (uint64_t{1} << 32); }

DL_HOST_DEVICE inline uint64_t uniform_int_word(const Philox4& r, int lane, bool wide) {
  return wide ? static_cast<uint64_t>(r.v[2 * lane]) << 32 | r.v[2 * lane + 1] : r.v[lane];
}

// w * range split at `bits`: true and *value = the high part unless the low part rejects w.
DL_HOST_DEVICE inline bool uniform_int_accept(uint64_t w, uint64_t range, bool wide, uint64_t* value) {
  uint64_t hi, lo;
  if (wide) {
#if defined(__CUDA_ARCH__)
    hi = __umul64hi(w, range);
    lo = w * range;
#else
    const unsigned __int128 m = static_cast<unsigned __int128>(w) * range;
    hi = static_cast<uint64_t>(m >> 64);
    lo = static_cast<uint64_t>(m);
#endif
  } else {
    const uint64_t m = w * range;
    hi = m >> 32;
    lo = m & 0xFFFFFFFFu;
  }
  *value = hi;
  if (lo >= range) return true;  // the threshold (2^bits mod range) is below range
  const uint64_t threshold = wide ? (0 - range) % range : ((uint64_t{1} << 32) - range) % range;
  return lo >= threshold;
}

// Element i's integer in [0, range), given its first word w (Note [Uniform integers]).
DL_HOST_DEVICE inline uint64_t uniform_int(uint64_t w, uint64_t range, uint64_t i, uint64_t stream, uint64_t seed) {
  const bool wide = uniform_int_wide(range);
  uint64_t value;
  if (uniform_int_accept(w, range, wide, &value)) return value;
  for (uint64_t k = 1;; ++k) {
    const Philox4 r = philox4x32(k << kRetryShift | i, stream, seed);
    for (int j = 0; j < (wide ? 2 : 4); ++j)
      if (uniform_int_accept(uniform_int_word(r, j, wide), range, wide, &value)) return value;
  }
}

}  // namespace dlcore
