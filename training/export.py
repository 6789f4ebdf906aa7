"""Hydra entry point: turn a training run into a model bundle for scoring.

    python -m training.export run_dir=logs/aalto_typenet/runs/<run> out=bundles/keystroke.pt
    python -m training.export 'run_dirs=[logs/a,logs/b,logs/c]' out=bundles/sample.pt   # one modality each

Rebuilds the run's own config and data module, loads its checkpoint, fits the score
calibration on the validation users (held out from training, disjoint from the test
users the figures are reported on) and writes :class:`biometrics.bundle.ModelBundle`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from biometrics.bundle import ModalityModel, ModelBundle, fit_calibration
from biometrics.features.session import feature_config
from training.run import ROOT, build_datamodule, embed_stage, load_task

log = logging.getLogger(__name__)


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
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    OmegaConf.update(cfg, "paths.output_dir", str(run_dir), force_add=True)
    OmegaConf.update(cfg, "paths.root_dir", str(ROOT), force_add=True)
    dm = build_datamodule(cfg)
    if "key_bucket" in dm.used_features:
        raise ValueError(
            f"{run_dir}: the encoder reads key groups (key_identity={getattr(dm, 'key_identity', '?')}), "
            "which the session contract does not carry, so serving could not feed it; export a run "
            "trained with data.key_identity=classes (or none)")
    task = load_task(str(find_checkpoint(run_dir, which)), cfg, dm)
    report = dm.evaluate_embeddings(embed_stage(task, dm, "val"), "val")
    calibration = fit_calibration(*report["scores"])
    kwargs = OmegaConf.to_container(cfg.model.encoder, resolve=True)
    kwargs.pop("_target_")
    kwargs["in_features"] = dm.in_features
    model = ModalityModel(type(task.encoder).__name__, kwargs, task.encoder.eval(), dm.columns, dm.max_len,
                          dataclasses.asdict(feature_config(dm.modality)), calibration,
                          {"val_eer": float(report["eer"])})
    version = model_version or f"{cfg.task_name}-{run_dir.name}"
    return ModelBundle(version, {dm.modality: model})


def export_runs(run_dirs: list[Path], which: str = "best", model_version: str | None = None) -> ModelBundle:
    """One bundle from several runs, one modality each (a later run of a modality wins)."""
    bundles = [export_run(d, which, model_version) for d in run_dirs]
    version = model_version or "+".join(b.model_version for b in bundles)
    return ModelBundle(version, {k: v for b in bundles for k, v in b.modalities.items()})


@hydra.main(version_base="1.3", config_path="../configs", config_name="export.yaml")
def main(cfg: DictConfig) -> None:
    run_dirs = [Path(d) for d in ([cfg.run_dir] if cfg.get("run_dir") else cfg.run_dirs)]
    bundle = export_runs(run_dirs, cfg.ckpt, cfg.model_version)
    bundle.save(cfg.out)
    log.info("bundle %s written to %s", bundle.model_version, cfg.out)


if __name__ == "__main__":
    main()
