"""Reproduce Killourhy & Maxion (DSN 2009) Table 2 on the CMU keystroke benchmark.

For every detector in ``biometrics.detectors.DETECTORS``: the paper's protocol (train on a
subject's first 200 reps, genuine tests = its last 200, impostors = reps 1-5 of session 1
of the 50 others), EER per subject by the paper's rule, mean and SD over the 51 subjects.
Prints one JSON line per detector and writes ``bench/results/cmu_km09.md``.

    python bench/cmu_km09.py [--datasets PATH] [--out FILE] [--detector NAME ...]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType

from biometrics.data.cmu import CmuData, cmu_protocol_scores, load_cmu
from biometrics.detectors import DETECTORS, make_detector
from biometrics.metrics import per_user_summary

# Table 2 of the paper (also in ../shared/datasets/cmu-keystroke/README.md): mean (SD).
PUBLISHED = MappingProxyType(
    {
        "Manhattan (scaled)": (0.0962, 0.0694),
        "Nearest Neighbor (Mahalanobis)": (0.0996, 0.0642),
        "Outlier Count (z-score)": (0.1022, 0.0767),
        "SVM (one-class)": (0.1025, 0.0650),
        "Mahalanobis": (0.1101, 0.0645),
        "Mahalanobis (normed)": (0.1101, 0.0645),
        "Manhattan (filter)": (0.1360, 0.0828),
        "Manhattan": (0.1529, 0.0925),
        "Neural Network (auto-assoc)": (0.1614, 0.0797),
        "Euclidean": (0.1706, 0.0952),
        "Euclidean (normed)": (0.2153, 0.1187),
        "Fuzzy Logic": (0.2213, 0.1051),
        "k Means": (0.3722, 0.1391),
        "Neural Network (standard)": (0.8283, 0.1483),
    }
)

# How close our mean EER must be to the published one: tight where the exact algorithm is
# public (Euclidean, Manhattan, Mahalanobis in the authors' R script; Manhattan (scaled) in
# the dataset README), looser where implementation details were not published.
STRICT = frozenset({"Manhattan (scaled)", "Mahalanobis", "Manhattan", "Euclidean"})
STRICT_TOL, LOOSE_TOL = 0.002, 0.01

NOTES = MappingProxyType(
    {
        "Mahalanobis (normed)": (
            "Implemented as described (squared Mahalanobis distance divided by the product of "
            "the test and mean vectors' norms, the same normalisation that reproduces "
            "Euclidean (normed) exactly). The published row equals plain Mahalanobis to all "
            "four digits in both mean and SD, which a per-vector normalisation cannot give; "
            "the original code apparently scored the un-normed distance. We keep the "
            "described algorithm rather than copy an undocumented behaviour."
        ),
        "k Means": (
            "Implemented as described (Euclidean distance to the nearest of k=3 k-means "
            "centroids of the training vectors). Every variant we tried lands near 0.155 "
            "(random or k-means++ starts, 1 or 10 restarts, seeds 0-2: 0.153-0.160), and an "
            "independent re-implementation (github.com/rehassachdeva/"
            "Anomaly-Detection-for-Keystroke-Dynamics) reports 0.1559. The published 0.3722 "
            "is far worse than plain Euclidean distance to the mean (0.1706), although three "
            "centroids can only fit the training data more closely than one. We could not "
            "find the cause, so we keep the described algorithm rather than tune toward the "
            "published figure. Scoring by the farthest centroid, an obvious bug to suspect, "
            "gives 0.355, still not a match."
        ),
        "Neural Network (auto-assoc)": (
            "p-p-p auto-associative MLP trained 500 epochs with learning rate 1e-4 and "
            "momentum 3e-4 (as we read the paper), on the defaults of R's AMORE package, "
            "which we assume the authors used: scaled-tanh ('tansig') hidden layer, linear "
            "output, weights U(+-sqrt(3/n_weights)), half squared error. Full-batch steps "
            "replace AMORE's per-sample ones (identical per-subject EERs on the 4 subjects "
            "checked, 40x faster). Seeds 0-3 give 0.1634-0.1664; PyTorch-style weight "
            "initialisation instead of AMORE's gives about 0.14-0.16, so the figure depends on "
            "these unpublished details."
        ),
        "SVM (one-class)": (
            "nu = 0.5 as in the paper; the kernel width is not published, so we use the "
            "defaults of R's e1071::svm (libsvm), which we assume the authors used: features "
            "standardised on the training data and RBF gamma = 1/n_features = 1/31. Without "
            "the standardisation the EER is about 0.19 (gamma 1/31) or 0.165 (sklearn's "
            "gamma='scale')."
        ),
        "Fuzzy Logic": (
            "Not implemented: we had no description of its fuzzy sets and membership "
            "functions (Haider et al. 2000) precise enough to reproduce the published figure."
        ),
        "Neural Network (standard)": (
            "Not implemented: its training needs synthetic impostor vectors whose generation "
            "we could not pin down, and its published EER (0.83) is worse than chance."
        ),
    }
)


def _tolerance(name: str) -> float:
    """Allowed |ours - published| for a detector's mean EER."""
    return STRICT_TOL if name in STRICT else LOOSE_TOL


