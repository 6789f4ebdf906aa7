"""Behavioral profiles: per user and modality scorer, enrollment vectors and the head fitted on them.

Pure logic, no database (the store is :mod:`biometrics.store`). A profile holds, per
modality scorer (keyed by the scorer's name, :class:`biometrics.scorers.ModalityScorer`),
the last enrollment vectors (one per session for session units, one per action or stroke
otherwise; at most ``max_embeddings`` or the scorer's own bound), the state its head fitted
on them (plain float32 arrays), the genuine-distance statistics recomputed from them, the
number of sessions enrolled, the model version that made the vectors, and replay
signatures (:func:`biometrics.guards.signatures`: keyed hashes of timing and path shapes,
never the timings, characters or key codes) in two sets: those of the enrolled sessions
(up to ``max_enrolled_signatures``, replaced only by later enrollments) and those of the last
``max_signatures`` sessions that scoring allowed. A replay is checked against both; nothing
a scored session writes can push an enrolled session's signature out. Users are keyed by :func:`user_key`, an HMAC of the tenant
and user id, so nothing stored names a person.

Rules:

- **State machine.** A profile is ``enrolling`` until one of its modalities holds
  ``min_enroll_sessions`` sessions under its current model version, then ``verifying``.
- **Model versions never mix.** Enrolling a modality with a model version other than the
  stored one restarts that modality: its embeddings, statistics and session count are
  replaced by the new session's (embedding spaces of two models are not comparable). Its
  replay signatures are kept: they describe the sessions, independently of the model. Should the
  restart leave no modality with enough sessions, the profile goes back to ``enrolling``.
- **Upgrades keep profiles.** With ``inputs`` (:class:`EnrollmentInputs`), a modality keeps what
  its scorer embedded for the last enrolled items (their token sequences and/or item feature rows:
  timing and geometry features of the session contract, key classes at most; never characters,
  key codes or raw events), bounded like its vectors. :func:`reembed` files the vectors another
  model version makes of them under that version (``other_versions``) beside the served ones, so
  a new bundle scores the profile at once and the old one still can (a rollback). Enrolling a
  session under a version promotes that version's vectors (when the profile has them) and drops
  the other versions' (they do not cover the new session; :func:`reembed` makes them again).
- **Anti-poisoning.** A ``verifying`` profile may be updated only from sessions scored below
  ``auto_update_max_risk`` (:func:`may_auto_update`); the caller checks it before enrolling.
- **Purity.** :func:`enroll` returns a new profile and never changes its input; arrays in a
  profile are read-only.

    key = user_key("acme", "alice@example.com", secret)
    profile = enroll(profile or new_profile("acme", key), {"keystrokes": emb}, sigs, "v3")
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from biometrics.heads import HeadState

State = Literal["enrolling", "verifying"]
#: Longest scorer name a profile (and the store's column) keys a modality by.
MAX_NAME_LEN = 16
#: ``fit(scorer name, enrollment vectors) -> head state``: the service passes its scorers' heads.
HeadFitter = Callable[[str, np.ndarray], HeadState]


@dataclass(frozen=True)
class ProfileConfig:
    """Enrollment and update rules of a profile."""

    min_enroll_sessions: int = 3
    max_embeddings: int = 20
    max_signatures: int = 50  # of sessions that scoring allowed (the recent ring)
    max_enrolled_signatures: int = 100  # of enrolled sessions (replaced by enrollments only)
    # Values kept per replay signature (a keystroke sketch holds at most 256; any prefix is valid).
    signature_len: int = 256
    auto_update_max_risk: float = 0.3
    # Kept enrollment inputs (for re-embedding under another bundle; the store needs a profile key):
    # whether to keep them, token rows kept per item, and model versions whose re-embedded vectors
    # are kept beside the enrolled one.
    keep_inputs: bool = False
    max_input_tokens: int = 256
    max_other_versions: int = 2

    def __post_init__(self) -> None:
        for name in ("min_enroll_sessions", "max_embeddings", "max_signatures", "max_enrolled_signatures",
                     "signature_len", "max_input_tokens", "max_other_versions"):
            if getattr(self, name) < 1:
                raise ValueError(f"ProfileConfig.{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.auto_update_max_risk <= 1.0:
            raise ValueError("ProfileConfig.auto_update_max_risk must lie in [0, 1], "
                             f"got {self.auto_update_max_risk}")


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only float32 C-order array of ``a``: ``a`` itself when nothing can change it (a
    read-only view of a ``bytes`` blob, as the deserializers below make), else a frozen copy."""
    if (isinstance(a, np.ndarray) and a.dtype == np.float32 and a.flags.c_contiguous
            and not a.flags.writeable and _bytes_backed(a)):
        return a  # a profile read from the store: no copy of every vector on every read
    a = np.array(a, dtype=np.float32, order="C", copy=True)
    a.flags.writeable = False
    return a


