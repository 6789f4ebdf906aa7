"""Why the password scorer is for keyboards only: its head on phone PINs, beside the phone scorer.

    python bench/password_timing_phones.py [--datasets-dir DIR]

StrokePIN fold 0 (the users the served phone scorer never saw; ``bench/product_accuracy.py
--benchmark strokepin``'s protocol): each (user, PIN, posture) cell with at least 4 entries
enrolls its first 3, entries 4-5 are genuine queries, every entry of that PIN and posture by the
fold's other users an impostor query. Each entry is scored by :class:`FixedTextHead` (the
password scorer's head, its default floor) on the scorer's own ``password`` unit. Prints JSON:
ROC AUC, pooled EER and EER per cell, to read beside the served phone scorer's
(``strokepin_phone`` in ``bench/results/product_accuracy.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from biometrics.data import strokepin
from biometrics.data.paths import datasets_root
from biometrics.data.sessions import keystroke_session
from biometrics.data.strokepin_modules import test_users
from biometrics.heads.fixed_text import FixedTextHead
from biometrics.metrics import eer, roc_auc
from biometrics.modalities import MODALITIES


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets-dir", default=None)
    args = ap.parse_args(argv)
    entries = strokepin.load_entries(datasets_root(args.datasets_dir))
    test = test_users(entries)
    unit = MODALITIES["keystrokes"]
    cells = strokepin.cells_of(entries, lambda e: e.user in test, lambda e: unit.items(
        keystroke_session(e.keys, device_type="mobile"), "password").features[0])
    head = FixedTextHead()
    genuine, impostor, per_cell = [], [], []
    for _, enroll, queries, others in strokepin.cell_trials(cells):
        state = {"enroll": np.stack(enroll)}
        g, i = head.score(state, np.stack(queries)), head.score(state, np.stack(others))
        g, i = g[np.isfinite(g)], i[np.isfinite(i)]
        genuine += g.tolist()
        impostor += i.tolist()
        if g.size and i.size:
            per_cell.append(eer(g, i))
    out = {"protocol": "StrokePIN fold 0, within posture, G = 3, one entry per decision",
           "head": head.payload(), "n_genuine": len(genuine), "n_impostor": len(impostor),
           "roc_auc": round(float(roc_auc(genuine, impostor)), 4), "eer_pooled": round(float(eer(genuine, impostor)), 4),
           "eer_mean_per_cell": round(float(np.mean(per_cell)), 4), "command": "python bench/password_timing_phones.py"}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
