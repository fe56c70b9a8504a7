// CPU loop templates over an ElementwiseIter, parallel above a work threshold.
//
// Note [CPU capability variants]
// Kernel files that benefit from wider vectors are compiled three times by CMake, once per
// capability level, DEFAULT < AVX2 < AVX512:
//   DEFAULT  the baseline x86-64 ISA (SSE2);
//   AVX2     -mavx2 -mfma;
//   AVX512   -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma,
// with CPU_CAPABILITY set to the level's name. Everything here sits in `inline namespace
// CPU_CAPABILITY` so the builds of a template never merge at link time, and
// DL_REGISTER_CPU_KERNEL registers only the variant of the single best level the running CPU
// supports (cpu_capability_selected in core/dispatch.cpp). DLCORE_CPU_CAPABILITY=default,
// avx2 or avx512 caps the level (a cap above what the CPU has changes nothing). A file may
// specialise on the level with `#if defined(__AVX512F__)` / `defined(__AVX2__)`.
#pragma once

#include <algorithm>
#include <cstring>

#include "dlcore/dispatch.h"
#include "dlcore/iter.h"
#include "dlcore/parallel.h"

#ifndef CPU_CAPABILITY
#define CPU_CAPABILITY DEFAULT
#endif
#define DL_STRINGIFY_INNER(x) #x
#define DL_STRINGIFY(x) DL_STRINGIFY_INNER(x)

#ifdef DLCORE_CPU_VARIANT
#define DL_REGISTER_CPU_KERNEL(slot, fn)                                                       \
  static const bool DL_CONCAT(slot##_cpu_registered_, __LINE__) =                              \
      ::dlcore::cpu_capability_selected(DL_STRINGIFY(CPU_CAPABILITY)) && slot.set(::dlcore::DeviceType::CPU, fn)
#else
#define DL_REGISTER_CPU_KERNEL(slot, fn) DL_REGISTER_KERNEL(slot, CPU, fn)
#endif

namespace dlcore {

inline namespace CPU_CAPABILITY {

// Calls loop(ptrs, inner_strides, n) for every innermost run in [begin, end) of the linear
// iteration space. ptrs/inner_strides have one entry per operand (strides in bytes).
template <typename Loop>
void for_each_run(const ElementwiseIter& it, int64_t begin, int64_t end, Loop&& loop) {
  const int nt = it.ntensors();
  const int nd = it.ndim();
  char* ptrs[8];
  int64_t inner[8];
  if (nd == 0) {
    for (int t = 0; t < nt; ++t) { ptrs[t] = it.data[t]; inner[t] = 0; }
    if (begin < end) loop(ptrs, inner, int64_t(1));
    return;
  }
  const int64_t n_inner = it.shape[nd - 1];
  for (int t = 0; t < nt; ++t) inner[t] = it.strides[t][nd - 1];
  int64_t idx[16];
  int64_t rem = begin;
  for (int d = nd - 1; d >= 0; --d) { idx[d] = rem % it.shape[d]; rem /= it.shape[d]; }
  int64_t pos = begin;
  while (pos < end) {
    for (int t = 0; t < nt; ++t) {
      char* p = it.data[t];
      for (int d = 0; d < nd; ++d) p += idx[d] * it.strides[t][d];
      ptrs[t] = p;
    }
    int64_t n = std::min(n_inner - idx[nd - 1], end - pos);
    loop(ptrs, inner, n);
    pos += n;
    idx[nd - 1] += n;
    for (int d = nd - 1; d > 0 && idx[d] >= it.shape[d]; --d) { idx[d] = 0; ++idx[d - 1]; }
  }
}

// Runs the iteration, split across threads when it has at least `grain` elements.
template <typename Loop>
void cpu_loop(const ElementwiseIter& it, Loop&& loop, int64_t grain = 32768) {
  parallel_for(0, it.numel, grain, [&](int64_t b, int64_t e) { for_each_run(it, b, e, loop); });
}

// out[i] = f(a[i])
template <typename Out, typename In, typename F>
void unary_loop(const ElementwiseIter& it, F f, int64_t grain = 32768) {
  cpu_loop(it, [&](char** p, const int64_t* s, int64_t n) {
    Out* o = reinterpret_cast<Out*>(p[0]);
    const In* a = reinterpret_cast<const In*>(p[1]);
    if (s[0] == sizeof(Out) && s[1] == sizeof(In)) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<Out*>(p[0] + i * s[0]) = f(*reinterpret_cast<const In*>(p[1] + i * s[1]));
    }
  }, grain);
}

// out[i] = f(a[i], b[i]), with the common "one side is a scalar" runs vectorised too.
template <typename Out, typename In, typename F>
void binary_loop(const ElementwiseIter& it, F f, int64_t grain = 32768) {
  cpu_loop(it, [&](char** p, const int64_t* s, int64_t n) {
    Out* o = reinterpret_cast<Out*>(p[0]);
    const In* a = reinterpret_cast<const In*>(p[1]);
    const In* b = reinterpret_cast<const In*>(p[2]);
    constexpr int64_t so = sizeof(Out), si = sizeof(In);
    if (s[0] == so && s[1] == si && s[2] == si) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
    } else if (s[0] == so && s[1] == si && s[2] == 0) {
      const In bv = *b;
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], bv);
    } else if (s[0] == so && s[1] == 0 && s[2] == si) {
      const In av = *a;
      for (int64_t i = 0; i < n; ++i) o[i] = f(av, b[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<Out*>(p[0] + i * s[0]) = f(*reinterpret_cast<const In*>(p[1] + i * s[1]),
                                                     *reinterpret_cast<const In*>(p[2] + i * s[2]));
    }
  }, grain);
}

}  // namespace CPU_CAPABILITY
}  // namespace dlcore
