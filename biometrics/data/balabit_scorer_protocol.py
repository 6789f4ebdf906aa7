"""The Balabit protocol's served scorer: how it is built from a data module, and how users are scored through it.

:class:`~biometrics.data.mouse_modules.BalabitDataModule` loads the challenge and builds the
action sets; this module turns those sets into the :class:`~biometrics.scorers.ModalityScorer`
a bundle serves for a mouse run, and scores the protocol's accounts through that very object,
so the test figures and the exported bundle cannot drift apart:

* per-account boosted trees (:class:`~biometrics.heads.boosted.BoostedTreesHead`, the data
  module's ``head_options``) on ``scorer_inputs`` (the action's embedding and its classic
  features side by side);
* a **background** of ``background_size`` seeded training-session actions of the accounts the
  encoder trained on (:meth:`BalabitServedScorers.background_rows`), each account scored with
  its own actions left out of it and enrolled on the last ``max_enroll_vectors`` of its
  training actions (:meth:`BalabitServedScorers.scorer_anomalies`);
* the served calibration, fitted on the validation chunks of ``calibration_chunk`` actions
  scored through the same scorer (:meth:`BalabitServedScorers.served_scorer`, written by
  ``python -m training.export``).

The data module reaches this module through
:meth:`~biometrics.data.mouse_modules.BalabitDataModule.served_scorers`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from biometrics.calibration import Calibration, fit_calibration
from biometrics.data.item_scorers import (
    given_embeddings,
    replace_background,
    sample_rows,
    user_anomalies,
)
from biometrics.data.mouse_modules import SCORER_INPUTS, BalabitDataModule
from biometrics.heads.boosted import BoostedTreesHead
from biometrics.metrics import eer, roc_auc
from biometrics.modalities import modality
from biometrics.scorers import Encoder, ModalityScorer

#: What a stage's rows embed to: ``embed(stage, rows)`` (rows None: the whole stage).
Embedder = Callable[[str, "np.ndarray | None"], np.ndarray]

#: The licence a Balabit-trained scorer carries in its bundle.
LICENCE = "Balabit Mouse Dynamics Challenge (no licence file; offered to researchers, cite Fulop et al.)"


@dataclass(frozen=True)
class BalabitServedScorers:
    """The served pointer-action scorer of one Balabit data module (set up: its sets and index built)."""

    dm: BalabitDataModule

    def item_vectors(self, emb: np.ndarray, stage: str, rows: np.ndarray | None = None) -> np.ndarray:
        """The served scorer's vectors of a stage's actions (of ``rows`` of it, ``emb`` being theirs):
        ``scorer_inputs`` side by side, as :meth:`ModalityScorer.item_vectors` lays them out, so the
        evaluation feeds the head exactly what serving will."""
        dm = self.dm
        feats = dm.index[stage].features if rows is None else dm.index[stage].features[rows]
        parts = ([np.asarray(emb, np.float32)] if "embedding" in dm.scorer_inputs else []) + \
                ([feats.astype(np.float32)] if "features" in dm.scorer_inputs else [])
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)

    def background_rows(self, stage: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``stage`` that make the served background, and their accounts: a seeded sample of
        ``background_size`` profile (training-session) actions of the accounts the encoder trained
        on (leave one account out: never the held-out account's, which the bundle must not ship)."""
        dm = self.dm
        idx, users = dm.index[stage], dm.sets[stage].users
        candidates = np.flatnonzero(idx.enroll & np.isin(users, np.unique(dm.sets["train"].users)))
        rows = sample_rows(candidates, dm.background_size, dm.seed)
        return rows, users[rows]

    def stage_scorer(self, emb: np.ndarray, stage: str, encoder: Encoder | None = None
                     ) -> tuple[ModalityScorer, np.ndarray]:
        """The served scorer around the background rows of ``stage`` (their vectors made of ``emb``,
        the stage's embeddings; only those rows are read) and the accounts of the background rows.
        ``encoder``: the run's (None: :func:`~biometrics.data.item_scorers.given_embeddings`, for
        research figures on embeddings the evaluation computed itself)."""
        dm = self.dm
        rows, owners = self.background_rows(stage)
        if encoder is None:
            encoder = given_embeddings(emb.shape[1], dm.columns, dm.max_len)
        return self.scorer_for(encoder, self.item_vectors(emb[rows], stage, rows)), owners

    def scorer_for(self, encoder: Encoder | None, background: np.ndarray,
                   calibration: Calibration | None = None) -> ModalityScorer:
        """The pointer action scorer of this experiment around a background of item vectors (the
        one place its head, inputs and action options are chosen; identity calibration unless given)."""
        dm = self.dm
        spec = modality(dm.modality)
        head = BoostedTreesHead(background, max_enroll=dm.max_enroll_vectors, seed=dm.seed, **dm.head_options)
        inputs = tuple(i for i in SCORER_INPUTS if i in dm.scorer_inputs)
        return ModalityScorer(
            dm.modality, dm.modality, dm.unit, spec.default_feature_config(), head,
            calibration or Calibration(1.0, 0.0, 0.0, 0.0, 0.0, 0.0),
            encoder if "embedding" in inputs else None, inputs,
            {"min_events": dm.min_events, "max_len": dm.max_len, "action_context": dm.action_context},
            max_enroll_vectors=dm.max_enroll_vectors, licence=LICENCE)

    def scorer_anomalies(self, scorer: ModalityScorer, owners: np.ndarray, vectors: np.ndarray,
                         stage: str) -> dict[int, np.ndarray]:
        """``{account: anomaly of every non-profile action of the stage}`` through ``scorer``: the
        account enrolled on its profile actions, its own actions left out of the background
        (``owners``: the background rows' accounts), as a new user meets the served scorer."""
        dm = self.dm
        idx, users = dm.index[stage], dm.sets[stage].users
        queries = vectors[~idx.enroll]
        claimed = users[idx.enroll] if stage == "val" else users[~idx.enroll]
        out = {}
        for acc in np.unique(claimed):
            own = owners == acc
            mine = replace_background(scorer, scorer.head.background[~own]) if own.any() else scorer
            out[int(acc)] = user_anomalies(mine, vectors[idx.enroll & (users == acc)], queries)
        return out

    def served_scorer(self, encoder: Encoder | None, embed: Embedder) -> ModalityScorer:
        """The scorer a bundle serves for this run: ``encoder`` (the run's), the background of
        :meth:`background_rows` and a calibration fitted on the validation chunks of
        ``calibration_chunk`` actions scored through this very scorer (held-out sessions, so the
        served probabilities are not fitted on the figures reported). ``embed(stage, rows)``
        embeds a stage's rows with the run's encoder."""
        dm = self.dm
        uses_emb = "embedding" in dm.scorer_inputs
        rows, _ = self.background_rows("test")
        emb = np.zeros((len(dm.sets["test"]), encoder.embedding_dim if uses_emb else 0), np.float32)
        if uses_emb:  # only the background rows are embedded: the test users' actions are never read
            emb[rows] = embed("test", rows)
        scorer, owners = self.stage_scorer(emb, "test", encoder)
        val_emb = embed("val", None) if uses_emb else np.zeros((len(dm.sets["val"]), 0), np.float32)
        vectors = self.item_vectors(val_emb, "val")
        g, i, gg, ig = dm.val_chunk_scores(self.scorer_anomalies(scorer, owners, vectors, "val"),
                                           dm.calibration_chunk)
        metrics = {**self.describe(scorer), "val_eer": eer(g, i), "val_auc": roc_auc(g, i),
                   "background_accounts": sorted(int(a) for a in np.unique(owners)),
                   "calibration_chunk_actions": dm.calibration_chunk,
                   "validation_genuine": int(g.size), "validation_impostor": int(i.size)}
        return dataclasses.replace(scorer, calibration=fit_calibration(g, i, gg, ig), metrics=metrics)

    @staticmethod
    def describe(scorer: ModalityScorer) -> dict:
        """What a report says of the scorer it was computed through (so a figure names its scorer)."""
        return {"head": scorer.head.kind, "inputs": list(scorer.inputs), "unit": scorer.unit,
                "background_items": int(scorer.head.background.shape[0]),
                "max_enroll_vectors": scorer.max_enroll_vectors}