def evaluate(data: CmuData, name: str) -> dict[str, object]:
    """The paper's protocol for one detector: our EER mean/SD beside the published one."""
    start = time.perf_counter()
    summary = per_user_summary(cmu_protocol_scores(data, lambda: make_detector(name)))
    published = PUBLISHED.get(name, (None, None))
    ours = float(summary["eer_mean"])
    within = None if published[0] is None else abs(ours - published[0]) <= _tolerance(name)
    return {
        "detector": name,
        "eer_mean": round(ours, 6),
        "eer_sd": round(float(summary["eer_sd"]), 6),
        "n_subjects": summary["n_users"],
        "published_eer": published[0],
        "published_eer_sd": published[1],
        "within_tolerance": within,
        "seconds": round(time.perf_counter() - start, 2),
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _table_row(name: str, row: dict[str, object] | None) -> str:
    pub_mean, pub_sd = PUBLISHED.get(name, (None, None))
    if row is None:
        return f"| {name} | not implemented | {_fmt(pub_mean)} ({_fmt(pub_sd)}) | - | see note |"
    # round first so that a difference of -0.00004 prints as +0.0000, not -0.0000
    diff = round(float(row["eer_mean"]) - pub_mean, 4) + 0.0 if pub_mean is not None else None
    status = "match" if row["within_tolerance"] else "differs, see note"
    tol = f"+-{_tolerance(name):.3f}"
    return (
        f"| {name} | {row['eer_mean']:.4f} ({row['eer_sd']:.4f}) | {_fmt(pub_mean)} ({_fmt(pub_sd)}) "
        f"| {'-' if diff is None else f'{diff:+.4f}'} | {status} ({tol}) |"
    )


def render_markdown(rows: dict[str, dict[str, object]]) -> str:
    """The results table (ours beside the published figures) with the rerun command and notes."""
    names = list(PUBLISHED) + [n for n in rows if n not in PUBLISHED]
    lines = [
        "# CMU keystroke benchmark: Killourhy & Maxion (DSN 2009) Table 2, reproduced",
        "",
        (
            "Protocol (paper section 6): per subject, train on sessions 1-4 (200 reps), genuine "
            "tests = sessions 5-8 (200), impostor tests = session 1 reps 1-5 of the other 50 "
            "subjects (250); EER from the ROC, linearly interpolated between the two points "
            "that bracket miss rate == false-alarm rate; mean (SD) over the 51 subjects."
        ),
        "",
        (
            "Rerun: `python bench/cmu_km09.py` (optional `--datasets PATH`, default "
            "`$BIOMETRICS_DATASETS` or `../shared/datasets`; a few seconds on 2 cores). "
            "Tolerance: +-0.002 for the four detectors whose exact algorithm is public "
            "(Euclidean, Manhattan, Mahalanobis: the authors' R script; Manhattan (scaled): "
            "the dataset README), +-0.01 for the others."
        ),
        "",
        "| detector | our EER mean (SD) | published mean (SD) | ours - published | status |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [_table_row(name, rows.get(name)) for name in names]
    noted = [n for n in names if n in NOTES and (n not in rows or not rows[n]["within_tolerance"])]
    noted += [n for n in names if n in NOTES and n not in noted]
    lines += ["", "## Notes", ""] + [f"- **{n}**: {NOTES[n]}" for n in noted]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Run every (or the chosen) detector, print JSON lines, write the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", type=Path, default=None, help="datasets root (holds cmu-keystroke/)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "cmu_km09.md"
    )
    parser.add_argument("--detector", action="append", choices=sorted(DETECTORS), help="repeatable")
    args = parser.parse_args(argv)

    data = load_cmu(args.datasets)
    rows: dict[str, dict[str, object]] = {}
    for name in args.detector or DETECTORS:
        rows[name] = evaluate(data, name)
        print(json.dumps(rows[name]), flush=True)
    if args.detector is None:
        # A partial run would overwrite the full table with gaps; only full runs write it.
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(render_markdown(rows))


if __name__ == "__main__":
    main()
