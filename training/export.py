"""Hydra entry point: turn a training run into a model bundle for scoring.

    python -m training.export run_dir=logs/aalto_typenet/runs/<run> out=bundles/keystroke.pt
    python -m training.export 'run_dirs=[logs/a,logs/b,logs/c]' out=bundles/sample.pt   # one modality each

Rebuilds the run's own config and data module, loads its checkpoint, fits the score
calibration on the validation users (held out from training, disjoint from the test
users the figures are reported on) and writes :class:`biometrics.bundle.ModelBundle`.

* A **session-unit** run (keystrokes: ``aalto_typenet``, ``cmu_folds``, ``strokepin_phone``,
  ``synthetic``) gets the encoder with a :class:`~biometrics.heads.distance.DistanceHead`,
  the head its protocol scores with (mean distance to the enrollment embeddings).
* An **action- or stroke-unit** run (``balabit_mouse``, ``touch_serwadda``) gets the scorer its
  data module's test figures are computed through (``dm.served_scorers().served_scorer``, in
  ``biometrics.data.balabit_scorer_protocol`` / ``serwadda_scorer_protocol``): the run's encoder,
  the per-user head against a background of training users' items shipped in the bundle
  (boosted trees on mouse actions, an RBF SVM on touch strokes), the experiment's item
  inputs, and a calibration fitted on the validation users' scores from that scorer.
* A **cross-validated** run (``folds=k``) exports one fold's model (``fold``, default 0: the
  fold whose test users the data config names), with that fold's data split.

A missing or wrong ``run_dir`` ends the command with a one-line message and exit status 1
(no traceback, no bundle written).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sys
from pathlib import Path
from types import SimpleNamespace

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
        best = json.loads(metrics.read_text()).get("fit", {}).get("best_ckpt") if metrics.exists() else None
        return Path(best) if best else run_dir / "checkpoints" / "last.ckpt"
    return Path(which)


def run_fold(cfg, which: str, fold: int | None) -> int | None:
    """The fold of a cross-validated run to export (None: the run is not cross-validated)."""
    if not cfg.get("folds"):
        return None
    if fold is None and which not in ("best", "last"):  # a checkpoint path: .../fold<k>/checkpoints/x.ckpt
        found = re.fullmatch(r"fold(\d+)", Path(which).parent.parent.name)
        fold = int(found.group(1)) if found else None
    fold = 0 if fold is None else int(fold)
    if not 0 <= fold < int(cfg.folds):
        raise ExportError(f"fold {fold} is not one of the run's {cfg.folds} folds")
    return fold


def encoder_of(task, cfg, dm) -> Encoder:
    """The run's trained encoder with its input contract (token columns, crop length)."""
    kwargs = OmegaConf.to_container(cfg.model.encoder, resolve=True)
    kwargs.pop("_target_")
    kwargs["in_features"] = dm.in_features
    return Encoder(type(task.encoder).__name__, kwargs, task.encoder.eval(), dm.columns, dm.max_len)


def stage_embedder(task, dm):
    """``embed(stage, rows)``: embeddings of a stage's sequences (``rows`` of it; None: all), as
    evaluation computes them (:func:`training.run.embed_stage`)."""
    def embed(stage: str, rows=None):
        tokens = dm.sets[stage].tokens
        if rows is not None:
            tokens = [tokens[int(i)] for i in rows]
        view = SimpleNamespace(sets={stage: SimpleNamespace(tokens=tokens)}, max_len=dm.max_len)
        return embed_stage(task, view, stage)
    return embed


def export_run(run_dir: Path, which: str = "best", model_version: str | None = None,
               fold: int | None = None) -> ModelBundle:
    """Build the bundle for one training run (its modality is its data module's).

    ``fold``: of a cross-validated run, the fold whose model is exported (default 0, or the
    fold of a checkpoint path given as ``which``)."""
    check_run_dir(run_dir)
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    k = run_fold(cfg, which, fold)
    ckpt = find_checkpoint(run_dir if k is None else run_dir / f"fold{k}", which)
    if not ckpt.is_file():
        raise ExportError(f"no checkpoint at {ckpt}; pass ckpt=best, ckpt=last or a checkpoint path "
                          "of a run that finished at least one epoch")
    OmegaConf.update(cfg, "paths.output_dir", str(run_dir), force_add=True)
    OmegaConf.update(cfg, "paths.root_dir", str(ROOT), force_add=True)
    dm = build_datamodule(cfg, **({} if k is None else {"fold": k, "n_folds": int(cfg.folds)}))
    if "key_bucket" in dm.used_features:
        raise ExportError(
            f"{run_dir}: the encoder reads key groups (key_identity={getattr(dm, 'key_identity', '?')}), "
            "which the session contract does not carry, so serving could not feed it; export a run "
            "trained with data.key_identity=classes (or none)")
    unit = getattr(dm, "unit", "session")
    if unit != "session" and not hasattr(dm, "served_scorers"):
        raise ExportError(f"{run_dir}: {type(dm).__name__} scores {unit}s but builds no served scorer")
    protocol = dm.served_scorers() if unit != "session" else None  # the protocol's served-scorer builder
    try:
        getattr(protocol, "served_head", lambda: None)()  # e.g. a touch scoring with no servable head
    except ValueError as err:
        raise ExportError(f"{run_dir}: {err}") from err
    task = load_task(str(ckpt), cfg, dm)
    encoder = encoder_of(task, cfg, dm)
    if protocol is not None:
        scorer = protocol.served_scorer(encoder, stage_embedder(task, dm))
    else:
        emb = embed_stage(task, dm, "val")
        report = dm.evaluate_embeddings(emb, "val")  # mean distance: the head's score
        scorer = ModalityScorer(dm.modality, dm.modality, "session",
                                modality(dm.modality).default_feature_config(), DistanceHead(),
                                fit_calibration(*dm.calibration_scores(emb, "val")), encoder,
                                metrics={"val_eer": float(report["eer"])})
    if k is not None:
        scorer = dataclasses.replace(scorer, metrics={**scorer.metrics, "fold": k})
    version = model_version or f"{cfg.task_name}-{run_dir.name}" + ("" if k is None else f"-fold{k}")
    return ModelBundle(version, {dm.modality: scorer})


def export_runs(run_dirs: list[Path], which: str = "best", model_version: str | None = None,
                fold: int | None = None) -> ModelBundle:
    """One bundle from several runs, one modality each (a later run of a modality wins)."""
    if not run_dirs:
        raise ExportError(f"no run to export; {USAGE}")
    bundles = [export_run(d, which, model_version, fold) for d in run_dirs]
    version = model_version or "+".join(b.model_version for b in bundles)
    return ModelBundle(version, {k: v for b in bundles for k, v in b.scorers.items()})


@hydra.main(version_base="1.3", config_path="../configs", config_name="export.yaml")
def main(cfg: DictConfig) -> None:
    run_dirs = [Path(d) for d in ([cfg.run_dir] if cfg.get("run_dir") else (cfg.get("run_dirs") or []))]
    try:
        for d in run_dirs:  # every folder checked before the first (slow) export
            check_run_dir(d)
        bundle = export_runs(run_dirs, cfg.ckpt, cfg.model_version, cfg.get("fold"))  # +fold=k: that fold
    except ExportError as err:
        sys.exit(f"training.export: {err}")  # one line on stderr, exit status 1
    bundle.save(cfg.out)
    log.info("bundle %s written to %s", bundle.model_version, cfg.out)


if __name__ == "__main__":
    main()
