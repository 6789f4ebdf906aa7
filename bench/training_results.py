"""Turn a finished training run into the committed result files under bench/results/.

    python bench/training_results.py aalto_typenet logs/aalto_typenet/runs/<run> [--compare run2 ...]
    python bench/training_results.py cmu_folds logs/cmu_folds/runs/<run>
    python bench/training_results.py touch_serwadda logs/touch_serwadda/runs/<run>

Reads the run's ``metrics.json`` (written by ``training.train``) and writes
``bench/results/<name>.json`` in the issue's format plus a markdown table beside the
published figures from the dataset README. Prints the JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from biometrics.data.serwadda import STROKE_COUNTS
from biometrics.reports import plot_amount_curve
from biometrics.streaming import ACTION_COUNTS
from training.train import pool_by_k

RESULTS = Path(__file__).resolve().parent / "results"
COMMANDS = {
    "aalto_typenet": "python -m training.train experiment=aalto_typenet",
    "cmu_folds": "python -m training.train experiment=cmu_folds",
    "touch_serwadda": "OMP_NUM_THREADS=1 python -m training.train experiment=touch_serwadda",
    "balabit_mouse": "python -m training.train experiment=balabit_mouse",
    "balabit_mouse_loao": ("OMP_NUM_THREADS=1 python -m training.train experiment=balabit_mouse folds=10 "
                           "trainer.max_epochs=4 data.batches_per_epoch=40 data.val_enroll_per_account=1000 "
                           "task_name=balabit_mouse_loao"),
}
PUBLISHED_AALTO = [
    ("TypeNet (Acien et al. 2022), 68,000 training users, keycodes", {"5": 0.022}),
    ("KVC best desktop (2023/2025), other split", {"5": 0.0333}),
]
PUBLISHED_CMU = [
    ("Manhattan (scaled), Killourhy & Maxion 2009 (one-class, all 51 subjects)", 0.0962),
    ("GMM-UBM, Deng & Zhong 2013 (background users)", 0.055),
    ("Deep belief net, Deng & Zhong 2013 (background users)", 0.035),
]


def _model_name(run: Path) -> str:
    cfg = (run / ".hydra" / "config.yaml").read_text()
    target = next(line for line in cfg.splitlines() if "_target_: biometrics.models.encoders." in line)
    return target.rsplit(".", 1)[1]


def aalto(run: Path, compare: list[Path]) -> tuple[dict, str]:
    """The TypeNet-protocol figures of one Aalto run (plus compared runs) and its markdown table."""
    m = json.loads((run / "metrics.json").read_text())
    enc = m["encoder"]
    out = {"eer": enc["eer_by_g"], "eer_sd": enc["eer_sd"], "far_at_frr_1pct": enc["far_at_frr_1pct"],
           "auc": enc["auc"], "n_test_users": m["n_test_users"], "n_train_users": m["n_train_users"],
           "n_val_users": m["n_val_users"], "wall_s": m["wall_s"], "epochs": m["fit"]["epochs"],
           "val_eer_best": m["fit"]["val_eer_best"], "command": COMMANDS["aalto_typenet"],
           "model": _model_name(run),
           "baselines": {k: {"eer": v["eer_by_g"], "far_at_frr_1pct": v["far_at_frr_1pct"], "auc": v["auc"]}
                         for k, v in m.items() if isinstance(v, dict) and "eer_by_g" in v and k != "encoder"}}
    gs = list(out["eer"])
    lines = ["| model | " + " | ".join(f"EER G={g}" for g in gs) + " | FAR@1%FRR (G=5) | AUC (G=5) |",
             "| --- " * (len(gs) + 3) + "|"]
    lines.append(_row(f"ours: {out['model']} (val EER {out['val_eer_best']:.4f})", out["eer"], gs,
                      out["far_at_frr_1pct"], out["auc"]))
    out["compared"] = {}
    for other in compare:
        o = json.loads((other / "metrics.json").read_text())
        name = _model_name(other)
        out["compared"][name] = {"eer": o["encoder"]["eer_by_g"], "val_eer_best": o["fit"]["val_eer_best"],
                                 "epochs": o["fit"]["epochs"], "wall_s": o["wall_s"]}
        lines.append(_row(f"ours: {name} (val EER {o['fit']['val_eer_best']:.4f}, {o['fit']['epochs']} epochs)",
                          o["encoder"]["eer_by_g"], gs, o["encoder"]["far_at_frr_1pct"], o["encoder"]["auc"]))
    for k, v in out["baselines"].items():
        lines.append(_row(f"ours: {k} (same split)", v["eer"], gs, v["far_at_frr_1pct"], v["auc"]))
    for name, eers in PUBLISHED_AALTO:
        lines.append(_row(name, eers, gs, None, None))
    return out, "\n".join(lines)


def _row(name: str, eers: dict, gs: list[str], far, auc) -> str:
    cells = [f"{eers[g]:.4f}" if g in eers else "-" for g in gs]
    fmt = lambda v: "-" if v is None else f"{v:.4f}"
    return f"| {name} | " + " | ".join(cells) + f" | {fmt(far)} | {fmt(auc)} |"


def cmu(run: Path, compare: list[Path]) -> tuple[dict, str]:
    """The fold-protocol figures of one CMU run and its markdown table."""
    m = json.loads((run / "metrics.json").read_text())
    out = {"eer_mean": m["encoder"]["eer_mean"], "eer_sd": m["encoder"]["eer_sd"], "folds": m["folds"],
           "n_subjects": m["encoder"]["n_subjects"], "wall_s": m["wall_s"], "command": COMMANDS["cmu_folds"],
           "rows": {k: v for k, v in m.items() if isinstance(v, dict) and "eer_mean" in v}}
    lines = ["| model | EER mean (sd) |", "| --- | --- |"]
    lines += [f"| ours: {k} | {v['eer_mean']:.4f} ({v['eer_sd']:.4f}) |" for k, v in out["rows"].items()]
    out["compared"] = {}
    for other in compare:
        o = json.loads((other / "metrics.json").read_text())
        name = _model_name(other)
        out["compared"][name] = {k: v for k, v in o.items() if isinstance(v, dict) and "eer_mean" in v}
        lines += [f"| ours ({name}): {k} | {v['eer_mean']:.4f} ({v['eer_sd']:.4f}) |"
                  for k, v in out["compared"][name].items() if k.startswith("encoder")]
    lines += [f"| {name} | {e:.4f} |" for name, e in PUBLISHED_CMU]
    return out, "\n".join(lines)


PUBLISHED_TOUCH = [
    ("Touchalytics inter-session (Frank et al. 2013), kNN+SVM on stroke features, own data",
     {"1": 0.13, "11": 0.03}),
]
STROKES = tuple(str(k) for k in STROKE_COUNTS)


def _pooled_variants(run: Path, folds: int) -> dict[str, dict]:
    """Mean and median over all users of every scoring variant, pooled from the fold reports."""
    per = [json.loads((run / f"fold{k}" / "metrics.json").read_text())["encoder"]["variants"]
           for k in range(folds)]
    out = {}
    for name in per[0]:
        pooled = pool_by_k([f[name]["per_subject_by_k"] for f in per])
        out[name] = {"eer_by_strokes": pooled["eer_by_k"], "eer_median_by_strokes": pooled["eer_median_by_k"],
                     "n_users": pooled["n_subjects_by_k"]["1"]}
    return out


def _svm_c(run: Path) -> float:
    """The run's SVM regularization (``data.svm_c``; runs from before the option used 1)."""
    from omegaconf import OmegaConf

    return float(OmegaConf.load(run / ".hydra" / "config.yaml").data.get("svm_c", 1.0))


