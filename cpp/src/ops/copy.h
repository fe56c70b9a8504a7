// Kernel slots for copies and fills (cpu/copy.cpp, cuda/copy.cu).
#pragma once

#include "dlcore/dispatch.h"

namespace dlcore {

// dst and src on the same device; src broadcasts to dst's shape; any dtype pair.
DL_DECLARE_KERNEL(copy_kernel, void (*)(const Tensor& dst, const Tensor& src));
DL_DECLARE_KERNEL(fill_kernel, void (*)(const Tensor& t, double value));
// Raw contiguous bytes between devices (host<->device or device<->device); indexed by the
// non-CPU device of the pair.
DL_DECLARE_KERNEL(memcpy_between_kernel, void (*)(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes));

}  // namespace dlcore
