// Threading: OpenMP across cores, only above a work threshold.
//
// Note [Threads on shared cores]
// The machines have 2 cores shared with other processes; a spinning barrier collapses when
// another process holds a core. So small work runs inline, and parallel regions are coarse
// (one chunk per thread).
#pragma once

#include <atomic>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace dlcore {

int get_num_threads();
void set_num_threads(int n);
bool in_parallel_region();
// Set once the OpenMP runtime has started its worker threads (Note [Threads after fork]).
inline std::atomic<bool> g_thread_pool_started{false};

// f(begin, end) over [begin, end) split into one contiguous chunk per thread when the range
// has at least `grain` items; otherwise a single call on this thread.
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  const int64_t n = end - begin;
  if (n <= 0) return;
#ifdef _OPENMP
  int nthreads = get_num_threads();
  if (n >= grain && nthreads > 1 && !in_parallel_region()) {
    int64_t chunks = n / grain;
    int use = static_cast<int>(chunks < nthreads ? chunks : nthreads);
    if (!g_thread_pool_started.load(std::memory_order_relaxed)) g_thread_pool_started.store(true);
#pragma omp parallel num_threads(use)
    {
      int tid = omp_get_thread_num();
      int nt = omp_get_num_threads();
      int64_t per = (n + nt - 1) / nt;
      int64_t b = begin + tid * per;
      int64_t e = b + per < end ? b + per : end;
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  f(begin, end);
}

}  // namespace dlcore
