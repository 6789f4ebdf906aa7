"""Promote the challenger: make a bundle the champion the API serves.

    python -m serving.promote --challenger bundles/challenger.pt            # the champion: $BIOMETRICS_BUNDLE_PATH
    python -m serving.promote --challenger bundles/challenger.pt --bundle bundles/default.pt
    python -m serving.promote --challenger bundles/challenger.pt --dry-run  # validate only

1. validates the challenger: it loads as a bundle this release serves, and its scorers embed a
   synthetic session; its model version differs from the champion's (else nothing to do);
2. keeps the champion as a backup beside it (``<name>.<UTC time>.<model version>.bak.pt``),
   copied, so the served path never disappears;
3. replaces the champion's file with the challenger's atomically (written to a temporary file
   in the same folder, flushed to disk, then renamed over it): a process that loads the bundle
   meanwhile reads the old file or the new one, never half of one.

It prints one JSON line (both versions, the paths) and exits 0; 1 when the challenger is not
servable (nothing is changed). The running API processes keep the bundle they loaded: restart
them (a rolling restart of the workers), and unset ``BIOMETRICS_CHALLENGER_BUNDLE_PATH`` or point
it at the next challenger (one with the champion's model version is ignored with a warning).
Profiles are versioned with their model: after the restart, a user's modalities made by the old
champion re-enroll under the new one (see the README). To roll back, promote the backup.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

RESTART = ("restart the API workers to serve it (they keep the bundle they loaded); unset "
           "BIOMETRICS_CHALLENGER_BUNDLE_PATH or point it at the next challenger")


def validate(path: Path) -> str:
    """The model version of a servable bundle at ``path``; raises with a message otherwise."""
    from biometrics.bundle import ModelBundle
    from biometrics.scoring import Scorer
    from biometrics.synthetic import generate_dataset

    bundle = ModelBundle.load(path)
    scorer = Scorer(bundle)
    session = generate_dataset(n_users=2, sessions_per_user=2, n_impostor=0, n_bot=0, n_replay=0, seed=3,
                               n_enroll=1, mobile_fraction=0.0)[0].session
    observed = scorer.observe(session)
    if not observed.vectors:
        raise ValueError(f"{path}: the bundle embeds none of the modalities of a synthetic session")
    return bundle.model_version


def _backup_path(champion: Path, version: str, now: datetime) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", version)[:80]
    return champion.with_name(f"{champion.stem}.{now:%Y%m%dT%H%M%SZ}.{safe}.bak{champion.suffix}")


def _atomic_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` over ``dst`` atomically (temporary file in ``dst``'s folder, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(dst.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


def promote(challenger: Path, champion: Path, *, dry_run: bool = False,
            now: datetime | None = None) -> dict:
    """Validate ``challenger`` and make it the bundle at ``champion`` (old one kept as a backup).

    Returns what was done; raises ValueError (or the bundle's own error) when it cannot be promoted.
    """
    from biometrics.bundle import ModelBundle

    new_version = validate(challenger)
    old_version = ModelBundle.load(champion).model_version if champion.is_file() else None
    if old_version == new_version:
        raise ValueError(f"the champion at {champion} already has model version {new_version!r}; "
                         "nothing to promote")
    if champion.exists() and challenger.resolve() == champion.resolve():
        raise ValueError("the challenger and the champion are the same file")
    out = {"promoted": new_version, "previous": old_version, "bundle": str(champion), "backup": None,
           "dry_run": dry_run, "next": RESTART}
    if dry_run:
        return out
    champion.parent.mkdir(parents=True, exist_ok=True)
    if old_version is not None:
        backup = _backup_path(champion, old_version, now or datetime.now(UTC))
        shutil.copy2(champion, backup)
        out["backup"] = str(backup)
    _atomic_copy(challenger, champion)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.promote", description=__doc__.split("\n\n")[0])
    parser.add_argument("--challenger", type=Path, required=True, help="the bundle to promote")
    parser.add_argument("--bundle", type=Path,
                        default=Path(os.environ.get("BIOMETRICS_BUNDLE_PATH", "bundles/default.pt")),
                        help="the champion's bundle file the API serves (default: $BIOMETRICS_BUNDLE_PATH "
                             "or bundles/default.pt)")
    parser.add_argument("--dry-run", action="store_true", help="validate only; change nothing")
    args = parser.parse_args(argv)
    try:
        out = promote(args.challenger, args.bundle, dry_run=args.dry_run)
    except Exception as exc:  # noqa: BLE001 - a clear message, nothing changed
        print(f"not promoted: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
