"""API test fixtures: a tiny model bundle, synthetic sessions, and a module-scoped client over the
real app (``create_app``) with a real SQLite file.

The bundle is built here rather than read from ``bundles/``: small untrained encoders (one per
modality) whose calibration is fitted on synthetic genuine and impostor distances, so the
tests are fast and do not depend on a trained artifact. Untrained encoders still separate
keystroke rhythms somewhat (AUC about 0.8), which is enough for a genuine-vs-impostor check
on averages.
"""

from __future__ import annotations

import uuid
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

with warnings.catch_warnings():  # starlette asks for httpx2, which this project does not use
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from untrained import untrained_bundle

from biometrics.calibration import Calibration, fit_calibration
from biometrics.distances import mean_distance
from biometrics.events import Session
from biometrics.scoring import Scorer
from biometrics.synthetic import LabelledSession, generate_dataset
from serving.app import create_app
from serving.settings import Settings

KEY_A, KEY_B = "key-of-tenant-a", "key-of-tenant-b"
HEADERS_A, HEADERS_B = {"X-API-Key": KEY_A}, {"X-API-Key": KEY_B}
SECRET = "test-user-id-secret-0123456789abcdef"
MIN_ENROLL = 3

# One intra-op thread, as the app runs (settings.torch_threads): on a busy 2-core machine
# torch's default thread pool makes each tiny encoder call hundreds of times slower.
torch.set_num_threads(1)


def build_tiny_bundle(path: Path, seed: int = 0, hidden: int = 16, embedding_dim: int = 16,
                      model_version: str = "tiny-test") -> Path:
    """Write a small bundle of untrained TypeNet encoders, calibrated on synthetic sessions."""
    bundle = untrained_bundle(model_version, hidden, embedding_dim, 256, Calibration(1.0, 0.0, 0, 0, 0, 0), seed)
    scorer = Scorer(bundle)
    records = generate_dataset(n_users=6, sessions_per_user=7, n_impostor=18, n_bot=0, n_replay=0,
                               seed=1000 + seed, n_enroll=4)
    observed = [(r, scorer.observe(r.session)) for r in records]
    for name, model in bundle.scorers.items():
        enrolled = defaultdict(list)
        for r, o in observed:
            if r.split == "enroll" and name in o.vectors:
                enrolled[r.user_id].append(o.vectors[name])
        genuine, impostor = [], []
        for r, o in observed:
            if r.split == "test" and name in o.vectors and r.user_id in enrolled:
                d = float(mean_distance(np.concatenate(enrolled[r.user_id]), o.vectors[name])[0])
                (genuine if r.label == "genuine" else impostor).append(d)
        if genuine and impostor:
            model.calibration = fit_calibration(np.array(genuine), np.array(impostor))
    bundle.save(path)
    return path


def session_json(session: Session) -> dict:
    """A session as the collector would post it."""
    return session.model_dump(mode="json", exclude_defaults=True)


def new_id(session: Session) -> Session:
    """The session under a fresh ``session_id``: another request, not a retry of the first
    (a request with a used id and the same body gets the first answer, with another body 409)."""
    return session.model_copy(update={"session_id": str(uuid.uuid4())})


def keys_of(value) -> set[str]:
    """Every key of a JSON document, recursively."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()



@dataclass
class Api:
    """The client over the real app, plus what tests need to look behind it."""

    client: TestClient
    db_path: Path
    settings: Settings
    headers_a = HEADERS_A
    headers_b = HEADERS_B
    secret = SECRET
    min_enroll = MIN_ENROLL
    session_json = staticmethod(session_json)
    keys_of = staticmethod(keys_of)
    new_id = staticmethod(new_id)

    @property
    def app(self):
        return self.client.app

    @property
    def service(self):
        return self.app.state.service

    def flush(self) -> None:
        """Write what the app queued: decision rows and replay signatures are written behind
        (``write_behind_ms``), so a test reading the SQLite file itself flushes first."""
        self.service.store.flush()

    def enroll(self, user_id: str, session: Session, headers: dict = HEADERS_A):
        return self.client.post(f"/v1/users/{user_id}/enroll", json={"session": session_json(session)},
                                headers=headers)

    def score(self, user_id: str, session: Session, update_profile: bool = False,
              headers: dict = HEADERS_A):
        return self.client.post("/v1/score", headers=headers, json={
            "user_id": user_id, "session": session_json(session), "update_profile": update_profile})


@pytest.fixture(scope="session")
def bundle_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny calibrated bundle, built once per test session."""
    return build_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny.pt")


@pytest.fixture(scope="session")
def dataset() -> list[LabelledSession]:
    """Synthetic labelled sessions: genuine (enroll/test), impostor, bot and replay."""
    return generate_dataset(n_users=6, sessions_per_user=12, n_impostor=24, n_bot=6, n_replay=6,
                            seed=7, n_enroll=6)


@pytest.fixture(scope="session")
def sessions(dataset) -> dict[str, dict[str, list[LabelledSession]]]:
    """``sessions[user_id][kind]`` with kinds enroll (6), genuine (6 test), impostor (4), bot, replay.

    Scoring a session stores its replay signature, so every test scores its own sessions.
    """
    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in dataset:
        kind = "enroll" if r.split == "enroll" else r.label
        out[r.user_id][kind].append(r)
    return out


def make_settings(tmp: Path, bundle: Path, **overrides) -> Settings:
    """Settings for a test app: two tenants, a SQLite file under ``tmp``."""
    values = {"bundle_path": bundle, "database_url": f"sqlite:///{tmp / 'profiles.db'}",
              "api_keys": {KEY_A: "tenant-a", KEY_B: "tenant-b"}, "user_id_secret": SECRET,
              "min_enroll_sessions": MIN_ENROLL}
    return Settings(**(values | overrides))


@pytest.fixture
def settings_for(tmp_path: Path, bundle_path: Path):
    """Build test settings on a fresh SQLite file: ``settings_for(bundle_path=..., ...)``."""
    return lambda **overrides: make_settings(tmp_path, overrides.pop("bundle_path", bundle_path), **overrides)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, bundle_path: Path) -> Iterator[Api]:
    """A client over the real app (lifespan run) with its own SQLite file, per test module."""
    tmp = tmp_path_factory.mktemp("api")
    settings = make_settings(tmp, bundle_path)
    with TestClient(create_app(settings)) as client:
        yield Api(client, tmp / "profiles.db", settings)
        assert client.app.state.metrics.unhandled == 0, "a request reached the catch-all handler"

