"""StrokePIN phone data module: 6-digit PINs typed on a touchscreen, timing only, users in folds.

Every entry goes through the served path: the loader's key events (every key ``masked``, as
a PIN field's are under the session contract v2) become a validated contract session
(:func:`biometrics.data.sessions.keystroke_session`, ``device_type="mobile"``), and its
tokens are :func:`biometrics.features.keystroke_tokens` of ``session.keystroke_arrays()``,
exactly what the scoring service computes. Tokens therefore carry the four latencies
(hold, down-down, up-down, up-up), the first-press flag and the constant ``masked``
one-hot: no digit, no coordinate (they would spell the PIN).

Protocol (the dataset README): a *cell* is (user, PIN, posture), its entries in time order.
The 96 users are split into ``n_folds`` seeded folds (``fold_seed``); the encoder trains on
the other folds less ``n_val_users`` validation users (drawn from those folds, never
trained on) and is evaluated within the held-out fold, impostors from that fold only. The
attacker knows the PIN: impostor queries are other users of the evaluated set typing the
same PIN in the same posture.

* within posture (``within_sit``, ``within_walk``): enroll on the cell's first G = 1, 2, 3
  entries, genuine queries = its entries 4-5 (cells with at least 4 entries); impostor
  queries = every entry of that PIN and posture by the other users;
* across postures (``sit_to_walk``, ``walk_to_sit``): enroll on all of a user's entries of a
  PIN in one posture, genuine = the same user's entries of it in the other posture,
  impostors = the other users' entries of it in the other posture;
* decisions on one entry, or on the mean score of k consecutive entries (k = 2 within,
  k = 3 across; sliding windows over one person's entries in time order, an impostor's
  window never mixes two impostors);
* per cell the EER, averaged over cells (mean, sd), and the pooled EER over all cells'
  scores.

``eer`` (the checkpoint metric) is the mean per-cell EER within posture at G = ``eer_g``,
one entry, over the cells of both postures. Encoder reports also hold the fusion with
Manhattan (scaled) on the timing vector (``variants``): each part's scores standardized
over the condition's queries (unlabelled: genuine and impostor scores together, no label
used), then summed. The z-normalization by enrollment scores of
:func:`biometrics.protocols.fused_scorer` is undefined for G = 1 (one enrollment entry has
no spread), hence this form.

Sequences carry their cell in ``order``: ``(posture * 20 + pin) * CELL_STRIDE + k`` with
``k`` the entry's rank in its cell, ``pin`` its index in :data:`biometrics.data.strokepin.PINS`.

Unseen PINs (``heldout_pins`` = 7, the README's variant): a seeded set of PINs is left out of
training; validation and test users are evaluated on those PINs only.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader, Sampler

from biometrics.data import strokepin
from biometrics.data.datamodule import SequenceDataModule
from biometrics.data.key_identity import hidden_columns
from biometrics.data.keystroke_modules import TIMING_COLUMNS, KeyIdentityMixin
from biometrics.data.paths import datasets_root
from biometrics.data.sequences import SequenceSet, TokenDataset, contiguous_labels, pad_batch
from biometrics.data.serwadda import consecutive_means
from biometrics.data.sessions import keystroke_session
from biometrics.distances import mean_distance
from biometrics.features import KEYSTROKE_FEATURES, keystroke_tokens
from biometrics.metrics import eer
from biometrics.modalities import modality
from biometrics.protocols import Scorer, detector_scorer

CELL_STRIDE = 10
N_PINS = len(strokepin.PINS)
ENROLL_SIZES = (1, 2, 3)
#: Entries per decision: within posture (mean of 2) and across postures (mean of 3).
WITHIN_KS, ACROSS_KS = (1, 2), (1, 3)
WITHIN = ("within_sit", "within_walk")
ACROSS = ("sit_to_walk", "walk_to_sit")
#: Genuine queries within posture: the entries after the 3rd.
FIRST_QUERY = 3
FUSION_DETECTOR = "manhattan_scaled"

#: One condition's raw scores: per evaluated cell ``(cell id, genuine scores in time order,
#: {impostor user: scores in time order})``.
CellScores = list[tuple[str, np.ndarray, dict[int, np.ndarray]]]


def entry_tokens(entry: strokepin.PinEntry) -> np.ndarray:
    """An entry's tokens as served: contract session (mobile) -> key arrays -> keystroke tokens."""
    session = keystroke_session(entry.keys, device_type="mobile")
    return keystroke_tokens(session.keystroke_arrays(), modality("keystrokes").feature_config())


