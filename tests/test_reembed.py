"""Upgrades keep profiles: kept enrollment inputs (encrypted at rest, erased with the profile, no
characters), re-embedding every profile under a new bundle (``python -m serving.reembed``), the
``profile_model_outdated`` reason, and the 0004 -> 0005 migration."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import create_engine, insert, text
from untrained import untrained_bundle

from biometrics.calibration import Calibration
from biometrics.events import KeyClass, Session
from biometrics.features.keystroke import KEY_CLASS_FEATURES, KEYSTROKE_FEATURES
from biometrics.profiles import (
    EnrollmentInputs,
    ProfileConfig,
    enroll,
    inputs_from_bytes,
    inputs_to_bytes,
    new_profile,
    reembed,
    user_key,
)
from biometrics.scoring import Observed, Scorer, ScoringConfig, TenantPolicy
from biometrics.service import BiometricService
from biometrics.store import InputsCipher, ProfileKeyError, ProfileStore
from biometrics.synthetic import generate_dataset
from serving import reembed as reembed_cli

torch.set_num_threads(1)
SECRET = b"test-user-id-secret-0123456789abcdef"
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
CAL = Calibration(8.0, -4.0, 0, 0, 0, 0)  # a fixed logistic map: the tests compare scores, not accuracy
MIN = 3


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> tuple[Path, Path]:
    """Bundle A and bundle B: untrained encoders of two seeds, two model versions."""
    tmp = tmp_path_factory.mktemp("bundles")
    paths = []
    for seed, version in ((0, "bundle-a"), (1, "bundle-b")):
        path = tmp / f"{version}.pt"
        untrained_bundle(version, 16, 16, 256, CAL, seed).save(path)
        paths.append(path)
    return paths[0], paths[1]


@pytest.fixture(scope="module")
def dataset():
    records = generate_dataset(n_users=4, sessions_per_user=8, n_impostor=8, n_bot=0, n_replay=0, seed=5,
                               n_enroll=5)
    users: dict[str, dict[str, list[Session]]] = {}
    for r in records:
        kind = "enroll" if r.split == "enroll" else r.label
        users.setdefault(r.user_id, {}).setdefault(kind, []).append(r.session)
    return users


def _service(bundle: Path, url: str, keep: bool = True, key: bytes | None = KEY,
             policy: TenantPolicy | None = None) -> BiometricService:
    from biometrics.bundle import ModelBundle

    store = ProfileStore(url, profile_key=key)
    return BiometricService(Scorer(ModelBundle.load(bundle), ScoringConfig()), store,
                            ProfileConfig(min_enroll_sessions=MIN, keep_inputs=keep), SECRET,
                            policies={"acme": policy} if policy else None)


def _enroll_all(service: BiometricService, dataset, users=None) -> None:
    for user, kinds in dataset.items():
        if users is None or user in users:
            for s in kinds["enroll"]:
                service.enroll("acme", user, s)


def _scores(service: BiometricService, dataset) -> dict:
    """Risk and per-modality probabilities of each user's genuine tests and impostor sessions."""
    out = {}
    for user, kinds in dataset.items():
        for kind in ("genuine", "impostor"):
            for i, s in enumerate(kinds.get(kind, [])):
                r, _ = service.score("acme", user, s)
                out[(user, kind, i)] = (r.risk, {m: (v.distance, v.probability) for m, v in r.modalities.items()},
                                        r.reasons, r.decision)
    return out


# Encryption at rest, erasure, keys ----------------------------------------------------------


