"""Fit ``GuardConfig.replay_soft_llr`` on Aalto users outside the replay benchmark's.

    OMP_NUM_THREADS=1 python bench/replay_fit.py          # users 0-299, a few seconds

Per soft value (down-down, hold, up-up, two-press down-down) and number of agreeing grids
(0..SOFT_OFFSETS), the log-likelihood ratio of a press of a replay (+-20 ms uniform jitter
per timestamp and a x0.9-1.1 stretch, ``bench/guards.py``'s ``replay_keys``) against its
source at the true alignment, over a press of another session of the same person at a random
offset (-10..10 presses). Counts come from the keyed sketches themselves (XOR of two presses'
codes), smoothed by one. Prints the table to paste into ``biometrics/guards.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from guards import aalto_people, replay_keys  # bench/guards.py

from biometrics import guards as G
from biometrics.data.paths import datasets_root


def _agree(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[n, groups]`` agreeing grids of aligned presses ``a``, ``b`` (sketch words), both with
    soft words."""
    ok = (a[:, 1] >= 0) & (b[:, 1] >= 0)
    return G._agreeing(a[ok, 1:] ^ b[ok, 1:])


def fit(people: list, rng, per_person: int = 5) -> np.ndarray:
    hist = {k: np.ones((len(G.SOFT_GROUPS), G.SOFT_OFFSETS + 1)) for k in ("replay", "other")}
    key = G.DEV_SKETCH_KEY
    for ss in people:
        words = [G._key_words(G.keystroke_sketch(k, key)) for k in ss]
        for i in rng.choice(len(ss), min(per_person, len(ss)), replace=False):
            if words[i] is None:
                continue
            pairs = []
            r = G._key_words(G.keystroke_sketch(replay_keys(ss[i], "jitter_stretch", rng), key))
            if r is not None:
                n = min(len(r), len(words[i]))
                pairs.append(("replay", r[:n], words[i][:n]))
            j = (i + 1 + int(rng.integers(len(ss) - 1))) % len(ss)
            off = int(rng.integers(-10, 11))
            if words[j] is not None:
                a, b = words[i][max(0, -off):], words[j][max(0, off):]
                n = min(len(a), len(b))
                pairs.append(("other", a[:n], b[:n]))
            for kind, a, b in pairs:
                agree = _agree(a, b)
                for g in range(len(G.SOFT_GROUPS)):
                    hist[kind][g] += np.bincount(agree[:, g], minlength=G.SOFT_OFFSETS + 1)
    p = {k: h / h.sum(1, keepdims=True) for k, h in hist.items()}
    return np.log(p["replay"] / p["other"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets-dir", type=Path, default=None)
    ap.add_argument("--users", type=int, default=300, help="Aalto users 0..N-1 (the benchmark skips 300)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    people = aalto_people(datasets_root(args.datasets_dir), args.users, 0)
    llr = fit(people, np.random.default_rng(args.seed))
    print("replay_soft_llr = (" + ", ".join("(" + ", ".join(f"{x:.1f}" for x in row) + ")" for row in llr) + ")")


if __name__ == "__main__":
    main()
