// Zero-copy interop: numpy arrays in and out of dlcore tensors (`_C.from_numpy`,
// `_C._to_numpy`) and DLPack capsules in both directions (`_C._to_dlpack`,
// `_C._from_dlpack`), legacy ("dltensor") and versioned ("dltensor_versioned").
// The Python protocol methods (Tensor.__dlpack__, Tensor.numpy, dlcore.from_dlpack) are
// thin wrappers in python/dlcore/_interop.py.
//
// Note [Zero-copy lifetimes]
// Shared memory lives as long as its last user on either side:
//   from_numpy    the Storage's deleter drops a reference to the ndarray;
//   _to_numpy     the ndarray's base is a capsule that owns a reference to the Storage;
//   _to_dlpack    the managed tensor's manager_ctx owns a reference to the Storage and the
//                 consumer calls its deleter when done (or the capsule's destructor does, if
//                 nobody consumed it);
//   _from_dlpack  the Storage's deleter calls the producer's deleter.
// A Storage may die on any thread with the GIL released (the autograd engine frees saved
// tensors), so the from_numpy deleter takes the GIL itself, and leaks instead of touching
// Python once the interpreter is shutting down. The _from_dlpack deleter does not take the
// GIL: producers' deleters take it themselves when they need it (numpy's does).
//
// Note [Read-only memory]
// dlcore has no read-only tensors. Like torch.from_numpy, a read-only ndarray (or a DLPack
// tensor flagged read-only) is shared anyway with a UserWarning: writing to the tensor then
// writes memory its owner meant to be constant. Copy it first (arr.copy()) to avoid that.
#include <cstdint>

#include <pybind11/numpy.h>

#include "common.h"

#ifdef DLCORE_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace dlcore {
namespace {

// ---- DLPack ABI ----------------------------------------------------------------------------
// The C structs of the DLPack exchange format (spec: https://dmlc.github.io/dlpack), major
// version 1. Field order, sizes and enum values are the binary interface shared with other
// libraries: never reorder or resize them.
namespace dlpack {

enum DeviceType : int32_t {
  kDLCPU = 1,
  kDLCUDA = 2,
  kDLCUDAHost = 3,  // pinned host memory
  kDLROCM = 10,
  kDLCUDAManaged = 13,
};

struct DLDevice {
  int32_t device_type;  // DeviceType
  int32_t device_id;    // ordinal of the device (0 for the CPU)
};

enum TypeCode : uint8_t { kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLOpaqueHandle = 3, kDLBfloat = 4,
                          kDLComplex = 5, kDLBool = 6 };

struct DLDataType {
  uint8_t code;    // TypeCode
  uint8_t bits;    // bits per lane
  uint16_t lanes;  // 1 for scalar element types
};

// A strided view: element (i0, i1, ...) is at data + byte_offset + sum(ik * strides[k]) * bits/8.
// Strides count elements, like dlcore's; null strides mean compact row-major.
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;
  uint64_t byte_offset;
};

// Legacy (pre-1.0) ownership wrapper, carried in a capsule named "dltensor".
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;                        // producer's private state
  void (*deleter)(DLManagedTensor* self);   // called once by the consumer when done
};

struct DLPackVersion {
  uint32_t major;
  uint32_t minor;
};

// Versioned wrapper (DLPack >= 1.0), carried in a capsule named "dltensor_versioned".
// The version comes first so a consumer can reject a layout it does not know before reading
// anything else.
struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned* self);
  uint64_t flags;  // kFlag* bits
  DLTensor dl_tensor;
};

constexpr uint64_t kFlagReadOnly = uint64_t(1) << 0;  // consumer must not write
constexpr uint64_t kFlagIsCopied = uint64_t(1) << 1;  // producer made a copy for this export
constexpr uint32_t kMajorVersion = 1;
constexpr uint32_t kMinorVersion = 0;

