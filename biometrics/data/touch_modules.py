"""Touch data module: Serwadda landscape swipes, one stroke = one sequence, users in folds.

Protocol (inter-session, as ``bench/serwadda_classic.py``): users are assigned to seeded
folds exactly as that baseline assigns them (``fold_seed``), so both are judged on the
same users. The encoder trains on both sessions of the *training* users (the other folds
less ``n_val_users`` validation users) and never sees a test-fold user. A test user
enrolls on its session-1 strokes and is tested on its session-2 strokes; its impostors are
the session-2 strokes of the other users of its fold. Validation users (drawn from the
other folds, never trained on) are evaluated by the same protocol among themselves.

Per-stroke anomaly scores (``scoring``, :data:`SCORINGS`):

* ``logistic`` / ``svm``: a class-balanced two-class model per user on the standardized
  stroke embeddings (logistic regression, or the classic's RBF SVM), positives = the
  user's session-1 strokes, negatives = session-1 strokes of *other-fold* users
  (``background_per_user`` strokes each, seeded). Like the classic two-class SVM, no
  scored impostor was ever a negative;
* ``logistic_fused`` / ``svm_fused``: the same on the embedding and the stroke's scaled
  Touchalytics features side by side (the experiment's headline: ``svm_fused``);
* ``distance``: mean Euclidean distance to the user's session-1 embeddings (no negatives).

On the test users every scoring is reported (``variants``), plus the stroke features alone
under ``logistic`` and ``svm`` (the classic on the very same split and negatives).

**The headline is the served scorer's.** ``svm``, ``svm_fused`` and ``distance`` are servable
(:data:`SERVED_SCORINGS`): the headline scoring of a stage (validation every epoch, test) is
computed through a :class:`~biometrics.scorers.ModalityScorer` of the stroke unit, built and
scored through in :mod:`biometrics.data.serwadda_scorer_protocol`
(:meth:`SerwaddaFoldDataModule.served_scorers`; :mod:`biometrics.data.item_scorers`) whose head is
an :class:`~biometrics.heads.kernel.RBFSVMHead` (C = ``svm_c``, the classic's standardization
and ``gamma="scale"``) on the stage's background strokes (or a
:class:`~biometrics.heads.distance.DistanceHead`), each user enrolled on the last
``max_enroll_vectors`` of its session-1 strokes. ``python -m training.export`` writes that
scorer with the run's encoder and the test stage's background (every user outside the test
fold: the validation and training users), calibrated on the validation users' windows of
``calibration_strokes`` strokes scored through it against the validation stage's background
(training users only) (``served_scorer`` of that module). ``logistic`` scorings
have no servable head: as headline they are computed as before and a run with one is not
exported.

Decisions over k = 1, 5, 11, 20 consecutive strokes average the per-stroke scores
(:func:`biometrics.data.serwadda.inter_session_report`). The ``eer`` used for checkpointing
is the headline scoring's mean per-user EER at ``eer_strokes`` strokes (default 1: far more
windows than k = 11, so the steadier signal on a handful of validation users).

Sequences carry their role in ``order``: ``(session - 1) * SESSION_STRIDE + stroke index``
for evaluated users, and ``-1 - i`` for background (negative) strokes of other users.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from biometrics.data.datamodule import SequenceDataModule
from biometrics.data.paths import datasets_root
from biometrics.data.sequences import SequenceSet
from biometrics.data.serwadda import (
    STROKE_COUNTS,
    consecutive_means,
    inter_session_report,
    load_serwadda,
)
from biometrics.distances import mean_distance
from biometrics.events import TouchArrays, back_to_back
from biometrics.features.stroke_tokens import (
    STROKE_TOKEN_COLUMNS,
    STROKE_TOKEN_FEATURES,
    stroke_token_sequences,
)
from biometrics.metrics import eer
from biometrics.protocols import Scorer

if TYPE_CHECKING:
    from biometrics.data.serwadda_scorer_protocol import SerwaddaServedScorers

SESSION_STRIDE = 100_000
#: Per-stroke scorings of the encoder: method on embeddings, or ``*_fused`` on embeddings and the
#: stroke's own features side by side.
SCORINGS = ("logistic", "svm", "distance", "logistic_fused", "svm_fused")
#: Judged on validation users every epoch (cheap); the rest only on the test users.
VAL_SCORINGS = ("logistic",)  # plus the configured headline
#: Scorings a bundle can serve: ``{scoring: (head kind, item inputs)}``.
SERVED_SCORINGS = {"svm": ("rbf_svm", ("embedding",)), "svm_fused": ("rbf_svm", ("embedding", "features")),
                   "distance": ("distance", ("embedding",))}
#: Strokes per decision the served calibration is fitted on (the protocol's headline k = 11).
CALIBRATION_STROKES = 11
#: Touchalytics (Frank et al. 2013) inter-session EERs, the published anchors.
PUBLISHED = {"touchalytics_inter_session": {"1": 0.13, "11": 0.03}}

#: ``{user: scores of the user's model on its own session-2 strokes}`` and
#: ``{user: {impostor: scores on the impostor's session-2 strokes}}``.
Scores = tuple[dict[int, np.ndarray], dict[int, dict[int, np.ndarray]]]


def fold_of_users(users: np.ndarray, n_folds: int, seed: int) -> dict[int, int]:
    """Seeded fold of each user, the assignment of ``bench/serwadda_classic.py`` (``rank % n``)."""
    uniq = [int(u) for u in np.unique(users)]
    perm = np.random.default_rng(seed).permutation(len(uniq))
    return {uniq[i]: rank % n_folds for rank, i in enumerate(perm)}


def session_sequences(data: dict[int, dict[int, TouchArrays]]) -> SequenceSet:
    """All users' strokes of both sessions as one set; ``order`` encodes session and stroke index."""
    tokens, users, order = [], [], []
    for s, per_user in data.items():
        for u, arr in per_user.items():
            seqs = stroke_token_sequences(arr)
            tokens += seqs
            users.append(np.full(len(seqs), u, np.int64))
            order.append((s - 1) * SESSION_STRIDE + np.arange(len(seqs), dtype=np.int64))
    return SequenceSet(tokens, np.concatenate(users), np.concatenate(order))


