// CPU copy (any dtype pair, strided, broadcast source) and fill.
#include "ops/copy.h"

#include <cstring>

#include "cpu/loops.h"

namespace dlcore {
namespace {

void copy_cpu(const Tensor& dst, const Tensor& src) {
  if (dst->dtype() == src->dtype() && dst->is_contiguous() && src->is_contiguous() && dst->shape() == src->shape()) {
    const size_t n = static_cast<size_t>(dst->numel()) * dst->itemsize();
    char* d = static_cast<char*>(dst->raw_data());
    const char* s = static_cast<const char*>(src->raw_data());
    parallel_for(0, static_cast<int64_t>(n), 1 << 20, [&](int64_t b, int64_t e) { std::memcpy(d + b, s + b, e - b); });
    return;
  }
  ElementwiseIter it(dst, {src});
  DL_DISPATCH_ALL_AND_HALF(dst->dtype(), "copy_", [&] {
    using out_t = scalar_t;
    DL_DISPATCH_ALL_AND_HALF(src->dtype(), "copy_", [&] {
      unary_loop<out_t, scalar_t>(it, [](scalar_t v) { return convert<out_t>(v); });
    });
  });
}

void fill_cpu(const Tensor& t, double value) {
  DL_DISPATCH_ALL_AND_HALF(t->dtype(), "fill_", [&] {
    const scalar_t v = convert<scalar_t>(value);
    ElementwiseIter it(t, {});
    cpu_loop(it, [&](char** p, const int64_t* s, int64_t n) {
      if (s[0] == sizeof(scalar_t)) {
        scalar_t* o = reinterpret_cast<scalar_t*>(p[0]);
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = v;
      }
    });
  });
}

}  // namespace

DL_REGISTER_CPU_KERNEL(copy_kernel, copy_cpu);
DL_REGISTER_CPU_KERNEL(fill_kernel, fill_cpu);

}  // namespace dlcore
