"""``dlcore train`` for language models on the bundled Shakespeare, ``dlcore generate`` and
``dlcore eval`` of their checkpoints: artefacts, exact resume, one-line errors."""
import json
import math
import os

import numpy as np
import pytest

import dlcore
from dlcore.cli import main
from dlcore.cli.lm import LMConfig, lr_at, train_lm
from dlcore.cli.train import BEST, LAST

TINY = ["--max-steps", "6", "--eval-interval", "3", "--batch-size", "4", "--block-size", "16", "--warmup", "2",
        "--no-progress"]


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("gpt") / "run")
    assert main(["train", "gpt_nano", "--out", out, "--sample-tokens", "20", "--prompt", "ROMEO:", *TINY]) == 0
    return out


def test_gpt_run_writes_every_artefact(gpt_run):
    assert sorted(os.listdir(gpt_run)) == sorted([BEST, LAST, "metrics.json", "curves.png"])
    with open(os.path.join(gpt_run, "metrics.json")) as f:
        m = json.load(f)
    assert m["status"] == "completed" and m["dataset"] == "shakespeare"
    assert [h["step"] for h in m["history"]] == [3, 6]
    for h in m["history"]:
        assert h["val_bpc"] == pytest.approx(h["val_loss"] / math.log(2))
        assert 0 < h["val_loss"] < 6 and h["tokens_per_s"] > 0
    assert m["sample"].startswith("ROMEO:") and len(m["sample"]) == len("ROMEO:") + 20
    with open(os.path.join(gpt_run, "curves.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    ckpt = dlcore.load(os.path.join(gpt_run, LAST))
    assert ckpt["step"] == 6 and ckpt["config"]["family"] == "gpt"
    assert ckpt["config"]["tokenizer_config"]["kind"] == "char"


def test_eval_and_generate_from_the_checkpoint(gpt_run, capsys):
    with open(os.path.join(gpt_run, "metrics.json")) as f:
        m = json.load(f)
    capsys.readouterr()
    assert main(["eval", os.path.join(gpt_run, BEST)]) == 0
    out = capsys.readouterr().out
    assert f"loss {m['best_val_loss']:.4f} nats" in out  # the same fixed validation windows
    runs = []
    for _ in range(2):
        assert main(["generate", os.path.join(gpt_run, BEST), "--prompt", "KING:", "--tokens", "30",
                     "--seed", "5", "--top-k", "10"]) == 0
        runs.append(capsys.readouterr().out)
    assert runs[0] == runs[1] and runs[0].startswith("KING:") and len(runs[0].rstrip("\n")) >= len("KING:") + 1
    assert main(["generate", os.path.join(gpt_run, BEST), "--prompt", "€uro"]) == 1
    _one_line_error(capsys, "the prompt can't be encoded", "'€'")


def test_interrupt_and_resume_is_bit_exact(tmp_path, capsys):
    full = str(tmp_path / "full")
    assert main(["train", "gpt_nano", "--out", full, "--seed", "2", *TINY]) == 0

    part = str(tmp_path / "part")

    def stop(info):
        if info["step"] == 4:
            raise KeyboardInterrupt

    config = LMConfig(model="gpt_nano", out=part, seed=2, max_steps=6, eval_interval=3, batch_size=4, block_size=16,
                      warmup=2, progress=False)
    assert train_lm(config, on_step=stop)["status"] == "interrupted"
    assert dlcore.load(os.path.join(part, LAST))["step"] == 4
    assert main(["train", "gpt_nano", "--resume", os.path.join(part, LAST), "--no-progress"]) == 0
    a, b = dlcore.load(os.path.join(full, LAST)), dlcore.load(os.path.join(part, LAST))
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k].numpy(), b["model"][k].numpy(), err_msg=k)
    assert [h["val_loss"] for h in a["metrics"]] == [h["val_loss"] for h in b["metrics"]]
    assert [h["train_loss"] for h in a["metrics"]] == [h["train_loss"] for h in b["metrics"]]


