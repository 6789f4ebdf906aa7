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

    def __post_init__(self) -> None:
        for name in ("min_enroll_sessions", "max_embeddings", "max_signatures", "max_enrolled_signatures",
                     "signature_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"ProfileConfig.{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.auto_update_max_risk <= 1.0:
            raise ValueError("ProfileConfig.auto_update_max_risk must lie in [0, 1], "
                             f"got {self.auto_update_max_risk}")


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float32, order="C", copy=True)
    a.flags.writeable = False
    return a


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

    def __post_init__(self) -> None:
        _check_name(self.modality)
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


def _check_name(name: str) -> None:
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
        """Enrollment embeddings of a modality made by ``model_version``, else None."""
        m = self.modalities.get(modality)
        return m.embeddings if m is not None and m.model_version == model_version else None

    def head_state(self, modality: str, model_version: str) -> HeadState:
        """The head state fitted on a modality's enrollment vectors by ``model_version`` (empty otherwise)."""
        m = self.modalities.get(modality)
        return dict(m.head_state) if m is not None and m.model_version == model_version else {}

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
           max_vectors: Mapping[str, int] | None = None, fit: HeadFitter | None = None) -> UserProfile:
    """The profile after enrolling one session: its ``[k, K]`` item vectors per modality scorer present.

    A ``[K]`` vector is one item. ``max_vectors`` bounds the vectors kept per scorer (default
    ``cfg.max_embeddings``); ``fit`` refits the scorer's head on the kept vectors (without it
    the head state is empty, which a distance head needs). Signatures are stored for the
    modalities enrolled here only; others are ignored.
    """
    if not modality_vectors:
        raise ValueError("a session to enroll needs at least one modality embedding")
    now = now or datetime.now(UTC)
    mods = dict(profile.modalities)
    for name, vec in modality_vectors.items():
        _check_name(name)
        e = _as_matrix(name, vec)
        old = mods.get(name)
        enrolled_sigs: tuple[np.ndarray, ...] = old.enrolled_signatures if old is not None else ()
        if name in signatures:
            sig = _as_vector(name, "signature", signatures[name])[: cfg.signature_len]
            enrolled_sigs = (enrolled_sigs + (_frozen(sig),))[-cfg.max_enrolled_signatures:]
        if old is not None and old.model_version == model_version:
            if old.embeddings.shape[1] != e.shape[1]:
                raise ValueError(f"{name} embedding has {e.shape[1]} dimensions, the profile "
                                 f"{old.embeddings.shape[1]} under the same model version "
                                 f"{model_version!r}")
            emb = np.concatenate([old.embeddings, e])
            n = old.n_sessions + 1
        else:  # new modality, or a new model version: restart, never mix embedding spaces
            emb, n = e, 1
        emb = _frozen(emb[-(max_vectors or {}).get(name, cfg.max_embeddings):])
        mean, sd = genuine_stats(emb[-_STATS_VECTORS:])
        state = fit(name, emb) if fit is not None else {}
        mods[name] = ModalityProfile(name, model_version, emb, mean, sd, n,
                                     old.replay_signatures if old is not None else (), state, enrolled_sigs)
    state_: State = ("verifying" if any(m.n_sessions >= cfg.min_enroll_sessions for m in mods.values())
                     else "enrolling")
    return dataclasses.replace(profile, state=state_, n_sessions=profile.n_sessions + 1,
                               modalities=mods, updated_at=now)


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
