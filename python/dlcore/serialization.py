"""Checkpoints: ``dlcore.save(obj, f)`` and ``dlcore.load(f, map_location=None)``.

A checkpoint is one safetensors file (https://github.com/huggingface/safetensors): a JSON
header, then the raw bytes of every tensor. ``obj`` is a nested structure of dicts, lists,
tuples, tensors and plain values (int, float, bool, str, None, bytes, dlcore.dtype,
dlcore.device), e.g. ``{"model": model.state_dict(), "optimizer": opt.state_dict(),
"epoch": 3}``. Nothing is pickled, so loading a file never runs code.

Note [Checkpoint layout]
- Each distinct tensor is stored once, contiguous and on the CPU, under a name made from its
  path in ``obj`` ("model.conv1.weight", "optimizer.state.0.exp_avg"); a plain state dict is
  therefore stored under its own keys and other safetensors readers load it as it is.
- The header's ``__metadata__`` (string values only) holds
    "dlcore.format"     the layout version, "1";
    "dlcore.structure"  ``obj`` as JSON, each tensor replaced by a node
                        {"tensor": name, "dtype", "shape", "device", "crc32"[, "requires_grad",
                        "parameter"]};
    "dlcore.crc32"      the CRC-32 of the structure string.
  In the structure, JSON arrays are lists; every JSON object is a tagged node: {"dict": [[key,
  value], ...], "type": "OrderedDict"|"Counter"} (so int keys and key order survive),
  {"tuple": [...]}, {"float": "inf"|"-inf"|"nan"}, {"bytes": base64}, {"dtype": name},
  {"device": name} or a tensor node.
- bfloat16 has no numpy dtype: its raw bits are stored as U16 (the structure says bfloat16)
  and copied back byte for byte, so every value, NaN payloads included, round-trips exactly.
- The CRCs catch a corrupted file (a flipped byte, a wrong length) instead of loading wrong
  values; a file without our metadata (written by another tool) loads as a flat dict
  name -> tensor.

Writes to a path are atomic: the bytes go to a temporary file in the same directory, which is
flushed, fsynced and renamed over the target only when complete (Ctrl-C or an error midway
leaves any previous file untouched and no temporary behind).

Note [Stale temporary files]
A process killed outright (SIGKILL, power loss) mid-save can't remove its temporary file. Its
name, ".<checkpoint name>.dlcore-<host tag>-<pid>-<random>.tmp", says who was writing it, so
every save into a directory first removes the temporaries there that this code wrote and whose
writer is gone: same host tag and no process <pid> on this machine (or only its zombie). A
temporary whose writer can't be checked (written on another host sharing the directory, or by
an older dlcore whose names hold no pid, ".<name>.<12 hex digits>.tmp") is removed only once
it has not been modified for _STALE_AGE_S seconds; so is one whose pid is alive but may have
been reused. A temporary being written by a live process is never touched.
"""
import base64
import ctypes
import json
import math
import os
import re
import secrets
import socket
import time
import zlib
from collections import Counter, OrderedDict

import numpy as np
import safetensors
import safetensors.numpy

from . import _C
from ._C import Tensor

__all__ = ["save", "load"]

FORMAT_VERSION = "1"
_KEY_FORMAT = "dlcore.format"
_KEY_STRUCTURE = "dlcore.structure"
_KEY_CRC = "dlcore.crc32"

# dlcore dtype name -> (safetensors dtype of the stored bytes, numpy dtype of those bytes)
_STORED = {
    "float32": ("F32", "<f4"), "float64": ("F64", "<f8"), "float16": ("F16", "<f2"),
    "bfloat16": ("U16", "<u2"), "int64": ("I64", "<i8"), "int32": ("I32", "<i4"), "bool": ("BOOL", "|b1"),
}
# safetensors dtypes of files written by other tools -> (numpy dtype of the bytes, dlcore dtype name).
# Integer types dlcore lacks are widened without loss.
_FOREIGN = {
    "F64": ("<f8", "float64"), "F32": ("<f4", "float32"), "F16": ("<f2", "float16"), "BF16": ("<u2", "bfloat16"),
    "I64": ("<i8", "int64"), "I32": ("<i4", "int32"), "I16": ("<i2", "int32"), "I8": ("|i1", "int32"),
    "U32": ("<u4", "int64"), "U16": ("<u2", "int32"), "U8": ("|u1", "int32"), "BOOL": ("|b1", "bool"),
}
_DICT_TYPES = {"OrderedDict": OrderedDict, "Counter": Counter}


