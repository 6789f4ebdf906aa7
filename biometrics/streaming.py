"""Scores that update as behavior arrives: a login session is short, so every decision is a
function of how much has been seen (actions for the mouse, strokes for touch).

Per-item anomaly scores (one per mouse action or touch stroke, higher = less like the
owner) are averaged; :class:`RunningScore` keeps that average as items stream in, and
:func:`first_n_means` gives the score after the first n items, the quantity the
accuracy-versus-amount curves report. :class:`ItemStream` (built by :func:`action_stream`
or :func:`stroke_stream`) takes a session's raw events in chunks as the collector sends
them, cuts them into actions or strokes exactly as training does, scores each item once it
is complete and keeps the running score. A chunk must continue the events held so far, by the
same rules (:func:`biometrics.chunks.check_continues`, :func:`~biometrics.chunks.check_bound`)
the scoring API applies to a session sent to ``/v1/score`` in chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from biometrics.chunks import check_bound, check_continues
from biometrics.events import TOUCH_TYPES, PointerArrays, TouchArrays, concat_arrays
from biometrics.features.action_tokens import action_sequences
from biometrics.features.stroke_tokens import stroke_token_sequences
from biometrics.features.touch import stroke_features, touch_strokes

#: ``(token sequences, classic features [n, K])`` of n items -> their anomalies ``[n]``.
ItemScorer = Callable[[list[np.ndarray], np.ndarray], np.ndarray]
Events = PointerArrays | TouchArrays


@dataclass(frozen=True)
class Items:
    """A session's items (actions or strokes) in time order, and which are complete."""

    tokens: list[np.ndarray]
    features: np.ndarray
    complete: np.ndarray  # bool [n]; a complete item can no longer change

#: Amounts of behavior the mouse protocol reports (number of actions; "all" = whole session).
ACTION_COUNTS: tuple[str, ...] = ("1", "5", "10", "20", "all")


@dataclass
class RunningScore:
    """Mean of the per-item anomaly scores seen so far; ``update`` as items arrive."""

    total: float = 0.0
    count: int = 0

    def update(self, scores: np.ndarray | Sequence[float]) -> float:
        """Add the newly arrived items' scores (in arrival order); returns the current mean."""
        s = np.asarray(scores, dtype=np.float64).ravel()
        if not np.all(np.isfinite(s)):
            raise ValueError("per-item scores must be finite")
        self.total += float(s.sum())
        self.count += int(s.size)
        return self.value

    @property
    def value(self) -> float:
        """The current mean (0.5, undecided, before any item)."""
        return self.total / self.count if self.count else 0.5


def first_n_means(per_item: np.ndarray, amounts: Sequence[str] = ACTION_COUNTS) -> dict[str, float]:
    """Mean score of the first n items for each amount (``"all"``: every item; a session with
    fewer than n items uses what it has; 0.5 when it has none)."""
    s = np.asarray(per_item, dtype=np.float64).ravel()
    if s.size == 0:
        return {n: 0.5 for n in amounts}
    return {n: float(s[: (None if n == "all" else int(n))].mean()) for n in amounts}


@dataclass
class ItemStream:
    """A session's per-item anomalies and running score, updated as its events arrive.

    Each :meth:`push` appends a chunk of events (in time order), re-cuts the buffered session
    with ``cut`` (vectorized, the training code's own cut) and scores the items completed
    since the last push, in order: the longest run of complete items, so an item is scored
    once and never rescored. :meth:`close` (the session has ended) scores the rest. Chunks
    are columnar arrays of already validated events (:class:`biometrics.events.Session`).
    """

    score_items: ItemScorer
    cut: Callable[[Events], Items]
    max_events: int = 100_000
    name: str = "events"  # the modality, in error messages
    scores: list[float] = field(default_factory=list, init=False)  # per scored item, in order
    running: RunningScore = field(default_factory=RunningScore, init=False)
    _events: Events | None = field(default=None, init=False, repr=False)  # the session so far
    _closed: bool = field(default=False, init=False, repr=False)

    def push(self, events: Events) -> float:
        """Add a chunk of events; returns the running score (0.5 until an item completes)."""
        if self._closed:
            raise ValueError("the session was closed; start a new stream")
        t = np.asarray(events.t, dtype=np.float64)
        held = 0 if self._events is None else len(self._events.t)
        check_continues(self.name, float(self._events.t[-1]) if held else None, t)
        check_bound(held, t.size, self.max_events)
        if t.size:
            self._events = events if self._events is None else concat_arrays([self._events, events])
        return self._score(final=False)

    def close(self) -> float:
        """The session has ended: score the items still open; returns the final score."""
        self._closed = True
        return self._score(final=True)

    @property
    def n_items(self) -> int:
        return len(self.scores)

    def _score(self, final: bool) -> float:
        if self._events is None:
            return self.running.value
        items = self.cut(self._events)
        done = len(items.tokens) if final else int(np.argmin(np.r_[items.complete, False]))
        if done > self.n_items:
            new = np.asarray(self.score_items(items.tokens[self.n_items:done],
                                              items.features[self.n_items:done]), dtype=np.float64)
            if new.shape != (done - self.n_items,):
                raise ValueError(f"the item scorer returned shape {new.shape} for {done - self.n_items} items")
            self.running.update(new)
            self.scores.extend(new.tolist())
        return self.running.value


def action_stream(score_actions: ItemScorer, min_events: int = 4, max_len: int = 64,
                  action_context: bool = True) -> ItemStream:
    """Mouse actions, cut as :func:`~biometrics.features.action_tokens.action_sequences` cuts them
    for the encoder; every action but the session's last is complete (the next event has begun
    another), and only actions of at least ``min_events`` events are scored."""
    def cut(events: PointerArrays) -> Items:
        acts = action_sequences(events, min_events, max_len, action_context)
        return Items(acts.tokens, acts.features, acts.ids < acts.n_actions - 1)
    return ItemStream(score_actions, cut, name="pointer")


_TOUCH_END = TOUCH_TYPES.index("end")


def stroke_stream(score_strokes: ItemScorer) -> ItemStream:
    """Touch strokes, cut as :func:`~biometrics.features.stroke_tokens.stroke_token_sequences`
    cuts them for the encoder, with their raw Touchalytics features; a stroke is complete once
    its finger has lifted and the next stroke has begun (Touchalytics' inter-stroke time runs
    from a stroke's start to the next one's)."""
    def cut(events: TouchArrays) -> Items:
        order, sid = touch_strokes(events)
        feats, _ = stroke_features(events)
        complete = np.zeros(feats.shape[0], dtype=bool)
        complete[sid[np.asarray(events.type)[order] == _TOUCH_END]] = True
        complete[-1:] = False  # its inter-stroke time waits for the next stroke
        return Items(stroke_token_sequences(events), feats, complete)
    return ItemStream(score_strokes, cut, name="touch")