def _strokes_row(name: str, eers: dict) -> str:
    return f"| {name} | " + " | ".join(f"{eers[k]:.3f}" if k in eers else "-" for k in STROKES) + " |"


def touch(run: Path, compare: list[Path]) -> tuple[dict, str]:
    """The inter-session figures of a Serwadda fold run (headline scoring plus variants) and its table."""
    m = json.loads((run / "metrics.json").read_text())
    enc = m["encoder"]
    variants = _pooled_variants(run, m["folds"])
    fold0 = json.loads((run / "fold0" / "metrics.json").read_text())
    scoring = fold0["encoder"]["scoring"]
    classic = json.loads((RESULTS / "serwadda_classic.json").read_text())
    out = {"eer_by_strokes": enc["eer_by_k"], "n_users": enc["n_subjects_by_k"]["1"],
           "command": COMMANDS["touch_serwadda"], "wall_s": m["wall_s"],
           "eer_median_by_strokes": enc["eer_median_by_k"], "eer_sd_by_strokes": enc["eer_sd_by_k"],
           "scoring": scoring, "svm_c": _svm_c(run), "checkpoint_eer_at_strokes": fold0["encoder"].get("eer_at_strokes"),
           "run": str(run), "model": _model_name(run), "folds": m["folds"],
           "n_train_users_by_fold": m.get("n_train_users_by_fold"), "val_eer_best_mean": m["val/eer_best"],
           "variants": variants,
           "classic_baseline": {"eer_by_strokes": classic["eer_by_strokes"], "method": classic["method"],
                                "command": classic["command"]},
           "one_class_baselines": {k: v["eer_by_k"] for k, v in m.items()
                                   if isinstance(v, dict) and "eer_by_k" in v and k != "encoder"},
           "published": {name: e for name, e in PUBLISHED_TOUCH}}
    lines = ["| model (mean per-user EER, 59 users) | 1 stroke | 5 | 11 | 20 |", "| --- | --- | --- | --- | --- |",
             _strokes_row(f"ours: {out['model']} encoder, {scoring}, SVM C={out['svm_c']:g} (headline)",
                          out["eer_by_strokes"])]
    lines += [_strokes_row(f"ours: {'stroke features only' if n.startswith('features_') else 'encoder'}, "
                           f"{n.removeprefix('features_')}", v["eer_by_strokes"])
              for n, v in variants.items() if n != scoring]
    lines.append(_strokes_row("classic: bench/serwadda_classic.py, RBF SVM on stroke features, all "
                              "other-fold session-1 negatives", classic["eer_by_strokes"]))
    lines += [_strokes_row(f"ours: one-class {k} on stroke features", v)
              for k, v in out["one_class_baselines"].items()]
    lines += [_strokes_row(name, e) for name, e in PUBLISHED_TOUCH]
    # The scoring choice, made on validation users only (bench/touch_val_scorings.py), per run.
    out["val_scorings"] = {f"{r.parent.parent.name}/{r.name}": json.loads((r / "val_scorings.json").read_text())
                           for r in [run, *compare] if (r / "val_scorings.json").exists()}
    for other in compare:
        o = json.loads((other / "metrics.json").read_text())
        s0 = json.loads((other / "fold0" / "metrics.json").read_text())["encoder"]["scoring"]
        out.setdefault("compared", {})[str(other)] = {"scoring": s0, "svm_c": _svm_c(other),
                                                     "eer_by_strokes": o["encoder"]["eer_by_k"],
                                                     "variants": _pooled_variants(other, o["folds"])}
        epochs = [json.loads((other / f"fold{k}" / "metrics.json").read_text())["fit"]["epochs"]
                  for k in range(o["folds"])]
        lines.insert(3, _strokes_row(f"ours, run {other.parent.parent.name}/{other.name} ({max(epochs)} epochs "
                                     f"max): encoder, {s0}, SVM C={_svm_c(other):g}", o["encoder"]["eer_by_k"]))
    same = variants.get("features_svm", {}).get("eer_by_strokes")
    if same:
        gap = ", ".join(f"{k}: {out['eer_by_strokes'][k] - same[k]:+.3f}" for k in STROKES)
        lines += ["", f"Headline minus stroke features alone (same split, same negatives, RBF SVM), by strokes: {gap}."]
    return out, "\n".join(lines)


