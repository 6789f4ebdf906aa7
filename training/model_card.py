"""The model card, regenerated from the evaluation results: ``docs/model_card.md`` and its plots.

    python -m training.model_card                         # seconds; rerun after any bench rerun
    python -m training.model_card --datasets-dir /data/datasets --goal 1.5

Reads the served answers (``bench/results/served_scores/*.jsonl.gz``) and figures
(``bench/results/product_accuracy.json``) of ``bench/product_accuracy.py``, the research and
guard results in ``bench/results/``, the bundle's licence metadata and the datasets (read in
place from ``--datasets-dir`` / ``$BIOMETRICS_DATASETS``, for cohort attributes: typing speed
from the enrollment sentences, posture), and writes:

- ``docs/model_card.md``: intended use, data and licences, served and research figures,
  calibration, what the default thresholds mean, cohort fairness (overall against the worst
  cohort, goal ``--goal`` times), known limits, privacy of the session contract;
- ``docs/model_card/*.png``: decision shares and EER per cohort, score distributions with the
  thresholds, genuine risk by typing speed, calibration;
- ``docs/model_card/cohorts.json``: every cohort figure in the card.

Nothing in the card is typed in by hand: every figure comes from those files when the command
runs. The cohort computations are :mod:`biometrics.fairness`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biometrics import fairness as fx
from biometrics.data.paths import datasets_root

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "python -m training.model_card"


@dataclass(frozen=True)
class Benchmark:
    """A served benchmark of ``bench/product_accuracy.py``."""

    key: str  # key in product_accuracy.json and the served_scores file name
    label: str
    device: str  # device type of its sessions
    scorer: str  # the bundle scorer (modality set) its sessions are scored on
    dataset: str  # folder under the datasets root
    shipped_bundle: bool  # scored by the shipped bundle (else per-fold bundles built by the bench)
    account: str  # what a "user" of its rows is


BENCHMARKS = (
    Benchmark("aalto_keystrokes", "Aalto desktop free text", "desktop keyboard", "keystrokes",
              "aalto-desktop", True, "participant"),
    Benchmark("strokepin_phone", "StrokePIN phone PINs", "phone keypad (PIN, masked presses)",
              "keystrokes_phone", "mobile-strokepin", True, "(user, PIN, posture) cell"),
    Benchmark("balabit_pointer", "Balabit mouse", "mouse (remote desktop)", "pointer", "balabit-mouse",
              False, "account"),
    Benchmark("serwadda_touch", "Serwadda swipes", "phone touch swipes", "touch", "touch-serwadda",
              False, "user"),
)
#: Datasets used in research only (not by a served scorer).
RESEARCH_DATASETS = {"touchalytics-features": "Touchalytics features (research tables only)"}
#: The desktop password scorer, calibrated on CMU's calibration half of the subjects.
PASSWORD_SCORER = "password_timing"
#: The Aalto TypeNet protocol of bench/product_accuracy.py: 15 sentences per user, the last
#: ``queries_per_user`` are the genuine queries, the first ``enrollment_sessions`` enroll.
AALTO_SENTENCES = 15
#: bench/product_accuracy.py run_strokepin: a cell's first 3 entries enroll, entries 4-5 query.
STROKEPIN_ENROLL = 3
SPEED_LABELS = ("fast", "medium", "slow")
LENGTH_LABELS = ("short", "medium", "long")
#: A recomputed decision table may differ from the served one by at most this share of sessions
#: (guards and policies decide a few sessions whatever their risk).
DECISION_TOLERANCE = 0.005


# ----------------------------------------------------------------------------- inputs


def read_json(path: Path) -> dict | None:
    """A JSON file, or None when it is missing."""
    return json.loads(path.read_text()) if path.is_file() else None


def read_rows(path: Path) -> list[dict]:
    """Served answers: gzipped JSON lines."""
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def sha(path: Path) -> str:
    """Short sha256 of a file (provenance of the card's inputs)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def rel(path: Path) -> str:
    """A path relative to the repository when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def serving_defaults() -> dict:
    """The API's default target error rates and fusion (``serving.settings.Settings`` field
    defaults; environment variables are not read)."""
    from serving.settings import Settings

    f = Settings.model_fields
    return {"target_far": f["target_far"].default, "target_frr": f["target_frr"].default,
            "fusion": f["fusion"].default}


def load_bundle(path: Path | None):
    """The bundle, or None (with the reason) when it cannot be read."""
    if path is None or not Path(path).is_file():
        return None, f"bundle not found ({path})"
    try:
        from biometrics.bundle import ModelBundle

        return ModelBundle.load(path), ""
    except (OSError, ValueError, RuntimeError) as err:  # BundleError is a ValueError; the card goes on
        return None, f"bundle {path} could not be read: {err}"


def bundle_thresholds(bundle, scorer: str, defaults: dict) -> tuple[float, float] | None:
    """The thresholds the API derives for sessions scored on ``scorer`` alone."""
    from biometrics.scoring import ScoringConfig

    if bundle is None or scorer not in bundle.scorers:
        return None
    cfg = ScoringConfig.from_targets(bundle, defaults["target_far"], defaults["target_frr"],
                                     fusion=defaults["fusion"])
    t = cfg.thresholds([scorer])
    return t.allow_below, t.deny_at_or_above


def recorded_thresholds(thr: dict | None, scorer: str) -> tuple[float, float] | None:
    """``(allow_below, deny_at_or_above)`` of a benchmark's recorded thresholds: those of its
    scorer's modality set where they are given per set (``by_modalities``), else the pair."""
    if not isinstance(thr, dict):
        return None
    by = thr.get("by_modalities")
    if isinstance(by, dict) and isinstance(by.get(scorer), dict):
        thr = by[scorer]
    if "allow_below" in thr and "deny_at_or_above" in thr:
        return float(thr["allow_below"]), float(thr["deny_at_or_above"])
    return None


