// Tensor = a strided view over a refcounted Storage (PyTorch's model).
//
// Note [Strides are in elements]
// `strides` and `offset` count elements of the tensor's dtype, never bytes. A view
// (reshape of contiguous data, permute, transpose, slice, expand) is a new TensorImpl over
// the same Storage with other shape/strides/offset; no data moves.
//
// Note [Version counter]
// Every in-place write bumps `storage->version`. Autograd records the version of each tensor
// it saves and refuses to use it in backward if the version changed since. Views share the
// storage, hence the counter, so writing through a view is caught too.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dlcore/dtype.h"
#include "dlcore/error.h"

namespace dlcore {

using Shape = std::vector<int64_t>;

enum class DeviceType : int8_t { CPU = 0, CUDA = 1 };
constexpr int kNumDeviceTypes = 2;

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const;  // "cpu", "cuda:0"
};
Device parse_device(const std::string& s);  // "cpu", "cuda", "cuda:1"
const char* device_type_name(DeviceType t);

// Device memory. One allocator per device type; the CPU one caches freed blocks (Note
// [CPU caching allocator] in core/allocator.cpp), the CUDA one is registered by cuda/.
struct Allocator {
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes, int device_index) = 0;
  virtual void deallocate(void* ptr, size_t nbytes, int device_index) = 0;
};
Allocator* get_allocator(DeviceType t);  // throws if that device type is not built in
void set_allocator(DeviceType t, Allocator* a);

struct StorageImpl {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  std::function<void(void*)> deleter;  // frees `data`; empty for non-owning
  std::atomic<int64_t> version{0};
  ~StorageImpl() {
    if (deleter) deleter(data);
  }
};
using Storage = std::shared_ptr<StorageImpl>;
Storage new_storage(size_t nbytes, Device device);

struct Node;
class TensorImpl;
using Tensor = std::shared_ptr<TensorImpl>;

// Autograd state, allocated only for tensors that take part in autograd.
struct AutogradMeta {
  bool requires_grad = false;        // leaves only; non-leaves require grad iff grad_fn
  std::shared_ptr<Node> grad_fn;     // null for leaves
  uint32_t output_nr = 0;            // which output of grad_fn this tensor is
  Tensor grad;                       // accumulated on leaves and on retain_grad() tensors
  std::weak_ptr<Node> grad_accumulator;  // leaves: the AccumulateGrad node, made on demand
  bool retains_grad = false;
};

class TensorImpl : public std::enable_shared_from_this<TensorImpl> {
 public:
  TensorImpl(Storage storage, Shape shape, Shape strides, int64_t offset, DType dtype)
      : storage_(std::move(storage)), shape_(std::move(shape)), strides_(std::move(strides)),
        offset_(offset), dtype_(dtype) {}

  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  const Storage& storage() const { return storage_; }
  Device device() const { return storage_->device; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const;
  int64_t size(int64_t d) const;    // d may be negative
  int64_t stride(int64_t d) const;
  size_t itemsize() const { return dtype_size(dtype_); }
  bool is_contiguous() const;
  void* raw_data() const {
    return static_cast<char*>(storage_->data) + offset_ * static_cast<int64_t>(itemsize());
  }
  template <typename T> T* data() const { return static_cast<T*>(raw_data()); }

  // A Python float/int/bool turned into a 0-d tensor; it takes part in type promotion
  // like a number (a float32 tensor + 2.5 stays float32).
  bool is_wrapped_number = false;
  // Views remember the tensor whose storage they alias (for in-place checks and `_base`).
  Tensor view_base;
  // Note [Views and in-place writes] (autograd/node.cpp): a view made by a view op while grad
  // mode was on is differentiable; view_version is the storage version its history was last
  // derived at. When the storage has been written since, the history is derived again from
  // the base's (refresh_view_history), so a view always differentiates through the base's
  // newest value.
  bool differentiable_view = false;
  int64_t view_version = 0;

  // Autograd (requires_grad, is_leaf and grad_fn first bring a stale view's history up to
  // date: Note [Views and in-place writes])
  AutogradMeta* autograd() const { return autograd_.get(); }
  AutogradMeta& autograd_mut();
  bool requires_grad() const;
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  bool view_history_stale() const { return differentiable_view && view_version != version(); }
  void bump_version() { storage_->version.fetch_add(1, std::memory_order_relaxed); }
  int64_t version() const { return storage_->version.load(std::memory_order_relaxed); }

  std::string describe() const;  // "float32 [2, 3]"

  // `t.data = other` (PyTorch's): this tensor takes other's storage, geometry and dtype and
  // keeps its identity and autograd state (how Module.to converts parameters in place).
  void set_data(const TensorImpl& other);

 private:
  Storage storage_;
  Shape shape_;
  Shape strides_;
  int64_t offset_ = 0;
  DType dtype_;
  std::unique_ptr<AutogradMeta> autograd_;
};

// ---- checked sizes -------------------------------------------------------------------------
// Note [Checked sizes]
// Every product of sizes, strides and byte counts goes through these helpers, which raise
// RuntimeError naming the op and the shape when the product leaves int64 (or the byte count
// leaves what an allocation can address) instead of wrapping to a small number: a wrapped
// size allocates too little and a kernel then writes past the end. A tensor that exists has
// a numel and a byte size that fit, and every element offset of a view lies inside its
// storage (make_view checks), so kernels may do their index arithmetic in int64 unchecked.
int64_t checked_mul(int64_t a, int64_t b, const char* op, const Shape& shape);
int64_t checked_add(int64_t a, int64_t b, const char* op, const Shape& shape);
// Rejects negative sizes (ValueError) and products past int64 or past kMaxTensorBytes
// bytes of `itemsize`-byte elements (RuntimeError); returns numel.
int64_t check_shape(const Shape& shape, const char* op, size_t itemsize = 1);
constexpr int64_t kMaxTensorBytes = int64_t(1) << 62;  // no allocator can serve more

// Re-derives a stale differentiable view's history from its base (autograd/node.cpp).
void refresh_view_history(TensorImpl& view);

// ---- construction ----------------------------------------------------------------------
Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);  // checked: raises on overflow (Note [Checked sizes])
// `op` names the caller in the error raised for a bad or too large shape.
Tensor empty(const Shape& shape, DType dtype, Device device = {}, const char* op = "empty");
Tensor empty_like(const Tensor& t);                  // same shape/dtype/device, contiguous
Tensor empty_like(const Tensor& t, DType dtype);
// A new TensorImpl over t's storage (no autograd history attached; see ops for that). Raises,
// naming `op`, when an element of the view would lie outside the storage (Note [Checked sizes]).
Tensor make_view(const Tensor& t, Shape shape, Shape strides, int64_t offset, const char* op = "view");
// [first, last] element offset that a (shape, strides, offset) view addresses, in checked
// arithmetic; {offset, offset} when it has no element.
std::pair<int64_t, int64_t> element_range(const Shape& shape, const Shape& strides, int64_t offset, const char* op);
Tensor wrap_scalar(double v, DType dtype);           // a wrapped-number 0-d tensor
Tensor scalar_tensor(double v, DType dtype, Device device = {});

// ---- helpers for ops -----------------------------------------------------------------------
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);  // negative dims, range check
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
double item_as_double(const Tensor& t);  // 1-element tensor -> double

}  // namespace dlcore
