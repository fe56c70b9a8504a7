"""dlcore.data.segmentation: segmentation folders (2D PNG/JPEG, 3D NIfTI), splits, joint
augmentation and the mask/overlay/NIfTI writers."""
import os
import re
import sys
import time

import numpy as np
import pytest

from dlcore.data import segmentation as SG
from dlcore.data.segmentation import (JointAugment, SegDataError, colorize, load_segfolder, palette,
                                      random_split_indices, save_mask_png, save_nifti, save_overlay_png,
                                      split_fractions)

Image = pytest.importorskip("PIL.Image")


# ---- helpers --------------------------------------------------------------------------------------
def _save(path, arr, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    im = Image.fromarray(np.asarray(arr))
    if mode == "P":
        im.putpalette(palette(256).reshape(-1).tolist())
    im.save(path)


def _sample(rng, h=12, w=16, k=3, grey=False):
    img = rng.integers(0, 256, (h, w) if grey else (h, w, 3), dtype=np.uint8)
    mask = rng.integers(0, k, (h, w), dtype=np.uint8)
    return img, mask


def _folder(base, n=4, h=12, w=16, k=3, seed=0, grey=False, start=0):
    """Write n PNG image/mask pairs into base/images and base/masks; returns (images, masks) as
    (N, C, H, W), (N, H, W) arrays."""
    rng = np.random.default_rng(seed)
    imgs, masks = [], []
    for i in range(n):
        img, mask = _sample(rng, h, w, k, grey)
        name = f"s{start + i:02d}"
        _save(os.path.join(base, "images", name + ".png"), img)
        _save(os.path.join(base, "masks", name + ".png"), mask, mode="P" if i % 2 else None)
        imgs.append(img[None] if grey else img.transpose(2, 0, 1))
        masks.append(mask)
    return np.stack(imgs), np.stack(masks).astype(np.int64)


def _msg(*parts):
    """A regex matching all ``parts`` (escaped) in order, anything between."""
    return ".*".join(re.escape(str(p)) for p in parts)


# ---- load_segfolder: 2D -----------------------------------------------------------------------------
def test_folder_round_trip(tmp_path):
    images, masks = _folder(str(tmp_path), n=5, k=4)
    ds = load_segfolder(tmp_path)
    assert ds.images.dtype == np.uint8 and ds.images.shape == (5, 3, 12, 16)
    assert ds.masks.dtype == np.int64 and ds.masks.shape == (5, 12, 16)
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.masks, masks)
    assert ds.names == [f"s{i:02d}" for i in range(5)]
    assert ds.ndim == 2 and ds.splits is None and ds.affines is None and len(ds) == 5
    assert ds.classes == ("class0", "class1", "class2", "class3") and ds.num_classes == 4
    assert load_segfolder(tmp_path, num_classes=6).classes == tuple(f"class{i}" for i in range(6))
    with pytest.raises(ValueError, match="random_split_indices"):
        ds.split("train")
    assert "SegFolder" in repr(ds)


def test_grey_images_and_jpeg_pairing(tmp_path):
    rng = np.random.default_rng(1)
    images, masks = _folder(str(tmp_path), n=2, grey=True)
    ds = load_segfolder(tmp_path)
    assert ds.images.shape == (2, 1, 12, 16)
    np.testing.assert_array_equal(ds.images, images)
    # one RGB JPEG among grey PNGs: every image becomes RGB (grey repeated); x.jpg pairs with x.png
    _, mask = _sample(rng)
    yy, xx = np.mgrid[0:12, 0:16]
    img = np.stack([yy * 20, xx * 15, 100 + 0 * xx], axis=-1).astype(np.uint8)   # smooth: JPEG keeps it close
    _save(str(tmp_path / "images" / "t.jpg"), img)
    _save(str(tmp_path / "masks" / "t.png"), mask)
    ds = load_segfolder(tmp_path)
    assert ds.images.shape == (3, 3, 12, 16) and ds.names == ["s00", "s01", "t"]
    np.testing.assert_array_equal(ds.images[0], np.repeat(images[0], 3, axis=0))
    assert np.abs(ds.images[2].astype(int) - img.transpose(2, 0, 1)).mean() < 8  # lossy, but that image
    np.testing.assert_array_equal(ds.masks[2], mask)