static_assert(sizeof(DLDevice) == 8 && sizeof(DLDataType) == 4, "DLPack ABI");
static_assert(sizeof(DLTensor) == 48, "DLPack ABI");
static_assert(sizeof(DLManagedTensor) == 64, "DLPack ABI");
static_assert(sizeof(DLManagedTensorVersioned) == 80, "DLPack ABI");

}  // namespace dlpack

using dlpack::DLDataType;
using dlpack::DLManagedTensor;
using dlpack::DLManagedTensorVersioned;
using dlpack::DLTensor;

std::string type_name(py::handle h) { return py::str(py::type::of(h).attr("__name__")); }

bool interpreter_alive() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() && !Py_IsFinalizing();
#else
  return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

void warn_read_only(const char* op) {
  std::string msg = str_cat(op, ": the source memory is read-only, but dlcore tensors are always writable; the "
                                "tensor shares that memory, so writing to it is undefined. Copy the source first "
                                "to silence this warning (Note [Read-only memory]).");
  if (PyErr_WarnEx(PyExc_UserWarning, msg.c_str(), 1) < 0) throw py::error_already_set();
}

// Strides of size-0/1 dims carry no information; give them the compact value so a negative
// one there (numpy's a[::-1] of length 1) is not mistaken for a real reversal.
void normalize_unit_strides(const Shape& shape, Shape& strides) {
  Shape compact = contiguous_strides(shape);
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] <= 1) strides[i] = compact[i];
}

// Elements spanned by a view with non-negative strides (0 when it is empty).
int64_t extent_elements(const Shape& shape, const Shape& strides) {
  int64_t last = 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return 0;
    last += (shape[i] - 1) * strides[i];
  }
  return last + 1;
}

// ---- numpy ---------------------------------------------------------------------------------

// numpy's byte-order character: '=' native, '|' not applicable, '<' little, '>' big.
bool is_native_byte_order(char order) {
  const uint16_t probe = 1;
  const bool little = *reinterpret_cast<const uint8_t*>(&probe) == 1;
  return order == '=' || order == '|' || order == (little ? '<' : '>');
}

constexpr const char* kNumpySupported = "float32, float64, float16, int64, int32, bool";

DType dtype_from_numpy(const py::dtype& dt) {
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  std::optional<DType> out;
  if (kind == 'f' && size == 4) out = DType::Float32;
  if (kind == 'f' && size == 8) out = DType::Float64;
  if (kind == 'f' && size == 2) out = DType::Float16;
  if (kind == 'i' && size == 8) out = DType::Int64;
  if (kind == 'i' && size == 4) out = DType::Int32;
  if (kind == 'b' && size == 1) out = DType::Bool;
  if (out && !is_native_byte_order(dt.byteorder()))
    throw TypeError(str_cat("from_numpy: the array has non-native byte order (dtype ", std::string(py::str(dt)),
                            "); convert it with arr.astype(arr.dtype.newbyteorder('=')) (this copies)"));
  if (!out) {
    const std::string name = py::str(dt);
    const bool uint8 = kind == 'u' && size == 1;
    throw TypeError(str_cat("from_numpy: unsupported numpy dtype ", name, " (supported: ", kNumpySupported, "). ",
                            uint8 ? "For uint8 data such as images convert explicitly, e.g. arr.astype(np.float32) "
                                    "or arr.astype(np.int64) (this copies)."
                                  : "Convert it explicitly with arr.astype(...) (this copies)."));
  }
  return *out;
}

const char* numpy_name(DType d) {
  switch (d) {
    case DType::Bool: return "bool";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Float16: return "float16";
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::BFloat16: break;
  }
  throw TypeError(str_cat("numpy: ", dtype_name(d), " has no numpy dtype; convert with t.float() first"));
}

