"""Session scoring: items -> vectors -> head score against the profile -> calibrated, fused risk.

    scorer = Scorer(ModelBundle.load(path), ScoringConfig())
    observed = scorer.observe(session)            # embeddings + replay signatures per modality
    result = scorer.score(observed, profile)      # risk, decision, confidence, reasons
    result = scorer.score(observed, profile, TenantPolicy(enrolling_decision="allow"))  # a tenant's policy

A modality's score is the calibrated probability that its session is not the owner's: the
bundle's :class:`~biometrics.scorers.ModalityScorer` cuts the session into items, makes
their vectors, scores them with its head against the profile's enrollment vectors and
state, aggregates and calibrates. The fused
risk weights each modality by its confidence (how much of it the session holds), and
the guards (bot-like timing, replay) override a match: a replayed session is the owner's
rhythm by construction, so only the guard can catch it.

While a profile enrolls its scores do not count: the decision is the tenant's
:class:`TenantPolicy` (``challenge`` unless the tenant chose otherwise), with the reason
``profile_enrolling``; a guard still denies. A modality whose profile holds no vectors of the
served model version (made by an earlier bundle and not re-embedded yet: ``python -m
serving.reembed``) cannot be scored either: the reason ``profile_model_outdated`` says so, and
when no modality could be scored the decision is the policy's ``outdated_decision``
(``challenge`` by default), never an allow by omission.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from biometrics.bundle import ModelBundle
from biometrics.calibration import QUANTILE_LEVELS, Calibration
from biometrics.events import Session
from biometrics.guards import GuardConfig, ReplayEvidence, bot_like, replay_evidence, signatures
from biometrics.heads import HeadState
from biometrics.modalities import Items
from biometrics.profiles import EnrollmentInputs, input_spec

Decision = Literal["allow", "challenge", "deny"]
DECISIONS: tuple[Decision, ...] = ("allow", "challenge", "deny")  # in order of severity
#: The decisions a tenant's policy sets (:class:`TenantPolicy`).
POLICY_DECISIONS = ("enrolling_decision", "outdated_decision", "possible_replay_decision")
Fusion = Literal["mean", "llr"]
FUSIONS: tuple[Fusion, ...] = ("mean", "llr")


def fuse(probabilities: np.ndarray, weights: np.ndarray, method: Fusion = "mean") -> np.ndarray:
    """Fused risk of per-modality probabilities ``[..., M]`` with confidence weights ``[..., M]``.

    ``mean``: the confidence-weighted mean of the probabilities. ``llr``: each calibrated
    probability is a log-likelihood ratio (its logit: the calibrations are class-balanced),
    the fused risk the sigmoid of their confidence-weighted sum (independent modalities
    add their evidence, as naive Bayes). The weights are relative in both: the most
    confident modality counts fully, so one modality's risk is its own probability. Each
    calibration was fitted on held-out sessions of every length, and the thresholds are
    simulated at full weight; shrinking a lone short session's evidence as well re-ranked
    sessions by length (Aalto served EER 3.7% -> 4.0%).
    """
    p = np.clip(np.asarray(probabilities, np.float64), 1e-9, 1 - 1e-9)
    w = np.asarray(weights, np.float64)
    if method == "mean":
        return (w * p).sum(-1) / w.sum(-1)
    w = w / np.maximum(w.max(-1, keepdims=True), 1e-12)
    z = (w * np.log(p / (1 - p))).sum(-1)
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

#: Draws per modality set when fused held-out risks are simulated for its thresholds.
_FUSION_DRAWS = 20_000


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds on a risk: "allow" below ``allow_below``, "deny" at ``deny_at_or_above``."""

    allow_below: float
    deny_at_or_above: float

    def decide(self, risk: float) -> Decision:
        """Decision for a risk."""
        if risk >= self.deny_at_or_above:
            return "deny"
        return "allow" if risk < self.allow_below else "challenge"


