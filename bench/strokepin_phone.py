"""StrokePIN phone keystrokes: pool a training run's folds into the committed result files.

    python -m training.train experiment=strokepin_phone                     # 5 folds, a few minutes
    python bench/strokepin_phone.py logs/strokepin_phone/runs/<run> [--bundle bundles/aalto_keystrokes.pt]

Reads the run's per-fold ``metrics.json`` (per-cell EERs of every condition, written by
:class:`biometrics.data.strokepin_modules.StrokePINDataModule`) and ``strokepin_scores.npz``
(the pooled scores) and reports, per scorer (the phone encoder, the classic detectors on the
timing vector, their fusion) and per condition (within posture sitting / walking at
G = 1, 2, 3; across postures), the mean (sd) of the per-cell EERs over all folds' cells and
the pooled EER of all folds' scores, for one entry and the mean of 2 (within) or 3 (across).

``--bundle``: a desktop keystroke bundle scored on the same test users (each fold's), the
same entries as served tokens (contract session, masked keys) and the same protocol, with
the mean Euclidean distance to the enrollment embeddings (``--bundle-config`` names the
run config to rebuild the folds from; default the run's own). Writes
``bench/results/strokepin_phone.json`` and ``.md`` and prints the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from any folder

from biometrics.data import strokepin
from biometrics.data.paths import datasets_root
from biometrics.data.strokepin_modules import (
    ACROSS,
    WITHIN,
    WITHIN_KS,
    condition_ks,
    condition_scores,
    entry_sequences,
    fold_roles,
    summarize,
)
from biometrics.distances import mean_distance
from biometrics.metrics import eer
from biometrics.reports import publish_result

RESULTS = Path(__file__).resolve().parent / "results"
COMMAND = "OMP_NUM_THREADS=1 python -m training.train experiment=strokepin_phone"
CONDITIONS = [f"{p}_g{g}" for p in WITHIN for g in (1, 2, 3)] + list(ACROSS)
SHORT = {"encoder": "phone encoder", "encoder+manhattan_scaled": "phone encoder + Manhattan (scaled), fused",
         "manhattan_scaled": "Manhattan (scaled)"}
PUBLISHED = ("The dataset README lists no EER of the authors (their scripts write EERs to files that are not "
             "committed; the paper was not read). The only figure found is secondary and unverified: FAR 8.3% / "
             "FRR 0.4% with template updates over several sessions (data not released), one operating point, "
             "touch coordinates and motion sensors, not an EER. The authors' own figure would be a pair EER "
             "(all pairs of a user's entries vs pairs with 2 other users), not this enrolment EER.")


def fold_dirs(run: Path) -> list[Path]:
    """The run's fold folders (or the run itself when it is a single split)."""
    folds = sorted(run.glob("fold[0-9]*"), key=lambda p: int(p.name[4:]))
    return folds or [run]


def pooled_rows(run: Path) -> tuple[dict, dict]:
    """``{scorer: {condition: {k: figures}}}`` over all folds, and the per-fold facts."""
    per_cell: dict = defaultdict(lambda: defaultdict(list))
    scores: dict = defaultdict(lambda: defaultdict(list))
    facts = []
    for d in fold_dirs(run):
        m = json.loads((d / "metrics.json").read_text())
        facts.append({"fold": d.name, "n_train_users": m["n_train_users"], "n_val_users": m["n_val_users"],
                      "n_test_users": m["n_test_users"], "epochs": m["fit"]["epochs"],
                      "val_eer_best": m["fit"]["val_eer_best"], "fit_wall_s": m["fit"]["fit_wall_s"]})
        for name, rep in m.items():
            if not isinstance(rep, dict) or "conditions" not in rep:
                continue
            for label, r in [(name, rep), *rep.get("variants", {}).items()]:
                for cond, by_k in r["conditions"].items():
                    for k, s in by_k.items():
                        per_cell[label][(cond, k)] += list(s.get("per_cell", {}).values())
        z = np.load(d / "strokepin_scores.npz")
        for key in z.files:
            label, cond, k, kind = key.split("|")
            scores[label][(cond, k, kind)].append(z[key])
    out: dict = {}
    for label, cells in per_cell.items():
        out[label] = {}
        for (cond, k), vals in cells.items():
            v = np.array(vals)
            gen = np.concatenate(scores[label][(cond, k, "genuine")])
            imp = np.concatenate(scores[label][(cond, k, "impostor")])
            out[label].setdefault(cond, {})[k] = {"eer_mean": float(v.mean()), "eer_sd": float(v.std()),
                                                  "eer_pooled": float(eer(gen, imp)), "n_cells": int(v.size)}
    return out, {"folds": facts}


