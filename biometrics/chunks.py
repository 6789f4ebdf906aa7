"""Sessions that arrive in chunks: the rules a chunk must follow, and a bounded buffer of them.

A login page's collector may send a long session in pieces, each with the events recorded
since the previous piece, all under the session's ``session_id``. This module holds what is
true of such chunks whatever consumes them (the scoring service buffers whole sessions,
:mod:`biometrics.streaming` cuts them into items), and nothing about HTTP:

- :func:`check_continues` / :func:`check_bound`: a chunk continues the events held so far
  (within a modality, it starts no earlier than the last held event: the contract's
  ordering rule across chunks) and the session stays within its bound;
- :class:`ChunkedSession`: one session's chunks so far (immutable: :meth:`~ChunkedSession.append`
  returns the next state), with the rules of a chunk sequence (index 0, 1, 2, ... in order,
  the same user, options and device in every chunk, signals counted since the session
  start) and :meth:`~ChunkedSession.session`, the whole session so far, validated as a
  session sent whole would be (so it scores exactly as that session);
- :class:`ChunkBuffer`: the chunked sessions in progress of one process, bounded in
  sessions and events per session, expiring after an idle time (an injected clock), and
  safe to share between request threads (compare-and-set commits).

Buffered events are the session's own, validated, as compact JSON (about 60-130 bytes an
event): nothing is added to them, they never reach a log, and a session's are dropped once
its final chunk is answered, when it expires, or when its user is erased.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from pydantic import TypeAdapter, ValidationError

from biometrics.events import (
    KeyEvent,
    PointerEvent,
    Session,
    SessionMeta,
    SessionSignals,
    TouchEvent,
)

#: The modalities of a session, in the contract's order.
EVENT_LISTS: tuple[str, ...] = ("keystrokes", "pointer", "touch")
#: Chunks one session may have (each is scored on the whole session so far).
MAX_CHUNKS = 1_000
DEFAULT_MAX_SESSIONS = 500
DEFAULT_MAX_EVENTS = 20_000
DEFAULT_TTL_S = 300.0

_ADAPTERS = {"keystrokes": TypeAdapter(list[KeyEvent]), "pointer": TypeAdapter(list[PointerEvent]),
             "touch": TypeAdapter(list[TouchEvent])}


class ChunkError(ValueError):
    """A chunk that cannot be taken; the buffered session is left as it was."""


class ChunkSequenceError(ChunkError):
    """The chunk does not continue the session held for its id (order, owner, device, time)."""


class ChunkRejectedError(ChunkError):
    """The chunk would make the session invalid or too large."""


class ChunkBufferFullError(ChunkError):
    """No room for another session in progress; ``retry_after_s``: when the oldest one expires."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def check_continues(name: str, last_t: float | None, t: np.ndarray | Sequence[float]) -> None:
    """Raise :class:`ChunkSequenceError` when a chunk of ``name`` events (times ``t``, in order)
    starts before ``last_t``, the last event already held (None: none held)."""
    if last_t is None or len(t) == 0:
        return
    first = float(t[0])
    if first < last_t:
        raise ChunkSequenceError(
            f"{name}: events must arrive in time order: this chunk starts at t={first:g} ms, before "
            f"the previous chunk's last event (t={last_t:g} ms)")


def check_bound(held: int, adding: int, max_events: int) -> None:
    """Raise :class:`ChunkRejectedError` when ``held + adding`` events exceed ``max_events``."""
    if held + adding > max_events:
        raise ChunkRejectedError(
            f"a session holds at most {max_events} events; with this chunk it would hold {held + adding}")


@dataclass(frozen=True)
class ChunkProgress:
    """Where a chunked session stands after a chunk: its index, whether it was the last, and
    the events the answer covers (every chunk so far)."""

    index: int
    final: bool
    events: int


