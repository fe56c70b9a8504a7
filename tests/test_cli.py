"""The ``dlcore`` command: tiny training runs in-process (subsets of the bundled MNIST), every
artefact they write, exact resume after an interruption, early stopping, eval/summary, and
one-line errors for bad input."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import dlcore
from dlcore.cli import main
from dlcore.cli.train import BEST, LAST, TrainConfig, train

TINY = ["--limit-train", "192", "--limit-val", "96", "--limit-test", "96", "--batch-size", "32", "--no-progress"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _weights(path):
    return {k: v.numpy().copy() for k, v in dlcore.load(path)["model"].items()}


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("lenet") / "run")
    code = main(["train", "lenet", "--epochs", "2", "--lr", "2e-3", "--scheduler", "cosine", "--out", out,
                 "--seed", "3", *TINY])
    assert code == 0
    return out


def test_train_writes_every_artefact(lenet_run, capsys):
    out = lenet_run
    assert sorted(os.listdir(out)) == sorted([BEST, LAST, "metrics.json", "curves.png"])

    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["status"] == "completed" and metrics["model"] == "lenet" and metrics["dataset"] == "mnist"
    history = metrics["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    for h in history:
        assert set(h) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "time"}
        assert 0 <= h["train_acc"] <= 1 and 0 <= h["val_acc"] <= 1 and h["train_loss"] > 0 and h["time"] > 0
    # cosine schedule over 2 epochs: the lr halves after epoch 1
    assert history[0]["lr"] == pytest.approx(2e-3) and history[1]["lr"] == pytest.approx(1e-3)
    best = max(history, key=lambda h: (h["val_acc"], -h["epoch"]))
    assert metrics["best_epoch"] == best["epoch"] and metrics["best_val_acc"] == best["val_acc"]
    test = metrics["test"]
    assert test["count"] == 96 and test["acc"] == pytest.approx(test["correct"] / 96) and test["checkpoint"] == BEST
    assert metrics["config"]["seed"] == 3 and metrics["config"]["optimizer"] == "adam"

    last, best_ckpt = dlcore.load(os.path.join(out, LAST)), dlcore.load(os.path.join(out, BEST))
    assert last["epoch"] == 2 and last["step"] == 0 and best_ckpt["epoch"] == metrics["best_epoch"]
    for ckpt in (last, best_ckpt):
        assert set(ckpt) >= {"model", "optimizer", "scheduler", "epoch", "config", "metrics"}
        assert ckpt["config"]["model"] == "lenet" and ckpt["config"]["data"]["input_size"] == [1, 28, 28]
        model = dlcore.models.get_model("lenet", num_classes=10, in_channels=1)
        model.load_state_dict(ckpt["model"])  # strict: every key and shape matches
        assert ckpt["optimizer"]["state"][0]["step"] == ckpt["epoch"] * 6  # 192 / 32 steps per epoch
    assert [h["epoch"] for h in last["metrics"]] == [1, 2]

    with open(os.path.join(out, "curves.png"), "rb") as f:
        png = f.read()
    assert png[:8] == PNG_SIGNATURE and png[12:16] == b"IHDR"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1000, 400)


def test_eval_reproduces_the_test_accuracy(lenet_run, capsys):
    with open(os.path.join(lenet_run, "metrics.json")) as f:
        test = json.load(f)["test"]
    assert main(["eval", os.path.join(lenet_run, BEST), "--limit", "96"]) == 0
    out = capsys.readouterr().out
    assert f"({test['correct']}/96)" in out and "lenet on mnist test" in out
    assert main(["eval", os.path.join(lenet_run, BEST), "--split", "val", "--limit", "96"]) == 0
    assert "mnist val" in capsys.readouterr().out


def test_interrupt_and_resume_is_bit_exact(tmp_path, capsys):
    # onecycle (a per-step schedule) and random shifts: everything that must be restored exactly
    args = ["--epochs", "2", "--scheduler", "onecycle", "--translate", "2", "--seed", "7", *TINY]
    full = str(tmp_path / "full")
    assert main(["train", "lenet", "--out", full, *args]) == 0

    # the same run, Ctrl-C in the middle of the first epoch
    part = str(tmp_path / "part")

    def ctrl_c(info):
        if info["epoch"] == 0 and info["step"] == 3:
            signal.raise_signal(signal.SIGINT)

    config = TrainConfig(model="lenet", out=part, epochs=2, scheduler="onecycle", translate=2, seed=7,
                         limit_train=192, limit_val=96, limit_test=96, batch_size=32, progress=False)
    handler = signal.getsignal(signal.SIGINT)
    result = train(config, on_step=ctrl_c)
    assert result["status"] == "interrupted" and result["test_acc"] is None
    assert signal.getsignal(signal.SIGINT) is handler  # restored
    ckpt = dlcore.load(os.path.join(part, LAST))
    assert (ckpt["epoch"], ckpt["step"]) == (0, 3) and ckpt["metrics"] == []
    assert "interrupted at epoch 1, step 3/6" in capsys.readouterr().err
    with open(os.path.join(part, "metrics.json")) as f:
        assert json.load(f)["status"] == "interrupted"

    assert main(["train", "lenet", "--resume", os.path.join(part, LAST), "--no-progress"]) == 0
    a, b = _weights(os.path.join(full, LAST)), _weights(os.path.join(part, LAST))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    with open(os.path.join(full, "metrics.json")) as f:
        m_full = json.load(f)
    with open(os.path.join(part, "metrics.json")) as f:
        m_part = json.load(f)
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert [h[key] for h in m_full["history"]] == [h[key] for h in m_part["history"]], key
    assert m_full["test"]["correct"] == m_part["test"]["correct"]


def test_keyboard_interrupt_saves_and_main_reports_it(tmp_path, capsys):
    out = str(tmp_path / "run")

    def stop(info):
        if info["step"] == 2:
            raise KeyboardInterrupt

    config = TrainConfig(model="mlp", out=out, epochs=1, limit_train=128, limit_val=64, limit_test=64,
                         batch_size=32, progress=False)
    assert train(config, on_step=stop)["status"] == "interrupted"
    ckpt = dlcore.load(os.path.join(out, LAST))
    assert (ckpt["epoch"], ckpt["step"], ckpt["partial"]["count"]) == (0, 2, 64)
    capsys.readouterr()
    # the resumed run finishes the epoch; resuming it again trains nothing more
    assert main(["train", "mlp", "--resume", os.path.join(out, LAST), "--no-progress"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert main(["train", "mlp", "--resume", os.path.join(out, LAST), "--no-progress"]) == 0
    with open(os.path.join(out, "metrics.json")) as f:
        assert len(json.load(f)["history"]) == 1


def test_early_stopping(tmp_path):
    out = str(tmp_path / "run")
    # a learning rate too small to change any prediction: val accuracy never improves after epoch 1
    assert main(["train", "mlp", "--epochs", "6", "--early-stopping", "2", "--lr", "1e-12", "--out", out,
                 "--limit-train", "64", "--limit-val", "64", "--limit-test", "64", "--no-progress"]) == 0
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["status"] == "early_stopping"
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3] and metrics["best_epoch"] == 1
    assert dlcore.load(os.path.join(out, LAST))["epoch"] == 3


def test_folder_and_idx_datasets(tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    from dlcore.data.datasets import write_idx

    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    out = str(tmp_path / "folder_run")
    assert main(["train", "mlp", "--dataset", f"folder:{root}", "--epochs", "1", "--val-split", "0.25",
                 "--out", out, "--no-progress"]) == 0
    ckpt = dlcore.load(os.path.join(out, LAST))
    assert ckpt["config"]["data"]["classes"] == ["cat", "dog"]
    assert ckpt["config"]["data"]["input_size"] == [3, 28, 28]  # mlp's recipe: 28x28 (resized)

    idx = tmp_path / "idx"
    idx.mkdir()
    images, labels = dlcore.data.datasets.MNIST("test").tensors()
    as_u8 = (images[:120].squeeze(1).numpy() * 255).round().astype(np.uint8)
    write_idx(str(idx / "train-images-idx3-ubyte"), as_u8[:80])
    write_idx(str(idx / "train-labels-idx1-ubyte"), labels[:80].numpy().astype(np.uint8))
    write_idx(str(idx / "t10k-images-idx3-ubyte.gz"), as_u8[80:])
    write_idx(str(idx / "t10k-labels-idx1-ubyte.gz"), labels[80:120].numpy().astype(np.uint8))
    out = str(tmp_path / "idx_run")
    assert main(["train", "lenet", "--dataset", f"idx:{idx}", "--epochs", "1", "--out", out, "--no-progress"]) == 0
    with open(os.path.join(out, "metrics.json")) as f:
        assert json.load(f)["test"]["count"] == 40
    capsys.readouterr()
    assert main(["eval", os.path.join(out, BEST)]) == 0
    assert "/40)" in capsys.readouterr().out


def test_random_affine_geometry():
    from dlcore.cli.data import random_affine

    class Fixed:  # every draw at the top of its range
        def uniform(self, low, high, size):
            return np.full(size, float(high))

    x = dlcore.data.datasets.MNIST("val").tensors()[0][:7]
    ref = x.numpy()
    shifted = np.zeros_like(ref)
    shifted[:, :, 1:, 1:] = ref[:, :, :-1, :-1]
    np.testing.assert_array_equal(random_affine(x, Fixed(), translate=1.0).numpy(), shifted)
    np.testing.assert_allclose(random_affine(x, Fixed(), degrees=90.0).numpy(), np.rot90(ref, 3, axes=(2, 3)),
                               atol=1e-6)
    # zoom by 1.5 about the centre: output pixel (i, j) reads source (c + (i - c) / 1.5, ...), bilinear
    zoomed = random_affine(x, Fixed(), scale=0.5 - 1e-9).numpy()  # factor 1.5
    grid = 13.5 + (np.arange(28) - 13.5) / 1.5
    i0, f = np.floor(grid).astype(int), grid - np.floor(grid)
    rows = ref[:, :, i0, :] * (1 - f)[:, None] + ref[:, :, np.minimum(i0 + 1, 27), :] * f[:, None]
    expected = rows[:, :, :, i0] * (1 - f) + rows[:, :, :, np.minimum(i0 + 1, 27)] * f
    np.testing.assert_allclose(zoomed, expected, atol=1e-5)
    rng = np.random.default_rng(0)
    out = random_affine(x, rng, translate=2.0, degrees=10.0, scale=0.1)
    assert list(out.shape) == [7, 1, 28, 28] and 0 <= out.min().item() and out.max().item() <= 1 + 1e-6


def test_summary(capsys):
    assert main(["summary", "lenet"]) == 0
    out = capsys.readouterr().out
    assert "61,706" in out and "Conv2d" in out
    assert main(["summary", "mlp", "--input-size", "1,28,28", "--num-classes", "5"]) == 0
    assert f"{784 * 256 + 256 + 256 * 128 + 128 + 128 * 5 + 5:,}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, code, needles", [
    (["train", "nosuchnet"], 2, ["unknown model 'nosuchnet'", "lenet", "mlp"]),
    (["summary", "nosuchnet"], 2, ["unknown model", "lenet"]),
    (["train", "lenet", "--dataset", "folder:/no/such/folder"], 1, ["'/no/such/folder' does not exist"]),
    (["train", "lenet", "--dataset", "cifar"], 2, ["mnist, digits, idx:DIR or folder:DIR"]),
    (["train", "lenet", "--epochs", "-3"], 2, ["--epochs", "positive integer"]),
    (["train", "lenet", "--optimizer", "lbfgs"], 2, ["--optimizer", "lbfgs"]),
    (["train", "lenet", "--val-split", "0.2"], 2, ["--val-split"]),
    (["eval", "/no/such.safetensors"], 1, ["does not exist"]),
    (["frobnicate"], 2, ["invalid choice"]),
    (["train", "lenet", "--seed", "-5"], 2, ["argument --seed", "from 0 to 2**64 - 1", "'-5'"]),
    (["train", "lenet", "--seed", str(2**64)], 2, ["argument --seed", "from 0 to 2**64 - 1"]),
    (["train", "lenet", "--seed", "1.5"], 2, ["argument --seed", "'1.5'"]),
])
def test_bad_input_gives_one_line_and_exit_code(argv, code, needles, capsys):
    assert main(argv) == code
    _one_line_error(capsys, *needles)


def test_seed_range_and_its_check_from_python(tmp_path):
    from dlcore.cli import build_parser
    from dlcore.cli.errors import CLIError
    assert build_parser().parse_args(["train", "lenet", "--seed", str(2**64 - 1)]).seed == 2**64 - 1
    with pytest.raises(CLIError, match="--seed must be an integer from 0 to 2\\*\\*64 - 1, got -5"):
        train(TrainConfig(model="lenet", seed=-5, out=str(tmp_path / "run"), progress=False))


def test_mismatched_and_unreadable_checkpoints(lenet_run, tmp_path, capsys):
    ckpt = os.path.join(lenet_run, BEST)
    # resuming another model's run
    assert main(["train", "mlp", "--resume", ckpt]) == 1
    _one_line_error(capsys, "trained with model 'lenet', not 'mlp'")
    # key mismatch: lenet weights into an mlp
    assert main(["eval", ckpt, "--model", "mlp"]) == 1
    _one_line_error(capsys, "does not fit model 'mlp'", "Missing key")
    # shape mismatch: a bare state dict of a 5-class lenet evaluated on 10-class MNIST
    bare = str(tmp_path / "bare.safetensors")
    dlcore.save(dlcore.models.get_model("lenet", num_classes=5).state_dict(), bare)
    assert main(["eval", bare, "--model", "lenet", "--limit", "10"]) == 1
    _one_line_error(capsys, "does not fit model 'lenet'", "size mismatch")
    # a bare state dict can be evaluated, not resumed
    assert main(["train", "lenet", "--resume", bare]) == 1
    _one_line_error(capsys, "no training state")
    # garbage and truncated files
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a checkpoint at all")
    assert main(["eval", str(garbage)]) == 1
    _one_line_error(capsys, "can't read checkpoint")
    with open(ckpt, "rb") as f:
        data = f.read()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    assert main(["train", "lenet", "--resume", str(truncated)]) == 1
    _one_line_error(capsys, "can't read checkpoint")


def _subprocess_env():
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(dlcore.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


def test_python_m_dlcore():
    run = subprocess.run([sys.executable, "-m", "dlcore", "--help"], capture_output=True, text=True,
                         env=_subprocess_env(), timeout=120)
    assert run.returncode == 0, run.stderr
    assert "train" in run.stdout and "eval" in run.stdout and "summary" in run.stdout
    run = subprocess.run([sys.executable, "-m", "dlcore", "train", "--help"], capture_output=True, text=True,
                         env=_subprocess_env(), timeout=120)
    assert run.returncode == 0 and "--early-stopping" in run.stdout and "--resume" in run.stdout
    run = subprocess.run([sys.executable, "-m", "dlcore", "train", "nosuchnet"], capture_output=True, text=True,
                         env=_subprocess_env(), timeout=120)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
