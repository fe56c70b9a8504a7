// Device queries, the device guard and synchronisation (Note [Lazy CUDA initialisation] in
// cuda/runtime.cuh), and the record of deferred data errors (Note [Deferred device errors] in
// cuda/device_errors.cuh). No kernels here.
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cuda_check.cuh"
#include "device_errors.cuh"
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

std::pair<int, int> device_capability(int index) {
  check_device(index, "get_device_capability");
  int major = 0, minor = 0;
  DL_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, index));
  DL_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, index));
  return {major, minor};
}

void synchronize(int index) {
  check_device(index, "synchronize");
  DeviceGuard g(index);
  DL_CUDA_CHECK(cudaDeviceSynchronize());
  raise_deferred_errors(index);
}

// ---- deferred data errors (Note [Deferred device errors] in device_errors.cuh) ----------------

namespace {

constexpr int kMaxDevices = 16;
constexpr size_t kContexts = 4096;  // the last contexts kept for messages

struct ErrorState {
  std::mutex mu;
  unsigned long long* record = nullptr;  // device: [context id, value, which]
  unsigned long long next = 1;           // the next context id (0 means "no error")
  unsigned long long checked = 0;        // the last id registered when the record was last read
  std::vector<std::pair<unsigned long long, ErrorMessage>> ring;  // kContexts entries once used
};

ErrorState& error_state(int dev) {
  static ErrorState states[kMaxDevices];
  DL_CHECK(dev >= 0 && dev < kMaxDevices, ValueError, "CUDA device index ", dev, " out of range");
  return states[dev];
}

}  // namespace

ErrorRecord error_context(int dev, ErrorMessage message) {
  ErrorState& s = error_state(dev);
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.record) {
    DeviceGuard g(dev);
    void* p = nullptr;
    DL_CUDA_CHECK(cudaMalloc(&p, 3 * sizeof(unsigned long long)));
    DL_CUDA_CHECK(cudaMemset(p, 0, 3 * sizeof(unsigned long long)));
    s.record = static_cast<unsigned long long*>(p);
    s.ring.resize(kContexts);
  }
  const unsigned long long id = s.next++;
  s.ring[id % kContexts] = {id, std::move(message)};
  return {s.record, id};
}

void raise_deferred_errors(int dev) {
  ErrorState& s = error_state(dev);
  std::unique_lock<std::mutex> lock(s.mu);
  if (!s.record || s.checked == s.next - 1) return;  // no validating launch since the last read
  s.checked = s.next - 1;
  DeviceGuard g(dev);
  unsigned long long h[3];
  DL_CUDA_CHECK(cudaMemcpy(h, s.record, sizeof(h), cudaMemcpyDeviceToHost));
  if (h[0] == 0) return;
  DL_CUDA_CHECK(cudaMemset(s.record, 0, sizeof(h)));
  const auto& entry = s.ring[h[0] % kContexts];
  const int64_t value = static_cast<int64_t>(h[1]), which = static_cast<int64_t>(h[2]);
  std::string msg = entry.first == h[0] && entry.second
                        ? entry.second(value, which)
                        : str_cat("an earlier CUDA op met an invalid index or target (", value, ")");
  lock.unlock();
  throw IndexError(msg);
}

}  // namespace cuda
}  // namespace dlcore
