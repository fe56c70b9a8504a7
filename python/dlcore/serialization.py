"""Checkpoints: ``dlcore.save(obj, f)`` / ``dlcore.load(f)`` in PyTorch's format, and
safetensors checkpoints (``save_safetensors`` / ``load_safetensors``).

``save`` pickles any picklable object (state dicts, optimizer states, whole modules) into the
zip archive ``torch.save`` writes (_pt_archive.py), so ``torch.load`` reads dlcore's files and
``load`` reads torch's, without torch installed. ``load`` defaults to ``weights_only=True``
(PyTorch >= 2.6): an allow-list unpickler that never runs code from the file
(_pt_unpickle.py, Note [Weights-only unpickling]); ``add_safe_globals`` / ``safe_globals``
allow more classes. ``load`` also reads safetensors files, recognised by their first bytes.

A safetensors checkpoint (_safetensors_ckpt.py, Note [Checkpoint layout]) holds nested dicts,
lists and tuples of tensors and plain values without pickling anything; the ``dlcore`` command
writes its checkpoints this way.

Writes to a path are atomic, in both formats: the bytes go to a temporary file in the same
directory, which is flushed, fsynced and renamed over the target only when complete (Ctrl-C or
an error midway leaves any previous file untouched and no temporary behind).

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
import copy
import io
import mmap as _mmap
import os
import pickle
import re
import secrets
import socket
import time
import warnings
import zlib

from . import _C
from . import _pt_archive, _pt_unpickle, _safetensors_ckpt
from ._C import Tensor
from ._pt_unpickle import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals

__all__ = ["save", "load", "save_safetensors", "load_safetensors", "add_safe_globals", "get_safe_globals",
           "clear_safe_globals", "safe_globals"]

DEFAULT_PROTOCOL = 2


# ---- writing files ----------------------------------------------------------------------------

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


def _atomic_write(path, write):
    """Runs ``write(fileobj)`` on a temporary file and renames it to ``path`` once complete."""
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
            write(fileobj)
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


def _is_path(f):
    return isinstance(f, (str, bytes, os.PathLike))


def _write_to(f, write, fn):
    if _is_path(f):
        _atomic_write(f, write)
    elif hasattr(f, "write"):
        write(f)
    else:
        raise TypeError(f"{fn}: f must be a path or a binary file object, got {type(f).__name__}")


def save(obj, f, pickle_module=pickle, pickle_protocol=DEFAULT_PROTOCOL, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Saves ``obj`` (any picklable object: state dicts, optimizer states, modules) to ``f``, a
    path or a binary file object, in PyTorch's checkpoint format (``torch.load`` reads it).

    Tensors keep their dtype, shape, strides, device, requires_grad and Parameter-ness; tensors
    that share a storage (views, tied weights) are stored once and load back sharing it
    (_pt_archive.py, Note [Shared storages]). pickle_module: ``pickle`` or a module whose Pickler
    derives from ``pickle._Pickler`` (dill). Writes to a path are atomic.
    """
    if not _use_new_zipfile_serialization:
        raise ValueError("save: only PyTorch's zip format (_use_new_zipfile_serialization=True) is written")
    if not (_is_path(f) or hasattr(f, "write")):
        raise TypeError(f"save: f must be a path or a binary file object, got {type(f).__name__}")
    pickled, storages = _pt_archive.pickle_archive(obj, pickle_module, pickle_protocol)
    name = _pt_archive.archive_name(f)

    def write(fileobj):
        _pt_archive.write_archive(lambda data: _write_all(fileobj, data), name, pickled, storages,
                                  byteorder=not _disable_byteorder_record)
    _write_to(f, write, "save")


def save_safetensors(obj, f):
    """Saves ``obj`` (nested dicts/lists/tuples of Tensors and plain values) to ``f``, a path or
    a binary file object, as a safetensors file (_safetensors_ckpt.py, Note [Checkpoint layout]).

    Tensors are saved contiguous with their dtype, shape and device; the same Tensor object
    referenced twice is stored once and loads back as one object. Writes to a path are atomic.
    """
    data = _safetensors_ckpt.serialize(obj)
    _write_to(f, lambda fileobj: _write_all(fileobj, data), "save_safetensors")


