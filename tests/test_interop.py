"""Zero-copy interop: numpy (from_numpy / numpy() / __array__) and DLPack (legacy and versioned
capsules) with dlcore itself, numpy and PyTorch. Memory must be shared both ways, views keep
their strides, and memory lives as long as its last user on either side."""
import ctypes
import gc
import sys
import warnings

import numpy as np
import pytest

import dlcore
from dlcore import _C

try:
    import torch
    import torch.utils.dlpack
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

NP_DTYPES = {
    np.float32: dlcore.float32, np.float64: dlcore.float64, np.float16: dlcore.float16,
    np.int64: dlcore.int64, np.int32: dlcore.int32, np.bool_: dlcore.bool,
}


def sample(np_dtype, shape=(3, 7), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 10).astype(np_dtype)


def elem_strides(a):
    return tuple(s // a.itemsize for s in a.strides)


def capsule_name(cap):
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    return get_name(cap).decode()


# ---- numpy -> dlcore ---------------------------------------------------------------------------

@pytest.mark.parametrize("np_dtype", list(NP_DTYPES))
def test_from_numpy_dtypes_values_and_shared_memory(np_dtype):
    a = sample(np_dtype)
    t = dlcore.from_numpy(a)
    assert t.dtype == NP_DTYPES[np_dtype]
    assert t.shape == a.shape and t.stride() == elem_strides(a)
    assert t.data_ptr() == a.ctypes.data
    np.testing.assert_array_equal(t.numpy(), a)
    a[1, 2] = 1  # numpy write, seen by the tensor
    assert t.numpy()[1, 2] == 1


def test_tensor_writes_are_seen_by_numpy():
    a = np.zeros((4, 5), np.float32)
    t = dlcore.from_numpy(a)
    t.add_(2.5)
    np.testing.assert_array_equal(a, np.full((4, 5), 2.5, np.float32))
    t.narrow(0, 1, 2).fill_(-1.0)  # through a view
    assert (a[1:3] == -1).all() and (a[0] == 2.5).all() and (a[3] == 2.5).all()


@pytest.mark.parametrize("make", [
    lambda a: a[:, ::2],
    lambda a: a.T,
    lambda a: a[1:, 3:6],
    lambda a: a[::3, ::-1][:, ::-1],  # two reversals: positive strides again, offset view
    lambda a: np.broadcast_to(a[:1], (4, 7, 9))[:, 0],  # stride 0 (read-only view)
    lambda a: a.reshape(7, 3, 3).transpose(2, 0, 1)[:, ::2],
])
def test_from_numpy_non_contiguous_views(make):
    base = np.arange(63, dtype=np.float64).reshape(7, 9)
    v = make(base)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # broadcast_to is read-only
        t = dlcore.from_numpy(v)
    assert t.shape == v.shape and t.stride() == elem_strides(v)
    assert t.data_ptr() == v.ctypes.data
    np.testing.assert_array_equal(t.contiguous().numpy(), v)
    back = t.numpy()
    assert back.strides == v.strides and np.shares_memory(back, base)


def test_from_numpy_zero_d_and_empty():
    t = dlcore.from_numpy(np.array(3.5))
    assert t.dim() == 0 and t.item() == 3.5
    e = dlcore.from_numpy(np.zeros((0, 3), np.float32))
    assert e.shape == (0, 3) and e.numel() == 0
    assert e.numpy().shape == (0, 3)
    # a length-1 reversed dim has a negative stride that means nothing: accepted
    one = np.arange(1.0)[::-1]
    assert dlcore.from_numpy(one).item() == 0.0


def test_from_numpy_read_only_warns_and_shares():
    a = np.arange(6, dtype=np.float32)
    a.flags.writeable = False
    with pytest.warns(UserWarning, match="read-only"):
        t = dlcore.from_numpy(a)
    assert t.data_ptr() == a.ctypes.data


def test_from_numpy_negative_strides():
    with pytest.raises(ValueError, match=r"negative stride.*copy\(\)"):
        dlcore.from_numpy(np.arange(5.0)[::-1])
    with pytest.raises(ValueError, match=r"negative stride \(dim 1"):
        dlcore.from_numpy(np.ones((2, 3), np.float32)[:, ::-1])


@pytest.mark.parametrize("np_dtype", [np.uint8, np.int8, np.int16, np.uint32, np.complex64, np.object_])
def test_from_numpy_unsupported_dtypes(np_dtype):
    a = np.zeros(3, dtype=np_dtype)
    with pytest.raises(TypeError, match=rf"unsupported numpy dtype {np.dtype(np_dtype)}.*"
                                        r"supported: float32, float64, float16, int64, int32, bool.*astype"):
        dlcore.from_numpy(a)


def test_from_numpy_uint8_hint():
    with pytest.raises(TypeError, match=r"uint8 data such as images.*astype\(np.float32\)"):
        dlcore.from_numpy(np.zeros((2, 2), np.uint8))


def test_from_numpy_bad_inputs():
    swapped = np.arange(4, dtype=">f4" if sys.byteorder == "little" else "<f4")
    with pytest.raises(TypeError, match="non-native byte order"):
        dlcore.from_numpy(swapped)
    with pytest.raises(TypeError, match="expected a numpy.ndarray, got list"):
        dlcore.from_numpy([1.0, 2.0])
    misaligned = np.frombuffer(bytearray(20), dtype=np.float32, count=4, offset=1)
    with pytest.raises(ValueError, match="not aligned"):
        dlcore.from_numpy(misaligned)
    rec = np.zeros(4, dtype=[("x", np.float32), ("y", np.int8)])["x"]  # stride 5 bytes
    with pytest.raises(ValueError, match="not a multiple of the item size 4"):
        dlcore.from_numpy(rec)


def test_from_numpy_lifetime():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    refs = sys.getrefcount(a)
    t = dlcore.from_numpy(a)
    assert sys.getrefcount(a) == refs + 1  # the storage holds the array
    v = t.transpose(0, 1)  # a view keeps the same storage
    del t
    gc.collect()
    assert sys.getrefcount(a) == refs + 1
    del v
    gc.collect()
    assert sys.getrefcount(a) == refs


def test_from_numpy_source_deleted_first():
    a = np.arange(10, dtype=np.float64)
    t = dlcore.from_numpy(a[2:8])
    del a
    gc.collect()
    np.testing.assert_array_equal(t.numpy(), np.arange(2.0, 8.0))
    t.mul_(2.0)
    np.testing.assert_array_equal(t.numpy(), 2 * np.arange(2.0, 8.0))


def test_from_numpy_storage_freed_by_autograd_engine():
    # Saved tensors are released inside backward (GIL released): the storage deleter takes
    # the GIL itself to drop the ndarray.
    a = np.arange(6, dtype=np.float32)
    refs = sys.getrefcount(a)
    x = dlcore.from_numpy(a)
    w = dlcore.ones(6, requires_grad=True)
    y = x * w
    del x
    gc.collect()
    assert sys.getrefcount(a) == refs + 1  # saved for backward
    y.backward(dlcore.ones(6))
    assert sys.getrefcount(a) == refs  # released inside backward, without the GIL
    np.testing.assert_array_equal(w.grad.numpy(), a)


# ---- dlcore -> numpy ---------------------------------------------------------------------------

@pytest.mark.parametrize("dt", [dlcore.float32, dlcore.float64, dlcore.float16, dlcore.int64, dlcore.int32,
                                dlcore.bool])
def test_numpy_shares_memory(dt):
    t = dlcore.zeros(3, 5, dtype=dt)
    a = t.numpy()
    assert a.dtype == np.dtype(str(dt).split(".")[1]) and a.shape == (3, 5)
    assert a.ctypes.data == t.data_ptr() and a.flags.writeable
    a[2, 4] = 1
    assert t.float().sum().item() == 1
    t.fill_(1)
    assert a.all()


def test_numpy_views_keep_strides_and_offset():
    t = dlcore.arange(24, dtype=dlcore.float32).reshape(2, 3, 4)
    v = t.permute(2, 0, 1).narrow(1, 1, 1)
    a = v.numpy()
    expect = np.arange(24, dtype=np.float32).reshape(2, 3, 4).transpose(2, 0, 1)[:, 1:2]
    np.testing.assert_array_equal(a, expect)
    assert a.strides == tuple(s * 4 for s in v.stride())
    assert a.ctypes.data == v.data_ptr()
    e = dlcore.zeros(2, 3).expand(4, 2, 3).numpy()  # stride 0
    assert e.strides == (0, 12, 4)
    z = dlcore.tensor(2.5).numpy()
    assert z.shape == () and z == 2.5


def test_numpy_lifetime_tensor_deleted_first():
    t = dlcore.arange(10, dtype=dlcore.float64)
    a = t.narrow(0, 5, 5).numpy()
    del t
    gc.collect()
    np.testing.assert_array_equal(a, np.arange(5.0, 10.0))
    a[:] = 0  # the memory is still owned (by the array's base)
    np.testing.assert_array_equal(a, 0)


def test_numpy_round_trip_through_both():
    a = np.arange(6, dtype=np.int32)
    b = dlcore.from_numpy(a).numpy()
    assert np.shares_memory(a, b)
    c = dlcore.from_numpy(b)
    del a, b
    gc.collect()
    np.testing.assert_array_equal(c.numpy(), np.arange(6))


def test_numpy_errors():
    w = dlcore.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"^Can't call numpy\(\) on Tensor that requires grad\. "
                                           r"Use tensor.detach\(\).numpy\(\) instead\.$"):
        w.numpy()
    with pytest.raises(RuntimeError, match="requires grad"):
        (w * 2).numpy()
    with pytest.raises(RuntimeError, match="requires grad"):
        np.asarray(w)
    np.testing.assert_array_equal(w.numpy(force=True), np.ones(3))
    np.testing.assert_array_equal(w.detach().numpy(), np.ones(3))
    with pytest.raises(TypeError, match=r"bfloat16 has no numpy dtype; convert with t.float\(\)"):
        dlcore.ones(2, dtype=dlcore.bfloat16).numpy()


