// The caching device allocator behind every CUDA tensor's storage.
// Also the caching allocator of pinned host memory (Note [Pinned host memory] below).
//
// Note [CUDA caching allocator]
// cudaMalloc costs tens of microseconds and cudaFree synchronises the whole device, so freed
// blocks are never returned to the driver during normal work: each device keeps a free list
// ordered by block size, and a request takes the smallest cached block that fits without
// wasting too much (at most 2x the request for small blocks, +1/8 for large ones).
// Sizes are binned before lookup: requests up to 1 MiB round up to 512 bytes, larger ones to
// 2 MiB, so blocks of similar tensors are interchangeable.
//
// Streams: every kernel and copy runs on the legacy default stream, in issue order. A block
// freed on the host may therefore be handed out again at once: the new owner's kernels are
// queued behind the last kernels that used it. (Adding streams means recording the stream
// per block and an event before reuse.)
//
// Initialisation is lazy (Note [Lazy CUDA initialisation]): registering runs no CUDA call;
// the first allocation checks the device. On cudaErrorMemoryAllocation the device's cached
// blocks are freed and the cudaMalloc is retried once before "CUDA out of memory" is raised.
//
// The allocator object is deliberately never destroyed: storages freed while the
// interpreter shuts down still find it, and deallocate() only moves a block to the free
// list (no CUDA call), so it is safe after the runtime has been unloaded.
#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda_check.cuh"
#include "dlcore/tensor.h"
#include "runtime.cuh"

namespace dlcore {
namespace cuda {
namespace {

constexpr size_t kSmallLimit = size_t(1) << 20;  // 1 MiB
constexpr size_t kSmallRound = 512;
constexpr size_t kLargeRound = size_t(2) << 20;  // 2 MiB

size_t round_size(size_t n) {
  const size_t r = n <= kSmallLimit ? kSmallRound : kLargeRound;
  return (n + r - 1) / r * r;
}

// Whether a cached block of `block` bytes may serve a request of `size` (already rounded).
bool fits(size_t block, size_t size) {
  return size <= kSmallLimit ? block <= 2 * size : block <= size + size / 8;
}

std::string mib(int64_t bytes) { return str_cat(static_cast<double>(bytes) / (1 << 20), " MiB"); }

struct DevicePool {
  std::multimap<size_t, void*> free_blocks;   // block size -> block
  std::unordered_map<void*, size_t> live;     // block handed out -> its size
  MemoryStats stats;
};

class CudaCachingAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes, int device) override {
    check_device(device, "cannot allocate CUDA memory");
    if (nbytes == 0) return nullptr;
    const size_t size = round_size(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    DevicePool& pool = pool_for(device);
    pool.stats.num_allocs++;
    void* p = nullptr;
    size_t block = size;
    auto it = pool.free_blocks.lower_bound(size);
    if (it != pool.free_blocks.end() && fits(it->first, size)) {
      block = it->first;
      p = it->second;
      pool.free_blocks.erase(it);
      pool.stats.cached -= static_cast<int64_t>(block);
      pool.stats.num_cache_hits++;
    } else {
      p = device_malloc(pool, device, size, nbytes);
    }
    pool.live.emplace(p, block);
    pool.stats.allocated += static_cast<int64_t>(block);
    pool.stats.peak_allocated = std::max(pool.stats.peak_allocated, pool.stats.allocated);
    return p;
  }

  void deallocate(void* ptr, size_t, int device) override {
    if (!ptr) return;
    std::lock_guard<std::mutex> lock(mu_);
    DevicePool& pool = pool_for(device);
    auto it = pool.live.find(ptr);
    if (it == pool.live.end()) return;  // not ours: nothing sane to do in a destructor
    const size_t block = it->second;
    pool.live.erase(it);
    pool.free_blocks.emplace(block, ptr);
    pool.stats.allocated -= static_cast<int64_t>(block);
    pool.stats.cached += static_cast<int64_t>(block);
  }

