"""dlcore.save / dlcore.load in PyTorch's checkpoint format, checked against torch: files either
writes load in the other bit for bit (tensors, shared storages, parameters, nested optimizer
state), weights_only refuses code, torch-free loading, whole modules, a torchvision ResNet-18,
damaged files, atomic writes, and pickling tensors on their own."""
import copy
import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from collections import Counter, OrderedDict

import numpy as np
import pytest

import dlcore
from dlcore import _pt_archive, nn, optim, serialization

torch = pytest.importorskip("torch")
tnn = torch.nn

DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
          "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32, "bool": torch.bool}


def torch_sample(dtype, shape, gen):
    """A torch tensor of ``dtype`` with random bits (NaN payloads, infinities, -0.0 for floats)."""
    if dtype == torch.bool:
        return torch.rand(shape, generator=gen) < 0.5
    if dtype in (torch.int64, torch.int32):
        info = torch.iinfo(dtype)
        return torch.randint(info.min, info.max, shape, generator=gen, dtype=dtype)
    bits = {2: torch.int16, 4: torch.int32, 8: torch.int64}[torch.empty(0, dtype=dtype).element_size()]
    info = torch.iinfo(bits)
    return torch.randint(info.min, info.max, shape, generator=gen, dtype=bits).view(dtype)


def to_dlcore(t):
    return dlcore.from_dlpack(t.detach().clone())


def raw_torch(t):
    t = t.detach().contiguous().reshape(-1)
    return str(t.dtype).rsplit(".", 1)[-1], t.view(torch.uint8).numpy().tobytes()


def raw_dlcore(t):
    return raw_torch(torch.from_dlpack(t.detach().contiguous()))