def _bytes_backed(a: np.ndarray) -> bool:
    """Whether the memory under ``a`` is an immutable ``bytes`` object (views all the way down)."""
    base = a.base
    while isinstance(base, np.ndarray):
        if base.flags.writeable:
            return False  # a writeable array under the view: its owner may change it
        base = base.base
    return isinstance(base, bytes)


@dataclass(frozen=True, eq=False)
class EnrollmentInputs:
    """What one modality scorer embedded for its last enrolled items, to re-embed them under another model.

    ``spec``: :func:`input_spec` of the scorer that cut them (modality, unit, feature configuration,
    unit options): another model can re-embed them only when its scorer has the same. ``sessions``:
    per item, the profile's session number it came from (items of one session are embedded together,
    as at enrollment). ``tokens``: per item its ``[T, F]`` token sequence (first ``max_input_tokens``
    rows), None when the scorer embedded none; ``features``: ``[n, K]`` item feature rows, None when
    it used none. Timing and geometry features only (the contract's key classes at most): no
    characters, key codes or raw events. Encrypted at rest (:mod:`biometrics.store`).
    """

    spec: str
    sessions: tuple[int, ...]
    tokens: tuple[np.ndarray, ...] | None = None
    features: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.sessions)
        if not (isinstance(self.spec, str) and len(self.spec) == _SPEC_LEN):
            raise ValueError(f"an input spec is {_SPEC_LEN} hex characters (biometrics.profiles.input_spec)")
        if self.tokens is None and self.features is None:
            raise ValueError("enrollment inputs need tokens, features or both")
        object.__setattr__(self, "sessions", tuple(int(x) for x in self.sessions))
        if self.tokens is not None:
            toks = tuple(_frozen(t) for t in self.tokens)
            if len(toks) != n or any(t.ndim != 2 for t in toks):
                raise ValueError(f"enrollment inputs need one [T, F] token sequence per item ({n})")
            object.__setattr__(self, "tokens", toks)
        if self.features is not None:
            f = _frozen(self.features)
            if f.ndim != 2 or f.shape[0] != n:
                raise ValueError(f"enrollment input features must be [{n}, K], got {f.shape}")
            object.__setattr__(self, "features", f)

    def __len__(self) -> int:
        return len(self.sessions)

    def last(self, n: int) -> EnrollmentInputs:
        """The last ``n`` items."""
        n = max(0, int(n))
        keep = slice(len(self) - min(n, len(self)), None)
        return EnrollmentInputs(self.spec, self.sessions[keep],
                                None if self.tokens is None else self.tokens[keep],
                                None if self.features is None else self.features[keep])

    def then(self, more: EnrollmentInputs) -> EnrollmentInputs:
        """These items followed by ``more`` (another spec or other kinds replace them)."""
        if (more.spec != self.spec or (more.tokens is None) != (self.tokens is None)
                or (more.features is None) != (self.features is None)
                or (self.features is not None and self.features.shape[1] != more.features.shape[1])):
            return more
        return EnrollmentInputs(self.spec, self.sessions + more.sessions,
                                None if self.tokens is None else self.tokens + more.tokens,
                                None if self.features is None else np.concatenate([self.features, more.features]))

    def digest(self) -> str:
        """SHA-256 of the serialized inputs: whether they changed between two reads."""
        return hashlib.sha256(inputs_to_bytes(self)).hexdigest()


