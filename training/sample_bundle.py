"""Train the small shipped bundle on synthetic users (one encoder per modality) and export it.

    python -m training.sample_bundle [--out bundles/sample.pt] [--epochs 8]

Three Hydra runs of ``experiment=synthetic`` (keystrokes, pointer, touch), then
``training.export`` over them. The synthetic users are generated from other seeds than
``sample_data/``, so the demo's users are never in this bundle's training data.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from training.export import export_runs
from training.run import ROOT

#: Events a session typically holds per modality, so crops cover whole sessions.
MAX_LEN = {"keystrokes": 64, "pointer": 128, "touch": 96}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bundles/sample.pt")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=101)
    args = ap.parse_args(argv)
    runs = []
    for modality, max_len in MAX_LEN.items():
        run_dir = ROOT / "logs" / "sample_bundle" / modality
        subprocess.run([sys.executable, "-m", "training.train", "experiment=synthetic", "logger=none",
                        f"data.modality={modality}", f"data.max_len={max_len}", f"seed={args.seed}",
                        f"trainer.max_epochs={args.epochs}", f"hydra.run.dir={run_dir}"],
                       check=True, cwd=ROOT)
        runs.append(run_dir)
    bundle = export_runs(runs, model_version=f"sample-synthetic-s{args.seed}")
    bundle.save(Path(args.out))
    print(f"bundle {bundle.model_version} with {sorted(bundle.scorers)} written to {args.out}")


if __name__ == "__main__":
    main()