def test_inputs_round_trip_and_the_cipher_fails_cleanly():
    inputs = EnrollmentInputs("0123456789abcdef", (1, 1, 2),
                              tuple(np.full((n, 3), n, np.float32) for n in (2, 5, 1)),
                              np.arange(6, dtype=np.float32).reshape(3, 2))
    back = inputs_from_bytes(inputs_to_bytes(inputs))
    assert back.spec == inputs.spec and back.sessions == (1, 1, 2) and back.digest() == inputs.digest()
    assert [t.shape for t in back.tokens] == [(2, 3), (5, 3), (1, 3)]
    np.testing.assert_array_equal(back.features, inputs.features)
    assert inputs.last(2).sessions == (1, 2) and len(inputs.then(inputs)) == 6
    cipher = InputsCipher(KEY)
    blob = cipher.seal(b"plain", "acme", "k" * 64, "keystrokes")
    assert cipher.open(blob, "acme", "k" * 64, "keystrokes") == b"plain"
    assert blob != cipher.seal(b"plain", "acme", "k" * 64, "keystrokes")  # a fresh nonce every time
    with pytest.raises(ProfileKeyError, match="another profile key"):
        InputsCipher(OTHER_KEY).open(blob, "acme", "k" * 64, "keystrokes")
    with pytest.raises(ProfileKeyError, match="authentication"):  # moved to another user's row
        cipher.open(blob, "acme", "j" * 64, "keystrokes")
    with pytest.raises(ValueError, match="32 bytes"):
        InputsCipher(b"short")


def test_kept_inputs_are_encrypted_at_rest_and_erased_with_the_profile(tmp_path, bundles, dataset):
    db = tmp_path / "p.db"
    service = _service(bundles[0], f"sqlite:///{db}")
    user = "u000"
    _enroll_all(service, dataset, {user})
    key = service.key("acme", user)
    profile = service.store.get("acme", key)
    m = profile.modalities["keystrokes"]
    assert m.inputs is not None and len(m.inputs) == len(dataset[user]["enroll"])
    with sqlite3.connect(db) as conn:
        blobs = [bytes(b) for (b,) in conn.execute("SELECT enrollment_inputs FROM modality_profiles")]
    assert blobs and all(b.startswith(b"BME1") for b in blobs)
    plain = inputs_to_bytes(m.inputs)
    token_rows = [t[i].astype("<f4").tobytes() for t in m.inputs.tokens for i in range(len(t))]
    for b in blobs:  # neither the serialized inputs nor any token row (its timings) is readable
        assert plain not in b and plain[40:72] not in b
        assert not any(row in b for row in token_rows)
    # Status and logs never carry them; the status says they are kept.
    status = service.status("acme", user)
    assert all(s.reembeddable and s.current_for == ("bundle-a",) for s in status.modalities.values())
    service.store.close()

    # The wrong key refuses to open the store; no key reads the profile without its inputs.
    with pytest.raises(ProfileKeyError, match="another profile key"):
        ProfileStore(f"sqlite:///{db}", profile_key=OTHER_KEY)
    with ProfileStore(f"sqlite:///{db}") as keyless:
        p = keyless.get("acme", key)
        assert p.state == "verifying" and p.modalities["keystrokes"].inputs is None
    with pytest.raises(ValueError, match="profile key"):
        _service(bundles[0], f"sqlite:///{tmp_path / 'q.db'}", key=None)

    # Erasure: the rows go, and the ciphertext leaves no bytes in the SQLite files.
    service = _service(bundles[0], f"sqlite:///{db}")
    _enroll_all(service, dataset, {"u001"})
    assert service.delete("acme", user)
    for f in (db, Path(f"{db}-wal")):
        if f.exists():
            content = f.read_bytes()
            assert not any(b[24:56] in content for b in blobs)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 1
    service.store.close()


# Privacy: the kept inputs spell no characters ------------------------------------------------------


def _typed(classes: list[int], t0: float = 0.0) -> Session:
    events, t = [], t0
    for i, c in enumerate(classes):
        events += [{"t": t, "type": "down", "press": i, "key_class": c},
                   {"t": t + 80 + 7 * (i % 3), "type": "up", "press": i, "key_class": c}]
        t += 150 + 11 * (i % 4)
    events.sort(key=lambda e: e["t"])
    return Session.model_validate({"schema_version": 2, "keystrokes": events})


