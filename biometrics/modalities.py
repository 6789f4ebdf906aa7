"""The registry of modalities: every per-modality fact of the serving path, in one place.

A modality (keystrokes, pointer, touch) says which events of a session it reads, how its
feature configuration is built, how much of it counts as fully observed, and how a session
is cut into the **items** a scorer embeds and scores: the whole session (``session``), one
mouse action each (``action``), one touch stroke each (``stroke``), or a password field's
presses timed position by position (``password``: the same text every login). Scoring, profiles,
guards, export and the data modules ask this registry instead of keeping their own lists.

    spec = MODALITIES["pointer"]
    items = spec.items(session, "action", config={}, options={"min_events": 4})
    items.tokens      # one float32 [T, F] token sequence per action
    items.features    # float32 [n_actions, K]: each action's classic features
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from biometrics.events import KeyClass, Session
from biometrics.features.action_tokens import (
    ACTION_CONTEXT_FEATURES,
    actions_of,
    session_mouse_views,
)
from biometrics.features.keystroke import (
    KEYSTROKE_FEATURES,
    KeystrokeFeatureConfig,
    keystroke_presses,
    keystroke_tokens,
    password_run,
)
from biometrics.features.mouse import (
    ACTION_FEATURES,
    MOUSE_FEATURES,
    MouseFeatureConfig,
    mouse_tokens,
)
from biometrics.features.stroke_tokens import (
    STROKE_TOKEN_COLUMNS,
    STROKE_TOKEN_FEATURES,
    scale_stroke_features,
    stroke_token_sequences,
)
from biometrics.features.touch import (
    STROKE_FEATURES,
    TOUCH_FEATURES,
    TouchFeatureConfig,
    stroke_features,
    touch_tokens,
)


@dataclass(frozen=True)
class Items:
    """What one modality of a session gives a scorer: its items' tokens and features."""

    tokens: list[np.ndarray]  # float32 [T, F] per item, in time order
    features: np.ndarray  # float32 [n_items, K]: classic features per item (K = 0 for session units)
    n_tokens: int  # how much of the modality was observed: tokens (session units) or events (item units)

    def __len__(self) -> int:
        return len(self.tokens)


def _no_features(n: int) -> np.ndarray:
    return np.zeros((n, 0), np.float32)


def _keystroke_session(session: Session, cfg: KeystrokeFeatureConfig, options: dict) -> Items:
    keys = session.keystroke_arrays()
    if options.get("masked_only"):  # e.g. a PIN model: the sensitive field's presses only
        keep = keys.key_class == KeyClass.MASKED
        keys = dataclasses.replace(keys, **{f: getattr(keys, f)[keep] for f in ("t", "is_down", "key_class",
                                                                              "key_bucket", "press")
                                            if getattr(keys, f) is not None})
    tokens = keystroke_tokens(keys, cfg)
    return Items([tokens], _no_features(1), int(tokens.shape[0]))


#: Presses of a sensitive field the ``password`` unit times (a longer field: its first ones).
PASSWORD_MAX_PRESSES = 32
#: The ``password`` unit's feature row: the press count, then each position's log hold and each
#: position's log down-down from the press before (0 past the count, and for the first press).
PASSWORD_FEATURES: tuple[str, ...] = ("n_presses", *(f"log_hold_{i:02d}" for i in range(PASSWORD_MAX_PRESSES)),
                                      *(f"log_down_down_{i:02d}" for i in range(PASSWORD_MAX_PRESSES)))


def password_columns(n: int, max_presses: int = PASSWORD_MAX_PRESSES) -> np.ndarray:
    """The columns of a ``password`` row that time a password of ``n`` presses: the log holds of
    positions 0 ... n-1, then the log down-downs of positions 1 ... n-1 (the first press has none)."""
    return np.r_[1:1 + n, 2 + max_presses:1 + max_presses + n]


def _keystroke_password(session: Session, cfg: KeystrokeFeatureConfig, _: dict) -> Items:
    """The session's last run of masked presses (the password field, typed the same every time)
    as one item: its timing at each position, aligned by position (timing only, no key)."""
    p = keystroke_presses(session.keystroke_arrays())
    run = password_run(p)[:PASSWORD_MAX_PRESSES]
    row = np.zeros((1, len(PASSWORD_FEATURES)), np.float32)
    if run.size == 0:
        return Items([np.zeros((0, 0), np.float32)], row, 0)
    row[0, 0] = run.size
    timing = np.r_[p.hold[run], np.diff(p.down_t[run])]
    row[0, password_columns(run.size)] = np.log(np.clip(timing, 1.0, None))
    return Items([np.zeros((0, 0), np.float32)], row, int(run.size))


def _pointer_session(session: Session, cfg: MouseFeatureConfig, _: dict) -> Items:
    tokens = mouse_tokens(session.pointer_arrays(), cfg)
    return Items([tokens], _no_features(1), int(tokens.shape[0]))