def user_id(name: str) -> int:
    """``user12`` -> 12."""
    return int(name.removeprefix("user"))


def entry_sequences(entries: list[strokepin.PinEntry]) -> SequenceSet:
    """All entries as one set; ``order`` encodes (posture, PIN, rank in the cell)."""
    rank: dict[tuple, int] = defaultdict(int)
    tokens, users, order = [], [], []
    for e in sorted(entries, key=lambda e: (user_id(e.user), e.start_ns)):
        cell = (strokepin.POSTURES.index(e.posture) * N_PINS + strokepin.PINS.index(e.pin))
        k = rank[(e.user, cell)]
        rank[(e.user, cell)] += 1
        tokens.append(entry_tokens(e))
        users.append(user_id(e.user))
        order.append(cell * CELL_STRIDE + k)
    return SequenceSet(tokens, np.array(users, np.int64), np.array(order, np.int64))


def decode_order(order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``order`` -> (posture index, PIN index, rank in the cell)."""
    cell, k = np.divmod(np.asarray(order), CELL_STRIDE)
    posture, pin = np.divmod(cell, N_PINS)
    return posture, pin, k


def fold_roles(users: np.ndarray, fold: int, n_folds: int, fold_seed: int, n_val: int,
               seed: int) -> dict[str, np.ndarray]:
    """Seeded folds of users: this fold is test; ``n_val`` users of the others validate; the rest train."""
    perm = np.random.default_rng(fold_seed).permutation(np.unique(users))
    folds = np.array_split(perm, n_folds)
    rest = np.random.default_rng(seed).permutation(
        np.concatenate([f for i, f in enumerate(folds) if i != fold]))
    return {"test": np.sort(folds[fold]), "val": np.sort(rest[:n_val]), "train": np.sort(rest[n_val:])}


def test_users(entries: list[strokepin.PinEntry], fold: int = 0, seed: int = 0) -> set[str]:
    """The users of a held-out fold as ``experiment=strokepin_phone`` splits them (5 seeded folds;
    the served phone scorer never saw fold 0's)."""
    users = np.array(sorted({user_id(e.user) for e in entries}))
    test = set(fold_roles(users, fold, 5, 0, 10, seed)["test"].tolist())
    return {e.user for e in entries if user_id(e.user) in test}


def _cells(users: np.ndarray, order: np.ndarray) -> dict[tuple[int, int, int], np.ndarray]:
    """``{(user, posture, pin): row indices in time order}``."""
    posture, pin, k = decode_order(order)
    out: dict[tuple[int, int, int], list] = defaultdict(list)
    for i in np.lexsort((k, pin, posture, users)):
        out[(int(users[i]), int(posture[i]), int(pin[i]))].append(i)
    return {c: np.array(v, np.int64) for c, v in out.items()}


def condition_scores(vec: np.ndarray, users: np.ndarray, order: np.ndarray,
                     scorer: Scorer = mean_distance,
                     enroll_sizes: tuple[int, ...] = ENROLL_SIZES) -> dict[str, CellScores]:
    """Raw per-cell scores of every condition (``within_sit_g1`` .., ``sit_to_walk``, ..)."""
    cells = _cells(users, order)
    by_pin: dict[tuple[int, int], list[int]] = defaultdict(list)  # (posture, pin) -> users
    for u, p, n in cells:
        by_pin[(p, n)].append(u)
    out: dict[str, CellScores] = {}

    def run(name: str, cell_id: str, enroll: np.ndarray, genuine: np.ndarray,
            impostors: dict[int, np.ndarray]) -> None:
        if not (genuine.size and impostors):
            return
        rows = np.concatenate([genuine, *impostors.values()])
        s = scorer(vec[enroll], vec[rows])
        gen, rest = s[:genuine.size], s[genuine.size:]
        bounds = np.cumsum([0, *(v.size for v in impostors.values())])
        imp = {v: rest[a:b] for v, a, b in zip(impostors, bounds[:-1], bounds[1:])}
        out.setdefault(name, []).append((cell_id, gen, imp))

    for (u, p, n), rows in cells.items():
        cid = f"{u}-{strokepin.POSTURES[p]}-{strokepin.PINS[n]}"
        others = {v: cells[(v, p, n)] for v in by_pin[(p, n)] if v != u}
        if rows.size > FIRST_QUERY:
            for g in enroll_sizes:
                run(f"{WITHIN[p]}_g{g}", cid, rows[:g], rows[FIRST_QUERY:], others)
        target = (u, 1 - p, n)
        if target in cells:
            cross = {v: cells[(v, 1 - p, n)] for v in by_pin[(1 - p, n)] if v != u}
            run(ACROSS[p], cid, rows, cells[target], cross)
    return out


def summarize(scores: CellScores, k: int) -> dict:
    """Per-cell EER (mean, sd, the list) and pooled EER of decisions on the mean of k entries."""
    per_cell, gen_all, imp_all = {}, [], []
    for cid, gen, imp in scores:
        gw = consecutive_means(gen, k)
        iw = np.concatenate([consecutive_means(s, k) for s in imp.values()])
        if gw.size and iw.size:
            per_cell[cid] = eer(gw, iw)
            gen_all.append(gw)
            imp_all.append(iw)
    if not per_cell:
        return {"n_cells": 0}
    vals = np.array(list(per_cell.values()))
    pooled = (np.concatenate(gen_all), np.concatenate(imp_all))
    return {"eer_mean": float(vals.mean()), "eer_sd": float(vals.std()), "eer_pooled": float(eer(*pooled)),
            "n_cells": int(vals.size), "n_genuine": int(pooled[0].size), "n_impostor": int(pooled[1].size),
            "per_cell": {c: round(float(e), 5) for c, e in per_cell.items()}, "scores": pooled}


def condition_ks(name: str) -> tuple[int, ...]:
    """Entries per decision reported for a condition."""
    return WITHIN_KS if name.startswith("within") else ACROSS_KS


def protocol_report(scores: dict[str, CellScores], eer_g: int = 3) -> dict:
    """Every condition summarized at its k's, and ``eer`` = the within-posture mean per-cell EER at
    G = ``eer_g``, one entry, over the cells of both postures (``per_subject``: those cells' EERs)."""
    conditions = {name: {str(k): summarize(s, k) for k in condition_ks(name)} for name, s in scores.items()}
    head = {c: e for p in WITHIN for c, e in conditions.get(f"{p}_g{eer_g}", {}).get("1", {}).get(
        "per_cell", {}).items()}
    pooled = [conditions[f"{p}_g{eer_g}"]["1"]["scores"] for p in WITHIN
              if conditions.get(f"{p}_g{eer_g}", {}).get("1", {}).get("n_cells")]
    report = {"eer": float(np.mean(list(head.values()))) if head else float("nan"),
              "eer_at": {"g": eer_g, "k": 1}, "per_subject": head, "conditions": conditions}
    if pooled:
        report["scores"] = tuple(np.concatenate(x) for x in zip(*pooled))
    return report


def fuse(parts: list[dict[str, CellScores]]) -> dict[str, CellScores]:
    """Sum of the parts' scores, each standardized over all of a condition's queries (no labels)."""
    out: dict[str, CellScores] = {}
    for name in parts[0]:
        stats = []
        for part in parts:
            every = np.concatenate([x for _, g, imp in part[name] for x in (g, *imp.values())])
            stats.append((every.mean(), every.std() + 1e-12))
        cells = []
        for rows in zip(*(part[name] for part in parts)):
            gen = sum((r[1] - m) / s for r, (m, s) in zip(rows, stats))
            imp = {v: sum((r[2][v] - m) / s for r, (m, s) in zip(rows, stats)) for v in rows[0][2]}
            cells.append((rows[0][0], gen, imp))
        out[name] = cells
    return out


class PinBatchSampler(Sampler[list[int]]):
    """Batches of a few PINs each: ``pins_per_batch`` PINs, and for each of them ``m`` entries of
    each of up to ``batch_size / (pins_per_batch * m)`` (user, PIN) classes, so the negatives of a
    batch are mostly other users typing the same PIN (the protocol's impostors)."""

    def __init__(self, labels: np.ndarray, pins: np.ndarray, batch_size: int, m: int, pins_per_batch: int,
                 n_batches: int, seed: int = 0) -> None:
        self.m, self.pins_per_batch, self.n_batches = m, pins_per_batch, n_batches
        self.per_pin = max(2, batch_size // (pins_per_batch * m))
        self.rng = np.random.default_rng(seed)
        self.classes: dict[int, dict[int, np.ndarray]] = defaultdict(dict)
        for c in np.unique(labels):
            rows = np.flatnonzero(labels == c)
            self.classes[int(pins[rows[0]])][int(c)] = rows
        self.pin_ids = np.array(sorted(self.classes))

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self):
        for _ in range(self.n_batches):
            batch = []
            for p in self.rng.choice(self.pin_ids, size=min(self.pins_per_batch, self.pin_ids.size), replace=False):
                cls = list(self.classes[int(p)].values())
                for i in self.rng.choice(len(cls), size=min(self.per_pin, len(cls)), replace=False):
                    rows = cls[i]
                    batch += self.rng.choice(rows, size=self.m, replace=rows.size < self.m).tolist()
            yield batch


class StrokePINDataModule(KeyIdentityMixin, SequenceDataModule):
    """StrokePIN PIN entries (timing only), users in folds, the dataset README's protocol."""

    feature_names = KEYSTROKE_FEATURES

    def __init__(self, datasets: str | Path | None = None, fold: int = 0, n_folds: int = 5,
                 fold_seed: int = 0, n_val_users: int = 10, max_len: int = 8,
                 enroll_sizes: tuple[int, ...] = ENROLL_SIZES, eer_g: int = 3, train_label: str = "user",
                 pins_per_batch: int = 4, heldout_pins: int = 0, max_users: int | None = None,
                 key_identity: str = "classes", entries: list | None = None, **kw) -> None:
        super().__init__(max_len=max_len, **kw)
        hidden_columns(key_identity)  # fail early on an unknown scheme
        if train_label not in ("user", "user_pin"):
            raise ValueError(f"train_label must be 'user' or 'user_pin', got {train_label!r}")
        self.key_identity = key_identity
        self.datasets = datasets_root(datasets)
        self.fold, self.n_folds, self.fold_seed, self.n_val_users = fold, n_folds, fold_seed, n_val_users
        self.enroll_sizes, self.eer_g = tuple(enroll_sizes), eer_g
        self.train_label, self.pins_per_batch, self.max_users = train_label, pins_per_batch, max_users
        if not 0 <= heldout_pins < N_PINS:
            raise ValueError(f"heldout_pins must be in 0..{N_PINS - 1}, got {heldout_pins}")
        self.heldout_pins = heldout_pins
        self.entries = entries  # given entries (tests) instead of the archive

    def cache_key(self) -> dict:
        return {"seed": self.seed, "fold": self.fold, "n_folds": self.n_folds, "fold_seed": self.fold_seed,
                "val": self.n_val_users, "max_users": self.max_users, "key_identity": self.key_identity,
                "features": repr(modality(self.modality).feature_config()), "given": self.entries is not None, "heldout_pins": self.heldout_pins, "v": 1}

    def setup(self, stage: str | None = None) -> None:
        if self.entries is not None and not self.sets:  # given entries: never cached
            sets = self.build_sets()
            self.sets = {s: v.select_columns(self.columns) for s, v in sets.items()}
        super().setup(stage)

    def load_all(self) -> SequenceSet:
        """Every clean entry of every kept user (or the given entries) as one set."""
        entries = self.entries if self.entries is not None else strokepin.load_entries(self.datasets, self.max_users)
        return entry_sequences(entries)

    @property
    def unseen_pins(self) -> np.ndarray:
        """Indices of the PINs held out from training (seeded by ``fold_seed``; none by default)."""
        return np.sort(np.random.default_rng(self.fold_seed).permutation(N_PINS)[:self.heldout_pins])

    def build_sets(self) -> dict[str, SequenceSet]:
        full = self.load_all()
        roles = fold_roles(full.users, self.fold, self.n_folds, self.fold_seed, self.n_val_users, self.seed)
        sets = {s: full.subset(np.isin(full.users, u)) for s, u in roles.items()}
        if self.heldout_pins:  # train on the other PINs, validate and test on the held-out ones only
            for s, data in sets.items():
                unseen = np.isin(decode_order(data.order)[1], self.unseen_pins)
                sets[s] = data.subset(~unseen if s == "train" else unseen)
        return sets

    def train_labels(self) -> np.ndarray:
        """Training class of each training entry: its user, or its (user, PIN) pair."""
        data = self.sets["train"]
        if self.train_label == "user":
            return contiguous_labels(data.users)[0]
        _, pin, _ = decode_order(data.order)
        return contiguous_labels(data.users * N_PINS + pin)[0]

    def train_dataloader(self) -> DataLoader:
        if self.train_label == "user":
            return super().train_dataloader()
        data = self.sets["train"]
        labels = self.train_labels()
        _, pin, _ = decode_order(data.order)
        sampler = PinBatchSampler(labels, pin, self.batch_size, self.m_per_user, self.pins_per_batch,
                                  self.batches_per_epoch, self.seed)
        ds = TokenDataset(data, labels, self.max_len)
        return DataLoader(ds, batch_sampler=sampler, collate_fn=pad_batch, num_workers=self.num_workers)

    def scores(self, vec: np.ndarray, stage: str, scorer: Scorer = mean_distance) -> dict[str, CellScores]:
        """Raw per-cell scores of every condition for vectors of ``self.sets[stage]``."""
        data = self.sets[stage]
        return condition_scores(vec, data.users, data.order, scorer, self.enroll_sizes)

    def evaluate_embeddings(self, emb: np.ndarray, stage: str, scorer: Scorer = mean_distance) -> dict:
        data = self.sets[stage]
        if emb.shape[0] != len(data):  # a partial pass (Lightning's sanity check): nothing to judge
            return {"eer": float("nan")}
        raw = self.scores(emb, stage, scorer)
        report = protocol_report(raw, self.eer_g)
        if scorer is mean_distance:  # encoder embeddings: also fused with the classic on the timing vector
            classic = self.scores(self.baseline_vectors(stage), stage, detector_scorer(FUSION_DETECTOR))
            fused = protocol_report(fuse([raw, classic]), self.eer_g)
            report["variants"] = {f"encoder+{FUSION_DETECTOR}": fused}
        return report

    def baseline_vectors(self, stage: str) -> np.ndarray:
        """Fixed text: the timing columns of the six presses side by side (24 values, log-scaled)."""
        timing = [i for i, n in enumerate(self.feature_names) if n in TIMING_COLUMNS and i in self.columns]
        cols = [self.columns.index(i) for i in timing]
        return np.stack([t[:, cols].ravel() for t in self.sets[stage].tokens])

    def write_plots(self, report: dict, output_dir: Path, prefix: str = "") -> None:
        """Every scorer's pooled scores per condition and k in ``<prefix>strokepin_scores.npz``
        (for pooling over folds: ``bench/strokepin_phone.py``)."""
        arrays = {}
        for name, rep in report.items():
            if not isinstance(rep, dict):
                continue
            for label, r in [(name, rep), *rep.get("variants", {}).items()]:
                for cond, by_k in r.get("conditions", {}).items():
                    for k, s in by_k.items():
                        if "scores" in s:
                            arrays[f"{label}|{cond}|{k}|genuine"] = s["scores"][0]
                            arrays[f"{label}|{cond}|{k}|impostor"] = s["scores"][1]
        np.savez_compressed(Path(output_dir) / f"{prefix}strokepin_scores.npz", **arrays)
