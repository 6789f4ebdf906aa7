"""Evaluate a model bundle on your own labelled sessions, through the scoring service.

    python -m training.evaluate_bundle --bundle bundles/sample.pt --sessions sample_data/sessions.jsonl
    python -m training.evaluate_bundle --bundle bundles/default.pt --sessions my_sessions.jsonl \\
        --enroll 5 --impostors 10 --out report.json

No checkpoint, no Hydra run directory: the bundle is served as the API serves it
(``serving.app.build_service`` on a temporary SQLite file, settings from ``BIOMETRICS_*``
environment variables as for the API, e.g. ``BIOMETRICS_TARGET_FAR``), each account enrolls
its ``enroll`` sessions (one a guard refuses is replaced by the next) and every ``test``
session is scored against the account it claims. Prints one JSON line with the figures of
``bench/product_accuracy.py``: EER (mean per user and pooled), ROC AUC, FAR at 1% FRR, the
allow / challenge / deny table of genuine and impostor sessions, impostors allowed, genuine
denied, reasons, refused enrollments, thresholds, latency per score and the model version;
plus bots and replays (``attacks``) and the figures per device type (``by_device``).

The file (JSON lines, or Parquet with pyarrow): one labelled session per line,
``{"user_id": "u003", "split": "enroll"|"test", "label": "genuine"|"impostor"|"bot"|"replay",
"session": {...session contract v2...}}`` as in ``sample_data/sessions.jsonl``. ``user_id`` is
the account the session enrolls into or is scored against; an ``impostor`` session is someone
else's, claiming that account. With ``--impostors K`` each genuine test session is also scored
against K other enrolled accounts drawn with ``--seed`` (zero-effort impostor trials), for data
without impostor sessions. A bad file (unknown label or field, a malformed session, an account
with test sessions but no enrollment) stops with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from biometrics.labelled_sessions import InputError, read_labelled_sessions
from serving.evaluation import evaluate_labelled_sessions


def _fail(message: str) -> None:
    print(f"evaluate_bundle: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> dict:
    """Parse the arguments, evaluate, print (and with ``--out`` write) the JSON report; return it."""
    ap = argparse.ArgumentParser(prog="python -m training.evaluate_bundle",
                                 description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[5:]))
    ap.add_argument("--bundle", type=Path, required=True, help="the model bundle (e.g. bundles/default.pt)")
    ap.add_argument("--sessions", type=Path, required=True,
                    help="labelled sessions: a .jsonl file (or a folder with sessions.jsonl), or a .parquet file")
    ap.add_argument("--enroll", type=int, default=None,
                    help="enrollment sessions per account, also the profile's minimum "
                         "(default: every enroll session; minimum from the settings, 3)")
    ap.add_argument("--impostors", type=int, default=0,
                    help="also score each genuine test session against K other enrolled accounts (default 0)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the --impostors draws (default 0)")
    ap.add_argument("--out", type=Path, default=None, help="also write the report (indented JSON) here")
    args = ap.parse_args(argv)
    if not args.bundle.is_file():
        _fail(f"no model bundle at {args.bundle}")
    try:
        records = read_labelled_sessions(args.sessions)
        report = evaluate_labelled_sessions(records, args.bundle, enroll=args.enroll,
                                            impostors=args.impostors, seed=args.seed)
    except InputError as err:
        _fail(str(err))
    except ValueError as err:  # a bundle this release cannot serve (BundleError), a bad setting
        _fail(f"{type(err).__name__}: {err}".replace("\n", " "))
    if report["users_not_enrolled"]:
        print(f"evaluate_bundle: warning: every enrollment session of {len(report['users_not_enrolled'])} "
              "account(s) was refused; their test sessions were not scored (users_not_enrolled)",
              file=sys.stderr)
    report["command"] = "python -m training.evaluate_bundle " + " ".join(
        sys.argv[1:] if argv is None else argv)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