def assert_same_as_torch(ours, theirs, path="obj"):
    """``ours`` (loaded by dlcore) holds exactly ``theirs`` (torch's): types, keys, bits."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, dlcore.Tensor), path
        assert isinstance(ours, nn.Parameter) == isinstance(theirs, tnn.Parameter), path
        assert tuple(ours.shape) == tuple(theirs.shape), path
        if ours.numel():
            assert tuple(ours.stride()) == tuple(theirs.stride()) and ours.storage_offset() == \
                theirs.storage_offset(), path
        assert raw_dlcore(ours) == raw_torch(theirs), path
        assert ours.requires_grad == theirs.requires_grad, path
    elif isinstance(theirs, torch.dtype):
        assert ours == getattr(dlcore, str(theirs).split(".")[1]), path
    elif isinstance(theirs, torch.device):
        assert isinstance(ours, dlcore.device) and str(ours) == str(theirs), path
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs), path
        for k in theirs:
            assert_same_as_torch(ours[k], theirs[k], f"{path}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same_as_torch(a, b, f"{path}[{i}]")
    else:
        assert type(ours) is type(theirs) and (ours == theirs or ours != ours and theirs != theirs), path


def save_bytes(obj, **kw):
    buf = io.BytesIO()
    dlcore.save(obj, buf, **kw)
    return buf.getvalue()


def torch_bytes(obj, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def every_dtype_checkpoint(gen):
    """A torch checkpoint with every dtype dlcore has, in shapes and views of every kind."""
    out = OrderedDict()
    for name, dt in DTYPES.items():
        base = torch_sample(dt, (4, 6, 5), gen)
        out[name] = {"scalar": torch_sample(dt, (), gen), "empty": torch_sample(dt, (0, 3), gen),
                     "full": base, "transposed": base.transpose(0, 2), "sliced": base[1:3, ::2, 1:],
                     "row": base[2, 1], "expanded": base[:1, :1, :1].expand(3, 2, 5)}
    return out


# ---- dlcore.save -> torch.load ------------------------------------------------------------------

def test_every_dtype_and_view_loads_in_torch_with_shared_storages():
    gen = torch.Generator().manual_seed(0)
    expected = every_dtype_checkpoint(gen)
    ours = {name: {k: to_dlcore(v) if k in ("scalar", "empty") else None for k, v in d.items()}
            for name, d in expected.items()}
    for name, d in expected.items():  # rebuild the views on one dlcore base, as torch's are on one storage
        base = to_dlcore(d["full"])
        ours[name].update(full=base, transposed=base.transpose(0, 2), sliced=base[1:3, ::2, 1:], row=base[2, 1],
                          expanded=base[:1, :1, :1].expand(3, 2, 5))
    loaded = torch.load(io.BytesIO(save_bytes(ours)), weights_only=True)
    for name in expected:
        for k, v in expected[name].items():
            got = loaded[name][k]
            assert got.dtype == v.dtype and got.shape == v.shape and got.stride() == v.stride(), (name, k)
            assert raw_torch(got) == raw_torch(v), (name, k)
        storage = loaded[name]["full"].untyped_storage().data_ptr()
        for k in ("transposed", "sliced", "row", "expanded"):
            assert loaded[name][k].untyped_storage().data_ptr() == storage, (name, k)
        loaded[name]["full"][2, 1].zero_()  # shared: a write through one is seen through the views
        assert not loaded[name]["row"].any()


def test_storage_stored_once():
    t = dlcore.ones(100000)
    data = save_bytes({"a": t, "b": t[10:], "c": t.reshape(100, 1000).t(), "d": t})
    assert 400000 < len(data) < 410000
    assert len([n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if "/data/" in n]) == 1


def make_model(seed):
    dlcore.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def adam_checkpoint():
    model = make_model(0)
    opt = optim.Adam(model.parameters(), lr=1e-2, betas=(0.8, 0.99), amsgrad=True)
    for _ in range(2):
        opt.zero_grad()
        model(dlcore.randn(4, 5)).sum().backward()
        opt.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 2, "lr": [0.1, 1e-3],
            "cfg": {"name": "run", "betas": (0.8, 0.99), "flags": {True, False}, "none": None}}


def test_checkpoint_with_optimizer_state_loads_in_torch():
    ckpt = adam_checkpoint()
    theirs = torch.load(io.BytesIO(save_bytes(ckpt)), weights_only=True)
    assert_same_as_torch(ckpt, theirs)
    assert sorted(theirs["optimizer"]["state"]) == [0, 1, 2, 3, 4, 5]
    assert set(theirs["optimizer"]["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert theirs["model"]["1.num_batches_tracked"].dtype == torch.int64
    # torch can resume from it: its own model and optimizer take the state
    tmodel = tnn.Sequential(tnn.Linear(5, 8), tnn.BatchNorm1d(8), tnn.ReLU(), tnn.Linear(8, 3))
    tmodel.load_state_dict(theirs["model"])
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-2, amsgrad=True)
    topt.load_state_dict(theirs["optimizer"])
    assert topt.param_groups[0]["betas"] == (0.8, 0.99)


def test_parameters_tied_weights_and_requires_grad():
    shared = nn.Parameter(dlcore.randn(3, 2))
    obj = {"p": shared, "again": shared, "frozen": nn.Parameter(dlcore.randn(2), requires_grad=False),
           "leaf": dlcore.randn(2).requires_grad_(True), "plain": dlcore.randn(2),
           "dtype": dlcore.bfloat16, "device": dlcore.device("cpu")}
    theirs = torch.load(io.BytesIO(save_bytes(obj)), weights_only=True)
    assert_same_as_torch(obj, theirs)
    assert theirs["p"] is theirs["again"] and isinstance(theirs["p"], tnn.Parameter)
    # tied weights in a state dict: two detached tensors over one storage
    model = nn.Sequential(nn.Embedding(7, 4), nn.Linear(4, 7, bias=False))
    model[1].weight = model[0].weight
    sd = model.state_dict()
    theirs = torch.load(io.BytesIO(save_bytes(sd)), weights_only=True)
    assert theirs["0.weight"].untyped_storage().data_ptr() == theirs["1.weight"].untyped_storage().data_ptr()
    ours = dlcore.load(io.BytesIO(save_bytes(sd)))
    ours["0.weight"].zero_()
    assert not ours["1.weight"].any()


def test_archive_layout_matches_torch(tmp_path):
    path = tmp_path / "model.pth"
    dlcore.save({"w": dlcore.ones(3), "b": dlcore.zeros(5, dtype=dlcore.int64)}, path)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[0] == "model/data.pkl" and "model/version" in names and "model/byteorder" in names
        assert zf.read("model/byteorder") == b"little" and zf.read("model/.storage_alignment") == b"64"
        assert zf.testzip() is None  # every CRC right
        raw = path.read_bytes()
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
            start = info.header_offset + 30 + name_len + extra_len
            assert start % 64 == 0, info.filename
    assert dlcore.load(tmp_path / "model.pth")["b"].dtype == dlcore.int64
    assert torch.load(path, mmap=True)["w"].tolist() == [1.0, 1.0, 1.0]  # torch maps the aligned records


def test_zip64_records_read_by_zipfile_torch_and_dlcore(monkeypatch):
    monkeypatch.setattr(_pt_archive, "_ZIP64_LIMIT", 0)  # every size and offset "too large"
    obj = {"w": dlcore.arange(10).float(), "n": 3}
    data = save_bytes(obj)
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    assert torch.load(io.BytesIO(data))["w"].tolist() == list(range(10))
    assert dlcore.load(io.BytesIO(data))["w"].tolist() == list(range(10))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickle_protocols(protocol):
    ckpt = adam_checkpoint()
    data = save_bytes(ckpt, pickle_protocol=protocol)
    assert_same_as_torch(dlcore.load(io.BytesIO(data)), torch.load(io.BytesIO(data), weights_only=False))


def test_cuda_location_and_map_location(monkeypatch):
    """A storage saved from cuda:0 (the location is patched: no GPU needed)."""
    monkeypatch.setattr(_pt_archive, "_location", lambda device: "cuda:0")
    data = save_bytes({"w": dlcore.arange(3).float()})
    monkeypatch.undo()
    assert torch.load(io.BytesIO(data), map_location="cpu")["w"].tolist() == [0, 1, 2]
    if not dlcore.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available here; pass map_location='cpu'"):
            dlcore.load(io.BytesIO(data))
    seen = []

    def keep_on_cpu(storage, location):
        seen.append(location)
        return storage
    for where in ("cpu", dlcore.device("cpu"), {"cuda:0": "cpu"}, keep_on_cpu, lambda s, loc: None if
                  loc == "cpu" else s):
        out = dlcore.load(io.BytesIO(data), map_location=where)
        assert str(out["w"].device) == "cpu" and out["w"].tolist() == [0, 1, 2]
    assert seen == ["cuda:0"]
    with pytest.raises(TypeError, match="map_location"):
        dlcore.load(io.BytesIO(data), map_location=3.5)


# ---- torch.save -> dlcore.load ------------------------------------------------------------------

def test_torch_file_every_dtype_and_shared_views():
    gen = torch.Generator().manual_seed(1)
    expected = every_dtype_checkpoint(gen)
    ours = dlcore.load(io.BytesIO(torch_bytes(expected)))
    assert_same_as_torch(ours, expected)
    for name in expected:
        full = ours[name]["full"]
        for k in ("transposed", "sliced", "row", "expanded"):
            assert ours[name][k].untyped_storage_ptr() == full.untyped_storage_ptr(), (name, k)
    ours["float64"]["full"][2, 1].fill_(0.0)
    assert not ours["float64"]["row"].any()


def test_torch_checkpoint_with_optimizer_and_modules_state():
    gen = torch.Generator().manual_seed(2)
    tmodel = tnn.Sequential(tnn.Linear(5, 8), tnn.BatchNorm1d(8), tnn.ReLU(), tnn.Linear(8, 3))
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        topt.zero_grad()
        tmodel(torch.randn(4, 5, generator=gen)).sum().backward()
        topt.step()
    ckpt = {"model": tmodel.state_dict(), "optimizer": topt.state_dict(), "size": torch.Size([2, 3]),
            "param": tnn.Parameter(torch.randn(2, generator=gen)), "dtype": torch.float16,
            "device": torch.device("cpu"), "nested": [{"a": (1, 2.5, "x", None, b"by", {3})}]}
    ours = dlcore.load(io.BytesIO(torch_bytes(ckpt)))
    assert ours["size"] == (2, 3)
    del ckpt["size"], ours["size"]
    assert_same_as_torch(ours, ckpt)
    model = make_model(5)
    model.load_state_dict(ours["model"])
    x = torch.randn(4, 5, generator=gen)
    tmodel.eval()
    model.eval()
    np.testing.assert_allclose(model(to_dlcore(x)).detach().numpy(), tmodel(x).detach().numpy(), rtol=1e-6,
                               atol=1e-6)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt.load_state_dict(ours["optimizer"])


def test_unsupported_dtype_names_the_tensor(tmp_path):
    path = tmp_path / "u8.pt"
    torch.save({"model": {"conv.weight": torch.ones(2), "mask": torch.zeros(3, 4, dtype=torch.uint8)}}, path)
    with pytest.raises(RuntimeError, match=r"tensor at obj\['model'\]\['mask'\] in '.*u8\.pt' has dtype "
                                           r"torch\.uint8 \(shape \[3, 4\]"):
        dlcore.load(path)


_TORCH_FREE = r"""
import sys
sys.modules["torch"] = None  # import torch fails
import dlcore
from dlcore import nn
out = dlcore.load(sys.argv[1])
assert "torch" not in [m.split(".")[0] for m in sys.modules if sys.modules[m] is not None]
print(type(out).__name__, sorted(out), out["w"].dtype, out["w"].tolist(), out["i"].tolist(),
      isinstance(out["p"], nn.Parameter), out["p"].requires_grad, out["h"].dtype)
