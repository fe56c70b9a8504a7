// The CUDA device layer as seen from host-only code (cpp/bindings/cuda.cpp): device queries,
// synchronisation and the caching allocator's statistics (cuda/device.cu, cuda/allocator.cu).
// Plain C++ with no CUDA headers, so .cpp files compiled by the host compiler can include it.
//
// Note [Lazy CUDA initialisation]
// Loading the extension runs no CUDA call: the allocator registers itself at static
// initialisation without touching the runtime, and the device count is queried on first use
// (is_available(), or the first allocation on a CUDA device). On a machine without a driver
// or a GPU the query fails softly: device_count() is 0 and allocating raises RuntimeError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace dlcore {
namespace cuda {

int device_count();         // 0 when there is no driver or no device; never throws
bool is_available();        // device_count() > 0
std::string unavailable_reason();  // why device_count() is 0 ("" when a device is present)
// Throws RuntimeError when CUDA is unavailable and ValueError when `index` is out of range.
void check_device(int index, const char* what);
std::string device_name(int index);
std::pair<int, int> device_capability(int index);  // (major, minor)
void synchronize(int index);

struct MemoryStats {
  int64_t allocated = 0;        // bytes in blocks handed out to tensors
  int64_t peak_allocated = 0;   // high-water mark of `allocated` since the last reset
  int64_t reserved = 0;         // bytes obtained from cudaMalloc: allocated + cached
  int64_t peak_reserved = 0;
  int64_t cached = 0;           // bytes in freed blocks kept for reuse
  int64_t num_allocs = 0;       // allocate() calls
  int64_t num_cache_hits = 0;   // ... served from a cached block
  int64_t num_device_mallocs = 0;  // cudaMalloc calls
  int64_t num_device_frees = 0;    // cudaFree calls (empty_cache, out-of-memory retries)
};
MemoryStats memory_stats(int index);
void empty_cache();                       // every device: cached blocks back to the driver
void reset_peak_memory_stats(int index);

// Pinned (page-locked) host memory from a caching allocator (Note [Pinned host memory] in
// cuda/allocator.cu). host_alloc raises when CUDA is unavailable.
void* host_alloc(size_t nbytes);
void host_free(void* ptr);                          // back to the cache (storage deleters)
bool is_pinned_block(const void* ptr);              // a live block returned by host_alloc
void record_host_use(const void* ptr, int device);  // a queued copy on `device` reads the block

}  // namespace cuda
}  // namespace dlcore