@dataclass(frozen=True)
class TenantPolicy:
    """A tenant's decision policy, passed to :meth:`Scorer.score` per request (the scorer is stateless).

    ``enrolling_decision``: the decision for a session against a profile that is still
    enrolling (too few sessions for its scores to count), reason ``profile_enrolling``. A
    guard (bot-like timing, replay) overrides it. ``"challenge"`` by default: a profile that
    does not exist yet must not let an impostor in; ``"allow"`` only where enrollment
    sessions are vouched for otherwise (e.g. right after a strong second factor).
    """

    enrolling_decision: Decision = "challenge"
    #: The decision when no modality could be scored because the profile's vectors are of another
    #: model version (reason ``profile_model_outdated``); a guard overrides it.
    outdated_decision: Decision = "challenge"
    #: The least decision for a session whose typing is within a replay's jitter of a stored
    #: session's and repeats nothing exactly (reason ``possible_replay``): what a jittered
    #: replay of keystrokes gives, and also a practised owner retyping the same login now and
    #: then. ``"challenge"`` by default (a step-up the owner passes); ``"deny"`` to refuse it.
    possible_replay_decision: Decision = "challenge"

    def __post_init__(self) -> None:
        for name in POLICY_DECISIONS:
            if getattr(self, name) not in DECISIONS:
                raise ValueError(f"{name} must be one of {', '.join(DECISIONS)}, "
                                 f"not {getattr(self, name)!r}")


@dataclass(frozen=True)
class ScoringConfig:
    """Decision thresholds on the fused risk and the behaviour while a profile enrolls.

    ``by_modalities`` holds thresholds for each set of modalities a session can be scored
    on (key: the sorted modality names joined by ``+``); a set without an entry uses
    ``allow_below`` / ``deny_at_or_above``. ``enrolling_decision`` is the default policy's
    (see :class:`TenantPolicy`), used when :meth:`Scorer.score` gets no policy.
    ``targets``: the (FAR, FRR) the thresholds were derived from (:meth:`from_targets`); the
    scorer then also derives them for sessions with fewer items than the headline
    calibrations' (:meth:`Scorer.thresholds`). None: thresholds set by hand, one pair for all.
    """

    allow_below: float = 0.5
    deny_at_or_above: float = 0.9
    enrolling_decision: Decision = "challenge"
    outdated_decision: Decision = "challenge"
    possible_replay_decision: Decision = "challenge"
    guard_risk: float = 0.97
    fusion: Fusion = "llr"
    guards: GuardConfig = field(default_factory=GuardConfig)
    by_modalities: dict[str, Thresholds] = field(default_factory=dict)
    targets: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, not {self.fusion!r}")

    @classmethod
    def from_targets(cls, bundle: ModelBundle, target_far: float, target_frr: float, **kw) -> ScoringConfig:
        """Thresholds from target error rates on the bundle's held-out comparisons.

        ``allow_below``: at most ``target_far`` of impostors get "allow"; ``deny_at_or_above``:
        at most ``target_frr`` of genuine sessions get "deny"; in between, "challenge". For
        each set of the bundle's modalities, from the distribution of the fused risk that
        set gives: a keystroke-only session is judged by the keystroke calibration alone,
        a session with several modalities by their fused probabilities (``kw["fusion"]``,
        :func:`fuse`), simulated from each modality's held-out quantiles as independent draws
        (seeded). The set of every modality also sets the default ``allow_below`` /
        ``deny_at_or_above``.
        """
        names = sorted(bundle.scorers)
        for name in names:
            if not bundle.scorers[name].calibration.genuine_quantiles:
                raise ValueError("the bundle's calibration has no held-out quantiles; re-export it")
        sets = [c for r in range(1, len(names) + 1) for c in itertools.combinations(names, r)]
        fusion = kw.get("fusion", "llr")
        by = {modality_set_key(c): derive_thresholds([bundle.scorers[n].calibration for n in c],
                                                     target_far, target_frr, fusion) for c in sets}
        full = by[modality_set_key(names)]
        return cls(allow_below=full.allow_below, deny_at_or_above=full.deny_at_or_above, by_modalities=by,
                   targets=(target_far, target_frr), **kw)

    def default_policy(self) -> TenantPolicy:
        """The policy of a tenant that set none: this config's decisions."""
        return TenantPolicy(self.enrolling_decision, self.outdated_decision, self.possible_replay_decision)

    def thresholds(self, modalities: Iterable[str] = ()) -> Thresholds:
        """The thresholds for a session scored on ``modalities`` (defaults when none are set)."""
        key = modality_set_key(modalities)
        return self.by_modalities.get(key) or Thresholds(self.allow_below, self.deny_at_or_above)

    def decide(self, risk: float, modalities: Iterable[str] = ()) -> Decision:
        """Decision for a fused risk of a session scored on ``modalities``."""
        return self.thresholds(modalities).decide(risk)


