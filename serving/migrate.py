"""Run the profile store's schema migrations by hand.

    python -m serving.migrate current              # the database's revision and this release's head
    python -m serving.migrate upgrade              # to head (what the API does at start-up)
    python -m serving.migrate upgrade 0001         # or to a given revision
    python -m serving.migrate downgrade 0001       # back (``base`` drops every table)
    python -m serving.migrate stamp 0002           # record a revision without running anything
    python -m serving.migrate history

The database is ``--url``, else ``BIOMETRICS_DATABASE_URL`` (the API's setting), else the
API's default store. Every command that changes the schema runs in one transaction
under the store's schema lock, like start-up.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from biometrics import migrations
from biometrics.store import ProfileStore

# Alembic's 'Running upgrade 0001 -> 0002, ...' lines (and its warnings), on stderr.
_SHOWN = logging.StreamHandler()
_SHOWN.addFilter(lambda r: r.levelno > logging.INFO or r.getMessage().startswith("Running"))


def _default_url() -> str:
    """The API's store: ``BIOMETRICS_DATABASE_URL``, else the settings' default."""
    from serving.settings import DEFAULT_DATABASE_URL

    return os.environ.get("BIOMETRICS_DATABASE_URL") or DEFAULT_DATABASE_URL


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.migrate",
                                     description="Profile store schema migrations (Alembic).")
    parser.add_argument("--url", default=None,
                        help="database URL (default: $BIOMETRICS_DATABASE_URL, else the API's "
                             "default store)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("current", help="print the database's revision and this release's head")
    sub.add_parser("history", help="list the revisions, newest first")
    up = sub.add_parser("upgrade", help="migrate up to REVISION (default head)")
    up.add_argument("revision", nargs="?", default="head")
    down = sub.add_parser("downgrade", help="migrate down to REVISION (base: drop every table)")
    down.add_argument("revision")
    st = sub.add_parser("stamp", help="record REVISION as the schema without running anything")
    st.add_argument("revision")
    args = parser.parse_args(argv)
    url = args.url or _default_url()
    alembic_log = logging.getLogger("alembic")
    alembic_log.setLevel(logging.INFO)
    if _SHOWN not in alembic_log.handlers:
        alembic_log.addHandler(_SHOWN)

    if args.command == "history":
        for s in migrations.script().walk_revisions():
            print(f"{s.revision}  {(s.doc or '').splitlines()[0] if s.doc else ''}")
        return 0
    try:
        with ProfileStore(url, create_tables=False, profile_cache_bytes=0) as store:
            if args.command == "upgrade":
                store.migrate(args.revision)
            elif args.command in ("downgrade", "stamp"):
                fn = migrations.downgrade if args.command == "downgrade" else migrations.stamp
                with store.schema_lock() as conn:
                    fn(conn, args.revision)
            at = store.schema_revision()
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    head = migrations.head()
    print(f"database at {at or 'no revision'}; head is {head}"
          + ("" if at == head else " (run: python -m serving.migrate upgrade)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
