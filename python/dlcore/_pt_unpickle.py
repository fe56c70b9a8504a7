"""Unpickling checkpoints: PyTorch's tensor globals mapped to dlcore, and the allow-list
unpickler behind ``dlcore.load(..., weights_only=True)``.

A pickle names every class and function it calls by "module.qualname". A file written by
``torch.save`` names torch's (``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage``,
``torch.float32``, ...); ``torch_global`` maps each to the dlcore object that rebuilds the same
value, so these files load without torch installed.

Note [Weights-only unpickling]
``WeightsOnlyUnpickler`` interprets the pickle opcodes itself instead of subclassing
``pickle.Unpickler``, so that every operation that can run code is checked here:
- a global resolves only through the allow-list: the torch globals above, dlcore's own
  rebuild functions, plain containers and scalars, and what ``add_safe_globals`` added;
  modules in ``_BLOCKED_MODULES`` (os, sys, ...) are refused even when added;
- REDUCE calls, and NEWOBJ instantiates, only objects that came from the allow-list;
- BUILD sets state only on instances of classes added with ``add_safe_globals``;
- APPEND(S), SETITEM(S) and ADDITEMS act only on list, dict/OrderedDict/Counter and set;
- opcodes that import by other routes (INST, OBJ, EXT*) or need out-of-band buffers are refused.
Anything else raises ``pickle.UnpicklingError`` naming the global or opcode.
"""
import _codecs
import _compat_pickle
import contextlib
import ctypes
import pickle
import pickletools
import struct
from collections import Counter, OrderedDict

import numpy as np

from . import _C
from ._C import Tensor

# torch storage class -> dlcore dtype name (None: a dtype dlcore doesn't have)
STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32", "BoolStorage": "bool",
    "ByteStorage": None, "CharStorage": None, "ShortStorage": None, "ComplexFloatStorage": None,
    "ComplexDoubleStorage": None, "QUInt8Storage": None, "QInt8Storage": None, "QInt32Storage": None,
    "QUInt4x2Storage": None, "QUInt2x4Storage": None, "UntypedStorage": None,
}
# torch storage class -> the torch dtype it holds, for messages
_STORAGE_TORCH_DTYPES = {
    "ByteStorage": "uint8", "CharStorage": "int8", "ShortStorage": "int16", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128", "QUInt8Storage": "quint8", "QInt8Storage": "qint8",
    "QInt32Storage": "qint32", "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
    "UntypedStorage": "uint8",
}
SUPPORTED_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "bool")
# numpy dtype of the stored little-endian bytes (bfloat16: its raw bits)
STORED_NUMPY = {"float32": "<f4", "float64": "<f8", "float16": "<f2", "bfloat16": "<u2", "int64": "<i8",
                "int32": "<i4", "bool": "|b1"}
_OTHER_TORCH_DTYPES = (
    "uint8", "int8", "int16", "uint16", "uint32", "uint64", "complex32", "complex64", "complex128", "quint8",
    "qint8", "qint32", "quint4x2", "quint2x4", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
    "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2", "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
)


class StorageType:
    """What a ``torch.<X>Storage`` global loads as: the storage's dtype."""

    def __init__(self, storage_name):
        self.storage_name = storage_name
        self.dtype = STORAGE_DTYPES[storage_name]
        self.torch_dtype = self.dtype or _STORAGE_TORCH_DTYPES[storage_name]

    def __repr__(self):
        return f"torch.{self.storage_name}"


class TorchDtype:
    """What a ``torch.<dtype>`` global dlcore has no dtype for loads as."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"


class UnsupportedStorage:
    """A storage of a dtype dlcore can't hold (the tensors on it load as ``UnsupportedTensor``)."""

    def __init__(self, torch_dtype, record):
        self.torch_dtype = torch_dtype
        self.record = record


class UnsupportedTensor:
    """Stands for a tensor of a dtype dlcore can't hold until load() reports where it is."""

    def __init__(self, torch_dtype, shape, record):
        self.torch_dtype = torch_dtype
        self.shape = tuple(shape)
        self.record = record

    def describe(self):
        return f"has dtype torch.{self.torch_dtype} (shape {list(self.shape)}, stored in {self.record!r})"


