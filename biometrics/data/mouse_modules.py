"""Mouse data module: Balabit actions as token sequences, scored per account as in the challenge.

One sequence = one mouse action of at least ``min_events`` events, cut and tokenized by
:func:`biometrics.features.action_tokens.action_sequences`, the very function streaming
scoring uses (:func:`biometrics.streaming.action_stream`), head-cropped to ``max_len``,
every token carrying its action's classic features with ``action_context``.
The encoder embeds actions; a session's anomaly is the mean of its actions' anomalies
(:func:`biometrics.streaming.first_n_means` after 1, 5, 10, 20 and all actions).

Per account, a two-class model of the account's training-session actions against actions of
the other accounts' training sessions gives each action an anomaly: the protocol of the
published Balabit results (Antal & Egyed-Zsigmond 2019 use a random forest on hand-made
action features the same way). Two variants of who the encoder trained on:

* ``fold=None`` (**published**): the encoder trains on the training sessions of all ten
  accounts except one held-out session per account, which validates (chunks of
  ``val_chunk`` actions claimed by every account); every labelled test session is scored;
* ``fold=k`` (**leave one account out**): account ``k`` (in number order) is held out: the
  encoder trains and validates on the other nine accounts only, never seeing account k's
  sessions nor its test folder (where its attackers' sessions are); then account k's
  labelled test sessions are scored, with its own training sessions as the enrollment.

**Test figures are the served scorer's.** The test report's headline is computed through the
scorer a bundle serves, built and scored through in :mod:`biometrics.data.balabit_scorer_protocol`
(:meth:`BalabitDataModule.served_scorers`; its ``served_scorer`` is what ``python -m
training.export`` writes; :mod:`biometrics.data.item_scorers`): per-account boosted
trees (:class:`~biometrics.heads.boosted.BoostedTreesHead`) on ``scorer_inputs`` (the action's
embedding and its 26 classic features side by side, the inputs the experiment judged) against
a **background** of ``background_size`` seeded training actions of the training accounts, each
account scored with its own actions left out of that background, enrolled on the last
``max_enroll_vectors`` of its training actions; a session is the mean of its actions'
anomalies. The served calibration is fitted on the validation chunks
(``calibration_chunk`` actions of each held-out training session, claimed by every account)
scored by the same scorer object. The every-epoch validation (checkpointing) keeps the fast
logistic model on embeddings. ``head_options``: the boosted trees' hyperparameters
(:class:`~biometrics.heads.boosted.BoostedTreesHead`; defaults, those of the default bundle's
pointer scorer); ``accounts``: load only these accounts (``["user12", "user15"]``: tests and
smoke runs).

Research rows beside it (models the API does not serve): ``variants`` holds
``embedding_<classifier>``, the ``classifier`` (logistic regression or random forest, ``1 -
P(owner)`` against as many other accounts' actions) on the embeddings alone; with
``fuse_classic`` (a :func:`~biometrics.classic.two_class_anomaly` method) ``with_classic`` is
``fuse_weight`` times the served scorer's action anomalies plus the rest times that classic
model's on the 26 hand-made action features (the same per-account protocol).

Parsing is cached at the archive level (:func:`biometrics.data.balabit.load_balabit`);
turning 4.6 M events into action tokens takes seconds, so the sets are rebuilt in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from biometrics.classic import two_class_anomaly
from biometrics.data.balabit import BalabitData, load_balabit
from biometrics.data.datamodule import CalibrationScores, SequenceDataModule
from biometrics.data.paths import datasets_root
from biometrics.data.sequences import SequenceSet
from biometrics.distances import mean_distance
from biometrics.features import ACTION_FEATURES, MOUSE_FEATURES
from biometrics.features.action_tokens import (
    ACTION_CONTEXT_FEATURES,
    SessionActions,
    action_sequences,
)
from biometrics.metrics import eer, roc_auc
from biometrics.protocols import Scorer
from biometrics.reports import plot_amount_curve, plot_det
from biometrics.streaming import ACTION_COUNTS, first_n_means

if TYPE_CHECKING:
    from biometrics.data.balabit_scorer_protocol import BalabitServedScorers

#: The served scorer's item inputs: the action's embedding and its classic features side by side.
SCORER_INPUTS = ("embedding", "features")


@dataclass
class ActionIndex:
    """Per action of a stage's :class:`SequenceSet`: its session and role."""

    session: np.ndarray  # int64 [N], index into BalabitDataModule.sessions
    enroll: np.ndarray  # bool [N], a training-session action (profile / negatives)
    features: np.ndarray  # float64 [N, len(ACTION_FEATURES)], the classic per-action features


