"""PyTorch's checkpoint archive (the zip format ``torch.save`` writes): writing and reading.

An archive is an uncompressed zip whose records all sit in one folder, ``<archive>/``:
    data.pkl              the pickled object, tensors as torch's rebuild calls;
    data/<key>            the raw little-endian bytes of one storage (key "0", "1", ...);
    byteorder             "little";  .storage_alignment  "64";  version  "3";
    .data/serialization_id  an identifier of this save.
Each record's data starts at a multiple of 64 bytes (a padding extra field in its zip header),
so ``torch.load(..., mmap=True)`` maps aligned storages. torch also writes ".format_version",
which lets its mmap loader compute record offsets assuming torch's own zip writer (data
descriptors after each record); our writer has none, so the record is left out and torch reads
each offset from the zip headers instead.
A tensor pickles as ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
requires_grad, backward_hooks)``, where ``storage`` is the persistent id
``("storage", torch.<X>Storage, key, location, numel)``; a Parameter as
``torch._utils._rebuild_parameter(tensor, requires_grad, backward_hooks)``; dtypes as
``torch.float32`` etc. and devices as ``torch.device(type[, index])``.

Note [Writing torch's globals without torch]
The pickle must name torch's functions, but the standard Pickler writes a global only after
importing its module to check the name, and torch is not importable here. ``ArchivePickler``
extends the pure-Python pickler (``pickle._Pickler``) instead: stand-ins (``_TorchGlobal``)
reduce to their names, and ``save_global`` writes a stand-in's or a dtype's torch name as a
GLOBAL opcode without any import. ``pickle_protocol=2`` (the default, as torch's) keeps to the
opcodes torch's weights-only unpickler reads.

Note [Shared storages]
Tensors that view one storage (views, state-dict entries of tied weights) are stored once, as
the storage's elements from 0 to the last one any of them reaches, and each tensor records its
offset and strides into it; loading rebuilds them as views of one storage, so they stay shared.
The storage's size must be in its persistent id, which is pickled where the first of these
tensors is, before the others are seen; so ``obj`` is pickled twice: a first pass into a sink
only measures the storages, the second writes the pickle (save raises PicklingError if the
second pass meets other storages than the first).
"""
import io
import os
import pickle
import re
import secrets
import struct
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from . import _C
from ._C import Tensor
from ._pt_unpickle import (
    STORED_NUMPY, SUPPORTED_DTYPES, StorageType, UnsupportedStorage, UnsupportedTensor, WeightsOnlyUnpickler,
    full_unpickler, tensor_from_bytes,
)
from ._safetensors_ckpt import host_array

_STORAGE_NAMES = {"float32": "FloatStorage", "float64": "DoubleStorage", "float16": "HalfStorage",
                  "bfloat16": "BFloat16Storage", "int64": "LongStorage", "int32": "IntStorage", "bool": "BoolStorage"}
ALIGNMENT = 64
_ZIP64_LIMIT = 0xFFFFFFFF


def dtype_name(dt):
    return str(dt).rsplit(".", 1)[-1]


class _TorchGlobal:
    """A stand-in pickled as the global ``module.name``."""

    __slots__ = ("module", "name")

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle's save_reduce requires a callable
        raise TypeError(f"{self.module}.{self.name} only stands for torch's function in a pickle")


