"""dlcore.data: datasets, random_split, DataLoader, transforms and the bundled datasets."""
import gc
import gzip
import threading
import time

import numpy as np
import pytest

import dlcore
from dlcore.data import (ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, default_collate,
                         random_split)
from dlcore.data import datasets
from dlcore.data import transforms as T

torch = pytest.importorskip("torch")


def _np(t):
    return t.numpy() if isinstance(t, dlcore.Tensor) else np.asarray(t)


class _Range(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i


# ---- datasets and splits ----------------------------------------------------------------------
def test_tensor_dataset_and_size_mismatch():
    x, y = dlcore.randn(7, 3), dlcore.arange(7)
    ds = TensorDataset(x, y)
    assert len(ds) == 7
    xi, yi = ds[3]
    np.testing.assert_array_equal(_np(xi), _np(x)[3])
    assert yi.item() == 3
    with pytest.raises(ValueError, match=r"TensorDataset.*\[7, 3\].*\[6\]"):
        TensorDataset(x, dlcore.arange(6))


def test_abstract_dataset_subset_concat():
    with pytest.raises(NotImplementedError):
        Dataset()[0]
    c = ConcatDataset([_Range(3), _Range(4)])
    assert len(c) == 7 and [c[i] for i in range(7)] == [0, 1, 2, 0, 1, 2, 3] and c[-1] == 3
    assert len(_Range(2) + _Range(5)) == 7
    with pytest.raises(IndexError, match="ConcatDataset"):
        c[7]
    s = Subset(_Range(10), [9, 2, 5])
    assert len(s) == 3 and [s[i] for i in range(3)] == [9, 2, 5]


@pytest.mark.filterwarnings("ignore:Length of split")
@pytest.mark.parametrize("n,fracs", [(10, [0.6, 0.2, 0.2]), (7, [0.5, 0.5]), (33, [0.3, 0.3, 0.4]),
                                     (1, [0.5, 0.5]), (101, [0.1] * 10)])
def test_random_split_fraction_sizes_match_torch(n, fracs):
    ours = [len(s) for s in random_split(_Range(n), fracs, generator=0)]
    ref = [len(s) for s in torch.utils.data.random_split(range(n), fracs, generator=torch.Generator().manual_seed(0))]
    assert ours == ref


def test_random_split_disjoint_deterministic():
    parts = random_split(_Range(50), [30, 15, 5], generator=123)
    idx = [set(p.indices) for p in parts]
    assert [len(i) for i in idx] == [30, 15, 5]
    assert set.union(*idx) == set(range(50)) and sum(len(i) for i in idx) == 50
    again = random_split(_Range(50), [30, 15, 5], generator=123)
    assert [p.indices for p in parts] == [p.indices for p in again]
    other = random_split(_Range(50), [30, 15, 5], generator=124)
    assert [p.indices for p in parts] != [p.indices for p in other]
    # None uses dlcore's global generator: reproducible through manual_seed
    dlcore.manual_seed(5)
    a = random_split(_Range(20), [0.5, 0.5])
    dlcore.manual_seed(5)
    b = random_split(_Range(20), [0.5, 0.5])
    assert a[0].indices == b[0].indices
    assert sorted(a[0].indices + a[1].indices) == list(range(20))


def test_random_split_errors():
    with pytest.raises(ValueError, match="sum to 9.*10 samples"):
        random_split(_Range(10), [5, 4])
    with pytest.raises(ValueError, match="random_split"):
        random_split(_Range(10), [0.5, 0.2])
    with pytest.raises(TypeError, match="generator"):
        random_split(_Range(10), [5, 5], generator="seed")


# ---- collate ---------------------------------------------------------------------------------
def test_default_collate_structures():
    b = default_collate([(dlcore.ones(2, 3), 1), (dlcore.zeros(2, 3), 4)])
    assert isinstance(b, list) and b[0].shape == (2, 2, 3)
    assert b[1].dtype == dlcore.int64 and b[1].tolist() == [1, 4]
    d = default_collate([{"x": np.arange(3, dtype=np.float32), "y": 0.5, "name": "a"},
                         {"x": np.arange(3, dtype=np.float32) + 1, "y": 1.5, "name": "b"}])
    assert d["x"].shape == (2, 3) and d["x"].dtype == dlcore.float32
    np.testing.assert_array_equal(_np(d["x"]), [[0, 1, 2], [1, 2, 3]])
    assert d["y"].dtype == dlcore.float64 and d["name"] == ["a", "b"]
    u8 = default_collate([np.array([1, 2], np.uint8), np.array([3, 4], np.uint8)])
    assert u8.dtype == dlcore.int64 and u8.tolist() == [[1, 2], [3, 4]]
    ref = torch.utils.data.default_collate([(np.ones(2), 3), (np.zeros(2), 5)])
    ours = default_collate([(np.ones(2), 3), (np.zeros(2), 5)])
    np.testing.assert_array_equal(_np(ours[0]), ref[0].numpy())
    np.testing.assert_array_equal(_np(ours[1]), ref[1].numpy())
    with pytest.raises(ValueError, match=r"equal shapes.*\(2,\).*\(3,\)"):
        default_collate([dlcore.ones(2), dlcore.ones(3)])
    with pytest.raises(TypeError, match="object"):
        default_collate([object(), object()])


# ---- DataLoader -------------------------------------------------------------------------------
@pytest.mark.parametrize("prefetch", [0, 2])
@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, False), (10, 3, True), (7, 7, False), (1, 4, False),
                                            (33, 5, True)])
