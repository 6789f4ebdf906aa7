"""Pure, vectorized feature extraction: columnar event arrays -> float32 token sequences.

The same functions serve training, evaluation and scoring (no train/serve skew):

* keystroke: :func:`keystroke_presses`, :func:`keystroke_tokens` (+ ``*_batch``);
* mouse: :func:`mouse_tokens` (+ batch), :func:`mouse_actions`;
* touch: :func:`touch_tokens` (+ batch), :func:`stroke_features`;
* :func:`summary_vector` turns any ``[T, F]`` tokens into a fixed-length session vector.
"""

from biometrics.features.keystroke import (
    KEY_CLASS_FEATURES,
    KEYSTROKE_FEATURES,
    TIMING_FEATURES,
    KeystrokeFeatureConfig,
    Presses,
    keystroke_presses,
    keystroke_presses_batch,
    keystroke_tokens,
    keystroke_tokens_batch,
)
from biometrics.features.mouse import (
    ACTION_FEATURES,
    ACTION_TYPES,
    MOUSE_FEATURES,
    MouseFeatureConfig,
    mouse_action_ids,
    mouse_actions,
    mouse_tokens,
    mouse_tokens_and_actions,
    mouse_tokens_batch,
)
from biometrics.features.summary import SUMMARY_STATS, summary_names, summary_vector
from biometrics.features.touch import (
    STROKE_FEATURES,
    TOUCH_FEATURES,
    TOUCHALYTICS_COLUMNS,
    TouchFeatureConfig,
    stroke_features,
    touch_strokes,
    touch_tokens,
    touch_tokens_batch,
)

__all__ = [
    "ACTION_FEATURES",
    "ACTION_TYPES",
    "KEYSTROKE_FEATURES",
    "KEY_CLASS_FEATURES",
    "MOUSE_FEATURES",
    "STROKE_FEATURES",
    "SUMMARY_STATS",
    "TIMING_FEATURES",
    "TOUCHALYTICS_COLUMNS",
    "TOUCH_FEATURES",
    "KeystrokeFeatureConfig",
    "MouseFeatureConfig",
    "Presses",
    "TouchFeatureConfig",
    "keystroke_presses",
    "keystroke_presses_batch",
    "keystroke_tokens",
    "keystroke_tokens_batch",
    "mouse_action_ids",
    "mouse_actions",
    "mouse_tokens",
    "mouse_tokens_and_actions",
    "mouse_tokens_batch",
    "stroke_features",
    "summary_names",
    "summary_vector",
    "touch_strokes",
    "touch_tokens",
    "touch_tokens_batch",
]