PUBLISHED_BALABIT = [
    ("Antal & Egyed-Zsigmond 2019, per-account random forest on action features", 0.92),
    ("Wang et al. 2025, 1D-ResNet + GRU", 0.9465),
]


def _pooled_sessions(run: Path, key: str) -> dict:
    """Global figures of a leave-one-account-out run: its folds' session scores pooled."""
    from biometrics.data.mouse_modules import session_report

    folds = sorted(run.glob("fold*/metrics.json"))
    reports = [json.loads(f.read_text())["encoder"] for f in folds]
    scores = {k: v for r in reports for k, v in (r if key == "encoder" else r[key])["session_scores"].items()}
    rep = session_report(scores)
    return {"auc_global": rep["auc_global"], "eer_global": rep["eer_global"],
            "auc_by_actions": rep["auc_by_actions"], "eer_by_actions": rep["eer_by_actions"],
            "n_sessions": rep["n_sessions"], "folds": len(folds)}


def _actions_row(name: str, r: dict) -> str:
    return f"| {name} | " + " | ".join(f"{r['auc_by_actions'][a]:.4f}" for a in ACTION_COUNTS) + f" | {r['eer_global']:.4f} |"


def balabit(run: Path, compare: list[Path]) -> tuple[dict, str]:
    """Challenge figures of a published-protocol run; ``compare[0]``: the leave-one-account-out run.

    The headline (top-level figures) is the run's fused row when it has one (the encoder with the
    classic action model, as chosen on validation), with the encoder alone under ``encoder_only``.
    """
    m = json.loads((run / "metrics.json").read_text())
    enc, fused = m["encoder"], m["encoder"].get("with_classic")
    keep = ("auc_global", "eer_global", "auc_by_actions", "eer_by_actions")
    head = fused or enc
    out = {**{k: head[k] for k in keep}, "headline": fused["label"] if fused else "encoder",
           "per_account": head["per_account"], "n_sessions": enc["n_sessions"],
           "n_train_accounts": m["n_train_users"], "model": _model_name(run),
           "val_eer_best": m["fit"]["val_eer_best"], "epochs": m["fit"]["epochs"],
           "command": COMMANDS["balabit_mouse"], "wall_s": m["wall_s"]}
    rows = [(f"ours: {out['model']} action encoder alone, per-account forest on embeddings", enc)]
    if fused:
        out["encoder_only"] = {k: enc[k] for k in keep}
        rows.insert(0, (f"ours (headline): {fused['label']} (action anomalies)", fused))
    if compare:
        lm = json.loads((compare[0] / "metrics.json").read_text())
        loao = _pooled_sessions(compare[0], "encoder")
        loao_fused = _pooled_sessions(compare[0], "with_classic") if fused else None
        out["auc_global_leave_one_account_out"] = (loao_fused or loao)["auc_global"]
        out["leave_one_account_out"] = {**(loao_fused or loao), "command": COMMANDS["balabit_mouse_loao"],
                                        "wall_s": lm["wall_s"]}
        if loao_fused:
            out["leave_one_account_out"]["encoder_only"] = loao
            rows.append(("ours: leave one account out (never saw the account or its test folder), fused the same way",
                         loao_fused))
        rows.append(("ours: leave one account out, encoder alone", loao))
    if (run / "val_heads.json").exists():  # bench/balabit_val_heads.py: how the fusion was chosen
        out["val_heads"] = json.loads((run / "val_heads.json").read_text())
    classic = json.loads((RESULTS / "balabit_classic.json").read_text())
    out["classic"] = {k: {x: v[x] for x in keep} for k, v in classic["variants"].items()}
    rows += [(f"classic: {k} (bench/balabit_classic.py)", v) for k, v in classic["variants"].items()]
    lines = ["| model (816 labelled test sessions) | AUC 1 action | 5 | 10 | 20 | whole session | EER whole session |",
             "| --- " * 7 + "|"]
    lines += [_actions_row(name, r) for name, r in rows]
    lines += [f"| {name} | - | - | - | - | {auc:.4f} | - |" for name, auc in PUBLISHED_BALABIT]
    plot_amount_curve({name.removeprefix("ours: "): r["auc_by_actions"] for name, r in rows},
                      RESULTS / "balabit_mouse_auc_by_actions.png", xlabel="actions seen",
                      ylabel="global AUC (816 sessions)", title="Balabit: AUC vs actions seen")
    out["published"] = {name: auc for name, auc in PUBLISHED_BALABIT}
    return out, "\n".join(lines)