def test_kept_keystroke_inputs_reveal_only_key_classes(bundles):
    from test_key_privacy import _wire  # the contract's wire for a text on the US layout

    from biometrics.bundle import ModelBundle

    scorer = Scorer(ModelBundle.load(bundles[0]))
    kept = {}
    for text_ in ("alice.smith", "zorro-quick", "hunter2"):
        sensitive = text_ == "hunter2"
        obs = scorer.observe(_typed(_wire(text_, sensitive)))
        kept[text_] = scorer.enrollment_inputs(obs, 1)["keystrokes"]
    # Two texts of one shape keep the very same bytes: nothing in them depends on the characters.
    assert inputs_to_bytes(kept["alice.smith"]) == inputs_to_bytes(kept["zorro-quick"])
    tokens = kept["alice.smith"].tokens[0]
    assert tokens.shape[1] == len(KEYSTROKE_FEATURES)  # timing features, flags and key classes only
    onehot = tokens[:, [KEYSTROKE_FEATURES.index(f) for f in KEY_CLASS_FEATURES]]
    assert set(np.unique(onehot)) <= {0.0, 1.0} and (onehot.sum(1) == 1).all()
    assert (tokens[:, KEYSTROKE_FEATURES.index("key_bucket")] == 0).all()
    masked = kept["hunter2"].tokens[0][:, KEYSTROKE_FEATURES.index(f"key_{KeyClass.MASKED.name.lower()}")]
    assert (masked == 1).all()  # a sensitive field keeps its length and timings only
    assert kept["alice.smith"].features is None  # a session scorer keeps no other item data


# Re-embedding under bundle B --------------------------------------------------------------------


def test_upgrade_keeps_profiles_and_scores_as_a_fresh_enrollment(tmp_path, bundles, dataset, monkeypatch, capsys):
    url, fresh_url = f"sqlite:///{tmp_path / 'up.db'}", f"sqlite:///{tmp_path / 'fresh.db'}"
    a = _service(bundles[0], url)
    _enroll_all(a, dataset)
    before = {u: a.store.get("acme", a.key("acme", u)) for u in dataset}
    a.store.close()

    # Under B before re-embedding: outdated, said so, challenged (never allowed by omission).
    b = _service(bundles[1], url)
    user = "u000"
    probe = dataset[user]["genuine"][0].model_copy(update={"session_id": None})  # not recorded for a retry
    r, status = b.score("acme", user, probe)
    assert "profile_model_outdated" in r.reasons and r.decision == "challenge"
    assert all(m.probability is None for m in r.modalities.values())
    assert status.state == "verifying" and not any(m.current for m in status.modalities.values())
    b.store.close()
    deny = _service(bundles[1], url, policy=TenantPolicy(outdated_decision="deny"))
    r, _ = deny.score("acme", user, probe)
    assert r.decision == "deny" and "profile_model_outdated" in r.reasons
    deny.store.close()

    # The command, with the API's settings.
    monkeypatch.setenv("BIOMETRICS_DATABASE_URL", url)
    monkeypatch.setenv("BIOMETRICS_USER_ID_SECRET", SECRET.decode())
    monkeypatch.setenv("BIOMETRICS_PROFILE_KEY", base64.b64encode(KEY).decode())
    monkeypatch.setenv("BIOMETRICS_MIN_ENROLL_SESSIONS", str(MIN))
    assert reembed_cli.main(["--bundle", str(bundles[1])]) == 0
    counts = json.loads(capsys.readouterr().out)
    n_mods = sum(len(p.modalities) for p in before.values())
    assert counts == {"model_version": "bundle-b", "users": len(dataset), "users_current": len(dataset),
                      "modalities": {"reembedded": n_mods}}
    assert reembed_cli.main(["--bundle", str(bundles[1])]) == 0  # idempotent: nothing left to do
    assert json.loads(capsys.readouterr().out)["modalities"] == {"current": n_mods}

    b = _service(bundles[1], url)
    for u, old in before.items():
        p = b.store.get("acme", b.key("acme", u))
        assert (p.state, p.n_sessions) == (old.state, old.n_sessions) == ("verifying", 5)  # none back to enrolling
        for name, m in p.modalities.items():
            assert m.current_for() == ("bundle-a", "bundle-b") and m.n_sessions == old.modalities[name].n_sessions
            np.testing.assert_array_equal(p.embeddings(name, "bundle-a"), old.embeddings(name, "bundle-a"))
    upgraded = _scores(b, {u: {k: v for k, v in kinds.items() if k != "enroll"} for u, kinds in dataset.items()})

    fresh = _service(bundles[1], fresh_url)
    _enroll_all(fresh, dataset)
    expected = _scores(fresh, {u: {k: v for k, v in kinds.items() if k != "enroll"} for u, kinds in dataset.items()})
    assert upgraded.keys() == expected.keys() and len(expected) >= 8
    for k, (risk, mods, reasons, decision) in expected.items():
        got = upgraded[k]
        assert got[0] == pytest.approx(risk, abs=1e-6) and got[2] == reasons and got[3] == decision, k
        assert "profile_model_outdated" not in got[2]
        for name, (dist, prob) in mods.items():
            assert got[1][name][0] == pytest.approx(dist, abs=1e-6)
            assert got[1][name][1] == pytest.approx(prob, abs=1e-6)

    # Enrolling under B continues from the re-embedded vectors (A's, now stale, go).
    mine = set(before[user].modalities)
    extra = next(s for u in dataset for s in dataset[u]["enroll"]  # one this profile has not seen
                 if u != user and set(s.modalities()) == mine)
    st = b.enroll("acme", user, extra.model_copy(update={"session_id": None}))
    assert st.state == "verifying" and set(st.modalities) == mine
    assert all(m.sessions == 6 and m.current_for == ("bundle-b",) for m in st.modalities.values())
    b.store.close()
    fresh.store.close()


