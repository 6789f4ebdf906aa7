"""Dataset recordings as session-contract sessions: what a collector would have sent for them.

The product benchmarks (``bench/product_accuracy.py``) feed these through the scoring
service, so a served figure is measured on exactly the body an API client posts.
"""

from __future__ import annotations

import numpy as np

from biometrics.events import SCHEMA_VERSION, KeystrokeArrays, Session


def keystroke_session(keys: KeystrokeArrays, device_type: str = "desktop") -> Session:
    """A recording's key events (with press ids) as a validated contract session, timed from 0."""
    if keys.press is None:
        raise ValueError("the key events need press ids (the dataset loaders set them)")
    t = np.asarray(keys.t, np.float64)
    t = np.round(t - (t[0] if t.size else 0.0), 3)
    events = [{"t": float(ti), "type": "down" if d else "up", "press": int(p), "key_class": int(c)}
              for ti, d, p, c in zip(t, keys.is_down, keys.press, keys.key_class)]
    return Session.model_validate({"schema_version": SCHEMA_VERSION, "keystrokes": events,
                                   "meta": {"device_type": device_type}})