def _check_ints(values, what, fn):
    if not isinstance(values, (tuple, list)) or not all(isinstance(v, int) for v in values):
        raise pickle.UnpicklingError(f"{fn}: {what} must be a tuple of ints, got {values!r}")
    return [int(v) for v in values]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    """A tensor viewing ``storage`` (a 1-d dlcore tensor) as torch's ``_rebuild_tensor_v2`` does."""
    size = _check_ints(size, "size", "_rebuild_tensor_v2")
    stride = _check_ints(stride, "stride", "_rebuild_tensor_v2")
    if isinstance(storage, UnsupportedStorage):
        return UnsupportedTensor(storage.torch_dtype, size, storage.record)
    if not isinstance(storage, Tensor) or storage.dim() != 1 or storage.storage_offset() != 0 \
            or not storage.is_contiguous():
        raise pickle.UnpicklingError(f"_rebuild_tensor_v2: expected a storage, got {type(storage).__name__}")
    if not isinstance(storage_offset, int) or len(size) != len(stride) or min(stride, default=0) < 0 \
            or storage_offset < 0 or min(size, default=0) < 0:
        raise pickle.UnpicklingError(f"_rebuild_tensor_v2: invalid view: size {size}, stride {stride}, "
                                     f"offset {storage_offset!r}")
    numel = 1
    for n in size:
        numel *= n
    if numel == 0:
        t = _C._empty(size, storage.dtype, storage.device)
    else:
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.numel():
            raise pickle.UnpicklingError(f"_rebuild_tensor_v2: a tensor of size {size}, stride {stride} and offset "
                                         f"{storage_offset} reaches past its storage of {storage.numel()} elements")
        t = _C.as_strided(storage, size, stride, storage_offset)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride, False, OrderedDict())


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    if isinstance(dtype, TorchDtype):
        return UnsupportedTensor(dtype.name, size, getattr(storage, "record", "?"))
    if isinstance(storage, Tensor) and storage.dtype != dtype:
        raise pickle.UnpicklingError(f"_rebuild_tensor_v3: a {dtype} tensor on a storage of {storage.dtype}")
    return _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata)


def _set_state(obj, state):
    """Sets the attributes in ``state`` (a dict, or a (dict, slots dict) pair) on ``obj``."""
    if not state:
        return
    for part in state if isinstance(state, tuple) and len(state) == 2 else (state,):
        if not part:
            continue
        if not isinstance(part, dict) or not all(isinstance(k, str) for k in part):
            raise pickle.UnpicklingError(f"state of {type(obj).__name__} must map attribute names to values")
        for k, v in part.items():
            setattr(obj, k, v)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    if isinstance(data, UnsupportedTensor):
        return data
    from .nn.parameter import Parameter
    return Parameter(data, requires_grad=bool(requires_grad))


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    param = _rebuild_parameter(data, requires_grad, backward_hooks)
    if not isinstance(param, UnsupportedTensor):
        _set_state(param, state)
    return param


def _rebuild_from_type_v2(func, new_type, args, state):
    """A tensor subclass or a tensor with attributes: rebuilt by ``func``, then made a ``new_type``."""
    from .nn.parameter import Parameter
    if func not in _TENSOR_REBUILDS:
        raise pickle.UnpicklingError(f"_rebuild_from_type_v2: {func!r} is not a tensor rebuild function")
    out = func(*args)
    if isinstance(out, UnsupportedTensor):
        return out
    if new_type is Parameter and not isinstance(out, Parameter):
        out = Parameter(out, requires_grad=out.requires_grad)
    elif new_type not in (Tensor, Parameter):
        raise pickle.UnpicklingError(f"_rebuild_from_type_v2: can't rebuild a tensor of type {new_type!r}")
    _set_state(out, state)
    return out


