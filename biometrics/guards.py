"""Guards that need no profile match: bot-like timing and replayed sessions.

Both look only at timing and geometry, never at which key was pressed. A replay
signature is the session's inter-event intervals per modality (ms), so a stored
signature reveals rhythm, not text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biometrics.events import Session
from biometrics.features.keystroke import keystroke_presses
from biometrics.features.mouse import ACTION_FEATURES, mouse_actions

SIGNATURE_LEN = 128


@dataclass(frozen=True)
class GuardConfig:
    """Thresholds of the bot and replay guards (documented in the README)."""

    # Keystrokes: humans vary their down-down intervals by tens of percent (robust CV:
    # median absolute deviation / median); scripts barely at all.
    min_presses_for_bot_check: int = 8
    bot_max_interval_cv: float = 0.08
    bot_min_median_down_down_ms: float = 40.0
    # Pointer: a human path bows; a scripted one is a ruler line, every time.
    min_actions_for_bot_check: int = 2
    bot_min_straightness: float = 0.9995
    # Replay: intervals matching a stored session within this mean absolute difference.
    replay_max_mean_abs_ms: float = 4.0
    replay_min_intervals: int = 10


def signatures(session: Session) -> dict[str, np.ndarray]:
    """Per modality, the first ``SIGNATURE_LEN`` inter-event intervals (ms, float32)."""
    out = {}
    for name, events in (("keystrokes", session.keystrokes), ("pointer", session.pointer),
                         ("touch", session.touch)):
        if len(events) > 1:
            t = np.fromiter((e.t for e in events[: SIGNATURE_LEN + 1]), dtype=np.float64)
            out[name] = np.diff(t).astype(np.float32)
    return out


def is_replay(signature: np.ndarray, stored: list[np.ndarray], cfg: GuardConfig = GuardConfig()) -> bool:
    """True when the signature repeats a stored one within the replay tolerance."""
    for s in stored:
        n = min(signature.size, s.size)
        if n >= cfg.replay_min_intervals and np.abs(signature[:n] - s[:n]).mean() <= cfg.replay_max_mean_abs_ms:
            return True
    return False


def keystroke_bot_like(session: Session, cfg: GuardConfig = GuardConfig()) -> bool:
    """Too regular or too fast typing for a human."""
    p = keystroke_presses(session.keystroke_arrays())
    dd = p.down_down[~p.first]
    if dd.size < cfg.min_presses_for_bot_check:
        return False
    med = float(np.median(dd))
    robust_cv = float(np.median(np.abs(dd - med))) / max(med, 1e-9)
    return bool(robust_cv < cfg.bot_max_interval_cv or med < cfg.bot_min_median_down_down_ms)


_STRAIGHT = ACTION_FEATURES.index("straightness")
_SPEED_MEAN = ACTION_FEATURES.index("speed_mean")
_N_EVENTS = ACTION_FEATURES.index("n_events")


def pointer_bot_like(session: Session, cfg: GuardConfig = GuardConfig()) -> bool:
    """Every pointer movement a ruler-straight line."""
    _, actions, _ = mouse_actions(session.pointer_arrays())
    moving = actions[(actions[:, _N_EVENTS] >= 4) & (actions[:, _SPEED_MEAN] > 0)]
    if moving.shape[0] < cfg.min_actions_for_bot_check:
        return False
    return bool(np.all(moving[:, _STRAIGHT] >= cfg.bot_min_straightness))


def bot_like(session: Session, cfg: GuardConfig = GuardConfig()) -> list[str]:
    """Names of the modalities whose timing or paths no human produces."""
    out = []
    if session.keystrokes and keystroke_bot_like(session, cfg):
        out.append("keystrokes")
    if session.pointer and pointer_bot_like(session, cfg):
        out.append("pointer")
    return out
