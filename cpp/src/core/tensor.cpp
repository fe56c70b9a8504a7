// TensorImpl basics, devices, construction and the shape helpers every op uses.
#include "dlcore/tensor.h"

#include <atomic>
#include <cmath>

#include "dlcore/autograd.h"
#include "dlcore/ops.h"
#include "dlcore/poison.h"

namespace dlcore {

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string Device::str() const {
  if (type == DeviceType::CPU) return "cpu";
  return std::string("cuda:") + std::to_string(index);
}

const char* device_type_name(DeviceType t) { return t == DeviceType::CPU ? "cpu" : "cuda"; }

Device parse_device(const std::string& s) {
  if (s == "cpu") return {DeviceType::CPU, 0};
  if (s == "cuda") return {DeviceType::CUDA, 0};
  if (s.rfind("cuda:", 0) == 0) {
    try {
      return {DeviceType::CUDA, std::stoi(s.substr(5))};
    } catch (const std::exception&) {
    }
  }
  throw ValueError("unknown device '" + s + "' (expected 'cpu', 'cuda' or 'cuda:N')");
}

Storage new_storage(size_t nbytes, Device device) {
  auto st = std::make_shared<StorageImpl>();
  Allocator* a = get_allocator(device.type);
  st->data = a->allocate(nbytes, device.index);
  st->nbytes = nbytes;
  st->device = device;
  const int idx = device.index;
  st->deleter = [a, nbytes, idx](void* p) { a->deallocate(p, nbytes, idx); };
  return st;
}

// ---- checked sizes (Note [Checked sizes]) ----------------------------------------------------
int64_t checked_mul(int64_t a, int64_t b, const char* op, const Shape& shape) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    throw RuntimeError(str_cat(op, ": size of shape ", shape_str(shape), " overflows int64 (", a, " x ", b, ")"));
  return r;
}

int64_t checked_add(int64_t a, int64_t b, const char* op, const Shape& shape) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw RuntimeError(str_cat(op, ": offset arithmetic for shape ", shape_str(shape), " overflows int64 (", a,
                               " + ", b, ")"));
  return r;
}

int64_t check_shape(const Shape& shape, const char* op, size_t itemsize) {
  for (int64_t s : shape) DL_CHECK(s >= 0, ValueError, op, ": negative dimension in shape ", shape_str(shape));
  int64_t n = 1;
  for (int64_t s : shape) n = checked_mul(n, s, op, shape);
  DL_CHECK(n <= kMaxTensorBytes / static_cast<int64_t>(itemsize), RuntimeError, op, ": a tensor of shape ",
           shape_str(shape), " would take ", n, " x ", itemsize, " bytes, more than any allocation can hold");
  return n;
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n = checked_mul(n, s, "numel", shape);
  return n;
}

std::pair<int64_t, int64_t> element_range(const Shape& shape, const Shape& strides, int64_t offset, const char* op) {
  int64_t lo = offset, hi = offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return {offset, offset};
    const int64_t reach = checked_mul(shape[i] - 1, strides[i], op, shape);
    if (reach < 0) lo = checked_add(lo, reach, op, shape);
    else hi = checked_add(hi, reach, op, shape);
  }
  return {lo, hi};
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc = checked_mul(acc, std::max<int64_t>(shape[i], 1), "contiguous_strides", shape);
  }
  return st;
}

int64_t TensorImpl::numel() const { return shape_numel(shape_); }

void TensorImpl::set_data(const TensorImpl& other) {
  storage_ = other.storage_;
  shape_ = other.shape_;
  strides_ = other.strides_;
  offset_ = other.offset_;
  dtype_ = other.dtype_;
  view_base = other.view_base;
}

int64_t TensorImpl::size(int64_t d) const {
  DL_CHECK(dim() > 0, IndexError, "size: dimension specified as ", d, " but the tensor has no dimensions");
  return shape_[wrap_dim(d, dim(), "size")];
}
int64_t TensorImpl::stride(int64_t d) const {
  DL_CHECK(dim() > 0, IndexError, "stride: dimension specified as ", d, " but the tensor has no dimensions");
  return strides_[wrap_dim(d, dim(), "stride")];
}

bool TensorImpl::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

AutogradMeta& TensorImpl::autograd_mut() {
  if (!autograd_) autograd_ = std::make_unique<AutogradMeta>();
  return *autograd_;
}

bool TensorImpl::requires_grad() const {
  if (view_history_stale()) refresh_view_history(const_cast<TensorImpl&>(*this));
  return autograd_ && (autograd_->requires_grad || autograd_->grad_fn);
}

