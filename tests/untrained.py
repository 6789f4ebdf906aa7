"""Bundles of untrained session encoders for tests (tests/ is on sys.path through its conftest)."""

from __future__ import annotations

import torch

from biometrics.bundle import ModelBundle
from biometrics.calibration import Calibration
from biometrics.heads.distance import DistanceHead
from biometrics.modalities import MODALITIES
from biometrics.models.encoders import TypeNetEncoder
from biometrics.scorers import Encoder, ModalityScorer


def untrained_bundle(version: str, hidden: int, embedding_dim: int, max_len: int,
                     calibration: Calibration, seed: int = 0) -> ModelBundle:
    """One untrained TypeNet session scorer per modality (distance head, the given calibration)."""
    torch.manual_seed(seed)
    scorers = {}
    for name, spec in MODALITIES.items():
        features = spec.token_features["session"]
        columns = [i for i, f in enumerate(features) if f != "key_bucket"]
        kw = {"in_features": len(columns), "hidden": hidden, "num_layers": 1, "embedding_dim": embedding_dim,
              "dropout": 0.0}
        encoder = Encoder("TypeNetEncoder", kw, TypeNetEncoder(**kw).eval(), columns, max_len)
        scorers[name] = ModalityScorer(name, name, "session", spec.default_feature_config(), DistanceHead(),
                                       calibration, encoder)
    return ModelBundle(version, scorers)