# ---- loading -----------------------------------------------------------------------------------

def _restore_location(map_location, fn):
    """restore(tensor, location): a loaded CPU tensor moved where ``map_location`` says the
    tensor saved from device ``location`` goes (PyTorch's rules)."""
    def default(t, location):
        try:
            device = _C.device(location)
        except Exception as e:
            raise RuntimeError(f"{fn}: the checkpoint holds tensors saved on {location!r}, a device dlcore doesn't "
                               "have; pass map_location='cpu' to load them on the CPU") from e
        if device.type == "cuda" and not _C._cuda_is_available():
            raise RuntimeError(f"{fn}: the checkpoint holds tensors saved on {location} but CUDA is not available "
                               "here; pass map_location='cpu' to load them on the CPU")
        return _place(t, device)

    if map_location is None:
        return default
    if isinstance(map_location, (str, _C.device)):
        device = _C.device(map_location)
        return lambda t, location: _place(t, device)
    if isinstance(map_location, dict):
        mapping = {str(k): str(v) for k, v in map_location.items()}
        return lambda t, location: default(t, mapping.get(location, location))
    if callable(map_location):
        def restore(t, location):
            out = map_location(t, location)
            if out is None:
                return default(t, location)
            if not isinstance(out, Tensor):
                raise TypeError(f"{fn}: map_location returned a {type(out).__name__}, expected a Tensor or None")
            return out
        return restore
    raise TypeError(f"{fn}: map_location must be None, a device, a device name, a dict of device names or a "
                    f"callable, got {type(map_location).__name__}")


def _place(t, device):
    return t if str(t.device) == str(device) else _C._to(t, None, device, False)


def _open_for_reading(f, fn):
    """(a seekable binary file object, its name for messages, whether we opened it)."""
    if _is_path(f):
        name = os.fsdecode(os.fspath(f))
        return open(name, "rb"), repr(name), True
    if not hasattr(f, "read"):
        raise TypeError(f"{fn}: f must be a path or a binary file object, got {type(f).__name__}")
    name = getattr(f, "name", None)
    name = repr(name) if isinstance(name, str) else f"the {type(f).__name__} stream"
    seekable = getattr(f, "seekable", None)
    if seekable is None or not seekable():
        return io.BytesIO(_read_all(f, name, fn)), name, True
    return f, name, False


def _read_all(fileobj, name, fn):
    data = fileobj.read()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"{fn}: reading {name} gave {type(data).__name__}, expected bytes (open the file in 'rb' mode)")
    return data


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def _is_safetensors(head):
    return len(head) >= 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") < 1 << 40


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **pickle_load_args):
    """Loads an object ``save`` or ``torch.save`` wrote to ``f`` (a path or a binary file
    object); safetensors files load too.

    map_location: None puts each tensor back on the device it was saved from; a device (or
    "cpu", "cuda:1") puts all of them there; a dict maps saved device names to others; a
    callable(storage, location) returns the storage placed (or None for the default), where
    ``storage`` is a 1-d CPU tensor of the stored elements.
    weights_only: True (the default) unpickles only tensors, containers, plain values and the
    globals allowed with ``add_safe_globals``, and never runs code from the file; False unpickles
    anything (whole modules), which runs whatever the file says: only for trusted files.
    mmap: True (f must be a path) maps the file into memory privately instead of reading the
    storages: tensors are pages of the file, copied only where written to.
    Tensors of dtypes dlcore lacks (uint8, int8, int16, complex, ...) raise RuntimeError naming
    them, as do truncated, corrupted and unknown files.
    """
    if weights_only is None:
        weights_only = True
    if weights_only and pickle_module is not None:
        raise RuntimeError("load: can't load weights safely with an explicit pickle_module; pass "
                           "weights_only=False to unpickle with it")
    if weights_only and set(pickle_load_args) - {"encoding"}:
        warnings.warn("load: pickle_load_args other than encoding only apply with weights_only=False", stacklevel=2)
    if mmap and not _is_path(f):
        raise ValueError("load: f must be a file path in order to use the mmap argument")
    restore = _restore_location(map_location, "load")
    fileobj, name, opened = _open_for_reading(f, "load")
    try:
        start = fileobj.tell()
        head = fileobj.read(16)
        fileobj.seek(start)
        if not isinstance(head, (bytes, bytearray)):
            raise TypeError(f"load: reading {name} gave {type(head).__name__}, expected bytes (open the file in "
                            "'rb' mode)")
        if head[:4] in _ZIP_MAGIC:
            mapped = _mmap.mmap(fileobj.fileno(), 0, access=_mmap.ACCESS_COPY) if mmap else None
            return _pt_archive.load_archive(fileobj, name, restore, weights_only, pickle_module or pickle,
                                            pickle_load_args, mapped)
        if _is_safetensors(head):
            return _safetensors_ckpt.deserialize(_read_all(fileobj, name, "load"), name, restore)
        if head.startswith(_LEGACY_TORCH_MAGIC):
            raise RuntimeError(f"load: {name} is in the format of torch.save before PyTorch 1.6 (or "
                               "_use_new_zipfile_serialization=False), which dlcore doesn't read; load it with torch "
                               "and save it again with a recent PyTorch")
        raise RuntimeError(f"load: {name} is not a checkpoint: neither PyTorch's zip format nor safetensors "
                           "(empty, truncated or another kind of file?)")
    finally:
        if opened:
            fileobj.close()


