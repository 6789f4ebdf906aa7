"""Scoring logic: calibrated per-modality scores, fusion, decisions, reasons and guards."""

import dataclasses

import numpy as np
import pytest
import torch
from untrained import untrained_bundle

from biometrics.bundle import ModelBundle
from biometrics.calibration import QUANTILE_LEVELS, Calibration
from biometrics.scoring import Observed, Scorer, ScoringConfig, TenantPolicy
from biometrics.synthetic import generate_dataset, replay_session


def tiny_bundle() -> ModelBundle:
    # slope 10, intercept -5: distance 0.5 -> P(impostor) 0.5
    return untrained_bundle("tiny", 8, 8, 64, Calibration(10.0, -5.0, 0, 0, 0, 0))


@dataclasses.dataclass
class FakeProfile:
    state: str
    emb: dict
    sigs: dict = dataclasses.field(default_factory=dict)

    def embeddings(self, modality, model_version):
        return self.emb.get(modality)

    def head_state(self, modality, model_version):
        return {}

    def replay_signatures(self, modality):
        return self.sigs.get(modality, [])


@pytest.fixture(scope="module")
def scorer():
    return Scorer(tiny_bundle(), ScoringConfig(allow_below=0.5, deny_at_or_above=0.9))


@pytest.fixture(scope="module")
def records():
    return generate_dataset(4, 4, n_impostor=2, n_bot=2, n_replay=0, seed=5, n_enroll=3, mobile_fraction=0.0)


def test_observe_embeds_present_modalities_as_unit_vectors(scorer, records):
    obs = scorer.observe(records[0].session)
    assert set(obs.vectors) == {"keystrokes", "pointer"}
    for e in obs.vectors.values():  # session units: one item each
        assert e.shape == (1, 8) and np.isclose(np.linalg.norm(e), 1.0, atol=1e-5)


def test_enrolling_profile_is_challenged_with_reason_by_default(scorer, records):
    result = scorer.score(scorer.observe(records[0].session), None)
    assert result.decision == "challenge" and "profile_enrolling" in result.reasons
    assert result.confidence == 0.0 and result.model_version == "tiny"
    assert ScoringConfig().enrolling_decision == "challenge"


@pytest.mark.parametrize("decision", ["allow", "challenge", "deny"])
def test_the_enrolling_decision_is_the_policy_passed_per_call(scorer, records, decision):
    obs = scorer.observe(records[0].session)
    enrolling = FakeProfile("enrolling", dict(obs.vectors))
    r = scorer.score(obs, enrolling, TenantPolicy(enrolling_decision=decision))
    assert r.decision == decision and "profile_enrolling" in r.reasons
    assert scorer.score(obs, enrolling).decision == "challenge"  # the scorer kept no state


def test_guards_deny_an_enrolling_profile_even_when_its_policy_allows(scorer, records):
    allow = TenantPolicy(enrolling_decision="allow")
    bot = next(r for r in records if r.label == "bot")
    r = scorer.score(scorer.observe(bot.session), FakeProfile("enrolling", {}), allow)
    assert {"bot_like_timing", "profile_enrolling"} <= set(r.reasons) and r.decision == "deny"
    obs = scorer.observe(records[0].session)
    prof = FakeProfile("enrolling", dict(obs.vectors),
                       {k: [v] for k, v in obs.signatures.items()})
    r = scorer.score(obs, prof, allow)
    assert "replayed_session" in r.reasons and r.decision == "deny"