bool TensorImpl::is_leaf() const { return !grad_fn(); }

const std::shared_ptr<Node>& TensorImpl::grad_fn() const {
  static const std::shared_ptr<Node> none;
  if (view_history_stale()) refresh_view_history(const_cast<TensorImpl&>(*this));
  return autograd_ ? autograd_->grad_fn : none;
}

std::string TensorImpl::describe() const { return std::string(dtype_name(dtype_)) + " " + shape_str(shape_); }

namespace {
std::atomic<bool> g_poison{false};
PoisonFill g_poison_fill = nullptr;
}  // namespace

void set_poison_fill(PoisonFill fill) { g_poison_fill = fill; }
bool set_poison_new_tensors(bool on) { return g_poison.exchange(on); }

Tensor empty(const Shape& shape, DType dtype, Device device, const char* op) {
  const int64_t n = check_shape(shape, op, dtype_size(dtype));
  Storage st;
  try {
    st = new_storage(static_cast<size_t>(n) * dtype_size(dtype), device);
  } catch (const std::bad_alloc&) {
    throw OutOfMemoryError(str_cat(op, ": out of memory allocating a ", dtype_name(dtype), " tensor of shape ",
                                   shape_str(shape), " (", n * static_cast<int64_t>(dtype_size(dtype)),
                                   " bytes) on ", device.str()));
  }
  Tensor t = std::make_shared<TensorImpl>(std::move(st), shape, contiguous_strides(shape), 0, dtype);
  if (n && g_poison.load(std::memory_order_relaxed) && g_poison_fill) g_poison_fill(t);  // Note [Poisoned new tensors]
  return t;
}

Tensor empty_like(const Tensor& t) { return empty(t->shape(), t->dtype(), t->device()); }
Tensor empty_like(const Tensor& t, DType dtype) { return empty(t->shape(), dtype, t->device()); }

namespace {
void check_view_in_storage(const Storage& storage, size_t itemsize, const Shape& shape, const Shape& strides,
                           int64_t offset, const char* op) {
  DL_CHECK(shape.size() == strides.size(), ValueError, op, ": shape ", shape_str(shape), " and strides ",
           shape_str(strides), " differ in length");
  int64_t n = 1;
  for (int64_t s : shape) {
    DL_CHECK(s >= 0, ValueError, op, ": negative dimension in shape ", shape_str(shape));
    n = checked_mul(n, s, op, shape);
  }
  if (n == 0) return;
  auto [lo, hi] = element_range(shape, strides, offset, op);
  const int64_t capacity = static_cast<int64_t>(storage->nbytes / itemsize);
  DL_CHECK(lo >= 0 && hi < capacity, ValueError, op, ": shape ", shape_str(shape), " strides ", shape_str(strides),
           " offset ", offset, " reach past the storage of ", capacity, " elements (elements ", lo, " to ", hi, ")");
}
}  // namespace

Tensor make_view(const Tensor& t, Shape shape, Shape strides, int64_t offset, const char* op) {
  check_view_in_storage(t->storage(), t->itemsize(), shape, strides, offset, op);
  auto v = std::make_shared<TensorImpl>(t->storage(), std::move(shape), std::move(strides), offset, t->dtype());
  v->view_base = t->view_base ? t->view_base : t;
  return v;
}

Tensor wrap_scalar(double v, DType dtype) {
  Tensor t = scalar_tensor(v, dtype);
  t->is_wrapped_number = true;
  return t;
}

Tensor scalar_tensor(double v, DType dtype, Device device) {
  Tensor t = empty({}, dtype, Device{});
  DL_DISPATCH_ALL_AND_HALF(dtype, "scalar_tensor", [&] { *t->data<scalar_t>() = convert<scalar_t>(v); });
  if (!device.is_cpu()) {
    Tensor d = empty({}, dtype, device);
    copy_(d, t);
    return d;
  }
  return t;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t n = std::max<int64_t>(ndim, 1);  // 0-d tensors accept dim 0 and -1
  DL_CHECK(dim >= -n && dim < n, IndexError, op, ": dimension ", dim, " out of range for a ", ndim,
           "-d tensor (expected in [", -n, ", ", n - 1, "])");
  return dim < 0 ? dim + n : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    DL_CHECK(da == db || da == 1 || db == 1, ValueError, op, ": shapes ", shape_str(a), " and ", shape_str(b),
             " cannot be broadcast (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  DL_CHECK(a->device() == b->device(), ValueError, op, ": expected all tensors on one device, got ",
           a->device().str(), " and ", b->device().str());
}

}  // namespace dlcore