"""


def _env():
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(dlcore.__file__)))
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH"))
                                                       if p))


def test_loads_without_torch(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save(OrderedDict(w=torch.arange(4.0).reshape(2, 2).t(), i=torch.tensor([1, -2]),
                           p=tnn.Parameter(torch.ones(1)), h=torch.zeros(1, dtype=torch.bfloat16)), path)
    run = subprocess.run([sys.executable, "-c", _TORCH_FREE, str(path)], capture_output=True, text=True, env=_env(),
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[0] == ("OrderedDict ['h', 'i', 'p', 'w'] dlcore.float32 [[0.0, 2.0], [1.0, 3.0]] "
                                         "[1, -2] True True dlcore.bfloat16")


# ---- a torchvision ResNet-18 ------------------------------------------------------------------

class TorchBasicBlock(tnn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = tnn.Sequential(tnn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                             tnn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class TorchResNet18(tnn.Module):
    """torchvision.models.resnet18's architecture and state-dict keys."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(64)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, planes in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", tnn.Sequential(TorchBasicBlock(inplanes, planes, stride),
                                                          TorchBasicBlock(planes, planes)))
            inplanes = planes
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def random_torch_resnet18(seed):
    torch.manual_seed(seed)
    model = TorchResNet18()
    with torch.no_grad():  # BatchNorm away from its identity initialisation, so eval() uses real statistics
        for m in model.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(7)
    return model.eval()