def test_mask_modes(tmp_path):
    rng = np.random.default_rng(2)
    img, mask = _sample(rng, k=5)
    _save(str(tmp_path / "images" / "a.png"), img)
    _save(str(tmp_path / "images" / "b.png"), img)
    _save(str(tmp_path / "images" / "c.png"), img)
    _save(str(tmp_path / "masks" / "a.png"), mask.astype(np.uint16))                 # mode I;16
    _save(str(tmp_path / "masks" / "b.png"), np.repeat(mask[..., None], 3, axis=2))  # grey saved as RGB
    _save(str(tmp_path / "masks" / "c.png"), mask, mode="P")
    ds = load_segfolder(tmp_path)
    for i in range(3):
        np.testing.assert_array_equal(ds.masks[i], mask)


def test_classes_txt(tmp_path):
    _folder(str(tmp_path), n=2, k=2)
    (tmp_path / "classes.txt").write_text("background\ncat\ndog\n\n")
    ds = load_segfolder(tmp_path)
    assert ds.classes == ("background", "cat", "dog")
    with pytest.raises(ValueError, match=_msg("classes.txt", "3 classes", "num_classes=4")):
        load_segfolder(tmp_path, num_classes=4)
    (tmp_path / "classes.txt").write_text("background\n")
    with pytest.raises(ValueError, match=_msg("masks", "label 1", "classes.txt lists 1 classes")):
        load_segfolder(tmp_path)


def test_split_subfolders(tmp_path):
    tr = _folder(str(tmp_path / "train"), n=4, seed=1)
    va = _folder(str(tmp_path / "val"), n=2, seed=2, start=10)
    te = _folder(str(tmp_path / "test"), n=3, seed=3, start=20)
    ds = load_segfolder(tmp_path)
    assert len(ds) == 9 and ds.images.shape == (9, 3, 12, 16)
    assert set(ds.splits) == {"train", "val", "test"}
    np.testing.assert_array_equal(ds.splits["train"], [0, 1, 2, 3])
    np.testing.assert_array_equal(ds.splits["val"], [4, 5])
    np.testing.assert_array_equal(ds.splits["test"], [6, 7, 8])
    for name, (x, y) in (("train", tr), ("val", va), ("test", te)):
        xi, yi = ds.split(name)
        np.testing.assert_array_equal(xi, x)
        np.testing.assert_array_equal(yi, y)
    assert [ds.names[i] for i in ds.splits["val"]] == ["s10", "s11"]
    with pytest.raises(ValueError, match="split"):
        ds.split("holdout")


def test_split_subfolders_without_test(tmp_path):
    _folder(str(tmp_path / "train"), n=3, seed=1)
    _folder(str(tmp_path / "val"), n=2, seed=2)
    ds = load_segfolder(tmp_path)
    assert len(ds.splits["test"]) == 0 and ds.split("test")[0].shape == (0, 3, 12, 16)
    os.rename(tmp_path / "train", tmp_path / "other")
    with pytest.raises(ValueError, match="no train/"):
        load_segfolder(tmp_path)


# ---- load_segfolder: errors -----------------------------------------------------------------------
def test_error_unpaired(tmp_path):
    _folder(str(tmp_path), n=2)
    rng = np.random.default_rng(0)
    img, mask = _sample(rng)
    _save(str(tmp_path / "images" / "lonely.jpg"), img)
    with pytest.raises(ValueError, match=_msg("1 image(s)", "no mask", "lonely.jpg")):
        load_segfolder(tmp_path)
    os.remove(tmp_path / "images" / "lonely.jpg")
    _save(str(tmp_path / "masks" / "orphan.png"), mask)
    with pytest.raises(ValueError, match=_msg("1 mask(s)", "no image", "orphan.png")):
        load_segfolder(tmp_path)
    # many: a few named, the rest counted
    for i in range(8):
        _save(str(tmp_path / "masks" / f"extra{i}.png"), mask)
    with pytest.raises(ValueError, match=_msg("9 mask(s)", "extra0.png", "and 4 more")):
        load_segfolder(tmp_path)


