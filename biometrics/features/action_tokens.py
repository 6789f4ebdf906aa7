"""Mouse action sequences for the action encoder: per-event tokens plus the action's own features.

One mouse action (move, point-and-click, drag-and-drop or scroll of at least ``min_events``
events) is one sequence: its events' :func:`~biometrics.features.mouse_tokens`, head-cropped
to ``max_len``, each token optionally carrying its whole action's classic features
(:data:`~biometrics.features.ACTION_FEATURES`, signed log1p) so the action is in view even
when its tail is cropped. Training, evaluation and streaming scoring all cut actions here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biometrics.events import PointerArrays, Session
from biometrics.features._util import signed_log
from biometrics.features.mouse import ACTION_FEATURES, mouse_tokens_and_actions

#: Token columns added with ``action_context``: the action's classic features, signed log1p.
ACTION_CONTEXT_FEATURES: tuple[str, ...] = tuple(f"action_{n}" for n in ACTION_FEATURES)


@dataclass(frozen=True)
class SessionActions:
    """A session's kept actions, in time order."""

    tokens: list[np.ndarray]  # float32 [<= max_len, F] per kept action
    features: np.ndarray  # float64 [A_kept, len(ACTION_FEATURES)], raw classic features
    ids: np.ndarray  # int64 [A_kept], each kept action's id among all the session's actions
    n_actions: int  # actions in the session, kept or not (the last may still be growing)


def log_action_features(features: np.ndarray) -> np.ndarray:
    """Signed log1p of every action feature column: heavy-tailed speeds and durations on a usable scale."""
    return signed_log(np.asarray(features, dtype=np.float64), 1.0, np.inf)


def split_actions(tokens: np.ndarray, action_id: np.ndarray, min_events: int,
                  max_len: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Split one session's event tokens into its actions of >= ``min_events`` events, each
    head-cropped to ``max_len`` events, in time order; also returns the kept action ids."""
    starts = np.flatnonzero(np.r_[True, action_id[1:] != action_id[:-1]])
    lengths = np.diff(np.r_[starts, action_id.size])
    keep = np.flatnonzero(lengths >= min_events)
    return [tokens[starts[i]: starts[i] + min(lengths[i], max_len)] for i in keep], action_id[starts[keep]]


def action_sequences(events: PointerArrays, min_events: int = 4, max_len: int = 64,
                     action_context: bool = True) -> SessionActions:
    """One session's pointer events -> its kept actions' token sequences and classic features."""
    return actions_of(mouse_tokens_and_actions(events), min_events, max_len, action_context)


def session_mouse_views(session: Session) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`~biometrics.features.mouse.mouse_tokens_and_actions` of a session's pointer events,
    computed once per session (the pointer scorer and the pointer bot guard both read it)."""
    def build(arr: PointerArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        views = mouse_tokens_and_actions(arr)
        for a in views:
            a.flags.writeable = False  # shared by its readers
        return views

    return session.derived("mouse_views", "pointer", build)


def actions_of(views: tuple[np.ndarray, np.ndarray, np.ndarray], min_events: int = 4, max_len: int = 64,
               action_context: bool = True) -> SessionActions:
    """:func:`action_sequences` of already computed (tokens, action id, action features)."""
    tokens, action_id, features = views
    if action_context:  # every event also sees its whole action's summary
        context = log_action_features(features).astype(np.float32)
        tokens = np.concatenate([tokens, context[action_id]], axis=1)
    kept_tokens, kept = split_actions(tokens, action_id, min_events, max_len)
    n_actions = int(action_id[-1]) + 1 if action_id.size else 0
    return SessionActions(kept_tokens, features[kept], kept.astype(np.int64), n_actions)