def test_torchvision_resnet18_pth_loads_into_dlcore_resnet18(tmp_path):
    tmodel = random_torch_resnet18(0)
    path = tmp_path / "resnet18.pth"
    torch.save(tmodel.state_dict(), path)
    model = dlcore.models.resnet18()
    assert list(model.state_dict()) == list(tmodel.state_dict())
    model.load_state_dict(dlcore.load(path))
    model.eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = tmodel(x).numpy()
    with dlcore.no_grad():
        got = model(to_dlcore(x)).numpy()
    # float32 through 18 layers with different summation orders
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    # and back: dlcore's weights load into torch's model
    tback = TorchResNet18().eval()
    tback.load_state_dict(torch.load(io.BytesIO(save_bytes(model.state_dict())), weights_only=True))
    with torch.no_grad():
        np.testing.assert_array_equal(tback(x).numpy(), expected)


def test_mmap_maps_storages_copy_on_write(tmp_path):
    gen = torch.Generator().manual_seed(4)
    expected = every_dtype_checkpoint(gen)
    for writer in ("torch", "dlcore"):
        path = tmp_path / f"{writer}.pt"
        if writer == "torch":
            torch.save(expected, path)
        else:
            dlcore.save(dlcore.load(io.BytesIO(torch_bytes(expected))), path)
        before = path.read_bytes()
        ours = dlcore.load(path, mmap=True)
        assert_same_as_torch(ours, expected)
        ours["float32"]["full"].fill_(0.0)  # private mapping: the file keeps its bytes
        assert not ours["float32"]["row"].any()
        assert path.read_bytes() == before