_REBUILD_TENSOR_V2 = _TorchGlobal("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAMETER = _TorchGlobal("torch._utils", "_rebuild_parameter")
_TORCH_DEVICE = _TorchGlobal("torch", "device")
_STORAGE_TYPES = {dt: _TorchGlobal("torch", name) for dt, name in _STORAGE_NAMES.items()}


class _StorageRef:
    """The persistent id of one stored storage."""

    __slots__ = ("pid",)

    def __init__(self, pid):
        self.pid = pid


class _ParameterData:
    """A Parameter's values, pickled as a plain tensor inside ``_rebuild_parameter``."""

    __slots__ = ("tensor",)

    def __init__(self, tensor):
        self.tensor = tensor


def _location(device):
    if device.type == "cpu":
        return "cpu"
    return f"{device.type}:{device.index or 0}"


class _Storages:
    """The storages of the tensors met while pickling (Note [Shared storages])."""

    def __init__(self):
        self.keys = {}      # storage identity -> its record key
        self.sources = {}   # record key -> (a tensor on the storage, dtype name)
        self.numels = {}    # record key -> elements to store
        self.totals = None  # the numels the first pass measured
        self.keep = []      # the tensors behind the keys, so storage pointers and ids stay unique

    def _key(self, ident, source, dtype):
        key = self.keys.get(ident)
        if key is None:
            key = self.keys[ident] = str(len(self.keys))
            self.sources[key] = (source, dtype)
            self.numels[key] = 0
            self.keep.append(source)
        return key

    def reduce(self, t, as_data=False):
        """The reduce value of tensor ``t`` (a Parameter's data when ``as_data``)."""
        from .nn.parameter import Parameter
        if isinstance(t, Parameter) and not as_data:
            return (_REBUILD_PARAMETER, (_ParameterData(t), t.requires_grad, OrderedDict()))
        dtype = dtype_name(t.dtype)
        if dtype not in _STORAGE_NAMES:
            raise pickle.PicklingError(f"save: can't store a tensor of dtype {dtype}")
        shape, stride, offset = tuple(t.shape), tuple(t.stride()), t.storage_offset()
        numel, requires_grad = t.numel(), t.requires_grad and not as_data
        if numel == 0:
            key, offset, end = self._key(("empty", id(t)), t, dtype), 0, 0
        elif min(stride, default=0) < 0:  # torch has no negative strides: store a contiguous copy
            t = _C.contiguous(t.detach())
            key = self._key(("copy", id(t)), t, dtype)
            shape, stride, offset, end = tuple(t.shape), tuple(t.stride()), 0, numel
        else:
            key = self._key((str(t.device), t.untyped_storage_ptr(), dtype), t, dtype)
            end = offset + sum((n - 1) * s for n, s in zip(shape, stride)) + 1
        self.numels[key] = max(self.numels[key], end)
        total = 0 if self.totals is None else self.totals.get(key, 0)
        pid = ("storage", _STORAGE_TYPES[dtype], key, _location(t.device), total)
        return (_REBUILD_TENSOR_V2, (_StorageRef(pid), offset, shape, stride, requires_grad, OrderedDict()))

    def host_bytes(self, key):
        """The bytes of storage ``key``: its first ``numel`` elements, little-endian, on the CPU."""
        source, dtype = self.sources[key]
        n = self.numels[key]
        if n == 0:
            return b""
        arr = host_array(_C.as_strided(source.detach(), [n], [1], 0))
        return memoryview(arr.reshape(-1).view(np.uint8))


def _has_own_reduce(cls):
    """Whether tensor class ``cls`` pickles its own way (UninitializedParameter, say)."""
    from .nn.parameter import Parameter
    reduce_ex = cls.__reduce_ex__
    return reduce_ex is not Tensor.__reduce_ex__ and reduce_ex is not Parameter.__reduce_ex__


_picklers = {}


def _pickler_class(pickle_module):
    base = pickle._Pickler if pickle_module is pickle else getattr(pickle_module, "Pickler", None)
    if base in _picklers:
        return _picklers[base]
    if not isinstance(base, type) or not issubclass(base, pickle._Pickler):
        raise TypeError(f"save: pickle_module {getattr(pickle_module, '__name__', pickle_module)!r} must have a "
                        "Pickler derived from the pure-Python pickle._Pickler (as pickle and dill do)")

    class ArchivePickler(base):
        """Pickles tensors, dtypes and devices as torch's (Note [Writing torch's globals without torch])."""

        def __init__(self, file, protocol, storages):
            super().__init__(file, protocol)
            self.storages = storages

        def persistent_id(self, obj):
            return obj.pid if type(obj) is _StorageRef else None

        def reducer_override(self, obj):
            if isinstance(obj, Tensor):
                if _has_own_reduce(type(obj)):
                    return NotImplemented
                return self.storages.reduce(obj)
            if type(obj) is _ParameterData:
                return self.storages.reduce(obj.tensor, as_data=True)
            if type(obj) is _TorchGlobal:
                return obj.name
            if type(obj) is _C.dtype:
                return dtype_name(obj)
            if type(obj) is _C.device:
                return (_TORCH_DEVICE, (obj.type,) if obj.index is None else (obj.type, obj.index))
            return NotImplemented

        def save_global(self, obj, name=None):
            if type(obj) is _TorchGlobal:
                module, qualname = obj.module, obj.name
            elif type(obj) is _C.dtype:
                module, qualname = "torch", dtype_name(obj)
            else:
                return super().save_global(obj, name)
            if self.proto >= 4:
                self.save(module)
                self.save(qualname)
                self.write(pickle.STACK_GLOBAL)
            else:
                self.write(pickle.GLOBAL + module.encode("utf-8") + b"\n" + qualname.encode("utf-8") + b"\n")
            self.memoize(obj)

    _picklers[base] = ArchivePickler
    return ArchivePickler


class _Sink:
    def write(self, data):
        return len(data)


def pickle_archive(obj, pickle_module, protocol):
    """(the bytes of data.pkl, the storages to store) for ``obj``."""
    cls = _pickler_class(pickle_module)
    storages = _Storages()
    cls(_Sink(), protocol, storages).dump(obj)
    storages.totals, storages.numels = storages.numels, {}
    storages.keys.clear()
    storages.sources.clear()
    out = _Bytes()
    cls(out, protocol, storages).dump(obj)
    if storages.numels != storages.totals:
        raise pickle.PicklingError("save: the object changed while it was being pickled")
    return out.value(), storages


class _Bytes:
    def __init__(self):
        self.chunks = []

    def write(self, data):
        self.chunks.append(bytes(data))
        return len(data)

    def value(self):
        return b"".join(self.chunks)


# ---- zip writing ---------------------------------------------------------------------------------

class ZipWriter:
    """Writes an uncompressed zip through ``write(bytes)``, each record's data aligned to
    ``ALIGNMENT`` bytes by a padding extra field (as torch's writer does); zip64 where needed."""

    _DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01

    def __init__(self, write):
        self._write = write
        self._offset = 0
        self._entries = []  # (name, crc, size, header offset)

    def _emit(self, data):
        self._write(data)
        self._offset += len(data)

    def add(self, name, data):
        name_b = name.encode("utf-8")
        size, crc, offset = len(data), zlib.crc32(data), self._offset
        zip64 = size >= _ZIP64_LIMIT
        extra = struct.pack("<HHQQ", 1, 16, size, size) if zip64 else b""
        pad = -(offset + 30 + len(name_b) + len(extra)) % ALIGNMENT
        if pad:
            pad += ALIGNMENT if pad < 4 else 0
            extra += struct.pack("<HH", 0x4246, pad - 4) + b"Z" * (pad - 4)  # "FB": padding
        small = 0xFFFFFFFF if zip64 else size
        self._emit(struct.pack("<4s5H3L2H", b"PK\x03\x04", 45 if zip64 else 20, 0, 0, 0, self._DOS_DATE, crc,
                               small, small, len(name_b), len(extra)) + name_b + extra)
        self._emit(data)
        self._entries.append((name_b, crc, size, offset))

    def close(self):
        start = self._offset
        for name_b, crc, size, offset in self._entries:
            fields = []
            if size >= _ZIP64_LIMIT:
                fields += [size, size]
            if offset >= _ZIP64_LIMIT:
                fields.append(offset)
            extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
            version = 45 if fields else 20
            small_size = 0xFFFFFFFF if size >= _ZIP64_LIMIT else size
            self._emit(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", version, version, 0, 0, 0, self._DOS_DATE, crc,
                                   small_size, small_size, len(name_b), len(extra), 0, 0, 0, 0,
                                   0xFFFFFFFF if offset >= _ZIP64_LIMIT else offset) + name_b + extra)
        count, size = len(self._entries), self._offset - start
        if count >= 0xFFFF or size >= _ZIP64_LIMIT or start >= _ZIP64_LIMIT:
            end64 = self._offset
            self._emit(struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, start))
            self._emit(struct.pack("<4sLQL", b"PK\x06\x07", 0, end64, 1))
            count, size, start = min(count, 0xFFFF), min(size, 0xFFFFFFFF), min(start, 0xFFFFFFFF)
        self._emit(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, size, start, 0))