def test_loader_batches_len(n, bs, drop_last, prefetch):
    x = dlcore.arange(n * 2, dtype=dlcore.float32).reshape(n, 2)
    y = dlcore.arange(n)
    for ds in (TensorDataset(x, y), _Range(n)):
        dl = DataLoader(ds, batch_size=bs, drop_last=drop_last, prefetch=prefetch)
        ref = torch.utils.data.DataLoader(range(n), batch_size=bs, drop_last=drop_last)
        batches = list(dl)
        assert len(batches) == len(dl) == len(ref)
        expected = [b.tolist() for b in ref]
        if isinstance(ds, TensorDataset):
            assert [b[1].tolist() for b in batches] == expected
            for b in batches:
                np.testing.assert_array_equal(_np(b[0]), _np(x)[b[1].tolist()])
        else:
            assert [b.tolist() for b in batches] == expected


def test_loader_fast_path_matches_per_sample():
    x, y = dlcore.randn(17, 3, 2), dlcore.arange(17)
    fast = list(DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, generator=7))
    slow = list(DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, generator=7,
                           collate_fn=lambda b: default_collate(b)))  # a custom collate: per-sample path
    assert len(fast) == len(slow) == 5
    for (fx, fy), (sx, sy) in zip(fast, slow):
        np.testing.assert_array_equal(_np(fx), _np(sx))
        np.testing.assert_array_equal(_np(fy), _np(sy))


def test_loader_shuffle_reproducible_and_epoch_dependent():
    ds = _Range(40)
    order = lambda dl: [i for b in dl for i in b.tolist()]  # noqa: E731
    dl = DataLoader(ds, batch_size=8, shuffle=True, generator=3)
    e1, e2 = order(dl), order(dl)
    assert sorted(e1) == sorted(e2) == list(range(40))
    assert e1 != e2 and e1 != list(range(40))
    dl2 = DataLoader(ds, batch_size=8, shuffle=True, generator=3)
    assert order(dl2) == e1 and order(dl2) == e2
    dlcore.manual_seed(11)
    g1 = order(DataLoader(ds, batch_size=8, shuffle=True))
    dlcore.manual_seed(11)
    g2 = order(DataLoader(ds, batch_size=8, shuffle=True))
    assert g1 == g2 and sorted(g1) == list(range(40))


def test_loader_sampler_and_collate_fn():
    dl = DataLoader(_Range(10), batch_size=2, sampler=[9, 8, 7], collate_fn=lambda b: b)
    assert list(dl) == [[9, 8], [7]] and len(dl) == 2
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(_Range(3), sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_Range(3), batch_size=0)


