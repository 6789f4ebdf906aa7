"""Hydra entry point: evaluate a checkpoint on a data module's held-out test users.

    python -m training.evaluate experiment=aalto_typenet ckpt_path=logs/aalto_typenet/runs/<run>/checkpoints/last.ckpt

Writes ``metrics.json``, ``det.png`` and ``scores.png`` (encoder and classic baselines on
the same split, by the same protocol code) into the run directory.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig

from training.run import build_datamodule, evaluate, load_task, save_report

log = logging.getLogger(__name__)


def run_evaluation(cfg: DictConfig) -> dict:
    """Evaluate ``cfg.ckpt_path`` and return the report."""
    pl.seed_everything(cfg.seed, workers=True)
    output_dir = Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir)
    dm = build_datamodule(cfg)
    task = load_task(cfg.ckpt_path, cfg, dm)
    report = {"ckpt_path": cfg.ckpt_path, **evaluate(task, dm, list(cfg.get("baselines") or []), output_dir)}
    log.info("metrics written to %s", save_report(report, output_dir))
    return report


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval.yaml")
def main(cfg: DictConfig) -> None:
    run_evaluation(cfg)


if __name__ == "__main__":
    main()