def archive_name(f):
    """The records' folder: the file's name without extension (as torch), "archive" for streams."""
    if isinstance(f, (str, bytes, os.PathLike)):
        stem = os.path.splitext(os.path.basename(os.fsdecode(os.fspath(f))))[0]
        if re.fullmatch(r"[A-Za-z0-9_.\-]+", stem):
            return stem
    return "archive"


def write_archive(write, name, pickled, storages, byteorder=True):
    """Writes the archive of ``pickled`` (data.pkl's bytes) and ``storages`` through ``write``
    (without the byteorder record unless ``byteorder``)."""
    zf = ZipWriter(write)
    zf.add(f"{name}/data.pkl", pickled)
    zf.add(f"{name}/.storage_alignment", str(ALIGNMENT).encode())
    if byteorder:
        zf.add(f"{name}/byteorder", b"little")
    for key in sorted(storages.numels, key=int):
        zf.add(f"{name}/data/{key}", storages.host_bytes(key))
    zf.add(f"{name}/version", b"3\n")
    zf.add(f"{name}/.data/serialization_id", str(secrets.randbits(128)).zfill(40).encode())
    zf.close()


# ---- reading ----------------------------------------------------------------------------------

class ArchiveReader:
    """The records of a torch archive in ``fileobj`` (seekable); errors name the file."""

    def __init__(self, fileobj, name):
        self.name = name
        try:
            start = fileobj.tell()
            self.size = fileobj.seek(0, os.SEEK_END) - start
            fileobj.seek(start)
            self.zf = zipfile.ZipFile(fileobj)
            names = self.zf.namelist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error) as e:
            raise RuntimeError(f"load: {name} is not a valid checkpoint zip archive (truncated or corrupted?): "
                               f"{e}") from None
        pickles = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            raise RuntimeError(f"load: {name} is a TorchScript archive (torch.jit.save), which dlcore can't load; "
                               "save the model's state_dict() with torch.save instead")
        if len(pickles) != 1:
            raise RuntimeError(f"load: {name} is a zip file but not a PyTorch checkpoint (no <archive>/data.pkl)")
        self.prefix = pickles[0][:-len("data.pkl")]

    def has(self, record):
        try:
            self.zf.getinfo(self.prefix + record)
        except KeyError:
            return False
        return True

    def mapped_array(self, mapped, record, np_dtype, count):
        """The record's data as an ndarray over ``mapped`` (the file's mmap), or None when it can't
        be one (compressed, unaligned or of another size)."""
        try:
            info = self.zf.getinfo(self.prefix + record)
        except KeyError:
            return None
        itemsize = np.dtype(np_dtype).itemsize
        if info.compress_type != zipfile.ZIP_STORED or info.file_size != count * itemsize:
            return None
        header = mapped[info.header_offset:info.header_offset + 30]
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            return None
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        start = info.header_offset + 30 + name_len + extra_len
        if start % itemsize or start + info.file_size > len(mapped):
            return None
        return np.frombuffer(mapped, dtype=np_dtype, count=count, offset=start)

    def read(self, record):
        """The record's bytes, in a bytearray (which a tensor can then use without a copy)."""
        name = self.prefix + record
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            raise RuntimeError(f"load: {self.name} is corrupted: record {name!r} is missing") from None
        try:
            if info.file_size > self.size:
                raise EOFError(f"its size {info.file_size} exceeds the file's")
            data = bytearray(info.file_size)
            with self.zf.open(info) as f:  # reading to the end checks the CRC
                n = f.readinto(data)
                if n != len(data) or f.read(1):
                    raise EOFError(f"read {n} of its {len(data)} bytes")
            return data
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error, zlib.error) as e:
            raise RuntimeError(f"load: {self.name} is corrupted: can't read record {name!r}: {e}") from None