@dataclass(frozen=True)
class ChunkedSession:
    """One session's chunks so far; ``append`` gives the state after the next chunk.

    ``user_key`` (the owner's stored key, never the raw user id) and ``update_profile`` must
    be the same in every chunk, as must ``schema_version`` and ``meta`` (the device);
    ``signals`` are counts since the session start, so the last chunk's stand (never lower).
    ``request`` and ``answer`` are the fingerprint of the last chunk's request and the answer
    given to it, for its retries. A final session holds no events any more.
    """

    tenant: str
    session_id: str  # canonical lower-case UUID
    user_key: str
    update_profile: bool
    schema_version: int
    meta: SessionMeta
    signals: SessionSignals
    next_index: int = 0
    final: bool = False
    events: dict[str, tuple[bytes, ...]] = field(default_factory=dict, repr=False)  # JSON per chunk
    counts: dict[str, int] = field(default_factory=dict)
    last_t: dict[str, float] = field(default_factory=dict)
    request: str | None = field(default=None, repr=False)
    answer: Any = field(default=None, repr=False)

    @classmethod
    def start(cls, tenant: str, session_id: str, first: Session, user_key: str,
              update_profile: bool) -> ChunkedSession:
        """The empty session that ``first`` (its chunk 0) will open."""
        return cls(tenant, session_id, user_key, bool(update_profile), first.schema_version, first.meta,
                   first.signals)

    @property
    def n_events(self) -> int:
        """Events received in all chunks."""
        return sum(self.counts.values())

    def answer_to(self, request: str) -> Any:
        """The answer already given to this very chunk request (a retry of the last chunk), or None."""
        return self.answer if self.request is not None and request == self.request else None

    def append(self, chunk: Session, index: int, final: bool, user_key: str, update_profile: bool,
               max_events: int) -> ChunkedSession:
        """The session with ``chunk`` (its events since the previous chunk) added.

        Raises :class:`ChunkSequenceError` when the chunk does not continue this session and
        :class:`ChunkRejectedError` when it would hold more than ``max_events`` events.
        """
        if self.final:
            raise ChunkSequenceError(
                f"the final chunk of this session (chunk {self.next_index - 1}) was already received; "
                "a new session needs a new session_id")
        if user_key != self.user_key:
            raise ChunkSequenceError("this session_id's earlier chunks were sent for another user; every "
                                     "chunk of a session names the same user_id")
        if bool(update_profile) != self.update_profile:
            raise ChunkSequenceError(f"this session's earlier chunks were sent with update_profile "
                                     f"{str(self.update_profile).lower()}; every chunk sends the same")
        if index < self.next_index:
            raise ChunkSequenceError(
                f"chunk {index} of this session was already received (a retry must repeat its chunk "
                f"exactly); the next chunk is {self.next_index}")
        if index > self.next_index:
            raise ChunkSequenceError(f"chunk {index} arrived before chunk {self.next_index}: send a "
                                     "session's chunks in order, each after the previous one's answer")
        if index >= MAX_CHUNKS:
            raise ChunkRejectedError(f"a session is sent in at most {MAX_CHUNKS} chunks")
        if chunk.schema_version != self.schema_version or chunk.meta != self.meta:
            raise ChunkSequenceError("schema_version and meta (the device) must be the same in every "
                                     "chunk of a session")
        if chunk.signals.paste < self.signals.paste or chunk.signals.autofill < self.signals.autofill:
            raise ChunkSequenceError("signals are counts since the session start: a chunk's counts "
                                     "cannot be lower than the previous chunk's")
        lists = {name: list(getattr(chunk, name)) for name in EVENT_LISTS}  # a columnar chunk's events too
        for name, chunk_events in lists.items():
            if chunk_events:
                check_continues(name, self.last_t.get(name), [chunk_events[0].t])
        check_bound(self.n_events, sum(len(v) for v in lists.values()), max_events)
        events, counts, last_t = dict(self.events), dict(self.counts), dict(self.last_t)
        for name, chunk_events in lists.items():
            if chunk_events:
                events[name] = events.get(name, ()) + (_ADAPTERS[name].dump_json(chunk_events)[1:-1],)
                counts[name] = counts.get(name, 0) + len(chunk_events)
                last_t[name] = float(chunk_events[-1].t)
        return replace(self, signals=chunk.signals, next_index=index + 1, final=bool(final), events=events,
                       counts=counts, last_t=last_t, request=None, answer=None)

    def session(self) -> Session:
        """Every chunk so far as one session, validated as a session sent whole (the presses of a
        key across chunks pair up; per-modality limits hold); :class:`ChunkRejectedError` otherwise."""
        parts = [b'{"schema_version":%d,"session_id":"%s"' % (self.schema_version, self.session_id.encode())]
        for name in EVENT_LISTS:
            parts.append(b',"%s":[%s]' % (name.encode(), b",".join(self.events.get(name, ()))))
        parts.append(b',"signals":%s,"meta":%s}' % (self.signals.model_dump_json().encode(),
                                                     self.meta.model_dump_json().encode()))
        try:
            return Session.model_validate_json(b"".join(parts))
        except ValidationError as err:  # never the values: a message per problem, naming it
            problems = "; ".join(str(e.get("msg", "invalid")).removeprefix("Value error, ")
                                 for e in err.errors()[:5])
            raise ChunkRejectedError(f"the session's chunks together are not a valid session: {problems}") from None

    def answered(self, request: str, answer: Any) -> ChunkedSession:
        """This state with the answer to the chunk that made it (a final one drops its events)."""
        if self.final:
            return replace(self, events={}, request=request, answer=answer)
        return replace(self, request=request, answer=answer)


