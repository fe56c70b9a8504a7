"""OHEM cross-entropy, the segmentation trainer behind ``dlcore train unet|vnet|letnet``, ``dlcore eval``
and ``dlcore segment``."""
import numpy as np
import pytest

import dlcore
from dlcore import nn


def _ohem_reference(logits, target, thresh, min_kept, ignore_index, weight=None):
    """float64 numpy: the kept pixels by the rule of OhemCrossEntropyLoss, then weighted mean CE."""
    x = logits.astype(np.float64)
    x = x - x.max(1, keepdims=True)
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    valid = target != ignore_index
    t = np.where(valid, target, 0)
    lp = np.take_along_axis(logp, t[:, None], 1)[:, 0]
    prob = np.where(valid, np.exp(lp), 1.0)
    kept = valid.copy()
    if valid.sum() > min_kept:
        threshold = thresh
        if min_kept > 0:
            threshold = max(threshold, np.sort(prob.reshape(-1))[min_kept - 1])
        kept = valid & (prob <= threshold)
    w = np.ones(logits.shape[1]) if weight is None else weight
    wk = w[t] * kept
    return float(-(wk * lp).sum() / wk.sum())


@pytest.mark.parametrize("thresh,min_kept", [(0.7, 10), (0.7, 0), (0.2, 300), (0.7, 10 ** 6), (1.0, 5)])
@pytest.mark.parametrize("weighted", [False, True])
def test_ohem_matches_reference(thresh, min_kept, weighted):
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal((2, 4, 9, 11)) * 2).astype(np.float32)
    target = rng.integers(0, 4, (2, 9, 11))
    target[0, :2] = 255
    weight = np.array([1.0, 2.0, 0.5, 1.5]) if weighted else None
    loss_fn = nn.OhemCrossEntropyLoss(thresh, min_kept, ignore_index=255,
                                      weight=None if weight is None else dlcore.tensor(weight.tolist()))
    x = dlcore.from_numpy(logits.copy()).requires_grad_()
    loss = loss_fn(x, dlcore.from_numpy(target.astype(np.int64)))
    ref = _ohem_reference(logits, target, thresh, min_kept, 255, weight)
    # float32 logits: log-softmax error ~1e-7 relative, summed over ~200 pixels
    assert loss.item() == pytest.approx(ref, rel=1e-5, abs=1e-6)
    loss.backward()
    assert np.isfinite(x.grad.numpy()).all() and np.abs(x.grad.numpy()).sum() > 0


def test_ohem_keeps_only_hard_pixels_and_3d():
    # two pixels: one confidently right (p ~ 1), one wrong: with min_kept 1 only the wrong one counts
    logits = np.array([[10.0, -10.0], [-3.0, 0.0]], np.float32).reshape(1, 2, 1, 2)  # (N, C, H, W)
    target = np.array([[[0, 0]]])
    loss = nn.OhemCrossEntropyLoss(0.7, 1)(dlcore.from_numpy(logits), dlcore.from_numpy(target))
    p_wrong = np.exp(-10.0) / (np.exp(-10.0) + 1.0)
    assert loss.item() == pytest.approx(-np.log(p_wrong), rel=1e-5)
    rng = np.random.default_rng(0)
    vol = rng.standard_normal((1, 3, 4, 4, 4)).astype(np.float32)
    tv = rng.integers(0, 3, (1, 4, 4, 4))
    got = nn.OhemCrossEntropyLoss(0.5, 8)(dlcore.from_numpy(vol), dlcore.from_numpy(tv)).item()
    assert got == pytest.approx(_ohem_reference(vol, tv, 0.5, 8, -100), rel=1e-5)


def test_ohem_bad_input():
    with pytest.raises(ValueError, match="thresh"):
        nn.OhemCrossEntropyLoss(1.5)
    with pytest.raises(ValueError, match="min_kept"):
        nn.OhemCrossEntropyLoss(0.7, -1)
    with pytest.raises(ValueError, match=r"OhemCrossEntropyLoss.*\[2, 3, 4, 4\].*\[2, 5, 4\]"):
        nn.OhemCrossEntropyLoss()(dlcore.zeros(2, 3, 4, 4), dlcore.zeros(2, 5, 4, dtype=dlcore.int64))


# ---- the trainer -------------------------------------------------------------------------------
import json  # noqa: E402
import os  # noqa: E402

from dlcore.cli import main  # noqa: E402
from dlcore.cli.errors import CLIError  # noqa: E402
from dlcore.cli.segment import SegConfig, evaluate_segmenter_checkpoint, train_segmenter  # noqa: E402

TINY_UNET = dict(model="unet", dataset="shapes2d", num_images=30, batch_size=4, epochs=2, base_channels=4, depth=2,
                 progress=False)


@pytest.fixture(autouse=True)
def _data_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DLCORE_DATA", str(tmp_path_factory.getbasetemp() / "data"))