# ---- weights_only ------------------------------------------------------------------------------

class Config:
    def __init__(self, lr, layers):
        self.lr, self.layers = lr, layers

    def __eq__(self, other):
        return type(other) is Config and vars(self) == vars(other)


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class EvalEvil(Evil):
    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("cls,global_name", [(Evil, "posix.system|nt.system"), (EvalEvil, "builtins.eval")])
def test_weights_only_refuses_code_without_running_it(tmp_path, cls, global_name):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "x": cls(marker)}, path)
    for load in (lambda: dlcore.load(path), lambda: dlcore.load(path, weights_only=True)):
        with pytest.raises(pickle.UnpicklingError, match=rf"(?s)Weights only load of '.*evil\.pt' failed.*"
                                                          rf"weights_only=False.*GLOBAL ({global_name})"):
            load()
    if cls is Evil:
        serialization.add_safe_globals([os.system])  # os is blocked even when added
        try:
            with pytest.raises(pickle.UnpicklingError, match="GLOBAL (posix|nt).system whose module (posix|nt) "
                                                             "is blocked"):
                dlcore.load(path)
        finally:
            serialization.clear_safe_globals()
    assert not marker.exists()


def test_safe_globals_allow_a_class():
    data = save_bytes({"cfg": Config(0.1, [1, 2]), "w": dlcore.ones(2)})
    with pytest.raises(pickle.UnpicklingError, match=r"GLOBAL test_serialization_pt\.Config was not an allowed "
                                                     r"global.*add_safe_globals\(\[test_serialization_pt.Config\]\)"):
        dlcore.load(io.BytesIO(data))
    with serialization.safe_globals([Config]):
        assert serialization.get_safe_globals() == [Config]
        assert dlcore.load(io.BytesIO(data))["cfg"] == Config(0.1, [1, 2])
        with torch.serialization.safe_globals([Config]):  # torch reads the same file the same way
            assert torch.load(io.BytesIO(data))["cfg"] == Config(0.1, [1, 2])
    assert serialization.get_safe_globals() == []
    with pytest.raises(pickle.UnpicklingError):
        dlcore.load(io.BytesIO(data))
    serialization.add_safe_globals([(Config, "test_serialization_pt.Config")])
    try:
        assert dlcore.load(io.BytesIO(data))["cfg"] == Config(0.1, [1, 2])
    finally:
        serialization.clear_safe_globals()
    assert dlcore.load(io.BytesIO(data), weights_only=False)["cfg"] == Config(0.1, [1, 2])


def test_numpy_needs_safe_globals_as_in_torch():
    data = save_bytes({"arr": np.arange(3.0)})
    with pytest.raises(pickle.UnpicklingError, match="numpy"):
        dlcore.load(io.BytesIO(data))
    with pytest.raises(pickle.UnpicklingError, match="numpy"):
        torch.load(io.BytesIO(data))
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    numpy_globals = [np.ndarray, np.dtype, type(np.dtype(np.float64)), multiarray._reconstruct]
    with serialization.safe_globals(numpy_globals):
        assert dlcore.load(io.BytesIO(data))["arr"].tolist() == [0.0, 1.0, 2.0]
    assert dlcore.load(io.BytesIO(data), weights_only=False)["arr"].tolist() == [0.0, 1.0, 2.0]


