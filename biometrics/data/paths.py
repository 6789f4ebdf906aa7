"""Where real data sets live: never inside the repo, configurable per machine."""

from __future__ import annotations

import os
from pathlib import Path

DATASETS_ENV = "BIOMETRICS_DATASETS"

# <project root>/../shared/datasets: this file is <project root>/biometrics/data/paths.py.
_DEFAULT_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def datasets_root(override: str | Path | None = None) -> Path:
    """The datasets root: ``override``, else ``$BIOMETRICS_DATASETS``, else ``../shared/datasets``."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(DATASETS_ENV)
    if env:
        return Path(env).expanduser()
    return _DEFAULT_ROOT


def dataset_file(root: str | Path | None, folder: str, name: str) -> Path:
    """Path of dataset file ``folder/name`` under a datasets root (``root`` may also be the file
    or its folder); a clear error says where it looked and how to point elsewhere."""
    base = datasets_root(root)
    for candidate in (base, base / name, base / folder / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{name} not found under {base} (looked in {base / folder}); pass the datasets root, "
        f"or set {DATASETS_ENV} to the folder that holds {folder}/"
    )
