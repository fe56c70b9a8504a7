"""``dlcore train yolov8n`` / ``dlcore eval`` / ``dlcore detect`` on a tiny generated shapes set:
the artefacts, exact resume, evaluation of the checkpoint, annotated images, and bad input."""
import json
import os

import numpy as np
import pytest

import dlcore
from dlcore.cli import main
from dlcore.cli.detect import DetectConfig, evaluate_detector_checkpoint, train_detector
from dlcore.cli.errors import CLIError

TINY = dict(model="yolov8n", dataset="shapes", num_images=40, input_size=64, batch_size=8, epochs=2,
            warmup_epochs=0.0, close_mosaic=1, progress=False)


@pytest.fixture(autouse=True)
def _data_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DLCORE_DATA", str(tmp_path_factory.getbasetemp() / "data"))


def _quiet(_line):
    pass


def test_train_writes_checkpoints_metrics_and_curves(tmp_path):
    out = tmp_path / "run"
    result = train_detector(DetectConfig(out=str(out), **TINY), log=_quiet)
    assert result["status"] == "completed" and result["epochs_done"] == 2
    for name in ("best.safetensors", "last.safetensors", "metrics.json", "curves.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    for h in metrics["history"]:
        assert all(np.isfinite(h[k]) for k in ("box_loss", "cls_loss", "dfl_loss"))
        assert 0.0 <= h["val_map"] <= h["val_map_50"] <= 1.0
    assert 0.0 <= result["test"]["map"] <= 1.0
    m, what, cfg = evaluate_detector_checkpoint(str(out / "best.safetensors"), split="val")
    assert "val" in what and cfg["names"] == ["rectangle", "ellipse", "triangle", "cross"]
    assert m["map"] == pytest.approx(max(h["val_map"] for h in metrics["history"]), abs=1e-6)


def test_resume_repeats_the_uninterrupted_run(tmp_path):
    full = train_detector(DetectConfig(out=str(tmp_path / "full"), **TINY), log=_quiet)
    stop = {}

    def interrupt(info):  # a Ctrl-C after the first step of epoch 2
        if info["epoch"] == 1 and info["step"] == 1 and not stop:
            stop["now"] = True
            raise KeyboardInterrupt

    part = train_detector(DetectConfig(out=str(tmp_path / "part"), **TINY), on_step=interrupt, log=_quiet)
    assert part["status"] == "interrupted"
    last = str(tmp_path / "part" / "last.safetensors")
    with pytest.raises(CLIError, match="--lr 0.5 differs from the checkpoint's 0.01"):
        train_detector(DetectConfig(model="yolov8n", resume=last, lr=0.5), log=_quiet)
    with pytest.raises(CLIError, match="was trained with model 'yolov8n', not 'yolov8s'"):
        train_detector(DetectConfig(model="yolov8s", resume=last), log=_quiet)
    resumed = train_detector(DetectConfig(model="yolov8n", resume=str(tmp_path / "part" / "last.safetensors"),
                                          progress=False), log=_quiet)
    assert resumed["status"] == "completed"
    a = dlcore.load(str(tmp_path / "full" / "last.safetensors"))
    b = dlcore.load(str(tmp_path / "part" / "last.safetensors"))
    for k, v in a["train_model"].items():
        np.testing.assert_array_equal(v.numpy(), b["train_model"][k].numpy(), err_msg=k)
    assert [h["val_map"] for h in full["history"]] == [h["val_map"] for h in resumed["history"]]


def test_command_line_train_eval_detect(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "yolov8n", "--dataset", "shapes", "--num-images", "40", "--input-size", "64",
                 "--batch-size", "8", "--epochs", "1", "--warmup-epochs", "0", "--out", str(out),
                 "--no-progress"]) == 0
    assert "test mAP@0.5" in capsys.readouterr().out
    ckpt = str(out / "best.safetensors")
    assert main(["eval", ckpt, "--split", "val"]) == 0
    text = capsys.readouterr().out
    assert "mAP@0.5:0.95" in text and "rectangle" in text
    from dlcore.data.datasets.shapes import make_shapes
    root = make_shapes(num_images=40, img_size=64)
    images = sorted(os.path.join(root, "images", "test", f) for f in os.listdir(os.path.join(root, "images", "test")))
    drawn = tmp_path / "drawn"
    assert main(["detect", ckpt, images[0], images[1], "--out", str(drawn), "--conf", "0.0"]) == 0
    text = capsys.readouterr().out
    assert f"{images[0]}:" in text and "wrote 2 annotated images" in text
    assert sorted(os.listdir(drawn)) == sorted(os.path.splitext(os.path.basename(f))[0] + ".png" for f in images[:2])
    from PIL import Image
    with Image.open(drawn / os.listdir(drawn)[0]) as im:
        assert im.size == (64, 64)


def test_command_line_bad_input(tmp_path, capsys):
    assert main(["train", "yolov8n", "--dataset", "mnist"]) == 2
    assert "--dataset must be shapes or yolo:" in capsys.readouterr().err
    assert main(["train", "yolov8n", "--dataset", f"yolo:{tmp_path / 'nothing'}", "--out", str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "yolov8n", "--input-size", "100", "--out", str(tmp_path / "o")]) == 2
    assert "multiple of 32" in capsys.readouterr().err
    assert main(["train", "lenet", "--mosaic", "0.5"]) == 2
    assert "applies to detectors" in capsys.readouterr().err
    out = tmp_path / "cli"
    assert main(["train", "yolov8n", "--num-images", "40", "--input-size", "64", "--batch-size", "8", "--epochs",
                 "1", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert main(["detect", str(out / "best.safetensors"), str(broken)]) == 1
    assert "broken.png" in capsys.readouterr().err


def test_yolo_folder_without_val_split_holds_out_part_of_train(tmp_path):
    from dlcore.cli.detect import load_detection_splits
    from dlcore.data.datasets.shapes import make_shapes

    root = make_shapes(num_images=40, img_size=64)
    (tmp_path / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nnames: [rectangle, ellipse, triangle, "
                                        "cross]\n")
    train, val, test = load_detection_splits(f"yolo:{tmp_path / 'data.yaml'}", 64, val_split=0.25, seed=3)
    assert (len(train), len(val)) == (18, 6) and test is val
    assert not set(train.im_files) & set(val.im_files)
    assert len(train.labels) == len(train.im_files) == len(train.shapes)
    result = train_detector(DetectConfig(model="yolov8n", dataset=f"yolo:{tmp_path / 'data.yaml'}", input_size=64,
                                         batch_size=8, epochs=1, warmup_epochs=0.0, val_split=0.25,
                                         out=str(tmp_path / "run"), progress=False), log=_quiet)
    assert result["status"] == "completed" and 0.0 <= result["test"]["map"] <= 1.0