_TENSOR_REBUILDS = (_rebuild_tensor_v2, _rebuild_tensor, _rebuild_tensor_v3, _rebuild_parameter,
                    _rebuild_parameter_with_state)


def _device(kind, index=None):
    return _C.device(kind if index is None else f"{kind}:{index}")


def _size(dims=()):
    from ._torch_compat import Size
    return Size(dims)


def _rebuild_tensor_from_bytes(dtype, shape, data, requires_grad, device):
    """A dlcore tensor pickled on its own (``Tensor.__reduce_ex__``): its values as raw bytes."""
    if dtype not in STORED_NUMPY:
        raise pickle.UnpicklingError(f"Tensor: unknown dtype {dtype!r}")
    shape = _check_ints(shape, "shape", "Tensor")
    count = 1
    for n in shape:
        count *= n
    itemsize = np.dtype(STORED_NUMPY[dtype]).itemsize
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError(f"Tensor: the values must be bytes, got {type(data).__name__}")
    if len(data) != count * itemsize:
        raise pickle.UnpicklingError(f"Tensor: {len(data)} bytes can't hold a {dtype} tensor of shape {shape}")
    t = tensor_from_bytes(bytes(data), dtype, shape)
    if str(device) != "cpu":
        t = _C._to(t, None, _C.device(device), False)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_dtype(name):
    if name not in SUPPORTED_DTYPES:
        raise pickle.UnpicklingError(f"dtype: unknown dtype {name!r}")
    return _C.dtype.__members__[name]


def tensor_from_bytes(data, dtype, shape, byteorder="little"):
    """A new CPU tensor of dlcore dtype ``dtype`` holding the raw bytes ``data``: the tensor owns
    a bytearray it can use in place (nothing else may hold it), and copies anything else."""
    if dtype == "bfloat16":
        arr = np.frombuffer(data, dtype=">u2" if byteorder == "big" else "<u2").astype("=u2")  # a copy
        t = _C._empty(list(shape), _C.dtype.bfloat16, None)
        if arr.size:
            ctypes.memmove(t.data_ptr(), arr.ctypes.data, arr.nbytes)
        return t
    np_dtype = np.dtype(STORED_NUMPY[dtype])
    if byteorder == "big":
        np_dtype = np_dtype.newbyteorder(">")
    arr = np.frombuffer(data, dtype=np_dtype).reshape(shape)
    native = np_dtype.newbyteorder("=")
    if arr.dtype != native or not arr.flags.writeable or arr.ctypes.data % native.alignment:
        arr = arr.astype(native, copy=True)
    return _C.from_numpy(arr)


def _torch_globals():
    from .nn.parameter import Parameter
    table = {
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
        "torch._utils._rebuild_tensor": _rebuild_tensor,
        "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "torch._utils._rebuild_parameter_with_state": _rebuild_parameter_with_state,
        "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
        "torch.nn.parameter.Parameter": Parameter,
        "torch.Tensor": Tensor,
        "torch.device": _device,
        "torch.Size": _size,
    }
    for name in STORAGE_DTYPES:
        table[f"torch.{name}"] = StorageType(name)
    table["torch.storage.UntypedStorage"] = table["torch.UntypedStorage"]
    for name in SUPPORTED_DTYPES:
        table[f"torch.{name}"] = _C.dtype.__members__[name]
    for name in _OTHER_TORCH_DTYPES:
        table[f"torch.{name}"] = TorchDtype(name)
    return table


def _dlcore_globals():
    from .nn.parameter import Parameter
    return {
        f"{__name__}._rebuild_tensor_from_bytes": _rebuild_tensor_from_bytes,
        f"{__name__}._rebuild_dtype": _rebuild_dtype,
        "dlcore._C.device": _C.device,
        "dlcore.nn.parameter.Parameter": Parameter,
    }