#: Length of :func:`input_spec` (hex characters).
_SPEC_LEN = 16


def input_spec(modality: str, unit: str, feature_config: Mapping, unit_options: Mapping) -> str:
    """Fingerprint of how a scorer cuts a session into items: kept inputs re-embed only under the same."""
    canonical = json.dumps({"modality": modality, "unit": unit, "feature_config": dict(feature_config),
                            "unit_options": dict(unit_options)}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:_SPEC_LEN]


@dataclass(frozen=True, eq=False)
class VersionVectors:
    """A modality's enrollment vectors re-embedded by another model version, and its head's fit on them."""

    embeddings: np.ndarray
    genuine_mean: float
    genuine_sd: float
    head_state: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        emb = _frozen(self.embeddings)
        if emb.ndim != 2 or not np.isfinite(emb).all():
            raise ValueError(f"re-embedded vectors must be a finite [n, D] array, got shape {emb.shape}")
        object.__setattr__(self, "embeddings", emb)
        object.__setattr__(self, "head_state", {k: _frozen(v) for k, v in self.head_state.items()})


@dataclass(frozen=True, eq=False)
class ModalityProfile:
    """One modality scorer's part of a user's profile under one model version."""

    modality: str  # the scorer's name
    model_version: str
    embeddings: np.ndarray  # float32 [n, K] enrollment vectors, oldest first, bounded
    genuine_mean: float  # mean of the leave-one-out mean distances (0 while n < 2)
    genuine_sd: float  # their sample standard deviation (0 while n < 3)
    n_sessions: int  # sessions enrolled since this model version started
    replay_signatures: tuple[np.ndarray, ...] = ()  # of allowed scored sessions, oldest first
    head_state: Mapping[str, np.ndarray] = field(default_factory=dict)  # the head's fit, float32 arrays
    enrolled_signatures: tuple[np.ndarray, ...] = ()  # of enrolled sessions, oldest first
    inputs: EnrollmentInputs | None = None  # the last enrolled items' inputs (None: not kept, or not read)
    other_versions: Mapping[str, VersionVectors] = field(default_factory=dict)  # re-embedded, same sessions
    #: True when inputs are kept but were not read (a score's read of the profile, which never uses
    #: or writes them: decrypting them cost every score about 0.5 ms).
    inputs_unread: bool = False

    def __post_init__(self) -> None:
        check_scorer_name(self.modality)
        if not self.model_version:
            raise ValueError("model_version must be a non-empty string")
        emb = self.embeddings
        if not (isinstance(emb, np.ndarray) and emb.dtype == np.float32 and not emb.flags.writeable):
            emb = _frozen(emb)
        if emb.ndim != 2 or not np.isfinite(emb).all():
            raise ValueError(f"{self.modality} embeddings must be a finite [n, D] array, "
                             f"got shape {emb.shape}")
        object.__setattr__(self, "embeddings", emb)
        object.__setattr__(self, "replay_signatures",
                           tuple(s if (isinstance(s, np.ndarray) and s.dtype == np.float32
                                       and not s.flags.writeable) else _frozen(s)
                                 for s in self.replay_signatures))
        if self.n_sessions < 0:
            raise ValueError("n_sessions must not be negative")
        object.__setattr__(self, "head_state", {k: _frozen(v) for k, v in self.head_state.items()})
        object.__setattr__(self, "enrolled_signatures", tuple(_frozen(s) for s in self.enrolled_signatures))
        object.__setattr__(self, "other_versions", {v: o for v, o in self.other_versions.items()
                                                    if v != self.model_version})

    @property
    def keeps_inputs(self) -> bool:
        """Whether enrollment inputs are kept for this modality (read or not)."""
        return self.inputs is not None or self.inputs_unread

    def current_for(self) -> tuple[str, ...]:
        """The model versions this modality has vectors for: the enrolled one, then re-embedded ones."""
        return (self.model_version, *sorted(self.other_versions))

    def vectors_for(self, model_version: str) -> tuple[np.ndarray, Mapping[str, np.ndarray]] | None:
        """Enrollment vectors and head state under ``model_version``, or None when it has none."""
        if model_version == self.model_version:
            return self.embeddings, self.head_state
        other = self.other_versions.get(model_version)
        return (other.embeddings, other.head_state) if other is not None else None