@pytest.mark.skipif(not dlcore._C._built_with_cuda, reason="built without CUDA")
def test_numpy_cuda_tensor():
    if not dlcore.cuda.is_available():
        pytest.skip("no CUDA device")
    t = dlcore.ones(3, device="cuda")
    with pytest.raises(TypeError, match=r"can't convert cuda tensor to numpy; use .cpu\(\) first"):
        t.numpy()
    np.testing.assert_array_equal(t.numpy(force=True), np.ones(3, np.float32))


def test_array_protocol():
    t = dlcore.arange(6, dtype=dlcore.float32).reshape(2, 3)
    a = np.asarray(t)
    assert a.ctypes.data == t.data_ptr()
    d = np.asarray(t, dtype=np.float64)
    assert d.dtype == np.float64 and not np.shares_memory(a, d)
    c = np.array(t)  # copy=True by default
    assert not np.shares_memory(a, c)
    np.testing.assert_array_equal(c, np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(np.add(t, 1), np.arange(1, 7).reshape(2, 3))  # ufuncs take tensors


# ---- DLPack: dlcore <-> dlcore -------------------------------------------------------------

def test_dlpack_device():
    assert dlcore.zeros(2).__dlpack_device__() == (1, 0)


@pytest.mark.parametrize("versioned", [False, True])
def test_dlpack_capsules_round_trip(versioned):
    t = dlcore.arange(12, dtype=dlcore.float32).reshape(3, 4).transpose(0, 1)
    cap = _C._to_dlpack(t, versioned)
    name = "dltensor_versioned" if versioned else "dltensor"
    assert capsule_name(cap) == name
    u = dlcore.from_dlpack(cap)
    assert capsule_name(cap) == "used_" + name
    assert u.shape == (4, 3) and u.stride() == (1, 4) and u.data_ptr() == t.data_ptr()
    u.add_(1.0)
    np.testing.assert_array_equal(t.numpy(), np.arange(1, 13, dtype=np.float32).reshape(3, 4).T)
    with pytest.raises(ValueError, match="already consumed"):
        dlcore.from_dlpack(cap)


@pytest.mark.parametrize("max_version", [None, (1, 0), (1, 3), (0, 8)])
def test_dunder_dlpack_versions(max_version):
    t = dlcore.arange(5, dtype=dlcore.int64)
    cap = t.__dlpack__(max_version=max_version)
    versioned = max_version is not None and max_version[0] >= 1
    assert capsule_name(cap) == ("dltensor_versioned" if versioned else "dltensor")
    u = dlcore.from_dlpack(cap)
    assert u.data_ptr() == t.data_ptr() and u.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("dt", [dlcore.float32, dlcore.float64, dlcore.float16, dlcore.bfloat16, dlcore.int64,
                                dlcore.int32, dlcore.bool])
def test_dlpack_from_dlcore_tensor_all_dtypes(dt):
    t = dlcore.ones(2, 3, dtype=dt)
    u = dlcore.from_dlpack(t)
    assert u.dtype == dt and u.shape == (2, 3) and u.data_ptr() == t.data_ptr()


def test_dlpack_copy_and_device_arguments():
    t = dlcore.zeros(3)
    c = dlcore.from_dlpack(t.__dlpack__(max_version=(1, 0), copy=True))
    assert c.data_ptr() != t.data_ptr()
    same = dlcore.from_dlpack(t.__dlpack__(dl_device=(1, 0), copy=False))
    assert same.data_ptr() == t.data_ptr()
    with pytest.raises(BufferError, match="only its own device or the CPU"):
        t.__dlpack__(dl_device=(2, 0))
    with pytest.raises(ValueError, match="stream must be None for a CPU tensor"):
        t.__dlpack__(stream=1)


def test_dlpack_unconsumed_capsule_releases_storage():
    a = np.arange(4, dtype=np.float32)
    refs = sys.getrefcount(a)
    t = dlcore.from_numpy(a)
    cap = t.__dlpack__()
    del t
    gc.collect()
    assert sys.getrefcount(a) == refs + 1  # the capsule keeps the storage
    del cap
    gc.collect()
    assert sys.getrefcount(a) == refs


def test_dlpack_consumed_capsule_lifetime():
    a = np.arange(4, dtype=np.float32)
    refs = sys.getrefcount(a)
    u = dlcore.from_dlpack(dlcore.from_numpy(a).__dlpack__(max_version=(1, 0)))
    gc.collect()
    assert sys.getrefcount(a) == refs + 1  # only u's storage holds it now
    np.testing.assert_array_equal(u.numpy(), a)
    del u
    gc.collect()
    assert sys.getrefcount(a) == refs


def test_dlpack_errors():
    w = dlcore.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"can't export a tensor that requires grad; use tensor.detach\(\)"):
        w.__dlpack__()
    with pytest.raises(TypeError, match="expected a DLPack capsule or an object with __dlpack__, got list"):
        dlcore.from_dlpack([1, 2])
    with pytest.raises(ValueError, match="negative stride"):
        dlcore.from_dlpack(np.arange(4.0)[::-1])  # numpy exports negative strides
    with pytest.raises(TypeError, match=r"unsupported DLPack dtype uint8"):
        dlcore.from_dlpack(np.zeros(3, np.uint8))