_BASIC_GLOBALS = {
    "collections.OrderedDict": OrderedDict, "collections.Counter": Counter, "builtins.set": set,
    "builtins.frozenset": frozenset, "builtins.bytes": bytes, "builtins.bytearray": bytearray,
    "builtins.complex": complex, "_codecs.encode": _codecs.encode,
}
_BLOCKED_MODULES = ("os", "sys", "posix", "nt", "subprocess")
# extension types whose __new__ alone leaves an instance unusable: they are built by calling them
_NO_NEWOBJ = (Tensor, _C.device, _C.dtype)

_torch_table = None


def torch_global(module, name):
    """The dlcore object standing for torch's global ``module.name``, or None."""
    global _torch_table
    if _torch_table is None:
        _torch_table = {**_torch_globals(), **_dlcore_globals()}
    return _torch_table.get(f"{module}.{name}")


# ---- safe globals ------------------------------------------------------------------------------

_user_safe_globals = []


def _entry_name(entry):
    if isinstance(entry, tuple):
        if len(entry) != 2 or not isinstance(entry[1], str):
            raise TypeError(f"add_safe_globals: a tuple entry must be (object, 'module.qualname'), got {entry!r}")
        return entry[1], entry[0]
    module, qualname = getattr(entry, "__module__", None), getattr(entry, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise TypeError(f"add_safe_globals: {entry!r} has no __module__/__qualname__; pass (object, "
                        "'module.qualname') instead")
    return f"{module}.{qualname}", entry


def add_safe_globals(safe_globals):
    """Allows the classes and functions in ``safe_globals`` in ``load(..., weights_only=True)``.

    Each entry is an object (found by its ``__module__`` and ``__qualname__``) or a pair
    ``(object, "module.qualname")`` for an object saved under another name.
    """
    if not isinstance(safe_globals, (list, tuple, set)):
        raise TypeError(f"add_safe_globals: expected a list, got {type(safe_globals).__name__}")
    for entry in safe_globals:
        _entry_name(entry)
        if entry not in _user_safe_globals:
            _user_safe_globals.append(entry)


def get_safe_globals():
    """The entries ``add_safe_globals`` added, as a list."""
    return list(_user_safe_globals)


def clear_safe_globals():
    """Removes every entry ``add_safe_globals`` added."""
    _user_safe_globals.clear()


@contextlib.contextmanager
def safe_globals(safe_globals):
    """Context manager: ``safe_globals`` are allowed inside the block only."""
    added = [g for g in safe_globals if g not in _user_safe_globals]
    add_safe_globals(added)
    try:
        yield
    finally:
        for g in added:
            if g in _user_safe_globals:
                _user_safe_globals.remove(g)


def _user_globals():
    return dict(_entry_name(e) for e in _user_safe_globals)


# ---- the weights-only unpickler -------------------------------------------------------------

_OPCODE_NAMES = {op.code.encode("latin-1")[0]: op.name for op in pickletools.opcodes}


class WeightsOnlyUnpickler:
    """Unpickles ``data`` (bytes) allowing only the globals of Note [Weights-only unpickling]."""

    def __init__(self, data, persistent_load, encoding="ASCII"):
        self.buf = bytes(data)
        self.data = memoryview(self.buf)
        self.pos = 0
        self.persistent_load = persistent_load
        self.encoding = encoding
        self.proto = 0
        allowed = {**_BASIC_GLOBALS, **_torch_globals(), **_dlcore_globals()}
        self.user = _user_globals()
        self.allowed = {**allowed, **self.user}
        self.allowed_ids = {id(v) for v in self.allowed.values()}
        self.user_types = {id(v) for v in self.user.values() if isinstance(v, type)}

    # -- reading
    def read(self, n):
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise pickle.UnpicklingError("pickle data was truncated")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def readline(self):
        end = self.buf.find(b"\n", self.pos)
        if end < 0:
            raise pickle.UnpicklingError("pickle data was truncated")
        line = self.buf[self.pos:end]
        self.pos = end + 1
        return line

    def unpack(self, fmt):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    # -- stack
    def pop_mark(self):
        if not self.metastack:
            raise pickle.UnpicklingError("pickle: MARK expected")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def pop(self):
        if not self.stack:
            raise pickle.UnpicklingError("pickle: unexpected end of stack")
        return self.stack.pop()

    def top(self, types, opcode):
        if not self.stack:
            raise pickle.UnpicklingError("pickle: unexpected end of stack")
        target = self.stack[-1]
        if type(target) not in types:
            raise pickle.UnpicklingError(f"{opcode} on a {type(target).__name__} is not allowed")
        return target

    def find_global(self, module, name):
        if self.proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        if module.split(".")[0] in _BLOCKED_MODULES:
            raise pickle.UnpicklingError(f"Trying to load unsupported GLOBAL {full} whose module {module} is "
                                         "blocked.")
        if full not in self.allowed:
            shown = name if module == "builtins" else full
            raise pickle.UnpicklingError(
                f"Unsupported global: GLOBAL {full} was not an allowed global by default. Please use "
                f"`dlcore.serialization.add_safe_globals([{shown}])` or the "
                f"`dlcore.serialization.safe_globals([{shown}])` context manager to allowlist this global if you "
                "trust this class/function.")
        return self.allowed[full]

    def check_callable(self, func, what):
        if id(func) not in self.allowed_ids or not callable(func):
            raise pickle.UnpicklingError(f"{what}: {func!r} is not an allowed global")

    def load(self):
        self.stack, self.metastack, self.memo = [], [], {}
        dispatch = self._dispatch
        while True:
            code = self.read(1)[0]
            if code == _STOP:
                return self.pop()
            handler = dispatch.get(code)
            if handler is None:
                name = _OPCODE_NAMES.get(code, f"0x{code:02x}")
                raise pickle.UnpicklingError(f"Unsupported pickle opcode {name}")
            handler(self)

    # -- opcodes
    def _proto(self):
        self.proto = self.read(1)[0]
        if self.proto > 5:
            raise pickle.UnpicklingError(f"unsupported pickle protocol {self.proto}")

    def _frame(self):
        self.read(8)

    def _mark(self):
        self.metastack.append(self.stack)
        self.stack = []

    def _pop(self):
        if self.stack:
            self.stack.pop()
        else:
            self.pop_mark()

    def _int(self):
        line = self.readline()
        self.stack.append(False if line == b"00" else True if line == b"01" else int(line))

    def _long(self):
        self.stack.append(int(self.readline().rstrip(b"L")))

    def _tuple(self, n):
        if len(self.stack) < n:
            raise pickle.UnpicklingError("pickle: unexpected end of stack")
        items = tuple(self.stack[len(self.stack) - n:])
        del self.stack[len(self.stack) - n:]
        self.stack.append(items)

    def _from_mark(self, kind):
        items = self.pop_mark()  # replaces self.stack
        self.stack.append(kind(items))

    def _dup(self):
        if not self.stack:
            raise pickle.UnpicklingError("pickle: unexpected end of stack")
        self.stack.append(self.stack[-1])

    def _long_n(self, n):
        if n < 0:
            raise pickle.UnpicklingError("LONG pickle has negative byte count")
        self.stack.append(int.from_bytes(self.read(n), "little", signed=True))

    def _string(self, n):
        data = bytes(self.read(n))
        self.stack.append(data if self.encoding == "bytes" else data.decode(self.encoding, "strict"))

    def _unicode(self, n):
        self.stack.append(str(self.read(n), "utf-8", "surrogatepass"))

    def _global(self):
        module = str(self.readline(), "utf-8")
        name = str(self.readline(), "utf-8")
        self.stack.append(self.find_global(module, name))

    def _stack_global(self):
        name, module = self.pop(), self.pop()
        if not isinstance(name, str) or not isinstance(module, str):
            raise pickle.UnpicklingError("STACK_GLOBAL requires str")
        self.stack.append(self.find_global(module, name))

    def _reduce(self):
        args = self.pop()
        func = self.pop()
        self.check_callable(func, "REDUCE")
        if not isinstance(args, tuple):
            raise pickle.UnpicklingError("REDUCE: arguments must be a tuple")
        self.stack.append(func(*args))

    def _newobj(self, kwargs=None):
        args = self.pop()
        cls = self.pop()
        self.check_callable(cls, "NEWOBJ")
        if not isinstance(cls, type) or not isinstance(args, tuple) or cls in _NO_NEWOBJ:
            raise pickle.UnpicklingError(f"NEWOBJ: can't instantiate {cls!r}")
        from .nn.parameter import Parameter
        if cls is Parameter:
            self.stack.append(Parameter(*args, **(kwargs or {})))
        else:
            self.stack.append(cls.__new__(cls, *args, **(kwargs or {})))

    def _newobj_ex(self):
        kwargs = self.pop()
        if not isinstance(kwargs, dict):
            raise pickle.UnpicklingError("NEWOBJ_EX: keyword arguments must be a dict")
        self._newobj(kwargs)

    def _build(self):
        state = self.pop()
        if not self.stack:
            raise pickle.UnpicklingError("pickle: unexpected end of stack")
        inst = self.stack[-1]
        if id(type(inst)) not in self.user_types and type(inst) is not OrderedDict:
            raise pickle.UnpicklingError(f"BUILD: can only set the state of OrderedDict or classes allowed with "
                                         f"add_safe_globals, got {type(inst).__name__}")
        setstate = getattr(inst, "__setstate__", None)
        if setstate is not None and type(inst) is not OrderedDict:
            setstate(state)
        else:
            _set_state(inst, state)

    def _setitems(self):
        items = self.pop_mark()
        target = self.top((dict, OrderedDict, Counter), "SETITEMS")
        if len(items) % 2:
            raise pickle.UnpicklingError("SETITEMS: odd number of items")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _setitem(self):
        value, key = self.pop(), self.pop()
        self.top((dict, OrderedDict, Counter), "SETITEM")[key] = value

    def _appends(self):
        items = self.pop_mark()
        self.top((list,), "APPENDS").extend(items)

    def _append(self):
        item = self.pop()
        self.top((list,), "APPEND").append(item)

    def _additems(self):
        items = self.pop_mark()
        self.top((set,), "ADDITEMS").update(items)

    def _dict(self):
        items = self.pop_mark()
        if len(items) % 2:
            raise pickle.UnpicklingError("DICT: odd number of items")
        self.stack.append({items[i]: items[i + 1] for i in range(0, len(items), 2)})

    def _get(self, index):
        if index not in self.memo:
            raise pickle.UnpicklingError(f"Memo value not found at index {index}")
        self.stack.append(self.memo[index])

    def _put(self, index):
        if index < 0:
            raise pickle.UnpicklingError("negative PUT argument")
        if not self.stack:
            raise pickle.UnpicklingError("pickle: unexpected end of stack")
        self.memo[index] = self.stack[-1]

    def _persid(self, pid):
        self.stack.append(self.persistent_load(pid))


def _op(name):
    return getattr(pickle, name)[0]


_STOP = _op("STOP")


WeightsOnlyUnpickler._dispatch = {
    _op("PROTO"): WeightsOnlyUnpickler._proto,
    _op("FRAME"): WeightsOnlyUnpickler._frame,
    _op("MARK"): WeightsOnlyUnpickler._mark,
    _op("POP"): WeightsOnlyUnpickler._pop,
    _op("POP_MARK"): lambda self: self.pop_mark(),
    _op("DUP"): WeightsOnlyUnpickler._dup,
    _op("NONE"): lambda self: self.stack.append(None),
    _op("NEWTRUE"): lambda self: self.stack.append(True),
    _op("NEWFALSE"): lambda self: self.stack.append(False),
    _op("INT"): WeightsOnlyUnpickler._int,
    _op("LONG"): WeightsOnlyUnpickler._long,
    _op("BININT"): lambda self: self.stack.append(self.unpack("<i")),
    _op("BININT1"): lambda self: self.stack.append(self.read(1)[0]),
    _op("BININT2"): lambda self: self.stack.append(self.unpack("<H")),
    _op("LONG1"): lambda self: self._long_n(self.read(1)[0]),
    _op("LONG4"): lambda self: self._long_n(self.unpack("<i")),
    _op("FLOAT"): lambda self: self.stack.append(float(self.readline())),
    _op("BINFLOAT"): lambda self: self.stack.append(self.unpack(">d")),
    _op("BINSTRING"): lambda self: self._string(self.unpack("<i")),
    _op("SHORT_BINSTRING"): lambda self: self._string(self.read(1)[0]),
    _op("BINBYTES"): lambda self: self.stack.append(bytes(self.read(self.unpack("<I")))),
    _op("SHORT_BINBYTES"): lambda self: self.stack.append(bytes(self.read(self.read(1)[0]))),
    _op("BINBYTES8"): lambda self: self.stack.append(bytes(self.read(self.unpack("<Q")))),
    _op("BYTEARRAY8"): lambda self: self.stack.append(bytearray(self.read(self.unpack("<Q")))),
    _op("UNICODE"): lambda self: self.stack.append(str(self.readline(), "raw-unicode-escape")),
    _op("BINUNICODE"): lambda self: self._unicode(self.unpack("<I")),
    _op("SHORT_BINUNICODE"): lambda self: self._unicode(self.read(1)[0]),
    _op("BINUNICODE8"): lambda self: self._unicode(self.unpack("<Q")),
    _op("EMPTY_LIST"): lambda self: self.stack.append([]),
    _op("APPEND"): WeightsOnlyUnpickler._append,
    _op("APPENDS"): WeightsOnlyUnpickler._appends,
    _op("LIST"): lambda self: self._from_mark(list),
    _op("EMPTY_TUPLE"): lambda self: self.stack.append(()),
    _op("TUPLE"): lambda self: self._from_mark(tuple),
    _op("TUPLE1"): lambda self: self._tuple(1),
    _op("TUPLE2"): lambda self: self._tuple(2),
    _op("TUPLE3"): lambda self: self._tuple(3),
    _op("EMPTY_DICT"): lambda self: self.stack.append({}),
    _op("DICT"): WeightsOnlyUnpickler._dict,
    _op("SETITEM"): WeightsOnlyUnpickler._setitem,
    _op("SETITEMS"): WeightsOnlyUnpickler._setitems,
    _op("EMPTY_SET"): lambda self: self.stack.append(set()),
    _op("ADDITEMS"): WeightsOnlyUnpickler._additems,
    _op("FROZENSET"): lambda self: self._from_mark(frozenset),
    _op("GLOBAL"): WeightsOnlyUnpickler._global,
    _op("STACK_GLOBAL"): WeightsOnlyUnpickler._stack_global,
    _op("REDUCE"): WeightsOnlyUnpickler._reduce,
    _op("NEWOBJ"): WeightsOnlyUnpickler._newobj,
    _op("NEWOBJ_EX"): WeightsOnlyUnpickler._newobj_ex,
    _op("BUILD"): WeightsOnlyUnpickler._build,
    _op("BINPERSID"): lambda self: self._persid(self.pop()),
    _op("PERSID"): lambda self: self._persid(str(self.readline(), "ascii")),
    _op("GET"): lambda self: self._get(int(self.readline())),
    _op("BINGET"): lambda self: self._get(self.read(1)[0]),
    _op("LONG_BINGET"): lambda self: self._get(self.unpack("<I")),
    _op("PUT"): lambda self: self._put(int(self.readline())),
    _op("BINPUT"): lambda self: self._put(self.read(1)[0]),
    _op("LONG_BINPUT"): lambda self: self._put(self.unpack("<I")),
    _op("MEMOIZE"): lambda self: self._put(len(self.memo)),
}


def full_unpickler(pickle_module):
    """``pickle_module.Unpickler`` resolving torch's tensor globals to dlcore (weights_only=False)."""
    class Unpickler(pickle_module.Unpickler):
        def find_class(self, module, name):
            mapped = torch_global(module, name)
            if mapped is not None:
                return mapped
            return super().find_class(module, name)
    return Unpickler