class _Failing(Dataset):
    def __len__(self):
        return 20

    def __getitem__(self, i):
        if i == 9:
            raise KeyError(f"bad sample {i}")
        return i


@pytest.mark.parametrize("prefetch", [0, 1, 3])
def test_loader_worker_exception_propagates(prefetch):
    seen = []
    with pytest.raises(KeyError, match="bad sample 9"):
        for b in DataLoader(_Failing(), batch_size=4, prefetch=prefetch):
            seen.append(b.tolist())
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7]]  # the batches before the failing one still arrive


def _loader_threads():
    return [t for t in threading.enumerate() if t.name == "dlcore-dataloader"]


def test_loader_early_break_stops_thread():
    before = len(_loader_threads())
    for _ in range(3):
        for i, b in enumerate(DataLoader(_Range(1000), batch_size=2, prefetch=2)):
            if i == 1:
                break
    gc.collect()
    deadline = time.time() + 5
    while len(_loader_threads()) > before and time.time() < deadline:
        time.sleep(0.01)
    assert len(_loader_threads()) == before
    it = iter(DataLoader(_Range(1000), batch_size=2))
    next(it)
    it.close()
    with pytest.raises(StopIteration):
        next(it)


def test_loader_prefetches_ahead():
    produced = []

    class Slow(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            produced.append(i)
            return i

    it = iter(DataLoader(Slow(), batch_size=1, prefetch=2))
    first = next(it)
    deadline = time.time() + 5
    while len(produced) < 4 and time.time() < deadline:  # current + 2 queued + 1 waiting to be queued
        time.sleep(0.01)
    assert first.tolist() == [0] and 3 <= len(produced) <= 4
    assert [b.tolist()[0] for b in it] == list(range(1, 8))


# ---- transforms ------------------------------------------------------------------------------
def test_to_tensor_and_normalize():
    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    t = T.ToTensor()(hwc)
    assert t.shape == (3, 5, 7) and t.dtype == dlcore.float32
    np.testing.assert_allclose(_np(t), hwc.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    hw = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    np.testing.assert_allclose(_np(T.ToTensor()(hw)), hw[None] / 255.0, rtol=1e-6)
    n = T.Normalize([0.5, 0.4, 0.3], [0.2, 0.25, 0.5])(t)
    ref = (hwc.transpose(2, 0, 1) / 255.0 - np.array([0.5, 0.4, 0.3])[:, None, None]) / np.array(
        [0.2, 0.25, 0.5])[:, None, None]
    np.testing.assert_allclose(_np(n), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"2 values.*3 channels.*\[3, 5, 7\]"):
        T.Normalize([0.5, 0.5], [1, 1])(t)


def test_random_horizontal_flip():
    x = dlcore.rand(2, 3, 5)
    np.testing.assert_array_equal(_np(T.RandomHorizontalFlip(1.0)(x)), _np(x)[..., ::-1])
    np.testing.assert_array_equal(_np(T.RandomHorizontalFlip(0.0)(x)), _np(x))
    dlcore.manual_seed(0)
    flips = [bool((_np(T.RandomHorizontalFlip(0.5)(x)) != _np(x)).any()) for _ in range(200)]
    assert 60 < sum(flips) < 140


def test_random_crop_is_a_window_of_the_padded_image():
    x = dlcore.rand(3, 6, 7)
    padded = np.pad(_np(x), ((0, 0), (2, 2), (2, 2)))
    dlcore.manual_seed(1)
    seen = set()
    for _ in range(50):
        c = _np(T.RandomCrop(5, padding=2)(x))
        assert c.shape == (3, 5, 5)
        hits = [(i, j) for i in range(padded.shape[1] - 4) for j in range(padded.shape[2] - 4)
                if np.array_equal(padded[:, i:i + 5, j:j + 5], c)]
        assert hits
        seen.add(hits[0])
    assert len(seen) > 5
    np.testing.assert_array_equal(_np(T.RandomCrop((6, 7))(x)), _np(x))
    with pytest.raises(ValueError, match="RandomCrop.*larger"):
        T.RandomCrop(8)(x)


def test_random_affine_translate():
    x = dlcore.rand(1, 10, 10) + 1.0  # strictly positive, so the filled border is visible
    dlcore.manual_seed(2)
    shifts = set()
    for _ in range(40):
        y = _np(T.RandomAffine(degrees=0, translate=(0.2, 0.3))(x))
        assert y.shape == (1, 10, 10)
        found = None
        for dy in range(-3, 4):
            for dx in range(-2, 3):
                ref = np.zeros((1, 10, 10), np.float32)
                src = _np(x)
                ref[:, max(dy, 0):10 + min(dy, 0), max(dx, 0):10 + min(dx, 0)] = \
                    src[:, max(-dy, 0):10 + min(-dy, 0), max(-dx, 0):10 + min(-dx, 0)]
                if np.array_equal(ref, y):
                    found = (dy, dx)
        assert found is not None
        shifts.add(found)
    assert len(shifts) > 5
    with pytest.raises(NotImplementedError, match="rotation"):
        T.RandomAffine(degrees=10)


def test_color_jitter_matches_numpy():
    rng = np.random.default_rng(3)
    img = rng.random((3, 4, 5)).astype(np.float32)
    x = dlcore.from_numpy(img)
    gray = 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]
    for kind in ("brightness", "contrast", "saturation"):
        out = _np(T.ColorJitter(**{kind: (0.7, 0.7)})(x))
        if kind == "brightness":
            ref = img * 0.7
        elif kind == "contrast":
            ref = 0.7 * img + 0.3 * gray.mean()
        else:
            ref = 0.7 * img + 0.3 * gray[None]
        np.testing.assert_allclose(out, np.clip(ref, 0, 1), rtol=1e-5, atol=1e-6)
    dlcore.manual_seed(4)
    a = _np(T.ColorJitter(0.4, 0.4, 0.4)(x))
    dlcore.manual_seed(4)
    b = _np(T.ColorJitter(0.4, 0.4, 0.4)(x))
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 1 and not np.array_equal(a, img)


def test_compose_reproducible():
    tf = T.Compose([T.ToTensor(), T.RandomCrop(4, padding=1), T.RandomHorizontalFlip(), T.Normalize(0.5, 0.5)])
    img = np.random.default_rng(0).integers(0, 256, (6, 6), dtype=np.uint8)
    dlcore.manual_seed(9)
    a = [_np(tf(img)) for _ in range(5)]
    dlcore.manual_seed(9)
    b = [_np(tf(img)) for _ in range(5)]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
        assert u.shape == (1, 4, 4)


# ---- bundled and file datasets ----------------------------------------------------------------
def test_mnist_splits():
    splits = {s: datasets.MNIST(s) for s in ("train", "val", "test")}
    assert {s: len(d) for s, d in splits.items()} == {"train": 6000, "val": 2000, "test": 2000}
    img, label = splits["train"][0]
    assert img.shape == (1, 28, 28) and img.dtype == dlcore.float32
    assert label.dtype == dlcore.int64 and 0 <= label.item() <= 9
    data, targets = splits["test"].tensors()
    assert data.shape == (2000, 1, 28, 28) and targets.shape == (2000,) and targets.dtype == dlcore.int64
    x = _np(data)
    assert x.min() == 0.0 and x.max() == 1.0
    for d in splits.values():  # shuffled before splitting: every class in every split, roughly balanced
        counts = np.bincount(_np(d.targets), minlength=10)
        assert counts.min() > 0.06 * len(d) and counts.max() < 0.15 * len(d)
    # disjoint and the same every time
    rows = {s: {r.tobytes() for r in (_np(d.data) * 255).round().astype(np.uint8)} for s, d in splits.items()}
    assert len(rows["train"] & rows["test"]) < 20  # MNIST has a few duplicate digits
    np.testing.assert_array_equal(_np(datasets.MNIST("val").targets), _np(splits["val"].targets))
    with pytest.raises(ValueError, match="split"):
        datasets.MNIST("training")


def test_mnist_transform_and_loader():
    ds = datasets.MNIST("val", transform=T.Normalize(0.1307, 0.3081))
    img, _ = ds[5]
    np.testing.assert_allclose(_np(img), (_np(ds.data[5]) - 0.1307) / 0.3081, rtol=1e-5, atol=1e-5)
    x, y = next(iter(DataLoader(ds, batch_size=16, shuffle=True, generator=0)))
    assert x.shape == (16, 1, 28, 28) and y.shape == (16,) and y.dtype == dlcore.int64


def test_digits():
    pytest.importorskip("sklearn")
    d = datasets.Digits("train")
    img, label = d[0]
    assert img.shape == (1, 8, 8) and img.dtype == dlcore.float32 and label.dtype == dlcore.int64
    total = sum(len(datasets.Digits(s)) for s in ("train", "val", "test"))
    assert total == 1797 and _np(d.data).max() <= 1.0


def test_idx_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 5, 4), dtype=np.uint8)
    labels = rng.integers(0, 10, 7).astype(np.uint8)
    datasets.write_idx(tmp_path / "train-images-idx3-ubyte", images)
    datasets.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    with open(tmp_path / "train-images-idx3-ubyte", "rb") as f:
        assert f.read(4) == b"\x00\x00\x08\x03"
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "rb") as f:
        assert f.read(8) == b"\x00\x00\x08\x01\x00\x00\x00\x07"
    ds = datasets.IDX(str(tmp_path), train=True)
    assert len(ds) == 7
    np.testing.assert_allclose(_np(ds.data), images[:, None] / 255.0, rtol=1e-6)
    assert _np(ds.targets).tolist() == labels.tolist()
    f32 = rng.standard_normal((3, 2)).astype(np.float32)
    datasets.write_idx(tmp_path / "f.idx", f32)
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "f.idx"), f32)


