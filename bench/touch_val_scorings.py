"""Choose the touch encoder's per-stroke scoring on validation users only (never the test folds).

    python bench/touch_val_scorings.py logs/touch_serwadda/runs/<run>

Loads every fold's best checkpoint of a ``touch_serwadda`` run, embeds that fold's
validation users (other-fold users the encoder never trained on) and scores them under
every scoring of :data:`biometrics.data.touch_modules.SCORINGS`, gradient boosting on both,
the stroke features alone and the SVM scorings over a grid of its C; prints and writes ``<run>/val_scorings.json``: the mean per-user EER by strokes
over all folds' validation users.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from biometrics.data.serwadda import STROKE_COUNTS
from biometrics.data.touch_modules import SCORINGS, inter_session_scores, per_user_eers
from biometrics.reports import write_json
from training.run import build_datamodule, embed_stage, load_task

SVM_C_GRID = (0.1, 0.3, 1.0, 3.0)


def fold_val_eers(run: Path, fold: int) -> dict[str, dict[str, dict[int, float]]]:
    """``{scoring: {k: {user: eer}}}`` of one fold's validation users."""
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    cfg.paths.output_dir = str(run / f"fold{fold}")
    dm = build_datamodule(cfg, fold=fold, n_folds=cfg.folds)
    ckpt = json.loads((run / f"fold{fold}" / "metrics.json").read_text())["fit"]["best_ckpt"]
    emb = embed_stage(load_task(ckpt, cfg, dm), dm, "val")
    feats, data = dm.baseline_vectors("val"), dm.sets["val"]
    fused, c = np.concatenate([emb, feats], 1), dm.svm_c
    inputs = {n: (fused, n.removesuffix("_fused"), c) if n.endswith("_fused") else (emb, n, c) for n in SCORINGS}
    inputs |= {f"features_{m}": (feats, m, c) for m in ("logistic", "svm", "boosting")}
    inputs["boosting_fused"] = (fused, "boosting", c)  # not a test scoring: tried here only
    for grid_c in SVM_C_GRID:  # the SVM's regularization, chosen here
        inputs[f"svm_fused_c{grid_c:g}"] = (fused, "svm", grid_c)
        inputs[f"features_svm_c{grid_c:g}"] = (feats, "svm", grid_c)
    return {n: per_user_eers(inter_session_scores(v, data, m, svm_c=sc)) for n, (v, m, sc) in inputs.items()}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    args = ap.parse_args(argv)
    folds = OmegaConf.load(args.run / ".hydra" / "config.yaml").folds
    per_fold = [fold_val_eers(args.run, f) for f in range(folds)]
    out = {n: {str(k): float(np.mean([e for f in per_fold for e in f[n][str(k)].values()]))
               for k in STROKE_COUNTS} for n in per_fold[0]}
    out["n_val_users"] = sum(len(f["logistic"]["1"]) for f in per_fold)
    write_json(args.run / "val_scorings.json", out)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
