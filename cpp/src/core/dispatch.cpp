// Kernel-slot coverage, the op registry, CPU capability selection, and thread settings.
#include "dlcore/dispatch.h"

#include <algorithm>
#include <cstdlib>
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

bool cpu_capability_selected(const char* capability) {
  static const bool use_avx2 = [] {
    const char* env = std::getenv("DLCORE_CPU_CAPABILITY");
    if (env && std::string(env) == "default") return false;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
  }();
  return std::string(capability) == (use_avx2 ? "AVX2" : "DEFAULT");
}

const char* active_cpu_capability() { return cpu_capability_selected("AVX2") ? "avx2" : "default"; }

int get_num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_num_threads(int n) {
  if (n < 1) throw ValueError(str_cat("set_num_threads: expected a positive number of threads, got ", n));
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