def with_background(full: SequenceSet, evaluated: np.ndarray, negatives: np.ndarray,
                    per_user: int, seed: int) -> SequenceSet:
    """The evaluated users' strokes plus up to ``per_user`` seeded session-1 strokes of each
    ``negatives`` user, the latter marked by ``order = -1 - i``."""
    own = full.subset(np.isin(full.users, evaluated))
    rng = np.random.default_rng(seed)
    picks = []
    for v in np.sort(negatives):
        idx = np.flatnonzero((full.users == v) & (full.order < SESSION_STRIDE))
        picks.append(np.sort(rng.permutation(idx)[:per_user]))
    bg = full.subset(np.concatenate(picks) if picks else np.zeros(0, np.int64))
    bg.order = -1 - np.arange(len(bg), dtype=np.int64)
    return SequenceSet(own.tokens + bg.tokens, np.r_[own.users, bg.users], np.r_[own.order, bg.order])


def two_class_scorer(enroll: np.ndarray, negatives: np.ndarray, kind: str = "logistic",
                     svm_c: float = 1.0):
    """Minus the decision value of a class-balanced two-class model (enroll vs negatives) on
    standardized vectors: ``logistic`` (C=1), ``svm`` (RBF, C=``svm_c``, gamma="scale"; the
    classic's C is 1) or ``boosting`` (histogram gradient boosting, 200 rounds, seeded; tried on validation users
    only, bench/touch_val_scorings.py)."""
    x = np.concatenate([enroll, negatives])
    y = np.r_[np.ones(len(enroll), bool), np.zeros(len(negatives), bool)]
    scaler = StandardScaler().fit(x)
    if kind == "svm":
        clf = SVC(kernel="rbf", C=svm_c, gamma="scale", class_weight="balanced")
    elif kind == "boosting":
        clf = HistGradientBoostingClassifier(max_iter=200, class_weight="balanced", random_state=0)
    else:
        clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=500)
    clf.fit(scaler.transform(x), y)
    return lambda q: -clf.decision_function(scaler.transform(q))


