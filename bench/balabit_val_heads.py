"""Choose the Balabit per-account head on validation sessions only (never the labelled test sessions).

    python bench/balabit_val_heads.py logs/balabit_mouse/runs/<run>

Loads a ``balabit_mouse`` run's best checkpoint, embeds its validation stage (each account's
held-out training session, in chunks of ``val_chunk`` actions claimed by every account)
and scores the chunks under every per-account two-class head
(:func:`biometrics.classic.two_class_anomaly`: forest, boosting, logistic) on the
embeddings, on the 26 classic action features and on both side by side, plus the encoder's
forest averaged with the features' boosting at several weights. Prints and writes
``<run>/val_heads.json``: chunk EER and AUC of each.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from biometrics.features.action_tokens import log_action_features
from biometrics.reports import write_json
from training.run import build_datamodule, embed_stage, load_task

METHODS = ("forest", "boosting", "logistic")
ENCODER_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def val_heads(run: Path) -> dict[str, dict[str, float]]:
    """``{head: {"eer", "auc"}}`` on the run's validation chunks."""
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    cfg.paths.output_dir = str(run)
    dm = build_datamodule(cfg)
    ckpt = json.loads((run / "metrics.json").read_text())["fit"]["best_ckpt"]
    emb = embed_stage(load_task(ckpt, cfg, dm), dm, "val")
    feats = log_action_features(dm.index["val"].features)
    inputs = {"embedding": emb, "features": feats, "embedding+features": np.concatenate([emb, feats], 1)}
    anomalies = {f"{name}/{m}": dm.action_anomalies(x, "val", method=m) for name, x in inputs.items() for m in METHODS}
    enc, feat = anomalies["embedding/forest"], anomalies["features/boosting"]
    for w in ENCODER_WEIGHTS:
        anomalies[f"{w:g} * embedding/forest + {1 - w:g} * features/boosting"] = {
            a: w * enc[a] + (1 - w) * feat[a] for a in enc}
    out = {}
    for name, a in anomalies.items():
        r = dm.evaluate_val_chunks(a)
        out[name] = {"eer": r["eer"], "auc": r["auc"]}
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    args = ap.parse_args(argv)
    out = val_heads(args.run)
    write_json(args.run / "val_heads.json", out)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