def check_scorer_name(name: str) -> None:
    """``ValueError`` unless ``name`` can key a scorer's part of a stored profile."""
    if not (isinstance(name, str) and 0 < len(name) <= MAX_NAME_LEN and name.replace("_", "").isalnum()):
        raise ValueError(f"a modality scorer name must be 1-{MAX_NAME_LEN} letters, digits or '_', "
                         f"got {name!r}")


@dataclass(frozen=True, eq=False)
class UserProfile:
    """A user's behavioral profile within one tenant; satisfies ``biometrics.scoring.ProfileView``."""

    tenant: str
    user_key: str
    state: State = "enrolling"
    n_sessions: int = 0  # every session ever enrolled, all modalities and model versions
    modalities: Mapping[str, ModalityProfile] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def embeddings(self, modality: str, model_version: str) -> np.ndarray | None:
        """Enrollment embeddings of a modality made by ``model_version`` (enrolled or re-embedded), else None."""
        m = self.modalities.get(modality)
        got = m.vectors_for(model_version) if m is not None else None
        return got[0] if got is not None else None

    def head_state(self, modality: str, model_version: str) -> HeadState:
        """The head state fitted on a modality's enrollment vectors by ``model_version`` (empty otherwise)."""
        m = self.modalities.get(modality)
        got = m.vectors_for(model_version) if m is not None else None
        return dict(got[1]) if got is not None else {}

    def outdated(self, modality: str, model_version: str) -> bool:
        """True when the profile has the modality, but no vectors of ``model_version`` for it."""
        m = self.modalities.get(modality)
        return m is not None and m.vectors_for(model_version) is None

    def replay_signatures(self, modality: str) -> list[np.ndarray]:
        """Stored replay signatures of a modality: the enrolled sessions', then the allowed ones'."""
        m = self.modalities.get(modality)
        return list(m.enrolled_signatures) + list(m.replay_signatures) if m is not None else []


def new_profile(tenant: str, user_key: str, now: datetime | None = None) -> UserProfile:
    """An empty, enrolling profile."""
    now = now or datetime.now(UTC)
    return UserProfile(tenant, user_key, "enrolling", 0, {}, now, now)


