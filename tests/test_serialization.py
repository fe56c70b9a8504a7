"""serialization.save_safetensors / load_safetensors (the dlcore command's checkpoints): bit-exact
round trips, training resumed identically, atomic writes, clear errors for damaged files, plain
safetensors files from other tools. PyTorch's format (dlcore.save / dlcore.load) is tested in
test_serialization_pt.py.

Every comparison here is exact (bytes, or ==): a checkpoint stores raw bytes, so nothing may
change, not even a NaN payload or the sign of a zero."""
import io
import json
import math
import os
import zlib
from collections import Counter, OrderedDict

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

import dlcore
from dlcore import _safetensors_ckpt, nn, optim, serialization
from dlcore.optim.lr_scheduler import StepLR

requires_cuda = pytest.mark.skipif(not dlcore.cuda.is_available(), reason="no CUDA device")

ALL_DTYPES = [dlcore.float32, dlcore.float64, dlcore.float16, dlcore.bfloat16, dlcore.int64, dlcore.int32,
              dlcore.bool]


def raw(t):
    """The tensor's dtype, shape and bytes (bfloat16 through torch, which can view its bits)."""
    t = t.detach()
    if t.is_cuda:
        t = t.cpu()
    t = t.contiguous()
    if t.dtype == dlcore.bfloat16:
        data = torch.from_dlpack(t).view(torch.int16).numpy().tobytes()
    else:
        data = t.numpy().tobytes()
    return str(t.dtype), tuple(t.shape), data


