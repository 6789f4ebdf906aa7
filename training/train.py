"""Hydra entry point: train a verification encoder and evaluate it on users it never saw.

    python -m training.train experiment=aalto_typenet
    python -m training.train experiment=cmu_folds
    python -m training.train -m experiment=aalto_typenet model.encoder.hidden=64,128 model.optimizer.lr=1e-3,3e-3

Writes ``checkpoints/``, ``metrics.json``, ``det.png`` and ``scores.png`` into the run
directory and returns ``cfg.optimized_metric`` so that sweepers can minimize it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import hydra
import numpy as np
import pytorch_lightning as pl
from omegaconf import DictConfig, open_dict

from biometrics.reports import plot_amount_curve, plot_det
from training.run import build_datamodule, evaluate, fit, save_report

log = logging.getLogger(__name__)


def train_once(cfg: DictConfig, output_dir: Path, prefix: str = "", **data_overrides) -> dict:
    """One fit + test evaluation; returns the report (also written as ``<prefix>metrics.json``)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    cfg = cfg.copy()
    with open_dict(cfg):  # checkpoints and logs of this fit go under its own folder
        cfg.paths.output_dir = str(output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    dm = build_datamodule(cfg, **data_overrides)
    task, facts = fit(cfg, dm, output_dir)
    report = {"fit": facts, "n_train_users": dm.num_train_users,
              "n_val_users": int(np.unique(dm.sets["val"].users).size),
              "n_test_users": int(np.unique(dm.sets["test"].users).size)}
    if cfg.get("test"):
        report.update(evaluate(task, dm, list(cfg.get("baselines") or []), output_dir, prefix=prefix,
                               fusion=cfg.get("fusion")))
    save_report(report, output_dir, f"{prefix}metrics.json")
    return report


def cross_validate(cfg: DictConfig, output_dir: Path) -> dict:
    """Train one encoder per held-out fold of users; pool the per-user results."""
    folds = [train_once(cfg, output_dir / f"fold{k}", fold=k, n_folds=cfg.folds) for k in range(cfg.folds)]
    summary: dict = {"folds": cfg.folds}
    for name in folds[0]:
        if isinstance(folds[0][name], dict) and "per_subject" in folds[0][name]:
            eers = np.array([e for f in folds for e in f[name]["per_subject"].values()])
            summary[name] = {"eer_mean": float(eers.mean()), "eer_sd": float(eers.std()),
                             "n_subjects": int(eers.size)}
        elif isinstance(folds[0][name], dict) and "per_subject_by_k" in folds[0][name]:
            summary[name] = pool_by_k([f[name]["per_subject_by_k"] for f in folds])
    summary["val/eer_best"] = float(np.mean([f["fit"]["val_eer_best"] for f in folds]))
    summary["n_train_users_by_fold"] = [f["n_train_users"] for f in folds]
    save_report(summary, output_dir)
    write_pooled_plots(folds, summary, output_dir)
    return summary


def pool_by_k(per_fold: list[dict[str, dict]]) -> dict:
    """Pool per-user EERs by amount seen (``{k: {user: eer}}`` per fold) over all folds' users."""
    out: dict = {"eer_by_k": {}, "eer_median_by_k": {}, "eer_sd_by_k": {}, "n_subjects_by_k": {}}
    for k in per_fold[0]:
        eers = np.array([e for f in per_fold for e in f.get(k, {}).values()])
        if eers.size:
            out["eer_by_k"][k], out["eer_median_by_k"][k] = float(eers.mean()), float(np.median(eers))
            out["eer_sd_by_k"][k], out["n_subjects_by_k"][k] = float(eers.std()), int(eers.size)
    return out


def write_pooled_plots(folds: list[dict], summary: dict, output_dir: Path) -> None:
    """DET curves of the folds' pooled scores and, for amount-seen results, the pooled EER curve."""
    curves = {n: tuple(np.concatenate(x) for x in zip(*(f[n]["scores"] for f in folds)))
              for n in folds[0] if isinstance(folds[0][n], dict) and "scores" in folds[0][n]}
    if curves:
        plot_det(curves, output_dir / "det.png", title=f"all {len(folds)} folds")
    amounts = {n: v["eer_by_k"] for n, v in summary.items() if isinstance(v, dict) and "eer_by_k" in v}
    if amounts:
        plot_amount_curve(amounts, output_dir / "eer_by_amount.png", xlabel="amount seen",
                          ylabel="EER (mean over users)", title=f"all {len(folds)} folds")


def train(cfg: DictConfig) -> dict:
    """Run the configured training (single split or folds) and return its report."""
    output_dir = Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir)
    start = time.time()
    report = cross_validate(cfg, output_dir) if cfg.get("folds") else train_once(cfg, output_dir)
    report["wall_s"] = round(time.time() - start, 1)
    save_report(report, output_dir)
    log.info("run directory: %s", output_dir)
    return report


def metric_value(report: dict, name: str) -> float | None:
    """Look up ``val/eer_best`` style names in a report (fit facts first)."""
    if name in report:
        return float(report[name])
    key = name.replace("/", "_")
    return float(report.get("fit", {}).get(key, np.nan))


@hydra.main(version_base="1.3", config_path="../configs", config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    report = train(cfg)
    return metric_value(report, cfg.get("optimized_metric") or "val/eer_best")


if __name__ == "__main__":
    main()