def test_error_mask_size(tmp_path):
    _folder(str(tmp_path), n=2)
    _save(str(tmp_path / "masks" / "s01.png"), np.zeros((10, 16), np.uint8))
    with pytest.raises(ValueError, match=_msg("s01.png", "10x16", "s01.png", "12x16")):
        load_segfolder(tmp_path)
    with pytest.raises(ValueError, match="10x16"):   # checked before any resize
        load_segfolder(tmp_path, size=(8, 8))


def test_error_label_too_large(tmp_path):
    _folder(str(tmp_path), n=2, k=2)
    _save(str(tmp_path / "masks" / "s01.png"), np.full((12, 16), 7, np.uint8))
    with pytest.raises(ValueError, match=_msg("s01.png", "label 7", "num_classes=3")):
        load_segfolder(tmp_path, num_classes=3)
    assert load_segfolder(tmp_path).num_classes == 8


def test_ignore_index_and_binary_255(tmp_path):
    _folder(str(tmp_path), n=2, k=2)
    m = np.zeros((12, 16), np.uint8)
    m[:, 8:] = 255
    _save(str(tmp_path / "masks" / "s00.png"), m)
    _save(str(tmp_path / "masks" / "s01.png"), m)
    with pytest.raises(ValueError, match=_msg("only 0 and 255", "0/1")):
        load_segfolder(tmp_path)
    with pytest.raises(ValueError, match=_msg("s00.png", "label 255", "num_classes=2", "ignore_index=255")):
        load_segfolder(tmp_path, num_classes=2)
    ds = load_segfolder(tmp_path, num_classes=2, ignore_index=255)
    assert ds.masks.max() == 255 and ds.num_classes == 2
    assert load_segfolder(tmp_path, ignore_index=255).num_classes == 1


def test_error_image_sizes_differ(tmp_path):
    _folder(str(tmp_path), n=2)
    rng = np.random.default_rng(0)
    img, mask = _sample(rng, h=20, w=10)
    _save(str(tmp_path / "images" / "s05.png"), img)
    _save(str(tmp_path / "masks" / "s05.png"), mask)
    with pytest.raises(ValueError, match=_msg("s00.png", "12x16", "s05.png", "20x10", "size=")):
        load_segfolder(tmp_path)