_Key = tuple[str, str]


class ChunkBuffer:
    """The chunked sessions in progress of one process, by tenant and session id.

    At most ``max_sessions`` sessions in progress (a new one beyond is refused with
    :class:`ChunkBufferFullError`, the ones in progress are never pushed out), each with at
    most ``max_events`` events; a session expires ``ttl_s`` seconds after its last chunk.
    Answered final sessions (no events, kept for their retries) are kept as long, at most
    ``max_sessions`` of them, the oldest dropped first. ``clock`` gives seconds (monotonic).
    """

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS, max_events: int = DEFAULT_MAX_EVENTS,
                 ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        if max_sessions < 1 or max_events < 1 or not ttl_s > 0:
            raise ValueError("max_sessions, max_events and ttl_s must be positive")
        self.max_sessions, self.max_events, self.ttl_s = int(max_sessions), int(max_events), float(ttl_s)
        self.clock = clock
        self._open: OrderedDict[_Key, tuple[ChunkedSession, float]] = OrderedDict()  # by expiry
        self._done: OrderedDict[_Key, tuple[ChunkedSession, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Sessions in progress (answered final ones not counted)."""
        with self._lock:
            self._expire(self.clock())
            return len(self._open)

    def get(self, tenant: str, session_id: str) -> ChunkedSession | None:
        """The session held for this id (in progress or answered final), or None."""
        with self._lock:
            self._expire(self.clock())
            return self._find((tenant, session_id))

    def check_room(self) -> None:
        """Raise :class:`ChunkBufferFullError` when no new session could be buffered now."""
        with self._lock:
            self._check_room(self.clock())

    def commit(self, expected: ChunkedSession | None, new: ChunkedSession) -> ChunkedSession:
        """Hold ``new`` in place of ``expected`` (what :meth:`get` gave before the chunk was scored).

        When another request changed the session meanwhile: its state is returned if it answered
        the same chunk request (a concurrent retry), else :class:`ChunkSequenceError`.
        """
        key = (new.tenant, new.session_id)
        with self._lock:
            now = self.clock()
            self._expire(now)
            current = self._find(key)
            if current is not expected:
                if current is not None and new.request is not None and current.request == new.request:
                    return current
                raise ChunkSequenceError(
                    "another chunk of this session arrived while this one was scored, or its earlier "
                    "chunks expired; send a session's chunks one at a time, each after the previous one's answer")
            if new.final:
                self._open.pop(key, None)
                self._done.pop(key, None)
                self._done[key] = (new, now + self.ttl_s)
                while len(self._done) > self.max_sessions:
                    self._done.popitem(last=False)
            else:
                if key not in self._open:
                    self._check_room(now)
                self._open.pop(key, None)
                self._open[key] = (new, now + self.ttl_s)
        return new

    def forget_user(self, tenant: str, user_key: str) -> int:
        """Drop every session held for a user (erasure); the number dropped."""
        with self._lock:
            n = 0
            for held in (self._open, self._done):
                for key in [k for k, (s, _) in held.items() if s.tenant == tenant and s.user_key == user_key]:
                    del held[key]
                    n += 1
            return n

    def _find(self, key: _Key) -> ChunkedSession | None:
        held = self._open.get(key) or self._done.get(key)
        return held[0] if held is not None else None

    def _check_room(self, now: float) -> None:
        if len(self._open) >= self.max_sessions:
            _, oldest = next(iter(self._open.values()))
            raise ChunkBufferFullError(
                f"this API process holds {self.max_sessions} chunked sessions in progress, its limit; "
                "retry later, or send the session whole", max(1, math.ceil(oldest - now)))

    def _expire(self, now: float) -> None:
        for held in (self._open, self._done):
            while held:
                key, (_, expires) = next(iter(held.items()))
                if expires > now:
                    break
                del held[key]