// A tensor over the array's buffer (Note [Zero-copy lifetimes]).
Tensor from_numpy(py::handle obj) {
  DL_CHECK(py::isinstance<py::array>(obj), TypeError, "from_numpy: expected a numpy.ndarray, got ", type_name(obj));
  auto arr = py::reinterpret_borrow<py::array>(obj);
  const DType dtype = dtype_from_numpy(arr.dtype());
  const int64_t itemsize = static_cast<int64_t>(dtype_size(dtype));
  const int64_t ndim = arr.ndim();
  Shape shape(ndim), strides(ndim);
  for (int64_t i = 0; i < ndim; ++i) {
    shape[i] = arr.shape(i);
    const int64_t bytes = arr.strides(i);
    DL_CHECK(bytes % itemsize == 0, ValueError, "from_numpy: stride ", bytes, " bytes of dim ", i,
             " is not a multiple of the item size ", itemsize, " (shape ", shape_str(shape),
             "); make a copy with arr.copy()");
    strides[i] = bytes / itemsize;
  }
  normalize_unit_strides(shape, strides);
  for (int64_t i = 0; i < ndim; ++i)
    DL_CHECK(strides[i] >= 0, ValueError, "from_numpy: the array has a negative stride (dim ", i, ", shape ",
             shape_str(shape), "); dlcore tensors do not support negative strides. Make a copy with arr.copy() "
             "first");
  const int64_t extent = extent_elements(shape, strides);
  void* data = const_cast<void*>(arr.data());
  DL_CHECK(extent == 0 || reinterpret_cast<uintptr_t>(data) % itemsize == 0, ValueError,
           "from_numpy: the array's data is not aligned to its item size ", itemsize, "; make a copy with arr.copy()");
  if (!arr.writeable()) warn_read_only("from_numpy");

  auto st = std::make_shared<StorageImpl>();
  st->data = data;
  st->nbytes = static_cast<size_t>(extent * itemsize);
  st->device = Device{};
  PyObject* owner = arr.ptr();
  Py_INCREF(owner);
  st->deleter = [owner](void*) {
    if (!interpreter_alive()) return;  // leak at shutdown rather than crash
    PyGILState_STATE g = PyGILState_Ensure();
    Py_DECREF(owner);
    PyGILState_Release(g);
  };
  return std::make_shared<TensorImpl>(std::move(st), std::move(shape), std::move(strides), 0, dtype);
}

// An ndarray over the tensor's memory, with the tensor's shape and byte strides.
py::array to_numpy(const Tensor& t) {
  DL_CHECK(!t->requires_grad(), RuntimeError,
           "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.");
  DL_CHECK(t->device().is_cpu(), TypeError, "can't convert cuda tensor to numpy; use .cpu() first (tensor is on ",
           t->device().str(), ")");
  py::dtype dt(numpy_name(t->dtype()));
  const int64_t itemsize = static_cast<int64_t>(t->itemsize());
  std::vector<py::ssize_t> shape(t->shape().begin(), t->shape().end()), strides(t->dim());
  for (int64_t i = 0; i < t->dim(); ++i) strides[i] = t->strides()[i] * itemsize;
  py::capsule owner(new Storage(t->storage()), [](void* p) { delete static_cast<Storage*>(p); });
  return py::array(dt, std::move(shape), std::move(strides), t->raw_data(), owner);
}

// ---- DLPack: dtypes and devices ------------------------------------------------------------

DLDataType dl_dtype(DType d) {
  switch (d) {
    case DType::Bool: return {dlpack::kDLBool, 8, 1};
    case DType::Int32: return {dlpack::kDLInt, 32, 1};
    case DType::Int64: return {dlpack::kDLInt, 64, 1};
    case DType::Float16: return {dlpack::kDLFloat, 16, 1};
    case DType::BFloat16: return {dlpack::kDLBfloat, 16, 1};
    case DType::Float32: return {dlpack::kDLFloat, 32, 1};
    case DType::Float64: return {dlpack::kDLFloat, 64, 1};
  }
  throw TypeError("to_dlpack: unknown dtype");
}