def test_error_empty_and_layout(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        load_segfolder(tmp_path)
    os.makedirs(tmp_path / "images")
    os.makedirs(tmp_path / "masks")
    with pytest.raises(ValueError, match=_msg("no images", "images")):
        load_segfolder(tmp_path)
    os.rmdir(tmp_path / "masks")
    with pytest.raises(ValueError, match="no masks/"):
        load_segfolder(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_segfolder(tmp_path / "nowhere")


def test_error_colour_and_jpeg_masks(tmp_path):
    _folder(str(tmp_path), n=2)
    colour = np.zeros((12, 16, 3), np.uint8)
    colour[:, :8] = (255, 0, 0)
    _save(str(tmp_path / "masks" / "s01.png"), colour)
    with pytest.raises(SegDataError, match=_msg("s01.png", "colour (RGB)", "index")):
        load_segfolder(tmp_path)
    os.remove(tmp_path / "masks" / "s01.png")
    _save(str(tmp_path / "masks" / "s01.jpg"), np.zeros((12, 16), np.uint8))
    with pytest.raises(ValueError, match=_msg("s01.jpg", "PNG")):
        load_segfolder(tmp_path)


def test_size_resize(tmp_path):
    images, masks = _folder(str(tmp_path), n=3, h=12, w=16, k=4)
    rng = np.random.default_rng(5)
    img, mask = _sample(rng, h=30, w=20, k=4)     # another size: fine with size=
    _save(str(tmp_path / "images" / "z.png"), img)
    _save(str(tmp_path / "masks" / "z.png"), mask)
    ds = load_segfolder(tmp_path, size=(9, 11))
    assert ds.images.shape == (4, 3, 9, 11) and ds.images.dtype == np.uint8
    assert ds.masks.shape == (4, 9, 11) and ds.masks.dtype == np.int64
    assert ds.masks.min() >= 0 and ds.masks.max() < ds.num_classes == 4
    ref_img = np.asarray(Image.fromarray(images[0].transpose(1, 2, 0)).resize((11, 9), Image.BILINEAR))
    ref_mask = np.asarray(Image.fromarray(masks[0].astype(np.uint8)).resize((11, 9), Image.NEAREST))
    np.testing.assert_array_equal(ds.images[0], ref_img.transpose(2, 0, 1))
    np.testing.assert_array_equal(ds.masks[0], ref_mask)
    assert set(np.unique(ds.masks[3])) <= set(np.unique(mask))   # nearest: no new labels
    assert load_segfolder(tmp_path, size=8).images.shape == (4, 3, 8, 8)
    with pytest.raises(ValueError, match="size"):
        load_segfolder(tmp_path, size=(0, 4))


# ---- NIfTI ----------------------------------------------------------------------------------------
def _write_volumes(tmp_path, nib, n=2, shape=(6, 5, 4)):
    """NIfTI image/mask pairs (x, y, z) = shape; returns the arrays as written and the affines."""
    rng = np.random.default_rng(3)
    os.makedirs(tmp_path / "images")
    os.makedirs(tmp_path / "masks")
    vols, labs, affs = [], [], []
    for i in range(n):
        vol = rng.normal(100.0, 30.0, shape).astype(np.float32)
        lab = rng.integers(0, 3, shape).astype(np.uint8)
        aff = np.diag([0.8, 0.8, 2.5, 1.0])
        aff[:3, 3] = (i, -i, 3.0)
        ext = ".nii.gz" if i % 2 else ".nii"
        nib.save(nib.Nifti1Image(vol, aff), str(tmp_path / "images" / f"v{i}{ext}"))
        nib.save(nib.Nifti1Image(lab, aff), str(tmp_path / "masks" / f"v{i}{ext}"))
        vols.append(vol)
        labs.append(lab)
        affs.append(aff)
    return vols, labs, affs


def test_nifti_round_trip(tmp_path):
    nib = pytest.importorskip("nibabel")
    vols, labs, affs = _write_volumes(tmp_path, nib)
    ds = load_segfolder(tmp_path)
    assert ds.ndim == 3 and ds.names == ["v0", "v1"]
    assert ds.images.dtype == np.float32 and ds.images.shape == (2, 1, 4, 5, 6)   # (N, 1, D, H, W) = z, y, x
    assert ds.masks.dtype == np.int64 and ds.masks.shape == (2, 4, 5, 6)
    for i in range(2):
        np.testing.assert_array_equal(ds.images[i, 0], vols[i].transpose(2, 1, 0))
        np.testing.assert_array_equal(ds.masks[i], labs[i].transpose(2, 1, 0))
        np.testing.assert_allclose(ds.affines[i], affs[i])
    # save_nifti writes (D, H, W) back on the input grid
    out = save_nifti(tmp_path / "pred" / "v1.nii.gz", ds.masks[1], ds.affines[1])
    back = nib.load(out)
    assert back.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(back.dataobj), labs[1])
    np.testing.assert_allclose(back.affine, affs[1])
    assert os.listdir(tmp_path / "pred") == ["v1.nii.gz"]
    with pytest.raises(ValueError, match="size="):
        load_segfolder(tmp_path, size=(4, 4))
    with pytest.raises(ValueError, match=r"\.nii"):
        save_nifti(tmp_path / "x.png", ds.masks[0])


def test_nifti_errors(tmp_path):
    nib = pytest.importorskip("nibabel")
    _write_volumes(tmp_path, nib)
    nib.save(nib.Nifti1Image(np.zeros((6, 5, 3), np.uint8), np.eye(4)), str(tmp_path / "masks" / "v0.nii"))
    with pytest.raises(ValueError, match=_msg("v0.nii", "3x5x6", "v0.nii", "4x5x6")):
        load_segfolder(tmp_path)
    nib.save(nib.Nifti1Image(np.zeros((6, 5, 4), np.uint8), np.eye(4)), str(tmp_path / "masks" / "v0.nii"))
    nib.save(nib.Nifti1Image(np.zeros((7, 5, 4), np.float32), np.eye(4)), str(tmp_path / "images" / "v2.nii"))
    nib.save(nib.Nifti1Image(np.zeros((7, 5, 4), np.uint8), np.eye(4)), str(tmp_path / "masks" / "v2.nii"))
    with pytest.raises(ValueError, match=_msg("v0.nii", "4x5x6", "v2.nii", "4x5x7", "resample")):
        load_segfolder(tmp_path)


def test_nifti_without_nibabel(tmp_path, monkeypatch):
    os.makedirs(tmp_path / "images")
    os.makedirs(tmp_path / "masks")
    (tmp_path / "images" / "a.nii").write_bytes(b"")
    (tmp_path / "masks" / "a.nii").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "nibabel", None)
    with pytest.raises(ImportError, match="reading NIfTI needs nibabel: pip install nibabel"):
        load_segfolder(tmp_path)
    with pytest.raises(ImportError, match="pip install nibabel"):
        save_nifti(tmp_path / "out.nii", np.zeros((2, 2, 2), np.int64))


