// Host memory.
//
// Note [CPU caching allocator]
// A fresh large buffer is faulted in by the OS page by page (~2 GB/s here), while reused
// memory is written at 20-25 GB/s, so out-of-place ops on big tensors would be bound by page
// faults. Freed blocks are kept in a size-ordered pool and handed out again when a request
// fits in a cached block no more than twice its size. The pool is capped; past the cap the
// largest cached blocks go back to the OS. Blocks are 64-byte aligned for vector loads.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

#include "dlcore/tensor.h"

namespace dlcore {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kMaxCachedBytes = size_t(2) << 30;

struct CpuCachingAllocator final : Allocator {
  std::mutex mu;
  std::multimap<size_t, void*> pool;  // block size -> block
  size_t cached_bytes = 0;

  static size_t round_size(size_t n) {
    if (n < 4096) return (n + kAlign - 1) / kAlign * kAlign;
    return (n + 4095) / 4096 * 4096;
  }

  void* allocate(size_t nbytes, int) override {
    size_t size = round_size(std::max<size_t>(nbytes, 1));
    {
      std::lock_guard<std::mutex> g(mu);
      auto it = pool.lower_bound(size);
      if (it != pool.end() && it->first <= 2 * size) {
        void* p = it->second;
        // The block keeps its own size: remember it through the header below.
        cached_bytes -= it->first;
        pool.erase(it);
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlign, size + kAlign);
    if (!p) throw std::bad_alloc();
    *static_cast<size_t*>(p) = size;  // header: the block's usable size
    return static_cast<char*>(p) + kAlign;
  }

  void deallocate(void* ptr, size_t, int) override {
    if (!ptr) return;
    char* base = static_cast<char*>(ptr) - kAlign;
    size_t size = *reinterpret_cast<size_t*>(base);
    std::lock_guard<std::mutex> g(mu);
    pool.emplace(size, ptr);
    cached_bytes += size;
    while (cached_bytes > kMaxCachedBytes && !pool.empty()) {
      auto last = std::prev(pool.end());
      cached_bytes -= last->first;
      std::free(static_cast<char*>(last->second) - kAlign);
      pool.erase(last);
    }
  }
};

Allocator* g_allocators[kNumDeviceTypes] = {nullptr, nullptr};

}  // namespace

Allocator* get_allocator(DeviceType t) {
  static CpuCachingAllocator cpu;
  if (t == DeviceType::CPU) return &cpu;
  Allocator* a = g_allocators[static_cast<int>(t)];
  DL_CHECK(a, RuntimeError, "no allocator for device type ", device_type_name(t),
           ": dlcore was built without CUDA support");
  return a;
}

void set_allocator(DeviceType t, Allocator* a) { g_allocators[static_cast<int>(t)] = a; }

}  // namespace dlcore