DType dtype_from_dl(DLDataType t) {
  DL_CHECK(t.lanes == 1, TypeError, "from_dlpack: vector dtypes (lanes=", t.lanes, ") are not supported");
  if (t.code == dlpack::kDLBool && t.bits == 8) return DType::Bool;
  if (t.code == dlpack::kDLInt && t.bits == 32) return DType::Int32;
  if (t.code == dlpack::kDLInt && t.bits == 64) return DType::Int64;
  if (t.code == dlpack::kDLFloat && t.bits == 16) return DType::Float16;
  if (t.code == dlpack::kDLFloat && t.bits == 32) return DType::Float32;
  if (t.code == dlpack::kDLFloat && t.bits == 64) return DType::Float64;
  if (t.code == dlpack::kDLBfloat && t.bits == 16) return DType::BFloat16;
  static const char* codes[] = {"int", "uint", "float", "opaque handle", "bfloat", "complex", "bool"};
  const std::string code = t.code < 7 ? codes[t.code] : str_cat("code ", int(t.code));
  throw TypeError(str_cat("from_dlpack: unsupported DLPack dtype ", code, int(t.bits),
                          " (supported: float32, float64, float16, bfloat16, int64, int32, bool)"));
}

dlpack::DLDevice dl_device(Device d) {
  if (d.is_cpu()) return {dlpack::kDLCPU, 0};
  return {dlpack::kDLCUDA, d.index};
}

Device device_from_dl(dlpack::DLDevice d) {
  if (d.device_type == dlpack::kDLCPU) return Device{};
  if (d.device_type == dlpack::kDLCUDA) {
#ifdef DLCORE_WITH_CUDA
    return Device{DeviceType::CUDA, d.device_id};
#else
    throw RuntimeError("from_dlpack: the tensor is in CUDA memory (kDLCUDA) but dlcore was built without CUDA "
                       "support; move it to the CPU on the producer's side first");
#endif
  }
  throw RuntimeError(str_cat("from_dlpack: unsupported DLPack device type ", d.device_type,
                             " (supported: kDLCPU=1, kDLCUDA=2)"));
}

// ---- DLPack export -------------------------------------------------------------------------

template <typename Managed> struct CapsuleName;
template <> struct CapsuleName<DLManagedTensor> {
  static constexpr const char* fresh = "dltensor";
  static constexpr const char* used = "used_dltensor";
};
template <> struct CapsuleName<DLManagedTensorVersioned> {
  static constexpr const char* fresh = "dltensor_versioned";
  static constexpr const char* used = "used_dltensor_versioned";
};

// The producer's side of one export: the storage it keeps alive, the shape and strides the
// DLTensor points into, and the managed struct handed out (its manager_ctx is `this`).
template <typename Managed>
struct ExportContext {
  Storage storage;
  Shape shape, strides;
  Managed managed{};
  static void deleter(Managed* m) { delete static_cast<ExportContext*>(m->manager_ctx); }
};

// Runs when the capsule is garbage collected. A consumer renames the capsule to "used_*"
// when it takes ownership; only an unconsumed capsule still owns the tensor.
template <typename Managed>
void capsule_destructor(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, CapsuleName<Managed>::used)) return;
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  auto* m = static_cast<Managed*>(PyCapsule_GetPointer(capsule, CapsuleName<Managed>::fresh));
  if (m) {
    if (m->deleter) m->deleter(m);
  } else {
    PyErr_WriteUnraisable(capsule);
  }
  PyErr_Restore(type, value, traceback);
}

