"""A score's decision row and replay signatures are written behind the answer (write_behind_ms),
and a clean shutdown writes what is still queued; write_behind_ms 0 writes before answering."""

from __future__ import annotations

import sqlite3
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from biometrics.profiles import user_key
from serving.app import create_app
from serving.settings import Settings
from tests.api.conftest import HEADERS_A, MIN_ENROLL, SECRET, session_json


def _stored(db_path, user: str) -> tuple[int, int]:
    """(decision rows, bytes of the keystroke replay ring) of a user, read from the file."""
    key = user_key("tenant-a", user, SECRET.encode())
    with sqlite3.connect(db_path) as db:
        (uid,) = db.execute("SELECT id FROM users WHERE user_key = ?", (key,)).fetchone()
        n = db.execute("SELECT count(*) FROM decisions WHERE user_id = ?", (uid,)).fetchone()[0]
        (ring,) = db.execute("SELECT signatures FROM modality_profiles WHERE user_id = ? AND "
                             "modality = 'keystrokes'", (uid,)).fetchone()
    return n, len(ring)


def _enroll_and_score(client: TestClient, sessions, user: str) -> dict:
    for rec in sessions["u005"]["enroll"][:MIN_ENROLL]:
        r = client.post(f"/v1/users/{user}/enroll", headers=HEADERS_A,
                        json={"session": session_json(rec.session)})
        assert r.status_code == 200, r.text
    genuine = session_json(sessions["u005"]["genuine"][3].session)
    genuine.pop("session_id", None)  # an idempotent score is written in its own transaction
    r = client.post("/v1/score", headers=HEADERS_A, json={"user_id": user, "session": genuine})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_default_writes_behind_and_a_clean_shutdown_writes_the_rest(settings_for, sessions):
    assert Settings.model_fields["write_behind_ms"].default > 0
    settings = settings_for(write_behind_ms=10_000)  # the timer writes nothing during this test
    with TestClient(create_app(settings)) as client:
        answer = _enroll_and_score(client, sessions, "behind")
        empty_ring = 8  # a vectors blob holding no vector
        assert _stored(settings.sqlite_path, "behind") == (0, empty_ring)  # answered, not yet written
    n, ring = _stored(settings.sqlite_path, "behind")
    assert n == 1
    assert ring > empty_ring or answer["decision"] != "allow"


def test_without_write_behind_the_answer_follows_the_write(settings_for, sessions):
    settings = settings_for(write_behind_ms=0)
    with TestClient(create_app(settings)) as client:
        _enroll_and_score(client, sessions, "synchronous")
        assert _stored(settings.sqlite_path, "synchronous")[0] == 1
