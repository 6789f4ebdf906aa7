"""The password unit and the fixed-text head: a password field timed position by position."""

import dataclasses

import numpy as np
import pytest
from untrained import untrained_bundle

from biometrics.bundle import BundleError, ModelBundle
from biometrics.calibration import Calibration
from biometrics.events import KeyClass, KeyEvent, Session
from biometrics.heads.fixed_text import FixedTextHead
from biometrics.modalities import MODALITIES, PASSWORD_FEATURES, PASSWORD_MAX_PRESSES
from biometrics.scorers import ModalityScorer
from biometrics.scoring import Observed, Scorer, ScoringConfig

LETTER, MASKED = int(KeyClass.LETTER), int(KeyClass.MASKED)


def typed(presses: list[tuple[float, float, int]], device: str = "desktop") -> Session:
    """A session of (down time, hold, key class) presses, one press id each."""
    events = []
    for i, (t, hold, cls) in enumerate(presses):
        events += [KeyEvent(t=t, type="down", key_class=cls, press=i),
                   KeyEvent(t=t + hold, type="up", key_class=cls, press=i)]
    events.sort(key=lambda e: e.t)
    return Session(schema_version=2, keystrokes=events, meta={"device_type": device})


def login(rng: np.random.Generator, holds: np.ndarray, waits: np.ndarray, noise: float = 0.05) -> Session:
    """Three login-name letters, then the password: a person's per-position holds and waits, jittered."""
    h = holds * np.exp(rng.normal(0, noise, holds.size))
    w = waits * np.exp(rng.normal(0, noise, waits.size))
    name = [(100.0 * i, 80.0, LETTER) for i in range(3)]
    t = 800.0 + np.concatenate([[0.0], np.cumsum(w)])
    return typed(name + [(float(a), float(b), MASKED) for a, b in zip(t, h)])


def password_row(session: Session) -> np.ndarray:
    return MODALITIES["keystrokes"].items(session, "password").features[0]


def test_the_password_unit_times_the_last_masked_run_by_position():
    s = typed([(0, 90, LETTER), (150, 70, MASKED), (400, 60, MASKED),  # a first masked field
               (900, 80, LETTER),  # another field between
               (1500, 100, MASKED), (1700, 50, MASKED), (2000, 120, MASKED)])
    items = MODALITIES["keystrokes"].items(s, "password")
    assert items.n_tokens == 3 and items.features.shape == (1, len(PASSWORD_FEATURES))
    row = items.features[0]
    assert row[0] == 3
    np.testing.assert_allclose(row[1:4], np.log([100, 50, 120]), rtol=1e-6)
    assert not row[4:1 + PASSWORD_MAX_PRESSES].any()
    dd = row[1 + PASSWORD_MAX_PRESSES:]
    assert dd[0] == 0
    np.testing.assert_allclose(dd[1:3], np.log([200, 300]), rtol=1e-6)
    assert not dd[3:].any()


def test_no_masked_presses_is_no_password_to_score():
    s = typed([(0, 90, LETTER), (150, 70, LETTER), (300, 70, LETTER), (450, 70, LETTER), (600, 70, LETTER)])
    assert MODALITIES["keystrokes"].items(s, "password").n_tokens == 0


def test_the_head_tells_the_owner_from_another_typist_of_the_same_password():
    rng = np.random.default_rng(0)
    owner = (rng.uniform(60, 140, 10), rng.uniform(100, 300, 9))
    other = (rng.uniform(60, 140, 10), rng.uniform(100, 300, 9))
    enroll = np.stack([password_row(login(rng, *owner)) for _ in range(6)])
    head = FixedTextHead()
    genuine = head.score({"enroll": enroll}, np.stack([password_row(login(rng, *owner)) for _ in range(20)]))
    impostor = head.score({"enroll": enroll}, np.stack([password_row(login(rng, *other)) for _ in range(20)]))
    assert genuine.max() < impostor.min()


def test_a_password_of_another_length_is_not_scored():
    rng = np.random.default_rng(1)
    holds, waits = rng.uniform(60, 140, 10), rng.uniform(100, 300, 9)
    enroll = np.stack([password_row(login(rng, holds, waits)) for _ in range(4)])
    shorter = password_row(login(rng, holds[:9], waits[:8]))[None]
    head = FixedTextHead()
    assert np.isnan(head.score({"enroll": enroll}, shorter)).all()
    # Two rows of the length are fewer than min_matches (3).
    mixed = np.concatenate([enroll[:2], np.repeat(shorter, 2, 0)])
    assert np.isnan(head.score({"enroll": mixed}, enroll[2:3])).all()