def resolve_decisions(b: Benchmark, table: fx.ScoreTable, entry: dict, bundle, defaults: dict,
                      ) -> tuple[fx.ScoreTable, dict]:
    """Per-row decisions of a benchmark and where they come from.

    In order: the rows' own ``decision``; the thresholds recorded in product_accuracy.json; the
    thresholds the shipped bundle's calibration gives (benchmarks scored by that bundle only).
    Recomputed decisions are checked against the served decision table and dropped when they
    differ by more than :data:`DECISION_TOLERANCE` of the sessions (e.g. a bundle rebuilt since
    the scores were made). Without any, the rows keep no decisions and the served table's
    totals are the benchmark's only decision figures.
    """
    info: dict = {"thresholds": None}
    served = fx.DecisionCounts.from_table(entry["decisions"]) if "decisions" in entry else None
    recorded = recorded_thresholds(entry.get("thresholds"), b.scorer)
    if table.decision is not None:
        info["source"] = "the served decision of every row"
        info["thresholds"] = recorded
        return table, info
    if recorded is not None:
        pair, source = recorded, "the thresholds in product_accuracy.json"
    elif b.shipped_bundle and (pair := bundle_thresholds(bundle, b.scorer, defaults)) is not None:
        source = (f"the bundle's thresholds for `{b.scorer}` sessions (target FAR {defaults['target_far']:.0%}, "
                  f"FRR {defaults['target_frr']:.0%})")
    else:
        why = ("each fold or account is scored by its own bundle, whose thresholds the results do not record"
               if not b.shipped_bundle else "no thresholds recorded and no bundle to derive them from")
        info["source"] = f"none per row ({why}): the served decision table's totals only"
        return table, info
    recomputed = table.with_thresholds(*pair)
    if served is not None:
        mine = fx.DecisionCounts.from_decisions(recomputed.genuine, recomputed.decision)
        diff = {kind: sum(abs(mine.table()[kind].get(d, 0) - served.table()[kind].get(d, 0))
                          for d in fx.DECISION_NAMES) // 2 for kind in ("genuine", "impostor")}
        info["check"] = {"sessions_decided_differently": diff,
                         "served": served.table(), "recomputed": mine.table()}
        worst = max(diff["genuine"] / max(1, served.n_genuine), diff["impostor"] / max(1, served.n_impostor))
        if worst > DECISION_TOLERANCE:
            info["source"] = (f"none per row: {source} reproduce the served decisions only up to "
                              f"{worst:.1%} of sessions (the scores and thresholds are out of step; rerun the bench)")
            return table, info
    info["source"], info["thresholds"] = source, pair
    return recomputed, info


# ------------------------------------------------------------------ cohort attributes


def median_down_down(keys) -> np.ndarray:
    """Down-to-down intervals (ms) of one key-event recording."""
    t = np.asarray(keys.t)[np.asarray(keys.is_down, bool)]
    return np.diff(np.sort(t))


def aalto_attributes(datasets: Path, cache_dir: Path, users: list[str], enroll: int,
                     ) -> tuple[dict[str, float], dict[str, list[int]]]:
    """Per Aalto user: the median down-down interval (ms) of the enrollment sentences (what the
    profile sees: the typing-speed attribute), and the number of key presses of each of the
    protocol's sentences."""
    from biometrics.data import aalto

    folder = aalto.unpack(datasets, cache_dir / "aalto-desktop")
    tables = aalto.keycode_tables("classes")
    speed, presses = {}, {}
    for u in users:
        path = folder / f"{u}_keystrokes.txt"
        if not path.is_file():
            continue
        seqs = aalto.parse_participant(path, tables)[:AALTO_SENTENCES]
        dd = np.concatenate([median_down_down(s.keys) for s in seqs[:enroll]] or [np.zeros(0)])
        if dd.size:
            speed[u] = float(np.median(dd))
        presses[u] = [int(np.sum(s.keys.is_down)) for s in seqs]
    return speed, presses


def strokepin_speed(datasets: Path, accounts: list[str]) -> dict[str, float]:
    """Per StrokePIN user (of the accounts ``user/PIN/posture``): the median down-down interval
    (ms) over the enrollment entries (the first entries of each of the user's cells)."""
    from biometrics.data import strokepin

    wanted = {a.split("/")[0] for a in accounts}
    cells = strokepin.cells_of(strokepin.load_entries(datasets), lambda e: e.user in wanted)
    dd: dict[str, list] = defaultdict(list)
    for (user, _, _), entries in cells.items():
        if len(entries) >= STROKEPIN_ENROLL + 1:  # the cells the bench scores
            dd[user] += [median_down_down(e.keys) for e in entries[:STROKEPIN_ENROLL]]
    return {u: float(np.median(np.concatenate(v))) for u, v in dd.items() if v}


def dataset_terms(datasets: Path, folder: str) -> tuple[str, str]:
    """A dataset README's title and its opening paragraphs (citation and terms), verbatim."""
    path = datasets / folder / "README.md"
    if not path.is_file():
        return folder, f"(no README at {path})"
    text = path.read_text(encoding="utf-8")
    title = text.splitlines()[0].lstrip("# ").strip() if text else folder
    body = text.split("\n## ")[0].split("\n", 1)[-1]
    paras = [" ".join(p.split()) for p in body.split("\n\n") if p.strip()]
    return title, " ".join(paras)


def is_noncommercial(text: str | None) -> bool:
    """Whether terms restrict use to non-commercial purposes."""
    return bool(text) and re.search(r"non-?commercial|BY-NC", text, re.IGNORECASE) is not None


# -------------------------------------------------------------------------- format


def pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def times(x: float | None) -> str:
    if x is None:
        return "n/a"
    return "inf" if not np.isfinite(x) else f"{x:.2f}x"


def interval(c: fx.CohortFigures, metric: str) -> str:
    iv = c.intervals.get(metric)
    return "" if iv is None else f" ({pct(iv[0], 1)}-{pct(iv[1], 1)})"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def get(d: dict | None, *path, default=None):
    """``d[path[0]][path[1]]...`` or ``default``."""
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


# --------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    _plt().close(fig)


def plot_cohort_bars(dims: list[fx.DimensionReport], path: Path, metrics: tuple[str, ...], title: str,
                     goal: float) -> None:
    """Per dimension, bars of ``metrics`` per cohort with 95% intervals, the overall figure (dashed)
    and the goal (dotted, ``goal`` times the overall figure of the first metric)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(dims), figsize=(4.2 * len(dims), 3.8), squeeze=False)
    for ax, d in zip(axes[0], dims, strict=True):
        names = list(d.cohorts)
        x = np.arange(len(names))
        w = 0.8 / len(metrics)
        for k, m in enumerate(metrics):
            vals = [d.cohorts[c].value(m) for c in names]
            v = np.array([np.nan if y is None else 100 * y for y in vals])
            xs = x + (k - (len(metrics) - 1) / 2) * w
            ax.bar(xs, v, w, color=f"C{k}", label=m.replace("_", " "))
            ivs = [(j, d.cohorts[c].intervals[m]) for j, c in enumerate(names) if m in d.cohorts[c].intervals]
            if ivs:
                j = np.array([a for a, _ in ivs])
                lo = np.array([100 * b[0] for _, b in ivs])
                hi = np.array([100 * b[1] for _, b in ivs])
                ax.errorbar(xs[j], v[j], yerr=np.vstack([v[j] - lo, hi - v[j]]), fmt="none", ecolor="k", capsize=3)
            base = d.overall.value(m)
            if base is not None:
                ax.axhline(100 * base, color=f"C{k}", ls="--", lw=1)
                if k == 0:
                    ax.axhline(100 * goal * base, color=f"C{k}", ls=":", lw=1, label=f"{goal:g}x overall")
        ax.set_xticks(x, names, rotation=25, ha="right", fontsize=8)
        ax.set_ylabel("%")
        ax.set_title(d.name, fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def plot_distributions(tables: dict[str, fx.ScoreTable], thresholds: dict[str, tuple | None], path: Path) -> None:
    """Genuine and impostor risk histograms per benchmark, with the thresholds where known."""
    plt = _plt()
    n = len(tables)
    cols = min(2, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows), squeeze=False)
    bins = np.linspace(0, 1, 41)
    for ax, (key, t) in zip(axes.ravel(), tables.items(), strict=False):
        for mask, label, color in ((t.genuine, "genuine", "C0"), (~t.genuine, "impostor", "C3")):
            if mask.any():
                ax.hist(t.risk[mask], bins=bins, density=True, alpha=0.5, color=color, label=f"{label} ({mask.sum()})")
        thr = thresholds.get(key)
        if thr:
            ax.axvline(thr[0], color="k", ls="--", lw=1, label=f"allow below {thr[0]:.3f}")
            ax.axvline(thr[1], color="k", ls=":", lw=1, label=f"deny at {thr[1]:.3f}")
        ax.set_yscale("log")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("served risk")
        ax.legend(fontsize=7)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    _save(fig, path)


def plot_genuine_tail(table: fx.ScoreTable, cohort_of: dict[str, str], labels: tuple[str, ...],
                      thr: tuple | None, path: Path, title: str) -> None:
    """Share of genuine sessions at or above each risk, per cohort: where it crosses the deny
    threshold is the cohort's genuine-denied share."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for k, c in enumerate(labels):
        m = table.genuine & np.array([cohort_of.get(u) == c for u in table.users])
        if not m.any():
            continue
        r = np.sort(table.risk[m])
        surv = 1.0 - np.arange(r.size) / r.size
        ax.step(r, surv, where="post", color=f"C{k}", label=f"{c} ({m.sum()} sessions)")
    if thr:
        ax.axvline(thr[0], color="k", ls="--", lw=1, label="allow below")
        ax.axvline(thr[1], color="k", ls=":", lw=1, label="deny at or above")
    ax.set_yscale("log")
    ax.set_xlabel("served risk")
    ax.set_ylabel("share of genuine sessions with risk >= x")
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_calibration(rel_: dict[str, dict], path: Path) -> None:
    """Class-balanced reliability per benchmark."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1)
    for k, (key, r) in enumerate(rel_.items()):
        pts = [(m, f) for m, f in zip(r["mean_risk"], r["impostor_share"], strict=True) if m is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), "o-", color=f"C{k}", ms=3, label=f"{key} (ECE {r['ece']:.3f})")
    ax.set_xlabel("mean served risk in bin")
    ax.set_ylabel("impostor share (classes weighted equally)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)


# ------------------------------------------------------------------------- sections


def length_cohorts(table: fx.ScoreTable, presses: dict[str, list[int]], queries: int) -> tuple[dict, list]:
    """Genuine Aalto queries by their number of key presses (terciles): shares denied / not
    allowed. Genuine rows of a user are its last ``queries`` sentences in order (as
    bench/product_accuracy.py scores them); impostor rows do not say which sentence they are."""
    idx = np.flatnonzero(table.genuine)
    n_of: dict[str, int] = defaultdict(int)
    lengths = np.full(len(table), -1)
    for i in idx:
        u = table.users[i]
        j = n_of[u]
        n_of[u] += 1
        p = presses.get(u)
        if p is not None and len(p) == AALTO_SENTENCES:
            lengths[i] = p[AALTO_SENTENCES - queries + j]
    if any(n != queries for n in n_of.values()) or (lengths[idx] < 0).all():
        return {}, []
    ok = idx[lengths[idx] >= 0]
    vals = {str(i): float(lengths[i]) for i in ok}
    band, cuts = fx.quantile_bands(vals, LENGTH_LABELS)
    out = {}
    for c in LENGTH_LABELS:
        rows = np.array([int(i) for i, b in band.items() if b == c])
        if rows.size == 0 or table.decision is None:
            continue
        n = fx.DecisionCounts.from_decisions(table.genuine[rows], table.decision[rows])
        out[c] = {"n_genuine": n.n_genuine, "presses_median": float(np.median(lengths[rows])),
                  "genuine_risk_median": float(np.median(table.risk[rows])), **n.shares()}
    return out, cuts


def research_rows(results: Path) -> list[list[str]]:
    """The research figures (models and baselines the API does not serve), from bench/results."""
    r = {k: read_json(results / f"{k}.json") for k in (
        "aalto_typenet", "cmu_folds", "balabit_mouse", "touch_serwadda", "strokepin_phone", "fusion")}
    nan = float("nan")
    rows = []
    if a := r["aalto_typenet"]:
        fig = (f"EER per user {pct(get(a, 'eer', '5'))}, FAR at 1% FRR {pct(get(a, 'far_at_frr_1pct'), 1)}, "
               f"AUC {get(a, 'auc', default=nan):.3f}")
        rows.append(["Aalto desktop free text", f"TypeNet, G = 5, {get(a, 'n_test_users')} held-out users", fig,
                     "`bench/results/aalto_typenet.md`"])
    if c := r["cmu_folds"]:
        fig = (f"encoder EER {pct(get(c, 'rows', 'encoder', 'eer_mean'))}, encoder + Manhattan (scaled) "
               f"{pct(get(c, 'rows', 'encoder+manhattan_scaled', 'eer_mean'))}")
        rows.append(["CMU keystroke (password)", f"{get(c, 'folds')} subject folds, {get(c, 'n_subjects')} subjects",
                     fig, "`bench/results/cmu_folds.md`"])
    if b := r["balabit_mouse"]:
        fig = f"fused AUC {get(b, 'auc_global', default=nan):.3f}, EER {pct(get(b, 'eer_global'))}"
        rows.append(["Balabit mouse", f"{get(b, 'n_sessions')} labelled test sessions", fig,
                     "`bench/results/balabit_mouse.md`"])
    if t := r["touch_serwadda"]:
        fig = (f"EER per user at 11 strokes {pct(get(t, 'eer_by_strokes', '11'))}, 1 stroke "
               f"{pct(get(t, 'eer_by_strokes', '1'))}")
        rows.append(["Serwadda swipes", f"enroll session 1, test session 2, {get(t, 'folds')} user folds", fig,
                     "`bench/results/touch_serwadda.md`"])
    if s := r["strokepin_phone"]:
        enc, desk = get(s, "scorers", "encoder"), get(s, "scorers", "desktop_bundle")
        fig = (f"phone encoder EER per cell sitting {pct(get(enc, 'within_sit_g3', '1', 'eer_mean'))}, walking "
               f"{pct(get(enc, 'within_walk_g3', '1', 'eer_mean'))}; the desktop model on phones "
               f"{pct(get(desk, 'within_sit_g3', '1', 'eer_mean'))} / {pct(get(desk, 'within_walk_g3', '1', 'eer_mean'))}")
        rows.append(["StrokePIN phone PINs", "5 user folds, within posture, G = 3, one entry", fig,
                     "`bench/results/strokepin_phone.md`"])
    for pair, v in (get(r["fusion"], "pairs", default={}) or {}).items():
        fl, alone = get(v, "figures", "fused_llr"), get(v, "figures", "keystrokes")
        fig = (f"fused (LLR) EER per user {pct(get(fl, 'eer_mean_per_user'))}, genuine denied "
               f"{pct(get(fl, 'genuine_denied'))}, impostors allowed {pct(get(fl, 'impostors_allowed'))}; "
               f"keystrokes alone {pct(get(alone, 'eer_mean_per_user'))}")
        rows.append([f"Fusion (chimeric users) {pair}", f"{get(v, 'chimeric_users')} chimeric users, served answers",
                     fig, "`bench/results/fusion.json`"])
    return rows


def guard_limits(guards: dict | None) -> list[str]:
    """The guards' measured limits (what they miss, what they flag wrongly), from guards.json."""
    if not guards:
        return ["`bench/results/guards.json` not found: the guards' limits are not stated here."]
    out = []
    for data, v in (get(guards, "replay", default={}) or {}).items():
        missed = {k: x["rate"] for k, x in v.items() if isinstance(x, dict) and "rate" in x
                  and not k.startswith("genuine_") and x["rate"] < 0.9}
        pairs = get(v, "genuine_pairs_flagged", default={}) or {}
        if missed:
            exact = pairs.get("exact_rate")
            out.append(f"Replays of {data} caught below 90%: " + ", ".join(
                f"{k.replace('_', ' ')} {pct(r, 1)}" for k, r in missed.items())
                + f" (genuine pairs flagged as replays {pct(pairs.get('rate'), 3)}"
                + ("" if exact is None else f", as exact repeats, denied, {pct(exact, 3)}") + ").")
    bots = get(guards, "bots", default={}) or {}
    groups = {"keystroke_bots_caught": "Keystroke bots caught",
              "keystroke_bots_caught_as_touchscreen": "Keystroke bots claiming a phone (no mouse, judged by "
                                                      "the touchscreen's jitter rule) caught",
              "pointer_bots_caught": "Pointer bots caught"}
    for group, label in groups.items():
        missed = {k: x["rate"] for k, x in (bots.get(group) or {}).items() if x["rate"] < 0.9}
        if missed:
            out.append(f"{label} below 90%: " + ", ".join(
                f"{k.replace('_', ' ')} {pct(r, 1)}" for k, r in missed.items()) + ".")
    flagged = bots.get("genuine_flagged") or {}
    if flagged:
        out.append("Genuine sessions flagged as bots: " + ", ".join(
            f"{k.replace('_', ' ')} {pct(x['rate'], 2)} of {x['n']}" for k, x in flagged.items()) + ".")
    rig = get(bots, "browser_rig", "people_flagged")
    if rig:
        out.append(f"Scripted people in the browser rig flagged as bots: {pct(rig['rate'], 1)} of {rig['n']}.")
    by_keys = {k: x for k, x in (get(bots, "browser_rig", "bots_caught_by_keystrokes") or {}).items() if x["rate"] < 0.9}
    if by_keys:
        out.append("Browser-rig bots caught by their typing alone (their mouse is not judged) below 90%: " + ", ".join(
            f"{k.replace('_', ' ')} {pct(x['rate'], 1)} of {x['n']}" for k, x in by_keys.items()) + ".")
    return out or ["The guards caught at least 90% of every measured attack (`bench/results/guards.json`)."]


# --------------------------------------------------------------------------- main


def build(args) -> dict:
    """Everything the card states, computed from the inputs (the body of :func:`main`)."""
    results = Path(args.results_dir)
    datasets = datasets_root(args.datasets_dir)
    product = read_json(results / "product_accuracy.json")
    if product is None:
        raise SystemExit(f"{results / 'product_accuracy.json'} not found: run bench/product_accuracy.py first")
    defaults = serving_defaults()
    bundle_path = Path(args.bundle) if args.bundle else ROOT / "bundles" / "default.pt"
    bundle, bundle_note = load_bundle(bundle_path)
    notes: list[str] = [] if bundle is not None else [bundle_note]
    tables: dict[str, fx.ScoreTable] = {}
    sources: dict[str, dict] = {}
    inputs = {rel(results / "product_accuracy.json"): sha(results / "product_accuracy.json")}
    for b in BENCHMARKS:
        path = results / "served_scores" / f"{b.key}.jsonl.gz"
        entry = product.get(b.key)
        if entry is None or not path.is_file():
            notes.append(f"{b.label}: no served results ({rel(path)} or its product_accuracy.json entry missing).")
            continue
        inputs[rel(path)] = sha(path)
        t, info = resolve_decisions(b, fx.ScoreTable.from_rows(read_rows(path)), entry, bundle, defaults)
        tables[b.key], sources[b.key] = t, info
        eers = fx.per_user_eers(t)
        mine = float(np.mean(list(eers.values()))) if eers else None
        info["reproduces_eer_mean_per_user"] = (mine is not None and "eer_mean_per_user" in entry
                                                and abs(mine - entry["eer_mean_per_user"]) < 1e-9)
    bench = {b.key: b for b in BENCHMARKS if b.key in tables}
    dims: dict[str, fx.DimensionReport] = {}
    attrs: dict[str, dict] = {}
    experiments: dict[str, dict] = {}
    extra: dict = {}

    def add_dimension(key: str, name: str, table: fx.ScoreTable, cohort_of: dict[str, str], order, **kw):
        dims[key] = fx.dimension_report(table, cohort_of, name, order, args.goal, args.bootstrap, args.seed, **kw)

    # Typing speed, desktop (Aalto): median down-down of the enrollment sentences, terciles.
    if "aalto_keystrokes" in tables:
        t = tables["aalto_keystrokes"]
        entry = product["aalto_keystrokes"]
        enroll = int(entry.get("enrollment_sessions", 5))
        queries = int(entry.get("queries_per_user", 5))
        try:
            speed, presses = aalto_attributes(datasets, Path(args.cache_dir), sorted(set(t.users.tolist())), enroll)
        except FileNotFoundError as err:
            speed, presses = {}, {}
            notes.append(f"Aalto typing speed not computed: {err}")
        if speed:
            band, cuts = fx.quantile_bands(speed, SPEED_LABELS)
            attrs["aalto_speed"] = {"cuts_ms": cuts, "users": len(speed),
                                    "definition": f"median key-down to key-down interval of the first {enroll} "
                                                  "(enrollment) sentences (a sentence a guard refused at enrollment "
                                                  "is not replaced here, unlike in the bench)"}
            add_dimension("aalto_speed", "Typing speed, desktop keyboard (Aalto)", t, band, SPEED_LABELS)
            if sources["aalto_keystrokes"]["thresholds"] and t.decision is not None:
                experiments["aalto_speed"] = fx.cross_fitted_thresholds(
                    t, band, *sources["aalto_keystrokes"]["thresholds"], SPEED_LABELS, repeats=args.repeats,
                    seed=args.seed)
            extra["aalto_band"] = band
        if presses and t.decision is not None:
            lengths, cuts = length_cohorts(t, presses, queries)
            if lengths:
                extra["aalto_lengths"] = {"cuts_presses": cuts, "bands": lengths}

    # StrokePIN: posture from the account; typing speed per user from the enrollment entries.
    if "strokepin_phone" in tables:
        t = tables["strokepin_phone"]
        accounts = sorted(set(t.users.tolist()))
        posture = {a: {"sit": "sitting", "walk": "walking"}.get(a.split("/")[-1], a.split("/")[-1]) for a in accounts}
        person = {a: a.split("/")[0] for a in accounts}
        add_dimension("strokepin_posture", "Posture, phone PIN (StrokePIN)", t, posture, ("sitting", "walking"),
                      person_of=person)
        thr = sources["strokepin_phone"]["thresholds"]
        if thr and t.decision is not None:
            experiments["strokepin_posture"] = fx.cross_fitted_thresholds(
                t, posture, *thr, ("sitting", "walking"), repeats=args.repeats, seed=args.seed, person_of=person)
        try:
            speed = strokepin_speed(datasets, accounts)
        except FileNotFoundError as err:
            speed = {}
            notes.append(f"StrokePIN typing speed not computed: {err}")
        if speed:
            band, cuts = fx.quantile_bands(speed, SPEED_LABELS)
            attrs["strokepin_speed"] = {"cuts_ms": cuts, "users": len(speed),
                                        "definition": f"median tap-down to tap-down interval of the user's "
                                                      f"enrollment entries (first {STROKEPIN_ENROLL} of each cell)"}
            of = {a: band[a.split("/")[0]] for a in accounts if a.split("/")[0] in band}
            add_dimension("strokepin_speed", "Typing speed, phone PIN (StrokePIN)", t, of, SPEED_LABELS,
                          person_of=person)
            if thr and t.decision is not None:
                experiments["strokepin_speed"] = fx.cross_fitted_thresholds(
                    t, of, *thr, SPEED_LABELS, repeats=args.repeats, seed=args.seed, person_of=person)

    # Dataset = device type: every served benchmark, decision totals as served.
    if tables:
        parts, cohort_of, counts, person = [], {}, {}, {}
        for key, t in tables.items():
            users = np.array([f"{key}:{u}" for u in t.users], dtype=object).astype(str)
            parts.append(fx.ScoreTable(users, t.genuine, t.risk))
            cohort_of.update({u: bench[key].device for u in users})
            if key == "strokepin_phone":  # accounts are (user, PIN, posture) cells of one person
                person.update({u: u.split("/")[0] for u in set(users.tolist())})
            counts[bench[key].device] = (fx.DecisionCounts.from_decisions(t.genuine, t.decision)
                                         if t.decision is not None else
                                         fx.DecisionCounts.from_table(product[key].get("decisions", {})))
        joined = fx.ScoreTable(np.concatenate([p.users for p in parts]), np.concatenate([p.genuine for p in parts]),
                               np.concatenate([p.risk for p in parts]))
        add_dimension("device", "Dataset / device type (all served benchmarks)", joined, cohort_of,
                      [bench[k].device for k in tables], counts=counts,
                      overall_counts=sum(counts.values(), fx.DecisionCounts(0, 0, 0, 0, 0, 0)), person_of=person)

    calibration = {k: fx.balanced_reliability(t) for k, t in tables.items()}
    return {"product": product, "tables": tables, "sources": sources, "dims": dims, "attrs": attrs,
            "experiments": experiments, "extra": extra, "calibration": calibration, "notes": notes,
            "bundle": bundle, "bundle_note": bundle_note, "bundle_path": bundle_path, "defaults": defaults, "datasets": datasets,
            "results": results, "inputs": inputs, "bench": bench}


METRIC_NAMES = {"eer_mean_per_user": "EER per user", "eer_pooled": "pooled EER",
                "genuine_denied": "genuine sessions denied", "genuine_not_allowed": "genuine sessions not allowed",
                "impostors_allowed": "impostors allowed", "impostors_denied": "impostors denied"}


def headline_rows(dims: dict[str, fx.DimensionReport], experiments: dict[str, dict]) -> list[list[str]]:
    """Per dimension: overall and worst cohort of the EER, the genuine-denied and the
    impostors-allowed shares (and the worst genuine-denied ratio with per-cohort thresholds)."""
    rows = []
    for key, d in dims.items():
        cells = [d.name]
        for m in ("eer_mean_per_user", "genuine_denied", "impostors_allowed"):
            dis = d.disparities.get(m)
            if dis is None:
                cells += ["n/a", "n/a"]
                continue
            mark = "" if dis.meets_goal or m not in fx.GOAL_METRICS else " **over goal**"
            cells += [pct(dis.overall), f"{pct(dis.worst)} ({dis.worst_cohort}), {times(dis.ratio)}{mark}"]
        e = experiments.get(key)
        cells.append("n/a" if e is None else " / ".join(
            times(r) for r in (worst_ratio(e["per_cohort"], d, m)[1] for m in ("genuine_denied", "impostors_allowed"))))
        rows.append(cells)
    return rows


def worst_ratio(shares: dict, d: fx.DimensionReport, metric: str) -> tuple[str | None, float | None]:
    """The worst cohort of ``metric`` in a threshold experiment's shares, and its ratio to overall."""
    cohorts = [c for c in d.cohorts if shares.get(c) and shares[c][metric] is not None]
    base = shares.get("overall", {}).get(metric)
    if not cohorts or base is None:
        return None, None
    w = max(cohorts, key=lambda c: shares[c][metric])
    return w, fx.ratio(shares[w][metric], base)


def cohort_table(d: fx.DimensionReport) -> str:
    rows = []
    for c in [d.overall, *d.cohorts.values()]:
        people = str(c.n_users) if c.n_people in (None, c.n_users) else f"{c.n_users} ({c.n_people} people)"
        rows.append([("**overall**" if c is d.overall else c.name), people, str(c.n_genuine),
                     str(c.n_impostor), pct(c.eer_mean_per_user) + interval(c, "eer_mean_per_user"),
                     pct(c.eer_pooled), pct(c.value("genuine_denied")) + interval(c, "genuine_denied"),
                     pct(c.value("genuine_not_allowed")) + interval(c, "genuine_not_allowed"),
                     pct(c.value("impostors_allowed")) + interval(c, "impostors_allowed")])
    return md_table(["cohort", "accounts", "genuine", "impostor", "EER per user (95%)", "EER pooled",
                     "genuine denied (95%)", "genuine not allowed (95%)", "impostors allowed (95%)"], rows)


def disparity_sentence(d: fx.DimensionReport, dis: fx.Disparity, goal: float) -> str:
    """One plain statement of a worst cohort against the overall figure, with its interval."""
    iv = dis.interval_ratio
    sure = ""
    if iv is not None:
        sure = f"; the cohort's 95% interval is {times(iv[0])}-{times(iv[1])} the overall figure"
        if iv[0] > goal:
            sure += ", beyond the goal whatever the sampling noise"
        elif iv[0] <= 1:
            sure += f", so at {d.cohorts[dis.worst_cohort].n_people} people the excess is neither established nor ruled out"
    return (f"**{d.name}**: {METRIC_NAMES[dis.metric]}, {dis.worst_cohort} cohort {pct(dis.worst)} against "
            f"{pct(dis.overall)} overall ({times(dis.ratio)}, goal {goal:g}x){sure}")


def cost_sentence(d: fx.DimensionReport, e: dict) -> str:
    """What per-cohort thresholds make worse, per cohort (changes over 0.1 percentage point)."""
    parts = []
    for c in ["overall", *d.cohorts]:
        s, p = e["shared"].get(c), e["per_cohort"].get(c)
        if not s or not p:
            continue
        worse = []
        for m, up_is_worse in (("genuine_denied", True), ("genuine_not_allowed", True),
                               ("impostors_allowed", True), ("impostors_denied", False)):
            a, b = s[m], p[m]
            if a is None or b is None:
                continue
            if (b - a > 0.001) if up_is_worse else (a - b > 0.001):
                worse.append(f"{METRIC_NAMES[m]} {pct(a)} -> {pct(b)}")
        if worse:
            parts.append(f"{c}: " + ", ".join(worse))
    return "; ".join(parts) if parts else "nothing gets worse by more than 0.1 percentage point"


def experiment_table(d: fx.DimensionReport, e: dict) -> str:
    rows = []
    for c in ["overall", *d.cohorts]:
        s, p = e["shared"].get(c), e["per_cohort"].get(c)
        if s is None or p is None:
            continue
        th = e["mean_thresholds"].get(c, {})
        a, dn = th.get("allow_below"), th.get("deny_at_or_above")
        rows.append([c, *(f"{pct(s[m])} -> {pct(p[m])}" for m in (
            "genuine_denied", "genuine_not_allowed", "impostors_allowed", "impostors_denied")),
            "shared" if c == "overall" else f"{'n/a' if a is None else f'{a:.3f}'} / "
                                            f"{'n/a' if dn is None else f'{dn:.3f}'}"])
    sh = e["shared_thresholds"]
    ratios = []
    for m in ("genuine_denied", "impostors_allowed"):
        ws, rs = worst_ratio(e["shared"], d, m)
        wp, rp = worst_ratio(e["per_cohort"], d, m)
        if rs is not None and rp is not None:
            ratios.append(f"worst cohort's {METRIC_NAMES[m]}: shared {times(rs)} overall ({ws}), per cohort "
                          f"{times(rp)} ({wp})")
    return (f"**{d.name}** (shared: allow below {sh['allow_below']:.3f}, deny at or above "
            f"{sh['deny_at_or_above']:.3f}; shared -> per cohort):\n\n"
            + md_table(["cohort", "genuine denied", "genuine not allowed", "impostors allowed", "impostors denied",
                        "mean allow / deny thresholds"], rows)
            + ("\n\n" + "; ".join(ratios) + "." if ratios else "")
            + f" What it costs: {cost_sentence(d, e)}.")


def protocol_of(key: str, e: dict) -> str:
    if e.get("protocol"):
        return e["protocol"]
    if key == "aalto_keystrokes":
        return (f"TypeNet protocol, {e.get('n_users')} held-out users, G = {e.get('enrollment_sessions')} "
                f"enrollment sentences, the last {e.get('queries_per_user')} genuine, "
                f"{e.get('impostors_per_user')} impostor sentences per user")
    return "see bench/product_accuracy.py"


def write_card(s: dict, args) -> str:
    """The markdown of the card."""
    product, dims, bench, sources, experiments = s["product"], s["dims"], s["bench"], s["sources"], s["experiments"]
    goal, defaults = args.goal, s["defaults"]
    out: list[str] = []
    w = out.append
    w("# Model card: behavioral-biometrics account-takeover detector\n")
    w(f"Generated by `{COMMAND}` from the evaluation results (inputs at the end); do not edit by hand: "
      "rerun the command after any benchmark rerun. Every figure below is read from those files when it runs.\n")
    versions = sorted({v for k in bench if (v := product[k].get("model_version"))})
    if versions:
        w(f"Model version of the served scores: {', '.join(f'`{v}`' for v in versions)}.\n")

    w("## Headline: overall against the worst cohort\n")
    w(f"Goal: the worst cohort within {goal:g} times the overall figure, for the EER (per user) and for the share "
      "of genuine sessions denied (the false-deny rate) at the default thresholds. A model can rank every cohort "
      "about equally well (similar EER) and still deny one cohort several times as often, because the thresholds "
      "are shared while the cohorts' genuine risk distributions are not. Details, intervals and plots: "
      "[Cohort fairness](#cohort-fairness).\n")
    if dims:
        w(md_table(["dimension", "EER per user, overall", "worst cohort", "genuine denied, overall", "worst cohort",
                    "impostors allowed, overall", "worst cohort",
                    "worst / overall with per-cohort thresholds (denied / allowed)"],
                   headline_rows(dims, experiments)) + "\n")
        goal_misses = [(k, d, x) for k, d in dims.items() for x in d.flagged(fx.GOAL_METRICS)]
        if goal_misses:
            w(f"**Where the {goal:g}x goal is not met:**\n")
            lines = []
            for k, d, x in goal_misses:
                line = disparity_sentence(d, x, goal)
                e = experiments.get(k)
                if e is not None and x.metric in ("genuine_denied",):
                    wc, r = worst_ratio(e["per_cohort"], d, x.metric)
                    line += (f". With per-cohort thresholds (cross-fitted, [below](#per-cohort-thresholds-what-they-cost))"
                             f" the worst cohort's share is {times(r)} overall ({wc}); what that costs: "
                             f"{cost_sentence(d, e)}")
                elif e is None and x.metric == "genuine_denied" and k == "device":
                    line += (". Each device type already has its own scorer and thresholds, set on its own validation "
                             "users; the excess is those thresholds not transferring to the test users, and moving "
                             "them on the test figures would be tuning on the test set, so it is not tried here")
                lines.append(f"- {line}.")
            w("\n".join(lines) + "\n")
        else:
            w(f"Every dimension's worst cohort is within {goal:g}x on the EER and on genuine sessions denied.\n")
        other = [(d, x) for d in dims.values() for x in d.flagged() if x.metric not in fx.GOAL_METRICS]
        if other:
            w(f"Also beyond {goal:g}x (not part of the goal):\n\n"
              + "\n".join(f"- {disparity_sentence(d, x, goal)}." for d, x in other) + "\n")
    w("Age and gender: **no dataset used here records them** (the Aalto release's demographics file is not "
      "included in our copy; StrokePIN, Serwadda, Balabit and CMU carry no demographic columns), so no figure per "
      "age band or gender can be given; a deployment must measure them on its own labelled sessions.\n")

    w("## Intended use\n")
    w("- A **risk signal at login** for a bank's or lender's own users: the page's collector records how a person "
      "types, moves a mouse or swipes (never what), the back end sends the session and gets a risk in [0, 1], a "
      "decision (allow / challenge / deny) and reason codes. The decision is meant to gate a **step-up** (a second "
      "factor) as well as an outright refusal; a deny should always leave the customer a recovery route.\n"
      "- Scoring a session against the profile of the account it claims, once the profile has enrolled "
      "(3 sessions by default), with thresholds set from target error rates on held-out users.\n"
      "- Research: retraining and comparing models under the published protocols in `bench/`.\n")
    w("## Out-of-scope uses\n")
    w("- **Sole basis of an adverse decision** about a person (closing an account, refusing credit, reporting to "
      "authorities): the error rates below are far from zero and differ by cohort.\n"
      "- **Identification** (who is this among many people) or tracking people across sites or tenants: the model "
      "verifies one claimed account; profiles are per tenant.\n"
      "- Inferring health, age, gender, emotion, disability or any other personal attribute from behaviour.\n"
      "- Covert monitoring of employees or continuous surveillance outside a login or transaction the user starts.\n"
      "- Populations, devices and input methods not measured here (see [Known limits](#known-limits)): e.g. "
      "assistive input, free-text typing on phone keyboards, tablets, languages other than English.\n"
      "- Commercial deployment of scorers whose training data is licensed non-commercially, without the "
      "licensors' permission (see [Training data and licences](#training-data-and-licences)).\n")

    w("## Model and bundle\n")
    b = s["bundle"]
    if b is not None:
        rows = []
        for n, sc in b.scorers.items():
            v = sc.metrics.get("val_eer") if isinstance(sc.metrics, dict) else None
            rows.append([f"`{n}`", sc.unit, ", ".join(sc.devices) or "any", pct(v)])
        w(f"`{rel(s['bundle_path'])}` (model version `{b.model_version}`) holds one scorer per modality "
          "and unit (`biometrics/scorers.py`): encoder or item features, a per-user head, aggregation over items and a "
          "calibration fitted on held-out validation users (for mouse actions and touch strokes, one per session "
          "length: a login page's few actions are weaker evidence than a benchmark session's sixty). "
          "Fusion of several modalities: "
          f"`{defaults['fusion']}` (the API's default).\n")
        w(md_table(["scorer", "unit", "devices", "validation EER recorded in the bundle"], rows) + "\n")
        if versions and b.model_version not in versions:
            w(f"The bundle's version (`{b.model_version}`) is not the one that produced the served scores "
              f"({', '.join(f'`{v}`' for v in versions)}): its licences and, where the results record none, its "
              "thresholds are used below only where they reproduce the served decision tables (checked).\n")
    else:
        w(f"{s['bundle_note']}\n")

    w("## Training data and licences\n")
    w("Evaluation users are never seen in training (each benchmark's protocol below). Terms quoted from each "
      "dataset's README; the licence recorded in the bundle's scorer metadata "
      "(`ModelBundle.load(...).scorers[name].licence`) beside them.\n")
    lic_rows, warnings = [], []
    for bm in BENCHMARKS:
        title, terms = dataset_terms(s["datasets"], bm.dataset)
        meta = b.scorers[bm.scorer].licence if b is not None and bm.scorer in b.scorers else None
        lic_rows.append([f"`{bm.scorer}`", title, terms, meta or "*(none recorded)*"])
        if b is not None and bm.scorer in b.scorers and is_noncommercial(terms) and not is_noncommercial(meta):
            warnings.append(f"the `{bm.scorer}` scorer records no non-commercial restriction, although the terms of "
                            f"its training data ({title}) allow non-commercial use only: `python -m "
                            "training.default_bundle --without-noncommercial` keeps it")
    if b is not None and PASSWORD_SCORER in b.scorers:  # calibrated on CMU, served beside the benchmarks'
        title, terms = dataset_terms(s["datasets"], "cmu-keystroke")
        lic_rows.append([f"`{PASSWORD_SCORER}`", title, terms, b.scorers[PASSWORD_SCORER].licence or "*(none recorded)*"])
    for folder, use in RESEARCH_DATASETS.items():
        title, terms = dataset_terms(s["datasets"], folder)
        lic_rows.append([use, title, terms, "not in the bundle"])
    w(md_table(["scorer", "dataset", "terms (dataset README, verbatim)", "bundle licence metadata"], lic_rows) + "\n")
    if warnings:
        w("**Licence gap:** " + "; ".join(warnings) + ".\n")

    w("## Benchmark results\n")
    w("### Served: what the API answers\n")
    w("Every figure from `bench/product_accuracy.py` (`bench/results/product_accuracy.json`): the test users "
      "enrolled and scored through `BiometricService` at the default thresholds.\n")
    rows = []
    for k, bm in bench.items():
        e = product[k]
        rows.append([bm.label, bm.device, str(len(set(s["tables"][k].users.tolist()))),
                     f"{e.get('n_genuine')} / {e.get('n_impostor')}", pct(e.get("eer_mean_per_user")),
                     pct(e.get("eer_pooled")), f"{e.get('roc_auc', float('nan')):.3f}",
                     pct(e.get("impostors_allowed")), pct(e.get("genuine_denied")), pct(e.get("genuine_not_allowed")),
                     pct(e.get("far_at_frr_1pct"), 1)])
    w(md_table(["benchmark", "device", "accounts", "genuine / impostor", "EER per user", "EER pooled", "AUC",
                "impostors allowed", "genuine denied", "genuine not allowed", "FAR at 1% FRR"], rows) + "\n")
    w("Protocols:\n\n" + "\n".join(f"- {bench[k].label}: {protocol_of(k, product[k])}." for k in bench) + "\n")
    w("### Research (models and baselines the API does not serve, and fusion of served answers)\n")
    rr = research_rows(s["results"])
    w((md_table(["benchmark", "protocol", "figures", "file"], rr) if rr else "No research result files found.")
      + "\n\nFull tables and rerun commands: README, \"Results on public benchmarks\".\n")

    w("## Calibration\n")
    w("A modality's risk is a probability fitted on held-out validation users' genuine and impostor comparisons "
      "with the classes weighted equally; fused risks add the modalities' log-likelihood ratios. So a risk is "
      "P(impostor) **at even prior odds**: at a real login, where impostors are rare, the posterior is far lower. "
      "Class-balanced reliability on the test users (per risk bin: the mean risk against the impostor share when "
      "both classes weigh the same; ECE = the bins' weighted mean gap):\n")
    cal_rows = []
    for k, r in s["calibration"].items():
        t = s["tables"][k]
        cal_rows.append([bench[k].label, f"{r['ece']:.3f}", pct(float(np.mean(t.risk[t.genuine]))),
                         pct(float(np.mean(t.risk[~t.genuine])))])
    w(md_table(["benchmark", "balanced ECE", "mean genuine risk", "mean impostor risk"], cal_rows) + "\n")
    w("![calibration](model_card/calibration.png)\n")

    w("## What the default thresholds mean\n")
    w(f"`allow` below the allow threshold, `deny` at or above the deny threshold, `challenge` between. The API sets "
      f"them from target rates on the bundle's held-out validation users: the allow threshold lets in at most "
      f"**{pct(defaults['target_far'], 0)} of impostors** (target FAR, `BIOMETRICS_TARGET_FAR`), the deny threshold "
      f"denies at most **{pct(defaults['target_frr'], 0)} of genuine sessions** (target for the false-deny rate, "
      "`BIOMETRICS_TARGET_FRR`); a genuine session between them is challenged (a second factor), not refused. On "
      "the test users the realized rates are:\n")
    rows = []
    for k, bm in bench.items():
        e, thr = product[k], sources[k]["thresholds"]
        rows.append([bm.label, "per fold / account, not recorded" if thr is None else f"{thr[0]:.3f} / {thr[1]:.3f}",
                     f"{pct(e.get('impostors_allowed'))} (target {pct(defaults['target_far'], 0)})",
                     f"{pct(e.get('genuine_denied'))} (target {pct(defaults['target_frr'], 0)})",
                     pct(e.get("genuine_not_allowed")),
                     pct(fx.DecisionCounts.from_table(e.get("decisions", {})).shares()["impostors_denied"])])
    w(md_table(["benchmark", "allow / deny thresholds", "FAR: impostors allowed", "genuine denied",
                "FRR: genuine not allowed (challenged or denied)", "impostors denied"], rows) + "\n")
    over = [bench[k].label for k in bench if (product[k].get("genuine_denied") or 0) > defaults["target_frr"]
            or (product[k].get("impostors_allowed") or 0) > defaults["target_far"]]
    if over:
        w(f"Above a target on the test users: {', '.join(over)}. The calibration and thresholds fitted on "
          "validation users do not transfer exactly to the test users (few validation users, other sessions).\n")
    w("![score distributions](model_card/score_distributions.png)\n")
    w("Decisions per row (for the cohort shares):\n\n" + "\n".join(
        f"- {bench[k].label}: {v['source']}" + (
            f"; recomputed, they reproduce the served decision table "
            f"({v['check']['sessions_decided_differently']['genuine']} genuine and "
            f"{v['check']['sessions_decided_differently']['impostor']} impostor sessions decided differently)"
            if "check" in v and v["thresholds"] else "") + "." for k, v in sources.items()) + "\n")

    w("## Cohort fairness\n")
    w("Each cohort's EER (per user: each account's genuine sessions against the impostor attempts on it, averaged "
      "over the cohort's accounts; pooled: all its scores together) and, at the default thresholds, the share of "
      "its genuine sessions denied and not allowed, and of impostor attempts **on its accounts** allowed. 95% "
      f"intervals: {args.bootstrap} bootstrap resamples of the cohort's people (a person's accounts and sessions "
      "together). Overall = every account of the dimension.\n")
    attrs = s["attrs"]
    for key, d in dims.items():
        w(f"### {d.name}\n")
        if key == "aalto_speed" and "aalto_speed" in attrs:
            a = attrs["aalto_speed"]
            w(f"Speed: {a['definition']}, terciles over the {a['users']} test users (fast: at most "
              f"{a['cuts_ms'][0]:.0f} ms, slow: over {a['cuts_ms'][1]:.0f} ms; ties at a cut point go to the faster "
              "band). Known once the profile enrolls, so a deployment could use it.\n")
        if key == "strokepin_speed" and "strokepin_speed" in attrs:
            a = attrs["strokepin_speed"]
            w(f"Speed: {a['definition']}, terciles over the {a['users']} test users (fast: at most "
              f"{a['cuts_ms'][0]:.0f} ms, slow: over {a['cuts_ms'][1]:.0f} ms); accounts are (user, PIN, posture) "
              "cells, several per person.\n")
        if key == "strokepin_posture":
            w("Posture as recorded by the dataset (each person typed every PIN sitting, then walking); accounts are "
              "(user, PIN, posture) cells.\n")
        if key == "device":
            w("One dataset per device type here, so the two dimensions coincide. Each benchmark has its own protocol, "
              "scorer and thresholds; decision shares are the served decision tables' totals; overall = all served "
              "sessions and accounts pooled.\n")
        w(cohort_table(d) + "\n")
        small = [c.name for c in d.cohorts.values() if (c.n_people or c.n_users) < 30]
        if small:
            w(f"Fewer than 30 people in: {', '.join(small)}; read those figures with their intervals.\n")
    if dims:
        w("![decision shares per cohort](model_card/cohort_rates.png)\n")
        w("![EER per cohort](model_card/cohort_eer.png)\n")
    if "aalto_band" in s["extra"]:
        w("Where each band's curve crosses the deny threshold is its genuine-denied share:\n")
        w("![genuine risk by typing speed](model_card/aalto_speed_genuine_risk.png)\n")
    w("### Per-cohort thresholds: what they cost\n")
    if experiments:
        e0 = next(iter(experiments.values()))
        w("Each cohort gets its own allow and deny thresholds, set so that the cohort's genuine-denied and "
          "impostors-allowed shares equal the shared thresholds' overall shares. **Not tuned on the scores they are "
          f"judged on**: the test users' people are split in {e0['folds']} (stratified by cohort, seeded, "
          f"{e0['repeats']} repeats); the thresholds of one part's accounts are set on the other part's accounts "
          "only. The targets are the shared thresholds' realized rates on those fitting accounts, so the overall "
          "operating point stays about where it is and the tables show how it is redistributed. An EER does not "
          "change with thresholds. A deployment would set them on validation users (the results hold no "
          "per-cohort validation scores yet) and store each profile's band at enrollment.\n")
        for key, e in experiments.items():
            w(experiment_table(dims[key], e) + "\n")
    else:
        w("Not computed: no dimension has per-row decisions and shared thresholds.\n")

    w("## Known limits\n")
    lim = []
    if "strokepin_phone" in bench and "aalto_keystrokes" in bench:
        p, a = product["strokepin_phone"], product["aalto_keystrokes"]
        lim.append(f"**Typing on phones**: only PIN entry (six masked presses) is measured; EER per cell "
                   f"{pct(p.get('eer_mean_per_user'))} against {pct(a.get('eer_mean_per_user'))} for desktop free "
                   f"text, genuine not allowed {pct(p.get('genuine_not_allowed'))} against "
                   f"{pct(a.get('genuine_not_allowed'))}. Free-text typing on phone keyboards and tablets is not "
                   "measured. With `--without-noncommercial` phones fall back on the desktop model (its research "
                   "figure on phones above).")
    lengths = get(s["extra"], "aalto_lengths")
    if lengths:
        lim.append("**Short sessions**: Aalto genuine queries by number of key presses (terciles, cut points "
                   f"{lengths['cuts_presses'][0]:.0f} and {lengths['cuts_presses'][1]:.0f}): " + "; ".join(
                       f"{c} (median {v['presses_median']:.0f} presses, {v['n_genuine']} sessions): denied "
                       f"{pct(v['genuine_denied'])}, not allowed {pct(v['genuine_not_allowed'])}"
                       for c, v in lengths["bands"].items())
                   + ". The genuine side only: the impostor rows do not record which sentence they are.")
    cmu = product.get("cmu_logins_22")
    if cmu:
        lim.append(f"**Fixed-text passwords**: CMU's typists logging in with one shared password typed twice, "
                   f"one login a day (`bench/product_accuracy.py --benchmark cmu`, the subjects the password "
                   f"scorer's calibration never saw): EER per user {pct(cmu.get('eer_mean_per_user'))}, AUC "
                   f"{cmu['roc_auc']:.2f}, impostors allowed {pct(cmu.get('impostors_allowed'))}, genuine not allowed "
                   f"{pct(cmu.get('genuine_not_allowed'))}. The password is verified by its timing position by "
                   f"position (`{PASSWORD_SCORER}`); a password of another length than the enrolled ones (a typo "
                   "corrected) falls back to the free-text encoder, which does not verify a fixed text.")
    if "serwadda_touch" in bench:
        e = product["serwadda_touch"]
        lim.append(f"**Touch swipes** are weak alone: EER per user {pct(e.get('eer_mean_per_user'))} at "
                   f"{e.get('strokes_per_decision', 'n/a')} strokes per decision, genuine not allowed "
                   f"{pct(e.get('genuine_not_allowed'))}; {get(e, 'reasons', 'profile_enrolling', default=0)} of its "
                   "served answers were enrollment-policy decisions (`profile_enrolling`), not scores.")
    if "balabit_pointer" in bench:
        e = product["balabit_pointer"]
        n_accounts = len(set(s["tables"]["balabit_pointer"].users.tolist()))
        lim.append(f"**Mouse**: {n_accounts} accounts only, captured over remote desktop; genuine denied "
                   f"{pct(e.get('genuine_denied'))}, "
                   f"impostors allowed {pct(e.get('impostors_allowed'))} (targets {pct(defaults['target_frr'], 0)} "
                   f"and {pct(defaults['target_far'], 0)}).")
    lim.append("**One visit per person** in most data (Aalto: one typing test; StrokePIN: one 16-23 minute visit; "
               "Serwadda: two sessions): long-term drift of behaviour is not measured; profiles update only on "
               "low-risk sessions.")
    lim.append("**No demographic attributes** in the data (above). Typing speed is a behavioural attribute, not a "
               "demographic one; it may go with age, experience or motor ability, which these data cannot show.")
    lim += [f"**Guards**: {x}" for x in guard_limits(read_json(s["results"] / "guards.json"))]
    w("\n".join(f"- {x}" for x in lim) + "\n")

    w("## Privacy properties of the session contract\n")
    ki = read_json(s["results"] / "key_identity.json")
    priv = get(ki, "schemes", "classes", "privacy")
    bullets = [
        ("What is sent: key down/up times with a **coarse key class** (letter, digit, separator, backspace, shift, "
        "enter, other, masked) and a press number that pairs each down with its up; pointer and touch coordinates "
        "and times; paste and autofill counts; device type and screen size. Never the characters typed, a key code "
        "or a field's value (`docs/session_contract.md`, schema version 2; unknown fields are refused, so a "
        "collector that leaks a `key` fails loudly). The collector never reads `event.key` or a field's value."),
        "Every key of a password or other sensitive field is `masked`: timing only."]
    if priv:
        bullets.append(
            f"Each key class stands for at least {priv.get('min_chars_per_value')} characters on the US, UK, German "
            f"and French layouts. An attacker who knows the whole vocabulary ({priv.get('vocabulary')} words) reads "
            f"back {pct(priv.get('words_read'), 1)} of words from the classes (`bench/results/key_identity.json`); but "
            f"a sentence's shape identifies it among a known small pool ({pct(priv.get('sentences_identified'), 0)} "
            "of the Aalto prompts): a field with few, known possible values should be marked sensitive.")
    bullets += [
        ("Profiles hold embeddings, head state and keyed hash sketches of timing shapes (replay guard), never raw "
        "timings or events; user ids are stored only as an HMAC; logs carry no user ids and no event data; "
        "`DELETE /v1/users/{user_id}` erases a user's rows (README, \"The scoring API\")."),
        ("What a session still reveals: a non-sensitive field's length and its pattern of letters, digits and "
        "separators; a sensitive field's number of presses and their timing. Behavioural timing is itself "
        "biometric data (special-category personal data under GDPR art. 9 where used to identify a person), so "
        "consent, purpose and retention rules apply to the profiles.")]
    w("\n".join(f"- {x}" for x in bullets) + "\n")

    w("## How this card is made\n")
    w(f"`{COMMAND}` (`training/model_card.py`; cohort computations in `biometrics/fairness.py`) reads:\n")
    w("\n".join(f"- `{p}` (sha256 {h})" for p, h in s["inputs"].items())
      + f"\n- the bundle `{rel(s['bundle_path'])}` (licences; thresholds where the results record none)"
      + "\n- the datasets (`--datasets-dir`, default `$BIOMETRICS_DATASETS` or `../shared/datasets`): Aalto "
        "sentences and StrokePIN entries for typing speed and session length, the dataset READMEs for terms\n")
    w("Every cohort figure, with its interval: `docs/model_card/cohorts.json`.\n")
    if s["notes"]:
        w("Notes from this run:\n\n" + "\n".join(f"- {n}" for n in s["notes"]) + "\n")
    return "\n".join(out)


def write_plots(s: dict, plots: Path, goal: float) -> list[str]:
    """The card's PNGs; returns their names."""
    plots.mkdir(parents=True, exist_ok=True)
    made = []
    dims = list(s["dims"].values())
    if dims:
        plot_cohort_bars(dims, plots / "cohort_rates.png", ("genuine_denied", "impostors_allowed"),
                         "Decision shares per cohort at the default thresholds (dashed: overall)", goal)
        plot_cohort_bars(dims, plots / "cohort_eer.png", ("eer_mean_per_user", "eer_pooled"),
                         "EER per cohort (dashed: overall)", goal)
        made += ["cohort_rates.png", "cohort_eer.png"]
    if s["tables"]:
        plot_distributions(s["tables"], {k: v["thresholds"] for k, v in s["sources"].items()},
                           plots / "score_distributions.png")
        plot_calibration(s["calibration"], plots / "calibration.png")
        made += ["score_distributions.png", "calibration.png"]
    if "aalto_band" in s["extra"]:
        plot_genuine_tail(s["tables"]["aalto_keystrokes"], s["extra"]["aalto_band"], SPEED_LABELS,
                          s["sources"]["aalto_keystrokes"]["thresholds"], plots / "aalto_speed_genuine_risk.png",
                          "Aalto genuine sessions by typing speed")
        made.append("aalto_speed_genuine_risk.png")
    return made


def jsonable(x):
    """Plain JSON: tuples as lists, non-finite floats as strings ("inf", "nan")."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else str(float(x))
    if isinstance(x, np.integer):
        return int(x)
    return x


def cohorts_json(s: dict, args) -> dict:
    """The JSON of every cohort figure in the card."""
    return {
        "command": COMMAND, "goal_ratio": args.goal, "bootstrap": args.bootstrap, "seed": args.seed,
        "inputs": s["inputs"], "defaults": s["defaults"],
        "decision_sources": s["sources"],
        "attributes": s["attrs"],
        "dimensions": {k: d.as_dict() for k, d in s["dims"].items()},
        "per_cohort_thresholds": s["experiments"],
        "session_length_aalto": s["extra"].get("aalto_lengths"),
        "calibration": s["calibration"], "notes": s["notes"],
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results",
                    help="product_accuracy.json, served_scores/ and the other result files")
    ap.add_argument("--datasets-dir", default=None, help="datasets root (default $BIOMETRICS_DATASETS or ../shared/datasets)")
    ap.add_argument("--cache-dir", type=Path, default=ROOT / ".cache", help="where the Aalto archive is unpacked once")
    ap.add_argument("--bundle", type=Path, default=None, help="the served bundle (default bundles/default.pt)")
    ap.add_argument("--card", type=Path, default=ROOT / "docs" / "model_card.md")
    ap.add_argument("--plots-dir", type=Path, default=None, help="default: <card folder>/model_card")
    ap.add_argument("--goal", type=float, default=fx.GOAL_RATIO, help="worst cohort / overall ratio to flag above")
    ap.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    ap.add_argument("--repeats", type=int, default=10, help="repeats of the per-cohort threshold cross-fitting")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-plots", action="store_true", help="write the card and the JSON only")
    args = ap.parse_args(argv)
    start = time.time()
    plots = args.plots_dir or args.card.parent / "model_card"
    s = build(args)
    card = write_card(s, args)
    args.card.parent.mkdir(parents=True, exist_ok=True)
    args.card.write_text(card)
    made = [] if args.no_plots else write_plots(s, plots, args.goal)
    plots.mkdir(parents=True, exist_ok=True)
    report = cohorts_json(s, args)
    (plots / "cohorts.json").write_text(json.dumps(jsonable(report), indent=1, allow_nan=False) + "\n")
    print(json.dumps({"card": rel(args.card), "plots": [rel(plots / m) for m in made],
                      "cohorts": rel(plots / "cohorts.json"), "wall_s": round(time.time() - start, 1),
                      "flagged": {k: [x.metric for x in d.flagged()] for k, d in s["dims"].items()}}))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
