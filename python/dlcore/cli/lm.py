"""Language-model training behind ``dlcore train gpt|bert|lstm --dataset shakespeare`` and
sampling behind ``dlcore generate``, usable from Python:

    from dlcore.cli.lm import LMConfig, train_lm
    result = train_lm(LMConfig(model="gpt", max_steps=200, out="runs/gpt-try"))

The run is counted in optimizer steps. Every ``eval_interval`` steps the model is evaluated on
fixed validation windows (the same every time, so the curve is comparable), a row joins the
history, ``last`` and (when the validation loss improved) ``best`` checkpoints are written with
``metrics.json`` and ``curves.png``. At the end a causal model prints a sample.

Families (Note [LM families]): "gpt" (decoder-only transformer, next-token loss), "lstm"
(recurrent, next-token loss) and "bert" (encoder, masked-LM loss on 15% of the tokens, with one
extra [MASK] token appended to the tokenizer's vocabulary). The loss is in nats per token; with
the character tokenizer, bits per character = loss / ln 2.

Exact resume follows Note [Exact resume] in cli/train.py: the training windows of step s are
drawn from (seed, s), dlcore's generator is re-seeded from (seed, s) before the step, and the
learning rate is a function of s (linear warm-up, then cosine decay to min_lr_frac * lr), so a
run resumed from a checkpoint repeats the uninterrupted run bit for bit.
"""
import dataclasses
import math
import os
import sys
import time
from typing import Optional

import numpy as np

import dlcore
from dlcore.data.datasets import Shakespeare
from dlcore.data.tokenizers import tokenizer_from_config

from .errors import CLIError, one_line
from .train import (BEST, LAST, _SigintFlag, _check_seed, _default_out, _write_json, checkpoint_format,
                    options_with_defaults, read_checkpoint, save_interrupted, stderr_log)

__all__ = ["LMConfig", "train_lm", "generate_from_checkpoint", "evaluate_lm_checkpoint", "is_lm_checkpoint", "lm_family", "LM_RECIPES", "LM_CHECKPOINT_FORMAT"]

LM_CHECKPOINT_FORMAT = "dlcore.lm/1"
LM_DATASETS = ("shakespeare",)

# Note [LM recipes]: defaults per family, sized for 2 CPU cores (about 10 minutes each).
LM_RECIPES = {
    "gpt": dict(model="gpt_mini", block_size=128, batch_size=16, lr=2e-3, warmup=100, max_steps=1600,
                weight_decay=0.1, dropout=0.0, eval_interval=200, eval_batches=16, tokenizer="char"),
    "lstm": dict(model="char_lstm", block_size=128, batch_size=32, lr=3e-3, warmup=50, max_steps=1500,
                 weight_decay=0.0, dropout=0.0, eval_interval=150, eval_batches=16, tokenizer="char"),
    "bert": dict(model="bert_mini", block_size=128, batch_size=16, lr=1e-3, warmup=100, max_steps=1000,
                 weight_decay=0.01, dropout=0.1, eval_interval=100, eval_batches=16, tokenizer="char"),
}


def lm_family(name):
    """"gpt" | "bert" | "lstm" for a language model's registry name, None for other models."""
    n = name.lower()
    if n.startswith("gpt"):
        return "gpt"
    if n.startswith("bert"):
        return "bert"
    if n in ("lstm", "gru", "char_lstm", "char_gru"):
        return "lstm"
    return None


