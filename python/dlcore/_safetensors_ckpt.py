"""Safetensors checkpoints: ``serialization.save_safetensors`` / ``load_safetensors``.

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
"""
import base64
import ctypes
import json
import math
import zlib
from collections import Counter, OrderedDict

import numpy as np
import safetensors
import safetensors.numpy

from . import _C
from ._C import Tensor

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

def host_array(t):
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
        raise TypeError(f"save_safetensors: can't store a {type(x).__name__} at {_path_str(path)}{hint}; "
                        "checkpoints hold dicts, lists, tuples, Tensors, int, float, bool, str, bytes, None, "
                        "dlcore.dtype and dlcore.device")

    def encode_key(self, k, path):
        if isinstance(k, Tensor) or not isinstance(k, (str, int, float, bool, type(None), tuple, np.generic)):
            raise TypeError(f"save_safetensors: can't store a dict key of type {type(k).__name__} at "
                            f"{_path_str(path)}; keys must be str, int, float, bool, None or tuples of them")
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
            raise TypeError(f"save_safetensors: tensor at {_path_str(path)} has unsupported dtype {dtype}")
        arr = host_array(t)
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


def serialize(obj):
    """The safetensors checkpoint file's bytes for ``obj``."""
    enc = _Encoder()
    structure = json.dumps(enc.encode(obj, ()), separators=(",", ":"), allow_nan=False)
    metadata = {_KEY_FORMAT: FORMAT_VERSION, _KEY_STRUCTURE: structure,
                _KEY_CRC: str(zlib.crc32(structure.encode("utf-8")))}
    return safetensors.numpy.save(enc.arrays, metadata=metadata)



# ---- load ----------------------------------------------------------------------------------------

class _LoadError(RuntimeError):
    """An error deserialize() raises as it is (others met while decoding mean a corrupted structure)."""


class _Decoder:
    def __init__(self, entries, restore, name):
        self.entries = entries  # tensor name -> deserialized entry
        self.restore = restore
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
        try:
            t = self.restore(t, node.get("device", "cpu"))
        except Exception as e:
            raise _LoadError(f"load: can't place tensor {key!r} of {self.name}: {e}") from e
        if node.get("parameter"):
            from .nn.parameter import Parameter
            t = Parameter(t, requires_grad=bool(node.get("requires_grad")))
        elif node.get("requires_grad"):
            t.requires_grad_(True)
        self.tensors[key] = t
        return t


def _metadata(data):
    """The header's ``__metadata__`` of a file ``safetensors.deserialize`` accepted."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(bytes(data[8:8 + n]).decode("utf-8"))
    return header.get("__metadata__") or {}


def deserialize(data, name, restore):
    """The object a safetensors checkpoint's bytes ``data`` hold; ``name`` names the file in errors.

    restore(tensor, device name) puts each loaded CPU tensor where it belongs (map_location).
    """
    try:
        entries = dict(safetensors.deserialize(data))
        metadata = _metadata(data)
    except Exception as e:  # safetensors' own error type differs between versions
        raise RuntimeError(f"load: {name} is not a valid safetensors checkpoint (truncated or corrupted?): {e}") \
            from None
    ours = [k for k in (_KEY_FORMAT, _KEY_STRUCTURE, _KEY_CRC) if k in metadata]
    if not ours:
        return _load_plain(entries, restore, name)
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
    decoder = _Decoder(entries, restore, name)
    try:
        return decoder.decode(json.loads(structure))
    except _LoadError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RuntimeError) as e:
        raise RuntimeError(f"load: {name} is corrupted: bad structure ({type(e).__name__}: {e})") from None


def _load_plain(entries, restore, name):
    out = {}
    for key in sorted(entries):
        entry = entries[key]
        if entry["dtype"] not in _FOREIGN:
            raise RuntimeError(f"load: tensor {key!r} in {name} has dtype {entry['dtype']}, which dlcore can't "
                               f"hold (supported: {', '.join(sorted(_FOREIGN))})")
        np_dtype, dtype = _FOREIGN[entry["dtype"]]
        t = _tensor_from_bytes(entry["data"], np_dtype, entry["shape"], dtype)
        out[key] = restore(t, "cpu")
    return out
