"""dlcore.data.detection (YOLO-format datasets, letterbox, augmentation, collate) and the
generated shapes dataset (dlcore.data.datasets.shapes)."""
import hashlib
import json
import os
import pickle
import re

import numpy as np
import pytest

import dlcore
from dlcore.data import DataLoader, YOLODataset, detection_collate, letterbox, scale_boxes_back
from dlcore.data import detection as D
from dlcore.data.datasets import shapes as SH

Image = pytest.importorskip("PIL.Image")


# ---- helpers --------------------------------------------------------------------------------------
def _tree_bytes(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def _save_png(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path)


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _yolo_dir(tmp_path, items, names=("a", "b", "c", "d"), split="train"):
    """A dataset folder: ``items`` maps an image name to (uint8 image, label text or None for no file)."""
    root = tmp_path / "ds"
    for name, (img, text) in items.items():
        _save_png(str(root / "images" / split / f"{name}.png"), img)
        if text is not None:
            _write(str(root / "labels" / split / f"{name}.txt"), text)
    _write(str(root / "data.yaml"), f"{split}: images/{split}\nnames: [{', '.join(names)}]\n")
    return root


def _rect_image(h, w, box, colour=(255, 0, 0), bg=(0, 0, 0)):
    """An (h, w) image with a rectangle of ``colour`` covering the pixels whose centres lie in box xyxy."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bg
    ys, xs = np.arange(h) + 0.5, np.arange(w) + 0.5
    inside = ((ys >= box[1]) & (ys < box[3]))[:, None] & ((xs >= box[0]) & (xs < box[2]))[None, :]
    img[inside] = colour
    return img


def _redness(chw):
    """How red each pixel of a (3, H, W) float image is: r - max(g, b)."""
    return chw[0] - np.maximum(chw[1], chw[2])


def _box_mask(shape, boxes, grow):
    """Pixels whose centre lies in any of the boxes (xyxy), grown by ``grow`` pixels."""
    h, w = shape
    ys, xs = np.arange(h) + 0.5, np.arange(w) + 0.5
    m = np.zeros((h, w), bool)
    for x1, y1, x2, y2 in boxes:
        m |= ((ys >= y1 - grow) & (ys <= y2 + grow))[:, None] & ((xs >= x1 - grow) & (xs <= x2 + grow))[None, :]
    return m


@pytest.fixture(scope="module")
def tiny_shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes") / "s"
    return SH.make_shapes(str(root), num_images=40, img_size=64, seed=3)


# ---- the shapes generator -------------------------------------------------------------------------
def test_shapes_deterministic_same_bytes(tmp_path):
    a = SH.make_shapes(str(tmp_path / "a"), num_images=10, img_size=64, seed=0)
    b = SH.make_shapes(str(tmp_path / "b"), num_images=10, img_size=64, seed=0)
    ta, tb = _tree_bytes(a), _tree_bytes(b)
    assert sorted(ta) == sorted(tb) and all(ta[k] == tb[k] for k in ta)
    c = SH.make_shapes(str(tmp_path / "c"), num_images=10, img_size=64, seed=1)
    tc = _tree_bytes(c)
    pngs = [k for k in ta if k.endswith(".png")]
    assert all(ta[k] != tc[k] for k in pngs)
    assert json.loads(ta["shapes.json"])["content_sha256"] != json.loads(tc["shapes.json"])["content_sha256"]
    # image i does not depend on how many images there are
    d = SH.make_shapes(str(tmp_path / "d"), num_images=20, img_size=64, seed=0)
    assert _tree_bytes(d)[os.path.join("images", "train", "00003.png")] == ta[os.path.join("images", "train",
                                                                                           "00003.png")]


def test_shapes_content_is_pinned(tmp_path):
    """The decoded pixels and labels are the same on every machine (Note [Shapes determinism]):
    a change here means the generator changed (bump _FORMAT) or numpy's streams did."""
    root = SH.make_shapes(str(tmp_path / "p"), num_images=6, img_size=64, seed=0)
    with open(os.path.join(root, "shapes.json")) as f:
        manifest = json.load(f)
    digest = hashlib.sha256()
    for i in range(6):
        img, labels = SH.render_shapes_image(0, i, 64)
        digest.update(img.tobytes())
        digest.update(SH._label_text(labels, 64).encode())
    assert manifest["content_sha256"] == digest.hexdigest()
    assert manifest["content_sha256"] == PINNED_SHA256


PINNED_SHA256 = "0dbfaa429df518250f1a22e89bebf845882663f8aaa300c5e537547a6917260b"


def test_shapes_pngs_decode_to_the_rendered_pixels(tiny_shapes):
    ds = YOLODataset(tiny_shapes, "val", img_size=64)
    for i, path in enumerate(ds.im_files):
        index = int(os.path.basename(path)[:-4])
        img, labels = SH.render_shapes_image(3, index, 64)
        np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), img)
        x, lab = ds[i]
        np.testing.assert_allclose(x, img.transpose(2, 0, 1) / 255.0, atol=1e-6)
        np.testing.assert_allclose(lab, np.array(labels, np.float32).reshape(-1, 5), atol=1e-3)