def _dtype_name(dt):
    return str(dt).rsplit(".", 1)[-1]


def _dtype_from_name(name):
    if name not in _C.dtype.__members__:
        raise ValueError(f"unknown dtype {name!r}")
    return _C.dtype.__members__[name]


# ---- tensors <-> bytes -------------------------------------------------------------------------

def _host_array(t):
    """The tensor's values as a C-contiguous little-endian ndarray (bfloat16: its raw uint16 bits)."""
    t = t.detach()
    if t.is_cuda:
        t = t.cpu()
    t = _C.contiguous(t)
    if t.dtype == _C.dtype.bfloat16:
        raw = ctypes.string_at(t.data_ptr(), 2 * t.numel()) if t.numel() else b""
        return np.frombuffer(raw, dtype="<u2").reshape(tuple(t.shape))
    return t.numpy()  # contiguous, so C-ordered


def _crc32(arr):
    """The CRC-32 of a C-contiguous array's bytes, as stored in the file."""
    return zlib.crc32(arr.reshape(-1).view(np.uint8))


def _tensor_from_bytes(data, np_dtype, shape, dtype_name):
    """A new CPU tensor of dlcore dtype ``dtype_name`` from the raw little-endian bytes ``data``."""
    if dtype_name == "bfloat16":
        t = _C._empty(list(shape), _C.dtype.bfloat16, None)
        if len(data):
            src = data if isinstance(data, bytes) else (ctypes.c_char * len(data)).from_buffer(data)
            ctypes.memmove(t.data_ptr(), src, len(data))
        return t
    arr = np.frombuffer(data, dtype=np_dtype).reshape(shape)
    target = np.dtype(_STORED[dtype_name][1]).newbyteorder("=")
    if arr.dtype != target or not arr.flags.writeable or arr.ctypes.data % target.alignment:
        arr = arr.astype(target, order="C", copy=True)
    # the tensor owns ``data`` now (a bytearray of the deserialized file that nothing else holds)
    return _C.from_numpy(arr)


# ---- save ----------------------------------------------------------------------------------------

class _Encoder:
    """Turns ``obj`` into the JSON structure and the dict name -> ndarray of its tensors."""

    def __init__(self):
        self.arrays = {}
        self.nodes = {}     # id(tensor) -> its node (a tensor referenced twice is stored once)
        self.keep = []      # the tensors behind self.nodes, so their ids stay unique

    def encode(self, x, path):
        if x is None or isinstance(x, (bool, str)):
            return x
        if isinstance(x, Tensor):
            return self._tensor(x, path)
        if isinstance(x, (int, np.integer)):
            return int(x)
        if isinstance(x, (float, np.floating)):
            x = float(x)
            if math.isfinite(x):
                return x
            return {"float": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}
        if isinstance(x, np.bool_):
            return bool(x)
        if isinstance(x, (list, tuple)):
            items = [self.encode(v, path + (str(i),)) for i, v in enumerate(x)]
            return items if isinstance(x, list) else {"tuple": items}
        if isinstance(x, dict):
            items = [[self.encode_key(k, path), self.encode(v, path + (str(k),))] for k, v in x.items()]
            node = {"dict": items}
            for name, cls in _DICT_TYPES.items():
                if type(x) is cls:
                    node["type"] = name
            return node
        if isinstance(x, (bytes, bytearray)):
            return {"bytes": base64.b64encode(bytes(x)).decode("ascii")}
        if isinstance(x, _C.dtype):
            return {"dtype": _dtype_name(x)}
        if isinstance(x, _C.device):
            return {"device": str(x)}
        hint = "; save its state_dict() instead" if callable(getattr(x, "state_dict", None)) else ""
        raise TypeError(f"save: can't store a {type(x).__name__} at {_path_str(path)}{hint}; checkpoints hold "
                        "dicts, lists, tuples, Tensors, int, float, bool, str, bytes, None, dlcore.dtype and "
                        "dlcore.device")

    def encode_key(self, k, path):
        if isinstance(k, Tensor) or not isinstance(k, (str, int, float, bool, type(None), tuple, np.generic)):
            raise TypeError(f"save: can't store a dict key of type {type(k).__name__} at {_path_str(path)}; "
                            "keys must be str, int, float, bool, None or tuples of them")
        if isinstance(k, tuple):
            return {"tuple": [self.encode_key(v, path) for v in k]}
        return self.encode(k, path)

    def _tensor(self, t, path):
        if id(t) in self.nodes:
            return self.nodes[id(t)]
        name = ".".join(path) or "tensor"
        if name in self.arrays or name == "__metadata__":
            n = 1
            while f"{name}#{n}" in self.arrays:
                n += 1
            name = f"{name}#{n}"
        dtype = _dtype_name(t.dtype)
        if dtype not in _STORED:
            raise TypeError(f"save: tensor at {_path_str(path)} has unsupported dtype {dtype}")
        arr = _host_array(t)
        self.arrays[name] = arr
        node = {"tensor": name, "dtype": dtype, "shape": list(arr.shape), "device": str(t.device),
                "crc32": _crc32(arr)}
        if t.requires_grad:
            node["requires_grad"] = True
        if _is_parameter(t):
            node["parameter"] = True
        self.nodes[id(t)] = node
        self.keep.append(t)
        return node


