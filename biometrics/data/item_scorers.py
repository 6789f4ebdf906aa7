"""Served scorers of the action and stroke experiments, and protocol scoring through them.

The mouse-action (Balabit) and touch-stroke (Serwadda) experiments judge their encoders with
a per-user head fitted against other people's items. That head, its background set, the item
inputs and the calibration are what a bundle serves (:class:`biometrics.scorers.ModalityScorer`),
so each protocol's scorer module (:mod:`biometrics.data.balabit_scorer_protocol`,
:mod:`biometrics.data.serwadda_scorer_protocol`) builds one such scorer object per protocol
stage from the data module's sets and scores the users through it (:func:`user_anomalies`:
the scorer's own ``fit`` and ``item_anomalies``, on the enrollment vectors a profile would
keep), and ``python -m training.export`` writes a scorer built by the same method with the
run's encoder in it. These are the building blocks those modules share.

* :func:`given_embeddings`: the encoder slot of a scorer that is handed item vectors the
  evaluation embedded itself (``training.run.embed_stage``, the same weights); it cannot
  embed, and a bundle holding it does not load (its class is not on the encoder allow-list);
* :func:`replace_background`: the same scorer with another background (the scored user left out
  of it, as a new user meets the served scorer);
* :func:`sample_rows`: a seeded, bounded sample of rows (the background a bundle ships);
* :func:`window_means`: a session's anomaly at ``k`` items, over consecutive windows of
  per-item scores (the held-out sessions calibrations are fitted on).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from torch import nn

from biometrics.scorers import Encoder, ModalityScorer

#: The ``class_name`` of :func:`given_embeddings` (never on :data:`biometrics.scorers.ENCODERS`).
GIVEN = "given_embeddings"


class _Given(nn.Module):
    """Stands in for the encoder of a scorer fed with precomputed embeddings."""

    def forward(self, x, mask):
        raise RuntimeError("this scorer was built on precomputed embeddings: it has no encoder to run; "
                           "export the run (python -m training.export) for a servable scorer")


def given_embeddings(dim: int, columns: list[int], max_len: int) -> Encoder:
    """The encoder slot of a research scorer whose ``embedding`` inputs are computed outside it."""
    return Encoder(GIVEN, {"embedding_dim": int(dim)}, _Given(), list(columns), int(max_len))


def replace_background(scorer: ModalityScorer, background: np.ndarray) -> ModalityScorer:
    """``scorer`` with its head's background replaced (heads without one are returned as they are)."""
    if not hasattr(scorer.head, "background"):
        return scorer
    head = type(scorer.head).from_payload({**scorer.head.payload(), "background": np.asarray(background,
                                                                                            np.float32)})
    return dataclasses.replace(scorer, head=head)


def user_anomalies(scorer: ModalityScorer, enroll: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Per-item anomalies of ``queries`` for a user enrolled on ``enroll`` (items in time order),
    as serving computes them: the profile keeps the last ``max_enroll_vectors`` vectors, the head
    is fitted on them (:meth:`ModalityScorer.fit`) and scores each item
    (:meth:`ModalityScorer.item_anomalies`); a session's anomaly is their mean."""
    kept = np.asarray(enroll, np.float32)[-scorer.max_enroll_vectors:]
    if not scorer.can_score(kept):
        raise ValueError(f"{scorer.name}: {len(kept)} enrollment items, the head needs {scorer.head.min_items}")
    return scorer.item_anomalies(kept, scorer.fit(kept), np.asarray(queries, np.float32))


def sample_rows(candidates: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Up to ``size`` of ``candidates`` (row indices), seeded, in their original order."""
    candidates = np.asarray(candidates, np.int64)
    pick = np.random.default_rng(seed).permutation(candidates.size)[:size]
    return candidates[np.sort(pick)]


def window_means(scores: np.ndarray, k: int, limit: int | None = None) -> list[float]:
    """Means of consecutive, non-overlapping windows of ``k`` per-item scores (the first
    ``limit`` windows when given): held-out "sessions" of ``k`` items."""
    scores = np.asarray(scores, np.float64)
    n = scores.size // k if limit is None else min(scores.size // k, limit)
    return scores[: n * k].reshape(n, k).mean(axis=1).tolist()
