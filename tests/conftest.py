"""Shared fixtures."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_URL_ENV = "BIOMETRICS_TEST_POSTGRES_URL"


def _postgres_url(base: str, schema: str) -> str:
    """``base`` with the psycopg driver and ``search_path`` set to ``schema``."""
    from sqlalchemy.engine import make_url

    u = make_url(base)
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    u = u.update_query_dict({"options": f"-csearch_path={schema}"})
    return u.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A profile store URL: a fresh SQLite file, or a private schema in the PostgreSQL
    database named by ``BIOMETRICS_TEST_POSTGRES_URL`` (dropped after the test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'profiles.db'}"
        return
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"set {POSTGRES_URL_ENV} to run the PostgreSQL store tests")
    from sqlalchemy import create_engine, text

    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_postgres_url(base, "public"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def profile_store(store_url: str):
    """A :class:`biometrics.store.ProfileStore` on ``store_url``, closed after the test."""
    from biometrics.store import ProfileStore

    store = ProfileStore(store_url)
    yield store
    store.close()