def modality_set_key(modalities: Iterable[str]) -> str:
    """Key of a set of modalities in :attr:`ScoringConfig.by_modalities`, e.g. ``"keystrokes+pointer"``."""
    return "+".join(sorted(modalities))


def derive_thresholds(cals: list[Calibration], target_far: float, target_frr: float,
                      fusion: Fusion = "mean") -> Thresholds:
    """Thresholds of one modality set from the held-out genuine and impostor fused risks of
    its calibrations (one per modality)."""
    rng = np.random.default_rng(0)
    if len(cals) == 1:  # the held-out quantiles are the distribution itself
        genuine_q, impostor_q = np.array(cals[0].genuine_quantiles), np.array(cals[0].impostor_quantiles)
    else:
        draw = lambda q: np.interp(rng.random(_FUSION_DRAWS), QUANTILE_LEVELS, q)
        ones = np.ones((_FUSION_DRAWS, len(cals)))
        genuine = fuse(np.stack([draw(c.genuine_quantiles) for c in cals], -1), ones, fusion)
        impostor = fuse(np.stack([draw(c.impostor_quantiles) for c in cals], -1), ones, fusion)
        genuine_q, impostor_q = np.quantile(genuine, QUANTILE_LEVELS), np.quantile(impostor, QUANTILE_LEVELS)
    deny_at = float(np.clip(np.interp(1.0 - target_frr, QUANTILE_LEVELS, genuine_q), 1e-6, 1.0))
    allow = float(np.clip(min(np.interp(target_far, QUANTILE_LEVELS, impostor_q), deny_at), 1e-6, 1.0))
    return Thresholds(allow, deny_at)


@dataclass(frozen=True)
class Observed:
    """What a session contributes: per-scorer item vectors ``[n_items, K]``, token counts, replay signatures."""

    vectors: dict[str, np.ndarray]
    n_tokens: dict[str, int]
    signatures: dict[str, np.ndarray]  # by scorer name, like the vectors
    bot_modalities: list[str]
    modalities: dict[str, str] = field(default_factory=dict)  # scorer name -> its modality (when they differ)
    items: dict[str, Items] = field(default_factory=dict)  # the items the vectors were made of, by scorer

    def replay_evidence(self, profile: ProfileView | None, guards: GuardConfig) -> ReplayEvidence | None:
        """The strongest evidence over the scorers that a signature repeats one the profile
        stored for it (:func:`~biometrics.guards.replay_evidence`); None: nothing repeats."""
        if profile is None:
            return None
        found: ReplayEvidence | None = None
        for name, sig in self.signatures.items():
            e = replay_evidence(sig, profile.replay_signatures(name), guards, self.modalities.get(name, name))
            if e == "exact":
                return e
            found = found or e
        return found


class ProfileView(Protocol):
    """What scoring reads from a stored profile (see :mod:`biometrics.profiles`)."""

    state: str

    def embeddings(self, modality: str, model_version: str) -> np.ndarray | None: ...

    def head_state(self, modality: str, model_version: str) -> HeadState: ...

    def replay_signatures(self, modality: str) -> list[np.ndarray]: ...


@dataclass
class ModalityScore:
    """One modality's contribution to the risk."""

    distance: float | None  # the head's anomaly score (for a distance head, the mean distance)
    probability: float | None
    confidence: float
    n_tokens: int
    reason: str | None = None


@dataclass
class ScoreResult:
    """The answer for one session."""

    risk: float
    decision: Decision
    confidence: float
    modalities: dict[str, ModalityScore]
    reasons: list[str]
    model_version: str

    def to_dict(self) -> dict:
        """Plain JSON-able form."""
        return dataclasses.asdict(self)