def test_shapes_splits_layout_and_reuse(tmp_path):
    root = SH.make_shapes(str(tmp_path / "s"), num_images=10, img_size=64, seed=0)
    for split, n in (("train", 6), ("val", 2), ("test", 2)):
        assert len(os.listdir(os.path.join(root, "images", split))) == n
        assert len(os.listdir(os.path.join(root, "labels", split))) == n
    assert SH._split_counts(13, (0.6, 0.2, 0.2)) == [8, 3, 2]
    data = D.parse_data_yaml(os.path.join(root, "data.yaml"))
    assert data["names"] == ["rectangle", "ellipse", "triangle", "cross"] and data["nc"] == 4
    assert data["val"] == [os.path.join(root, "images", "val")]
    # a second call finds the dataset and writes nothing; no temporary folders are left behind
    mtime = os.path.getmtime(os.path.join(root, "shapes.json"))
    assert SH.make_shapes(str(tmp_path / "s"), num_images=10, img_size=64, seed=0) == root
    assert os.path.getmtime(os.path.join(root, "shapes.json")) == mtime
    assert os.listdir(tmp_path) == ["s"]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(root).st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700
    with pytest.raises(ValueError, match="other parameters"):
        SH.make_shapes(str(tmp_path / "s"), num_images=10, img_size=64, seed=1)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("")
    with pytest.raises(FileExistsError, match="not a shapes dataset"):
        SH.make_shapes(str(tmp_path / "other"), num_images=4, img_size=64)
    with pytest.raises(ValueError, match="splits"):
        SH.make_shapes(str(tmp_path / "bad"), num_images=4, splits=(0.5, 0.2, 0.2))