# ---- DLPack: hand-made capsules (null strides, byte_offset, deleters, versions, devices) ----------

class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


class DLManagedTensorVersioned(ctypes.Structure):
    pass


LegacyDeleter = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
VersionedDeleter = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensorVersioned))
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                            ("deleter", LegacyDeleter)]
DLManagedTensorVersioned._fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32),
                                     ("manager_ctx", ctypes.c_void_p), ("deleter", VersionedDeleter),
                                     ("flags", ctypes.c_uint64), ("dl_tensor", DLTensor)]


class HandMade:
    """A producer written with ctypes: keeps everything alive, counts deleter calls."""

    def __init__(self, buf, shape, strides=None, byte_offset=0, dtype=(2, 32), device=(1, 0), versioned=False,
                 major=1, flags=0):
        self.buf = buf
        self.deleted = 0
        self.shape = (ctypes.c_int64 * len(shape))(*shape)
        self.strides = None if strides is None else (ctypes.c_int64 * len(strides))(*strides)
        dl = DLTensor(buf.ctypes.data, DLDevice(*device), len(shape), DLDataType(dtype[0], dtype[1], 1),
                      self.shape, self.strides, byte_offset)
        if versioned:
            self.deleter = VersionedDeleter(self._on_delete)
            self.managed = DLManagedTensorVersioned(major, 0, None, self.deleter, flags, dl)
            self.name = b"dltensor_versioned"
        else:
            self.deleter = LegacyDeleter(self._on_delete)
            self.managed = DLManagedTensor(dl, None, self.deleter)
            self.name = b"dltensor"
        new = ctypes.pythonapi.PyCapsule_New
        new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        self.capsule = new(ctypes.addressof(self.managed), self.name, None)

    def _on_delete(self, _):
        self.deleted += 1