class Scorer:
    """Scores sessions with one model bundle; holds no per-user state."""

    def __init__(self, bundle: ModelBundle, config: ScoringConfig = ScoringConfig()) -> None:
        self.bundle, self.config = bundle, config
        self._short_thresholds: dict[tuple, Thresholds] = {}  # a memo of thresholds(), not state

    def _evidence(self, observed: Observed, name: str) -> int:
        """The evidence count of a scorer's part of a session (:meth:`ModalityScorer.evidence`)."""
        return self.bundle.scorers[name].evidence(len(observed.vectors[name]), observed.n_tokens[name])

    def thresholds(self, items: dict[str, int]) -> Thresholds:
        """The thresholds of a session scored on these scorers with these evidence counts.

        A scorer calibrated per session length (:attr:`~biometrics.scorers.ModalityScorer.item_calibrations`)
        weighs a login page's three mouse actions as the weak evidence they are; the thresholds
        of such a session come from the held-out distributions of the calibrations it got (the
        same targets), so a short session is challenged where a long one would be decided.
        Thresholds set by hand (``config.targets`` None) hold for every session.
        """
        names = sorted(items)
        if self.config.targets is None:
            return self.config.thresholds(names)
        key = tuple((n, self.bundle.scorers[n].calibration_items(items[n])) for n in names)
        if all(count is None for _, count in key):
            return self.config.thresholds(names)
        if key not in self._short_thresholds:
            cals = [self.bundle.scorers[n].calibration_for(items[n]) for n in names]
            self._short_thresholds[key] = derive_thresholds(cals, *self.config.targets, self.config.fusion)
        return self._short_thresholds[key]

    @property
    def model_version(self) -> str:
        """Version of the bundle that makes this scorer's embeddings."""
        return self.bundle.model_version

    def enrollment(self) -> dict:
        """Keyword arguments of :func:`biometrics.profiles.enroll` for this bundle's scorers:
        how many vectors each keeps, and the fit of each one's head."""
        scorers = self.bundle.scorers
        return {"max_vectors": {n: s.max_enroll_vectors for n, s in scorers.items()},
                "fit": lambda name, vectors: scorers[name].fit(vectors)}

    def observe(self, session: Session) -> Observed:
        """Item vectors of every modality the session holds and the bundle scores (one encoder call each)."""
        vectors, counts, items = {}, {}, {}
        scorers = self.bundle.scorers_for(session.meta.device_type)
        for name, scorer in scorers.items():
            if not scorer.spec.present(session):
                continue
            its, counts[name] = scorer.usable_items(session)
            if its is not None:
                vectors[name], items[name] = scorer.item_vectors(its), its
        sigs = signatures(session, self.config.guards)
        by_name = {name: sigs[s.modality] for name, s in scorers.items() if s.modality in sigs}
        return Observed(vectors, counts, by_name, bot_like(session, self.config.guards),
                        {name: s.modality for name, s in scorers.items() if name != s.modality}, items)

    # Kept enrollment inputs: re-embedding profiles under another bundle ------------------

    def input_spec(self, name: str) -> str:
        """:func:`biometrics.profiles.input_spec` of a scorer: kept inputs re-embed under the same only."""
        s = self.bundle.scorers[name]
        return input_spec(s.modality, s.unit, s.feature_config, s.unit_options)

    def enrollment_inputs(self, observed: Observed, session_number: int,
                          max_tokens: int = 256) -> dict[str, EnrollmentInputs]:
        """What each scorer embedded of an observed session, to keep with the profile: per item its
        token sequence (the first ``max_tokens`` rows, or the encoder's crop when longer) when the
        scorer embeds tokens, its feature row when it uses item features; never the events."""
        out = {}
        for name, items in observed.items.items():
            s = self.bundle.scorers[name]
            tokens = None
            if "embedding" in s.inputs:
                crop = max(int(max_tokens), s.encoder.max_len)
                tokens = tuple(np.asarray(t[:crop], np.float32) for t in items.tokens)
            features = np.asarray(items.features, np.float32) if "features" in s.inputs else None
            out[name] = EnrollmentInputs(self.input_spec(name), (session_number,) * len(items), tokens, features)
        return out

    def reembed_vectors(self, name: str, inputs: EnrollmentInputs | None) -> np.ndarray | str:
        """Vectors this bundle's scorer ``name`` makes of kept inputs (each session's items embedded
        together, as at enrollment), or why it cannot: ``no_scorer``, ``no_inputs``,
        ``input_spec_changed`` (another unit, feature configuration or unit options) or
        ``inputs_not_kept`` (the scorer needs tokens or features that were not kept)."""
        s = self.bundle.scorers.get(name)
        if s is None:
            return "no_scorer"
        if inputs is None or len(inputs) == 0:
            return "no_inputs"
        if inputs.spec != self.input_spec(name):
            return "input_spec_changed"
        if ("embedding" in s.inputs and inputs.tokens is None) or ("features" in s.inputs and inputs.features is None):
            return "inputs_not_kept"
        sessions = np.asarray(inputs.sessions)
        parts, start = [], 0
        for end in [*np.flatnonzero(np.diff(sessions)) + 1, len(sessions)]:
            k = end - start
            tokens = list(inputs.tokens[start:end]) if inputs.tokens is not None else [np.zeros((0, 0), np.float32)] * k
            features = inputs.features[start:end] if inputs.features is not None else np.zeros((k, 0), np.float32)
            parts.append(s.item_vectors(Items(tokens, features, 0)))
            start = end
        return np.concatenate(parts).astype(np.float32, copy=False)

    def score(self, observed: Observed, profile: ProfileView | None,
              policy: TenantPolicy | None = None) -> ScoreResult:
        """Risk, decision, confidence and reasons for an observed session against a profile.

        ``policy``: the tenant's decisions (an enrolling profile, an outdated one, a possible replay);
        default ``config.default_policy()``.
        """
        cfg = self.config
        policy = policy or cfg.default_policy()
        reasons: list[str] = []
        mods: dict[str, ModalityScore] = {}
        for name, n in observed.n_tokens.items():
            conf = min(1.0, n / self.bundle.scorers[name].spec.full_tokens)
            mods[name] = self._modality_score(name, observed, profile, conf)
        scored = {k: m for k, m in mods.items() if m.probability is not None}
        replaced = {self.bundle.scorers[k].replaces for k in scored}
        scored = {k: m for k, m in scored.items() if k not in replaced}
        if scored:
            w = np.array([m.confidence for m in scored.values()])
            p = np.array([m.probability for m in scored.values()])
            risk = float(fuse(p, w, cfg.fusion))
            confidence = float(w.max())
            reasons += [m.reason for m in scored.values() if m.reason]
        else:
            risk, confidence = 0.5, 0.0
        if profile is None or profile.state != "verifying":
            reasons.append("profile_enrolling")
        outdated = getattr(profile, "outdated", None)
        if callable(outdated) and any(outdated(name, self.model_version) for name in observed.vectors):
            reasons.append("profile_model_outdated")
        if not observed.vectors:
            reasons.append("too_little_data")
        if observed.bot_modalities:
            reasons.append("bot_like_timing")
        replay = observed.replay_evidence(profile, cfg.guards)
        if replay is not None:
            reasons.append("replayed_session" if replay == "exact" else "possible_replay")
        thresholds = self.thresholds({name: self._evidence(observed, name) for name in scored})
        if "bot_like_timing" in reasons or "replayed_session" in reasons:
            risk, confidence = max(risk, cfg.guard_risk), 1.0
            decision = thresholds.decide(risk)
        elif not scored:
            decision = (policy.enrolling_decision if "profile_enrolling" in reasons
                        else policy.outdated_decision if "profile_model_outdated" in reasons else "challenge")
        else:
            decision = thresholds.decide(risk)
        if "possible_replay" in reasons:
            decision = max(decision, policy.possible_replay_decision, key=DECISIONS.index)
        return ScoreResult(round(risk, 6), decision, round(confidence, 4), mods, reasons, self.model_version)

    def _modality_score(self, name: str, observed: Observed, profile: ProfileView | None,
                        confidence: float) -> ModalityScore:
        n = observed.n_tokens[name]
        vecs = observed.vectors.get(name)
        enrolled = profile.embeddings(name, self.model_version) if profile is not None else None
        scorer = self.bundle.scorers[name]
        if vecs is None or not scorer.can_score(enrolled) or profile.state != "verifying":
            return ModalityScore(None, None, 0.0 if vecs is None else confidence, n)
        anomaly = scorer.anomaly(enrolled, profile.head_state(name, self.model_version), vecs)
        if not np.isfinite(anomaly):  # the head cannot compare this session (a password of another length)
            return ModalityScore(None, None, confidence, n)
        evidence = self._evidence(observed, name)
        prob = float(scorer.probability(anomaly, evidence))
        reason = scorer.spec.mismatch_reason if prob >= self.thresholds({name: evidence}).allow_below else None
        return ModalityScore(round(anomaly, 6), round(prob, 6), round(confidence, 4), n, reason)


