// CUDA copies and fills (the device side of ops/copy.cpp; CPU reference: cpu/copy.cpp).
//
// memcpy_between_cuda: raw contiguous bytes host->device, device->host (cudaMemcpy; the
//   legacy default stream orders it after queued kernels) or device->device (async on the
//   default stream, or a peer copy between two GPUs).
// copy_cuda: dst and src on one device, any shapes that broadcast src to dst, any strides.
//   Versions: same dtype and both contiguous -> cudaMemcpyAsync; same dtype otherwise ->
//   an elementwise move of 1/2/4/8-byte words (dtype-blind); different dtypes -> a cast
//   kernel per (dst, src) pair, converting like dlcore::convert (16-bit floats via float).
// fill_cuda: the value is converted to the tensor's dtype on the host; contiguous zeros use
//   cudaMemsetAsync, everything else an elementwise store of the value's bits.
// pinned_storage_cuda / copy_to_device_async_cuda: pinned host storages and the non_blocking
//   host-to-device copy from them (Note [Pinned host memory] in allocator.cu).
#include <cstring>

#include "device_errors.cuh"
#include "loops.cuh"
#include "ops/copy.h"
#include "ops/pinned.h"
#include "runtime.cuh"

namespace dlcore {
namespace cuda {
namespace {

// Calls fn(word_type{}) for a 1/2/4/8-byte element size.
template <typename Fn>
void dispatch_word(size_t itemsize, const char* op, Fn&& fn) {
  switch (itemsize) {
    case 1: return fn(uint8_t{});
    case 2: return fn(uint16_t{});
    case 4: return fn(uint32_t{});
    case 8: return fn(uint64_t{});
    default: throw RuntimeError(str_cat(op, ": unexpected element size ", itemsize));
  }
}

struct Move {
  template <typename W> __device__ __forceinline__ W operator()(W v) const { return v; }
};

template <typename To>
struct CastTo {
  template <typename From> __device__ __forceinline__ To operator()(From v) const { return cast<To>(v); }
};

template <typename W>
struct FillWord {
  W bits;
  __device__ __forceinline__ W operator()() const { return bits; }
};

void memcpy_between_cuda(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_dev.is_cuda() && src_dev.is_cuda()) {
    if (dst_dev.index == src_dev.index) {
      DeviceGuard g(dst_dev.index);
      DL_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, 0));
    } else {
      DL_CUDA_CHECK(cudaMemcpyPeer(dst, dst_dev.index, src, src_dev.index, nbytes));
    }
    return;
  }
  const Device dev = dst_dev.is_cuda() ? dst_dev : src_dev;
  DeviceGuard g(dev.index);
  DL_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, dst_dev.is_cuda() ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost));
  if (src_dev.is_cuda()) raise_deferred_errors(src_dev.index);  // the host has waited for the device
}

void copy_cuda(const Tensor& dst, const Tensor& src) {
  const int dev = dst->device().index;
  if (dst->dtype() == src->dtype()) {
    if (dst->is_contiguous() && src->is_contiguous() && dst->shape() == src->shape()) {
      DeviceGuard g(dev);
      DL_CUDA_CHECK(cudaMemcpyAsync(dst->raw_data(), src->raw_data(), static_cast<size_t>(dst->numel()) * dst->itemsize(),
                                    cudaMemcpyDeviceToDevice, 0));
      return;
    }
    ElementwiseIter it(dst, {src});
    dispatch_word(dst->itemsize(), "copy_", [&](auto w) {
      using W = decltype(w);
      launch_elementwise<W, W>(it, dev, Move{});
    });
    return;
  }
  ElementwiseIter it(dst, {src});
  DL_DISPATCH_ALL_AND_HALF(dst->dtype(), "copy_", [&] {
    using To = device_t<scalar_t>;
    DL_DISPATCH_ALL_AND_HALF(src->dtype(), "copy_", [&] {
      using From = device_t<scalar_t>;
      if constexpr (!std::is_same_v<To, From>) launch_elementwise<To, From>(it, dev, CastTo<To>{});
    });
  });
}

// ---- pinned host memory (ops/pinned.h) -----------------------------------------------------------
Storage pinned_storage_cuda(size_t nbytes) {
  DL_CHECK(is_available(), RuntimeError, "pin_memory: Cannot access accelerator device when none is available (",
           unavailable_reason(), ")");
  auto st = std::make_shared<StorageImpl>();
  st->data = host_alloc(nbytes);
  st->nbytes = nbytes;
  st->device = Device{};
  st->deleter = [](void* p) { host_free(p); };
  return st;
}

bool is_pinned_cuda(const void* base) { return is_pinned_block(base); }

void copy_to_device_async_cuda(void* dst, Device dst_dev, const void* src, const void* block, size_t nbytes) {
  if (nbytes == 0) return;
  DeviceGuard g(dst_dev.index);
  DL_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, 0));
  record_host_use(block, dst_dev.index);  // after the copy in stream order
}

void fill_cuda(const Tensor& t, double value) {
  uint64_t bits = 0;
  DL_DISPATCH_ALL_AND_HALF(t->dtype(), "fill_", [&] {
    const scalar_t v = convert<scalar_t>(value);
    std::memcpy(&bits, &v, sizeof(scalar_t));
  });
  const int dev = t->device().index;
  if (bits == 0 && t->is_contiguous()) {
    DeviceGuard g(dev);
    DL_CUDA_CHECK(cudaMemsetAsync(t->raw_data(), 0, static_cast<size_t>(t->numel()) * t->itemsize(), 0));
    return;
  }
  ElementwiseIter it(t, {});
  dispatch_word(t->itemsize(), "fill_", [&](auto w) {
    using W = decltype(w);
    W word_bits;
    std::memcpy(&word_bits, &bits, sizeof(W));  // little-endian: the low bytes hold the value
    launch_elementwise<W>(it, dev, FillWord<W>{word_bits});
  });
}

}  // namespace
}  // namespace cuda

DL_REGISTER_KERNEL(memcpy_between_kernel, CUDA, cuda::memcpy_between_cuda);
DL_REGISTER_KERNEL(copy_kernel, CUDA, cuda::copy_cuda);
DL_REGISTER_KERNEL(fill_kernel, CUDA, cuda::fill_cuda);
DL_REGISTER_KERNEL(pinned_storage_kernel, CUDA, cuda::pinned_storage_cuda);
DL_REGISTER_KERNEL(is_pinned_kernel, CUDA, cuda::is_pinned_cuda);
DL_REGISTER_KERNEL(copy_to_device_async_kernel, CUDA, cuda::copy_to_device_async_cuda);

}  // namespace dlcore