def test_shapes_default_root_and_interrupted_write(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCORE_DATA", str(tmp_path / "cache"))
    assert SH.shapes_cache_dir() == str(tmp_path / "cache")
    monkeypatch.delenv("DLCORE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert SH.shapes_cache_dir() == os.path.join(str(tmp_path / "xdg"), "dlcore")

    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    real = SH.render_shapes_image
    monkeypatch.setattr(SH, "render_shapes_image", failing)
    with pytest.raises(KeyboardInterrupt):
        SH.make_shapes(num_images=5, img_size=64)
    base = os.path.join(str(tmp_path / "xdg"), "dlcore")
    assert os.listdir(base) == []  # neither a half dataset nor the temporary folder
    monkeypatch.setattr(SH, "render_shapes_image", real)
    root = SH.make_shapes(num_images=5, img_size=64)
    assert os.path.dirname(root) == base and os.path.basename(root).startswith("shapes-n5-s64-seed0-")
    assert len(YOLODataset(root, "train", img_size=64)) == 3


def test_shapes_content_statistics(tiny_shapes):
    counts, classes, sizes, overlapping = [], [], [], 0
    for split in ("train", "val", "test"):
        ds = YOLODataset(tiny_shapes, split, img_size=64)
        for lab in ds.labels:
            counts.append(len(lab))
            classes.extend(lab[:, 0].astype(int).tolist())
            sizes.extend(np.sqrt(lab[:, 3] * lab[:, 4]).tolist())
            xyxy = np.concatenate([lab[:, 1:3] - lab[:, 3:5] / 2, lab[:, 1:3] + lab[:, 3:5] / 2], 1)
            for a in range(len(xyxy)):
                for b in range(a):
                    iw = min(xyxy[a, 2], xyxy[b, 2]) - max(xyxy[a, 0], xyxy[b, 0])
                    ih = min(xyxy[a, 3], xyxy[b, 3]) - max(xyxy[a, 1], xyxy[b, 1])
                    overlapping += iw > 0.02 and ih > 0.02
    assert min(counts) >= 1 and max(counts) <= 6 and np.mean(counts) > 2
    assert set(classes) == {0, 1, 2, 3}
    assert min(sizes) >= 0.079 and max(sizes) > 0.4
    assert overlapping >= 5


def test_shapes_boxes_are_where_the_objects_are(tiny_shapes):
    """The last object of an image is painted on top of the others: a rectangle's box interior
    has its colour and the pixels just outside do not."""
    checked = 0
    for split in ("train", "val", "test"):
        ds = YOLODataset(tiny_shapes, split, img_size=64)
        for i in range(len(ds)):
            lab = ds.labels[i]
            img = np.asarray(Image.open(ds.im_files[i]).convert("RGB")).astype(int)
            cls, cx, cy, w, h = lab[-1] * np.array([1, 64, 64, 64, 64])
            x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
            inner = img[int(np.ceil(y1)) + 1:int(y2) - 1, int(np.ceil(x1)) + 1:int(x2) - 1].reshape(-1, 3)
            colour = np.median(inner, axis=0)
            if cls == 0:
                assert np.abs(inner - colour).max() <= 12      # noise only: two uniform draws in [-3, 3]
                ring = _box_mask((64, 64), [(x1, y1, x2, y2)], 2.0) & ~_box_mask((64, 64), [(x1, y1, x2, y2)], 0.5)
                far = np.abs(img[ring] - colour).max(axis=1) > 20
                assert far.mean() > 0.8
                checked += 1
            elif cls in (1, 3) and min(w, h) >= 12:  # the box centre is inside ellipses and crosses
                centre = img[int(cy) - 1:int(cy) + 1, int(cx) - 1:int(cx) + 1].reshape(-1, 3)
                assert np.abs(centre - np.median(centre, axis=0)).max() <= 12
    assert checked >= 3


def test_shapes_dataset_class(tmp_path):
    ds = SH.Shapes("val", img_size=64, num_images=10, root=str(tmp_path / "x"))
    assert len(ds) == 2 and ds.names == list(SH.SHAPES_CLASSES) and ds._cache is not None
    x, lab = ds[0]
    assert x.shape == (3, 64, 64) and x.dtype == np.float32 and lab.shape[1] == 5


# ---- data.yaml ------------------------------------------------------------------------------------
def _yaml(tmp_path, text, name="data.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_yaml_names_list_and_mapping(tmp_path):
    (tmp_path / "images" / "train").mkdir(parents=True)
    d = D.parse_data_yaml(_yaml(tmp_path, "train: images/train\nval: images/val\nnames: [cat, 'dog #2', \"a: b\"]\n"))
    assert d["names"] == ["cat", "dog #2", "a: b"] and d["nc"] == 3 and d["test"] is None
    assert d["train"] == [str(tmp_path / "images" / "train")] and d["path"] == str(tmp_path)
    d = D.parse_data_yaml(_yaml(tmp_path, "# a comment\npath: .  # root\ntrain: images/train\nnames:\n  - cat\n"
                                          "  - dog   # comment\n"))
    assert d["names"] == ["cat", "dog"]
    d = D.parse_data_yaml(_yaml(tmp_path, "train: [images/train, more/imgs]\nnc: 3\n"
                                          "names:\n  2: c\n  0: 'a'\n  1: b\n"))
    assert d["names"] == ["a", "b", "c"] and len(d["train"]) == 2
    d = D.parse_data_yaml(_yaml(tmp_path, "names: {0: person, 1: bicycle}\ndownload: |\n  import x\n  x.get(a: 1)\n"))
    assert d["names"] == ["person", "bicycle"]
    d = D.parse_data_yaml(_yaml(tmp_path, "names:\n- a\n- b\n"))  # block list at the key's indentation
    assert d["names"] == ["a", "b"]
    d = D.parse_data_yaml(_yaml(tmp_path, "nc: 2\n"))
    assert d["names"] == ["0", "1"]
    sub = tmp_path / "sub"
    sub.mkdir()
    d = D.parse_data_yaml(_yaml(sub, "path: ..\ntrain: images/train\nnames: [a]\n"))
    assert d["path"] == str(tmp_path) and d["train"] == [str(tmp_path / "images" / "train")]


@pytest.mark.parametrize("text, message", [
    ("names: [a, b]\nnc: 3\n", "nc is 3 but 'names' lists 2"),
    ("names:\n  0: a\n  2: c\n", r"class ids 0\.\.1"),
    ("train: x\n", "names no classes"),
    ("names: [a, [b]]\n", "nested"),
    ("names: [a, b\n", "unterminated"),
    ("names:\n  - a\n    - b\n", "nested blocks"),
    ("names\n", "expected 'key: value'"),
    ("nc: many\n", "nc must be an integer"),
])
def test_yaml_errors_name_the_file(tmp_path, text, message):
    path = _yaml(tmp_path, text)
    with pytest.raises(D.YOLODataError, match=message) as e:
        D.parse_data_yaml(path)
    assert path in str(e.value)


# ---- labels and images: good and bad input -----------------------------------------------------------
def test_missing_and_empty_label_files_mean_no_objects(tmp_path):
    img = np.zeros((32, 48, 3), np.uint8)
    root = _yolo_dir(tmp_path, {"a": (img, None), "b": (img, ""), "c": (img, "\n1 0.5 0.5 0.25 0.5\n\n")})
    ds = YOLODataset(str(root), img_size=64)
    assert [len(x) for x in ds.labels] == [0, 0, 1]
    x, lab = ds[2]
    assert x.shape == (3, 64, 64)
    # 48x32 -> 64x43 (ratio 4/3), padded by 10 rows above: the box (0.5, 0.5, 0.25, 0.5) of 48x32
    info = ds.letterbox_info(2)
    assert info["orig_shape"] == (32, 48) and info["pad"] == (0, 10)
    np.testing.assert_allclose(lab, [[1, 24, 10 + 43 * 0.25, 40, 10 + 43 * 0.75]], atol=1e-4)
    assert ds[0][1].shape == (0, 5)


def test_label_tolerance_clips(tmp_path):
    img = np.zeros((32, 32, 3), np.uint8)
    root = _yolo_dir(tmp_path, {"a": (img, "0 0.5 0.5 1.005 0.4\n")})
    ds = YOLODataset(str(root), img_size=32)
    np.testing.assert_allclose(ds.labels[0], [[0, 0.5, 0.5, 1.0, 0.4]], atol=1e-6)


@pytest.mark.parametrize("text, message", [
    ("0 0.5 0.5 0.2\n", "expected 5 numbers"),
    ("0 0.5 0.5 0.2 0.2 0.3\n", "expected 5 numbers"),
    ("0 0.5 0.5 0.2 0.2 0.3 0.3\n", "segmentation"),
    ("0 0.5 abc 0.2 0.2\n", "non-numeric value 'abc'"),
    ("0 0.5 nan 0.2 0.2\n", "non-numeric value 'nan'"),
    ("4 0.5 0.5 0.2 0.2\n", "class id 4 is out of range"),
    ("-1 0.5 0.5 0.2 0.2\n", "not a non-negative integer"),
    ("1.5 0.5 0.5 0.2 0.2\n", "not a non-negative integer"),
    ("0 0.5 0.5 0 0.2\n", "width and height must be > 0"),
    ("0 0.5 0.5 0.2 -0.1\n", "width and height must be > 0"),
    ("0 1.2 0.5 0.2 0.2\n", "outside the image"),
    ("0 0.9 0.5 0.5 0.2\n", "outside the image"),
    ("0 12 20 5 6\n", "outside the image"),
])
def test_bad_labels_raise_naming_file_and_line(tmp_path, text, message):
    img = np.zeros((16, 16, 3), np.uint8)
    root = _yolo_dir(tmp_path, {"a": (img, "1 0.5 0.5 0.2 0.2\n" + text)})
    with pytest.raises(D.YOLODataError, match=message) as e:
        YOLODataset(str(root), img_size=32)
    assert f"{os.path.join(str(root), 'labels', 'train', 'a.txt')}:2:" in str(e.value)


def test_bad_images_raise_naming_the_file(tmp_path):
    img = np.zeros((16, 16, 3), np.uint8)
    root = _yolo_dir(tmp_path, {"a": (img, None)})
    bad = root / "images" / "train" / "b.png"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(D.YOLODataError, match="cannot open the image") as e:
        YOLODataset(str(root), img_size=32)
    assert str(bad) in str(e.value)
    # a truncated file has a good header: the error comes when it is decoded
    good = (root / "images" / "train" / "a.png").read_bytes()
    noisy = np.random.default_rng(0).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    _save_png(str(bad), noisy)
    bad.write_bytes(bad.read_bytes()[:200])
    ds = YOLODataset(str(root), img_size=32)
    assert ds[0][0].shape == (3, 32, 32) and len(good) > 0
    with pytest.raises(D.YOLODataError, match="cannot decode the image") as e:
        ds[1]
    assert str(bad) in str(e.value)
    with pytest.raises(D.YOLODataError, match="cannot decode") as e:
        YOLODataset(str(root), img_size=32, cache=True)


def test_dataset_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        YOLODataset(str(tmp_path / "nothing.yaml"))
    root = _yolo_dir(tmp_path, {"a": (np.zeros((8, 8, 3), np.uint8), None)})
    with pytest.raises(D.YOLODataError, match="no 'val' split"):
        YOLODataset(str(root), "val")
    (root / "data.yaml").write_text("train: images/train\nval: images/nothing\nnames: [a]\n")
    with pytest.raises(D.YOLODataError, match="do not exist"):
        YOLODataset(str(root), "val")
    with pytest.raises(ValueError, match="multiple of 32"):
        YOLODataset(str(root), img_size=100)
    (root / "data.yaml").unlink()
    with pytest.raises(D.YOLODataError, match="names="):
        YOLODataset(str(root))
    assert YOLODataset(str(root), names=["x"], img_size=32).names == ["x"]


def test_image_list_file_and_rgba_grey_images(tmp_path):
    root = tmp_path / "ds"
    _save_png(str(root / "images" / "train" / "a.png"), np.full((8, 8, 3), 200, np.uint8))
    Image.fromarray(np.full((8, 8), 50, np.uint8)).save(root / "images" / "train" / "g.png")
    Image.fromarray(np.full((8, 8, 4), 90, np.uint8)).save(root / "images" / "train" / "r.png")
    _write(str(root / "train.txt"), "./images/train/g.png\nimages/train/r.png\n")
    _write(str(root / "data.yaml"), "train: train.txt\nnames: [a]\n")
    ds = YOLODataset(str(root / "data.yaml"), img_size=32)
    assert [os.path.basename(f) for f in ds.im_files] == ["g.png", "r.png"]
    assert np.allclose(ds[0][0][:, 12, 12], 50 / 255) and np.allclose(ds[1][0][:, 12, 12], 90 / 255)


# ---- letterbox ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(50, 80), (80, 50), (64, 64), (200, 90), (20, 30)])
def test_letterbox_and_scale_boxes_back_round_trip(shape):
    h, w = shape
    box = np.array([w * 0.2, h * 0.3, w * 0.7, h * 0.9], np.float32)
    img = _rect_image(h, w, box, colour=(255, 255, 255))
    out, ratio, pad = letterbox(img, 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    mapped = np.array([box[0] * ratio[0] + pad[0], box[1] * ratio[1] + pad[1], box[2] * ratio[0] + pad[0],
                       box[3] * ratio[1] + pad[1]])
    # the white object is inside the mapped box and fills it
    white = out.min(axis=2) > 200
    assert white[_box_mask((64, 64), [mapped], -1.0)].all()
    assert not white[~_box_mask((64, 64), [mapped], 1.0)].any()
    # the padding is grey 114
    nh, nw = round(h * ratio[1]), round(w * ratio[0])
    assert (out[:pad[1]] == 114).all() and (out[pad[1] + nh:] == 114).all()
    assert (out[:, :pad[0]] == 114).all() and (out[:, pad[0] + nw:] == 114).all()
    back = scale_boxes_back(mapped[None], ratio, pad, (h, w))
    np.testing.assert_allclose(back[0], box, atol=1e-3)
    # clipped to the original image; a scalar ratio is accepted; extra columns are kept
    far = scale_boxes_back(np.array([[-5.0, -5.0, 100.0, 100.0, 0.9]]), ratio, pad, (h, w))
    np.testing.assert_allclose(far[0], [0, 0, w, h, 0.9], atol=1e-4)
    assert scale_boxes_back(mapped[None], ratio[0], pad, (h, w)).shape == (1, 4)


def test_letterbox_no_upscale_and_rectangle():
    img = np.zeros((20, 30, 3), np.uint8)
    out, ratio, pad = letterbox(img, 64, scaleup=False)
    assert ratio == (1.0, 1.0) and pad == (17, 22) and out.shape == (64, 64, 3)
    out, ratio, pad = letterbox(img, (32, 64))
    assert out.shape == (32, 64, 3) and np.allclose(ratio, (1.6, 1.6)) and pad == (8, 0)


# ---- augmentation ---------------------------------------------------------------------------------
BOX = np.array([[0, 10.0, 20.0, 30.0, 50.0]], np.float32)


def test_flip_keeps_box_on_object():
    img = _rect_image(64, 64, BOX[0, 1:]).astype(np.float32)
    out, lab = D.random_flip(img, BOX, np.random.default_rng(0), p=1.0)
    np.testing.assert_allclose(lab, [[0, 34, 20, 54, 50]])
    red = out[..., 0] > 128
    assert red.sum() == 20 * 30 and red[_box_mask((64, 64), lab[:, 1:], 0.0)].all()
    same, lab2 = D.random_flip(img, BOX, np.random.default_rng(0), p=0.0)
    assert same is img and lab2 is BOX


@pytest.mark.parametrize("seed", range(12))
def test_affine_keeps_box_on_object(seed):
    img = _rect_image(64, 64, BOX[0, 1:])
    rng = np.random.default_rng(seed)
    out, lab = D.random_affine(img, BOX, rng, translate=0.2, scale=0.5)
    assert out.shape == (64, 64, 3) and out.dtype == np.float32
    red = out[..., 0] - out[..., 1] > 60
    if len(lab) == 0:  # dropped by box_candidates: almost nothing of it is left
        assert red.sum() <= 0.1 * 600 * 2.25 + 64
        return
    assert lab.shape == (1, 5) and lab[0, 0] == 0
    assert (lab[:, 1:] >= 0).all() and (lab[:, [1, 3]] <= 64).all() and (lab[:, [2, 4]] <= 64).all()
    assert not red[~_box_mask((64, 64), lab[:, 1:], 1.0)].any()
    assert red[_box_mask((64, 64), lab[:, 1:], -1.0)].all()


def test_warp_matches_definition():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    s, tx, ty = 1.7, -3.2, 2.6
    out = D.warp_scale_translate(img, s, tx, ty, (25, 35))
    for v, u in [(5, 7), (12, 20), (20, 30)]:
        sx, sy = (u + 0.5 - tx) / s - 0.5, (v + 0.5 - ty) / s - 0.5
        x0, y0 = int(np.floor(sx)), int(np.floor(sy))
        fx, fy = sx - x0, sy - y0
        want = ((1 - fy) * ((1 - fx) * img[y0, x0] + fx * img[y0, x0 + 1])
                + fy * ((1 - fx) * img[y0 + 1, x0] + fx * img[y0 + 1, x0 + 1]))
        np.testing.assert_allclose(out[v, u], want, rtol=1e-5, atol=1e-3)
    # the source is the box [0, 30] x [0, 20], mapped to [tx, tx + 30 s] x [ty, ty + 20 s]: fill outside
    flat = D.warp_scale_translate(np.full((20, 30, 3), 50, np.uint8), s, tx, ty, (40, 60))[..., 0]
    inside = _box_mask((40, 60), [(tx, ty, tx + 30 * s, ty + 20 * s)], -1.0)
    outside = ~_box_mask((40, 60), [(tx, ty, tx + 30 * s, ty + 20 * s)], 1.0)
    assert np.allclose(flat[inside], 50) and np.allclose(flat[outside], 114) and outside.sum() > 100


def test_box_candidates_rule():
    before = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 300, 2.5]], np.float32)
    after = np.array([[0, 0, 10, 10], [0, 0, 1.5, 10], [0, 0, 3, 3], [0, 0, 300, 2.5]], np.float32)
    assert D.box_candidates(before, after).tolist() == [True, False, False, False]


def test_hsv_gains():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (8, 8, 3)).astype(np.float32)

    class Fixed:
        def __init__(self, r):
            self.r = np.array(r)

        def uniform(self, lo, hi, n):
            return self.r

    # value gain only: every channel scaled (saturating at 255 keeps the hue)
    out = D.random_hsv(img, Fixed([0, 0, 1]), 0.0, 0.0, 0.5)
    v = img.max(axis=2, keepdims=True)
    np.testing.assert_allclose(out, img * np.minimum(1.5, 255 / np.maximum(v, 1e-6)), rtol=1e-5, atol=1e-3)
    # saturation 0: grey at the pixel's value
    out = D.random_hsv(img, Fixed([0, -1, 0]), 0.0, 1.0, 0.0)
    np.testing.assert_allclose(out, np.broadcast_to(v, img.shape), rtol=1e-5)
    # grey stays grey under a hue rotation
    grey = np.full((4, 4, 3), 114, np.float32)
    np.testing.assert_allclose(D.random_hsv(grey, Fixed([1, 0, 0]), 0.5, 0.0, 0.0), grey, atol=1e-3)
    # saturation up: never beyond S = 1 (min channel >= 0), value kept
    out = D.random_hsv(img, Fixed([0, 1, 0]), 0.0, 5.0, 0.0)
    assert out.min() >= -1e-3 and np.allclose(out.max(axis=2), img.max(axis=2), atol=1e-3)