def inter_session_scores(vec: np.ndarray, data: SequenceSet, method: str = "logistic",
                         scorer: Scorer | None = None, svm_c: float = 1.0) -> Scores:
    """Per-stroke anomaly scores of each evaluated user's model on genuine and impostor strokes.

    ``method``: ``logistic`` or ``svm`` (two-class, negatives = the set's background strokes)
    or ``distance`` (mean distance to the enrollment vectors); a one-class ``scorer(enroll,
    queries)``, when given, overrides it. ``svm_c``: the SVM's regularization.
    """
    evaluated = data.order >= 0
    users = np.unique(data.users[evaluated])
    negatives = vec[~evaluated]
    session2 = {}
    for u in users:
        rows = np.flatnonzero((data.users == u) & (data.order >= SESSION_STRIDE))
        session2[int(u)] = vec[rows[np.argsort(data.order[rows])]]
    genuine, impostor = {}, {}
    for u in users:
        enroll = vec[(data.users == u) & evaluated & (data.order < SESSION_STRIDE)]
        if scorer is not None:
            score = lambda q, e=enroll: scorer(e, q)
        elif method == "distance":
            score = lambda q, e=enroll: mean_distance(e, q)
        else:
            score = two_class_scorer(enroll, negatives, method, svm_c)
        genuine[int(u)] = score(session2[int(u)])
        impostor[int(u)] = {v: score(s) for v, s in session2.items() if v != int(u)}
    return genuine, impostor


def per_user_eers(scores: Scores, ks=STROKE_COUNTS) -> dict[str, dict[int, float]]:
    """``{k: {user: EER of decisions over k consecutive strokes}}`` (users lacking windows left out)."""
    genuine, impostor = scores
    out: dict[str, dict[int, float]] = {}
    for k in ks:
        per = {}
        for u, g in genuine.items():
            gw = consecutive_means(g, k)
            iw = np.concatenate([consecutive_means(s, k) for s in impostor[u].values()] or [np.zeros(0)])
            if gw.size and iw.size:
                per[u] = eer(gw, iw)
        out[str(k)] = per
    return out


def stroke_report(scores: Scores, ks=STROKE_COUNTS, at: int = 1) -> dict:
    """Inter-session figures of one scoring: EER by strokes (mean, median, pooled), per-user EERs,
    the single-stroke scores (for DET plots) and ``eer`` = the mean per-user EER at ``at`` strokes."""
    rep = inter_session_report(*scores, ks=ks)
    genuine, impostor = scores
    pooled = (np.concatenate(list(genuine.values())),
              np.concatenate([s for per in impostor.values() for s in per.values()]))
    return {"eer": rep["eer_mean"][str(at)], "eer_at_strokes": at, "eer_by_strokes": rep["eer_mean"],
            "eer_median_by_strokes": rep["eer_median"], "eer_pooled_by_strokes": rep["eer_pooled"],
            "n_users_by_strokes": rep["n_users_by_strokes"], "per_subject_by_k": per_user_eers(scores, ks),
            "scores": pooled}