def desktop_reference(bundle_path: Path, cfg) -> dict:
    """A desktop bundle's encoder on each fold's test users (same entries, tokens and protocol)."""
    from biometrics.bundle import ModelBundle

    bundle = ModelBundle.load(bundle_path)
    scorers = getattr(bundle, "scorers", None) or bundle.modalities
    model = scorers["keystrokes"]
    encoder = getattr(model, "encoder", model)
    data = entry_sequences(strokepin.load_entries(datasets_root(None)))  # full-width served tokens
    emb = encoder.embed(data.tokens)
    per_cell: dict = defaultdict(list)
    pooled: dict = defaultdict(lambda: ([], []))
    for f in range(cfg.n_folds):
        test = fold_roles(data.users, f, cfg.n_folds, cfg.fold_seed, cfg.n_val_users, cfg.seed)["test"]
        keep = np.isin(data.users, test)
        raw = condition_scores(emb[keep], data.users[keep], data.order[keep], mean_distance)
        for cond, cells in raw.items():
            for k in condition_ks(cond):
                s = summarize(cells, k)
                per_cell[(cond, str(k))] += list(s["per_cell"].values())
                pooled[(cond, str(k))][0].append(s["scores"][0])
                pooled[(cond, str(k))][1].append(s["scores"][1])
    out: dict = {}
    for (cond, k), vals in per_cell.items():
        v = np.array(vals)
        g, i = (np.concatenate(x) for x in pooled[(cond, k)])
        out.setdefault(cond, {})[k] = {"eer_mean": float(v.mean()), "eer_sd": float(v.std()),
                                       "eer_pooled": float(eer(g, i)), "n_cells": int(v.size)}
    return out


def validation_fusion(run: Path) -> dict:
    """Encoder alone against its fusion with Manhattan (scaled) on each fold's *validation* users
    (best checkpoint): the evidence for which one to serve, never the test users."""
    from training.run import build_datamodule, embed_stage, load_task

    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    OmegaConf.update(cfg, "paths.root_dir", str(ROOT), force_add=True)
    per_cell: dict = defaultdict(list)
    for d in fold_dirs(run):
        m = json.loads((d / "metrics.json").read_text())
        fold = int(d.name[4:]) if d.name.startswith("fold") else cfg.data.fold
        dm = build_datamodule(cfg, fold=fold, n_folds=cfg.get("folds") or cfg.data.n_folds)
        task = load_task(m["fit"]["best_ckpt"], cfg, dm)
        rep = dm.evaluate_embeddings(embed_stage(task, dm, "val"), "val")
        for label, r in (("encoder", rep), *rep["variants"].items()):
            for p in WITHIN:
                for g in cfg.data.enroll_sizes:
                    for k in WITHIN_KS:
                        per_cell[(label, f"{p}_g{g}", str(k))] += list(
                            r["conditions"][f"{p}_g{g}"][str(k)]["per_cell"].values())
    out: dict = {}
    for (label, cond, k), v in per_cell.items():
        out.setdefault(label, {}).setdefault(cond, {})[k] = float(np.mean(v))
    return out


def tried_rows(runs: list[Path]) -> list[dict]:
    """Single-split (fold 0) runs tried before the 5-fold run: their settings and EERs."""
    rows = []
    for r in runs:
        cfg = OmegaConf.load(r / ".hydra" / "config.yaml")
        m = json.loads((r / "metrics.json").read_text())
        rows.append({"run": str(r), "train_label": cfg.data.train_label, "hidden": cfg.model.encoder.hidden,
                     "max_epochs": cfg.trainer.max_epochs, "epochs": m["fit"]["epochs"],
                     "val_eer_best": m["fit"]["val_eer_best"], "test_encoder": m["encoder"]["eer"],
                     "test_fused": m["encoder"]["variants"]["encoder+manhattan_scaled"]["eer"]})
    return rows


def _cell(r: dict | None) -> str:
    return "-" if not r else f"{100 * r['eer_mean']:.1f} ({100 * r['eer_sd']:.1f}) / {100 * r['eer_pooled']:.1f}"