def _pointer_actions(session: Session, cfg: MouseFeatureConfig, options: dict) -> Items:
    # Actions are segmented with the default thresholds, as the action encoder trained on them.
    a = actions_of(session_mouse_views(session), int(options.get("min_events", 4)),
                   int(options.get("max_len", 64)), bool(options.get("action_context", True)))
    return Items(a.tokens, a.features.astype(np.float32), len(session.pointer))


def _touch_session(session: Session, cfg: TouchFeatureConfig, _: dict) -> Items:
    tokens = touch_tokens(session.touch_arrays(), cfg)[0]
    return Items([tokens], _no_features(1), int(tokens.shape[0]))


def _touch_strokes(session: Session, cfg: TouchFeatureConfig, options: dict) -> Items:
    arr = session.touch_arrays()
    tokens = stroke_token_sequences(arr, cfg)
    if not tokens:
        return Items(tokens, _no_features(0), len(session.touch))
    raw = stroke_features(arr, cfg)[0]
    # The encoder's fixed signed-log scaling of the collected stroke features (no fitted statistics).
    feats = scale_stroke_features(raw)
    # ``ignore_features``: stroke features held at 0, for a scorer trained on data whose units the
    # collector does not share (Serwadda's contact area is Android's fraction of the screen, the
    # browser's is CSS px squared: a head fitted on one would tell the two apart, not the people).
    for name in options.get("ignore_features", ()):
        feats[:, STROKE_TOKEN_COLUMNS.index(name)] = 0.0
    # ``min_path_px``: strokes with a shorter path (taps) are left out, for a scorer trained on
    # swipes only (Serwadda): it never saw a tap, so a tap tells it nothing about the person.
    if options.get("min_path_px"):
        keep = raw[:, STROKE_FEATURES.index("trajectory_length")] >= float(options["min_path_px"])
        tokens, feats = [tok for tok, k in zip(tokens, keep) if k], feats[keep]
    return Items(tokens, feats, len(session.touch))


ItemBuilder = Callable[[Session, object, dict], Items]


@dataclass(frozen=True)
class ModalitySpec:
    """One modality's facts: its events, feature configuration, units and reason codes."""

    name: str
    config_class: type
    token_features: dict[str, tuple[str, ...]]  # token column names per unit
    item_features: dict[str, tuple[str, ...]]  # classic feature names per item, per unit
    units: dict[str, ItemBuilder]
    full_tokens: int  # Items.n_tokens at which the modality counts as fully observed (confidence 1)
    min_tokens: int  # fewer than this: too little data to score
    mismatch_reason: str

    def feature_config(self, overrides: dict | None = None):
        """The feature configuration object (defaults, or a bundle's stored values)."""
        return self.config_class(**(overrides or {}))

    def default_feature_config(self) -> dict:
        """The default feature configuration as plain values (what a bundle stores)."""
        return dataclasses.asdict(self.config_class())

    def present(self, session: Session) -> bool:
        """True when the session holds events of this modality."""
        return bool(getattr(session, self.name))

    def items(self, session: Session, unit: str, config: dict | None = None, options: dict | None = None) -> Items:
        """The session cut into ``unit`` items (see the module docstring)."""
        if unit not in self.units:
            raise ValueError(f"{self.name} has no unit {unit!r}; expected one of {sorted(self.units)}")
        return self.units[unit](session, self.feature_config(config), options or {})


MODALITIES: dict[str, ModalitySpec] = {
    "keystrokes": ModalitySpec(
        "keystrokes", KeystrokeFeatureConfig, {"session": KEYSTROKE_FEATURES, "password": ()},
        {"session": (), "password": PASSWORD_FEATURES},
        {"session": _keystroke_session, "password": _keystroke_password}, full_tokens=40, min_tokens=5, mismatch_reason="keystroke_mismatch"),
    "pointer": ModalitySpec(
        "pointer", MouseFeatureConfig,
        {"session": MOUSE_FEATURES, "action": MOUSE_FEATURES + ACTION_CONTEXT_FEATURES},
        {"session": (), "action": ACTION_FEATURES},
        {"session": _pointer_session, "action": _pointer_actions},
        full_tokens=200, min_tokens=10, mismatch_reason="pointer_mismatch"),
    "touch": ModalitySpec(
        "touch", TouchFeatureConfig, {"session": TOUCH_FEATURES, "stroke": STROKE_TOKEN_FEATURES},
        {"session": (), "stroke": STROKE_TOKEN_COLUMNS},
        {"session": _touch_session, "stroke": _touch_strokes},
        full_tokens=100, min_tokens=10, mismatch_reason="touch_mismatch"),
}
#: Modality names in their canonical order.
MODALITY_NAMES: tuple[str, ...] = tuple(MODALITIES)


def modality(name: str) -> ModalitySpec:
    """The registered spec of a modality; ``ValueError`` naming the known ones otherwise."""
    if name not in MODALITIES:
        raise ValueError(f"unknown modality {name!r}; expected one of {', '.join(MODALITY_NAMES)}")
    return MODALITIES[name]
