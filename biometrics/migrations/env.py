"""Alembic environment: runs on the connection :func:`biometrics.migrations.config` hands it.

The caller owns the connection and its transaction (the profile store's schema lock is held
in it), so nothing here opens, commits or closes anything.
"""

from __future__ import annotations

from alembic import context

from biometrics.store import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the profile store's migrations through biometrics.migrations "
                       "(python -m biometrics.migrate), which passes a connection")
if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")

context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite",
                  transactional_ddl=True)  # PostgreSQL, and SQLite in our BEGIN IMMEDIATE
with context.begin_transaction():
    context.run_migrations()