def _is_parameter(t):
    from .nn.parameter import Parameter
    return isinstance(t, Parameter)


def _path_str(path):
    return "obj" + "".join(f"[{p!r}]" for p in path)


def _serialize(obj):
    """The checkpoint file's bytes."""
    enc = _Encoder()
    structure = json.dumps(enc.encode(obj, ()), separators=(",", ":"), allow_nan=False)
    metadata = {_KEY_FORMAT: FORMAT_VERSION, _KEY_STRUCTURE: structure,
                _KEY_CRC: str(zlib.crc32(structure.encode("utf-8")))}
    return safetensors.numpy.save(enc.arrays, metadata=metadata)


def _write_all(fileobj, data):
    """Writes ``data`` to a binary file object (a seam the tests use to fail a write midway)."""
    view = memoryview(data)
    while len(view):
        n = fileobj.write(view)
        if n is None:  # unbuffered writers may return None: treat as all written
            break
        view = view[n:]


_TMP_NAME = re.compile(r"^\..+\.dlcore-(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-[0-9a-f]{12}\.tmp$")
_OLD_TMP_NAME = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")   # names written before the pid was embedded
_STALE_AGE_S = 24 * 3600


def _host_tag():
    return "%08x" % zlib.crc32(socket.gethostname().encode("utf-8", "surrogateescape"))


def _pid_alive(pid):
    """Whether process ``pid`` exists on this machine and is not a zombie."""
    if pid == os.getpid():
        return True
    if pid <= 0 or os.name != "posix":
        return True  # can't tell: keep the file (the age rule still applies)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2:][:1] != b"Z"  # killed, not yet reaped
    except (OSError, ValueError):
        return True