  MemoryStats stats(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    if (device < 0 || device >= static_cast<int>(pools_.size())) return MemoryStats{};
    return pools_[device].stats;
  }

  void reset_peak(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    if (device < 0 || device >= static_cast<int>(pools_.size())) return;
    MemoryStats& s = pools_[device].stats;
    s.peak_allocated = s.allocated;
    s.peak_reserved = s.reserved;
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    for (int d = 0; d < static_cast<int>(pools_.size()); ++d) release_cached(pools_[d], d);
  }

 private:
  DevicePool& pool_for(int device) {
    if (device >= static_cast<int>(pools_.size())) pools_.resize(device + 1);
    return pools_[device];
  }

  void* device_malloc(DevicePool& pool, int device, size_t size, size_t requested) {
    DeviceGuard guard(device);
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky, but clear it before retrying
      release_cached(pool, device);
      err = cudaMalloc(&p, size);
    }
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      (void)cudaMemGetInfo(&free_b, &total_b);
      throw RuntimeError(str_cat("CUDA out of memory: tried to allocate ", mib(static_cast<int64_t>(requested)),
                                 " on cuda:", device, " (", mib(static_cast<int64_t>(free_b)), " free of ",
                                 mib(static_cast<int64_t>(total_b)), "; dlcore holds ", mib(pool.stats.allocated),
                                 " in tensors)"));
    }
    if (err != cudaSuccess) throw_cuda_error(err, "cudaMalloc(&p, size)", __FILE__, __LINE__);
    pool.stats.num_device_mallocs++;
    pool.stats.reserved += static_cast<int64_t>(size);
    pool.stats.peak_reserved = std::max(pool.stats.peak_reserved, pool.stats.reserved);
    return p;
  }

  // Frees every cached block of one device (cudaFree synchronises the device first).
  void release_cached(DevicePool& pool, int device) {
    if (pool.free_blocks.empty()) return;
    DeviceGuard guard(device);
    for (auto& [size, p] : pool.free_blocks) {
      DL_CUDA_CHECK(cudaFree(p));
      pool.stats.reserved -= static_cast<int64_t>(size);
      pool.stats.cached -= static_cast<int64_t>(size);
      pool.stats.num_device_frees++;
    }
    pool.free_blocks.clear();
  }

  std::mutex mu_;
  std::vector<DevicePool> pools_;
};

CudaCachingAllocator& caching_allocator() {
  static CudaCachingAllocator* a = new CudaCachingAllocator();  // never destroyed (see the Note)
  return *a;
}

const bool registered = (set_allocator(DeviceType::CUDA, &caching_allocator()), true);