def test_idx_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        datasets.IDX(str(tmp_path), train=False)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 12)
    datasets.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match="bad magic number 0x12340803"):
        datasets.IDX(str(tmp_path), train=False)
    datasets.write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="3 images.*2 labels"):
        datasets.IDX(str(tmp_path), train=False)
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01")
    with pytest.raises(ValueError, match="1 data bytes.*needs 5"):
        datasets.read_idx(tmp_path / "short")


def test_image_folder(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    arrays = {}
    for cls, n in (("dog", 2), ("cat", 3)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            a = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
            Image.fromarray(a).save(tmp_path / cls / f"{i}.png")
            arrays[(cls, i)] = a
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = datasets.ImageFolder(str(tmp_path))
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert len(ds) == 5 and ds.targets == [0, 0, 0, 1, 1]
    img, label = ds[4]
    assert img.shape == (3, 6, 5) and label == 1
    np.testing.assert_allclose(_np(img), arrays[("dog", 1)].transpose(2, 0, 1) / 255.0, rtol=1e-6)
    x, y = next(iter(DataLoader(ds, batch_size=5)))
    assert x.shape == (5, 3, 6, 5) and y.tolist() == [0, 0, 0, 1, 1]
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no image files"):
        datasets.ImageFolder(str(empty))
    with pytest.raises(FileNotFoundError, match="no class folders"):
        datasets.ImageFolder(str(empty / "a"))


def test_bundled_file_is_package_data():
    import os
    import dlcore.data
    folder = os.path.join(os.path.dirname(dlcore.data.__file__), "_data")
    assert os.path.isfile(os.path.join(folder, "mnist10k.npz"))
    readme = open(os.path.join(folder, "README.md")).read()
    assert "Juan Cazala" in readme and "LeCun" in readme


def test_missing_optional_dependencies(monkeypatch, tmp_path):
    import sys
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="Digits needs scikit-learn"):
        datasets.Digits()
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(ImportError, match="ImageFolder needs Pillow"):
        datasets.ImageFolder(str(tmp_path))