@dataclasses.dataclass
class LMConfig:
    """Options of one language-model run; None means "from the family's recipe"."""
    model: str = "gpt"
    dataset: str = "shakespeare"
    tokenizer: Optional[str] = None      # "char" | "byte"
    block_size: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    warmup: Optional[int] = None
    min_lr_frac: float = 0.1
    max_steps: Optional[int] = None
    weight_decay: Optional[float] = None
    dropout: Optional[float] = None
    grad_clip: float = 1.0
    eval_interval: Optional[int] = None
    eval_batches: Optional[int] = None
    out: Optional[str] = None
    resume: Optional[str] = None
    seed: int = 0
    early_stopping: Optional[int] = None  # evaluations without a better validation loss
    device: str = "cpu"
    progress: Optional[bool] = None
    sample_tokens: Optional[int] = None  # None: the run's saved value on --resume, else 300
    prompt: Optional[str] = None         # None: the run's saved value on --resume, else a newline

    def resolved(self):
        family = lm_family(self.model)
        if family is None:
            raise CLIError(f"model {self.model!r} is not a language model (gpt*, bert*, lstm, gru)", 2)
        recipe = LM_RECIPES[family]
        values = options_with_defaults(self, {k: v for k, v in {**recipe, **_SAMPLE_DEFAULTS}.items() if k != "model"})
        if self.model.lower() in ("gpt", "bert", "lstm"):
            values["model"] = recipe["model"] if self.model.lower() != "lstm" else "char_lstm"
        return LMConfig(**values)


_RUN_KEYS = ("model", "dataset", "tokenizer", "block_size", "batch_size", "lr", "warmup", "min_lr_frac", "max_steps",
             "weight_decay", "dropout", "grad_clip", "eval_interval", "eval_batches", "seed", "early_stopping")
_RESUME_OVERRIDES = ("max_steps", "early_stopping", "out", "device", "progress", "sample_tokens", "prompt")
# Options of the final sample: saved with the run so that a resumed run keeps them, unless given again.
_SAMPLE_DEFAULTS = {"sample_tokens": 300, "prompt": "\n"}


def _check(c):
    if c.dataset not in LM_DATASETS:
        raise CLIError(f"--dataset {c.dataset!r} is not a text dataset; language models train on "
                       f"{', '.join(LM_DATASETS)}", 2)
    if c.tokenizer not in ("char", "byte"):
        raise CLIError(f"--tokenizer must be char or byte, got {c.tokenizer!r}", 2)
    for name in ("block_size", "batch_size", "max_steps", "eval_interval", "eval_batches"):
        v = getattr(c, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be a positive integer, got {v!r}", 2)
    if not (math.isfinite(c.lr) and c.lr > 0) or c.warmup < 0 or c.weight_decay < 0 or not 0 <= c.dropout < 1:
        raise CLIError(f"need --lr > 0, --warmup >= 0, --weight-decay >= 0 and --dropout in [0, 1); got "
                       f"{c.lr}, {c.warmup}, {c.weight_decay} and {c.dropout}", 2)
    _check_seed(c.seed)
    if c.model.lower() not in dlcore.models.list_models():
        raise CLIError(f"unknown model {c.model!r}; known models: {', '.join(dlcore.models.list_models())}", 2)


def lr_at(c, step):
    """The learning rate of optimizer step ``step`` (0-based): linear warm-up over ``warmup``
    steps, then cosine decay from lr to min_lr_frac * lr at max_steps."""
    if step < c.warmup:
        return c.lr * (step + 1) / c.warmup
    span = max(1, c.max_steps - c.warmup)
    t = min(1.0, (step - c.warmup) / span)
    return c.lr * (c.min_lr_frac + (1 - c.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * t)))


def _step_seed(seed, step, salt=0):
    return int(np.random.SeedSequence([seed, step, salt]).generate_state(1)[0])


# ---- models ------------------------------------------------------------------------------------

def build_lm(family, model_name, vocab_size, block_size, dropout, model_config=None):
    """(model, model_config): a fresh model of ``family``; ``model_config`` (from a checkpoint)
    rebuilds exactly the saved architecture."""
    from dlcore.models.bert import BertConfig, BertForMaskedLM
    from dlcore.models.gpt import GPT, GPTConfig

    if family == "gpt":
        if model_config is None:
            model_config = dlcore.models.get_model(model_name, vocab_size=vocab_size, block_size=block_size,
                                                   dropout=dropout).config.to_dict()
        return GPT(GPTConfig(**model_config)), model_config
    if family == "bert":
        if model_config is None:
            base = dlcore.models.get_model(model_name, vocab_size=vocab_size + 1, max_position_embeddings=block_size,
                                           hidden_dropout_prob=dropout)
            model_config = base.config.to_dict()
        return BertForMaskedLM(BertConfig(**model_config)), model_config
    from dlcore.models.rnnlm import RNNLanguageModel
    if model_config is None:
        model_config = dlcore.models.get_model(model_name, vocab_size=vocab_size, dropout=dropout).config
    return RNNLanguageModel(**model_config), dict(model_config)


