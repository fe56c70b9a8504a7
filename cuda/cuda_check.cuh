// Error checking for CUDA runtime calls and kernel launches, the device guard, and ceil_div.
//
// Every runtime call goes through DL_CUDA_CHECK(call) and every launch is followed by
// DL_CUDA_LAUNCH_CHECK(): a failure throws dlcore::RuntimeError naming the call, the CUDA
// error and file:line, e.g.
//   "CUDA error: out of memory (cudaErrorMemoryAllocation) in cudaMalloc(&p, size) at cuda/allocator.cu:97"
// Launch checks catch configuration errors at once; faults inside a kernel are reported by
// the next synchronising call (a copy to the host or dlcore.cuda.synchronize()).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "dlcore/error.h"

namespace dlcore {
namespace cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  throw RuntimeError(str_cat("CUDA error: ", cudaGetErrorString(err), " (", cudaGetErrorName(err), ") in ", call,
                             " at ", file, ":", line));
}

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Makes `index` the current device for the guard's lifetime (no runtime call when it already is).
class DeviceGuard {
 public:
  explicit DeviceGuard(int index);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;
};

}  // namespace cuda
}  // namespace dlcore

#define DL_CUDA_CHECK(call)                                                        \
  do {                                                                             \
    const cudaError_t dl_cuda_err_ = (call);                                       \
    if (dl_cuda_err_ != cudaSuccess)                                               \
      ::dlcore::cuda::throw_cuda_error(dl_cuda_err_, #call, __FILE__, __LINE__);   \
  } while (0)

// After a <<<...>>> launch: reports bad launch configurations (and earlier sticky errors).
#define DL_CUDA_LAUNCH_CHECK()                                                     \
  do {                                                                             \
    const cudaError_t dl_cuda_err_ = cudaGetLastError();                           \
    if (dl_cuda_err_ != cudaSuccess)                                               \
      ::dlcore::cuda::throw_cuda_error(dl_cuda_err_, "kernel launch", __FILE__, __LINE__); \
  } while (0)
