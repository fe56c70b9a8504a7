"""The generated segmentation datasets (dlcore.data.datasets.segsynth): shapes2d, spheres3d, streets."""
import json
import os

import numpy as np
import pytest

from dlcore.data import datasets as D
from dlcore.data.datasets import segsynth as SS


def _runs(row):
    """Lengths of the runs of True in a 1-D boolean array."""
    padded = np.concatenate(([False], row, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return edges[1::2] - edges[0::2]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    base = tmp_path_factory.mktemp("segsynth")
    return {"shapes2d": SS.make_shapes2d(12, 64, seed=0, root=str(base / "shapes2d")),
            "spheres3d": SS.make_spheres3d(10, 32, seed=0, root=str(base / "spheres3d")),
            "streets": SS.make_streets(12, (128, 256), seed=0, root=str(base / "streets"))}


# ---- the common contract ------------------------------------------------------------------------------
def test_registry_and_package_exports():
    assert SS.SEGMENTATION_DATASETS == {"shapes2d": SS.make_shapes2d, "spheres3d": SS.make_spheres3d,
                                        "streets": SS.make_streets}
    assert D.SEGMENTATION_DATASETS is SS.SEGMENTATION_DATASETS
    for name in ("make_shapes2d", "make_spheres3d", "make_streets"):
        assert getattr(D, name) is getattr(SS, name) and name in D.__all__


@pytest.mark.parametrize("name, image_shape, mask_shape, classes", [
    ("shapes2d", (3, 64, 64), (64, 64), ("background", "rectangle", "ellipse", "triangle")),
    ("spheres3d", (1, 32, 32, 32), (32, 32, 32), ("background", "organ_a", "organ_b")),
    ("streets", (3, 128, 256), (128, 256), ("road", "sidewalk", "building", "sky", "vegetation", "car", "pole",
                                           "person", "traffic_sign")),
])
def test_contract(small, name, image_shape, mask_shape, classes):
    ds = small[name]
    n = len(ds)
    assert ds.name == name and ds.classes == classes
    assert ds.images.dtype == np.uint8 and ds.images.shape == (n,) + image_shape
    assert ds.masks.dtype == np.uint8 and ds.masks.shape == (n,) + mask_shape
    assert int(ds.masks.max()) < len(classes)
    # every class occurs, and the images use the intensity range
    assert np.all(np.bincount(ds.masks.reshape(-1), minlength=len(classes)) > 0)
    assert ds.images.min() < 40 and ds.images.max() > 200
    # splits: 60/20/20 % in order, covering every item once
    sizes = [len(ds.splits[s]) for s in ("train", "val", "test")]
    assert sizes == [n * 6 // 10, n * 2 // 10, n - n * 6 // 10 - n * 2 // 10]
    assert np.array_equal(np.concatenate([ds.splits[s] for s in ("train", "val", "test")]), np.arange(n))
    for s in ("train", "val", "test"):
        images, masks = ds.split(s)
        assert np.array_equal(images, ds.images[ds.splits[s]]) and np.array_equal(masks, ds.masks[ds.splits[s]])
    with pytest.raises(ValueError, match="split"):
        ds.split("training")
    freqs = ds.class_frequencies()
    assert list(freqs) == list(classes) and abs(sum(freqs.values()) - 1.0) < 1e-9


def test_split_sizes():
    assert SS._split_sizes(2000) == [1200, 400, 400]
    assert SS._split_sizes(200) == [120, 40, 40]
    assert SS._split_sizes(1500) == [900, 300, 300]
    assert SS._split_sizes(12) == [7, 2, 3]   # the remainder goes to test
    assert SS._split_sizes(1) == [0, 0, 1]


@pytest.mark.parametrize("name, make, kwargs", [
    ("shapes2d", SS.make_shapes2d, {"img_size": 64}),
    ("spheres3d", SS.make_spheres3d, {"size": 32}),
    ("streets", SS.make_streets, {"size": (64, 128)}),
])
def test_determinism(tmp_path, name, make, kwargs, small):
    a = make(6, seed=1, root=str(tmp_path / "a"), **kwargs)
    b = make(6, seed=1, root=str(tmp_path / "b"), **kwargs)
    assert a.images.tobytes() == b.images.tobytes() and a.masks.tobytes() == b.masks.tobytes()
    # the first n items of a larger dataset are the smaller dataset
    c = make(9, seed=1, root=str(tmp_path / "c"), **kwargs)
    assert np.array_equal(c.images[:6], a.images) and np.array_equal(c.masks[:6], a.masks)
    # another seed draws other items
    d = make(6, seed=2, root=str(tmp_path / "d"), **kwargs)
    assert not np.array_equal(d.images, a.images) and not np.array_equal(d.masks, a.masks)
    # items differ from each other
    assert not np.array_equal(a.images[0], a.images[1])


def test_content_is_pinned():
    """The content of a few items is fixed (Note [segsynth determinism]); when a drawing changes on
    purpose, bump its _FORMAT (a new cache folder) and these hashes."""
    def digest(render, *args):
        h = __import__("hashlib").sha256()
        for i in range(3):
            img, mask, _ = render(0, i, *args)
            h.update(img.tobytes())
            h.update(mask.tobytes())
        return h.hexdigest()[:16]
    assert {"shapes2d": digest(SS.render_shapes2d, 64), "spheres3d": digest(SS.render_spheres3d, 32),
            "streets": digest(SS.render_streets, (128, 256))} == PINNED


PINNED = {"shapes2d": "5fd5dc2ab8272982", "spheres3d": "70afd3884e82a1f9", "streets": "6eddaef765937354"}


# ---- the cache ----------------------------------------------------------------------------------------
def test_cache_written_once_then_loaded(tmp_path, monkeypatch):
    root = tmp_path / "s"
    a = SS.make_shapes2d(8, 64, seed=3, root=str(root))
    assert a.root == str(root)
    assert sorted(os.listdir(root)) == ["data.npz", "segsynth.json"]
    with open(root / "segsynth.json") as f:
        info = json.load(f)
    assert info["params"] == {"dataset": "shapes2d", "format": SS._FORMAT["shapes2d"], "num": 8, "size": 64, "seed": 3}
    assert info["classes"] == list(SS.SHAPES2D_CLASSES)
    assert info["counts"] == {"train": 4, "val": 1, "test": 3}
    assert sum(info["class_pixels"].values()) == 8 * 64 * 64
    assert info["content_sha256"] == SS._digest(a.images, a.masks)
    mtimes = {p: os.path.getmtime(root / p) for p in os.listdir(root)}

    def boom(*args, **kwargs):
        raise AssertionError("generated again")
    monkeypatch.setattr(SS, "render_shapes2d", boom)
    b = SS.make_shapes2d(8, 64, seed=3, root=str(root))
    assert np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)
    assert {p: os.path.getmtime(root / p) for p in os.listdir(root)} == mtimes
    # other parameters in that folder, or a folder that is not a dataset, raise
    with pytest.raises(ValueError, match="make_shapes2d: .* other parameters"):
        SS.make_shapes2d(8, 64, seed=4, root=str(root))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not a segsynth dataset"):
        SS.make_spheres3d(2, 16, root=str(tmp_path / "other"))


def test_cache_default_folder_and_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCORE_DATA", str(tmp_path / "cache"))
    a = SS.make_spheres3d(3, 16, seed=5)
    name = os.path.basename(a.root)
    assert os.path.dirname(a.root) == str(tmp_path / "cache")
    assert name.startswith("spheres3d-n3-s16-seed5-") and len(name.split("-")[-1]) == 8
    s = SS.make_streets(2, (32, 64))
    assert os.path.basename(s.root).startswith("streets-n2-s32x64-seed0-")
    # an interrupted write leaves nothing behind (no folder, no temporary folder)
    def full(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(SS.np, "savez_compressed", full)
    with pytest.raises(OSError, match="disk full"):
        SS.make_spheres3d(2, 16, seed=6)
    monkeypatch.undo()
    assert sorted(n.split("-")[0] for n in os.listdir(tmp_path / "cache")) == ["spheres3d", "streets"]
    # a cache whose data does not match its manifest raises
    with open(os.path.join(a.root, "segsynth.json")) as f:
        info = json.load(f)
    info["content_sha256"] = "0" * 64
    with open(os.path.join(a.root, "segsynth.json"), "w") as f:
        json.dump(info, f)
    with pytest.raises(ValueError, match="make_spheres3d: .*SHA-256"):
        SS.make_spheres3d(3, 16, seed=5, root=a.root)


@pytest.mark.parametrize("call, match", [
    (lambda: SS.make_shapes2d(0), "make_shapes2d: num_images"),
    (lambda: SS.make_shapes2d(2.5), "make_shapes2d: num_images"),
    (lambda: SS.make_shapes2d(True), "make_shapes2d: num_images"),
    (lambda: SS.make_shapes2d(4, img_size=16), "make_shapes2d: img_size"),
    (lambda: SS.make_shapes2d(4, seed=-1), "make_shapes2d: seed"),
    (lambda: SS.make_shapes2d(4, root=3), "make_shapes2d: root"),
    (lambda: SS.make_spheres3d(-2), "make_spheres3d: num_volumes"),
    (lambda: SS.make_spheres3d(2, size=8), "make_spheres3d: size"),
    (lambda: SS.make_spheres3d(2, seed=1.0), "make_spheres3d: seed"),
    (lambda: SS.make_streets(0), "make_streets: num_images"),
    (lambda: SS.make_streets(2, size=128), "make_streets: size"),
    (lambda: SS.make_streets(2, size=(128, 16)), "make_streets: size"),
    (lambda: SS.make_streets(2, size=(128, 256, 3)), "make_streets: size"),
    (lambda: SS.make_streets(2, seed="0"), "make_streets: seed"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---- shapes2d -----------------------------------------------------------------------------------------
def test_shapes2d_mask_is_what_is_visible():
    """Each pixel is labelled with the class of the last object covering at least half of it."""
    S = 64
    for i in range(10):
        img, mask, info = SS.render_shapes2d(7, i, S)
        expect = np.zeros((S, S), dtype=np.uint8)
        owner = np.full((S, S), -1)
        for j, (cls, box, params) in enumerate(info["objects"]):
            assert cls in (1, 2, 3)
            w, h = box[2] - box[0], box[3] - box[1]
            assert 0.1 * S - 1e-9 <= w <= 0.6 * S + 1e-9 and 0.1 * S - 1e-9 <= h <= 0.6 * S + 1e-9
            assert 0.0 <= box[0] and box[2] <= S and 0.0 <= box[1] and box[3] <= S
            rows, cols, cov = SS._coverage(cls - 1, params, box, S)
            expect[rows, cols][cov >= 0.5] = cls
            owner[rows, cols][cov >= 0.5] = j
        assert np.array_equal(mask, expect)
        assert np.array_equal(owner, info["owner"])
        # every object stays mostly visible
        for j in range(len(info["objects"])):
            assert np.count_nonzero(owner == j) > 0


def test_shapes2d_colours_not_tied_to_class(small):
    ds = small["shapes2d"]
    means = {}
    for cls in (1, 2, 3):
        pix = ds.images.transpose(0, 2, 3, 1)[ds.masks == cls].astype(np.float64)
        means[cls] = pix.mean(axis=0)
        assert pix.std(axis=0).min() > 30  # many colours per class
    assert max(np.abs(means[a] - means[b]).max() for a in means for b in means) < 80


# ---- spheres3d ----------------------------------------------------------------------------------------
def test_spheres3d_mask_is_the_ellipsoids():
    N = 32
    centres = np.arange(N) + 0.5
    z, y, x = np.meshgrid(centres, centres, centres, indexing="ij")
    for i in range(6):
        vol, mask, info = SS.render_spheres3d(2, i, N)
        assert vol.shape == (1, N, N, N)
        expect = np.zeros((N, N, N), dtype=np.uint8)
        for cls, c, radii, R, mean in info["objects"]:
            assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) > 0
            p = np.stack([z - c[0], y - c[1], x - c[2]], -1) @ R / radii
            expect[(p ** 2).sum(-1) <= 1.0 + 1e-9] = cls
        assert np.mean(expect == mask) > 0.999  # the same test up to rounding on the surface
        assert set(np.unique(mask)) == {0, 1, 2}
        b = [o for o in info["objects"] if o[0] == 2]
        a = [o for o in info["objects"] if o[0] == 1]
        # organ_b: elongated (longest radius at least 1.4x the shortest); organ_a: roundish
        assert all(o[2].max() >= 1.4 * o[2].min() for o in b)
        assert all(o[2].max() <= 1.6 * o[2].min() for o in a)


def test_spheres3d_intensities_overlap(small):
    ds = small["spheres3d"]
    v, m = ds.images[:, 0].astype(np.float64), ds.masks
    bg, a, b = v[m == 0], v[m == 1], v[m == 2]
    assert bg.mean() + 40 < a.mean() < b.mean() - 30
    # ... but a threshold on one voxel does not separate the classes
    assert np.percentile(bg, 99.9) > np.percentile(a, 1)
    assert np.percentile(a, 99) > np.percentile(b, 1)


# ---- streets ------------------------------------------------------------------------------------------
def test_streets_layout_and_thin_structures():
    H, W = 128, 256
    road, sidewalk, sky, pole, sign = (SS.STREETS_CLASSES.index(c) for c in
                                      ("road", "sidewalk", "sky", "pole", "traffic_sign"))
    seen = np.zeros(len(SS.STREETS_CLASSES), dtype=bool)
    for i in range(30):
        img, mask, info = SS.render_streets(4, i, (H, W))
        h = info["horizon"]
        assert 0 < h < H
        # sky only above the horizon, road and sidewalk only below it
        rows = np.arange(H)[:, None]
        assert not np.any((mask == sky) & (rows >= h))
        assert not np.any(((mask == road) | (mask == sidewalk)) & (rows < h))
        # the ground widens towards the bottom (perspective): the road's widest row is low
        assert np.any(mask[H - 1] == road) and (mask[H - 1] == road).sum() >= (mask[h] == road).sum()
        # poles: every horizontal run of pole pixels is >= 2 pixels wide, and so is each shaft
        for r in range(H):
            runs = _runs(mask[r] == pole)
            assert runs.size == 0 or runs.min() >= 2, (i, r, runs)
        for r0, r1, c0, c1 in info["poles"]:
            assert 2 <= c1 - c0 <= 5 and r1 - r0 >= 4
            shaft = mask[r0:r1, c0:c1]
            assert np.all((shaft == pole) | (shaft == sign))
            assert np.any(shaft == pole)
        seen |= np.bincount(mask.ravel(), minlength=len(seen)) > 0
    assert seen.all()


def test_streets_classes_look_different(small):
    """Mean colours: sky bluish, vegetation greenish, road darker than sidewalk."""
    ds = small["streets"]
    pix = ds.images.transpose(0, 2, 3, 1).astype(np.float64)

    def mean(name):
        return pix[ds.masks == SS.STREETS_CLASSES.index(name)].mean(axis=0)
    sky, veg = mean("sky"), mean("vegetation")
    assert sky[2] > sky[0] + 20
    assert veg[1] > veg[0] and veg[1] > veg[2]
    assert mean("road").sum() < mean("sidewalk").sum()