# ---- the run -----------------------------------------------------------------------------------

class _LMRun:
    def __init__(self, config, say):
        self.say = say
        ckpt = None
        if config.resume:
            c, ckpt = self._resume_config(config)
        else:
            c = config.resolved()
        _check(c)
        self.c = c
        self.family = lm_family(c.model)
        try:
            self.train_set = Shakespeare("train", block_size=c.block_size, tokenizer=c.tokenizer, num_samples=1)
        except ValueError as e:
            raise CLIError(one_line(e), 2) from None
        self.tokenizer = self.train_set.tokenizer
        self.val_tokens = Shakespeare("val", block_size=c.block_size, tokenizer=self.tokenizer, num_samples=1).tokens
        self.train_tokens = self.train_set.tokens
        vocab = self.tokenizer.vocab_size
        self.mask_id = vocab  # BERT's [MASK]: one id past the text's vocabulary
        dlcore.manual_seed(c.seed)
        saved_cfg = ckpt["config"]["model_config"] if ckpt else None
        self.model, self.model_config = build_lm(self.family, c.model, vocab, c.block_size, c.dropout, saved_cfg)
        if c.device != "cpu":
            self.model.to(c.device)
        decay = [p for n, p in self.model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in self.model.named_parameters() if p.dim() < 2]
        self.optimizer = dlcore.optim.AdamW([{"params": decay, "weight_decay": c.weight_decay},
                                             {"params": no_decay, "weight_decay": 0.0}], lr=c.lr, betas=(0.9, 0.95))
        self.record = {k: getattr(c, k) for k in _RUN_KEYS + tuple(_SAMPLE_DEFAULTS)}
        self.record.update(family=self.family, model_config=self.model_config, tokenizer_config=self.tokenizer.config())
        self.history, self.step = [], 0
        self.partial = {"loss_sum": 0.0, "count": 0, "time": 0.0}
        if ckpt is not None:
            try:
                self.model.load_state_dict(ckpt["model"])
            except (RuntimeError, TypeError) as e:
                raise CLIError(f"checkpoint {c.resume!r} does not fit model {c.model!r}: {one_line(e)}") from None
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.history = [dict(h) for h in ckpt.get("metrics", [])]
            self.step = int(ckpt["step"])
            self.partial = dict(ckpt.get("partial") or self.partial)
        self.out = c.out or _default_out(c.model)
        os.makedirs(self.out, exist_ok=True)
        self.in_update = False
        params = sum(p.numel() for p in self.model.parameters())
        if ckpt is None:
            say(f"training {c.model} ({params:,} parameters) on {c.dataset}: {self.train_tokens.shape[0]:,} train / "
                f"{self.val_tokens.shape[0]:,} val tokens ({c.tokenizer}, vocabulary {vocab}); AdamW lr {c.lr:g}, "
                f"batch {c.batch_size} x {c.block_size}, {c.max_steps} steps; output in {self.out}")
        else:
            say(f"resuming {c.model} from {c.resume} at step {self.step}/{c.max_steps}; output in {self.out}")

    @staticmethod
    def _resume_config(config):
        ckpt = read_checkpoint(config.resume, map_location=config.device)
        if ckpt.get("format") != LM_CHECKPOINT_FORMAT:
            raise CLIError(f"{config.resume!r} is not a language-model checkpoint of dlcore train")
        saved = ckpt["config"]
        if lm_family(config.model) != saved["family"]:
            raise CLIError(f"checkpoint {config.resume!r} holds a {saved['model']!r} model, not {config.model!r}")
        values = {k: saved[k] for k in _RUN_KEYS}
        for k, default in _SAMPLE_DEFAULTS.items():  # checkpoints of older versions lack them
            values[k] = saved.get(k, default)
        for k in _RESUME_OVERRIDES:
            given = getattr(config, k)
            if given is not None:
                values[k] = given
        values["resume"] = config.resume
        values["out"] = config.out or os.path.dirname(os.path.abspath(config.resume))
        return LMConfig(**values), ckpt

    # ---- batches ----
    def _windows(self, tokens, rng, n):
        return _windows(tokens, rng, n, self.c.block_size, self.c.device)

    def _loss(self, x, y):
        return _lm_loss(self.model, self.family, x, y, self.mask_id, self.tokenizer.vocab_size)

    def evaluate(self):
        return _evaluate(self.model, self.family, self.val_tokens, self.c, self.mask_id, self.tokenizer.vocab_size)

    # ---- artefacts ----
    def save(self, name):
        dlcore.serialization.save_safetensors(
            {"format": LM_CHECKPOINT_FORMAT, "model": self.model.state_dict(),
             "optimizer": self.optimizer.state_dict(), "step": self.step, "partial": self.partial,
             "config": self.record, "metrics": self.history}, os.path.join(self.out, name))

    def _best(self):
        if not self.history:
            return None, None
        b = min(self.history, key=lambda h: (h["val_loss"], h["step"]))
        return b["step"], b["val_loss"]

    def write_artefacts(self, status, sample=None):
        best_step, best_loss = self._best()
        _write_json(os.path.join(self.out, "metrics.json"), {
            "model": self.c.model, "dataset": self.c.dataset, "status": status, "config": self.record,
            "history": self.history, "best_step": best_step, "best_val_loss": best_loss,
            "best_val_bpc": None if best_loss is None else best_loss / math.log(2), "sample": sample,
            "checkpoints": {"best": BEST, "last": LAST}})
        if self.history:
            from .plot import plot_lm_curves
            plot_lm_curves(self.history, os.path.join(self.out, "curves.png"),
                           title=f"{self.c.model} on {self.c.dataset}", per_char=self.c.tokenizer == "char")

    # ---- the loop ----
    def fit(self, on_step=None):
        from tqdm import tqdm

        c = self.c
        show_bar = c.progress if c.progress is not None else sys.stderr.isatty()
        status = "completed"
        tokens_per_step = c.batch_size * c.block_size
        with _SigintFlag(self.say) as sigint:
            bar = tqdm(total=c.max_steps, initial=self.step, desc=c.model, unit="step", disable=not show_bar,
                       leave=False, file=sys.stderr, dynamic_ncols=True)
            t0 = time.perf_counter() - self.partial["time"]
            try:
                while self.step < c.max_steps:
                    if sigint.requested:
                        raise KeyboardInterrupt
                    if self._stale():
                        status = "early_stopping"
                        break
                    lr = lr_at(c, self.step)
                    for g in self.optimizer.param_groups:
                        g["lr"] = lr
                    x, y = self._windows(self.train_tokens, np.random.default_rng([c.seed, self.step]), c.batch_size)
                    dlcore.manual_seed(_step_seed(c.seed, self.step))
                    loss = self._loss(x, y)
                    self.optimizer.zero_grad()
                    loss.backward()
                    value = loss.item()
                    if not math.isfinite(value):
                        raise CLIError(f"the training loss became {value} at step {self.step + 1}; try a lower --lr")
                    self.in_update = True
                    if c.grad_clip:
                        dlcore.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
                    self.optimizer.step()
                    self.step += 1
                    p = self.partial
                    p["loss_sum"] += value
                    p["count"] += 1
                    p["time"] = time.perf_counter() - t0
                    self.in_update = False
                    bar.set_postfix({"loss": f"{value:.3f}", "tok/s": f"{tokens_per_step * p['count'] / max(p['time'], 1e-9):.0f}"},
                                    refresh=False)
                    bar.update(1)
                    if on_step is not None:
                        on_step({"step": self.step, "loss": value})
                    if self.step % c.eval_interval == 0 or self.step == c.max_steps:
                        self.end_interval(lr)
                        t0 = time.perf_counter()
            except KeyboardInterrupt:
                bar.close()
                return self.interrupted()
            finally:
                bar.close()
        if status == "early_stopping":
            self.say(f"early stopping: validation loss has not improved for {c.early_stopping} evaluations")
        return self.finish(status)

    def _stale(self):
        best_step, _ = self._best()
        p = self.c.early_stopping
        return bool(p) and best_step is not None and \
            sum(1 for h in self.history if h["step"] > best_step) >= p and self.partial["count"] == 0

    def end_interval(self, lr):
        c, p = self.c, self.partial
        val_loss = self.evaluate()
        train_loss = p["loss_sum"] / max(p["count"], 1)
        elapsed = p["time"]
        _, best = self._best()
        improved = best is None or val_loss < best
        row = {"step": self.step, "epoch": len(self.history) + 1, "train_loss": train_loss, "val_loss": val_loss,
               "val_bpc": val_loss / math.log(2), "lr": lr, "time": elapsed,
               "tokens_per_s": c.batch_size * c.block_size * p["count"] / max(elapsed, 1e-9)}
        self.history.append(row)
        self.partial = {"loss_sum": 0.0, "count": 0, "time": 0.0}
        self.save(LAST)
        if improved:
            self.save(BEST)
        self.write_artefacts("running")
        unit = "bits/char" if c.tokenizer == "char" else "bits/byte"
        self.say(f"step {self.step}/{c.max_steps}  train loss {train_loss:.4f}  val loss {val_loss:.4f} "
                 f"({row['val_bpc']:.3f} {unit})  lr {lr:.3g}  {row['tokens_per_s']:.0f} tok/s"
                 f"{'  *best' if improved else ''}")

    def interrupted(self):
        return save_interrupted(self, f"step {self.step}/{self.c.max_steps}")

    def finish(self, status):
        sample = None
        if self.family != "bert":
            path = os.path.join(self.out, BEST)
            if os.path.exists(path):
                self.model.load_state_dict(read_checkpoint(path, self.c.device)["model"])
            dlcore.manual_seed(self.c.seed)
            sample = _sample(self.model, self.tokenizer, self.c.prompt, self.c.sample_tokens, 0.8, None, None,
                             self.c.device)
            self.say("sample:\n" + sample)
        self.write_artefacts(status, sample)
        best_step, best_loss = self._best()
        if best_loss is not None:
            self.say(f"best validation loss {best_loss:.4f} nats ({best_loss / math.log(2):.3f} bits per "
                     f"{'character' if self.c.tokenizer == 'char' else 'byte'}) at step {best_step}")
        self.say(f"wrote {os.path.join(self.out, BEST)}, {LAST}, metrics.json and curves.png")
        return self.result(status, sample)

    def result(self, status, sample=None):
        best_step, best_loss = self._best()
        return {"status": status, "out": self.out, "history": self.history, "steps_done": self.step,
                "best_step": best_step, "best_val_loss": best_loss, "sample": sample}