def test_a_jittered_keystroke_replay_is_challenged_and_a_policy_can_deny_it(scorer, records):
    """Typing within a replay's jitter of a stored session, with no exact repeat (and no mouse path
    to find again), is ``possible_replay``: at least challenged, denied where the tenant says so.
    An exact repeat is ``replayed_session``, denied."""
    src = records[0].session
    stored = scorer.observe(src)
    prof = FakeProfile("verifying", dict(stored.vectors), {"keystrokes": [stored.signatures["keystrokes"]]})
    jittered = scorer.observe(replay_session(src, np.random.default_rng(1), max_jitter_ms=20.0))
    keys_only = dataclasses.replace(jittered, signatures={"keystrokes": jittered.signatures["keystrokes"]})
    r = scorer.score(keys_only, prof)
    assert "possible_replay" in r.reasons and "replayed_session" not in r.reasons
    assert r.decision == "challenge" and scorer.score(keys_only, FakeProfile("verifying", prof.emb)).decision == "allow"
    assert scorer.score(keys_only, prof, TenantPolicy(possible_replay_decision="deny")).decision == "deny"
    copy = scorer.score(stored, prof)
    assert "replayed_session" in copy.reasons and "possible_replay" not in copy.reasons and copy.decision == "deny"


def test_a_policy_rejects_an_unknown_decision():
    with pytest.raises(ValueError, match="enrolling_decision must be one of allow, challenge, deny"):
        TenantPolicy(enrolling_decision="maybe")
    with pytest.raises(ValueError, match="possible_replay_decision must be one of"):
        TenantPolicy(possible_replay_decision="block")


def test_distance_maps_through_calibration_and_decides(scorer):
    e = np.eye(8, dtype=np.float32)[0]
    obs = Observed({"keystrokes": e[None, :]}, {"keystrokes": 40}, {}, [])
    near = FakeProfile("verifying", {"keystrokes": e[None, :]})
    far = FakeProfile("verifying", {"keystrokes": -e[None, :]})  # distance 2 -> P ~ 1
    r_near, r_far = scorer.score(obs, near), scorer.score(obs, far)
    assert r_near.risk == pytest.approx(1 / (1 + np.exp(5)), rel=1e-4) and r_near.decision == "allow"
    assert r_far.decision == "deny" and "keystroke_mismatch" in r_far.reasons
    assert r_far.modalities["keystrokes"].distance == pytest.approx(2.0, abs=1e-5)


def test_fusion_weights_modalities_by_confidence(scorer):
    e = np.eye(8, dtype=np.float32)[0]
    obs = Observed({"keystrokes": e[None, :], "pointer": e[None, :]}, {"keystrokes": 40, "pointer": 20}, {}, [])
    theta = 2 * np.arcsin(0.3)  # a unit vector at distance 0.6 from e: P = sigmoid(10 * 0.6 - 5)
    v = np.zeros(8, np.float32)
    v[:2] = np.cos(theta), np.sin(theta)
    prof = FakeProfile("verifying", {"keystrokes": e[None, :], "pointer": v[None, :]})
    r = scorer.score(obs, prof)
    pk, pp = r.modalities["keystrokes"].probability, r.modalities["pointer"].probability
    logit = lambda p: np.log(p / (1 - p))
    # The default LLR fusion: pointer's log-likelihood ratio counts 0.1 (20 of 200 events).
    assert r.risk == pytest.approx(1 / (1 + np.exp(-(logit(pk) + 0.1 * logit(pp)))), rel=1e-4)
    mean = Scorer(scorer.bundle, ScoringConfig(allow_below=0.5, deny_at_or_above=0.9, fusion="mean"))
    assert mean.score(obs, prof).risk == pytest.approx((1.0 * pk + 0.1 * pp) / 1.1, rel=1e-4)


def test_bot_session_is_denied(scorer, records):
    bot = next(r for r in records if r.label == "bot")
    r = scorer.score(scorer.observe(bot.session), None)
    assert "bot_like_timing" in r.reasons and r.decision == "deny"


def test_replayed_session_is_flagged(scorer, records):
    s = records[0].session
    obs = scorer.observe(s)
    prof = FakeProfile("verifying", dict(obs.vectors),
                       {k: [v] for k, v in obs.signatures.items()})
    r = scorer.score(obs, prof)
    assert "replayed_session" in r.reasons and r.decision == "deny"


def test_too_little_data_is_a_reason(scorer):
    r = scorer.score(Observed({}, {"keystrokes": 2}, {}, []), FakeProfile("verifying", {}))
    assert "too_little_data" in r.reasons and r.decision == "challenge"