def test_resume_keeps_the_sample_options_of_the_run_unless_given_again(tmp_path):
    part = str(tmp_path / "part")

    def stop(info):
        if info["step"] == 4:
            raise KeyboardInterrupt

    config = LMConfig(model="gpt_nano", out=part, max_steps=6, eval_interval=3, batch_size=4, block_size=16,
                      warmup=2, progress=False, sample_tokens=7, prompt="ROMEO:")
    assert train_lm(config, on_step=stop)["status"] == "interrupted"

    def sample():
        with open(os.path.join(part, "metrics.json")) as f:
            return json.load(f)["sample"]

    last = os.path.join(part, LAST)
    assert main(["train", "gpt_nano", "--resume", last, "--no-progress"]) == 0
    assert sample().startswith("ROMEO:") and len(sample()) == len("ROMEO:") + 7
    # options given when resuming (here a finished run: only the sample is drawn again) win
    assert main(["train", "gpt_nano", "--resume", last, "--no-progress", "--sample-tokens", "3",
                 "--prompt", "KING:"]) == 0
    assert sample().startswith("KING:") and len(sample()) == len("KING:") + 3


def test_bert_masked_lm_run(tmp_path, capsys):
    out = str(tmp_path / "bert")
    assert main(["train", "bert_tiny", "--out", out, *TINY]) == 0
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    assert m["sample"] is None and all(math.isfinite(h["val_loss"]) for h in m["history"])
    ckpt = dlcore.load(os.path.join(out, BEST))
    # the char vocabulary (84) plus [MASK]
    assert ckpt["model"]["bert.embeddings.word_embeddings.weight"].shape[0] == 85
    capsys.readouterr()
    assert main(["generate", os.path.join(out, BEST)]) == 1
    _one_line_error(capsys, "BERT (masked-LM)")


@pytest.mark.skipif(not hasattr(dlcore.nn, "LSTM"), reason="nn.LSTM not built")
def test_lstm_run(tmp_path):
    out = str(tmp_path / "lstm")
    assert main(["train", "lstm", "--out", out, "--sample-tokens", "10", *TINY]) == 0
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    assert m["model"] == "char_lstm" and len(m["sample"]) == 11


def test_learning_rate_schedule():
    c = LMConfig(model="gpt", lr=1.0, warmup=10, max_steps=110).resolved()
    assert lr_at(c, 0) == pytest.approx(0.1) and lr_at(c, 9) == pytest.approx(1.0)
    assert lr_at(c, 60) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_at(c, 110) == pytest.approx(0.1)
    assert c.model == "gpt_mini"


@pytest.mark.parametrize("argv,needles", [
    (["train", "gpt_nano", "--epochs", "3"], ["--epochs applies to image models"]),
    (["train", "lenet", "--dataset", "shakespeare"], ["shakespeare is a text dataset"]),
    (["train", "lenet", "--max-steps", "3"], ["--max-steps applies to language models"]),
    (["train", "gpt_nano", "--dataset", "mnist"], ["'mnist' is not a text dataset"]),
    (["generate", "/nonexistent.safetensors"], ["does not exist"]),
    (["generate", "x.safetensors", "--temperature", "-1"], ["--temperature must be >= 0"]),
    (["generate", "x.safetensors", "--seed", "-1"], ["argument --seed", "from 0 to 2**64 - 1", "'-1'"]),
    (["train", "gpt_nano", "--seed", "-5", *TINY], ["argument --seed", "from 0 to 2**64 - 1", "'-5'"]),
])
def test_bad_input_one_line(argv, needles, capsys):
    assert main(argv) in (1, 2)
    _one_line_error(capsys, *needles)


def test_vit_trains_on_mnist_through_the_image_path(tmp_path):
    out = str(tmp_path / "vit")
    assert main(["train", "vit", "--epochs", "1", "--limit-train", "64", "--limit-val", "32", "--limit-test", "32",
                 "--batch-size", "32", "--out", out, "--no-progress"]) == 0
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    assert m["config"]["optimizer"] == "adamw" and m["test"]["count"] == 32