def load_safetensors(f, map_location=None):
    """Loads a safetensors checkpoint ``save_safetensors`` wrote to ``f`` (a path or a binary
    file object); map_location as in ``load``. A safetensors file written by another tool loads
    as a dict name -> Tensor. Raises RuntimeError naming the file when it is truncated, corrupted
    or not a safetensors file.
    """
    restore = _restore_location(map_location, "load_safetensors")
    fileobj, name, opened = _open_for_reading(f, "load_safetensors")
    try:
        data = _read_all(fileobj, name, "load_safetensors")
    finally:
        if opened:
            fileobj.close()
    return _safetensors_ckpt.deserialize(data, name, restore)


# ---- pickling tensors on their own ----------------------------------------------------------

# Note [Pickling a tensor]
# Outside ``save`` (pickle.dumps, copy, multiprocessing without a shared-memory reducer) a tensor
# pickles as its own values: dtype, shape, raw bytes, requires_grad and device, rebuilt by
# ``_pt_unpickle._rebuild_tensor_from_bytes`` (which ``load(weights_only=True)`` allows); a view
# becomes a tensor of its own. Inside ``save`` the archive pickler takes over and storages stay
# shared. ``copy.deepcopy`` clones instead of going through bytes; as in PyTorch only leaves can
# be deep-copied, the copy gets a deep copy of ``.grad``, and a subclass's copy keeps its class and
# attributes.

def _reduce_tensor(self, proto):
    t = self.detach()
    data = _safetensors_ckpt.host_array(t).tobytes()
    return (_pt_unpickle._rebuild_tensor_from_bytes,
            (_pt_archive.dtype_name(t.dtype), tuple(t.shape), data, self.requires_grad, str(self.device)))


def _deepcopy_tensor(self, memo):
    if not self.is_leaf:
        raise RuntimeError("deepcopy: only tensors created explicitly by the user (graph leaves) support the "
                           "deepcopy protocol; detach() the tensor first")
    if id(self) in memo:
        return memo[id(self)]
    out = self.detach().clone()
    if type(self) is not Tensor:  # a subclass keeps its class and attributes
        values, out = out, type(self).__new__(type(self))
        Tensor.__init__(out, values)
    if self.requires_grad:
        out.requires_grad_(True)
    memo[id(self)] = out
    if self.grad is not None:
        out.grad = copy.deepcopy(self.grad, memo)
    if getattr(self, "__dict__", None):
        out.__dict__.update(copy.deepcopy(self.__dict__, memo))
    return out


Tensor.__reduce_ex__ = _reduce_tensor
Tensor.__deepcopy__ = _deepcopy_tensor
_C.dtype.__reduce_ex__ = lambda self, proto: (_pt_unpickle._rebuild_dtype, (_pt_archive.dtype_name(self),))
_C.device.__reduce_ex__ = lambda self, proto: (_C.device, (str(self),))
