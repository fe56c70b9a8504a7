// Kernel-slot coverage, the op registry, CPU capability selection, and thread settings.
#include "dlcore/dispatch.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>
#include <map>
#include <string>

#include "dlcore/parallel.h"

namespace dlcore {
namespace {
std::map<std::string, std::vector<std::string>>& coverage_map() {
  static std::map<std::string, std::vector<std::string>> m;
  return m;
}
std::vector<OpInfo>& op_table() {
  static std::vector<OpInfo> ops;
  return ops;
}
}  // namespace

void note_kernel(const char* slot, DeviceType t) {
  auto& devs = coverage_map()[slot];
  std::string d = device_type_name(t);
  if (std::find(devs.begin(), devs.end(), d) == devs.end()) devs.push_back(d);
}

std::vector<std::pair<std::string, std::vector<std::string>>> kernel_coverage() {
  return {coverage_map().begin(), coverage_map().end()};
}

void missing_kernel(const char* slot, DeviceType t, const bool* present) {
  std::string avail;
  for (int i = 0; i < kNumDeviceTypes; ++i) {
    if (!present[i]) continue;
    if (!avail.empty()) avail += ", ";
    avail += i == 0 ? "CPU" : "CUDA";
  }
  throw NotImplementedError(str_cat(slot, " has no ", t == DeviceType::CPU ? "CPU" : "CUDA",
                                    " kernel (available: ", avail.empty() ? "none" : avail, ")"));
}

OpRegistrar::OpRegistrar(std::initializer_list<OpInfo> ops) {
  for (const OpInfo& op : ops) op_table().push_back(op);
}
const std::vector<OpInfo>& registered_ops() { return op_table(); }

// Note [CPU capability variants] (cpu/loops.h): the levels in increasing order. The chosen
// level is the best one this CPU (and its OS: __builtin_cpu_supports checks that the vector
// state is saved) supports, capped by DLCORE_CPU_CAPABILITY=default|avx2|avx512.
namespace {
constexpr const char* kCapabilityNames[] = {"DEFAULT", "AVX2", "AVX512"};
constexpr const char* kCapabilityLower[] = {"default", "avx2", "avx512"};

int hardware_capability() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return 2;
  return 1;
#else
  return 0;
#endif
}

int selected_capability() {
  static const int level = [] {
    int best = hardware_capability();
    if (const char* env = std::getenv("DLCORE_CPU_CAPABILITY")) {
      const std::string want(env);
      for (int i = 0; i < 3; ++i)
        if (want == kCapabilityLower[i]) best = std::min(best, i);
    }
    return best;
  }();
  return level;
}
}  // namespace

bool cpu_capability_selected(const char* capability) {
  return std::string(capability) == kCapabilityNames[selected_capability()];
}

const char* active_cpu_capability() { return kCapabilityLower[selected_capability()]; }

// Note [Threads after fork]
// fork() copies only the calling thread: in the child, GNU OpenMP still believes the parent's
// worker threads exist, and the first parallel region waits for them forever (and so does
// one after omp_set_num_threads: the runtime has no way to rebuild its pool). So when the
// parent had started its workers, an at-fork handler makes the child run every kernel on its
// own thread (parallel_for asks get_num_threads), and set_num_threads(n > 1) there raises
// instead of hanging; set_num_threads(1), what data-loader workers call, is accepted. A
// child forked before any parallel region has a usable runtime and keeps its threads.
namespace {
std::atomic<bool> g_forked_child{false};
void on_fork_child() {
  if (g_thread_pool_started.load()) g_forked_child.store(true);
}
const bool fork_handler_registered = (pthread_atfork(nullptr, nullptr, &on_fork_child), true);

int max_threads() {
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(64, 4 * hw);
}
}  // namespace

int get_num_threads() {
  if (g_forked_child.load(std::memory_order_relaxed)) return 1;
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_num_threads(int n) {
  if (n < 1) throw ValueError(str_cat("set_num_threads: expected a positive number of threads, got ", n));
  DL_CHECK(n <= max_threads(), ValueError, "set_num_threads: ", n, " threads is more than the limit of ",
           max_threads(), " (4 per hardware thread, at least 64)");
  DL_CHECK(n == 1 || !g_forked_child.load(), RuntimeError, "set_num_threads: this process was forked after the "
           "OpenMP threads of its parent started, so it can only run single-threaded (got ", n,
           "); start worker processes with the 'spawn' or 'forkserver' method to use threads in them");
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

bool in_parallel_region() {
#ifdef _OPENMP
  return omp_in_parallel();
#else
  return false;
#endif
}

}  // namespace dlcore