def assert_same(a, b, path="obj"):
    """Exact equality of two nested structures: types, keys and key order, tensor bytes."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dlcore.Tensor):
        assert raw(a) == raw(b), path
        assert a.requires_grad == b.requires_grad, path
        assert str(a.device) == str(b.device), path
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    elif isinstance(a, float):
        assert a == b and math.copysign(1, a) == math.copysign(1, b), path
    else:
        assert a == b, path


def sample(dtype, shape, rng):
    """A CPU tensor of any dtype with every kind of value the dtype holds."""
    if dtype == dlcore.bool:
        return dlcore.from_numpy(np.asarray(rng.random(shape) < 0.5))
    if dtype in (dlcore.int64, dlcore.int32):
        info = np.iinfo(np.int64 if dtype == dlcore.int64 else np.int32)
        return dlcore.from_numpy(rng.integers(info.min, info.max, size=shape, endpoint=True,
                                              dtype=np.int64 if dtype == dlcore.int64 else np.int32))
    # random bit patterns: NaNs with payloads, infinities, subnormals, -0.0 included
    if dtype == dlcore.bfloat16:
        bits = rng.integers(0, 1 << 16, size=shape, dtype=np.uint16).view(np.int16)
        return dlcore.from_dlpack(torch.from_numpy(bits.copy()).view(torch.bfloat16))
    width = {dlcore.float16: np.uint16, dlcore.float32: np.uint32, dlcore.float64: np.uint64}[dtype]
    npdt = {dlcore.float16: np.float16, dlcore.float32: np.float32, dlcore.float64: np.float64}[dtype]
    bits = rng.integers(0, np.iinfo(width).max, size=shape, dtype=width, endpoint=True)
    return dlcore.from_numpy(bits.view(npdt).copy())


def roundtrip(obj, **load_kw):
    buf = io.BytesIO()
    serialization.save_safetensors(obj, buf)
    return serialization.load_safetensors(io.BytesIO(buf.getvalue()), **load_kw)


# ---- round trips ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(), (0,), (1,), (7,), (3, 0, 2), (2, 33), (2, 1, 3, 5)], ids=str)
def test_roundtrip_dtypes_and_shapes(dtype, shape, rng):
    t = sample(dtype, shape, rng)
    out = roundtrip({"t": t})
    assert_same({"t": t}, out)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_non_contiguous_saved_as_contiguous(dtype, rng):
    base = sample(dtype, (5, 6, 4), rng)
    views = {"transposed": base.transpose(0, 2), "sliced": base[1:4, ::2], "expanded": base[:1].expand(3, 6, 4),
             "offset": base[2]}
    out = roundtrip(views)
    for k, v in views.items():
        assert out[k].is_contiguous()
        assert raw(out[k]) == raw(v), k


def test_bfloat16_every_bit_pattern():
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.int16)
    t = dlcore.from_dlpack(torch.from_numpy(bits.copy()).view(torch.bfloat16))
    out = roundtrip([t])[0]
    assert out.dtype == dlcore.bfloat16
    assert np.array_equal(torch.from_dlpack(out).view(torch.int16).numpy(), bits)


def test_structure_types_survive():
    t = dlcore.arange(4).float()
    obj = {
        "epoch": 3, 7: "int key", (1, "a"): "tuple key", 2.5: None, True: False,
        "floats": [0.1, -0.0, 1e308, 5e-324, math.inf, -math.inf, math.nan],
        "big": 2 ** 80, "tuple": (1, (2, [3, t])), "empty": {"l": [], "t": (), "d": {}},
        "ordered": OrderedDict([("b", 1), ("a", 2)]), "counter": Counter([3, 3, 7]),
        "text": "ünïcødé \"quoted\" {json}", "bytes": b"\x00\xff", "dtype": dlcore.bfloat16,
        "device": dlcore.device("cpu"), "np": (np.float32(0.5), np.int64(9), np.bool_(True)),
    }
    out = roundtrip(obj)
    expected = dict(obj, np=(0.5, 9, True))
    assert_same(expected, out)
    assert isinstance(out["ordered"], OrderedDict) and isinstance(out["counter"], Counter)
    assert out["counter"][99] == 0  # still a Counter (MultiStepLR relies on this)


def test_shared_tensor_stored_once_and_loaded_once():
    t = dlcore.ones(1000)
    buf = io.BytesIO()
    serialization.save_safetensors({"a": t, "b": [t]}, buf)
    assert len(buf.getvalue()) < 4000 + 1000  # one copy of the 4000 bytes
    out = serialization.load_safetensors(io.BytesIO(buf.getvalue()))
    assert out["a"] is out["b"][0]


def test_requires_grad_and_parameters():
    p = nn.Parameter(dlcore.randn(3, 2))
    q = dlcore.randn(2).requires_grad_(True)
    frozen = nn.Parameter(dlcore.randn(2), requires_grad=False)
    out = roundtrip({"p": p, "q": q, "frozen": frozen, "plain": dlcore.randn(2)})
    assert isinstance(out["p"], nn.Parameter) and out["p"].requires_grad and out["p"].is_leaf
    assert not isinstance(out["q"], nn.Parameter) and out["q"].requires_grad
    assert isinstance(out["frozen"], nn.Parameter) and not out["frozen"].requires_grad
    assert not out["plain"].requires_grad
    assert raw(out["p"]) == raw(p)


def test_path_and_file_object(tmp_path):
    obj = {"w": dlcore.randn(4, 4), "n": 1}
    path = tmp_path / "ckpt.safetensors"
    serialization.save_safetensors(obj, path)              # PathLike
    assert_same(obj, serialization.load_safetensors(str(path)))  # str
    with open(path, "rb") as f:
        assert_same(obj, serialization.load_safetensors(f))
    with open(tmp_path / "b.safetensors", "wb") as f:
        serialization.save_safetensors(obj, f)
    assert_same(obj, serialization.load_safetensors(tmp_path / "b.safetensors"))


def test_unsupported_objects_name_their_path():
    with pytest.raises(TypeError, match=r"save_safetensors: can't store a set at obj\['config'\]\['s'\]"):
        serialization.save_safetensors({"config": {"s": {1, 2}}}, io.BytesIO())
    with pytest.raises(TypeError, match=r"obj\['f'\]"):
        serialization.save_safetensors({"f": lambda: 0}, io.BytesIO())
    with pytest.raises(TypeError, match=r"can't store a Linear at obj\['model'\]; save its state_dict\(\) instead"):
        serialization.save_safetensors({"model": nn.Linear(2, 2)}, io.BytesIO())
    with pytest.raises(TypeError, match="dict key of type Tensor"):
        serialization.save_safetensors({dlcore.ones(1): 1}, io.BytesIO())
    with pytest.raises(TypeError, match="path or a binary file object"):
        serialization.save_safetensors({}, 3)


# ---- state dicts and resuming ---------------------------------------------------------------

def make_model(seed):
    dlcore.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


def test_module_state_dict_roundtrip_bit_exact(tmp_path):
    src = make_model(0)
    src(dlcore.randn(8, 5))  # move the BatchNorm running statistics and counter off their init
    serialization.save_safetensors(src.state_dict(), tmp_path / "m.safetensors")
    dst = make_model(1)
    loaded = serialization.load_safetensors(tmp_path / "m.safetensors")
    assert isinstance(loaded, OrderedDict) and list(loaded) == list(src.state_dict())
    dst.load_state_dict(loaded)
    for (k, a), (k2, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert k == k2 and raw(a) == raw(b), k
    assert dst.state_dict()["1.num_batches_tracked"].dtype == dlcore.int64


def test_state_dict_readable_by_torch_safetensors(tmp_path):
    """A plain state dict is stored under its own keys, so other tools load it directly."""
    src = make_model(0)
    serialization.save_safetensors(src.state_dict(), tmp_path / "m.safetensors")
    theirs = safetensors.torch.load_file(tmp_path / "m.safetensors")
    assert sorted(theirs) == sorted(src.state_dict())
    for k, v in src.state_dict().items():
        assert np.array_equal(theirs[k].numpy(), v.numpy()), k


X = np.random.default_rng(0).standard_normal((6, 12, 5)).astype(np.float32)
Y = np.random.default_rng(1).integers(0, 3, size=(6, 12))


def train(model, opt, sched, steps):
    model.train()
    for i in steps:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(dlcore.tensor(X[i])), dlcore.tensor(Y[i]))
        loss.backward()
        opt.step()
        sched.step()


def make_run(seed):
    model = make_model(seed)
    opt = optim.Adam(model.parameters(), lr=1e-2, betas=(0.8, 0.99), amsgrad=True)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    return model, opt, sched


def test_training_resumes_identically(tmp_path):
    model, opt, sched = make_run(0)
    train(model, opt, sched, range(3))
    serialization.save_safetensors({"model": model.state_dict(), "optimizer": opt.state_dict(),
                                    "scheduler": sched.state_dict(), "epoch": 3,
                                    "config": {"lr": 1e-2, "betas": (0.8, 0.99)}}, tmp_path / "ckpt.safetensors")
    train(model, opt, sched, range(3, 6))  # run A: uninterrupted

    model_c, opt_c, sched_c = make_run(1)  # different initial weights: everything must come from the file
    train(model_c, opt_c, sched_c, range(3, 6))
    assert raw(model_c.state_dict()["0.weight"]) != raw(model.state_dict()["0.weight"])

    model_b, opt_b, sched_b = make_run(1)
    ckpt = serialization.load_safetensors(tmp_path / "ckpt.safetensors")
    assert ckpt["epoch"] == 3 and ckpt["config"]["betas"] == (0.8, 0.99)
    assert all(isinstance(k, int) for k in ckpt["optimizer"]["state"])
    assert set(ckpt["optimizer"]["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert ckpt["optimizer"]["state"][0]["step"] == 3.0
    model_b.load_state_dict(ckpt["model"])
    opt_b.load_state_dict(ckpt["optimizer"])
    sched_b.load_state_dict(ckpt["scheduler"])
    train(model_b, opt_b, sched_b, range(3, 6))  # run B: resumed

    for (k, a), (_, b) in zip(model.state_dict().items(), model_b.state_dict().items()):
        assert raw(a) == raw(b), k
    state_a, state_b = opt.state_dict(), opt_b.state_dict()
    assert sorted(state_a["state"]) == sorted(state_b["state"])
    for i in state_a["state"]:
        for name, v in state_a["state"][i].items():
            w = state_b["state"][i][name]
            assert (raw(v) == raw(w)) if isinstance(v, dlcore.Tensor) else (v == w), (i, name)
    assert state_a["param_groups"] == state_b["param_groups"]
    assert sched.get_last_lr() == sched_b.get_last_lr() and sched.last_epoch == sched_b.last_epoch == 6


# ---- atomic writes ----------------------------------------------------------------------------

def listing(directory):
    return sorted(os.listdir(directory))


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()], ids=["OSError", "Ctrl-C"])
def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch, error):
    path = tmp_path / "ckpt.safetensors"
    serialization.save_safetensors({"w": dlcore.ones(3), "epoch": 1}, path)
    before = path.read_bytes()

    def half_then_fail(fileobj, data):
        fileobj.write(data[: len(data) // 2])
        fileobj.flush()
        raise error

    monkeypatch.setattr(serialization, "_write_all", half_then_fail)
    with pytest.raises(type(error)):
        serialization.save_safetensors({"w": dlcore.zeros(1000), "epoch": 2}, path)
    assert path.read_bytes() == before
    assert listing(tmp_path) == ["ckpt.safetensors"]
    assert serialization.load_safetensors(path)["epoch"] == 1


_KILLED_SAVER = """
import sys, time
import dlcore
from dlcore import serialization

