"""Building blocks shared by the Hydra entry points: config -> objects -> fit -> evaluation report."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from biometrics.data.datamodule import SequenceDataModule
from biometrics.models.inputs import pad_numpy
from biometrics.models.task import VerificationTask
from biometrics.protocols import detector_scorer, fused_scorer
from biometrics.reports import plot_det, plot_score_histogram, write_json

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PROJECT_ROOT", str(ROOT))


def build_datamodule(cfg: DictConfig, **overrides) -> SequenceDataModule:
    """Instantiate and set up the data module (parsing or loading its cache)."""
    dm: SequenceDataModule = instantiate(cfg.data, **overrides)
    dm.setup()
    return dm


def build_task(cfg: DictConfig, dm: SequenceDataModule) -> VerificationTask:
    """Instantiate the task with the encoder's input width and class count taken from the data."""
    model_cfg = cfg.model.copy()
    with open_dict(model_cfg):
        model_cfg.encoder.in_features = dm.in_features
        if "key_bucket" in dm.used_features:  # the encoder embeds buckets instead of reading a float
            model_cfg.encoder.bucket_column = dm.used_features.index("key_bucket")
        model_cfg.num_classes = dm.num_train_users
    return instantiate(model_cfg)


def build_trainer(cfg: DictConfig, output_dir: Path) -> tuple[pl.Trainer, pl.callbacks.ModelCheckpoint | None]:
    """Trainer with the configured callbacks and loggers; returns the checkpoint callback too."""
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
    if not loggers:  # a learning-rate monitor has nowhere to write without a logger
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.LearningRateMonitor)]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                          default_root_dir=str(output_dir))
    ckpt = next((c for c in callbacks if isinstance(c, pl.callbacks.ModelCheckpoint) and c.monitor), None)
    return trainer, ckpt


def resolve_ckpt(ckpt_path: str | None, output_dir: Path) -> str | None:
    """``"last"`` means ``<output_dir>/checkpoints/last.ckpt`` when it exists (resume), else a fresh start."""
    if ckpt_path == "last":
        last = output_dir / "checkpoints" / "last.ckpt"
        return str(last) if last.exists() else None
    return ckpt_path


def fit(cfg: DictConfig, dm: SequenceDataModule, output_dir: Path) -> tuple[VerificationTask, dict]:
    """Train, then reload the best checkpoint; returns the task and fit facts."""
    task = build_task(cfg, dm)
    trainer, ckpt = build_trainer(cfg, output_dir)
    start = time.time()
    trainer.fit(task, datamodule=dm, ckpt_path=resolve_ckpt(cfg.get("ckpt_path"), output_dir))
    facts = {"fit_wall_s": round(time.time() - start, 1), "epochs": trainer.current_epoch,
             "best_ckpt": ckpt.best_model_path if ckpt else None,
             "val_eer_best": float(trainer.callback_metrics.get("val/eer_best", np.nan))}
    if ckpt and ckpt.best_model_path:
        task = load_task(ckpt.best_model_path, cfg, dm)
    return task, facts


def load_task(path: str, cfg: DictConfig, dm: SequenceDataModule) -> VerificationTask:
    """Rebuild the task from config and load a checkpoint's weights into it."""
    task = build_task(cfg, dm)
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    task.load_state_dict(state)
    return task.eval()


def embed_stage(task: VerificationTask, dm: SequenceDataModule, stage: str,
                batch_size: int = 1024) -> np.ndarray:
    """Embeddings of every sequence of a stage, head-cropped as in evaluation.

    Sequences go through in order of length, each batch padded only to its own longest,
    which gives the same embeddings (every encoder masks padding) for much less compute.
    """
    tokens = dm.sets[stage].tokens
    by_length = np.argsort([t.shape[0] for t in tokens], kind="stable")
    out = np.zeros((len(tokens), 0), dtype=np.float32)
    for start in range(0, len(tokens), batch_size):
        idx = by_length[start:start + batch_size]
        batch = [tokens[i] for i in idx]
        x, mask = pad_numpy(batch, max(1, min(dm.max_len, max(t.shape[0] for t in batch))))
        emb = task.embed(torch.from_numpy(x), torch.from_numpy(mask), batch_size)
        if out.shape[1] == 0:
            out = np.zeros((len(tokens), emb.shape[1]), dtype=np.float32)
        out[idx] = emb
    return out


def evaluate(task: VerificationTask, dm: SequenceDataModule, baselines: list[str],
             output_dir: Path, stage: str = "test", prefix: str = "", fusion: str | None = None) -> dict:
    """Encoder, classic baselines and (optionally) their fusion under the data module's protocol.

    Writes DET and score-histogram plots beside the JSON.
    """
    emb = embed_stage(task, dm, stage)
    report = {"encoder": dm.evaluate_embeddings(emb, stage)}
    vectors = dm.baseline_vectors(stage)
    for name in baselines:
        report[name] = dm.evaluate_embeddings(vectors, stage, scorer=detector_scorer(name))
    if fusion:
        both = np.concatenate([emb, vectors], axis=1)
        report[f"encoder+{fusion}"] = dm.evaluate_embeddings(both, stage, scorer=fused_scorer(emb.shape[1], fusion))
    curves = {k: v["scores"] for k, v in report.items() if "scores" in v}
    if curves:
        plot_det(curves, output_dir / f"{prefix}det.png", title=f"{type(dm).__name__} ({stage})")
        plot_score_histogram(*curves["encoder"], output_dir / f"{prefix}scores.png", title="encoder")
    dm.write_plots(report, output_dir, prefix)
    return report


def config_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML, for the run record."""
    return OmegaConf.to_yaml(cfg, resolve=False)


def save_report(report: dict, output_dir: Path, name: str = "metrics.json") -> Path:
    """Write a run's report and return its path."""
    path = output_dir / name
    write_json(path, report)
    return path
