"""Re-embed every stored profile under a new model bundle: ``python -m serving.reembed --bundle B``.

Upgrading the served bundle (``BIOMETRICS_BUNDLE_PATH``) from A to B must not send users back
to enrolling. Each enrolled session's item inputs are kept with the profile, encrypted
(``BIOMETRICS_KEEP_ENROLLMENT_INPUTS``, ``BIOMETRICS_PROFILE_KEY``); this command makes B's
vectors (and refits B's heads) from them for every modality whose profile has none of B's,
and files them beside A's (so the API can keep serving A, and a rollback to A still finds
A's vectors). Then point the API at B: its profiles are current, their scores those of a fresh
enrollment of the same sessions under B.

    BIOMETRICS_DATABASE_URL=... BIOMETRICS_PROFILE_KEY=... python -m serving.reembed --bundle bundles/b.pt

The database, the profile key and the profile rules (``BIOMETRICS_MIN_ENROLL_SESSIONS``) come
from the API's settings (``--url`` overrides the database). One short transaction per user;
embedding happens outside it, and a profile enrolled meanwhile is left for the next run
(``changed_meanwhile``). Idempotent and resumable: a modality already current for B is
skipped, so running it again (e.g. just before switching, for sessions enrolled since) does
only what is left. It prints one JSON line: users seen, and per outcome the modalities:
``reembedded``, ``current``, and those it cannot re-embed: ``no_inputs`` (enrolled before
inputs were kept, or with keeping off), ``too_few_inputs`` (fewer kept sessions than the
profile needs to verify), ``input_spec_changed`` (B cuts sessions differently: another unit,
feature configuration or unit options), ``inputs_not_kept`` (B needs tokens or item features
A's scorer did not use), ``no_scorer`` (B has no scorer of that name), ``changed_meanwhile``.
Those profiles stay as they are: B scores them with the reason ``profile_model_outdated``
(policy ``BIOMETRICS_OUTDATED_DECISION``) until their next enrollment under B. Nothing it
prints or logs holds a user id, key or input.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from biometrics.bundle import ModelBundle
from biometrics.profiles import ProfileConfig
from biometrics.scoring import Scorer
from biometrics.service import BiometricService
from biometrics.store import ProfileKeyError, ProfileStore


def reembed_store(service: BiometricService, batch: int = 200) -> dict:
    """Re-embed every profile of the service's store under its bundle; the counts (see the module)."""
    outcomes: Counter[str] = Counter()
    users = ready = 0
    after = 0
    while rows := service.store.user_keys(after, batch):
        for row_id, tenant, key in rows:
            after = row_id
            got = service.reembed_user(tenant, key)
            if not got:
                continue
            users += 1
            outcomes.update(got.values())
            ready += all(v in ("current", "reembedded") for v in got.values())
    return {"model_version": service.model_version, "users": users, "users_current": ready,
            "modalities": dict(sorted(outcomes.items()))}


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns the exit status."""
    from serving.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m serving.reembed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="the new model bundle (.pt) to re-embed under")
    parser.add_argument("--url", help="profile store URL (default: BIOMETRICS_DATABASE_URL)")
    parser.add_argument("--batch", type=int, default=200, help="users read per query")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings()
    if not args.bundle.is_file():
        print(f"no model bundle at {args.bundle}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(settings.torch_threads)
    scorer = Scorer(ModelBundle.load(args.bundle))
    try:
        store = ProfileStore(args.url or settings.database_url, profile_key=settings.profile_key_bytes)
    except ProfileKeyError as err:
        print(f"the profile key does not open the stored inputs: {err}", file=sys.stderr)
        return 2
    config = ProfileConfig(min_enroll_sessions=settings.min_enroll_sessions,
                           auto_update_max_risk=settings.auto_update_max_risk,
                           keep_inputs=settings.keep_enrollment_inputs)
    try:
        service = BiometricService(scorer, store, config, settings.user_id_secret.get_secret_value().encode())
        print(json.dumps(reembed_store(service, args.batch), sort_keys=True))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