def test_thresholds_follow_target_error_rates():
    from biometrics.calibration import fit_calibration

    rng = np.random.default_rng(0)
    bundle = tiny_bundle()
    for m in bundle.scorers.values():
        m.calibration = fit_calibration(rng.normal(0.3, 0.1, 500), rng.normal(0.9, 0.2, 500))
    one = ["keystrokes"]  # a keystroke-only session: its own calibration's thresholds
    strict = ScoringConfig.from_targets(bundle, target_far=0.01, target_frr=0.001).thresholds(one)
    loose_far = ScoringConfig.from_targets(bundle, target_far=0.2, target_frr=0.001).thresholds(one)
    loose_frr = ScoringConfig.from_targets(bundle, target_far=0.01, target_frr=0.05).thresholds(one)
    assert strict.allow_below <= strict.deny_at_or_above
    assert strict.allow_below < loose_far.allow_below  # fewer impostors allowed -> lower allow threshold
    assert strict.deny_at_or_above > loose_frr.deny_at_or_above  # fewer genuine denied -> higher deny
    # A target that the two distributions cannot both meet collapses "challenge", never inverts.
    both = ScoringConfig.from_targets(bundle, target_far=0.5, target_frr=0.5)
    assert all(t.allow_below <= t.deny_at_or_above for t in both.by_modalities.values())


def test_thresholds_come_from_the_modalities_the_session_holds():
    from biometrics.calibration import fit_calibration

    rng = np.random.default_rng(1)
    bundle = tiny_bundle()
    names = sorted(bundle.scorers)
    assert len(names) >= 2
    # One modality separates well, the other barely: their thresholds must differ.
    good, weak = names[0], names[1]
    for m in bundle.scorers.values():
        m.calibration = fit_calibration(rng.normal(0.3, 0.1, 500), rng.normal(0.9, 0.2, 500))
    bundle.scorers[good].calibration = fit_calibration(rng.normal(0.3, 0.1, 4000), rng.normal(0.6, 0.1, 4000))
    bundle.scorers[weak].calibration = fit_calibration(rng.normal(0.5, 0.2, 2000), rng.normal(0.7, 0.2, 2000))
    cfg = ScoringConfig.from_targets(bundle, target_far=0.05, target_frr=0.01)
    only_good, only_weak = cfg.thresholds([good]), cfg.thresholds([weak])
    assert only_good != only_weak
    # The single-modality thresholds are that modality's own held-out quantiles.
    cal = bundle.scorers[good].calibration
    imp = cal.probability(rng.normal(0.6, 0.1, 20000))
    assert np.mean(imp < only_good.allow_below) == pytest.approx(0.05, abs=0.02)
    gen = cal.probability(rng.normal(0.3, 0.1, 20000))
    assert np.mean(gen >= only_good.deny_at_or_above) == pytest.approx(0.01, abs=0.01)
    # A session holding only the weak modality is judged by its thresholds, not the average.
    risk = (only_weak.allow_below + only_good.allow_below) / 2
    assert {cfg.decide(risk, [good]), cfg.decide(risk, [weak])} == {"allow", "challenge"}
    assert cfg.thresholds(names) == cfg.thresholds(reversed(names))  # order does not matter
    assert cfg.thresholds([]) == cfg.thresholds(names)  # nothing scored: the all-modality default


def test_llr_fusion_adds_evidence_and_mean_fusion_averages_it():
    from biometrics.scoring import fuse

    p, w = np.array([0.9, 0.9]), np.ones(2)
    assert fuse(p, w, "mean") == pytest.approx(0.9)
    assert fuse(p, w, "llr") == pytest.approx(81 / 82)  # odds 9 * 9
    assert fuse(np.array([0.9, 0.1]), w, "llr") == pytest.approx(0.5)  # opposite evidence cancels
    # A modality seen with zero confidence contributes nothing under either rule.
    assert fuse(np.array([0.8, 0.01]), np.array([1.0, 0.0]), "llr") == pytest.approx(0.8)
    assert fuse(np.array([0.8, 0.01]), np.array([1.0, 0.0]), "mean") == pytest.approx(0.8)
    with pytest.raises(ValueError, match="fusion must be one of"):
        ScoringConfig(fusion="max")


