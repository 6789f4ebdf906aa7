"""How human the synthetic generator is: its sessions' statistics beside the public data's.

    python bench/generator_fit.py [--sessions sample_data/sessions.jsonl] [--bundle bundles/default.pt]

Prints JSON (and writes ``bench/results/generator_fit.json``):

- **keystrokes**: per session, the log median hold, the log median down-down latency and the
  share of rolled-over presses; the population mean, the between-user SD (of each user's
  mean) and the within-user SD (across a user's sessions), for Aalto's first 300 desktop
  typists (15 sentences each) and for the genuine desktop sessions of the sample; and per
  key-class pair, how much a typist's rhythm (mean log down-down less the sequence's median)
  differs between people and between one person's sequences;
- **same text**: a person typing one text again and again (CMU's 51 typists of one password,
  their first and last 50 repeats; the generator's 51 desktop people typing CMU's password 50
  times, seed 0): per position of the text, the SD
  of log down-down and log hold over one person's repeats (within) and the SD between people
  of each person's per-position offset from their own mean (between);
- **pointer** / **touch**: the 10th, 50th and 90th percentile of every item feature of the
  served scorer (mouse actions, touch strokes), for the background the default bundle ships
  (Balabit's and Serwadda's people) and for the sample's genuine sessions;
- **served separation**: per modality, the ROC AUC of the default bundle's calibrated
  probability, genuine against impostor sessions of the sample, through the scoring service,
  the median probability of each, and how many impostors the modality puts below 0.1.

The generator's constants (``biometrics.synthetic.sample_style``) were set from these figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from biometrics.bundle import ModelBundle
from biometrics.data.aalto import keycode_tables, load_sequences, unpack
from biometrics.data.cmu import load_cmu
from biometrics.data.paths import datasets_root
from biometrics.features import keystroke_presses
from biometrics.metrics import roc_auc
from biometrics.synthetic import DEMO_PASSWORD, generate_dataset, load_sample_sessions, password_timing_vector
from serving.evaluation import open_service

TIMING = ("log_hold", "log_down_down", "rollover")


def timing_stats(down: np.ndarray, up: np.ndarray) -> tuple[float, float, float]:
    """(log median hold, log median down-down under 2 s, share of presses rolled over) of one sequence."""
    order = np.argsort(down, kind="stable")
    down, up = down[order], up[order]
    dd = np.diff(down)
    dd = dd[(dd > 0) & (dd < 2000)]
    return (float(np.log(np.median(up - down).clip(1.0))), float(np.log(np.median(dd))) if dd.size else np.nan,
            float(np.mean(down[1:] < up[:-1])) if down.size > 1 else np.nan)


def population(per_user: dict[str, list[tuple[float, float, float]]]) -> dict:
    """Population mean, between-user SD and within-user SD of each timing statistic."""
    users = [np.array(v) for v in per_user.values() if len(v) >= 3]
    means = np.array([np.nanmean(u, 0) for u in users])
    within = np.array([np.nanstd(u, 0) for u in users])
    return {"users": len(users), **{name: {"mean": round(float(np.nanmean(means[:, i])), 3),
                                           "between_user_sd": round(float(np.nanstd(means[:, i])), 3),
                                           "within_user_sd": round(float(np.nanmean(within[:, i])), 3)}
                                    for i, name in enumerate(TIMING)}}


def presses(keys) -> tuple[np.ndarray, np.ndarray]:
    p = keystroke_presses(keys)
    return np.asarray(p.down_t, float), np.asarray(p.up_t, float)


def pair_offsets(keys) -> dict[int, float]:
    """Per key-class pair, the mean log down-down latency less the sequence's median: a typist's rhythm."""
    p = keystroke_presses(keys)
    order = np.argsort(p.down_t, kind="stable")
    down, cls = np.asarray(p.down_t, float)[order], np.asarray(p.key_class, int)[order]
    dd = np.diff(down)
    ok = (dd > 0) & (dd < 1500)
    pair, ldd = (cls[:-1] * 16 + cls[1:])[ok], np.log(dd[ok])
    return {int(k): float(ldd[pair == k].mean() - np.median(ldd)) for k in np.unique(pair)} if ok.any() else {}


def rhythm_spread(per_user: dict[str, list[dict[int, float]]]) -> dict:
    """Median over key-class pairs of the between-user SD of users' mean offsets, and of the
    within-user SD across their sequences (pairs seen by at least 8 users, 3 sequences each)."""
    by_pair: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for u, seqs in per_user.items():
        for offsets in seqs:
            for k, v in offsets.items():
                by_pair[k][u].append(v)
    between, within = [], []
    for users in by_pair.values():
        vals = [v for v in users.values() if len(v) >= 3]
        if len(vals) >= 8:
            between.append(np.std([np.mean(v) for v in vals]))
            within.append(np.mean([np.std(v) for v in vals]))
    return {"pairs": len(between), "between_user_sd": round(float(np.median(between)), 3),
            "within_user_sd": round(float(np.median(within)), 3)}


def keystroke_fit(records, datasets: Path) -> dict:
    folder = unpack(datasets / "aalto-desktop", ROOT / ".cache" / "aalto-desktop")
    aalto: dict[str, list] = defaultdict(list)
    aalto_pairs: dict[str, list] = defaultdict(list)
    for s in load_sequences(folder, keycode_tables(), 15, max_users=300):
        aalto[str(s.user)].append(timing_stats(*presses(s.keys)))
        aalto_pairs[str(s.user)].append(pair_offsets(s.keys))
    sample: dict[str, list] = defaultdict(list)
    sample_pairs: dict[str, list] = defaultdict(list)
    for r in records:
        if r.label == "genuine" and r.device == "desktop":
            keys = r.session.keystroke_arrays()
            sample[r.user_id].append(timing_stats(*presses(keys)))
            sample_pairs[r.user_id].append(pair_offsets(keys))
    return {"aalto": {**population(aalto), "key_class_pair_rhythm": rhythm_spread(aalto_pairs)},
            "sample": {**population(sample), "key_class_pair_rhythm": rhythm_spread(sample_pairs)}}


def repeat_spread(reps: list[np.ndarray]) -> dict:
    """Same-text spread of people's [n_repeats, n_positions] log down-down and log hold."""
    def spread(logs: list[np.ndarray]) -> dict:
        within = [np.median(x.std(0)) for x in logs]
        offsets = np.array([np.median(x, 0) - np.median(x, 0).mean() for x in logs])
        return {"within_user_sd": round(float(np.median(within)), 3),
                "between_user_sd": round(float(np.median(offsets.std(0))), 3)}

    return {"users": len(reps),
            "log_down_down": spread([np.log(r[:, 1]) for r in reps]),
            "log_hold": spread([np.log(r[:, 0]) for r in reps])}