def write_half_then_hang(fileobj, data):
    fileobj.write(data[: len(data) // 2])
    fileobj.flush()
    print("writing", flush=True)
    time.sleep(600)

serialization._write_all = write_half_then_hang
serialization.save_safetensors({"w": dlcore.zeros(10000)}, sys.argv[1])
"""


def _temporaries(directory):
    return [n for n in listing(directory) if n.endswith(".tmp")]


def test_temp_file_of_a_killed_save_is_removed_by_the_next_save(tmp_path):
    import signal
    import subprocess
    import sys
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(dlcore.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH"))
                                                      if p))
    path = tmp_path / "ckpt.safetensors"
    writer = subprocess.Popen([sys.executable, "-c", _KILLED_SAVER, str(path)], stdout=subprocess.PIPE,
                              text=True, env=env)
    try:
        assert writer.stdout.readline() == "writing\n"
        (tmp,) = _temporaries(tmp_path)
        # the writer is alive: a save beside it (another checkpoint, then the same one) leaves its file alone
        serialization.save_safetensors({"epoch": 1}, tmp_path / "other.safetensors")
        serialization.save_safetensors({"epoch": 1}, path)
        assert _temporaries(tmp_path) == [tmp]
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=60)
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    assert _temporaries(tmp_path) == [tmp]      # nothing cleaned up after the kill itself
    serialization.save_safetensors({"epoch": 2}, tmp_path / "other.safetensors")
    assert listing(tmp_path) == ["ckpt.safetensors", "other.safetensors"]
    assert serialization.load_safetensors(path)["epoch"] == 1


def test_only_stale_temp_files_of_saves_are_removed(tmp_path):
    import subprocess
    import sys
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = os.getppid()                         # a process that surely exists
    host = serialization._host_tag()
    other_host = "%08x" % ((int(host, 16) + 1) % 2**32)
    day = 24 * 3600
    files = {   # name -> (age in seconds, removed?)
        f".a.safetensors.dlcore-{host}-{dead.pid}-0123456789ab.tmp": (0, True),
        f".b.safetensors.dlcore-{host}-{live}-0123456789ab.tmp": (0, False),
        f".b.safetensors.dlcore-{host}-{live}-ba9876543210.tmp": (2 * day, True),   # pid reused since
        f".c.safetensors.dlcore-{other_host}-{dead.pid}-0123456789ab.tmp": (0, False),  # can't check the pid
        f".c.safetensors.dlcore-{other_host}-{dead.pid}-ba9876543210.tmp": (2 * day, True),
        ".d.safetensors.0123456789ab.tmp": (0, False),                              # older dlcore, no pid
        ".d.safetensors.ba9876543210.tmp": (2 * day, True),
        ".e.safetensors.dlcore-tmp": (2 * day, False),                             # not ours
        ".notes.tmp": (2 * day, False),
        "f.safetensors.0123456789ab.tmp": (2 * day, False),
    }
    now = __import__("time").time()
    for name, (age, _) in files.items():
        (tmp_path / name).write_bytes(b"partial")
        os.utime(tmp_path / name, (now - age, now - age))
    serialization.save_safetensors({"epoch": 1}, tmp_path / "ckpt.safetensors")
    kept = sorted(n for n, (_, removed) in files.items() if not removed)
    assert listing(tmp_path) == sorted(kept + ["ckpt.safetensors"])


def test_failed_fsync_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    serialization.save_safetensors({"epoch": 1}, path)
    monkeypatch.setattr(serialization.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("I/O error")))
    with pytest.raises(OSError, match="I/O error"):
        serialization.save_safetensors({"epoch": 2}, path)
    monkeypatch.undo()
    assert listing(tmp_path) == ["ckpt.safetensors"] and serialization.load_safetensors(path)["epoch"] == 1


def test_unserializable_object_touches_nothing(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    serialization.save_safetensors({"epoch": 1}, path)
    with pytest.raises(TypeError):
        serialization.save_safetensors({"epoch": 2, "bad": object()}, path)
    assert listing(tmp_path) == ["ckpt.safetensors"] and serialization.load_safetensors(path)["epoch"] == 1


def test_write_through_symlink_and_permissions(tmp_path):
    target = tmp_path / "real.safetensors"
    serialization.save_safetensors({"epoch": 1}, target)
    link = tmp_path / "latest.safetensors"
    link.symlink_to(target)
    serialization.save_safetensors({"epoch": 2}, link)
    assert link.is_symlink() and serialization.load_safetensors(target)["epoch"] == 2
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~umask)


# ---- damaged and foreign files ----------------------------------------------------------------

def checkpoint_bytes():
    buf = io.BytesIO()
    serialization.save_safetensors({"model": {"w": dlcore.arange(6).float().reshape(2, 3), "b": dlcore.tensor([1, 2])},
                                    "epoch": 3, "cfg": {"lr": 0.1, "name": "x"}}, buf)
    return buf.getvalue()


@pytest.mark.parametrize("cut", [0, 1, 7, 8, 9, 40, -9, -1])
def test_truncated_file_is_a_clear_error(tmp_path, cut):
    data = checkpoint_bytes()
    path = tmp_path / "ckpt.safetensors"
    path.write_bytes(data[:cut])
    with pytest.raises(RuntimeError, match=r"load: '.*ckpt\.safetensors' is not a valid safetensors checkpoint"):
        serialization.load_safetensors(path)


def test_not_a_safetensors_file(tmp_path):
    for i, content in enumerate([b"PK\x03\x04 a zip file", b"\x80\x02}q\x00.", os.urandom(4096), b"{}" * 10]):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(content)
        with pytest.raises(RuntimeError, match=f"f{i}.bin"):
            serialization.load_safetensors(path)


def test_every_single_byte_corruption_is_detected():
    """A flipped byte anywhere (header, metadata, structure, tensor data) gives an error, never a
    wrong result: safetensors checks the header and offsets, our CRCs the rest."""
    data = checkpoint_bytes()
    for i in range(len(data)):
        for mask in (0x01, 0x20, 0x80):
            damaged = bytearray(data)
            damaged[i] ^= mask
            with pytest.raises((RuntimeError, ValueError)):
                serialization.load_safetensors(io.BytesIO(bytes(damaged)))


def test_corruption_message_names_the_tensor(tmp_path):
    data = bytearray(checkpoint_bytes())
    data[-1] ^= 0x01  # the last byte of the last tensor's data
    path = tmp_path / "bad.safetensors"
    path.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match=r"bad\.safetensors' is corrupted: the bytes of tensor 'model\.\w' "):
        serialization.load_safetensors(path)


def test_foreign_safetensors_loads_as_flat_dict(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {"embed.weight": torch.randn(7, 3, dtype=torch.bfloat16), "fc.weight": torch.randn(2, 7),
               "fc.bias": torch.randn(2, dtype=torch.float64), "ids": torch.arange(5), "mask": torch.rand(4) < 0.5,
               "pixels": torch.from_numpy(rng.integers(0, 256, (2, 3), dtype=np.uint8)),
               "half": torch.randn(3, dtype=torch.float16), "scalar": torch.tensor(2.5)}
    safetensors.torch.save_file(tensors, tmp_path / "hf.safetensors", metadata={"format": "pt"})
    out = serialization.load_safetensors(tmp_path / "hf.safetensors")
    assert type(out) is dict and sorted(out) == sorted(tensors)
    for k, v in tensors.items():
        ours = out[k]
        assert tuple(ours.shape) == tuple(v.shape), k
        if v.dtype == torch.bfloat16:
            assert ours.dtype == dlcore.bfloat16
            assert torch.equal(torch.from_dlpack(ours).view(torch.int16), v.view(torch.int16))
        elif v.dtype == torch.uint8:  # dlcore has no uint8: widened without loss
            assert ours.dtype == dlcore.int32 and np.array_equal(ours.numpy(), v.numpy())
        else:
            assert np.array_equal(ours.numpy(), v.numpy()) and ours.numpy().dtype == v.numpy().dtype, k


def test_foreign_unsupported_dtype_is_a_clear_error(tmp_path):
    safetensors.numpy.save_file({"x": np.arange(3, dtype=np.uint64)}, tmp_path / "u64.safetensors")
    with pytest.raises(RuntimeError, match=r"tensor 'x' in '.*u64\.safetensors' has dtype U64"):
        serialization.load_safetensors(tmp_path / "u64.safetensors")


# ---- map_location ------------------------------------------------------------------------------

def cuda_checkpoint(tmp_path):
    """A checkpoint whose tensor was saved from cuda:0, built by hand so it runs without a GPU."""
    encoder = _safetensors_ckpt._Encoder()
    node = encoder.encode({"w": dlcore.arange(3).float()}, ())
    node["dict"][0][1]["device"] = "cuda:0"
    structure = json.dumps(node)
    data = safetensors.numpy.save(encoder.arrays, metadata={
        "dlcore.format": "1", "dlcore.structure": structure, "dlcore.crc32": str(zlib.crc32(structure.encode()))})
    path = tmp_path / "cuda.safetensors"
    path.write_bytes(data)
    return path


def test_map_location_cpu(tmp_path):
    path = cuda_checkpoint(tmp_path)
    for where in ("cpu", dlcore.device("cpu"), {"cuda:0": "cpu"}, lambda t, location: t):
        for load in (serialization.load_safetensors, dlcore.load):  # dlcore.load recognises safetensors files
            out = load(path, map_location=where)
            assert str(out["w"].device) == "cpu" and out["w"].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.skipif(dlcore.cuda.is_available(), reason="checks the message shown without CUDA")
def test_cuda_checkpoint_without_cuda_says_map_location(tmp_path):
    with pytest.raises(RuntimeError, match="CUDA is not available here; pass map_location='cpu'"):
        serialization.load_safetensors(cuda_checkpoint(tmp_path))


def test_bad_map_location():
    with pytest.raises(TypeError, match="map_location"):
        roundtrip({"w": dlcore.ones(1)}, map_location=3.5)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_cuda_roundtrip_and_map_location(dtype, rng):
    t = sample(dtype, (3, 5), rng)
    g = t.cuda()
    out = roundtrip({"g": g, "c": t})
    assert out["g"].is_cuda and not out["c"].is_cuda and raw(out["g"]) == raw(t)
    out = roundtrip({"g": g, "c": t}, map_location="cpu")
    assert not out["g"].is_cuda and raw(out["g"]) == raw(t)
    out = roundtrip({"c": t}, map_location="cuda")
    assert out["c"].is_cuda and raw(out["c"]) == raw(t)
