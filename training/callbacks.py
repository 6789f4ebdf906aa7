"""Lightning callbacks of the training runs (configured in ``configs/callbacks/``)."""

from __future__ import annotations

import logging
import math
import time

import pytorch_lightning as pl

log = logging.getLogger("training")


def _fmt(value) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return f"{v:.4f}" if math.isfinite(v) else "-"


class EpochLog(pl.Callback):
    """One log line per epoch: ``epoch 3/12 train/loss=0.41 val/eer=0.0912 (best 0.0850) 14 s -> <run dir>``.

    A concise progress report that stays readable in a log file (Lightning's per-step bar,
    ``trainer.enable_progress_bar=true``, is off by default: it floods logs and CI output).
    Hydra prints it on the console and writes it to the run's log; pytest keeps it quiet.
    """

    def __init__(self, monitor: str = "val/eer") -> None:
        self.monitor = monitor
        self._start = 0.0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            log.info("training up to %s epochs; checkpoints and metrics -> %s", trainer.max_epochs,
                     trainer.default_root_dir)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.monotonic()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        log.info(self.line(trainer, time.monotonic() - self._start))

    def line(self, trainer: pl.Trainer, seconds: float) -> str:
        """The progress line of the epoch that just ended."""
        m = trainer.callback_metrics
        best = f" (best {_fmt(m[f'{self.monitor}_best'])})" if f"{self.monitor}_best" in m else ""
        return (f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} "
                f"train/loss={_fmt(m.get('train/loss'))} {self.monitor}={_fmt(m.get(self.monitor))}{best} "
                f"{seconds:.0f} s -> {trainer.default_root_dir}")