def test_a_device_specific_scorer_serves_its_devices_and_keeps_its_own_profile_part():
    bundle = tiny_bundle()
    keys = bundle.scorers["keystrokes"]
    bundle.scorers["keystrokes_phone"] = dataclasses.replace(keys, name="keystrokes_phone", devices=("mobile",))
    assert set(bundle.scorers_for("mobile")) == {"keystrokes_phone", "pointer", "touch"}
    assert set(bundle.scorers_for("desktop")) == {"keystrokes", "pointer", "touch"}
    scorer = Scorer(bundle)
    phones = generate_dataset(2, 2, n_impostor=0, n_bot=0, n_replay=0, seed=6, n_enroll=1, mobile_fraction=1.0)
    phone = next(r for r in phones if r.session.keystrokes)
    obs = scorer.observe(phone.session)
    assert "keystrokes_phone" in obs.vectors and "keystrokes" not in obs.vectors
    assert "keystrokes_phone" in obs.signatures and obs.modalities["keystrokes_phone"] == "keystrokes"
    # The phone part's stored signature catches a replay of the phone session.
    prof = FakeProfile("verifying", dict(obs.vectors), {k: [v] for k, v in obs.signatures.items()})
    assert "replayed_session" in scorer.score(obs, prof).reasons


def test_a_head_that_needs_two_items_waits_for_them_instead_of_failing():
    """One mouse action enrolled: the boosted head is not fitted and pointer is not scored (no error);
    a second action fits it."""
    from biometrics.calibration import Calibration
    from biometrics.heads.boosted import BoostedTreesHead
    from biometrics.modalities import MODALITIES
    from biometrics.profiles import enroll, new_profile
    from biometrics.scorers import ModalityScorer

    rng = np.random.default_rng(0)
    k = len(MODALITIES["pointer"].item_features["action"])
    head = BoostedTreesHead(rng.normal(size=(64, k)).astype(np.float32), n_trees=5)
    pointer = ModalityScorer("pointer", "pointer", "action", {}, head, Calibration(1.0, 0.0, 0, 0, 0, 0),
                             inputs=("features",), unit_options={"action_context": False}, max_enroll_vectors=50)
    scorer = Scorer(ModelBundle("v", {"pointer": pointer}))
    one = np.ones((1, k), np.float32)
    profile = enroll(new_profile("t", "k"), {"pointer": one}, {}, "v", **scorer.enrollment())
    assert profile.head_state("pointer", "v") == {} and not pointer.can_score(profile.embeddings("pointer", "v"))
    obs = Observed({"pointer": one}, {"pointer": 40}, {}, [])
    verifying = dataclasses.replace(profile, state="verifying")
    assert scorer.score(obs, verifying).modalities["pointer"].probability is None
    profile = enroll(profile, {"pointer": 2 * one}, {}, "v", **scorer.enrollment())
    assert profile.head_state("pointer", "v") and pointer.can_score(profile.embeddings("pointer", "v"))
    assert scorer.score(obs, dataclasses.replace(profile, state="verifying")).modalities["pointer"].probability is not None


def test_a_compressed_bundle_loads_to_the_same_scorers(tmp_path):
    bundle = tiny_bundle()
    bundle.save(tmp_path / "plain.pt")
    bundle.save(tmp_path / "small.pt", compress=True)
    assert (tmp_path / "small.pt").read_bytes()[:2] == b"\x1f\x8b"
    plain, small = ModelBundle.load(tmp_path / "plain.pt"), ModelBundle.load(tmp_path / "small.pt")
    for name, s in plain.scorers.items():
        for a, b in zip(s.encoder.module.state_dict().values(), small.scorers[name].encoder.module.state_dict().values()):
            assert torch.equal(a, b)