@pytest.mark.parametrize("versioned", [False, True])
def test_dlpack_null_strides_byte_offset_and_deleter(versioned):
    buf = np.arange(8, dtype=np.float32)
    p = HandMade(buf, (2, 3), strides=None, byte_offset=4, versioned=versioned)
    t = dlcore.from_dlpack(p.capsule)
    assert t.shape == (2, 3) and t.stride() == (3, 1)
    np.testing.assert_array_equal(t.numpy(), np.arange(1, 7, dtype=np.float32).reshape(2, 3))
    assert p.deleted == 0
    v = t.transpose(0, 1)
    del t
    gc.collect()
    assert p.deleted == 0
    del v
    gc.collect()
    assert p.deleted == 1  # the producer's deleter runs exactly once, when the storage dies


def test_dlpack_hand_made_strides():
    buf = np.arange(20, dtype=np.float64)
    p = HandMade(buf, (3, 2), strides=(1, 5), dtype=(2, 64))
    np.testing.assert_array_equal(dlcore.from_dlpack(p.capsule).numpy(), buf.reshape(4, 5)[:2, :3].T)


def test_dlpack_rejects_newer_major_version_without_consuming():
    p = HandMade(np.zeros(2, np.float32), (2,), versioned=True, major=2)
    with pytest.raises(RuntimeError, match=r"DLPack version 2\.0 is newer than the supported 1\.x"):
        dlcore.from_dlpack(p.capsule)
    assert capsule_name(p.capsule) == "dltensor_versioned"


