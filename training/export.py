"""Hydra entry point: turn a training run into a model bundle for scoring.

    python -m training.export run_dir=logs/aalto_typenet/runs/<run> out=bundles/keystroke.pt
    python -m training.export 'run_dirs=[logs/a,logs/b,logs/c]' out=bundles/sample.pt   # one modality each

Rebuilds the run's own config and data module, loads its checkpoint, fits the score
calibration on the validation users (held out from training, disjoint from the test
users the figures are reported on) and writes :class:`biometrics.bundle.ModelBundle`.

A missing or wrong ``run_dir`` ends the command with a one-line message and exit status 1
(no traceback, no bundle written).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from biometrics.bundle import ModelBundle
from biometrics.calibration import fit_calibration
from biometrics.heads.distance import DistanceHead
from biometrics.modalities import modality
from biometrics.scorers import Encoder, ModalityScorer
from training.run import ROOT, build_datamodule, embed_stage, load_task

log = logging.getLogger(__name__)

USAGE = ("pass the training run to export: run_dir=logs/<task>/runs/<run> "
         "(or 'run_dirs=[<run>,<run>]', one modality each), e.g. "
         "python -m training.export run_dir=logs/aalto_typenet/runs/<run> out=bundles/keystroke.pt")


class ExportError(ValueError):
    """A run that cannot be exported, with a message that says what to pass instead."""


def check_run_dir(run_dir: Path) -> None:
    """Raise :class:`ExportError` unless ``run_dir`` is a training run folder (with its Hydra config)."""
    if not run_dir.is_dir():
        raise ExportError(f"run_dir {run_dir} does not exist; {USAGE}")
    if not (run_dir / ".hydra" / "config.yaml").is_file():
        raise ExportError(f"run_dir {run_dir} is not a training run (no .hydra/config.yaml in it); "
                          "pass the folder `python -m training.train` printed as its run directory")


def find_checkpoint(run_dir: Path, which: str) -> Path:
    """The run's best (from its metrics.json) or last checkpoint, or an explicit path."""
    if which == "last":
        return run_dir / "checkpoints" / "last.ckpt"
    if which == "best":
        metrics = run_dir / "metrics.json"
        best = json.loads(metrics.read_text())["fit"]["best_ckpt"] if metrics.exists() else None
        return Path(best) if best else run_dir / "checkpoints" / "last.ckpt"
    return Path(which)


def export_run(run_dir: Path, which: str = "best", model_version: str | None = None) -> ModelBundle:
    """Build the bundle for one training run (its modality is its data module's)."""
    check_run_dir(run_dir)
    ckpt = find_checkpoint(run_dir, which)
    if not ckpt.is_file():
        raise ExportError(f"no checkpoint at {ckpt}; pass ckpt=best, ckpt=last or a checkpoint path "
                          "of a run that finished at least one epoch")
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    OmegaConf.update(cfg, "paths.output_dir", str(run_dir), force_add=True)
    OmegaConf.update(cfg, "paths.root_dir", str(ROOT), force_add=True)
    dm = build_datamodule(cfg)
    if "key_bucket" in dm.used_features:
        raise ExportError(
            f"{run_dir}: the encoder reads key groups (key_identity={getattr(dm, 'key_identity', '?')}), "
            "which the session contract does not carry, so serving could not feed it; export a run "
            "trained with data.key_identity=classes (or none)")
    if getattr(dm, "unit", "session") != "session":
        raise ExportError(
            f"{run_dir}: its encoder scores {dm.unit}s with a per-user head on the protocol's background "
            "set; build that scorer with `python -m training.default_bundle`")
    task = load_task(str(ckpt), cfg, dm)
    head = DistanceHead()
    emb = embed_stage(task, dm, "val")
    report = dm.evaluate_embeddings(emb, "val")  # mean distance: the head's score
    kwargs = OmegaConf.to_container(cfg.model.encoder, resolve=True)
    kwargs.pop("_target_")
    kwargs["in_features"] = dm.in_features
    encoder = Encoder(type(task.encoder).__name__, kwargs, task.encoder.eval(), dm.columns, dm.max_len)
    scorer = ModalityScorer(dm.modality, dm.modality, "session", modality(dm.modality).default_feature_config(),
                            head, fit_calibration(*dm.calibration_scores(emb, "val")), encoder,
                            metrics={"val_eer": float(report["eer"])})
    version = model_version or f"{cfg.task_name}-{run_dir.name}"
    return ModelBundle(version, {dm.modality: scorer})


def export_runs(run_dirs: list[Path], which: str = "best", model_version: str | None = None) -> ModelBundle:
    """One bundle from several runs, one modality each (a later run of a modality wins)."""
    if not run_dirs:
        raise ExportError(f"no run to export; {USAGE}")
    bundles = [export_run(d, which, model_version) for d in run_dirs]
    version = model_version or "+".join(b.model_version for b in bundles)
    return ModelBundle(version, {k: v for b in bundles for k, v in b.scorers.items()})


@hydra.main(version_base="1.3", config_path="../configs", config_name="export.yaml")
def main(cfg: DictConfig) -> None:
    run_dirs = [Path(d) for d in ([cfg.run_dir] if cfg.get("run_dir") else (cfg.get("run_dirs") or []))]
    try:
        for d in run_dirs:  # every folder checked before the first (slow) export
            check_run_dir(d)
        bundle = export_runs(run_dirs, cfg.ckpt, cfg.model_version)
    except ExportError as err:
        sys.exit(f"training.export: {err}")  # one line on stderr, exit status 1
    bundle.save(cfg.out)
    log.info("bundle %s written to %s", bundle.model_version, cfg.out)


if __name__ == "__main__":
    main()