def _condition_label(cond: str, k: int) -> str:
    entries = "1 entry" if k == 1 else f"mean of {k}"
    if cond.startswith("within"):
        posture, g = cond.removeprefix("within_").split("_g")
        return f"{'sitting' if posture == 'sit' else 'walking'}, G={g}, {entries}"
    return f"{cond.replace('_', ' ')}, {entries}"


def markdown(result: dict) -> str:
    rows = result["scorers"]
    names = list(rows)
    head = "| condition | " + " | ".join(result["labels"].get(n, n) for n in names) + " |"
    rule = "| --- |" + " --- |" * len(names)
    lines = ["# strokepin_phone", "",
             (f"Rerun: `{result['command']}` ({result['wall_s']:.0f} s for the 5 folds, 2 CPU cores shared "
             f"with other jobs, one thread), then `{result['bench_command']}` ({result['bench_wall_s']:.0f} s). "
             f"Run: `{result['run']}`."), "",
             ("StrokePIN (Yao & Wang, Nankai University; CC BY-NC-SA 4.0): 96 users (user77, a copy of user67, "
             "dropped), 16,694 clean PIN entries (borrowed taps and entries without six Down/Up taps dropped). "
             "**Timing only**: each entry is a contract-v2 session of six `masked` key presses "
             "(`device_type` mobile), tokenized by the served `keystroke_tokens` (hold, down-down, up-down, "
             "up-up); no digit, no coordinate, no pressure. Users in 5 seeded folds; each fold's encoder "
             "trains on the other folds less 10 validation users and is evaluated within the held-out fold; "
             "impostors are the fold's other users typing the same PIN in the same posture (the attacker "
             "knows the PIN)."), "",
             ("Each cell: EER in %, mean (sd) over (user, PIN, posture) cells of all 5 folds / pooled over all "
             "cells' scores. Within posture: enroll on entries 1..G, test entries 4-5 (the 2,875 cells with at "
             "least 4 entries); across postures: enroll on all of a user's entries of a PIN in one posture, "
             "test the other posture. `mean of k`: the mean score of k consecutive entries (sliding windows "
             "over one person's entries)."), "",
             "## Within posture", "", head, rule]
    conds = [c for c in CONDITIONS if c.startswith("within")]
    for c in conds:
        for k in condition_ks(c):
            lines.append(f"| {_condition_label(c, k)} | " + " | ".join(
                _cell(rows[n].get(c, {}).get(str(k))) for n in names) + " |")
    lines += ["", "## Across postures", "", head, rule]
    for c in ACROSS:
        for k in condition_ks(c):
            lines.append(f"| {_condition_label(c, k)} | " + " | ".join(
                _cell(rows[n].get(c, {}).get(str(k))) for n in names) + " |")
    if result.get("validation_fusion"):
        vf = result["validation_fusion"]
        lines += ["", "## Encoder or fusion: validation users", "",
                  ("Mean per-cell EER (%) on each fold's 10 validation users (best checkpoint; impostors among "
                  "those 10 users, so lower than the test figures), within posture:"), "",
                  "| condition | " + " | ".join(result["labels"].get(n, n) for n in vf) + " |",
                  "| --- |" + " --- |" * len(vf)]
        for c in [c for c in CONDITIONS if c.startswith("within")]:
            for k in WITHIN_KS:
                lines.append(f"| {_condition_label(c, k)} | " + " | ".join(
                    f"{100 * vf[n][c][str(k)]:.1f}" for n in vf) + " |")
    if result.get("tried"):
        lines += ["", "## What was tried (fold 0, one split)", "",
                  ("Chosen by the validation EER (fold 0's 10 validation users, within posture, G = 3, one "
                  "entry); the test column is fold 0's test users, shown, not used to choose."), "",
                  "| classes | units | epochs (max) | val EER | test EER encoder | test EER fused | run |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for t in result["tried"]:
            lines.append(f"| {t['train_label']} | {t['hidden']} | {t['epochs']} ({t['max_epochs']}) | "
                         f"{100 * t['val_eer_best']:.1f} | {100 * t['test_encoder']:.1f} | "
                         f"{100 * t['test_fused']:.1f} | `{t['run']}` |")
    lines += ["", "## Notes", "", *[f"- {x}" for x in result["notes"]], "",
              "## Published", "", PUBLISHED, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--bundle", type=Path, default=None, help="a desktop bundle as the reference row")
    ap.add_argument("--compare", type=Path, nargs="*", default=[], help="other runs: their encoder rows")
    ap.add_argument("--tried", type=Path, nargs="*", default=[], help="single-split runs tried before")
    ap.add_argument("--validation", action="store_true",
                    help="also score encoder and fusion on each fold's validation users (best checkpoints)")
    ap.add_argument("--out", default="strokepin_phone")
    args = ap.parse_args(argv)
    start = time.time()
    cfg = OmegaConf.load(args.run / ".hydra" / "config.yaml")
    rows, facts = pooled_rows(args.run)
    result_compare: list[dict] = []
    m = json.loads((args.run / "metrics.json").read_text())
    labels = {"encoder": f"phone encoder ({cfg.data.train_label} classes, {cfg.model.encoder.hidden} units)",
              "encoder+manhattan_scaled": "phone encoder + Manhattan (scaled), fused",
              "manhattan_scaled": "Manhattan (scaled)", "manhattan": "Manhattan", "euclidean": "Euclidean"}
    for other in args.compare:
        ocfg = OmegaConf.load(other / ".hydra" / "config.yaml")
        orows, ofacts = pooled_rows(other)
        unseen = int(ocfg.data.get("heldout_pins") or 0)
        what = (f"{unseen} PINs unseen in training, test on them only" if unseen
                else f"{ocfg.data.train_label} classes, {ocfg.model.encoder.hidden} units, "
                     f"{ocfg.trainer.max_epochs} epochs")
        for n in ("encoder", "encoder+manhattan_scaled", *(("manhattan_scaled",) if unseen else ())):
            key = f"{n} [{other.name}]"
            rows[key] = orows[n]
            labels[key] = f"{SHORT[n]} ({what})"
        result_compare.append({"run": str(other), "what": what, **ofacts,
                               "wall_s": json.loads((other / "metrics.json").read_text()).get("wall_s")})
    if args.bundle:
        rows["desktop_bundle"] = desktop_reference(args.bundle, cfg.data)
        labels["desktop_bundle"] = f"desktop model on phones (`{args.bundle}`)"
    result = {"scorers": rows, "labels": labels, **facts, "compared_runs": result_compare, "run": str(args.run), "wall_s": m.get("wall_s", 0.0),
              "val_eer_best_mean": m.get("val/eer_best"), "command": COMMAND,
              "bench_command": "python bench/strokepin_phone.py " + " ".join(argv or sys.argv[1:]),
              "config": {"model": OmegaConf.to_container(cfg.model.encoder), "lr": cfg.model.optimizer.lr,
                         "data": {k: cfg.data[k] for k in ("max_len", "train_label", "pins_per_batch",
                                                           "batch_size", "m_per_user", "batches_per_epoch",
                                                           "n_val_users", "eer_g")},
                         "max_epochs": cfg.trainer.max_epochs},
              "licence": "StrokePIN: CC BY-NC-SA 4.0 (non-commercial; share-alike; commercial use needs the "
                         "authors' written permission). Cite Yao & Wang, StrokePIN, IEEE (Xplore 11410089).",
              "notes": [
                  ("Per-cell EERs rest on 2 genuine queries (within, k=1) or 1 (k=2) against ~90 impostor "
                  "entries, so a cell's EER is coarse; the mean over ~2,800 cells is what the protocol asks for."),
                  ("Pooled EERs put every cell's raw scores on one threshold (no per-user normalization), "
                  "hence far above the per-cell means."),
                  ("Manhattan (scaled) with G = 1 has no spread to scale by (each feature's scale is 1): it is "
                  "plain Manhattan there; with G = 2 the scale is half the difference of two entries, which "
                  "is why its G = 2 is worse than its G = 1."),
                  ("Fusion: encoder distance and Manhattan (scaled) score, each standardized over the "
                  "condition's queries (genuine and impostor together, no label used), summed with equal weight."),
              ],
              "published": PUBLISHED, "bench_wall_s": 0.0}
    result["tried"] = tried_rows(args.tried)
    if args.validation:
        result["validation_fusion"] = validation_fusion(args.run)
    result["bench_wall_s"] = round(time.time() - start, 1)
    (RESULTS / f"{args.out}.md").write_text(markdown(result))
    publish_result(result, RESULTS / f"{args.out}.json")


if __name__ == "__main__":
    main()
