// Per-device kernel tables and the op registry.
//
// An op declares a typed kernel slot (DL_DECLARE_KERNEL in its ops header) and each kernel
// file fills the slot for its device at the bottom of the file (DL_REGISTER_KERNEL). Calling
// a slot for a device with no kernel raises "<slot> has no CUDA kernel (available: CPU)".
// Slots are constant-initialised, so registration order across files does not matter.
#pragma once

#include <string>
#include <vector>

#include "dlcore/tensor.h"

namespace dlcore {

struct KernelSlotBase {
  const char* name;
  constexpr explicit KernelSlotBase(const char* n) : name(n) {}
};
// Every slot that has at least one kernel, for coverage reports.
std::vector<std::pair<std::string, std::vector<std::string>>> kernel_coverage();
void note_kernel(const char* slot, DeviceType t);
// Which build of the capability-variant CPU kernels runs here: "DEFAULT", "AVX2" or "AVX512";
// active_cpu_capability() names it in lower case.
bool cpu_capability_selected(const char* capability);
const char* active_cpu_capability();
[[noreturn]] void missing_kernel(const char* slot, DeviceType t, const bool* present);

template <typename Fn>
struct KernelSlot : KernelSlotBase {
  Fn fns[kNumDeviceTypes] = {};
  constexpr explicit KernelSlot(const char* n) : KernelSlotBase(n) {}
  bool set(DeviceType t, Fn fn) {
    fns[static_cast<int>(t)] = fn;
    note_kernel(name, t);
    return true;
  }
  Fn operator[](Device d) const {
    Fn fn = fns[static_cast<int>(d.type)];
    if (!fn) {
      bool present[kNumDeviceTypes];
      for (int i = 0; i < kNumDeviceTypes; ++i) present[i] = fns[i] != nullptr;
      missing_kernel(name, d.type, present);
    }
    return fn;
  }
};

#define DL_DECLARE_KERNEL(slot, ...) \
  using slot##_fn = __VA_ARGS__;     \
  extern ::dlcore::KernelSlot<slot##_fn> slot
#define DL_DEFINE_KERNEL(slot) ::dlcore::KernelSlot<slot##_fn> slot(#slot)
#define DL_REGISTER_KERNEL(slot, DEV, fn) \
  static const bool slot##_##DEV##_registered = slot.set(::dlcore::DeviceType::DEV, fn)

// ---- op registry: which user-facing ops exist (tests demand a row for each) ------------
struct OpInfo {
  const char* name;
  const char* family;
  bool differentiable;
};
struct OpRegistrar {
  OpRegistrar(std::initializer_list<OpInfo> ops);
};
const std::vector<OpInfo>& registered_ops();

#define DL_CONCAT_INNER(a, b) a##b
#define DL_CONCAT(a, b) DL_CONCAT_INNER(a, b)
#define DL_REGISTER_OPS(...) static const ::dlcore::OpRegistrar DL_CONCAT(dl_ops_, __LINE__)({__VA_ARGS__})

}  // namespace dlcore