def _find_unsupported(obj, path, seen, depth=0):
    """The path in ``obj`` of the first ``UnsupportedTensor`` (None if there is none)."""
    if isinstance(obj, UnsupportedTensor):
        return path, obj
    if depth > 64 or id(obj) in seen or isinstance(obj, (str, bytes, int, float, Tensor)):
        return None
    seen.add(id(obj))
    if isinstance(obj, dict):
        items = ((f"{path}[{k!r}]", v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(obj))
    elif hasattr(obj, "__dict__"):
        items = ((f"{path}.{k}", v) for k, v in vars(obj).items())
    else:
        return None
    for sub, value in items:
        found = _find_unsupported(value, sub, seen, depth + 1)
        if found:
            return found
    return None


def load_archive(fileobj, name, restore, weights_only, pickle_module, pickle_load_args, mapped=None):
    """The object stored in the torch archive in ``fileobj``.

    restore(tensor, location) puts a loaded CPU storage where it belongs (map_location).
    mapped: the file's private (copy-on-write) mmap; the storages that can be are then arrays
    over it instead of copies (not checked against their CRC, as with torch's mmap).
    """
    reader = ArchiveReader(fileobj, name)
    byteorder = reader.read("byteorder").decode("ascii", "replace") if reader.has("byteorder") else "little"
    if byteorder not in ("little", "big"):
        raise RuntimeError(f"load: {name} has an unknown byte order {byteorder!r}")
    pickled = reader.read("data.pkl")
    storages = {}
    unsupported = []

    def persistent_load(pid):
        if not isinstance(pid, tuple) or len(pid) != 5 or pid[0] not in ("storage", b"storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id in {name}: only storages can be loaded")
        _, storage_type, key, location, numel = pid
        key = key.decode("ascii") if isinstance(key, bytes) else key
        location = location.decode("ascii") if isinstance(location, bytes) else location
        if not isinstance(storage_type, StorageType) or not isinstance(key, str) or not isinstance(numel, int) \
                or not isinstance(location, str) or numel < 0:
            raise pickle.UnpicklingError(f"invalid storage id {pid!r} in {name}")
        if key in storages:
            return storages[key]
        record = f"data/{key}"
        if storage_type.dtype is None:
            storage = UnsupportedStorage(storage_type.torch_dtype, reader.prefix + record)
            unsupported.append(storage)
        else:
            arr = None
            if mapped is not None and byteorder == "little" and storage_type.dtype != "bfloat16" and numel:
                arr = reader.mapped_array(mapped, record, STORED_NUMPY[storage_type.dtype], numel)
            if arr is None:
                data = reader.read(record)
                itemsize = np.dtype(STORED_NUMPY[storage_type.dtype]).itemsize
                if len(data) != numel * itemsize:
                    raise RuntimeError(f"load: {name} is corrupted: record {reader.prefix + record!r} holds "
                                       f"{len(data)} bytes, not the {numel * itemsize} of {numel} "
                                       f"{storage_type.dtype} elements")
                storage = tensor_from_bytes(data, storage_type.dtype, (numel,), byteorder)
            else:
                storage = _C.from_numpy(arr)
            storage = restore(storage, location)
        storages[key] = storage
        return storage

    if weights_only:
        encoding = pickle_load_args.get("encoding", "utf-8")
        try:
            obj = WeightsOnlyUnpickler(pickled, persistent_load, encoding).load()
        except pickle.UnpicklingError as e:
            raise pickle.UnpicklingError(
                f"Weights only load of {name} failed. In dlcore, as in PyTorch >= 2.6, load() defaults to "
                "weights_only=True. Re-running dlcore.load with weights_only=False will likely succeed, but it can "
                "result in arbitrary code execution; do it only if you got the file from a trusted source.\n"
                f"{e}") from None
    else:
        unpickler = full_unpickler(pickle_module)(io.BytesIO(pickled), **pickle_load_args)
        unpickler.persistent_load = persistent_load
        obj = unpickler.load()
    if unsupported:
        found = _find_unsupported(obj, "obj", set())
        if found:
            path, t = found
            raise RuntimeError(f"load: the tensor at {path} in {name} {t.describe()}, which dlcore doesn't support "
                               f"(supported: {', '.join(SUPPORTED_DTYPES)})")
    return obj