def _windows(tokens, rng, n, block_size, device="cpu"):
    """n random windows of block_size + 1 tokens as (inputs, next-token targets), (n, block_size) each."""
    starts = rng.integers(0, tokens.shape[0] - block_size - 1, size=n)
    w = tokens[dlcore.from_numpy(starts[:, None] + np.arange(block_size + 1)[None, :])]
    if device != "cpu":
        w = w.to(device)
    return w[:, :-1], w[:, 1:]


def _lm_loss(model, family, x, y, mask_id, vocab_size):
    """The family's training loss on a batch: next-token cross-entropy, or BERT's masked-LM loss on
    masks drawn from dlcore's generator."""
    if family == "bert":
        from dlcore.models.bert import mask_tokens
        masked, labels = mask_tokens(x, mask_id, vocab_size)
        return model(masked, labels=labels)[1]
    return model(x, y)[1]


def _evaluate(model, family, tokens, c, mask_id, vocab_size):
    """Mean loss over c.eval_batches fixed windows of ``tokens`` (and fixed masks, for BERT): the
    same batches at every evaluation of a run, so the validation curve is comparable."""
    was_training = model.training
    model.eval()
    total = 0.0
    with dlcore.no_grad():
        for k in range(c.eval_batches):
            x, y = _windows(tokens, np.random.default_rng([c.seed, 0xE7A1, k]), c.batch_size, c.block_size, c.device)
            dlcore.manual_seed(_step_seed(c.seed, k, 0xE7A1))
            total += _lm_loss(model, family, x, y, mask_id, vocab_size).item()
    model.train(was_training)
    return total / c.eval_batches