def test_dlpack_read_only_flag_warns():
    p = HandMade(np.zeros(2, np.float32), (2,), versioned=True, flags=1)
    with pytest.warns(UserWarning, match="read-only"):
        dlcore.from_dlpack(p.capsule)


def test_dlpack_cuda_capsule_without_cuda():
    if _C._built_with_cuda:
        pytest.skip("built with CUDA")
    p = HandMade(np.zeros(2, np.float32), (2,), device=(2, 0))
    with pytest.raises(RuntimeError, match="built without CUDA support"):
        dlcore.from_dlpack(p.capsule)
    assert capsule_name(p.capsule) == "dltensor"  # not consumed
    q = HandMade(np.zeros(2, np.float32), (2,), device=(4, 0))
    with pytest.raises(RuntimeError, match="unsupported DLPack device type 4"):
        dlcore.from_dlpack(q.capsule)


def test_dlpack_bad_dtypes_and_names():
    p = HandMade(np.zeros(2, np.float32), (2,), dtype=(5, 64))
    with pytest.raises(TypeError, match="unsupported DLPack dtype complex64"):
        dlcore.from_dlpack(p.capsule)
    new = ctypes.pythonapi.PyCapsule_New
    new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    other = new(ctypes.addressof(p.managed), b"something_else", None)
    with pytest.raises(TypeError, match="named 'dltensor' or 'dltensor_versioned', got 'something_else'"):
        dlcore.from_dlpack(other)


# ---- DLPack: numpy ---------------------------------------------------------------------------

@pytest.mark.parametrize("np_dtype", [np.float32, np.float64, np.float16, np.int64, np.int32, np.bool_])
def test_numpy_from_dlpack_shares_memory(np_dtype):
    t = dlcore.from_numpy(sample(np_dtype, (4, 6))).narrow(1, 1, 3)
    a = np.from_dlpack(t)
    assert a.dtype == np_dtype and a.shape == (4, 3)
    assert a.ctypes.data == t.data_ptr() and a.strides == tuple(s * a.itemsize for s in t.stride())
    a[0, 0] = 0
    assert t.numpy()[0, 0] == 0