PLAIN = {"ints": [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31, 2**63, -2**100], "floats": (0.5, -0.0, 1e308),
         "text": ["", "ascii", "ünïcødé", "x" * 300], "bytes": [b"", b"\x00\xff", bytearray(b"ba"), b"y" * 300],
         "none": None, "bools": (True, False), "set": {1, 2}, "frozen": frozenset({3}), "complex": 1 + 2j,
         "nested": OrderedDict([("a", [{"b": ()}]), ("c", (1,)), ("d", (1, 2, 3, 4))]), 7: "int key",
         "counter": Counter("abca")}


@pytest.mark.parametrize("protocol", range(6))
def test_weights_only_unpickler_matches_pickle(protocol):
    from dlcore._pt_unpickle import WeightsOnlyUnpickler
    shared = [1, 2]
    obj = dict(PLAIN, shared=(shared, shared))
    data = pickle.dumps(obj, protocol)
    out = WeightsOnlyUnpickler(data, persistent_load=None).load()
    assert out == pickle.loads(data) == obj
    assert out["shared"][0] is out["shared"][1]


def test_damaged_pickle_never_crashes():
    from dlcore._pt_unpickle import WeightsOnlyUnpickler
    data = bytearray(archive_pickle(save_bytes(adam_checkpoint())))
    rng = np.random.default_rng(0)
    for _ in range(300):
        damaged = bytearray(data)
        for pos in rng.integers(0, len(data), size=3):
            damaged[pos] = int(rng.integers(0, 256))
        try:
            WeightsOnlyUnpickler(bytes(damaged), persistent_load=lambda pid: dlcore.zeros(64)).load()
        except Exception:  # any Python error is fine: a crash or a hang is not
            pass


def archive_pickle(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))


def test_weights_only_with_pickle_module_is_refused():
    with pytest.raises(RuntimeError, match="pickle_module"):
        dlcore.load(io.BytesIO(save_bytes({})), pickle_module=pickle)
    assert dlcore.load(io.BytesIO(save_bytes({"a": 1})), pickle_module=pickle, weights_only=False) == {"a": 1}


# ---- whole modules (weights_only=False) -----------------------------------------------------------

def test_whole_module_roundtrip(tmp_path):
    model = make_model(0)
    model(dlcore.randn(6, 5))  # BatchNorm statistics off their initial values
    path = tmp_path / "model.pt"
    dlcore.save(model, path)
    with pytest.raises(pickle.UnpicklingError, match="Sequential"):
        dlcore.load(path)
    loaded = dlcore.load(path, weights_only=False)
    assert type(loaded) is nn.Sequential and isinstance(loaded[0].weight, nn.Parameter)
    assert loaded[0].weight.requires_grad and loaded[0].weight.is_leaf
    x = dlcore.randn(4, 5)
    model.eval()
    loaded.eval()
    assert raw_dlcore(loaded(x)) == raw_dlcore(model(x))
    loaded(x).sum().backward()  # trainable
    assert loaded[0].weight.grad is not None
    tied = nn.Sequential(nn.Embedding(7, 4), nn.Linear(4, 7, bias=False))
    tied[1].weight = tied[0].weight
    twin = dlcore.load(io.BytesIO(save_bytes(tied)), weights_only=False)
    assert twin[1].weight is twin[0].weight and len(list(twin.parameters())) == 1


class OwnReduce(dlcore.Tensor):
    """A tensor class that pickles its own way."""

    def __reduce_ex__(self, proto):
        return (dlcore.full, ((2,), 7.0))