class SerwaddaFoldDataModule(SequenceDataModule):
    """Serwadda landscape strokes, users in folds, inter-session evaluation over k strokes."""

    feature_names = STROKE_TOKEN_FEATURES
    modality = "touch"
    unit = "stroke"  # the encoder embeds one stroke at a time

    def __init__(self, datasets: str | Path | None = None, fold: int = 0, n_folds: int = 5,
                 fold_seed: int = 0, n_val_users: int = 5, background_per_user: int = 60,
                 scoring: str = "logistic", eer_strokes: int = 1, users: list[int] | None = None,
                 max_len: int = 40, svm_c: float = 1.0, max_enroll_vectors: int = 600,
                 calibration_strokes: int = CALIBRATION_STROKES, **kw) -> None:
        super().__init__(max_len=max_len, **kw)
        if scoring not in SCORINGS:
            raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
        self.max_enroll_vectors, self.calibration_strokes = int(max_enroll_vectors), int(calibration_strokes)
        self.datasets = datasets_root(datasets)
        self.fold, self.n_folds, self.fold_seed = fold, n_folds, fold_seed
        self.n_val_users, self.background_per_user = n_val_users, background_per_user
        self.scoring, self.users = scoring, None if users is None else [int(u) for u in users]
        self.svm_c = svm_c
        if eer_strokes not in STROKE_COUNTS:
            raise ValueError(f"eer_strokes must be one of {STROKE_COUNTS}, got {eer_strokes}")
        self.eer_strokes = eer_strokes

    def cache_key(self) -> dict:
        return {"seed": self.seed, "fold": self.fold, "n_folds": self.n_folds, "fold_seed": self.fold_seed,
                "val": self.n_val_users, "background": self.background_per_user, "users": self.users,
                "features": list(self.feature_names), "v": 2}

    def roles(self, users: np.ndarray) -> dict[str, np.ndarray]:
        """This fold's test users, the validation users (seeded, from other folds) and the training users."""
        fold = fold_of_users(users, self.n_folds, self.fold_seed)
        test = np.array(sorted(u for u, f in fold.items() if f == self.fold), np.int64)
        rest = np.array(sorted(u for u, f in fold.items() if f != self.fold), np.int64)
        rest = np.random.default_rng(self.seed).permutation(rest)
        return {"test": test, "val": np.sort(rest[: self.n_val_users]), "train": np.sort(rest[self.n_val_users:])}

    def load_sessions(self) -> dict[int, dict[int, TouchArrays]]:
        """``{session (1, 2): {user: TouchArrays}}`` of the Serwadda landscape data."""
        return load_serwadda(self.datasets, self.users)

    def build_sets(self) -> dict[str, SequenceSet]:
        full = session_sequences(self.load_sessions())
        r = self.roles(full.users)
        others = np.r_[r["val"], r["train"]]
        return {"train": full.subset(np.isin(full.users, r["train"])),
                "val": with_background(full, r["val"], r["train"], self.background_per_user, self.seed),
                "test": with_background(full, r["test"], others, self.background_per_user, self.seed)}

    def evaluate_embeddings(self, emb: np.ndarray, stage: str, scorer: Scorer = mean_distance) -> dict:
        """Encoder embeddings: the configured ``scoring`` (headline) plus the other scorings as
        variants, and the stroke features alone under the two-class models (the classic, same
        split); classic vectors with a one-class ``scorer``: that detector. ``eer``: mean per-user
        EER of single strokes."""
        data = self.sets[stage]
        if emb.shape[0] != len(data):  # a partial pass (Lightning's sanity check): nothing to judge
            return {"eer": float("nan")}
        if scorer is not mean_distance:
            return stroke_report(inter_session_scores(emb, data, scorer=scorer), at=self.eer_strokes)
        names = set(SCORINGS if stage == "test" else VAL_SCORINGS) | {self.scoring}
        feats = self.baseline_vectors(stage)
        inputs = {"": emb, "_fused": np.concatenate([emb, feats], axis=1), "features_": feats}
        served = self.scoring in SERVED_SCORINGS
        jobs = {n: (inputs["_fused"], n.removesuffix("_fused")) if n.endswith("_fused") else (emb, n)
                for n in SCORINGS if n in names and not (served and n == self.scoring)}
        if stage == "test":
            jobs |= {f"features_{m}": (feats, m) for m in ("logistic", "svm")}
        reports = {n: stroke_report(inter_session_scores(v, data, m, svm_c=self.svm_c), at=self.eer_strokes)
                   for n, (v, m) in jobs.items()}
        extra = {}
        if served:  # the headline through the scorer a bundle serves, on this stage's background
            protocol = self.served_scorers()
            scorer = protocol.stage_scorer(emb, stage)
            reports[self.scoring] = stroke_report(
                protocol.scorer_inter_session_scores(scorer, protocol.item_vectors(emb, stage), stage),
                at=self.eer_strokes)
            extra["scorer"] = protocol.describe(scorer)
        variants = {n: {k: v for k, v in r.items() if k != "scores"} for n, r in reports.items()}
        return {**reports[self.scoring], "scoring": self.scoring, "variants": variants, **extra}

    # --- the served scorer ---------------------------------------------------------------
    def served_scorers(self) -> SerwaddaServedScorers:
        """This run's served scorer and the scoring of users through it
        (:mod:`biometrics.data.serwadda_scorer_protocol`), kept out of the data module."""
        # Imported here: the protocol module builds on this one (its layout, constants and reports).
        from biometrics.data.serwadda_scorer_protocol import SerwaddaServedScorers

        return SerwaddaServedScorers(self)

    def baseline_vectors(self, stage: str) -> np.ndarray:
        """The stroke's scaled Touchalytics features (the same on every point: the first row)."""
        cols = [self.used_features.index(f"stroke_{n}") for n in STROKE_TOKEN_COLUMNS
                if f"stroke_{n}" in self.used_features]
        return np.stack([t[0, cols] for t in self.sets[stage].tokens])

    def write_plots(self, report: dict, output_dir: Path, prefix: str = "") -> None:
        """EER against the number of strokes decided on, per evaluated model (plus the published anchors)."""
        write_strokes_curve(report, output_dir / f"{prefix}eer_by_strokes.png")