NOTES = {
    "aalto_typenet": (
        "Protocol: TypeNet's, M = 50 keystrokes per sentence, the first G sentences enroll, the last 5 are "
        "genuine queries, one sentence of every other test user is an impostor query; mean Euclidean "
        "distance to the enrollment embeddings; EER per user, averaged. 400 seeded test users and 100 "
        "validation users never seen in training. Our encoder sees timings and the coarse key class only "
        "(the salted key bucket is dropped so one model serves every tenant); TypeNet uses key codes and "
        "50x more training users. The classic detectors score summary vectors of the same tokens."),
    "cmu_folds": (
        "Protocol: subjects in 5 seeded folds; each fold's encoder trains on 4 folds (5 of them held out "
        "for validation) and is evaluated on the held-out fold only: enroll on reps 1-200, genuine = reps "
        "201-400, impostors = the first 5 reps of the other subjects of the same fold (about 50 impostor "
        "vectors per subject instead of the paper's 250). The classic rows score the per-press timing "
        "tokens of the same folds by the same code; the published rows use all 50 other subjects."),
    "touch_serwadda": (
        "Protocol: Serwadda landscape swipes, 59 users in the 5 seeded folds of bench/serwadda_classic.py. "
        "Each fold's encoder trains on both sessions of the other folds' users less 5 validation users "
        "(checkpoint and early stopping = best mean validation EER of the headline scoring at `data.eer_strokes` strokes, 11) and never sees the "
        "fold it is tested on. A test user enrolls on its session-1 strokes and is tested on its session-2 "
        "strokes; impostors are the session-2 strokes of the other users of its fold. Per-stroke score: a "
        "class-balanced two-class model per user (logistic regression or RBF SVM on standardized vectors; "
        "the SVM's C is the run's `data.svm_c`, in each row's name), "
        "positives = the user's session-1 strokes, negatives = 60 seeded session-1 strokes of each "
        "other-fold user (the classic script uses all of them); `distance` = mean distance to the "
        "enrollment embeddings; `_fused` = embeddings and the stroke features side by side. A decision over "
        "k strokes averages k consecutive per-stroke scores; EER per user, then the mean over the 59 users. "
        "Touchalytics' figures are on its own data and protocol, given as anchors only. The headline "
        "scoring was chosen on validation users only (bench/touch_val_scorings.py, all folds' validation "
        "users of an earlier run), never on test users. `stroke features only` rows are the classic on the "
        "very same split and negatives; the classic script's row differs only by using every other-fold "
        "session-1 stroke as a negative (and C=1)."),
    "balabit_mouse": (
        "Protocol: the challenge's. One sequence = one mouse action of at least 4 events (move, "
        "point-and-click, drag-and-drop, scroll; the project's own segmentation of the collector's events), "
        "64 events at most, each event token carrying its action's 26 classic features. Published variant: "
        "the encoder (ArcFace over the 10 accounts) trains on every account's training sessions but its last "
        "one, which validates (chunks of 20 actions claimed by every account, logistic model, drives "
        "checkpointing; 2,000 profile actions per account). Per account, a random forest (200 trees) on the "
        "embeddings of all its training actions against as many of the other accounts' (as the classic "
        "forest) gives each action of a test session an "
        "anomaly 1 - P(owner); the session score is the mean over its first 1, 5, 10, 20 or all actions. "
        "Forest over logistic was chosen on the validation chunks of the first run (EER 0.127 vs 0.196). "
        "Leave one account out: 10 folds, fold k's encoder trains and validates on the 9 other accounts only "
        "and never sees account k's sessions or its test folder; account k's labelled test sessions are then "
        "scored with its training sessions as the profile and the other accounts' as negatives (shorter "
        "training: 4 epochs of 40 batches per fold, 1,000 profile actions in validation). The fused rows weigh "
        "each action's encoder anomaly 0.3 and a per-account gradient-boosting model's on the 26 hand-made "
        "features 0.7 (the same profile and negatives); both the classic model and the weight were chosen on "
        "the validation chunks alone (`python bench/balabit_val_heads.py <run>`, written to the run's "
        "val_heads.json): features by boosting EER 0.088 vs forest 0.097; encoder weight 0.3 AUC 0.9708 vs "
        "0.9697 for 0 and 0.9520 for 1 (`val_heads` in the JSON). The committed runs were trained before that "
        "choice; their fused rows come from their own best checkpoints re-scored under the committed config "
        "(`python -m training.evaluate experiment=balabit_mouse ckpt_path=<run>/checkpoints/<best>.ckpt`, "
        "plus `data.fold=k data.n_folds=10` per leave-one-account-out fold), whose encoder rows match the "
        "runs' own to the last digit; a fresh training run computes the fused rows itself. "
        "Global AUC and EER pool the 816 labelled sessions (411 legal, 405 illegal)."),
}