// Makes sure work queued on the tensor's device is done before another library reads it.
// dlcore does not expose its CUDA streams, so a consumer stream (any value but -1, which
// means "no synchronisation") is served by synchronising the whole device.
void sync_for_export(const Tensor& t, const py::object& stream) {
  if (!t->device().is_cuda()) return;
  if (!stream.is_none() && stream.cast<int64_t>() == -1) return;
#ifdef DLCORE_WITH_CUDA
  py::gil_scoped_release release;
  int prev = 0;
  cudaError_t err = cudaGetDevice(&prev);
  if (err == cudaSuccess && prev != t->device().index) err = cudaSetDevice(t->device().index);
  if (err == cudaSuccess) err = cudaDeviceSynchronize();
  if (prev != t->device().index) cudaSetDevice(prev);
  DL_CHECK(err == cudaSuccess, RuntimeError, "to_dlpack: CUDA error ", cudaGetErrorString(err), " at ", __FILE__,
           ":", __LINE__);
#endif
}

template <typename Managed>
py::object export_capsule(const Tensor& t, uint64_t flags) {
  auto* ctx = new ExportContext<Managed>();
  ctx->storage = t->storage();
  ctx->shape = t->shape();
  ctx->strides = t->strides();
  Managed& m = ctx->managed;
  m.manager_ctx = ctx;
  m.deleter = &ExportContext<Managed>::deleter;
  if constexpr (std::is_same_v<Managed, DLManagedTensorVersioned>) {
    m.version = {dlpack::kMajorVersion, dlpack::kMinorVersion};
    m.flags = flags;
  }
  DLTensor& dl = m.dl_tensor;
  // Like most producers, `data` points at the first element and byte_offset is 0 (the
  // spec's 256-byte alignment of `data` is not followed in practice).
  dl.data = t->raw_data();
  dl.device = dl_device(t->device());
  dl.ndim = static_cast<int32_t>(t->dim());
  dl.dtype = dl_dtype(t->dtype());
  dl.shape = ctx->shape.data();
  dl.strides = ctx->strides.data();
  dl.byte_offset = 0;
  PyObject* cap = PyCapsule_New(&m, CapsuleName<Managed>::fresh, &capsule_destructor<Managed>);
  if (!cap) {
    delete ctx;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::object>(cap);
}

py::object to_dlpack(const Tensor& t, bool versioned, bool is_copied, const py::object& stream) {
  DL_CHECK(!t->requires_grad(), RuntimeError,
           "to_dlpack: can't export a tensor that requires grad; use tensor.detach() first");
  sync_for_export(t, stream);
  if (versioned) return export_capsule<DLManagedTensorVersioned>(t, is_copied ? dlpack::kFlagIsCopied : 0);
  return export_capsule<DLManagedTensor>(t, 0);
}

// ---- DLPack import -------------------------------------------------------------------------

// Validates `dl` and describes the tensor it holds; no ownership is taken yet.
struct ImportPlan {
  void* data;
  Device device;
  DType dtype;
  Shape shape, strides;
  size_t nbytes;
};

ImportPlan plan_import(const DLTensor& dl) {
  ImportPlan p;
  p.device = device_from_dl(dl.device);
  p.dtype = dtype_from_dl(dl.dtype);
  DL_CHECK(dl.ndim >= 0 && (dl.ndim == 0 || dl.shape), ValueError, "from_dlpack: malformed DLTensor (ndim ",
           dl.ndim, ", shape ", dl.shape ? "set" : "null", ")");
  p.shape.assign(dl.shape, dl.shape + dl.ndim);
  for (int64_t s : p.shape)
    DL_CHECK(s >= 0, ValueError, "from_dlpack: negative size in shape ", shape_str(p.shape));
  p.strides = dl.strides ? Shape(dl.strides, dl.strides + dl.ndim) : contiguous_strides(p.shape);
  normalize_unit_strides(p.shape, p.strides);
  for (int32_t i = 0; i < dl.ndim; ++i)
    DL_CHECK(p.strides[i] >= 0, ValueError, "from_dlpack: negative stride ", p.strides[i], " in dim ", i,
             " (shape ", shape_str(p.shape), ", strides ", shape_str(p.strides),
             "); dlcore tensors do not support negative strides. Copy on the producer's side first");
  const int64_t extent = extent_elements(p.shape, p.strides);
  DL_CHECK(extent == 0 || dl.data, ValueError, "from_dlpack: null data pointer for shape ", shape_str(p.shape));
  p.data = dl.data ? static_cast<char*>(dl.data) + dl.byte_offset : nullptr;
  p.nbytes = static_cast<size_t>(extent) * dtype_size(p.dtype);
  return p;
}

template <typename Managed>
Tensor adopt(ImportPlan p, Managed* m) {
  auto st = std::make_shared<StorageImpl>();
  st->data = p.data;
  st->nbytes = p.nbytes;
  st->device = p.device;
  st->deleter = [m](void*) {
    if (m->deleter) m->deleter(m);
  };
  return std::make_shared<TensorImpl>(std::move(st), std::move(p.shape), std::move(p.strides), 0, p.dtype);
}

// Consumes the capsule: checks, renames it to "used_*" (the spec's handshake: its destructor
// then leaves the tensor alone), and hands the producer's deleter to the new Storage.
Tensor from_dlpack_capsule(py::handle obj) {
  PyObject* cap = obj.ptr();
  DL_CHECK(PyCapsule_CheckExact(cap), TypeError,
           "from_dlpack: expected a DLPack capsule or an object with __dlpack__, got ", type_name(obj));
  if (PyCapsule_IsValid(cap, CapsuleName<DLManagedTensorVersioned>::fresh)) {
    auto* m = static_cast<DLManagedTensorVersioned*>(
        PyCapsule_GetPointer(cap, CapsuleName<DLManagedTensorVersioned>::fresh));
    DL_CHECK(m->version.major <= dlpack::kMajorVersion, RuntimeError, "from_dlpack: DLPack version ",
             m->version.major, ".", m->version.minor, " is newer than the supported ", dlpack::kMajorVersion, ".x");
    ImportPlan p = plan_import(m->dl_tensor);
    if (m->flags & dlpack::kFlagReadOnly) warn_read_only("from_dlpack");
    if (PyCapsule_SetName(cap, CapsuleName<DLManagedTensorVersioned>::used) != 0) throw py::error_already_set();
    return adopt(std::move(p), m);
  }
  if (PyCapsule_IsValid(cap, CapsuleName<DLManagedTensor>::fresh)) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, CapsuleName<DLManagedTensor>::fresh));
    ImportPlan p = plan_import(m->dl_tensor);
    if (PyCapsule_SetName(cap, CapsuleName<DLManagedTensor>::used) != 0) throw py::error_already_set();
    return adopt(std::move(p), m);
  }
  const char* name = PyCapsule_GetName(cap);
  const std::string n = name ? name : "";
  DL_CHECK(n != CapsuleName<DLManagedTensor>::used && n != CapsuleName<DLManagedTensorVersioned>::used, ValueError,
           "from_dlpack: this DLPack capsule was already consumed (a capsule can be imported only once)");
  throw TypeError(str_cat("from_dlpack: expected a capsule named 'dltensor' or 'dltensor_versioned', got '", n,
                          "'"));
}

}  // namespace

void bind_interop(py::module_& m) {
  m.def("from_numpy", &from_numpy, py::arg("ndarray"),
        "A tensor sharing memory with a numpy array (no copy). Supported dtypes: float32, float64, float16, "
        "int64, int32, bool.");
  m.def("_to_numpy", &to_numpy, py::arg("tensor"));
  m.def("_to_dlpack", &to_dlpack, py::arg("tensor"), py::arg("versioned") = false, py::kw_only(),
        py::arg("is_copied") = false, py::arg("stream") = py::none());
  m.def("_from_dlpack", &from_dlpack_capsule, py::arg("capsule"));
  m.def("_dlpack_device", [](const Tensor& t) {
    dlpack::DLDevice d = dl_device(t->device());
    return py::make_tuple(d.device_type, d.device_id);
  }, py::arg("tensor"));
}

}  // namespace dlcore