def test_bootstrap_bounded_quantiles_hold_the_deny_target_on_new_users():
    """A hundred validation users are a small sample of people: the deny threshold at their
    99th percentile denies more than 1% of a new population in most draws; the user-bootstrap
    bound (90%) does so far less often (a percentile bootstrap of a tail quantile still falls
    short of its nominal 90%), and denies under 1% on average, at a threshold never below it."""
    from biometrics.calibration import fit_calibration

    def population(rng, n_users, per_user, mean):
        user = rng.normal(0.0, 0.4, n_users)  # a per-user effect: some owners score far higher
        scores = mean + user[:, None] + rng.normal(0.0, 0.4, (n_users, per_user))
        return scores.ravel(), np.repeat(np.arange(n_users), per_user)

    frr: dict[str, list[float]] = {"plain": [], "bounded": []}
    for seed in range(30):
        rng = np.random.default_rng(seed)
        gen, gen_users = population(rng, 100, 10, 0.0)
        imp, imp_users = population(rng, 100, 20, 1.5)
        new_gen, _ = population(rng, 3000, 10, 0.0)
        plain = fit_calibration(gen, imp)
        bounded = fit_calibration(gen, imp, gen_users, imp_users, confidence=0.9, n_boot=200, seed=seed)
        assert bounded.quantile_confidence == 0.9 and plain.quantile_confidence == 0.0
        assert np.all(np.diff(bounded.genuine_quantiles) >= 0)
        for name, cal in (("plain", plain), ("bounded", bounded)):
            deny_at = np.interp(0.99, QUANTILE_LEVELS, cal.genuine_quantiles)
            frr[name].append(float(np.mean(cal.probability(new_gen) >= deny_at)))
        assert (np.interp(0.99, QUANTILE_LEVELS, bounded.genuine_quantiles)
                >= np.interp(0.99, QUANTILE_LEVELS, plain.genuine_quantiles))
        assert (np.interp(0.05, QUANTILE_LEVELS, bounded.impostor_quantiles)
                <= np.interp(0.05, QUANTILE_LEVELS, plain.impostor_quantiles))
    over = {k: float(np.mean(np.array(v) > 0.01)) for k, v in frr.items()}
    assert over["plain"] >= 0.5 and over["bounded"] <= 0.4, over
    assert np.mean(frr["bounded"]) <= 0.01 < np.mean(frr["plain"])
    with pytest.raises(ValueError, match="groups"):
        fit_calibration(gen, imp, gen_users[:-1], imp_users)


def test_llr_fusion_weights_are_relative():
    """One modality's fused risk is its own probability, however little data it saw; with two,
    only their relative confidence matters (the calibrations already reflect session length)."""
    from biometrics.scoring import fuse

    for w in (0.1, 0.5, 1.0):
        assert fuse(np.array([0.8]), np.array([w]), "llr") == pytest.approx(0.8)
    p = np.array([0.9, 0.2])
    assert fuse(p, np.array([0.2, 0.1]), "llr") == pytest.approx(fuse(p, np.array([1.0, 0.5]), "llr"))
    # the more confident modality pulls the fused risk its way
    assert fuse(p, np.array([1.0, 0.2]), "llr") > fuse(p, np.array([0.2, 1.0]), "llr")


def _item_calibrated_bundle(rng) -> ModelBundle:
    """The tiny bundle with its pointer scorer calibrated per item count: item anomalies of
    SD 1 around 0 (owner) and 1 (impostor), so a mean of n items has SD 1/sqrt(n)."""
    from biometrics.calibration import fit_calibration, fit_item_calibrations

    bundle = tiny_bundle()
    for m in bundle.scorers.values():
        m.calibration = fit_calibration(rng.normal(0.3, 0.1, 500), rng.normal(0.9, 0.2, 500))
    draw = lambda mu, n: rng.normal(mu, 1.0, (4000, n)).mean(1)
    counts = (1, 4, 16)
    short = fit_item_calibrations({n: draw(0.0, n) for n in counts}, {n: draw(1.0, n) for n in counts})
    headline = fit_calibration(draw(0.0, 64), draw(1.0, 64))
    bundle.scorers["pointer"] = dataclasses.replace(bundle.scorers["pointer"], calibration=headline,
                                                    item_calibrations=short)
    return bundle