# ---- splits ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [3, 7, 10, 101])
def test_random_split_indices_partition(n):
    parts = random_split_indices(n, (0.6, 0.2, 0.2), seed=4)
    assert len(parts) == 3 and all(len(p) > 0 and p.dtype == np.int64 for p in parts)
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(n))
    if n == 10:
        assert [len(p) for p in parts] == [6, 2, 2]
    again = random_split_indices(n, (0.6, 0.2, 0.2), seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    if n > 10:
        other = random_split_indices(n, (0.6, 0.2, 0.2), seed=5)
        assert not np.array_equal(parts[1], other[1])


def test_random_split_indices_edge_cases():
    with pytest.raises(ValueError, match=_msg("2 sample(s)", "too few", "3 non-empty")):
        random_split_indices(2)
    with pytest.raises(ValueError, match="sum to 1"):
        random_split_indices(10, (0.5, 0.2))
    tr, va, te = random_split_indices(10, split_fractions(0.2))
    assert (len(tr), len(va), len(te)) == (8, 2, 0)
    assert [len(p) for p in random_split_indices(2, (0.9, 0.1, 0.0))] == [1, 1, 0]


def test_split_fractions():
    assert split_fractions() == split_fractions(None) == (0.6, 0.2, 0.2)
    f = split_fractions(0.25)
    assert f == (0.75, 0.25, 0.0)
    for bad in (0, 1.0, -0.1, "0.2", True):
        with pytest.raises(ValueError, match="val_split"):
            split_fractions(bad)


# ---- JointAugment ---------------------------------------------------------------------------------
def _blocks(rng, b=4, h=24, w=32, k=5, cell=4):
    """Masks of cell x cell blocks of random classes and images encoding them (10 * class in
    every channel, float32)."""
    m = rng.integers(0, k, (b, h // cell, w // cell))
    m = np.repeat(np.repeat(m, cell, axis=1), cell, axis=2)
    return np.repeat((10.0 * m)[:, None], 3, axis=1).astype(np.float32), m.astype(np.int64)


def test_augment_flips_crop_consistent():
    rng = np.random.default_rng(0)
    x, m = _blocks(rng)
    aug = JointAugment(crop_size=(16, 20), scale=(1.0, 1.0), hflip=0.5, vflip=0.5, seed=1)
    for _ in range(5):
        xo, mo = aug(x, m)
        assert xo.shape == (4, 3, 16, 20) and mo.shape == (4, 16, 20)
        assert xo.dtype == np.float32 and mo.dtype == np.int64
        np.testing.assert_array_equal(xo, np.repeat((10.0 * mo)[:, None], 3, axis=1))
        # each output is a (flipped) window of its input
        for b in range(4):
            found = False
            for cand in (mo[b], mo[b, :, ::-1], mo[b, ::-1], mo[b, ::-1, ::-1]):
                for i in range(24 - 16 + 1):
                    for j in range(32 - 20 + 1):
                        found |= np.array_equal(m[b, i:i + 16, j:j + 20], cand)
            assert found


def test_augment_flip_happens():
    x, m = _blocks(np.random.default_rng(1), b=1)
    xo, mo = JointAugment(scale=(1, 1), hflip=1.0, vflip=0.0)(x, m)
    np.testing.assert_array_equal(mo, m[:, :, ::-1])
    np.testing.assert_array_equal(xo, x[:, :, :, ::-1])
    xo, mo = JointAugment(scale=(1, 1), hflip=0.0, vflip=1.0)(x, m)
    np.testing.assert_array_equal(mo, m[:, ::-1])
    np.testing.assert_array_equal(xo, x[:, :, ::-1])


def test_augment_scale_consistent():
    rng = np.random.default_rng(2)
    x, m = _blocks(rng, cell=8, h=48, w=64)
    aug = JointAugment(crop_size=40, scale=(0.6, 1.6), hflip=0.5, vflip=0.5, seed=3)
    for _ in range(4):
        xo, mo = aug(x, m)
        assert xo.shape == (4, 3, 40, 40)
        inside = mo != 255
        diff = np.abs(xo[:, 0] - 10.0 * mo)
        # bilinear blurs the block edges only: where the mask's 3x3 neighbourhood is one class,
        # the image shows that class exactly
        same = inside.copy()
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                same &= np.roll(np.roll(mo, di, 1), dj, 2) == mo
        same[:, [0, -1]] = False
        same[:, :, [0, -1]] = False
        assert same.sum() > 0.4 * same.size
        assert diff[same].max() < 1e-4
        assert (diff[inside] < 1e-4).mean() > 0.7
        np.testing.assert_array_equal(xo[:, 0], xo[:, 1])


def test_augment_padding():
    rng = np.random.default_rng(4)
    x, m = _blocks(rng, b=3, h=16, w=16)
    x += 1.0                       # no zero pixel inside
    aug = JointAugment(crop_size=(32, 24), scale=(0.5, 0.5), hflip=0.0, ignore_index=99, seed=0)
    xo, mo = aug(x, m)
    assert xo.shape == (3, 3, 32, 24) and mo.shape == (3, 32, 24)
    pad = mo == 99
    assert pad.sum(axis=(1, 2)).tolist() == [32 * 24 - 8 * 8] * 3      # an 8x8 sample in the canvas
    np.testing.assert_array_equal(xo[:, 0] == 0, pad)
    assert not np.array_equal(pad[0], pad[1]) or not np.array_equal(pad[1], pad[2])  # random placement


def test_augment_identity_and_uint8():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (3, 3, 10, 14), dtype=np.uint8)
    m = rng.integers(0, 4, (3, 10, 14))
    xo, mo = JointAugment(crop_size=None, scale=(1, 1), hflip=0, vflip=0)(x, m)
    assert xo.dtype == np.uint8 and xo is not x
    np.testing.assert_array_equal(xo, x)
    np.testing.assert_array_equal(mo, m)
    xo, _ = JointAugment(crop_size=8, scale=(0.7, 1.4))(x, m)
    assert xo.dtype == np.uint8 and xo.shape == (3, 3, 8, 8)


def test_augment_determinism():
    x, m = _blocks(np.random.default_rng(6))
    a1 = JointAugment(crop_size=20, vflip=0.5, seed=7)
    a2 = JointAugment(crop_size=20, vflip=0.5, seed=7)
    r1 = [a1(x, m) for _ in range(3)]
    r2 = [a2(x, m) for _ in range(3)]
    for (x1, m1), (x2, m2) in zip(r1, r2):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(m1, m2)
    assert not np.array_equal(r1[0][1], r1[1][1])     # the augmenter's stream moves on
    g1, g2 = np.random.default_rng([1, 2]), np.random.default_rng([1, 2])
    np.testing.assert_array_equal(a1(x, m, rng=g1)[1], a2(x, m, rng=g2)[1])
    np.testing.assert_array_equal(a1(x, m, rng=11)[0], a2(x, m, rng=11)[0])


def test_augment_3d():
    rng = np.random.default_rng(8)
    m = np.repeat(np.repeat(np.repeat(rng.integers(0, 3, (2, 3, 4, 5)), 4, 1), 4, 2), 4, 3)   # (2, 12, 16, 20)
    x = (10.0 * m)[:, None].astype(np.float32)
    aug = JointAugment(crop_size=(8, 12, 16), scale=(1.0, 1.0), hflip=0.5, vflip=0.5, seed=2)
    xo, mo = aug(x, m)
    assert xo.shape == (2, 1, 8, 12, 16) and mo.shape == (2, 8, 12, 16)
    np.testing.assert_array_equal(xo[:, 0], 10.0 * mo)
    xo, mo = JointAugment(scale=(1, 1), hflip=1.0, vflip=1.0)(x, m)     # flips along W and H, not D
    np.testing.assert_array_equal(mo, m[:, :, ::-1, ::-1])
    xo, mo = JointAugment(crop_size=10, scale=(0.7, 1.3), seed=4)(x, m)
    assert xo.shape == (2, 1, 10, 10, 10)
    inner = mo[:, 2:-2, 2:-2, 2:-2]
    assert set(np.unique(mo)) <= {0, 1, 2, 255}
    assert np.mean(np.abs(xo[:, 0, 2:-2, 2:-2, 2:-2] - 10.0 * inner)[inner != 255] < 1e-4) > 0.5
    with pytest.raises(ValueError, match="spatial axes"):
        JointAugment(crop_size=(8, 8))(x, m)


def test_augment_matches_torch_interpolate():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(9)
    x = rng.random((3, 11, 17)).astype(np.float32)
    m = rng.integers(0, 6, (11, 17))
    for (hs, ws), (oh, ow) in (((15, 23), (9, 12)), ((7, 13), (7, 13)), ((20, 9), (14, 9))):
        ref = F.interpolate(torch.from_numpy(x)[None], size=(hs, ws), mode="bilinear", align_corners=False)[0].numpy()
        refm = F.interpolate(torch.from_numpy(m.astype(np.float32))[None, None], size=(hs, ws),
                             mode="nearest-exact")[0, 0].numpy().astype(np.int64)
        for oy, ox, fy, fx in ((0, 0, False, False), (hs - oh, ws - ow, True, False), (1, 0, False, True)):
            if oy > hs - oh or ox > ws - ow:
                continue
            maps = [SG._AxisMap(11, hs, oh, oy, fy), SG._AxisMap(17, ws, ow, ox, fx)]
            got = SG._resample_image(x, maps, np.float32)
            gotm = SG._resample_mask(m, maps, 255)
            want = ref[:, oy:oy + oh, ox:ox + ow]
            wantm = refm[oy:oy + oh, ox:ox + ow]
            if fy:
                want, wantm = want[:, ::-1], wantm[::-1]
            if fx:
                want, wantm = want[:, :, ::-1], wantm[:, ::-1]
            np.testing.assert_allclose(got, want, atol=1e-6)
            np.testing.assert_array_equal(gotm, wantm)


def test_augment_speed():
    rng = np.random.default_rng(10)
    x = rng.random((8, 3, 128, 256)).astype(np.float32)
    m = rng.integers(0, 5, (8, 128, 256))
    aug = JointAugment(crop_size=None, vflip=0.5)
    best = min(_timed(aug, x, m) for _ in range(5))
    assert best < 0.1, f"JointAugment took {best * 1e3:.1f} ms for 8x3x128x256 (target 30 ms)"


def _timed(aug, x, m):
    t = time.perf_counter()
    aug(x, m)
    return time.perf_counter() - t


def test_augment_argument_errors():
    x, m = _blocks(np.random.default_rng(0), b=2)
    with pytest.raises(ValueError, match="masks must be"):
        JointAugment()(x, m[:, :-1])
    with pytest.raises(ValueError, match="integer"):
        JointAugment()(x, m.astype(np.float32))
    with pytest.raises(ValueError, match="scale"):
        JointAugment(scale=(1.2, 0.8))
    with pytest.raises(ValueError, match="crop_size"):
        JointAugment(crop_size=0)
    with pytest.raises(ValueError, match="hflip"):
        JointAugment(hflip=2)


# ---- output helpers -------------------------------------------------------------------------------
def test_palette():
    p = palette(21)
    assert p.dtype == np.uint8 and p.shape == (21, 3)
    assert p[0].tolist() == [0, 0, 0]
    np.testing.assert_array_equal(p, palette(21))
    np.testing.assert_array_equal(palette(5), p[:5])
    assert len({tuple(c) for c in palette(256)}) == 256
    d = np.abs(p[1:9, None].astype(int) - p[None, 1:9].astype(int)).sum(-1)
    assert d[~np.eye(8, dtype=bool)].min() > 60        # the first classes are far apart


def test_colorize():
    p = palette(4)
    m = np.array([[0, 1], [2, 3]])
    c = colorize(m, p)
    assert c.dtype == np.uint8 and c.shape == (2, 2, 3)
    np.testing.assert_array_equal(c[1, 0], p[2])
    with pytest.raises(ValueError, match=_msg("value 4", "4 colours")):
        colorize(m + 1, p)


def test_save_mask_png_reads_back(tmp_path):
    rng = np.random.default_rng(11)
    m = rng.integers(0, 7, (13, 9))
    p = palette(7)
    path = save_mask_png(tmp_path / "out" / "m.png", m, p)
    with Image.open(path) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), m)
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), p[m])
    assert os.listdir(tmp_path / "out") == ["m.png"]
    # a mask folder written this way loads back
    _save(str(tmp_path / "ds" / "images" / "a.png"), np.zeros((13, 9), np.uint8))
    save_mask_png(tmp_path / "ds" / "masks" / "a.png", m, p)
    np.testing.assert_array_equal(load_segfolder(tmp_path / "ds").masks[0], m)
    with pytest.raises(ValueError, match="value 7"):
        save_mask_png(tmp_path / "bad.png", m + 1, p)
    assert not os.path.exists(tmp_path / "bad.png")