def test_enrolling_under_b_re_embeds_instead_of_restarting(tmp_path, bundles, dataset):
    url, fresh_url = f"sqlite:///{tmp_path / 'lazy.db'}", f"sqlite:///{tmp_path / 'fresh.db'}"
    user = "u001"
    sessions = dataset[user]["enroll"]
    a = _service(bundles[0], url)
    for s in sessions[:4]:
        a.enroll("acme", user, s)
    a.store.close()
    b, fresh = _service(bundles[1], url), _service(bundles[1], fresh_url)
    st = b.enroll("acme", user, sessions[4])
    for s in sessions:
        fresh.enroll("acme", user, s)
    assert st.state == "verifying" and all(m.sessions == 5 and m.current for m in st.modalities.values())
    got, want = b.store.get("acme", b.key("acme", user)), fresh.store.get("acme", fresh.key("acme", user))
    for name in want.modalities:
        np.testing.assert_allclose(got.embeddings(name, "bundle-b"), want.embeddings(name, "bundle-b"), atol=1e-6)
    b.store.close()
    fresh.store.close()


def test_profiles_without_kept_inputs_stay_outdated_and_say_so(tmp_path, bundles, dataset):
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    a = _service(bundles[0], url, keep=False)  # as before this release: no inputs kept
    _enroll_all(a, dataset, {"u002"})
    a.store.close()
    b = _service(bundles[1], url)
    key = b.key("acme", "u002")
    assert set(b.reembed_user("acme", key).values()) == {"no_inputs"}
    r, status = b.score("acme", "u002", dataset["u002"]["genuine"][0])
    assert "profile_model_outdated" in r.reasons and r.decision == "challenge"
    assert not any(m.reembeddable or m.current for m in status.modalities.values())
    b.store.close()