@dataclass(frozen=True)
class SessionInfo:
    """One session file: whose folder it is in, its split and (test) label."""

    account: int  # the account number, e.g. 12 for user12
    name: str
    split: str  # "training" or "test"
    label: int  # 1 illegal, 0 legal (training sessions: 0)


class BalabitDataModule(SequenceDataModule):
    """Balabit actions for verification training; evaluates sessions under the challenge protocol."""

    feature_names = MOUSE_FEATURES
    modality = "pointer"
    unit = "action"  # the encoder embeds one action at a time

    def __init__(self, datasets: str | Path | None = None, balabit_cache: str | Path | None = None,
                 fold: int | None = None, n_folds: int | None = None, min_events: int = 4,
                 max_len: int = 64, val_chunk: int = 20, enroll_per_account: int | None = None,
                 val_enroll_per_account: int = 2000,
                 fuse_classic: str | None = None, fuse_weight: float = 0.5, action_context: bool = True,
                 classifier: str | None = "logistic", accounts: list[str] | None = None,
                 scorer_inputs: tuple[str, ...] = SCORER_INPUTS, background_size: int = 5000,
                 max_enroll_vectors: int = 10_000, calibration_chunk: int = 60,
                 head_options: dict | None = None, **kw) -> None:
        super().__init__(max_len=max_len, **kw)
        self.datasets = datasets_root(datasets)
        self.balabit_cache = balabit_cache
        self.accounts = None if accounts is None else [str(a) for a in accounts]
        self.scorer_inputs = tuple(scorer_inputs)
        if not self.scorer_inputs or not set(self.scorer_inputs) <= set(SCORER_INPUTS):
            raise ValueError(f"scorer_inputs must be a non-empty subset of {SCORER_INPUTS}, got {scorer_inputs}")
        self.background_size, self.max_enroll_vectors = int(background_size), int(max_enroll_vectors)
        self.calibration_chunk = int(calibration_chunk)
        self.head_options = dict(head_options or {})
        self.fold, self.n_folds = fold, n_folds
        self.min_events, self.val_chunk = min_events, val_chunk
        self.enroll_per_account, self.val_enroll_per_account = enroll_per_account, val_enroll_per_account
        if not 0.0 <= fuse_weight <= 1.0:
            raise ValueError(f"fuse_weight is the encoder's share of the fused anomaly, in [0, 1]; got {fuse_weight}")
        self.fuse_classic, self.fuse_weight = fuse_classic, fuse_weight
        self.action_context, self.classifier = action_context, classifier
        if action_context:
            self.feature_names = MOUSE_FEATURES + ACTION_CONTEXT_FEATURES
        self.sessions: list[SessionInfo] = []
        self.index: dict[str, ActionIndex] = {}

    # --- data ----------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if not self.sets:
            self.setup_from(load_balabit(self.datasets, self.balabit_cache, self.accounts))

    def setup_from(self, data: BalabitData) -> None:
        """Build the sets from already loaded challenge data (the real archive or a test's)."""
        sets, self.index = self.build_sets_from(data)
        self.sets = {s: v.select_columns(self.columns) for s, v in sets.items()}

    def build_sets(self) -> dict[str, SequenceSet]:
        return self.build_sets_from(load_balabit(self.datasets, self.balabit_cache, self.accounts))[0]

    def held_out_account(self, accounts: list[int]) -> int | None:
        """The account of leave-one-account-out fold ``fold`` (None: the published variant)."""
        return None if self.fold is None else accounts[self.fold]

    def build_sets_from(self, data: BalabitData) -> tuple[dict[str, SequenceSet], dict[str, ActionIndex]]:
        """Train / val / test action sets and, for val and test, each action's session and role."""
        names = data.accounts
        numbers = [int("".join(c for c in a if c.isdigit())) for a in names]
        held = self.held_out_account(numbers)
        self.sessions, actions = [], []
        for a, num in zip(names, numbers):
            for s in data.training[a]:
                self.sessions.append(SessionInfo(num, s.name, "training", 0))
                actions.append(self._actions(s.events))
        for s, label in data.labelled_test():
            num = numbers[names.index(s.account)]
            if held is None or num == held:
                self.sessions.append(SessionInfo(num, s.name, "test", label))
                actions.append(self._actions(s.events))
        info = self.sessions
        train_accounts = [n for n in numbers if n != held]
        # validation: each training account's last training session
        val_sessions = {max((i for i, s in enumerate(info) if s.account == n and s.split == "training"),
                            key=lambda i: info[i].name) for n in train_accounts}
        roles: dict[str, list[int]] = {"train": [], "val": [], "test": []}
        for i, s in enumerate(info):
            if s.split == "test":
                roles["test"].append(i)
            elif i in val_sessions:
                roles["val"].append(i)
            elif s.account != held:
                roles["train"].append(i)
        rng = np.random.default_rng(self.seed)
        sets, index = {}, {}
        for stage, chosen in roles.items():
            rows = [(i, j) for i in chosen for j in range(len(actions[i].tokens))]  # (session, action)
            n_queries = len(rows)
            if stage != "train":  # the accounts' profiles: their training actions (sampled)
                profile_accounts = numbers if stage == "test" else train_accounts
                cap = self.enroll_per_account if stage == "test" else self.val_enroll_per_account
                for num in profile_accounts:
                    pool = [(i, j) for i, s in enumerate(info) if s.account == num and s.split == "training"
                            and i not in val_sessions for j in range(len(actions[i].tokens))]
                    pick = rng.choice(len(pool), size=min(cap or len(pool), len(pool)), replace=False)
                    rows += [pool[p] for p in np.sort(pick)]
            sid = np.array([i for i, _ in rows], dtype=np.int64)
            users = np.array([info[i].account for i in sid], dtype=np.int64)
            features = np.array([actions[i].features[j] for i, j in rows]).reshape(len(rows), len(ACTION_FEATURES))
            sets[stage] = SequenceSet([actions[i].tokens[j] for i, j in rows], users, sid)
            index[stage] = ActionIndex(sid, np.arange(len(rows)) >= n_queries, features)
        return sets, index

    def _actions(self, events) -> SessionActions:
        """A session's kept actions (tokens and classic features)."""
        return action_sequences(events, self.min_events, self.max_len, self.action_context)

    # --- protocol ------------------------------------------------------------------------
    def action_anomalies(self, emb: np.ndarray, stage: str, scorer: Scorer | None = None,
                         method: str = "logistic") -> dict[int, np.ndarray]:
        """``{account: anomaly of every non-profile action of the stage under that account's model}``.

        The model is :func:`~biometrics.classic.two_class_anomaly` (``method``) of the account's
        profile against other accounts' profile actions, or a one-class ``scorer``.
        """
        idx, users = self.index[stage], self.sets[stage].users
        queries = emb[~idx.enroll]
        rng = np.random.default_rng(self.seed)
        # Validation chunks are claimed by every account; a test session only by its own.
        claimed = users[idx.enroll] if stage == "val" else users[~idx.enroll]
        out = {}
        for acc in np.unique(claimed):
            pos = emb[idx.enroll & (users == acc)]
            if scorer is not None:  # one-class detector, in units of the profile's own scores
                ref = float(np.median(scorer(pos, pos))) or 1.0
                out[int(acc)] = scorer(pos, queries) / ref
                continue
            others = emb[idx.enroll & (users != acc)]
            neg = others[rng.choice(len(others), size=min(len(pos), len(others)), replace=False)]
            out[int(acc)] = two_class_anomaly(pos, neg, method, self.seed)(queries)
        return out

    def evaluate_embeddings(self, emb: np.ndarray, stage: str, scorer: Scorer = mean_distance) -> dict:
        """Validation (every epoch): chunks under the fast logistic model on the embeddings.
        Test: the served scorer's figures (module docstring), with the research rows beside them;
        a one-class ``scorer`` (a classic detector on its own vectors): that detector's."""
        one_class = None if scorer is mean_distance else scorer
        if stage == "val":
            return self.evaluate_val_chunks(self.action_anomalies(emb, stage, one_class, "logistic"))
        if one_class is not None:
            return self._evaluate_sessions(self.action_anomalies(emb, stage, one_class), stage)
        protocol = self.served_scorers()
        served, owners = protocol.stage_scorer(emb, stage)
        anomalies = protocol.scorer_anomalies(served, owners, protocol.item_vectors(emb, stage), stage)
        report = {**self._evaluate_sessions(anomalies, stage), "scorer": protocol.describe(served)}
        if self.classifier:  # the per-account model on the embeddings alone (not served)
            alone = self.session_scores(self.action_anomalies(emb, stage, method=self.classifier), stage)
            report["variants"] = {f"embedding_{self.classifier}": session_report(alone)}
        return report

    def evaluate_val_chunks(self, anomalies: dict[int, np.ndarray], chunk: int | None = None) -> dict:
        """Chunks of ``chunk`` (default ``val_chunk``) actions of the held-out training sessions,
        claimed by every account."""
        g, i, _, _ = self.val_chunk_scores(anomalies, chunk or self.val_chunk)
        return {"eer": eer(g, i), "auc": roc_auc(g, i), "scores": (g, i)}

    def val_chunk_scores(self, anomalies: dict[int, np.ndarray], chunk: int) -> CalibrationScores:
        """Mean anomaly of each chunk of ``chunk`` consecutive actions of a validation session under
        every account's model: genuine (its own account's) and impostor scores, with the claimed
        account of each."""
        idx, users = self.index["val"], self.sets["val"].users
        sid, owner = idx.session[~idx.enroll], users[~idx.enroll]
        pos_in_session = np.arange(sid.size) - np.searchsorted(sid, sid)  # sessions are contiguous
        chunk_id = np.unique(np.stack([sid, pos_in_session // chunk], 1), axis=0, return_inverse=True)[1]
        chunk_id = chunk_id.ravel()
        counts = np.bincount(chunk_id)
        chunk_owner = np.zeros(counts.size, dtype=np.int64)
        chunk_owner[chunk_id] = owner
        gen, imp, gen_acc, imp_acc = [], [], [], []
        for acc, a in anomalies.items():
            mean = np.bincount(chunk_id, weights=a) / counts
            mine = chunk_owner == acc
            gen.append(mean[mine])
            imp.append(mean[~mine])
            gen_acc.append(np.full(int(mine.sum()), acc))
            imp_acc.append(np.full(int((~mine).sum()), acc))
        return (np.concatenate(gen), np.concatenate(imp), np.concatenate(gen_acc), np.concatenate(imp_acc))

    # --- the served scorer ---------------------------------------------------------------
    def served_scorers(self) -> BalabitServedScorers:
        """This run's served scorer and the scoring of accounts through it
        (:mod:`biometrics.data.balabit_scorer_protocol`), kept out of the data module."""
        # Imported here: the protocol module builds on this one (its SCORER_INPUTS, this class).
        from biometrics.data.balabit_scorer_protocol import BalabitServedScorers

        return BalabitServedScorers(self)

    def session_scores(self, anomalies: dict[int, np.ndarray], stage: str = "test") -> dict[str, dict]:
        """Each query session's mean anomaly after 1, 5, 10, 20, all actions (its own account's model)."""
        idx = self.index[stage]
        sid = idx.session[~idx.enroll]
        order = np.argsort(sid, kind="stable")  # each session's actions in time order, grouped once
        sessions, starts = np.unique(sid[order], return_index=True)
        out = {}
        for s, rows in zip(sessions, np.split(order, starts[1:])):
            info = self.sessions[s]
            out[info.name] = {"account": info.account, "label": info.label,
                              **first_n_means(anomalies[info.account][rows])}
        return out

    def _evaluate_sessions(self, anomalies: dict[int, np.ndarray], stage: str) -> dict:
        scores = self.session_scores(anomalies, stage)
        report = {**session_report(scores), "session_scores": scores}
        if self.fuse_classic:  # these action anomalies weighted with the classic model's
            classic = self.action_anomalies(self.index[stage].features, stage, method=self.fuse_classic)
            w = self.fuse_weight
            fused = {a: w * anomalies[a] + (1 - w) * classic[a] for a in anomalies}
            fused_scores = self.session_scores(fused, stage)
            report["with_classic"] = {**session_report(fused_scores), "session_scores": fused_scores,
                                      "label": self.fusion_label}
        return report

    @property
    def fusion_label(self) -> str:
        """How the fused row was made, for tables and plot legends."""
        return f"encoder x {self.fuse_weight:g} + classic {self.fuse_classic} x {1 - self.fuse_weight:g}"

    def write_plots(self, report: dict, output_dir: Path, prefix: str = "") -> None:
        enc = report.get("encoder", {})
        fused = enc.get("with_classic")
        if fused:  # the DET with the fused row beside the encoder's
            plot_det({"encoder": enc["scores"], fused["label"]: fused["scores"]},
                     output_dir / f"{prefix}det.png", title="Balabit (test sessions)")
        curves = {k: v["auc_by_actions"] for k, v in report.items() if isinstance(v, dict) and "auc_by_actions" in v}
        if fused:
            curves[fused["label"]] = fused["auc_by_actions"]
        if curves:
            plot_amount_curve(curves, output_dir / f"{prefix}auc_by_actions.png", "actions seen",
                              "global AUC", title="Balabit: AUC vs actions seen")


def session_report(scores: dict[str, dict]) -> dict:
    """Global AUC / EER over sessions (by actions seen) and per account, from :meth:`session_scores`."""
    rows = list(scores.values())
    y = np.array([r["label"] for r in rows])
    acc = np.array([r["account"] for r in rows])
    by_n = {n: np.array([r[n] for r in rows]) for n in ACTION_COUNTS}
    per_account = {}
    for a in np.unique(acc):
        m = acc == a
        if (y[m] == 0).any() and (y[m] == 1).any():
            s = by_n["all"][m]
            per_account[int(a)] = {"auc": roc_auc(s[y[m] == 0], s[y[m] == 1]),
                                   "eer": eer(s[y[m] == 0], s[y[m] == 1])}
    g, i = by_n["all"][y == 0], by_n["all"][y == 1]
    return {
        "eer": eer(g, i), "auc_global": roc_auc(g, i), "eer_global": eer(g, i),
        "auc_by_actions": {n: roc_auc(v[y == 0], v[y == 1]) for n, v in by_n.items()},
        "eer_by_actions": {n: eer(v[y == 0], v[y == 1]) for n, v in by_n.items()},
        "per_subject": {a: v["eer"] for a, v in per_account.items()},
        "per_account": per_account, "n_sessions": len(rows), "n_illegal": int(y.sum()),
        "scores": (g, i),
    }
