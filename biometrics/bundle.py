"""Model bundle: everything scoring needs to embed sessions, loadable without Hydra or training code.

One ``.pt`` file holding, per modality: the encoder's class name (from an allow-list, never
an import path taken from the file), its constructor arguments and weights, the feature
configuration and token columns, the crop length, and the calibration fitted on held-out
genuine and impostor scores. Loaded with ``torch.load(weights_only=True)``: no pickled code.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from biometrics.events import SCHEMA_VERSION
from biometrics.models.encoders import BiGRUAttentionEncoder, ConvTransformerEncoder, TypeNetEncoder
from biometrics.models.inputs import pad_numpy

#: Format 2: models of session contract v2 (key classes with ``masked``; no key buckets).
BUNDLE_FORMAT = 2
ENCODERS: dict[str, type[nn.Module]] = {
    c.__name__: c for c in (TypeNetEncoder, ConvTransformerEncoder, BiGRUAttentionEncoder)
}


#: Quantile levels at which a calibration keeps its held-out probability distributions.
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 201)


@dataclass(frozen=True)
class Calibration:
    """Logistic map from a distance to P(not the owner), plus the held-out score distributions.

    ``genuine_quantiles`` / ``impostor_quantiles`` are the calibrated probabilities of the
    held-out genuine and impostor comparisons at :data:`QUANTILE_LEVELS`, from which
    decision thresholds for target error rates are derived.
    """

    slope: float
    intercept: float
    genuine_mean: float
    genuine_sd: float
    impostor_mean: float
    impostor_sd: float
    genuine_quantiles: tuple[float, ...] = ()
    impostor_quantiles: tuple[float, ...] = ()

    def probability(self, score: np.ndarray | float) -> np.ndarray:
        """P(impostor) for anomaly scores."""
        z = self.slope * np.asarray(score, dtype=np.float64) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def fit_calibration(genuine: np.ndarray, impostor: np.ndarray) -> Calibration:
    """Fit a class-balanced logistic regression of impostor-vs-genuine on the score."""
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([genuine, impostor]).reshape(-1, 1)
    y = np.concatenate([np.zeros(len(genuine)), np.ones(len(impostor))])
    lr = LogisticRegression(class_weight="balanced", C=1e4).fit(x, y)
    cal = Calibration(float(lr.coef_[0, 0]), float(lr.intercept_[0]),
                      float(np.mean(genuine)), float(np.std(genuine)),
                      float(np.mean(impostor)), float(np.std(impostor)))
    quantiles = lambda s: tuple(np.quantile(cal.probability(s), QUANTILE_LEVELS).round(6).tolist())
    return dataclasses.replace(cal, genuine_quantiles=quantiles(genuine), impostor_quantiles=quantiles(impostor))


@dataclass
class ModalityModel:
    """One modality's encoder with its input contract and calibration."""

    encoder_class: str
    encoder_kwargs: dict
    encoder: nn.Module
    columns: list[int]
    max_len: int
    feature_config: dict
    calibration: Calibration
    metrics: dict = field(default_factory=dict)

    @torch.no_grad()
    def embed(self, tokens: list[np.ndarray], batch_size: int = 512) -> np.ndarray:
        """Embeddings ``[N, D]`` of full-width token sequences (columns are selected here)."""
        x, mask = pad_numpy([t[:, self.columns] for t in tokens], self.max_len)
        longest = max(1, int(mask.sum(1).max())) if len(tokens) else 1
        x, mask = x[:, :longest], mask[:, :longest]  # padding beyond the longest sequence is dead weight
        out = [self.encoder(torch.from_numpy(x[i:i + batch_size]), torch.from_numpy(mask[i:i + batch_size]))
               for i in range(0, len(tokens), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, self.encoder_kwargs["embedding_dim"]), np.float32)


@dataclass
class ModelBundle:
    """Per-modality encoders under one model version."""

    model_version: str
    modalities: dict[str, ModalityModel]
    created_at: float = field(default_factory=time.time)

    def save(self, path: str | Path) -> None:
        """Write the bundle as one ``.pt`` file of tensors and plain values."""
        payload = {"format": BUNDLE_FORMAT, "session_schema": SCHEMA_VERSION, "model_version": self.model_version,
                   "created_at": self.created_at, "modalities": {}}
        for name, m in self.modalities.items():
            payload["modalities"][name] = {
                "encoder_class": m.encoder_class, "encoder_kwargs": m.encoder_kwargs,
                "state_dict": m.encoder.state_dict(), "columns": m.columns, "max_len": m.max_len,
                "feature_config": m.feature_config,
                "calibration": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(m.calibration).items()},
                "metrics": m.metrics}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, path)

    @classmethod
    def load(cls, path: str | Path) -> ModelBundle:
        """Read a bundle written by :meth:`save` (safe loader: no code is unpickled)."""
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("format") != BUNDLE_FORMAT or payload.get("session_schema") != SCHEMA_VERSION:
            raise ValueError(
                f"{path}: bundle format {payload.get('format')} (session contract "
                f"v{payload.get('session_schema', 1)}) is not format {BUNDLE_FORMAT} for contract "
                f"v{SCHEMA_VERSION}; re-export it from its run with `python -m training.export` "
                "(retrain first if it saw hashed key buckets), or rebuild the sample bundle with "
                "`python -m training.sample_bundle`")
        mods = {}
        for name, m in payload["modalities"].items():
            if m["encoder_class"] not in ENCODERS:
                raise ValueError(f"{path}: unknown encoder {m['encoder_class']!r}")
            enc = ENCODERS[m["encoder_class"]](**m["encoder_kwargs"])
            enc.load_state_dict(m["state_dict"])
            cal = {k: tuple(v) if isinstance(v, list) else v for k, v in m["calibration"].items()}
            mods[name] = ModalityModel(m["encoder_class"], m["encoder_kwargs"], enc.eval(), list(m["columns"]),
                                       int(m["max_len"]), m["feature_config"], Calibration(**cal),
                                       m.get("metrics", {}))
        return cls(payload["model_version"], mods, payload.get("created_at", 0.0))
