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