def test_tensor_subclass_with_its_own_reduce():
    data = save_bytes({"own": OwnReduce(dlcore.zeros(3)), "param": nn.Parameter(dlcore.ones(1))})
    out = dlcore.load(io.BytesIO(data), weights_only=False)
    assert out["own"].tolist() == [7.0, 7.0] and isinstance(out["param"], nn.Parameter)


# ---- damaged files ----------------------------------------------------------------------------

def checkpoint_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    dlcore.save({"model": {"w": dlcore.arange(300).float()}, "epoch": 3}, path)
    return path


@pytest.mark.parametrize("cut", [0, 3, 100, 700, -22, -1])
def test_truncated_file_is_a_clear_error(tmp_path, cut):
    data = checkpoint_file(tmp_path).read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[:cut])
    with pytest.raises(RuntimeError, match=r"load: '.*cut\.pt' is not a"):
        dlcore.load(path)


def test_corrupted_bytes_are_a_clear_error(tmp_path):
    path = checkpoint_file(tmp_path)
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        for record in ("ckpt/data.pkl", "ckpt/data/0"):
            info = zf.getinfo(record)
            name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
            start = info.header_offset + 30 + name_len + extra_len
            for pos in (start, start + info.file_size // 2, start + info.file_size - 1):
                damaged = bytearray(data)
                damaged[pos] ^= 0x10
                bad = tmp_path / "bad.pt"
                bad.write_bytes(bytes(damaged))
                with pytest.raises(RuntimeError, match=rf"'.*bad\.pt' is corrupted: can't read record '{record}'"):
                    dlcore.load(bad)


def test_unknown_and_legacy_files(tmp_path):
    for i, content in enumerate([b"", b"hello world, not a checkpoint", os.urandom(64), pickle.dumps({"a": 1})]):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(content)
        with pytest.raises(RuntimeError, match=rf"'.*f{i}\.bin' is not a checkpoint"):
            dlcore.load(path)
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(RuntimeError, match="before PyTorch 1.6"):
        dlcore.load(legacy)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(RuntimeError, match="not a PyTorch checkpoint"):
        dlcore.load(other_zip)


def test_without_byteorder_record():
    data = save_bytes({"w": dlcore.arange(3).float()}, _disable_byteorder_record=True)
    assert not [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.endswith("byteorder")]
    assert dlcore.load(io.BytesIO(data))["w"].tolist() == torch.load(io.BytesIO(data))["w"].tolist() == [0, 1, 2]


def test_safetensors_files_load_too(tmp_path):
    path = tmp_path / "c.safetensors"
    serialization.save_safetensors({"w": dlcore.ones(2), "epoch": 4}, path)
    out = dlcore.load(path)
    assert out["epoch"] == 4 and out["w"].tolist() == [1.0, 1.0]


# ---- writing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()], ids=["OSError", "Ctrl-C"])
def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch, error):
    path = tmp_path / "ckpt.pt"
    dlcore.save({"w": dlcore.ones(3), "epoch": 1}, path)
    before = path.read_bytes()
    written = []

    def fail_midway(fileobj, data):
        if sum(written) > 1000:
            fileobj.write(data[: len(data) // 2])
            raise error
        written.append(len(data))
        fileobj.write(data)

    monkeypatch.setattr(serialization, "_write_all", fail_midway)
    with pytest.raises(type(error)):
        dlcore.save({"w": dlcore.zeros(100000), "epoch": 2}, path)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["ckpt.pt"]
    monkeypatch.undo()
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        dlcore.save({"epoch": 3, "f": lambda: 0}, path)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["ckpt.pt"]
    assert dlcore.load(path)["epoch"] == 1


class _WriteOnly:
    def __init__(self):
        self.chunks = []

    def write(self, data):
        self.chunks.append(bytes(data))
        return len(data)


class _ReadOnly:
    def __init__(self, data):
        self.stream = io.BytesIO(data)

    def read(self, n=-1):
        return self.stream.read(n)


def test_streams_that_cannot_seek():
    out = _WriteOnly()
    dlcore.save({"w": dlcore.arange(5)}, out)
    data = b"".join(out.chunks)
    assert dlcore.load(_ReadOnly(data))["w"].tolist() == [0, 1, 2, 3, 4]
    assert torch.load(io.BytesIO(data))["w"].tolist() == [0, 1, 2, 3, 4]


def test_bad_arguments():
    with pytest.raises(TypeError, match="save: f must be a path or a binary file object"):
        dlcore.save({}, 3)
    with pytest.raises(TypeError, match="load: f must be a path or a binary file object"):
        dlcore.load(3)
    with pytest.raises(ValueError, match="mmap"):
        dlcore.load(io.BytesIO(save_bytes({})), mmap=True)
    with pytest.raises(TypeError, match="Pickler"):
        dlcore.save({}, io.BytesIO(), pickle_module=type(sys)("fake_pickle"))


# ---- pickling tensors on their own ------------------------------------------------------------

@pytest.mark.parametrize("name", list(DTYPES))
def test_pickle_and_deepcopy_tensors(name):
    gen = torch.Generator().manual_seed(3)
    base = to_dlcore(torch_sample(DTYPES[name], (4, 5), gen))
    for t in (base, base[1:, ::2].transpose(0, 1), base[2, 3], base[:0]):
        for copied in (pickle.loads(pickle.dumps(t)), pickle.loads(pickle.dumps(t, 5)), copy.deepcopy(t)):
            assert copied.dtype == t.dtype and tuple(copied.shape) == tuple(t.shape)
            assert raw_dlcore(copied) == raw_dlcore(t)
            if t.numel():
                assert copied.untyped_storage_ptr() != t.untyped_storage_ptr()
    view = base[1:2]
    assert len(pickle.dumps(view)) < len(pickle.dumps(base))  # a view pickles as its own values


class Tagged(dlcore.Tensor):
    """A tensor subclass with attributes."""


def test_pickle_requires_grad_parameters_and_modules():
    p = nn.Parameter(dlcore.randn(3))
    q = dlcore.randn(2).requires_grad_(True)
    for out in (pickle.loads(pickle.dumps([p, q, p])), copy.deepcopy([p, q, p])):
        assert isinstance(out[0], nn.Parameter) and out[0].requires_grad and out[0] is out[2]
        assert not isinstance(out[1], nn.Parameter) and out[1].requires_grad and out[1].is_leaf
        assert raw_dlcore(out[0]) == raw_dlcore(p)
    q.grad = dlcore.ones(2)
    assert copy.deepcopy(q).grad.tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(q * 2)
    tagged = Tagged(dlcore.arange(3).float())
    tagged.note = {"unit": "m"}
    twin = copy.deepcopy(tagged)
    assert type(twin) is Tagged and twin.note == {"unit": "m"} and twin.note is not tagged.note
    assert twin.tolist() == [0.0, 1.0, 2.0] and twin.untyped_storage_ptr() != tagged.untyped_storage_ptr()
    assert pickle.loads(pickle.dumps(dlcore.bfloat16)) is dlcore.bfloat16
    assert str(pickle.loads(pickle.dumps(dlcore.device("cpu")))) == "cpu"
    model = make_model(0)
    twin = copy.deepcopy(model)
    x = dlcore.randn(3, 5)
    model.eval()
    twin.eval()
    assert raw_dlcore(twin(x)) == raw_dlcore(model(x))
    with dlcore.no_grad():
        twin[0].weight.add_(1.0)
    assert raw_dlcore(twin(x)) != raw_dlcore(model(x))  # independent storage
    pickled = pickle.loads(pickle.dumps(model))
    pickled.eval()
    assert raw_dlcore(pickled(x)) == raw_dlcore(model(x))
    tied = nn.Sequential(nn.Embedding(7, 4), nn.Linear(4, 7, bias=False))
    tied[1].weight = tied[0].weight
    for twin in (copy.deepcopy(tied), pickle.loads(pickle.dumps(tied))):
        assert twin[1].weight is twin[0].weight and twin[0].weight is not tied[0].weight