def test_profile_reembed_is_pure_bounded_and_keeps_few_versions():
    cfg = ProfileConfig(max_other_versions=2, keep_inputs=True)
    key = user_key("acme", "x", SECRET)
    p = new_profile("acme", key)
    inputs = EnrollmentInputs("0123456789abcdef", (1,), None, np.ones((1, 3), np.float32))
    for i in range(3):
        p = enroll(p, {"touch": np.full((1, 3), i, np.float32)}, {}, "v1", cfg, inputs={"touch": inputs})
    assert len(p.modalities["touch"].inputs) == 3  # bounded like the vectors (max_embeddings)
    q = p
    for v in ("v2", "v3", "v4"):
        q = reembed(q, {"touch": np.zeros((3, 3), np.float32)}, v, cfg)
    assert q.modalities["touch"].current_for() == ("v1", "v3", "v4") and p.modalities["touch"].other_versions == {}
    assert reembed(q, {"touch": np.zeros((1, 3))}, "v1", cfg).modalities["touch"].embeddings.shape == (3, 3)
    assert q.outdated("touch", "v2") and not q.outdated("touch", "v4") and not q.outdated("pointer", "v9")
    assert q.updated_at == p.updated_at and q.n_sessions == p.n_sessions


def test_scoring_without_outdated_profile_support_keeps_working():
    """Profiles without ``outdated`` (test doubles of ProfileView) score as before."""
    class Fake:
        state = "verifying"

        def embeddings(self, modality, version):
            return None

        def head_state(self, modality, version):
            return {}

        def replay_signatures(self, modality):
            return []

    scorer = Scorer(untrained_bundle("v", 8, 8, 32, CAL))
    r = scorer.score(Observed({"keystrokes": np.ones((1, 8), np.float32)}, {"keystrokes": 40}, {}, []), Fake())
    assert "profile_model_outdated" not in r.reasons and r.decision == "challenge"


# Migration 0004 -> 0005 ---------------------------------------------------------------------------