def user_key(tenant: str, user_id: str, secret: bytes) -> str:
    """HMAC-SHA256 (hex) of the tenant and user id: the only user identifier the store holds."""
    if not secret:
        raise ValueError("user_key needs a non-empty secret (32 random bytes are recommended)")
    if not tenant or not user_id:
        raise ValueError("tenant and user_id must be non-empty")
    t = tenant.encode("utf-8")
    # Length-prefixed so that ("ab", "c") and ("a", "bc") never collide.
    msg = struct.pack(">I", len(t)) + t + user_id.encode("utf-8")
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def genuine_stats(embeddings: np.ndarray) -> tuple[float, float]:
    """Mean and sample SD of the leave-one-out mean Euclidean distances of ``[n, D]`` embeddings.

    Recomputed from the kept embeddings rather than kept as running sums, so the figures
    always describe the current (bounded) enrollment set and evicted or restarted sessions
    leave no trace. With n < 2 there is no genuine distance and both are 0; with n == 2 both
    leave-one-out distances are equal and the SD is 0. Consumers should floor the SD.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    n = x.shape[0] if x.ndim == 2 else 0
    if n < 2:
        return 0.0, 0.0
    d2 = (x**2).sum(1)[:, None] + (x**2).sum(1)[None, :] - 2.0 * x @ x.T
    d = np.sqrt(np.clip(d2, 0.0, None))
    np.fill_diagonal(d, 0.0)
    loo = d.sum(1) / (n - 1)
    sd = float(loo.std(ddof=1)) if n >= 3 else 0.0
    return float(loo.mean()), sd


def may_auto_update(risk: float, cfg: ProfileConfig = ProfileConfig()) -> bool:
    """True when a session scored ``risk`` may update a verifying profile (anti-poisoning)."""
    return bool(np.isfinite(risk)) and float(risk) < cfg.auto_update_max_risk


def _as_vector(name: str, what: str, v: np.ndarray) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all():
        raise ValueError(f"{name} {what} must be a finite, non-empty 1-D vector, got shape {a.shape}")
    return a


def enroll(profile: UserProfile, modality_vectors: Mapping[str, np.ndarray],
           signatures: Mapping[str, np.ndarray], model_version: str,
           cfg: ProfileConfig = ProfileConfig(), now: datetime | None = None, *,
           max_vectors: Mapping[str, int] | None = None, fit: HeadFitter | None = None,
           inputs: Mapping[str, EnrollmentInputs] | None = None) -> UserProfile:
    """The profile after enrolling one session: its ``[k, K]`` item vectors per modality scorer present.

    A ``[K]`` vector is one item. ``max_vectors`` bounds the vectors kept per scorer (default
    ``cfg.max_embeddings``); ``fit`` refits the scorer's head on the kept vectors (without it
    the head state is empty, which a distance head needs). Signatures are stored for the
    modalities enrolled here only; others are ignored. ``inputs``: the session's items' inputs
    per scorer (one per vector), kept with the same bound when ``cfg.keep_inputs``. A modality
    with vectors of ``model_version`` (enrolled, or re-embedded by :func:`reembed`) continues
    from them; the vectors of other versions are dropped (they lack this session).
    """
    if not modality_vectors:
        raise ValueError("a session to enroll needs at least one modality embedding")
    now = now or datetime.now(UTC)
    mods = dict(profile.modalities)
    for name, vec in modality_vectors.items():
        check_scorer_name(name)
        e = _as_matrix(name, vec)
        old = mods.get(name)
        enrolled_sigs: tuple[np.ndarray, ...] = old.enrolled_signatures if old is not None else ()
        if name in signatures:
            sig = _as_vector(name, "signature", signatures[name])[: cfg.signature_len]
            enrolled_sigs = (enrolled_sigs + (_frozen(sig),))[-cfg.max_enrolled_signatures:]
        base = old.vectors_for(model_version) if old is not None else None
        if base is not None:
            if base[0].shape[1] != e.shape[1]:
                raise ValueError(f"{name} embedding has {e.shape[1]} dimensions, the profile "
                                 f"{base[0].shape[1]} under the same model version "
                                 f"{model_version!r}")
            emb = np.concatenate([base[0], e])
            n = old.n_sessions + 1
        else:  # new modality, or a new model version: restart, never mix embedding spaces
            emb, n = e, 1
        bound = (max_vectors or {}).get(name, cfg.max_embeddings)
        emb = _frozen(emb[-bound:])
        mean, sd = genuine_stats(emb[-_STATS_VECTORS:])
        state = fit(name, emb) if fit is not None else {}
        kept, new_inputs = None, (inputs or {}).get(name)
        if cfg.keep_inputs and new_inputs is not None:
            before = old.inputs if old is not None and base is not None else None
            kept = (before.then(new_inputs) if before is not None else new_inputs).last(bound)
        mods[name] = ModalityProfile(name, model_version, emb, mean, sd, n,
                                     old.replay_signatures if old is not None else (), state, enrolled_sigs,
                                     kept)
    return dataclasses.replace(profile, state=profile_state(mods, cfg), n_sessions=profile.n_sessions + 1,
                               modalities=mods, updated_at=now)


def profile_state(modalities: Mapping[str, ModalityProfile], cfg: ProfileConfig = ProfileConfig()) -> State:
    """``verifying`` once any scorer's part holds ``cfg.min_enroll_sessions`` sessions, else ``enrolling``."""
    return "verifying" if any(m.n_sessions >= cfg.min_enroll_sessions for m in modalities.values()) else "enrolling"