def test_dlcore_from_numpy_dlpack():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)[:, 1:]
    t = dlcore.from_dlpack(a)
    assert t.data_ptr() == a.ctypes.data and t.stride() == (4, 1)
    t.fill_(7)
    assert (a == 7).all()
    del a
    gc.collect()
    assert t.sum().item() == 7 * 9
    ro = np.arange(3.0)
    ro.flags.writeable = False
    with pytest.warns(UserWarning, match="read-only"):
        dlcore.from_dlpack(ro)


# ---- DLPack: PyTorch -------------------------------------------------------------------------

TORCH_DTYPES = [("float32", "float32"), ("float64", "float64"), ("float16", "float16"), ("bfloat16", "bfloat16"),
                ("int64", "int64"), ("int32", "int32"), ("bool", "bool")]


@needs_torch
@pytest.mark.parametrize("name,tname", TORCH_DTYPES)
def test_torch_from_dlcore(name, tname):
    t = dlcore.arange(24, dtype=dlcore.float32).reshape(2, 3, 4).to(getattr(dlcore, name)).permute(1, 2, 0)
    tt = torch.from_dlpack(t)
    assert tt.dtype == getattr(torch, tname) and tuple(tt.shape) == t.shape
    assert tt.stride() == t.stride() and tt.data_ptr() == t.data_ptr()
    ref = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4).to(tt.dtype).permute(1, 2, 0)
    assert torch.equal(tt, ref)
    tt.zero_()
    assert not t.float().sum().item()


@needs_torch
@pytest.mark.parametrize("name,tname", TORCH_DTYPES)
def test_dlcore_from_torch(name, tname):
    ref = torch.arange(30, dtype=torch.float32).reshape(5, 6).to(getattr(torch, tname))
    tt = ref.clone()[1:, ::2]  # storage offset and strides
    t = dlcore.from_dlpack(tt)
    assert t.dtype == getattr(dlcore, name) and t.shape == tuple(tt.shape)
    assert t.stride() == tt.stride() and t.data_ptr() == tt.data_ptr()
    assert t.float().contiguous().numpy().tolist() == tt.float().tolist()
    t.fill_(1)
    assert bool((tt == 1).all())


@needs_torch
def test_torch_legacy_and_versioned_capsules():
    tt = torch.arange(6, dtype=torch.float64)
    legacy = torch.utils.dlpack.to_dlpack(tt)
    assert capsule_name(legacy) == "dltensor"
    t = dlcore.from_dlpack(legacy)
    assert capsule_name(legacy) == "used_dltensor" and t.data_ptr() == tt.data_ptr()
    versioned = tt.__dlpack__(max_version=(1, 0))
    assert capsule_name(versioned) == "dltensor_versioned"
    u = dlcore.from_dlpack(versioned)
    assert capsule_name(versioned) == "used_dltensor_versioned" and u.data_ptr() == tt.data_ptr()
    # and the other way: torch consumes both of dlcore's capsule kinds
    d = dlcore.arange(4, dtype=dlcore.int32)
    for cap in (_C._to_dlpack(d, False), _C._to_dlpack(d, True)):
        back = torch.utils.dlpack.from_dlpack(cap)
        assert back.data_ptr() == d.data_ptr() and back.tolist() == [0, 1, 2, 3]


@needs_torch
def test_torch_lifetimes():
    tt = torch.arange(8, dtype=torch.float32)
    t = dlcore.from_dlpack(tt[2:])
    del tt
    gc.collect()
    assert t.numpy().tolist() == [2, 3, 4, 5, 6, 7]  # torch's storage lives on in t

    d = dlcore.arange(8, dtype=dlcore.float32)
    back = torch.from_dlpack(d.narrow(0, 4, 4))
    del d
    gc.collect()
    back.add_(1)
    assert back.tolist() == [5, 6, 7, 8]

    # a round trip dlcore -> torch -> dlcore lands on the same memory
    x = dlcore.zeros(3)
    y = dlcore.from_dlpack(torch.from_dlpack(x))
    assert y.data_ptr() == x.data_ptr()
    del x
    gc.collect()
    y.fill_(2)
    assert y.sum().item() == 6


@needs_torch
def test_torch_requires_grad_export():
    t = dlcore.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        torch.from_dlpack(t)
    tt = torch.from_dlpack(t.detach())
    assert tt.tolist() == [1.0, 1.0]
