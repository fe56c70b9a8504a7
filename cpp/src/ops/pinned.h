// Pinned (page-locked) host memory and asynchronous host-to-device copies
// (Tensor.pin_memory(), is_pinned(), .to("cuda", non_blocking=True)). The blocks come from the
// CUDA build's host caching allocator (Note [Pinned host memory] in cuda/allocator.cu), so the
// kernel slots are filled for the CUDA device type only.
#pragma once

#include "dlcore/dispatch.h"
#include "dlcore/ops.h"

namespace dlcore {

// A CPU storage of nbytes in pinned memory; raises when no CUDA device is available.
DL_DECLARE_KERNEL(pinned_storage_kernel, Storage (*)(size_t nbytes));
// Whether `base` is the start of a live pinned block.
DL_DECLARE_KERNEL(is_pinned_kernel, bool (*)(const void* base));
// cudaMemcpyAsync of nbytes from src (inside the pinned block `block`) to dst on dst_dev's
// default stream; the block is kept from reuse until the copy has completed.
DL_DECLARE_KERNEL(copy_to_device_async_kernel,
                  void (*)(void* dst, Device dst_dev, const void* src, const void* block, size_t nbytes));

// A contiguous pinned copy of the CPU tensor t (t itself when already pinned); differentiable.
Tensor pin_memory(const Tensor& t);
// Whether t is a CPU tensor in pinned memory (false in a build without CUDA).
bool is_pinned(const Tensor& t);
// to_device; with non_blocking, a contiguous pinned CPU tensor goes to a CUDA device by an
// asynchronous copy (the call returns before the data has arrived; later work on the device
// is ordered after it). Every other case copies synchronously.
Tensor to_device(const Tensor& t, Device device, bool non_blocking);

}  // namespace dlcore