def _hold_and_dd(holds: np.ndarray, dd: np.ndarray) -> np.ndarray:
    """[n_repeats, 2, n-1]: hold of each press but the last, down-down to the next press (ms > 0)."""
    return np.stack([holds[:, :-1], dd], 1).clip(1e-3)


def same_text_fit(datasets: Path) -> dict:
    cmu = load_cmu(datasets)
    cols = {c: i for i, c in enumerate(cmu.columns)}
    h = cmu.X[:, [i for c, i in cols.items() if c.startswith("H.")]]
    dd = cmu.X[:, [i for c, i in cols.items() if c.startswith("DD.")]]
    out = {}
    for name, reps in (("cmu_first_50", slice(0, 50)), ("cmu_last_50", slice(350, 400))):
        out[name] = repeat_spread([_hold_and_dd(h[cmu.subject == u][reps], dd[cmu.subject == u][reps])
                                   for u in cmu.subjects])
    vectors: dict[str, list[np.ndarray]] = defaultdict(list)
    for r in generate_dataset(n_users=51, sessions_per_user=50, n_impostor=0, n_bot=0, n_replay=0, seed=0,
                              mobile_fraction=0.0, password=DEMO_PASSWORD):
        vectors[r.user_id].append(password_timing_vector(r.session))
    n = len(DEMO_PASSWORD)
    out["generator"] = repeat_spread([_hold_and_dd(np.array(v)[:, :n], np.array(v)[:, n:2 * n - 1])
                                      for v in vectors.values()])
    return out


def item_fit(bundle: ModelBundle, name: str, device: str, records) -> dict:
    """Percentiles of the scorer's item features: its shipped background against the sample."""
    scorer = bundle.scorers[name]
    names = [f for f in scorer.spec.item_features[scorer.unit] if f not in scorer.unit_options.get("ignore_features", ())]
    sample = np.concatenate([scorer.items(r.session).features for r in records
                             if r.device == device and r.label == "genuine"])
    background = scorer.head.background
    q = lambda x: [round(float(v), 4) for v in np.quantile(x, [0.1, 0.5, 0.9])]
    return {"background_items": int(background.shape[0]), "sample_items": int(sample.shape[0]),
            "features": {f: {"background": q(background[:, i]), "sample": q(sample[:, i])}
                         for i, f in enumerate(names[: background.shape[1]])}}


def served_separation(bundle_path: Path, records) -> dict:
    """Per device and modality, ROC AUC of the served probability, genuine vs impostor sessions."""
    probs: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with tempfile.TemporaryDirectory() as tmp:
        service = open_service(bundle_path, Path(tmp) / "fit.db")
        for r in records:
            if r.split == "enroll":
                try:
                    service.enroll("fit", r.user_id, r.session)
                except ValueError:  # a refused enrollment session (a guard): the next one enrolls
                    pass
        for r in records:
            if r.split == "test" and r.label in ("genuine", "impostor"):
                result, _ = service.score("fit", r.user_id, r.session, update_profile=False)
                for m, s in result.modalities.items():
                    if s.probability is not None:
                        probs[f"{r.device}/{m}"][r.label].append(s.probability)
                probs[f"{r.device}/fused"][r.label].append(result.risk)
    return {k: {"auc": round(roc_auc(np.array(v["genuine"]), np.array(v["impostor"])), 3),
                "genuine_median": round(float(np.median(v["genuine"])), 3),
                "impostor_median": round(float(np.median(v["impostor"])), 3),
                "impostors_below_0_1": int(np.sum(np.array(v["impostor"]) < 0.1)), "impostors": len(v["impostor"])}
            for k, v in sorted(probs.items()) if v["genuine"] and v["impostor"]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=Path, default=ROOT / "sample_data" / "sessions.jsonl")
    ap.add_argument("--bundle", type=Path, default=ROOT / "bundles" / "default.pt")
    ap.add_argument("--datasets-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "generator_fit.json")
    args = ap.parse_args(argv)
    records = load_sample_sessions(args.sessions)
    bundle = ModelBundle.load(args.bundle)
    report = {"sessions": str(args.sessions), "bundle": bundle.model_version,
              "keystrokes": keystroke_fit(records, datasets_root(args.datasets_dir)),
              "same_text": same_text_fit(datasets_root(args.datasets_dir)),
              "pointer": item_fit(bundle, "pointer", "desktop", records),
              "touch": item_fit(bundle, "touch", "mobile", records),
              "served": served_separation(args.bundle, records),
              "command": "python bench/generator_fit.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