def _sample(model, tokenizer, prompt, tokens, temperature, top_k, top_p, device="cpu"):
    try:
        ids = tokenizer.encode(prompt)
    except ValueError as e:
        raise CLIError(f"the prompt can't be encoded: {one_line(e)}") from None
    if len(ids) == 0:
        raise CLIError("the prompt is empty; give at least one character")
    idx = dlcore.from_numpy(ids.reshape(1, -1))
    if device != "cpu":
        idx = idx.to(device)
    out = model.generate(idx, tokens, temperature=temperature, top_k=top_k, top_p=top_p)
    return tokenizer.decode(out[0].cpu())


def train_lm(config, on_step=None, log=None):
    """Runs the language-model training described by ``config`` (an LMConfig). Returns a dict:
    "status", "out", "history" (one row per evaluation), "steps_done", "best_step",
    "best_val_loss" (nats per token) and "sample" (text, None for BERT)."""
    return _LMRun(config, log or stderr_log).fit(on_step)


def _load_lm(path, device):
    """(model with the checkpoint's weights, tokenizer, saved config) of a train_lm checkpoint."""
    ckpt = read_checkpoint(path, map_location=device)
    if ckpt.get("format") != LM_CHECKPOINT_FORMAT:
        raise CLIError(f"{path!r} is not a language-model checkpoint of dlcore train (train one with: "
                       "dlcore train gpt --dataset shakespeare)")
    cfg = ckpt["config"]
    tokenizer = tokenizer_from_config(cfg["tokenizer_config"])
    model, _ = build_lm(cfg["family"], cfg["model"], tokenizer.vocab_size, cfg["block_size"], 0.0, cfg["model_config"])
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, TypeError) as e:
        raise CLIError(f"checkpoint {path!r} does not fit its model {cfg['model']!r}: {one_line(e)}") from None
    if device != "cpu":
        model.to(device)
    return model, tokenizer, cfg