def test_upgrade_from_0004_keeps_profiles_and_adds_the_columns(store_url: str):
    from test_migrations import _schema_diff, _version_rows

    from biometrics.profiles import embeddings_to_bytes, vectors_to_bytes
    from biometrics.store import metadata

    with ProfileStore(store_url, create_tables=False) as store:
        store.migrate("0004")
    key = user_key("acme", "alice", SECRET)
    embs = np.random.default_rng(3).normal(size=(3, 8)).astype(np.float32)
    engine = create_engine(store_url)
    with engine.begin() as conn:  # what release 0004 wrote (its columns only)
        conn.execute(text("INSERT INTO users (tenant, user_key, state, n_sessions, created_at, updated_at) "
                          "VALUES ('acme', :k, 'verifying', 3, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"k": key})
        uid = conn.execute(text("SELECT id FROM users")).scalar_one()
        from sqlalchemy import column, table
        mp = table("modality_profiles", *(column(c) for c in (
            "user_id", "modality", "model_version", "embeddings", "genuine_mean", "genuine_sd", "n_sessions",
            "signatures", "head_state", "enrolled_signatures")))
        conn.execute(insert(mp).values(user_id=uid, modality="keystrokes", model_version="bundle-a",
                                       embeddings=embeddings_to_bytes(embs), genuine_mean=0.2, genuine_sd=0.1,
                                       n_sessions=3, signatures=vectors_to_bytes([]), head_state=None,
                                       enrolled_signatures=vectors_to_bytes([])))
    engine.dispose()
    with ProfileStore(store_url, profile_key=KEY) as store:
        assert store.schema_revision() == "0006"
        p = store.get("acme", key)
        m = p.modalities["keystrokes"]
        assert p.state == "verifying" and m.inputs is None and m.other_versions == {}
        np.testing.assert_array_equal(m.embeddings, embs)
        inputs = EnrollmentInputs("0123456789abcdef", (4,), (np.ones((5, 13), np.float32),), None)
        store.update("acme", key, lambda cur: enroll(cur, {"keystrokes": embs[0]}, {}, "bundle-a",
                                                     ProfileConfig(keep_inputs=True), inputs={"keystrokes": inputs}))
        store.update("acme", key, lambda cur: reembed(cur, {"keystrokes": embs}, "bundle-b"))
        m = store.get("acme", key).modalities["keystrokes"]
        assert len(m.inputs) == 1 and m.current_for() == ("bundle-a", "bundle-b")
    assert _version_rows(store_url) == ["0006"] and _schema_diff(store_url, metadata) == []
    with ProfileStore(store_url, create_tables=False) as store, store.schema_lock() as conn:
        from biometrics import migrations
        migrations.downgrade(conn, "0004")
    assert _version_rows(store_url) == ["0004"]
    with ProfileStore(store_url, profile_key=KEY) as store:  # up again: the profile, without its inputs
        m = store.get("acme", key).modalities["keystrokes"]
        assert m.n_sessions == 4 and m.inputs is None and m.other_versions == {}


def test_a_score_leaves_kept_inputs_encrypted_and_says_they_are_kept(tmp_path, bundles, dataset, monkeypatch):
    """A score written behind reads the profile without decrypting its kept inputs (it never
    uses them); its status still says they are kept, and an enrolling score reads them."""
    from biometrics.bundle import ModelBundle

    store = ProfileStore(f"sqlite:///{tmp_path / 'p.db'}", profile_key=KEY, write_behind_s=0.02)
    service = BiometricService(Scorer(ModelBundle.load(bundles[0]), ScoringConfig()), store,
                               ProfileConfig(min_enroll_sessions=MIN, keep_inputs=True), SECRET)
    user = "u000"
    _enroll_all(service, dataset, {user})
    opened = []
    real = store._cipher.open
    monkeypatch.setattr(store._cipher, "open", lambda *a: opened.append(a) or real(*a))
    session = dataset[user]["genuine"][0].model_copy(update={"session_id": None})  # no id: written behind
    _, status = service.score("acme", user, session)
    assert opened == [] and all(s.reembeddable for s in status.modalities.values())
    store.flush()
    profile = store.get("acme", service.key("acme", user))  # a full read decrypts them
    assert opened and all(m.inputs is not None and not m.inputs_unread for m in profile.modalities.values())
    store.close()


def test_a_score_with_a_session_id_leaves_kept_inputs_encrypted_and_keeps_them(tmp_path, bundles, dataset,
                                                                                monkeypatch):
    """A score with a session_id (the collector's; idempotent, under the user's lock) reads the
    profile without decrypting its kept inputs, from the profile cache while no write changed it
    (a denied score writes nothing to it), and an allowed one writes its replay
    signatures without touching the encrypted inputs."""
    import uuid

    from biometrics.bundle import ModelBundle

    store = ProfileStore(f"sqlite:///{tmp_path / 'p.db'}", profile_key=KEY)
    service = BiometricService(Scorer(ModelBundle.load(bundles[0]), ScoringConfig()), store,
                               ProfileConfig(min_enroll_sessions=MIN, keep_inputs=True), SECRET)
    user = "u000"
    _enroll_all(service, dataset, {user})
    key = service.key("acme", user)
    before = store.get("acme", key)
    opened = []
    real = store._cipher.open
    monkeypatch.setattr(store._cipher, "open", lambda *a: opened.append(a) or real(*a))
    decisions = []
    genuine = dataset[user]["genuine"][:2]
    for i, session in enumerate(genuine + [genuine[0], genuine[0], genuine[1]]):  # then replays: denied
        sid = str(uuid.UUID(int=i + 1, version=4))
        result, status = service.score("acme", user, session.model_copy(update={"session_id": sid}))
        decisions.append(result.decision)
        assert all(s.reembeddable for s in status.modalities.values())
    assert opened == []
    assert "allow" in decisions[:2] and decisions[2:] == ["deny"] * 3
    assert store.profile_cache.hits >= 2  # the replays' scores after the first read no rows
    after = store.get("acme", key)  # a full read: the inputs are still there, unchanged
    assert opened
    for name, m in after.modalities.items():
        kept = before.modalities[name].inputs
        assert m.inputs is not None and not m.inputs_unread
        assert m.inputs.spec == kept.spec and m.inputs.sessions == kept.sessions
    assert sum(len(m.replay_signatures) for m in after.modalities.values()) > \
        sum(len(m.replay_signatures) for m in before.modalities.values())
    store.close()
