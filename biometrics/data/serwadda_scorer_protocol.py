"""The Serwadda protocol's served scorer: how it is built from a data module, and how users are scored through it.

:class:`~biometrics.data.touch_modules.SerwaddaFoldDataModule` loads the strokes and builds the
fold sets; this module turns those sets into the :class:`~biometrics.scorers.ModalityScorer` of
the stroke unit a bundle serves for a touch run, and scores the protocol's users through that
very object, so the headline figures and the exported bundle cannot drift apart:

* the head of the servable ``scoring`` (:data:`~biometrics.data.touch_modules.SERVED_SCORINGS`):
  an :class:`~biometrics.heads.kernel.RBFSVMHead` (C = ``svm_c``) on a stage's background strokes,
  or a :class:`~biometrics.heads.distance.DistanceHead`; its item inputs are the embedding, then
  (``*_fused``) the stroke's scaled features (:meth:`SerwaddaServedScorers.item_vectors`);
* each user enrolled on the last ``max_enroll_vectors`` of its session-1 strokes, scoring every
  evaluated user's session-2 strokes (:meth:`SerwaddaServedScorers.scorer_inter_session_scores`);
* the exported scorer (:meth:`SerwaddaServedScorers.served_scorer`, written by ``python -m
  training.export``): the test stage's background (every user outside the test fold), calibrated
  on the validation users' windows of ``calibration_strokes`` strokes scored through it against
  the validation stage's background (training users only).

The data module reaches this module through
:meth:`~biometrics.data.touch_modules.SerwaddaFoldDataModule.served_scorers`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from biometrics.calibration import Calibration, fit_calibration
from biometrics.data.datamodule import CalibrationScores
from biometrics.data.item_scorers import given_embeddings, replace_background, user_anomalies
from biometrics.data.touch_modules import (
    SERVED_SCORINGS,
    SESSION_STRIDE,
    Scores,
    SerwaddaFoldDataModule,
    stroke_report,
)
from biometrics.features.stroke_tokens import STROKE_TOKEN_COLUMNS
from biometrics.heads.distance import DistanceHead
from biometrics.heads.kernel import RBFSVMHead
from biometrics.metrics import eer, roc_auc
from biometrics.modalities import modality
from biometrics.scorers import Encoder, ModalityScorer

#: What a stage's rows embed to: ``embed(stage, rows)`` (rows None: the whole stage).
Embedder = Callable[[str, "np.ndarray | None"], np.ndarray]


def window_scores(scores: Scores, k: int) -> CalibrationScores:
    """Session anomalies of windows of ``k`` consecutive strokes (stride ``k``: disjoint windows, a
    session's mean), genuine and impostor, with the claimed user of each: what the served
    calibration is fitted on (decisions over ``k`` strokes, as the protocol's headline)."""
    genuine, impostor = scores

    def windows(s: np.ndarray) -> np.ndarray:
        n = s.size // k
        return s[: n * k].reshape(n, k).mean(1) if n else np.zeros(0)

    g = {u: windows(s) for u, s in genuine.items()}
    i = {u: np.concatenate([windows(s) for s in per.values()] or [np.zeros(0)]) for u, per in impostor.items()}
    users_g, users_i = sorted(g), sorted(i)
    return (np.concatenate([g[u] for u in users_g] or [np.zeros(0)]),
            np.concatenate([i[u] for u in users_i] or [np.zeros(0)]),
            np.concatenate([np.full(g[u].size, u) for u in users_g] or [np.zeros(0)]),
            np.concatenate([np.full(i[u].size, u) for u in users_i] or [np.zeros(0)]))


@dataclass(frozen=True)
class SerwaddaServedScorers:
    """The served touch-stroke scorer of one Serwadda fold data module (set up: its sets built)."""

    dm: SerwaddaFoldDataModule

    def served_head(self) -> tuple[str, tuple[str, ...]]:
        """The head kind and item inputs of ``scoring`` (``ValueError`` when it has no servable head,
        so an export is refused before any checkpoint is read)."""
        scoring = self.dm.scoring
        if scoring not in SERVED_SCORINGS:
            raise ValueError(f"data.scoring={scoring} has no servable head; train with one of "
                             f"{', '.join(sorted(SERVED_SCORINGS))}")
        return SERVED_SCORINGS[scoring]

    def item_vectors(self, emb: np.ndarray, stage: str, rows: np.ndarray | None = None) -> np.ndarray:
        """The served scorer's vectors of a stage's strokes (of ``rows`` of it, ``emb`` being theirs):
        the embedding, then (``*_fused``) the stroke's scaled features, as
        :meth:`ModalityScorer.item_vectors` lays them out, so the evaluation feeds the head exactly
        what serving will."""
        _, inputs = self.served_head()
        parts = [np.asarray(emb, np.float32)]
        if "features" in inputs:
            feats = self.dm.baseline_vectors(stage)
            if feats.shape[1] != len(STROKE_TOKEN_COLUMNS):
                raise ValueError(f"the served stroke features are the {len(STROKE_TOKEN_COLUMNS)} stroke "
                                 f"columns; drop_columns hides {len(STROKE_TOKEN_COLUMNS) - feats.shape[1]}")
            parts.append(feats if rows is None else feats[rows])
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)

    def stage_scorer(self, emb: np.ndarray, stage: str, encoder: Encoder | None = None) -> ModalityScorer:
        """The served scorer around the background strokes of ``stage`` (their vectors made of
        ``emb``, the stage's embeddings; only those rows are read). ``encoder``: the run's (None:
        :func:`~biometrics.data.item_scorers.given_embeddings`, for research figures on embeddings
        the evaluation computed itself)."""
        dm = self.dm
        rows = np.flatnonzero(dm.sets[stage].order < 0)
        if encoder is None:
            encoder = given_embeddings(emb.shape[1], dm.columns, dm.max_len)
        return self.scorer_for(encoder, self.item_vectors(emb[rows], stage, rows))

    def scorer_for(self, encoder: Encoder, background: np.ndarray,
                   calibration: Calibration | None = None) -> ModalityScorer:
        """The touch stroke scorer of this experiment's ``scoring`` around a background of item
        vectors (the one place its head and inputs are chosen; identity calibration unless given)."""
        dm = self.dm
        kind, inputs = self.served_head()
        head = RBFSVMHead(background, C=dm.svm_c) if kind == "rbf_svm" else DistanceHead()
        return ModalityScorer(dm.modality, dm.modality, dm.unit, modality(dm.modality).default_feature_config(),
                              head, calibration or Calibration(1.0, 0.0, 0.0, 0.0, 0.0, 0.0), encoder, inputs,
                              max_enroll_vectors=dm.max_enroll_vectors)

    def scorer_inter_session_scores(self, scorer: ModalityScorer, vec: np.ndarray, stage: str) -> Scores:
        """:func:`~biometrics.data.touch_modules.inter_session_scores` through a served ``scorer``:
        each evaluated user of ``stage`` enrolled on its session-1 strokes
        (:func:`~biometrics.data.item_scorers.user_anomalies`: the last ``max_enroll_vectors``, as
        a profile keeps them), its model scoring every evaluated user's session-2 strokes one by
        one. ``vec``: the scorer's item vectors of the stage's rows."""
        data = self.dm.sets[stage]
        evaluated = data.order >= 0
        users = np.unique(data.users[evaluated])
        session = {}
        for s in (1, 2):
            lo, hi = (s - 1) * SESSION_STRIDE, s * SESSION_STRIDE
            for u in users:
                rows = np.flatnonzero((data.users == u) & (data.order >= lo) & (data.order < hi))
                session[s, int(u)] = vec[rows[np.argsort(data.order[rows])]]
        ids = [int(u) for u in users]
        queries = np.concatenate([session[2, v] for v in ids])
        cuts = np.cumsum([len(session[2, v]) for v in ids])[:-1]
        genuine, impostor = {}, {}
        for u in ids:
            scores = dict(zip(ids, np.split(user_anomalies(scorer, session[1, u], queries), cuts)))
            genuine[u] = scores.pop(u)
            impostor[u] = scores
        return genuine, impostor

    def served_scorer(self, encoder: Encoder, embed: Embedder) -> ModalityScorer:
        """The scorer a bundle serves for this run: ``encoder`` (the run's), the test stage's
        background strokes (every user outside the test fold) and a calibration fitted on the
        validation users' windows of ``calibration_strokes`` strokes, scored through this scorer
        with the validation stage's background (training users only: the validation users are
        new to it). ``embed(stage, rows)`` embeds a stage's rows with the run's encoder."""
        dm = self.dm
        rows = np.flatnonzero(dm.sets["test"].order < 0)
        emb = np.zeros((len(dm.sets["test"]), encoder.embedding_dim), np.float32)
        emb[rows] = embed("test", rows)  # only the background rows: the test users' strokes are never read
        scorer = self.stage_scorer(emb, "test", encoder)
        val = dm.sets["val"]
        vectors = self.item_vectors(embed("val", None), "val")
        scores = self.scorer_inter_session_scores(replace_background(scorer, vectors[val.order < 0]), vectors, "val")
        g, i, gg, ig = window_scores(scores, dm.calibration_strokes)
        report = stroke_report(scores, at=dm.eer_strokes)
        metrics = {**self.describe(scorer), "val_eer": float(report["eer"]), "val_eer_at_strokes": dm.eer_strokes,
                   "val_window_eer": eer(g, i), "val_window_auc": roc_auc(g, i),
                   "calibration_strokes": dm.calibration_strokes, "held_out_fold": dm.fold,
                   "validation_genuine": int(g.size), "validation_impostor": int(i.size)}
        return dataclasses.replace(scorer, calibration=fit_calibration(g, i, gg, ig), metrics=metrics)

    def describe(self, scorer: ModalityScorer) -> dict:
        """What a report says of the scorer it was computed through (so a figure names its scorer)."""
        bg = getattr(scorer.head, "background", None)
        return {"head": scorer.head.kind, "inputs": list(scorer.inputs), "unit": scorer.unit,
                "scoring": self.dm.scoring, "background_items": 0 if bg is None else int(bg.shape[0]),
                "max_enroll_vectors": scorer.max_enroll_vectors}
