"""Key-identity schemes compared in research: how much of *which key* a token may carry.

The session contract (:mod:`biometrics.events`) carries one of them, ``classes``; the
others exist only so that their accuracy and their privacy can be measured against it
(``bench/key_identity.py``, ``bench/results/key_identity.md``):

* ``buckets``: contract v1. Key class plus a salted 64-way hash of the key code. The salt
  sits in the login page, so it is public, and even unsalted the buckets are a
  substitution cipher.
* ``zones``: keyboard row x hand (8 zones of the main block, space, numpad, and the
  control classes), the kind of "coarse" identity that T9 shows words can be read from.
* ``classes``: the contract's 8 key classes (:class:`biometrics.events.KeyClass`).
* ``none``: timing only.

A scheme maps a browser ``KeyboardEvent.code`` to ``(key_class, key_group)``: the class
fills the token's one-hot columns, the group its ``key_bucket`` column (embedded by the
encoder when the scheme uses it); :func:`hidden_columns` names the token columns an
encoder must not see under the scheme.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np

from biometrics.events import key_class_of_code
from biometrics.features.keystroke import KEY_CLASS_FEATURES

SCHEMES: tuple[str, ...] = ("buckets", "zones", "classes", "none")
N_BUCKETS = 64

#: Physical rows of the main block, left to right (``KeyboardEvent.code``).
ROWS: tuple[tuple[str, ...], ...] = (
    ("Backquote", *(f"Digit{d}" for d in "1234567890"), "Minus", "Equal"),
    tuple(f"Key{c}" for c in "QWERTYUIOP") + ("BracketLeft", "BracketRight", "Backslash"),
    tuple(f"Key{c}" for c in "ASDFGHJKL") + ("Semicolon", "Quote"),
    ("IntlBackslash", *(f"Key{c}" for c in "ZXCVBNM"), "Comma", "Period", "Slash"),
)
#: Keys per row typed by the left hand (touch typing).
LEFT_HAND = (6, 5, 5, 6)


def _zone_table() -> dict[str, int]:
    table = {}
    for r, (row, n_left) in enumerate(zip(ROWS, LEFT_HAND)):
        for i, code in enumerate(row):
            table[code] = 2 * r + (i >= n_left)
    table["Space"] = 8
    table |= {f"Numpad{d}": 9 for d in range(10)}
    return table


ZONES = _zone_table()


def salted_bucket(code: str, salt: bytes, n_buckets: int = N_BUCKETS) -> int:
    """Contract v1's salted hash bucket of a key code (HMAC-SHA256 mod ``n_buckets``)."""
    digest = hmac.new(salt, code.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % n_buckets


def key_identity(code: str, scheme: str, salt: bytes = b"research") -> tuple[int, int]:
    """``(key_class, key_group)`` of a ``KeyboardEvent.code`` under ``scheme``."""
    cls = int(key_class_of_code(code))
    if scheme == "buckets":
        return cls, salted_bucket(code, salt)
    if scheme == "zones":
        # Control keys keep their class as a zone of their own (10 + class).
        return cls, ZONES.get(code, 10 + cls)
    if scheme in ("classes", "none"):
        return cls, 0
    raise ValueError(f"unknown key identity scheme {scheme!r}; expected one of {SCHEMES}")


def identity_tables(codes: list[str], scheme: str, salt: bytes = b"research") -> tuple[np.ndarray, np.ndarray]:
    """Class and group arrays for a list of codes (index ``i`` -> ``codes[i]``)."""
    pairs = [key_identity(c, scheme, salt) for c in codes]
    return (np.array([p[0] for p in pairs], np.int8), np.array([p[1] for p in pairs], np.int32))


def hidden_columns(scheme: str) -> tuple[str, ...]:
    """Keystroke token columns an encoder must not see under ``scheme``."""
    if scheme == "buckets":
        return ()
    if scheme == "zones":
        return KEY_CLASS_FEATURES  # the zone says everything the scheme allows
    if scheme == "classes":
        return ("key_bucket",)
    if scheme == "none":
        return (*KEY_CLASS_FEATURES, "key_bucket")
    raise ValueError(f"unknown key identity scheme {scheme!r}; expected one of {SCHEMES}")


def keycode_to_code() -> list[str]:
    """``KeyboardEvent.code`` for every JavaScript keyCode 0..255 on a US layout (Aalto's key codes)."""
    table = [""] * 256
    for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        table[65 + i] = f"Key{c}"
    for d in range(10):
        table[48 + d] = f"Digit{d}"
        table[96 + d] = f"Numpad{d}"
    named = {32: "Space", 8: "Backspace", 46: "Delete", 16: "ShiftLeft", 20: "CapsLock", 13: "Enter",
             186: "Semicolon", 187: "Equal", 188: "Comma", 189: "Minus", 190: "Period", 191: "Slash",
             192: "Backquote", 219: "BracketLeft", 220: "Backslash", 221: "BracketRight", 222: "Quote",
             106: "NumpadMultiply", 107: "NumpadAdd", 109: "NumpadSubtract", 110: "NumpadDecimal",
             111: "NumpadDivide", 9: "Tab", 17: "ControlLeft", 18: "AltLeft", 37: "ArrowLeft",
             38: "ArrowUp", 39: "ArrowRight", 40: "ArrowDown"}
    for k, v in named.items():
        table[k] = v
    return table



# --------------------------------------------------------------------------------------
# Keyboard layouts: what each physical key types, to state privacy in characters
# --------------------------------------------------------------------------------------

_MAIN_BLOCK: tuple[str, ...] = tuple(c for row in ROWS for c in row if c != "IntlBackslash")


def _layout(rows: tuple[str, ...], shifted: tuple[str, ...], extra: dict[str, str] | None = None) -> dict[str, str]:
    """code -> the characters the key types (unshifted then shifted), rows as in :data:`ROWS`."""
    chars = "".join(rows)
    shift = "".join(shifted)
    if not len(chars) == len(shift) == len(_MAIN_BLOCK):
        raise ValueError(f"a layout needs {len(_MAIN_BLOCK)} keys, got {len(chars)} / {len(shift)}")
    table = {code: a + b for code, a, b in zip(_MAIN_BLOCK, chars, shift)}
    table["Space"] = " "
    return table | (extra or {})


#: Characters typed by each main-block key (unshifted, shifted) on four common layouts.
LAYOUTS: dict[str, dict[str, str]] = {
    "us": _layout(("`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./"),
                  ("~!@#$%^&*()_+", "QWERTYUIOP{}|", 'ASDFGHJKL:"', "ZXCVBNM<>?")),
    "uk": _layout(("`1234567890-=", "qwertyuiop[]#", "asdfghjkl;'", "zxcvbnm,./"),
                  ('¬!"£$%^&*()_+', "QWERTYUIOP{}~", "ASDFGHJKL:@", "ZXCVBNM<>?"),
                  {"IntlBackslash": "\\|"}),
    "de": _layout(("^1234567890ß´", "qwertzuiopü+#", "asdfghjklöä", "yxcvbnm,.-"),
                  ('°!"§$%&/()=?`', "QWERTZUIOPÜ*'", "ASDFGHJKLÖÄ", "YXCVBNM;:_"),
                  {"IntlBackslash": "<>"}),
    "fr": _layout(("²&é\"'(-è_çà)=", "azertyuiop^$*", "qsdfghjklmù", "wxcvbn,;:!"),
                  ("~1234567890°+", "AZERTYUIOP¨£µ", "QSDFGHJKLM%", "WXCVBN?./§"),
                  {"IntlBackslash": "<>"}),
}


def characters_per_value(layout: dict[str, str], sensitive: bool = False,
                         scheme: str = "classes") -> dict[int | tuple, set[str]]:
    """For each value a key can carry under ``scheme``: the characters its keys type on ``layout``.

    Values are the contract's key classes (``masked`` everywhere when ``sensitive``) for
    ``classes``, ``(class, group)`` pairs for ``buckets`` / ``zones``, one value for ``none``.
    """
    def value(code: str) -> int | tuple:
        if scheme == "classes":
            return int(key_class_of_code(code, sensitive))
        return () if scheme == "none" else key_identity(code, scheme)

    out: dict[int | tuple, set[str]] = {}
    for code, chars in layout.items():
        out.setdefault(value(code), set()).update(chars)
    return out


def typing_codes(layout: dict[str, str]) -> dict[str, str]:
    """Character -> the key that types it on ``layout`` (a shifted character maps to its key)."""
    out: dict[str, str] = {}
    for code, chars in layout.items():
        for ch in chars:
            out.setdefault(ch, code)
    return out