// Note [Pinned host memory]
// Page-locked host blocks (cudaHostAlloc) for tensors that are copied to the device with
// non_blocking=True: the copy is a cudaMemcpyAsync on the default stream that returns at
// once, so the block must not be handed out again (and overwritten) before the copy has read
// it. Each such copy records an event on the stream (record_host_use); a freed block with
// events still pending waits in `pending_` and joins the free list only when all of its
// events have completed (checked, without blocking, when a block is next requested). Blocks
// are cached like device blocks (same size classes) since cudaHostAlloc/cudaFreeHost are
// slow and synchronising; they are never returned to the driver except when cudaHostAlloc
// runs out of memory. Like the device allocator, the object is never destroyed.
class HostCachingAllocator {
 public:
  void* allocate(size_t nbytes) {
    const size_t size = round_size(std::max<size_t>(nbytes, 1));
    std::lock_guard<std::mutex> lock(mu_);
    process_pending();
    auto it = free_.lower_bound(size);
    if (it != free_.end() && fits(it->first, size)) {
      void* p = it->second;
      free_.erase(it);
      blocks_[p].in_use = true;
      return p;
    }
    void* p = nullptr;
    cudaError_t err = cudaHostAlloc(&p, size, cudaHostAllocPortable);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_free();
      err = cudaHostAlloc(&p, size, cudaHostAllocPortable);
    }
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      throw RuntimeError(str_cat("pin_memory: out of page-locked host memory: tried to allocate ",
                                 mib(static_cast<int64_t>(nbytes))));
    }
    if (err != cudaSuccess) throw_cuda_error(err, "cudaHostAlloc(&p, size, cudaHostAllocPortable)", __FILE__, __LINE__);
    blocks_[p] = Block{size, true, {}};
    return p;
  }

  void deallocate(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blocks_.find(p);
    if (it == blocks_.end() || !it->second.in_use) return;
    it->second.in_use = false;
    if (it->second.events.empty()) {
      free_.emplace(it->second.size, p);
    } else {
      pending_.push_back(p);
    }
  }

  bool is_pinned(const void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blocks_.find(const_cast<void*>(p));
    return it != blocks_.end() && it->second.in_use;
  }

  void record_use(const void* p, int device) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blocks_.find(const_cast<void*>(p));
    if (it == blocks_.end() || !it->second.in_use) return;
    DeviceGuard guard(device);
    drop_completed(it->second);  // a block reused for many copies keeps only the pending ones
    cudaEvent_t ev = nullptr;
    DL_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
    DL_CUDA_CHECK(cudaEventRecord(ev, 0));
    it->second.events.push_back(ev);
  }

 private:
  struct Block {
    size_t size = 0;
    bool in_use = false;
    std::vector<cudaEvent_t> events;  // copies that may still read the block
  };

  // Destroys the events of b's completed copies, keeping those still pending.
  static void drop_completed(Block& b) {
    size_t live = 0;
    for (cudaEvent_t ev : b.events) {
      const cudaError_t q = cudaEventQuery(ev);
      if (q == cudaErrorNotReady) {
        b.events[live++] = ev;
        continue;
      }
      if (q != cudaSuccess) throw_cuda_error(q, "cudaEventQuery(ev)", __FILE__, __LINE__);
      DL_CUDA_CHECK(cudaEventDestroy(ev));
    }
    b.events.resize(live);
  }

  // Moves freed blocks whose copies have all completed to the free list.
  void process_pending() {
    size_t kept = 0;
    for (size_t i = 0; i < pending_.size(); ++i) {
      Block& b = blocks_[pending_[i]];
      drop_completed(b);
      if (b.events.empty()) {
        free_.emplace(b.size, pending_[i]);
      } else {
        pending_[kept++] = pending_[i];
      }
    }
    pending_.resize(kept);
  }

  void release_free() {
    for (auto& [size, p] : free_) {
      DL_CUDA_CHECK(cudaFreeHost(p));
      blocks_.erase(p);
    }
    free_.clear();
  }

  std::mutex mu_;
  std::unordered_map<void*, Block> blocks_;  // every block obtained from cudaHostAlloc
  std::multimap<size_t, void*> free_;        // size -> block ready for reuse
  std::vector<void*> pending_;               // freed blocks with copies possibly in flight
};

HostCachingAllocator& host_allocator() {
  static HostCachingAllocator* a = new HostCachingAllocator();  // never destroyed
  return *a;
}

}  // namespace

MemoryStats memory_stats(int index) { return caching_allocator().stats(index); }
void empty_cache() { caching_allocator().empty_cache(); }
void reset_peak_memory_stats(int index) { caching_allocator().reset_peak(index); }

void* host_alloc(size_t nbytes) { return host_allocator().allocate(nbytes); }
void host_free(void* ptr) { host_allocator().deallocate(ptr); }
bool is_pinned_block(const void* ptr) { return ptr && host_allocator().is_pinned(ptr); }
void record_host_use(const void* ptr, int device) { host_allocator().record_use(ptr, device); }

}  // namespace cuda
}  // namespace dlcore