def test_save_overlay_png(tmp_path):
    rng = np.random.default_rng(12)
    img = rng.random((3, 6, 8)).astype(np.float32)
    m = rng.integers(0, 3, (6, 8))
    p = palette(3)
    path = save_overlay_png(tmp_path / "o.png", img, m, p, alpha=0.5)
    with Image.open(path) as im:
        assert im.mode == "RGB"
        out = np.asarray(im).astype(np.float64)
    base = img.transpose(1, 2, 0) * 255.0
    want = np.where((m > 0)[..., None], 0.5 * base + 0.5 * p[m], base)
    assert np.abs(out - want).max() <= 0.51
    np.testing.assert_array_equal(out[m == 0], np.rint(base[m == 0]))
    grey = rng.integers(0, 256, (1, 6, 8), dtype=np.uint8)
    with Image.open(save_overlay_png(tmp_path / "g.png", grey, m, p, alpha=1.0)) as im:
        out = np.asarray(im)
    np.testing.assert_array_equal(out[m > 0], p[m[m > 0]])
    np.testing.assert_array_equal(out[m == 0], np.repeat(grey[0][m == 0][:, None], 3, axis=1))
    # background=None colours every class (label sets without a background); another index leaves that one
    with Image.open(save_overlay_png(tmp_path / "a.png", grey, m, p, alpha=1.0, background=None)) as im:
        np.testing.assert_array_equal(np.asarray(im), p[m])
    with Image.open(save_overlay_png(tmp_path / "b.png", grey, m, p, alpha=1.0, background=2)) as im:
        out = np.asarray(im)
    np.testing.assert_array_equal(out[m != 2], p[m[m != 2]])
    np.testing.assert_array_equal(out[m == 2], np.repeat(grey[0][m == 2][:, None], 3, axis=1))
    with pytest.raises(ValueError, match=_msg("5x8", "6x8")):
        save_overlay_png(tmp_path / "x.png", img, m[:5], p)
    assert sorted(os.listdir(tmp_path)) == ["a.png", "b.png", "g.png", "o.png"]