def forget_scorer(profile: UserProfile, name: str, cfg: ProfileConfig = ProfileConfig(),
                  now: datetime | None = None) -> UserProfile | None:
    """The profile without one scorer's part (its vectors, head, kept inputs and signatures),
    e.g. the password scorer's after the user changed the password: the sessions enrolled or
    allowed next rebuild it. None when the profile has no such part."""
    if name not in profile.modalities:
        return None
    mods = {k: m for k, m in profile.modalities.items() if k != name}
    return dataclasses.replace(profile, state=profile_state(mods, cfg), modalities=mods,
                               updated_at=now or datetime.now(UTC))


def reembed(profile: UserProfile, modality_vectors: Mapping[str, np.ndarray], model_version: str,
            cfg: ProfileConfig = ProfileConfig(), *, max_vectors: Mapping[str, int] | None = None,
            fit: HeadFitter | None = None) -> UserProfile:
    """The profile with each modality's vectors under ``model_version`` (made from its kept
    :class:`EnrollmentInputs` by that model's scorer) filed beside the enrolled ones.

    Bounded, statistics and head fit as :func:`enroll` makes them, so the result equals a fresh
    enrollment of the same items under that version. Sessions counts, state, inputs, signatures
    and ``updated_at`` do not change; at most ``cfg.max_other_versions`` versions are kept beside
    the enrolled one (the oldest goes). A modality already enrolled under ``model_version`` is
    left as it is.
    """
    mods = dict(profile.modalities)
    for name, vec in modality_vectors.items():
        m = mods.get(name)
        if m is None:
            raise ValueError(f"the profile has no modality {name!r} to re-embed")
        if m.model_version == model_version:
            continue
        e = _frozen(_as_matrix(name, vec)[-(max_vectors or {}).get(name, cfg.max_embeddings):])
        mean, sd = genuine_stats(e[-_STATS_VECTORS:])
        others = {v: o for v, o in m.other_versions.items() if v != model_version}
        others[model_version] = VersionVectors(e, mean, sd, fit(name, e) if fit is not None else {})
        mods[name] = dataclasses.replace(m, other_versions=dict(list(others.items())[-cfg.max_other_versions:]))
    return dataclasses.replace(profile, modalities=mods)


#: Most recent vectors the genuine statistics are computed on (all pairs: quadratic).
_STATS_VECTORS = 256


def _as_matrix(name: str, v: np.ndarray) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.size == 0 or not np.isfinite(a).all():
        raise ValueError(f"{name} vectors must be a finite, non-empty [k, K] array, got shape {a.shape}")
    return a


# Serialization: little-endian float32 with an explicit shape header. No pickle.

_ARRAY_MAGIC = b"BMA1"
_VECTORS_MAGIC = b"BMV1"


def embeddings_to_bytes(a: np.ndarray) -> bytes:
    """``[n, D]`` float32 array as bytes: magic, n, D (uint32 LE), then the values."""
    a = np.asarray(a, dtype="<f4")
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {a.shape}")
    return _ARRAY_MAGIC + struct.pack("<II", *a.shape) + np.ascontiguousarray(a).tobytes()


def embeddings_from_bytes(b: bytes) -> np.ndarray:
    """Inverse of :func:`embeddings_to_bytes` (a read-only float32 array)."""
    b = bytes(b)
    if len(b) < 12 or b[:4] != _ARRAY_MAGIC:
        raise ValueError("not an embeddings blob (bad header)")
    n, d = struct.unpack_from("<II", b, 4)
    if len(b) != 12 + 4 * n * d:
        raise ValueError(f"embeddings blob is {len(b)} bytes, its header says [{n}, {d}]")
    return _frozen(np.frombuffer(b, dtype="<f4", offset=12).reshape(n, d))