def _remove_stale_temporaries(directory):
    """Removes the temporaries of saves into ``directory`` whose writer died (Note [Stale temporary files])."""
    host = _host_tag()
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not name.endswith(".tmp") or not name.startswith("."):
            continue
        m = _TMP_NAME.match(name)
        if m is None and not _OLD_TMP_NAME.match(name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > _STALE_AGE_S
            dead = m is not None and m["host"] == host and not _pid_alive(int(m["pid"]))
            if dead or old:
                os.unlink(entry.path)
        except OSError:  # gone already (another saver cleaned it) or not ours to remove
            continue


def _atomic_write(path, data):
    path = os.path.realpath(os.fspath(path))  # a symlink keeps pointing at the checkpoint
    directory, base = os.path.split(path)
    _remove_stale_temporaries(directory)
    prefix = f".{base}.dlcore-{_host_tag()}-{os.getpid()}-"
    while True:
        tmp = os.path.join(directory, f"{prefix}{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as fileobj:
            _write_all(fileobj, data)
            fileobj.flush()
            os.fsync(fileobj.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable; not possible everywhere
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def save(obj, f):
    """Saves ``obj`` (nested dicts/lists/tuples of Tensors and plain values) to ``f``, a path or
    a binary file object, as a safetensors file (Note [Checkpoint layout]).

    Tensors are saved contiguous with their dtype, shape and device; the same Tensor object
    referenced twice is stored once and loads back as one object. Writes to a path are atomic.
    """
    data = _serialize(obj)
    if isinstance(f, (str, bytes, os.PathLike)):
        _atomic_write(f, data)
    elif hasattr(f, "write"):
        _write_all(f, data)
    else:
        raise TypeError(f"save: f must be a path or a binary file object, got {type(f).__name__}")


# ---- load ----------------------------------------------------------------------------------------

class _LoadError(RuntimeError):
    """An error load() raises as it is (others met while decoding mean a corrupted structure)."""

def _device_resolver(map_location):
    """A function: the device name a tensor was saved on -> the dlcore.device to load it to."""
    if map_location is None:
        def where(saved):
            dev = _C.device(saved)
            if dev.type == "cuda" and not _C._cuda_is_available():
                raise _LoadError(f"load: the checkpoint holds tensors saved on {saved} but CUDA is not available "
                                   "here; pass map_location='cpu' to load them on the CPU")
            return dev
        return where
    if isinstance(map_location, dict):
        mapping = {str(_C.device(k)): _C.device(v) for k, v in map_location.items()}
        fallback = _device_resolver(None)

        def where(saved):
            dev = mapping.get(str(_C.device(saved)))
            return fallback(saved) if dev is None else dev
        return where
    if isinstance(map_location, (str, _C.device)):
        dev = _C.device(map_location)
        return lambda saved: dev
    raise TypeError("load: map_location must be None, a device, a device name or a dict of device names, "
                    f"got {type(map_location).__name__}")


class _Decoder:
    def __init__(self, entries, where, name):
        self.entries = entries  # tensor name -> deserialized entry
        self.where = where
        self.name = name
        self.tensors = {}       # tensor name -> the loaded Tensor (shared references stay shared)

    def fail(self, what):
        raise _LoadError(f"load: {self.name} is corrupted: {what}")

    def decode(self, v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [self.decode(x) for x in v]
        if not isinstance(v, dict):
            self.fail(f"unexpected {type(v).__name__} in the structure")
        if "tensor" in v:
            return self._tensor(v)
        if "dict" in v:
            cls = _DICT_TYPES.get(v.get("type"), dict)
            out = cls()
            for item in v["dict"]:
                if not isinstance(item, list) or len(item) != 2:
                    self.fail("a dict entry is not a [key, value] pair")
                out[self.decode_key(item[0])] = self.decode(item[1])
            return out
        if "tuple" in v and isinstance(v["tuple"], list):
            return tuple(self.decode(x) for x in v["tuple"])
        if "float" in v and v["float"] in ("inf", "-inf", "nan"):
            return float(v["float"])
        if "bytes" in v:
            return base64.b64decode(v["bytes"], validate=True)
        if "dtype" in v:
            return _dtype_from_name(v["dtype"])
        if "device" in v:
            return _C.device(v["device"])
        self.fail(f"unknown node {sorted(v)} in the structure")

    def decode_key(self, k):
        key = self.decode(k)
        if isinstance(key, Tensor):
            self.fail("a dict key is a tensor")
        return key

    def _tensor(self, node):
        key = node["tensor"]
        if key in self.tensors:
            return self.tensors[key]
        entry = self.entries.get(key)
        if entry is None:
            self.fail(f"tensor {key!r} is missing")
        dtype = node["dtype"]
        if dtype not in _STORED:
            self.fail(f"tensor {key!r} has unknown dtype {dtype!r}")
        st_dtype, np_dtype = _STORED[dtype]
        if entry["dtype"] != st_dtype or list(entry["shape"]) != list(node["shape"]):
            self.fail(f"tensor {key!r} is stored as {entry['dtype']}{list(entry['shape'])} but the structure "
                      f"says {dtype}{list(node['shape'])}")
        data = entry["data"]
        if zlib.crc32(data) != node["crc32"]:
            self.fail(f"the bytes of tensor {key!r} do not match their checksum")
        t = _tensor_from_bytes(data, np_dtype, entry["shape"], dtype)
        device = self.where(node.get("device", "cpu"))
        try:
            t = _place(t, device)
        except Exception as e:
            raise _LoadError(f"load: can't move tensor {key!r} of {self.name} to {device}: {e}") from e
        if node.get("parameter"):
            from .nn.parameter import Parameter
            t = Parameter(t, requires_grad=bool(node.get("requires_grad")))
        elif node.get("requires_grad"):
            t.requires_grad_(True)
        self.tensors[key] = t
        return t


def _place(t, device):
    return t if str(t.device) == str(device) else _C._to(t, None, device, False)


def _read(f):
    if isinstance(f, (str, bytes, os.PathLike)):
        name = os.fsdecode(os.fspath(f))
        with open(name, "rb") as fileobj:
            return fileobj.read(), repr(name)
    if hasattr(f, "read"):
        name = getattr(f, "name", None)
        return f.read(), (repr(name) if isinstance(name, str) else f"the {type(f).__name__} stream")
    raise TypeError(f"load: f must be a path or a binary file object, got {type(f).__name__}")


def _metadata(data):
    """The header's ``__metadata__`` of a file ``safetensors.deserialize`` accepted."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(bytes(data[8:8 + n]).decode("utf-8"))
    return header.get("__metadata__") or {}


def load(f, map_location=None):
    """Loads what ``save`` wrote to ``f`` (a path or a binary file object).

    map_location: None puts each tensor back on the device it was saved from; a device (or
    "cpu", "cuda", "cuda:1") puts all of them there; a dict maps saved device names to others.
    A safetensors file written by another tool loads as a dict name -> Tensor.
    Raises RuntimeError naming the file when it is truncated, corrupted or not a safetensors file.
    """
    where = _device_resolver(map_location)
    data, name = _read(f)
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"load: reading {name} gave {type(data).__name__}, expected bytes (open the file in 'rb' mode)")
    try:
        entries = dict(safetensors.deserialize(data))
        metadata = _metadata(data)
    except Exception as e:  # safetensors' own error type differs between versions
        raise RuntimeError(f"load: {name} is not a valid safetensors checkpoint (truncated or corrupted?): {e}") \
            from None
    ours = [k for k in (_KEY_FORMAT, _KEY_STRUCTURE, _KEY_CRC) if k in metadata]
    if not ours:
        return _load_plain(entries, where, name)
    if len(ours) != 3:  # a damaged key name must not turn a checkpoint into a "plain" file
        raise RuntimeError(f"load: {name} is corrupted: its metadata has {ours} but not all of "
                           f"{[_KEY_FORMAT, _KEY_STRUCTURE, _KEY_CRC]}")
    version = metadata.get(_KEY_FORMAT)
    if version != FORMAT_VERSION:
        raise RuntimeError(f"load: {name} has checkpoint format {version!r}; this dlcore reads format "
                           f"{FORMAT_VERSION!r} (was it written by a newer dlcore?)")
    structure = metadata[_KEY_STRUCTURE]
    if str(zlib.crc32(structure.encode("utf-8"))) != metadata.get(_KEY_CRC):
        raise RuntimeError(f"load: {name} is corrupted: its structure does not match its checksum")
    decoder = _Decoder(entries, where, name)
    try:
        return decoder.decode(json.loads(structure))
    except _LoadError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RuntimeError) as e:
        raise RuntimeError(f"load: {name} is corrupted: bad structure ({type(e).__name__}: {e})") from None


def _load_plain(entries, where, name):
    out = {}
    for key in sorted(entries):
        entry = entries[key]
        if entry["dtype"] not in _FOREIGN:
            raise RuntimeError(f"load: tensor {key!r} in {name} has dtype {entry['dtype']}, which dlcore can't "
                               f"hold (supported: {', '.join(sorted(_FOREIGN))})")
        np_dtype, dtype = _FOREIGN[entry["dtype"]]
        t = _tensor_from_bytes(entry["data"], np_dtype, entry["shape"], dtype)
        out[key] = _place(t, where("cpu"))
    return out
