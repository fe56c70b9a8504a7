"""The epoch loop shared by the detection and segmentation trainers (cli/detect.py, cli/segment.py).

A run subclasses ``EpochRun`` and provides its state (``c`` the resolved config with ``epochs``,
``batch_size``, ``early_stopping``, ``progress``; ``model``, ``history``, ``epoch``, ``partial``
with at least ``step`` and ``time``, ``steps_per_epoch``, ``out``, ``say``) and these steps:

* ``_epoch_batches(epoch, first_step)``: the batches of an epoch from ``first_step`` on (a
  resumed run starts inside an epoch, Note [Exact resume] in cli/train.py);
* ``_set_lr(epoch, step)``: sets and returns the learning rate of a step;
* ``_forward_backward(batch, epoch)``: the loss's backward; returns the step's loss values by name
  (added up in ``partial``); raises CLIError for a non-finite loss;
* ``_update()``: the optimizer update (and what goes with it: clipping, EMA);
* ``_postfix(partial, steps)``: the progress bar's fields;
* ``end_epoch(lr)``, ``finish(status)``, ``save(name)``, ``write_artefacts(status)``.

``BEST_KEY`` names the history's validation score that picks the best epoch (higher is better)
and ``BEST_LABEL`` how messages call it. ``_resume_config`` reads a checkpoint of
``CHECKPOINT_FORMAT`` (a ``KIND`` checkpoint) and rebuilds the run's ``CONFIG`` from its
``RUN_KEYS`` and the command line's ``RESUME_OVERRIDES`` (``resumed_values`` in cli/train.py).
"""
import sys
import time

from .errors import CLIError
from .train import _SigintFlag, read_run_checkpoint, resumed_values, save_interrupted

__all__ = ["EpochRun"]


class EpochRun:
    BEST_KEY = None
    BEST_LABEL = None
    CHECKPOINT_FORMAT = KIND = CONFIG = RUN_KEYS = RESUME_OVERRIDES = None

    @classmethod
    def _resume_config(cls, config):
        """(the config of the run saved in ``config.resume``, its checkpoint)."""
        ckpt = read_run_checkpoint(config.resume, cls.CHECKPOINT_FORMAT, cls.KIND, map_location=config.device)
        saved = ckpt["config"]
        if saved["model"].lower() != config.model.lower():
            raise CLIError(f"checkpoint {config.resume!r} was trained with model {saved['model']!r}, "
                           f"not {config.model!r}")
        values = resumed_values(config, saved, cls.RUN_KEYS, cls.RESUME_OVERRIDES, cls.CONFIG())
        return cls.CONFIG(**values), ckpt

    def _best(self):
        """(epoch, score) of the best epoch so far (the earliest among equals), (None, None) if none."""
        if not self.history:
            return None, None
        b = max(self.history, key=lambda h: (h[self.BEST_KEY], -h["epoch"]))
        return b["epoch"], b[self.BEST_KEY]

    def _stale(self):
        best_epoch, _ = self._best()
        p = self.c.early_stopping
        return bool(p) and best_epoch is not None and self.epoch - best_epoch >= p and self.partial["step"] == 0

    def fit(self, on_step=None):
        """Trains to ``c.epochs`` (or early stopping, or Ctrl-C) and returns the run's result."""
        from tqdm import tqdm

        c = self.c
        show_bar = c.progress if c.progress is not None else sys.stderr.isatty()
        status = "completed"
        with _SigintFlag(self.say) as sigint:
            try:
                while self.epoch < c.epochs:
                    if self._stale():
                        status = "early_stopping"
                        break
                    e = self.epoch
                    start = self.partial["step"]
                    batches = self._epoch_batches(e, start)
                    bar = tqdm(total=self.steps_per_epoch, initial=start, desc=f"epoch {e + 1}/{c.epochs}",
                               unit="step", disable=not show_bar, leave=False, file=sys.stderr, dynamic_ncols=True)
                    t0 = time.perf_counter() - self.partial["time"]
                    self.model.train()
                    lr = self._set_lr(e, start)
                    try:
                        for batch in batches:
                            if sigint.requested:
                                raise KeyboardInterrupt
                            p = self.partial
                            lr = self._set_lr(e, p["step"])
                            values = self._forward_backward(batch, e)
                            self.in_update = True
                            self._update()
                            p["step"] += 1
                            for k, v in values.items():
                                p[k] += v
                            p["time"] = time.perf_counter() - t0
                            self.in_update = False
                            bar.set_postfix(self._postfix(p, max(p["step"] - start, 1)), refresh=False)
                            bar.update(1)
                            if on_step is not None:
                                on_step({"epoch": e, "step": p["step"], **values})
                    finally:
                        bar.close()
                    self.end_epoch(lr)
            except KeyboardInterrupt:
                return self.interrupted()
        if status == "early_stopping":
            self.say(f"early stopping: {self.BEST_LABEL} has not improved for {c.early_stopping} epochs")
        return self.finish(status)

    def interrupted(self):
        return save_interrupted(self, f"epoch {self.epoch + 1}, step {self.partial['step']}/{self.steps_per_epoch}")

    def result(self, status, test=None):
        best_epoch, best = self._best()
        return {"status": status, "out": self.out, "history": self.history, "epochs_done": self.epoch,
                "best_epoch": best_epoch, f"best_{self.BEST_KEY}": best, "test": test}