def vectors_to_bytes(vectors: tuple[np.ndarray, ...] | list[np.ndarray]) -> bytes:
    """Ragged list of 1-D float32 vectors as bytes: magic, count, then (length, values) each."""
    parts = [_VECTORS_MAGIC, struct.pack("<I", len(vectors))]
    for v in vectors:
        v = np.asarray(v, dtype="<f4")
        if v.ndim != 1:
            raise ValueError(f"expected 1-D vectors, got shape {v.shape}")
        parts += [struct.pack("<I", v.size), v.tobytes()]
    return b"".join(parts)


def vectors_from_bytes(b: bytes) -> tuple[np.ndarray, ...]:
    """Inverse of :func:`vectors_to_bytes` (read-only float32 vectors)."""
    b = bytes(b)
    if len(b) < 8 or b[:4] != _VECTORS_MAGIC:
        raise ValueError("not a vectors blob (bad header)")
    (count,), pos, out = struct.unpack_from("<I", b, 4), 8, []
    for _ in range(count):
        if pos + 4 > len(b):
            raise ValueError("vectors blob is truncated")
        (size,) = struct.unpack_from("<I", b, pos)
        pos += 4
        if pos + 4 * size > len(b):
            raise ValueError("vectors blob is truncated")
        out.append(_frozen(np.frombuffer(b, dtype="<f4", count=size, offset=pos)))
        pos += 4 * size
    if pos != len(b):
        raise ValueError("vectors blob has trailing bytes")
    return tuple(out)


_STATE_MAGIC = b"BMS1"


def state_to_bytes(state: Mapping[str, np.ndarray]) -> bytes:
    """Named float32 arrays as bytes: magic, count, then per array its name, shape and values."""
    parts = [_STATE_MAGIC, struct.pack("<I", len(state))]
    for name, a in sorted(state.items()):
        a = np.asarray(a, dtype="<f4")
        key = name.encode("utf-8")
        parts += [struct.pack("<II", len(key), a.ndim), key, struct.pack(f"<{a.ndim}I", *a.shape),
                  np.ascontiguousarray(a).tobytes()]
    return b"".join(parts)


def state_from_bytes(b: bytes | None) -> dict[str, np.ndarray]:
    """Inverse of :func:`state_to_bytes` (read-only float32 arrays); empty for None."""
    if b is None:
        return {}
    b = bytes(b)
    if len(b) < 8 or b[:4] != _STATE_MAGIC:
        raise ValueError("not a head-state blob (bad header)")
    (count,), pos, out = struct.unpack_from("<I", b, 4), 8, {}
    try:
        for _ in range(count):
            klen, ndim = struct.unpack_from("<II", b, pos)
            pos += 8
            name = b[pos:pos + klen].decode("utf-8")
            pos += klen
            shape = struct.unpack_from(f"<{ndim}I", b, pos)
            pos += 4 * ndim
            size = int(np.prod(shape)) if ndim else 1
            if pos + 4 * size > len(b):
                raise ValueError("head-state blob is truncated")
            out[name] = _frozen(np.frombuffer(b, dtype="<f4", count=size, offset=pos).reshape(shape))
            pos += 4 * size
    except struct.error as err:
        raise ValueError("head-state blob is truncated") from err
    if pos != len(b):
        raise ValueError("head-state blob has trailing bytes")
    return out


_INPUTS_MAGIC = b"BMI1"
_VERSIONS_MAGIC = b"BMO1"


