// Device queries, the device guard and synchronisation (Note [Lazy CUDA initialisation] in
// cuda/runtime.cuh). No kernels here.
#include <string>

#include "cuda_check.cuh"
#include "runtime.cuh"

namespace dlcore {
namespace cuda {
namespace {

struct DeviceInfo {
  int count = 0;
  std::string reason;  // why count is 0
};

// Queried once. Without a driver the runtime reports cudaErrorInsufficientDriver or
// cudaErrorNoDevice; both mean "no CUDA here", not an error to raise.
const DeviceInfo& device_info() {
  static const DeviceInfo info = [] {
    DeviceInfo d;
    const cudaError_t err = cudaGetDeviceCount(&d.count);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();  // clear it so later launch checks do not see it
      d.count = 0;
      if (err == cudaErrorInsufficientDriver)
        d.reason = "no NVIDIA driver found, or one older than this CUDA runtime (cudaErrorInsufficientDriver)";
      else if (err == cudaErrorNoDevice)
        d.reason = "no CUDA device found (cudaErrorNoDevice)";
      else
        d.reason = str_cat(cudaGetErrorString(err), " (", cudaGetErrorName(err), ")");
    } else if (d.count == 0) {
      d.reason = "no CUDA device found";
    }
    return d;
  }();
  return info;
}

}  // namespace

int device_count() { return device_info().count; }
bool is_available() { return device_count() > 0; }
std::string unavailable_reason() { return device_info().reason; }

void check_device(int index, const char* what) {
  const DeviceInfo& d = device_info();
  DL_CHECK(d.count > 0, RuntimeError, what, ": CUDA is not available on this machine: ", d.reason,
           " (check dlcore.cuda.is_available() first)");
  DL_CHECK(index >= 0 && index < d.count, ValueError, what, ": invalid device cuda:", index, " (", d.count,
           d.count == 1 ? " device" : " devices", " available)");
}

DeviceGuard::DeviceGuard(int index) {
  int cur = 0;
  DL_CUDA_CHECK(cudaGetDevice(&cur));
  if (cur != index) {
    DL_CUDA_CHECK(cudaSetDevice(index));
    prev_ = cur;
  }
}

DeviceGuard::~DeviceGuard() {
  if (prev_ >= 0) (void)cudaSetDevice(prev_);  // destructors must not throw
}

std::string device_name(int index) {
  check_device(index, "get_device_name");
  cudaDeviceProp prop;
  DL_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return prop.name;
}

void synchronize(int index) {
  check_device(index, "synchronize");
  DeviceGuard g(index);
  DL_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace cuda
}  // namespace dlcore