def write_strokes_curve(report: dict, path: Path) -> None:
    """Plot ``eer_by_strokes`` of every report entry that has one, beside the published anchors."""
    from biometrics.reports import plot_amount_curve

    curves = {k: v["eer_by_strokes"] for k, v in report.items() if isinstance(v, dict) and "eer_by_strokes" in v}
    if not curves:
        return
    ks = list(next(iter(curves.values())))
    for name, anchors in PUBLISHED.items():
        curves[name] = {k: anchors.get(k, np.nan) for k in ks}
    plot_amount_curve(curves, path, xlabel="strokes decided on", ylabel="EER (mean over users)",
                      title="Serwadda landscape, inter-session")


def synthetic_touch_sessions(n_users: int, sessions_per_user: int, seed: int) -> dict[int, dict[int, TouchArrays]]:
    """Simulated phone users (:mod:`biometrics.synthetic`): the first half of each user's login
    sessions played back to back form "session 1", the second half "session 2"."""
    from biometrics.synthetic import generate_dataset

    records = generate_dataset(n_users, sessions_per_user, n_impostor=0, n_bot=0, n_replay=0, seed=seed,
                               n_enroll=sessions_per_user // 2, mobile_fraction=1.0)
    ids = {u: i for i, u in enumerate(sorted({r.user_id for r in records}))}
    out: dict[int, dict[int, TouchArrays]] = {1: {}, 2: {}}
    for uid, i in ids.items():
        mine = [r for r in records if r.user_id == uid]
        for s, split in ((1, "enroll"), (2, "test")):
            out[s][i] = back_to_back([r.session.touch_arrays() for r in mine if r.split == split], 1_000.0)
    return out


class SyntheticTouchFoldDataModule(SerwaddaFoldDataModule):
    """The same folds and protocol on simulated phone users (tests and smoke runs)."""

    def __init__(self, n_users: int = 40, sessions_per_user: int = 16, **kw) -> None:
        super().__init__(**kw)
        self.n_users, self.sessions_per_user = n_users, sessions_per_user

    def cache_key(self) -> dict:
        return {**super().cache_key(), "n_users": self.n_users, "sessions": self.sessions_per_user}

    def load_sessions(self) -> dict[int, dict[int, TouchArrays]]:
        return synthetic_touch_sessions(self.n_users, self.sessions_per_user, self.seed)
