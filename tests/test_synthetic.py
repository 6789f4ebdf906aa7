"""The synthetic session generator: determinism, validity, and the behaviour it promises."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from biometrics.events import KeyClass, Session
from biometrics.features.session import fixed_text_vector
from biometrics.synthetic import (
    DEMO_PASSWORD,
    LabelledSession,
    bot_session,
    generate_dataset,
    genuine_session,
    impostor_session,
    key_presses,
    load_sample_sessions,
    main,
    make_account,
    password_timing_vector,
    replay_session,
    sample_style,
    save_sessions,
)

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"
SMALL = {
    "n_users": 6, "sessions_per_user": 5, "n_impostor": 12, "n_bot": 6, "n_replay": 6, "n_enroll": 3,
}


@pytest.fixture(scope="module")
def small() -> list[LabelledSession]:
    return generate_dataset(seed=11, **SMALL)


@pytest.fixture(scope="module")
def shared() -> list[LabelledSession]:
    """Every user types DEMO_PASSWORD, so password timing vectors align across users."""
    return generate_dataset(
        n_users=12, sessions_per_user=10, n_impostor=0, n_bot=0, n_replay=0, seed=5,
        n_enroll=6, password=DEMO_PASSWORD,
    )


def _eer(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Equal error rate of distance scores (low = genuine)."""
    thr = np.sort(np.concatenate([genuine, impostor]))
    frr = np.array([(genuine > t).mean() for t in thr])
    far = np.array([(impostor <= t).mean() for t in thr])
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2)


def test_same_seed_gives_identical_json(small: list[LabelledSession]) -> None:
    again = generate_dataset(seed=11, **SMALL)
    assert [r.to_json() for r in again] == [r.to_json() for r in small]
    other = generate_dataset(seed=12, **SMALL)
    assert [r.to_json() for r in other] != [r.to_json() for r in small]


def test_adding_users_keeps_earlier_sessions(small: list[LabelledSession]) -> None:
    bigger = generate_dataset(seed=11, **(SMALL | {"n_users": 7, "mobile_fraction": 0.0}))
    base = generate_dataset(seed=11, **(SMALL | {"mobile_fraction": 0.0}))
    first = {r.session_id: r.to_json() for r in base if r.label == "genuine"}
    assert all(first[r.session_id] == r.to_json() for r in bigger if r.session_id in first)


def test_counts_labels_and_splits(small: list[LabelledSession]) -> None:
    by = defaultdict(int)
    for r in small:
        by[(r.label, r.split)] += 1
    assert by == {
        ("genuine", "enroll"): 6 * 3, ("genuine", "test"): 6 * 2,
        ("impostor", "test"): 12, ("bot", "test"): 6, ("replay", "test"): 6,
    }
    assert len({r.session_id for r in small}) == len(small)
    assert {r.device for r in small} == {"desktop", "mobile"}


def test_every_session_validates_and_round_trips(small: list[LabelledSession], tmp_path: Path) -> None:
    for r in small:
        s = r.session
        assert Session.model_validate_json(s.model_dump_json()) == s
        assert s.meta.device_type == r.device
        assert s.keystrokes, r.session_id
        if r.device == "desktop":
            assert s.pointer and not s.touch, r.session_id
        else:
            assert s.touch and not s.pointer, r.session_id
        down, up, _ = key_presses(s)
        assert np.all(up > down), f"{r.session_id}: a key is released before it goes down"
    path = tmp_path / "s.jsonl"
    save_sessions(small, path)
    assert load_sample_sessions(path) == small