def _mosaic_dataset(tmp_path, n=6, size=64):
    rng = np.random.default_rng(1)
    items = {}
    for k in range(n):
        h, w = (size, size) if k % 3 else (size // 2 + 8, size)
        bw, bh = rng.uniform(10, 30), rng.uniform(10, 30)
        x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        box = (x1, y1, x1 + bw, y1 + bh)
        text = f"{k % 4} {(x1 + bw / 2) / w} {(y1 + bh / 2) / h} {bw / w} {bh / h}\n"
        items[f"i{k}"] = (_rect_image(h, w, box), text)
    return _yolo_dir(tmp_path, items)


def test_mosaic4_shape_and_boxes():
    imgs, labs = [], []
    for k in range(4):
        box = np.array([5.0 + k, 6.0, 40.0, 30.0 + 5 * k], np.float32)
        imgs.append(_rect_image(64, 64, box))
        labs.append(np.array([[k, *box]], np.float32))
    for seed in range(10):
        canvas, lab = D.mosaic4(imgs, labs, np.random.default_rng(seed), 64)
        assert canvas.shape == (128, 128, 3) and canvas.dtype == np.uint8
        assert lab.shape[1] == 5 and (lab[:, 1:] >= 0).all() and (lab[:, 1:] <= 128).all()
        assert (lab[:, 3] > lab[:, 1]).all() and (lab[:, 4] > lab[:, 2]).all()
        red = canvas[..., 0].astype(int) - canvas[..., 1] > 128
        assert not red[~_box_mask((128, 128), lab[:, 1:], 0.0)].any()
        assert red[_box_mask((128, 128), lab[:, 1:], -1.0)].all()


def test_augmented_samples_keep_boxes_on_objects(tmp_path):
    root = _mosaic_dataset(tmp_path)
    for mosaic in (1.0, 0.0):
        ds = YOLODataset(str(root), img_size=64, augment=True, mosaic=mosaic, cache=True)
        for i in range(len(ds)):
            for epoch in range(4):
                ds.set_epoch(epoch)
                x, lab = ds[i]
                assert x.shape == (3, 64, 64) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
                assert lab.dtype == np.float32 and lab.shape[1] == 5
                assert (lab[:, 1:] >= 0).all() and (lab[:, 1:] <= 64).all()
                assert ((lab[:, 3] - lab[:, 1]) > 2).all() and ((lab[:, 4] - lab[:, 2]) > 2).all()
                red = _redness(x) > 0.1
                # every red pixel lies in a box (boxes dropped by box_candidates keep < 10 % of their object)
                stray = red & ~_box_mask((64, 64), lab[:, 1:], 1.0)
                assert stray.sum() <= 0.1 * (30 * 1.5) ** 2 + 50
                if len(lab):
                    assert red[_box_mask((64, 64), lab[:, 1:], -1.0)].all()


def test_augmentation_is_a_function_of_seed_epoch_index(tmp_path):
    root = _mosaic_dataset(tmp_path)
    ds = YOLODataset(str(root), img_size=64, augment=True, seed=5)
    ds.set_epoch(2)
    a = [ds[i] for i in range(len(ds))]
    b = [ds[i] for i in reversed(range(len(ds)))][::-1]
    for (xa, la), (xb, lb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(la, lb)
    ds.set_epoch(3)
    assert any(not np.array_equal(ds[i][0], a[i][0]) for i in range(len(ds)))
    x, lab = ds.sample(1, np.random.default_rng(9))
    x2, lab2 = ds.sample(1, np.random.default_rng(9))
    np.testing.assert_array_equal(x, x2)
    # a DataLoader (prefetch thread) gives the same samples
    ds.set_epoch(2)
    batches = list(DataLoader(ds, batch_size=4, collate_fn=detection_collate, prefetch=2))
    np.testing.assert_array_equal(batches[0]["img"].numpy()[1], a[1][0])
    ds.close_mosaic()
    assert ds.mosaic == 0.0


# ---- collate --------------------------------------------------------------------------------------
def test_collate_pads_and_counts():
    img = np.zeros((3, 32, 32), np.float32)
    batch = [D.DetectionSample(img + 0.1, np.array([[1, 1, 2, 3, 4], [2, 5, 6, 7, 8]], np.float32), 7, {"k": 1}),
             (img + 0.2, np.zeros((0, 5), np.float32)),
             (dlcore.from_numpy(img + 0.3), np.array([[0, 1, 1, 9, 9]] * 3, np.float32))]
    out = detection_collate(batch)
    assert isinstance(out["img"], dlcore.Tensor) and tuple(out["img"].shape) == (3, 3, 32, 32)
    assert out["img"].dtype == dlcore.float32
    np.testing.assert_allclose(out["img"].numpy()[:, 0, 0, 0], [0.1, 0.2, 0.3], rtol=1e-6)
    assert out["labels"].shape == (3, 3, 5) and out["labels"].dtype == np.float32
    assert out["counts"].tolist() == [2, 0, 3]
    assert (out["labels"][0, 2] == 0).all() and (out["labels"][1] == 0).all()
    np.testing.assert_array_equal(out["labels"][2], batch[2][1])
    assert out["targets"].shape == (5, 6) and out["targets"][:, 0].tolist() == [0, 0, 2, 2, 2]
    assert out["index"].tolist() == [7, -1, -1] and out["info"] == [{"k": 1}, None, None]
    again = pickle.loads(pickle.dumps(batch[0]))  # samples survive pickling (process pools)
    assert again.dataset_index == 7 and again.info == {"k": 1} and len(again) == 2
    empty = detection_collate([(img, np.zeros((0, 5), np.float32))] * 2)
    assert empty["labels"].shape == (2, 0, 5) and empty["targets"].shape == (0, 6)
    with pytest.raises(ValueError, match="equal shapes"):
        detection_collate([(img, np.zeros((0, 5))), (np.zeros((3, 64, 64), np.float32), np.zeros((0, 5)))])


def test_dataloader_with_detection_collate(tiny_shapes):
    ds = YOLODataset(tiny_shapes, "train", img_size=64)
    seen = 0
    for batch in DataLoader(ds, batch_size=5, collate_fn=detection_collate):
        b = batch["img"].shape[0]
        assert tuple(batch["img"].shape[1:]) == (3, 64, 64) and batch["labels"].shape[0] == b
        for k in range(b):
            i = int(batch["index"][k])
            n = int(batch["counts"][k])
            np.testing.assert_array_equal(batch["labels"][k, :n], ds[i][1])
            assert batch["info"][k]["path"] == ds.im_files[i]
        seen += b
    assert seen == len(ds) == 24
    assert re.match(r"YOLODataset\(.*size=24, classes=4", repr(ds))
