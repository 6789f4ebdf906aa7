"""Fixed-length vectors per modality for a whole session: the input of classic one-class detectors."""

from __future__ import annotations

import numpy as np

from biometrics.events import Session
from biometrics.features.keystroke import keystroke_presses, keystroke_tokens
from biometrics.features.mouse import mouse_actions
from biometrics.features.summary import summary_vector
from biometrics.features.touch import stroke_features

#: Token columns that hold timings (the others say which kind of key it was).
N_TIMING_COLUMNS = 4


def fixed_text_vector(session: Session, n_presses: int) -> np.ndarray:
    """CMU-style timings (ms) of the last ``n_presses`` presses: holds, down-down, up-down.

    For a fixed text such as a password field, whose presses the collector marks as the
    session's last ``n_presses``. Raises ``ValueError`` when fewer presses are complete.
    """
    p = keystroke_presses(session.keystroke_arrays())
    if n_presses < 1 or len(p) < n_presses:
        raise ValueError(f"the session has {len(p)} complete key presses; {n_presses} are needed")
    down, up = p.down_t[-n_presses:], p.up_t[-n_presses:]
    return np.concatenate([up - down, np.diff(down), down[1:] - up[:-1]])


def session_vectors(session: Session, fixed_text_presses: int | None = None) -> dict[str, np.ndarray]:
    """One fixed-length vector per modality present in the session.

    keystrokes: the fixed-text timings when ``fixed_text_presses`` is given, else summary
    statistics of the timing tokens; pointer: summary statistics of the per-action features;
    touch: summary statistics of the per-stroke features.
    """
    out: dict[str, np.ndarray] = {}
    if session.keystrokes:
        if fixed_text_presses:
            out["keystrokes"] = fixed_text_vector(session, fixed_text_presses)
        else:
            out["keystrokes"] = summary_vector(keystroke_tokens(session.keystroke_arrays())[:, :N_TIMING_COLUMNS])
    if session.pointer:
        _, actions, _ = mouse_actions(session.pointer_arrays())
        out["pointer"] = summary_vector(actions)
    if session.touch:
        strokes, _ = stroke_features(session.touch_arrays())
        out["touch"] = summary_vector(strokes)
    return out