def _quiet(_line):
    pass


def test_train_unet_writes_artefacts_and_eval_agrees(tmp_path, capsys):
    out = tmp_path / "run"
    result = train_segmenter(SegConfig(out=str(out), **TINY_UNET), log=_quiet)
    assert result["status"] == "completed" and result["epochs_done"] == 2
    for name in ("best.safetensors", "last.safetensors", "metrics.json", "curves.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    for h in metrics["history"]:
        assert np.isfinite(h["train_loss"]) and np.isfinite(h["val_loss"])
        assert 0.0 <= h["val_miou"] <= h["val_mdice"] <= 1.0  # Dice >= IoU class by class
        assert 0.0 <= h["val_pixel_acc"] <= 1.0
    test = result["test"]
    assert set(test["iou"]) == set(metrics["config"]["classes"]) and len(test["iou"]) >= 4
    scores, what, cfg = evaluate_segmenter_checkpoint(str(out / "best.safetensors"), split="val")
    assert "val" in what
    assert scores["miou"] == pytest.approx(metrics["best_val_miou"], abs=1e-6)
    assert main(["eval", str(out / "best.safetensors")]) == 0
    text = capsys.readouterr().out
    assert "mIoU" in text and all(c in text for c in cfg["classes"])


def test_resume_repeats_the_uninterrupted_run(tmp_path):
    full = train_segmenter(SegConfig(out=str(tmp_path / "full"), **TINY_UNET), log=_quiet)
    stop = {}

    def interrupt(info):  # a Ctrl-C after the first step of epoch 2
        if info["epoch"] == 1 and info["step"] == 1 and not stop:
            stop["now"] = True
            raise KeyboardInterrupt

    part = train_segmenter(SegConfig(out=str(tmp_path / "part"), **TINY_UNET), on_step=interrupt, log=_quiet)
    assert part["status"] == "interrupted"
    last = str(tmp_path / "part" / "last.safetensors")
    with pytest.raises(CLIError, match="--lr 0.5 differs"):
        train_segmenter(SegConfig(model="unet", resume=last, lr=0.5), log=_quiet)
    with pytest.raises(CLIError, match="was trained with model 'unet', not 'letnet'"):
        train_segmenter(SegConfig(model="letnet", resume=last), log=_quiet)
    resumed = train_segmenter(SegConfig(model="unet", resume=last, progress=False), log=_quiet)
    assert resumed["status"] == "completed"
    a = dlcore.load(str(tmp_path / "full" / "last.safetensors"))["model"]
    b = dlcore.load(str(tmp_path / "part" / "last.safetensors"))["model"]
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy(), err_msg=k)
    assert [h["val_miou"] for h in full["history"]] == [h["val_miou"] for h in resumed["history"]]


def _write_folder(root, n=8, size=(32, 32), classes=3, rng=None):
    from PIL import Image
    rng = rng or np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        mask = np.zeros(size, np.uint8)
        for c in range(1, classes):
            y, x = rng.integers(0, size[0] - 8), rng.integers(0, size[1] - 8)
            mask[y:y + 8, x:x + 8] = c
        img = np.stack([mask * 80 + rng.integers(0, 30, size)] * 3, -1).astype(np.uint8)
        Image.fromarray(img).save(root / "images" / f"im{i}.png")
        Image.fromarray(mask, mode="L").save(root / "masks" / f"im{i}.png")


