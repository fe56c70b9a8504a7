// Autocast state and casts (Note [Autocast] and Note [Autocast weight cache] in autocast.h).
#include "core/autocast.h"

#include <unordered_map>

#include "dlcore/autograd.h"

namespace dlcore {
namespace autocast {
namespace {

struct CacheEntry {
  std::weak_ptr<TensorImpl> source;
  std::weak_ptr<StorageImpl> storage;
  Shape shape, strides;
  int64_t offset = 0;
  int64_t version = 0;
  Tensor cast;
};

struct State {
  bool cuda_enabled = false;
  DType cuda_dtype = DType::Float16;
  DType cpu_dtype = DType::BFloat16;
  bool cache_enabled = true;
  int nesting = 0;
  std::unordered_map<const TensorImpl*, CacheEntry> cache;
};

State& state() {
  thread_local State s;
  return s;
}

void check_lower_dtype(DType dtype, const char* where) {
  DL_CHECK(dtype == DType::BFloat16 || dtype == DType::Float16, TypeError, where,
           ": autocast dtype must be bfloat16 or float16, got ", dtype_name(dtype));
}

// CUDA float tensors other than float64 (PyTorch's is_autocast_eligible).
bool eligible(const Tensor& t) {
  if (!t || !t->device().is_cuda()) return false;
  const DType d = t->dtype();
  return d == DType::Float32 || d == DType::Float16 || d == DType::BFloat16;
}

bool cacheable(const Tensor& t, DType to) {
  const State& s = state();
  return s.cache_enabled && s.nesting > 0 && t->dtype() == DType::Float32 && to == s.cuda_dtype && t->is_leaf() &&
         t->requires_grad() && !t->view_base && grad_enabled();
}

Tensor cached_cast(const Tensor& t, DType to) {
  auto& cache = state().cache;
  auto it = cache.find(t.get());
  if (it != cache.end()) {
    const CacheEntry& e = it->second;
    if (e.source.lock() == t && e.storage.lock() == t->storage() && e.shape == t->shape() &&
        e.strides == t->strides() && e.offset == t->offset() && e.version == t->version() &&
        e.cast->dtype() == to)
      return e.cast;
  }
  Tensor out = to_dtype(t, to);
  CacheEntry e{t, t->storage(), t->shape(), t->strides(), t->offset(), t->version(), out};
  cache[t.get()] = std::move(e);
  return out;
}

}  // namespace

bool is_enabled(DeviceType device) { return device == DeviceType::CUDA && state().cuda_enabled; }

void set_enabled(DeviceType device, bool on) {
  if (device == DeviceType::CUDA) {
    state().cuda_enabled = on;
    return;
  }
  DL_CHECK(!on, RuntimeError,
           "autocast: device_type='cpu' is not supported: dlcore's CPU kernels compute in float32 and float64 only "
           "(float16 and bfloat16 are storage types on the CPU), so a CPU autocast region could not run ops in ",
           dtype_name(state().cpu_dtype), "; use device_type='cuda' for CUDA tensors, or enabled=False");
}

DType get_dtype(DeviceType device) { return device == DeviceType::CUDA ? state().cuda_dtype : state().cpu_dtype; }

void set_dtype(DeviceType device, DType dtype) {
  check_lower_dtype(dtype, "set_autocast_dtype");
  (device == DeviceType::CUDA ? state().cuda_dtype : state().cpu_dtype) = dtype;
}

bool is_cache_enabled() { return state().cache_enabled; }
void set_cache_enabled(bool on) { state().cache_enabled = on; }
int increment_nesting() { return ++state().nesting; }
int decrement_nesting() {
  State& s = state();
  if (s.nesting > 0) --s.nesting;
  return s.nesting;
}
void clear_cache() { state().cache.clear(); }

bool active() { return state().cuda_enabled; }

Suspend::Suspend() : prev_(state().cuda_enabled) { state().cuda_enabled = false; }
Suspend::~Suspend() { state().cuda_enabled = prev_; }

Tensor lower(const Tensor& t) {
  if (!eligible(t)) return t;
  const DType to = state().cuda_dtype;
  if (t->dtype() == to) return t;
  return cacheable(t, to) ? cached_cast(t, to) : to_dtype(t, to);
}

OptTensor lower(const OptTensor& t) {
  if (!t) return t;
  return lower(*t);
}

bool is_reduced(const Tensor& t) { return eligible(t) && t->dtype() != DType::Float32; }

Tensor fp32(const Tensor& t) { return is_reduced(t) ? to_dtype(t, DType::Float32) : t; }

OptTensor fp32(const OptTensor& t) {
  if (!t) return t;
  return fp32(*t);
}

std::vector<Tensor> fp32(const std::vector<Tensor>& ts) {
  std::vector<Tensor> out;
  out.reserve(ts.size());
  for (const Tensor& t : ts) out.push_back(fp32(t));
  return out;
}

}  // namespace autocast
}  // namespace dlcore
