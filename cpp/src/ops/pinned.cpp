// Pinned host memory and non-blocking host-to-device copies (ops/pinned.h).
#include "ops/pinned.h"

#include "dlcore/autograd.h"

namespace dlcore {

DL_DEFINE_KERNEL(pinned_storage_kernel);
DL_DEFINE_KERNEL(is_pinned_kernel);
DL_DEFINE_KERNEL(copy_to_device_async_kernel);

namespace {

constexpr DeviceType kAccelerator = DeviceType::CUDA;

template <typename Slot>
bool have_kernel(const Slot& slot) { return slot.fns[static_cast<int>(kAccelerator)] != nullptr; }

}  // namespace

bool is_pinned(const Tensor& t) {
  if (!t->device().is_cpu() || !have_kernel(is_pinned_kernel)) return false;
  return is_pinned_kernel[Device{kAccelerator, 0}](t->storage()->data);
}

Tensor pin_memory(const Tensor& t) {
  DL_CHECK(t->device().is_cpu(), RuntimeError, "pin_memory: cannot pin a ", t->device().str(),
           " tensor, only CPU tensors can be pinned (", t->describe(), ")");
  if (is_pinned(t)) return t;
  DL_CHECK(have_kernel(pinned_storage_kernel), RuntimeError,
           "pin_memory: Cannot access accelerator device when none is available (dlcore was built without CUDA "
           "support)");
  const size_t nbytes = static_cast<size_t>(t->numel()) * t->itemsize();
  Storage st = pinned_storage_kernel[Device{kAccelerator, 0}](nbytes);
  Tensor out = std::make_shared<TensorImpl>(st, t->shape(), contiguous_strides(t->shape()), 0, t->dtype());
  if (t->numel() > 0) {
    GradModeGuard no_grad(false);
    copy_(out, detach(t));
  }
  record("PinMemoryBackward", {t}, {out}, [](const std::vector<Tensor>& g, const Node&) { return g; });
  return out;
}

Tensor to_device(const Tensor& t, Device device, bool non_blocking) {
  const bool async = non_blocking && device.is_cuda() && t->device().is_cpu() && t->numel() > 0 &&
                     t->is_contiguous() && is_pinned(t);
  if (!async) return to_device(t, device);
  Tensor out = empty(t->shape(), t->dtype(), device);
  copy_to_device_async_kernel[device](out->raw_data(), device, t->raw_data(), t->storage()->data,
                                      static_cast<size_t>(t->numel()) * t->itemsize());
  const Device src = t->device();
  record("ToCopyBackward", {t}, {out}, [src](const std::vector<Tensor>& g, const Node&) {
    return std::vector<Tensor>{to_device(g[0], src)};
  });
  return out;
}

}  // namespace dlcore