def touch_plots(out: dict, run: Path) -> None:
    """The run's pooled DET curves and an EER-vs-strokes plot of the table's main rows."""
    if (run / "det.png").exists():
        shutil.copyfile(run / "det.png", RESULTS / "touch_serwadda_det.png")
    v = out["variants"]
    curves = {f"encoder + features, {out['scoring']} (headline)": out["eer_by_strokes"]}
    curves |= {"encoder only, svm": v["svm"]["eer_by_strokes"]} if "svm" in v else {}
    curves |= {"features only, svm (same split)": v["features_svm"]["eer_by_strokes"]} if "features_svm" in v else {}
    curves |= {f"{Path(r).parent.parent.name}, {c['scoring']}, C={c['svm_c']:g}": c["eer_by_strokes"]
               for r, c in out.get("compared", {}).items()}
    curves["classic script"] = out["classic_baseline"]["eer_by_strokes"]
    for e in out["published"].values():
        curves["Touchalytics (own data)"] = {k: e.get(k, np.nan) for k in STROKES}
    plot_amount_curve(curves, RESULTS / "touch_serwadda_eer_by_strokes.png", xlabel="strokes decided on",
                      ylabel="EER (mean over 59 users)", title="Serwadda landscape, inter-session")


FINDINGS = {
    "balabit_mouse": (
        "What was tried, in order, with every run's test figure (whole-session global AUC), so nothing is "
        "hidden: (1) BiGRU-attention action encoder: a 2-layer bidirectional GRU over 64-event actions ran "
        "about 50x slower than the conv-transformer on this CPU, so the conv-transformer was kept. (2) "
        "MultiSimilarity loss with its miner (the keystroke default): embeddings collapsed (mean cosine "
        "0.62 -> 0.95 within 30 steps, loss flat, validation EER stuck at 0.25); event tokens only, "
        "logistic model: 0.70 after 3 epochs. (3) ArcFace, action-context tokens, logistic model, 8 "
        "epochs: 0.78, fused 0.91. On that run's best checkpoint the validation chunks preferred a forest "
        "over the logistic model (EER 0.127 vs 0.196), while the classic forest on the 26 hand-made "
        "features did better still on the same chunks (0.097). (4) The committed config, 14 epochs, "
        "forest on embeddings, 2,000 profile actions per account: 0.901, fused 0.926. (5) Profile = all "
        "the account's training actions, as the classic forest uses (a protocol alignment decided before "
        "seeing its figure, not a tuned value): 0.916, fused 0.941 (reproduced exactly by a rerun). (6) "
        "Validation EER was still falling at the end, so 24 epochs (early-stopping patience 6) were tried "
        "and kept on validation alone (best validation EER 0.173 vs 0.191), decided before its test "
        "figure: the committed headline, 0.911, fused 0.938 (better on 1 action, 0.793 vs 0.767, worse on "
        "whole sessions). The leave-one-account-out folds "
        "train 4 short epochs each on 9 accounts. Verdict: the per-action encoder learns real identity "
        "cues (it separates accounts it never saw in the LOAO folds), but on 10 accounts it does not beat "
        "Antal's hand-made action features with a forest; fused with them (mean) it lands between the two. "
        "(7) Heads compared on the validation chunks of the committed checkpoint (bench/balabit_val_heads.py): "
        "on embeddings forest 0.125 EER, boosting 0.130, logistic 0.173 (kNN 0.131, RBF SVM 0.186 in a side "
        "run); on the features boosting 0.088, forest 0.097; on both side by side boosting 0.098, forest 0.107 "
        "(worse than features alone); session aggregation by mean log-odds or square roots instead of the "
        "mean changed no EER by more than 0.002. The fusion above (0.3 encoder, 0.7 boosting) was fixed from "
        "those figures before its test figure was computed: 0.9526 on test, against 0.9495 for the same "
        "boosting on the features alone in the classic script (gb_2class_with_scroll) and 0.9106 for the "
        "encoder alone. The encoder adds little to the hand-made features on 10 accounts: on the validation "
        "chunks a forest classifies the 10 accounts from the embeddings as well as from the features (45.5% "
        "vs 46.1% of actions), not better. (8) A longer cosine schedule (40 epochs, patience 8; "
        "run balabit_mouse_40) stopped early at epoch 15 with a worse best validation EER (0.200 vs 0.173), "
        "so the 24-epoch config stays; its test figures, for the record: encoder 0.903, fused 0.952. (9) A "
        "wider encoder (hidden and embedding 128; run balabit_mouse_h128) stopped early at epoch 13 with a "
        "worse best validation EER (0.233 vs 0.173); test: encoder 0.896, fused 0.951."),
    "touch_serwadda": (
        "How it was chosen, and what was tried (all runs 5 folds, 59 users; validation = the 5 validation "
        "users of each fold, 25 user-evaluations, `val_scorings` in the JSON). (1) First run, logistic_fused "
        "headline checkpointed on 1 stroke (chosen on fold 0's validation users): test 26.7/20.7/17.6/16.0%. "
        "(2) Scoring re-chosen on all folds' validation users of run 1: svm_fused was the best encoder "
        "scoring at every k (validation 28.1/21.7/19.4/17.6%), so run 2 used it: test 24.8/18.6/16.2/15.1%. "
        "(3) A control whose encoder took a single gradient step (a random GRU feature extractor) did better "
        "at k >= 5, on validation (26.9/19.0/15.2/13.0%) as on test (25.3/18.0/15.1/13.5%): metric learning "
        "on 42 training users learns single-stroke cues (encoder-only svm 26.0% vs 29.8% untrained at 1 "
        "stroke) that do not carry across sessions. (4) Checkpointing on the validation EER at 11 strokes "
        "(the protocol's target) keeps the first epoch (25 batches) in every fold; validation "
        "27.7/20.7/17.6/15.8% against run 2's 27.5/21.6/19.0/17.0%, so it is the committed config and the "
        "headline. Losses tried on fold 0 only (validation): MultiSimilarity (kept), NormalizedSoftmax and "
        "SupCon (no better). (5) Gradient boosting in place of the RBF SVM, on the committed run's validation "
        "users only (`features_boosting`, `boosting_fused` in its val_scorings): features 26.8/21.6/19.7/18.2% "
        "against the SVM's 26.8/20.8/18.3/16.9%, with the embeddings 27.6/21.5/19.4/18.0% against svm_fused's "
        "27.7/20.7/17.6/15.8%: no better at 1 stroke and worse from 5 on, so it was not adopted and no test "
        "figure was computed. (6) The SVM's C, on the same validation users (`svm_fused_c*`): C=0.3 gave "
        "27.5/19.9/16.4/14.4% against 27.7/20.7/17.6/15.8% for C=1 (C=0.1 30.0/21.6/18.0/16.1%, C=3 "
        "28.5/21.7/18.9/16.9%), so the committed config uses C=0.3 and its run is the headline. On test it "
        "did worse than the C=1 run at every k (25.4/18.8/16.1/14.8% against 24.6/17.9/15.1/13.7%): "
        "differences of a point on 25 validation user-evaluations are within noise. The validated choice is "
        "kept and both runs are listed. The sequence of choices was made with earlier runs' test figures in view; every "
        "choice is backed by the validation figures above, and every run's test figures are in this table. "
        "Verdict: the encoder beats the classic script at every k and the same-split stroke-feature SVM at "
        "k >= 5 by about 0.4 to 1.3 points, not at 1 stroke; both targets (3% at 11 strokes, 13% at 1) are "
        "far out of reach on this data with 42 training users per fold."),
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", choices=["aalto_typenet", "balabit_mouse", "cmu_folds", "touch_serwadda"])
    ap.add_argument("run", type=Path, help="the run whose figures are the result")
    ap.add_argument("--compare", type=Path, nargs="*", default=[], help="other runs shown as extra rows")
    args = ap.parse_args(argv)
    builders = {"aalto_typenet": aalto, "cmu_folds": cmu, "touch_serwadda": touch, "balabit_mouse": balabit}
    out, table = builders[args.name](args.run, args.compare)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text(f"# {args.name}\n\nRerun: `{out['command']}`, then "
                                             f"`python bench/training_results.py {args.name} <run dir>`.\n\n"
                                             f"{table}\n\n{NOTES[args.name]}\n"
                                             + (f"\n{FINDINGS[args.name]}\n" if args.name in FINDINGS else ""))
    if args.name == "touch_serwadda":
        touch_plots(out, args.run)
    if args.name == "balabit_mouse":
        shutil.copyfile(args.run / "det.png", RESULTS / "balabit_mouse_det.png")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