def _bundle_with_password(password_cal: Calibration) -> ModelBundle:
    bundle = untrained_bundle("v", 8, 8, 64, Calibration(10.0, -5.0, 0, 0, 0, 0))
    spec = MODALITIES["keystrokes"]
    bundle.scorers["password_timing"] = ModalityScorer(
        "password_timing", "keystrokes", "password", spec.default_feature_config(), FixedTextHead(),
        password_cal, None, ("features",), devices=("desktop", "unknown"), replaces="keystrokes")
    return bundle


class Profile:
    state = "verifying"

    def __init__(self, vectors):
        self.vectors = vectors

    def embeddings(self, name, version):
        return self.vectors.get(name)

    def head_state(self, name, version):
        return {}

    def replay_signatures(self, name):
        return []


def test_the_password_scorer_replaces_the_keystroke_encoder_where_it_scores():
    rng = np.random.default_rng(2)
    bundle = _bundle_with_password(Calibration(1.0, -3.0, 0, 0, 0, 0))  # anomaly 3 -> p 0.5
    assert set(bundle.scorers_for("desktop")) == {"keystrokes", "password_timing", "pointer", "touch"}
    assert "password_timing" not in bundle.scorers_for("mobile")
    scorer = Scorer(bundle, ScoringConfig(allow_below=0.3, deny_at_or_above=0.9))
    holds, waits = rng.uniform(60, 140, 10), rng.uniform(100, 300, 9)
    enroll = [scorer.observe(login(rng, holds, waits)) for _ in range(4)]
    profile = Profile({n: np.concatenate([o.vectors[n] for o in enroll]) for n in enroll[0].vectors})
    result = scorer.score(scorer.observe(login(rng, holds, waits)), profile)
    keys, password = result.modalities["keystrokes"], result.modalities["password_timing"]
    assert keys.probability is not None and password.probability is not None
    assert result.risk == pytest.approx(password.probability, abs=1e-6)  # the encoder's is left out
    # A password of another length: the head cannot say, and the encoder's probability is the risk.
    other = scorer.score(scorer.observe(login(rng, holds[:8], waits[:7])), profile)
    assert other.modalities["password_timing"].probability is None
    assert other.risk == pytest.approx(other.modalities["keystrokes"].probability, abs=1e-6)


def test_a_bundle_keeps_the_password_scorer_and_refuses_a_missing_replaced_one(tmp_path):
    bundle = _bundle_with_password(Calibration(1.0, -3.0, 0, 0, 0, 0))
    bundle.save(tmp_path / "b.pt")
    loaded = ModelBundle.load(tmp_path / "b.pt").scorers["password_timing"]
    assert loaded.replaces == "keystrokes" and isinstance(loaded.head, FixedTextHead)
    del bundle.scorers["keystrokes"]
    bundle.save(tmp_path / "broken.pt")
    with pytest.raises(BundleError, match="replaces 'keystrokes'"):
        ModelBundle.load(tmp_path / "broken.pt")


def test_observed_password_rows_are_timing_only():
    """What the profile keeps of a password: its press count and timings, no key of it."""
    rng = np.random.default_rng(3)
    s = login(rng, rng.uniform(60, 140, 10), rng.uniform(100, 300, 9))
    row = password_row(s)
    assert row.shape == (len(PASSWORD_FEATURES),)
    assert set(PASSWORD_FEATURES) == {"n_presses", *(f for f in PASSWORD_FEATURES if f.startswith("log_"))}
    bundle = _bundle_with_password(Calibration(1.0, -3.0, 0, 0, 0, 0))
    obs: Observed = Scorer(bundle).observe(s)
    np.testing.assert_array_equal(obs.vectors["password_timing"][0], row)
    assert dataclasses.is_dataclass(obs)


def test_a_password_row_depends_on_timing_alone():
    """Two logins typed with the same timing, other login names (other key classes), give the same row:
    what the profile keeps of a password says nothing of what was typed but its length."""
    timing = [(800.0, 90.0), (1010.0, 70.0), (1300.0, 110.0), (1480.0, 60.0)]
    a = typed([(0, 80, LETTER), (100, 80, LETTER)] + [(t, h, MASKED) for t, h in timing])
    b = typed([(0, 80, int(KeyClass.DIGIT)), (100, 80, int(KeyClass.SEPARATOR))] + [(t, h, MASKED) for t, h in timing])
    np.testing.assert_array_equal(password_row(a), password_row(b))