def inputs_to_bytes(inputs: EnrollmentInputs) -> bytes:
    """Kept enrollment inputs as bytes (plaintext: :mod:`biometrics.store` encrypts them): magic,
    spec, which kinds are kept, item count, then per item its session number, token sequence and
    feature row (little-endian uint32 shapes, float32 values)."""
    has_t, has_f = inputs.tokens is not None, inputs.features is not None
    k = inputs.features.shape[1] if has_f else 0
    parts = [_INPUTS_MAGIC, inputs.spec.encode("ascii"), struct.pack("<BBII", has_t, has_f, len(inputs), k)]
    for i, session in enumerate(inputs.sessions):
        t = np.asarray(inputs.tokens[i], "<f4") if has_t else np.zeros((0, 0), "<f4")
        parts += [struct.pack("<III", session, *t.shape), np.ascontiguousarray(t).tobytes()]
        if has_f:
            parts.append(np.asarray(inputs.features[i], "<f4").tobytes())
    return b"".join(parts)


def inputs_from_bytes(b: bytes) -> EnrollmentInputs:
    """Inverse of :func:`inputs_to_bytes`."""
    b = bytes(b)
    head = 4 + _SPEC_LEN + 10
    if len(b) < head or b[:4] != _INPUTS_MAGIC:
        raise ValueError("not an enrollment-inputs blob (bad header)")
    spec = b[4:4 + _SPEC_LEN].decode("ascii")
    has_t, has_f, n, k = struct.unpack_from("<BBII", b, 4 + _SPEC_LEN)
    pos, sessions, tokens, features = head, [], [], []
    try:
        for _ in range(n):
            session, rows, cols = struct.unpack_from("<III", b, pos)
            pos += 12
            if pos + 4 * (rows * cols + (k if has_f else 0)) > len(b):
                raise ValueError("enrollment-inputs blob is truncated")
            sessions.append(session)
            tokens.append(np.frombuffer(b, "<f4", rows * cols, pos).reshape(rows, cols))
            pos += 4 * rows * cols
            if has_f:
                features.append(np.frombuffer(b, "<f4", k, pos))
                pos += 4 * k
    except struct.error as err:
        raise ValueError("enrollment-inputs blob is truncated") from err
    if pos != len(b):
        raise ValueError("enrollment-inputs blob has trailing bytes")
    return EnrollmentInputs(spec, tuple(sessions), tuple(tokens) if has_t else None,
                            (np.stack(features) if features else np.zeros((0, k), np.float32)) if has_f else None)


def versions_to_bytes(versions: Mapping[str, VersionVectors]) -> bytes:
    """Re-embedded vectors per model version as bytes: magic, count, then per version its name,
    genuine statistics, embeddings (:func:`embeddings_to_bytes`) and head state (:func:`state_to_bytes`)."""
    parts = [_VERSIONS_MAGIC, struct.pack("<I", len(versions))]
    for version, v in versions.items():
        name, emb, state = version.encode("utf-8"), embeddings_to_bytes(v.embeddings), state_to_bytes(v.head_state)
        parts += [struct.pack("<Iddii", len(name), v.genuine_mean, v.genuine_sd, len(emb), len(state)),
                  name, emb, state]
    return b"".join(parts)


def versions_from_bytes(b: bytes | None) -> dict[str, VersionVectors]:
    """Inverse of :func:`versions_to_bytes`; empty for None."""
    if b is None:
        return {}
    b = bytes(b)
    if len(b) < 8 or b[:4] != _VERSIONS_MAGIC:
        raise ValueError("not a model-versions blob (bad header)")
    (count,), pos, out = struct.unpack_from("<I", b, 4), 8, {}
    try:
        for _ in range(count):
            nlen, mean, sd, elen, slen = struct.unpack_from("<Iddii", b, pos)
            pos += struct.calcsize("<Iddii")
            name = b[pos:pos + nlen].decode("utf-8")
            pos += nlen
            emb = embeddings_from_bytes(b[pos:pos + elen])
            pos += elen
            state = state_from_bytes(b[pos:pos + slen])
            pos += slen
            out[name] = VersionVectors(emb, mean, sd, state)
    except struct.error as err:
        raise ValueError("model-versions blob is truncated") from err
    if pos != len(b):
        raise ValueError("model-versions blob has trailing bytes")
    return out