def test_a_session_of_few_items_gets_the_calibration_of_its_length():
    pointer = _item_calibrated_bundle(np.random.default_rng(2)).scorers["pointer"]
    assert [pointer.calibration_items(n) for n in (None, 1, 3, 4, 15, 16, 17, 64, 500)] == \
        [None, 1, 1, 4, 4, 16, None, None, None]
    # The same mean anomaly is far weaker evidence from 1 item than from 64.
    p = [float(pointer.probability(0.9, n)) for n in (1, 4, 16, 64)]
    assert p == sorted(p) and p[0] < 0.7 and p[-1] > 0.99
    assert float(pointer.probability(0.9)) == p[-1]  # no count: the headline calibration
    with pytest.raises(ValueError, match="item_calibrations"):
        dataclasses.replace(pointer, item_calibrations=pointer.item_calibrations[::-1])


def test_item_calibrations_survive_the_bundle(tmp_path):
    bundle = _item_calibrated_bundle(np.random.default_rng(3))
    bundle.save(tmp_path / "b.pt")
    loaded = ModelBundle.load(tmp_path / "b.pt").scorers["pointer"]
    assert loaded.item_calibrations == bundle.scorers["pointer"].item_calibrations


def test_a_short_session_is_judged_by_thresholds_of_its_own_evidence():
    bundle = _item_calibrated_bundle(np.random.default_rng(4))
    derived = Scorer(bundle, ScoringConfig.from_targets(bundle, target_far=0.05, target_frr=0.01))
    long_, short = derived.thresholds({"pointer": 64}), derived.thresholds({"pointer": 1})
    assert long_ == derived.config.thresholds(["pointer"])  # the headline set's thresholds
    # One action cannot meet both targets the way 64 do: a wide challenge band.
    assert short.deny_at_or_above - short.allow_below > long_.deny_at_or_above - long_.allow_below
    cal = bundle.scorers["pointer"].calibration_for(1)
    rng = np.random.default_rng(5)
    impostors = cal.probability(rng.normal(1.0, 1.0, 20000))
    assert np.mean(impostors < short.allow_below) == pytest.approx(0.05, abs=0.02)
    assert derived.thresholds({"keystrokes": 1, "pointer": 2}) != derived.thresholds({"keystrokes": 1, "pointer": 64})
    # Thresholds set by hand hold for every session, long or short.
    by_hand = Scorer(bundle, ScoringConfig(allow_below=0.4, deny_at_or_above=0.8))
    assert by_hand.thresholds({"pointer": 1}) == by_hand.thresholds({"pointer": 64}) == (
        by_hand.config.thresholds(["pointer"]))


def test_a_session_unit_is_calibrated_by_its_press_count():
    """A keystroke scorer scores one item per session: its evidence is the session's presses."""
    bundle = tiny_bundle()
    weak = Calibration(2.0, -1.0, 0, 0, 0, 0)  # what 10 presses are worth: far less than 40
    keys = dataclasses.replace(bundle.scorers["keystrokes"], item_calibrations=((10, weak),))
    bundle.scorers["keystrokes"] = keys
    assert keys.evidence(1, 12) == 12 and bundle.scorers["pointer"].evidence(3, 120) == 120  # both session units
    scorer = Scorer(bundle, ScoringConfig(allow_below=0.5, deny_at_or_above=0.9))
    e = np.eye(8, dtype=np.float32)
    profile = FakeProfile("verifying", {"keystrokes": e[1][None, :]})  # distance sqrt(2) from e[0]
    short, long_ = (scorer.score(Observed({"keystrokes": e[:1]}, {"keystrokes": n}, {}, []), profile)
                    for n in (10, 40))
    d = float(np.sqrt(2))
    assert short.modalities["keystrokes"].probability == pytest.approx(float(weak.probability(d)), rel=1e-4)
    assert long_.modalities["keystrokes"].probability == pytest.approx(float(keys.calibration.probability(d)), rel=1e-4)
    assert short.decision == "challenge" and long_.decision == "deny"