def test_segfolder_train_segment_and_bad_masks(tmp_path, capsys):
    from PIL import Image
    data = tmp_path / "cells"
    _write_folder(data, n=10)
    out = tmp_path / "run"
    assert main(["train", "unet", "--dataset", f"segfolder:{data}", "--epochs", "1", "--batch-size", "2",
                 "--base-channels", "4", "--depth", "2", "--out", str(out), "--no-progress"]) == 0
    assert "test mIoU" in capsys.readouterr().out
    masks = tmp_path / "masks"
    assert main(["segment", str(out / "best.safetensors"), str(data / "images" / "im0.png"),
                 "--out", str(masks)]) == 0
    printed = capsys.readouterr().out
    assert "im0.png: 32x32" in printed
    mask = np.asarray(Image.open(masks / "im0_mask.png"))
    assert mask.shape == (32, 32) and mask.max() < 3
    # the folder names no background (classes class0..class2): every class is coloured in the overlay
    overlay = np.asarray(Image.open(masks / "im0_overlay.png").convert("RGB")).astype(int)
    image = np.asarray(Image.open(data / "images" / "im0.png").convert("RGB")).astype(int)
    from dlcore.data.segmentation import palette
    colours = palette(4)[1:].astype(int)  # no black: class 0 is a class like the others
    assert np.abs(overlay - (image + colours[mask]) / 2).max() <= 1
    # a mask of another size than its image: the error names the file and both sizes
    Image.fromarray(np.zeros((16, 32), np.uint8), mode="L").save(data / "masks" / "im3.png")
    assert main(["train", "unet", "--dataset", f"segfolder:{data}", "--epochs", "1", "--base-channels", "4",
                 "--depth", "2", "--out", str(tmp_path / "bad"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "im3" in err and "32" in err and "16" in err


def test_label_values_beyond_the_classes_are_named(tmp_path, capsys):
    from PIL import Image
    data = tmp_path / "d"
    _write_folder(data, n=6)
    (data / "classes.txt").write_text("bg\nred\ngreen\n")
    Image.fromarray(np.full((32, 32), 7, np.uint8), mode="L").save(data / "masks" / "im2.png")
    assert main(["train", "unet", "--dataset", f"segfolder:{data}", "--epochs", "1", "--base-channels", "4",
                 "--depth", "2", "--out", str(tmp_path / "r"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "im2" in err and "7" in err


def test_sizes_the_network_cannot_halve_are_named(tmp_path, capsys):
    data = tmp_path / "odd"
    _write_folder(data, n=6, size=(36, 36))
    assert main(["train", "unet", "--dataset", f"segfolder:{data}", "--epochs", "1", "--base-channels", "4",
                 "--depth", "3", "--out", str(tmp_path / "r"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "36x36" in err and "multiple of 8" in err


def test_vnet_trains_on_volumes(tmp_path):
    out = tmp_path / "v"
    result = train_segmenter(SegConfig(model="vnet", dataset="spheres3d", num_images=10, batch_size=2, epochs=1,
                                       base_channels=2, depth=2, out=str(out), progress=False), log=_quiet)
    assert result["status"] == "completed"
    assert len(result["test"]["dice"]) >= 3 and np.isfinite(result["test"]["miou"])


def test_letnet_trains_on_streets(tmp_path):
    result = train_segmenter(SegConfig(model="letnet", dataset="streets", num_images=10, batch_size=2, epochs=1,
                                       out=str(tmp_path / "l"), progress=False), log=_quiet)
    assert result["status"] == "completed" and len(result["test"]["iou"]) >= 8


@pytest.mark.parametrize("argv,message", [
    (["train", "vnet", "--dataset", "shapes2d"], "vnet is a 3D model"),
    (["train", "letnet", "--depth", "3"], "--base-channels and --depth apply to unet and vnet"),
    (["train", "lenet", "--loss", "dice"], "--loss applies to"),
    (["train", "unet", "--close-mosaic", "2"], "does not apply to segmentation model"),
    (["train", "unet", "--dataset", "nowhere"], "unknown segmentation dataset"),
    (["train", "unet", "--scheduler", "step"], "--scheduler for a segmentation model"),
])
def test_bad_options(argv, message, capsys):
    assert main(argv + ["--no-progress", "--out", os.devnull + "-never"]) == 2
    assert message in capsys.readouterr().err


def test_vnet_on_nifti_folder_and_segment(tmp_path, capsys):
    nib = pytest.importorskip("nibabel")
    rng = np.random.default_rng(1)
    data = tmp_path / "ct"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()

    def write(i, side):
        mask = np.zeros((side, side, side), np.uint8)
        mask[2:8, 3:9, 4:10] = 1
        vol = (mask * 300.0 - 1000.0 + rng.normal(0, 20, mask.shape)).astype(np.float32)  # CT-like units
        nib.save(nib.Nifti1Image(vol, np.eye(4)), str(data / "images" / f"case{i}.nii.gz"))
        nib.save(nib.Nifti1Image(mask, np.eye(4)), str(data / "masks" / f"case{i}.nii.gz"))

    for i in range(6):
        write(i, 16)
    out = tmp_path / "run"
    argv = ["train", "vnet", "--dataset", f"segfolder:{data}", "--epochs", "1", "--batch-size", "2",
            "--base-channels", "2", "--depth", "2", "--no-progress"]
    assert main(argv + ["--out", str(out)]) == 0
    capsys.readouterr()
    masks = tmp_path / "pred"
    assert main(["segment", str(out / "best.safetensors"), str(data / "images" / "case0.nii.gz"),
                 "--out", str(masks)]) == 0
    assert "case0.nii.gz: 16x16x16" in capsys.readouterr().out
    pred = nib.load(str(masks / "case0_mask.nii.gz"))
    assert pred.shape == (16, 16, 16) and set(np.unique(np.asarray(pred.dataobj))) <= {0, 1}
    assert (masks / "case0_overlay.png").is_file()
    # volumes the network cannot halve twice: the error names the size and the factor
    for i in range(6):
        write(i, 18)
    assert main(argv + ["--out", str(tmp_path / "odd")]) == 1
    err = capsys.readouterr().err
    assert "18x18x18" in err and "multiple of 4" in err