def is_lm_checkpoint(path):
    """Whether ``path`` is a checkpoint written by train_lm (False for unreadable files)."""
    return checkpoint_format(path) == LM_CHECKPOINT_FORMAT


def evaluate_lm_checkpoint(path, split="val", device="cpu"):
    """(mean loss in nats per token, description) of a train_lm checkpoint on the fixed evaluation
    windows of ``split`` ("val" or "train") of its dataset."""
    if split not in ("val", "train"):
        raise CLIError(f"the text dataset has 'train' and 'val' splits, not {split!r}", 2)
    model, tokenizer, cfg = _load_lm(path, device)
    tokens = Shakespeare(split, block_size=cfg["block_size"], tokenizer=tokenizer, num_samples=1).tokens
    c = LMConfig(**{k: cfg[k] for k in _RUN_KEYS}, device=device)
    loss = _evaluate(model, cfg["family"], tokens, c, tokenizer.vocab_size, tokenizer.vocab_size)
    return loss, f"{cfg['model']} on {cfg['dataset']} {split}"


def generate_from_checkpoint(path, prompt="\n", tokens=200, temperature=0.8, top_k=None, top_p=None, seed=None,
                             device="cpu"):
    """Samples ``tokens`` tokens after ``prompt`` from a GPT or LSTM checkpoint of ``train_lm``;
    returns the text (prompt included)."""
    model, tokenizer, cfg = _load_lm(path, device)
    if cfg["family"] == "bert":
        raise CLIError(f"{path!r} holds a BERT (masked-LM) model, which does not generate text left to right")
    if seed is not None:
        dlcore.manual_seed(seed)
    return _sample(model, tokenizer, prompt, tokens, temperature, top_k, top_p, device)