def test_loader_names_the_bad_line(tmp_path: Path) -> None:
    (tmp_path / "sessions.jsonl").write_text('{"user_id": "u0"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 1"):
        load_sample_sessions(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_sample_sessions(tmp_path / "nowhere")


def test_bots_have_near_zero_timing_variance(small: list[LabelledSession]) -> None:
    stats = defaultdict(list)
    for r in small:
        v = fixed_text_vector(r.session, r.password_presses)
        n = r.password_presses
        hold, dd = v[:n], v[n:2 * n - 1]
        # the shift key stays down over its letter: leave it out of the hold spread
        hold = hold[hold < np.median(hold) * 2.5]
        stats[r.label == "bot"].append((hold.std(), dd.std(), dd.mean()))
    bot, human = np.array(stats[True]), np.array(stats[False])
    assert bot[:, 0].max() < 1.0 and bot[:, 1].max() < 1.5  # ms
    assert human[:, 0].min() > 2.0 and human[:, 1].min() > 10.0
    assert bot[:, 2].max() < 50.0 < human[:, 2].min()  # superhuman speed


def test_bot_paths_are_straight_and_regular() -> None:
    rng = np.random.default_rng(0)
    desktop = make_account("d", rng, device="desktop")
    p = bot_session(rng, desktop).pointer_arrays()
    moves = p.type == 0
    assert np.ptp(np.diff(p.t[moves])[:5]) <= 0.2  # regular sampling
    mobile = make_account("m", rng, device="mobile")
    t = bot_session(rng, mobile).touch_arrays()
    assert np.ptp(t.pressure) == 0 and np.ptp(t.area) == 0


def test_replay_is_within_jitter_of_its_source(small: list[LabelledSession]) -> None:
    by_id = {r.session_id: r for r in small}
    replays = [r for r in small if r.label == "replay"]
    assert replays
    for r in replays:
        src = by_id[r.replay_of]
        assert src.split == "enroll" and src.user_id == r.user_id
        for m in ("keystrokes", "pointer", "touch"):
            a, b = getattr(src.session, m), getattr(r.session, m)
            assert len(a) == len(b)
            if not a:
                continue
            ta, tb = np.array([e.t for e in a]), np.array([e.t for e in b])
            assert np.abs(tb - ta).max() <= 3.0 + 1e-9
            assert np.abs(tb - ta).max() > 0.0
            assert [e.model_dump(exclude={"t"}) for e in a] == [e.model_dump(exclude={"t"}) for e in b]


def test_replay_session_respects_max_jitter() -> None:
    rng = np.random.default_rng(3)
    acc = make_account("u", rng, device="desktop")
    src = genuine_session(sample_style(rng), acc, rng)
    rep = replay_session(src, rng, max_jitter_ms=1.0)
    ta = np.array([e.t for e in src.keystrokes])
    tb = np.array([e.t for e in rep.keystrokes])
    assert np.abs(tb - ta).max() <= 1.0 + 1e-9


def test_impostor_types_the_victims_key_sequence(small: list[LabelledSession]) -> None:
    rng = np.random.default_rng(9)
    victim = make_account("victim", rng, device="desktop")
    s = impostor_session(victim, sample_style(rng), rng)
    assert password_timing_vector(s).shape == (3 * len(victim.password) - 2,)

    def tail_keys(r: LabelledSession) -> list[int]:
        _, _, cls = key_presses(r.session)
        return cls[-r.password_presses:].tolist()

    genuine = {r.user_id: tail_keys(r) for r in small if r.label == "genuine"}
    for r in small:
        # The password is a sensitive field: every press of it is masked, whoever types it.
        assert tail_keys(r) == [KeyClass.MASKED] * r.password_presses, r.session_id
        if r.label in ("impostor", "bot"):
            assert len(tail_keys(r)) == len(genuine[r.user_id]), r.session_id
        if r.label == "impostor":
            assert r.attacker_id and r.attacker_id != r.user_id


def test_demo_password_is_masked_presses() -> None:
    rng = np.random.default_rng(1)
    acc = make_account("u", rng, device="mobile", password=DEMO_PASSWORD)
    s = genuine_session(sample_style(rng), acc, rng)
    _, _, cls = key_presses(s)
    assert cls[-12:].tolist() == [KeyClass.MASKED] * 12
    assert KeyClass.MASKED not in cls[:-12]  # the free text keeps its classes
    no_password = s.model_copy(update={"keystrokes": [e for e in s.keystrokes if e.key_class != KeyClass.MASKED]})
    with pytest.raises(ValueError, match="masked"):
        password_timing_vector(no_password)


def test_genuine_sessions_are_closer_within_user(shared: list[LabelledSession]) -> None:
    users = sorted({r.user_id for r in shared})
    X = np.log(np.maximum(np.array([
        fixed_text_vector(r.session, r.password_presses) for r in shared
    ]), 1.0))  # negative up-down (rollover) clipped to 1 ms
    owner = np.array([users.index(r.user_id) for r in shared])
    # per user mean hold / down-down / up-down timing, one vector per session
    n = len(DEMO_PASSWORD)
    feats = np.stack([X[:, :n].mean(1), X[:, n:2 * n - 1].mean(1), X[:, 2 * n - 1:].mean(1)], 1)
    for Z in (X, feats):
        d = np.abs(Z[:, None, :] - Z[None, :, :]).sum(-1)
        same = owner[:, None] == owner[None, :]
        off_diag = ~np.eye(len(Z), dtype=bool)
        assert d[same & off_diag].mean() < 0.7 * d[~same].mean()


def test_scaled_manhattan_eer_is_realistic(shared: list[LabelledSession]) -> None:
    """Users separate, but not trivially (CMU's scaled Manhattan reports ~10%)."""
    vec = defaultdict(list)
    for r in shared:
        vec[(r.user_id, r.split)].append(fixed_text_vector(r.session, r.password_presses))
    users = sorted({u for u, _ in vec})
    gen, imp = [], []
    for u in users:
        train = np.array(vec[(u, "enroll")])
        mu = train.mean(0)
        mad = np.abs(train - mu).mean(0) + 1e-6
        gen += [float(np.abs((x - mu) / mad).sum()) for x in vec[(u, "test")]]
        imp += [float(np.abs((x - mu) / mad).sum()) for v in users if v != u for x in vec[(v, "test")]]
    assert 0.01 < _eer(np.array(gen), np.array(imp)) < 0.2


def test_generate_dataset_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_enroll"):
        generate_dataset(n_users=3, sessions_per_user=4, n_enroll=4)
    with pytest.raises(ValueError, match="n_users"):
        generate_dataset(n_users=1)
    with pytest.raises(ValueError, match="key codes"):
        make_account("u", np.random.default_rng(0), password=("KeyA", "F13"))


def test_cli_writes_sessions_and_readme(tmp_path: Path) -> None:
    out = tmp_path / "sd"
    args = ["--out", str(out), "--users", "3", "--seed", "2", "--sessions-per-user", "3",
            "--enroll", "2", "--impostors", "2", "--bots", "1", "--replays", "1"]
    assert main(args) == 0
    records = load_sample_sessions(out)
    assert len(records) == 3 * 3 + 2 + 1 + 1
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "python -m biometrics.synthetic" in readme and "--seed 2" in readme
    first = (out / "sessions.jsonl").read_bytes()
    main(args)
    assert (out / "sessions.jsonl").read_bytes() == first


@pytest.mark.skipif(not (SAMPLE_DIR / "sessions.jsonl").is_file(), reason="sample_data not generated")
def test_committed_sample_data_matches_the_generator() -> None:
    path = SAMPLE_DIR / "sessions.jsonl"
    assert path.stat().st_size < 5_000_000
    stored = load_sample_sessions(SAMPLE_DIR)
    fresh = generate_dataset(n_users=20, sessions_per_user=14, n_impostor=60, n_bot=20, n_replay=20, seed=7)
    assert [(r.session_id, r.label, r.split, r.device) for r in stored] == [
        (r.session_id, r.label, r.split, r.device) for r in fresh
    ]
    for a, b in zip(stored[::37], fresh[::37]):
        ta = np.array([e.t for e in a.session.keystrokes])
        tb = np.array([e.t for e in b.session.keystrokes])
        np.testing.assert_allclose(ta, tb, atol=0.11)


def _population(n: int, seed: int, device: str) -> list[Session]:
    rng = np.random.default_rng(seed)
    return [genuine_session(sample_style(rng), make_account(f"u{i}", rng, device=device), rng) for i in range(n)]


def test_typists_differ_as_much_as_aaltos() -> None:
    """Fitted to Aalto's desktop typists (bench/generator_fit.py): per person, median
    down-down about 190 ms with a between-person log SD near 0.35, holds about 100 ms."""
    rng = np.random.default_rng(3)
    styles = [sample_style(rng) for _ in range(400)]
    dd = np.log([s.dd_median_ms for s in styles])
    hold = np.log([s.hold_median_ms for s in styles])
    assert 180 < np.exp(np.median(dd)) < 205 and 0.32 < dd.std() < 0.40
    assert 97.5 < np.exp(np.median(hold)) < 110 and 0.17 < hold.std() < 0.26
    assert np.mean([s.p_rollover for s in styles]) < 0.18  # Aalto: 17% of presses roll over


def test_mouse_movements_pause_bow_and_reach_human_speeds() -> None:
    """Balabit's people (bench/generator_fit.py): peak speed about 2 px/ms, paths bowed,
    some movements stopping part-way; the generator's were ruler-smooth before."""
    from biometrics.features.mouse import ACTION_FEATURES, mouse_actions

    acts = np.concatenate([mouse_actions(s.pointer_arrays())[1] for s in _population(40, 4, "desktop")])
    col = {n: i for i, n in enumerate(ACTION_FEATURES)}
    assert np.median(acts[:, col["speed_max"]]) > 1.0
    assert np.median(acts[:, col["straightness"]]) < 0.95
    assert 0.05 < np.mean(acts[:, col["n_pauses"]] > 0) < 0.6


def test_swipes_speed_up_then_slow_down() -> None:
    """Serwadda's swipes decelerate before lift-off; the generator's only accelerated before."""
    decelerating = []
    for s in _population(30, 5, "mobile"):
        t = s.touch_arrays()
        for start, end in zip(np.flatnonzero(t.type == 0), np.flatnonzero(t.type == 2)):
            tt, xy = t.t[start:end + 1], np.stack([t.x[start:end + 1], t.y[start:end + 1]], 1)
            if tt.size < 6:
                continue
            v = np.linalg.norm(np.diff(xy, axis=0), axis=1) / np.maximum(np.diff(tt), 1.0)
            decelerating.append(v[-2:].mean() < 0.8 * v.max())
    assert len(decelerating) > 20 and np.mean(decelerating) > 0.5
