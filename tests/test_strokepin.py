"""StrokePIN loader: the dataset README's counts and the contract's masked PIN entries (real data, slow)."""

from collections import Counter

import numpy as np
import pytest

from biometrics.data.paths import datasets_root
from biometrics.data.sessions import keystroke_session
from biometrics.data.strokepin import ARCHIVE, PINS, load_entries
from biometrics.events import KeyClass
from biometrics.features import keystroke_presses

ROOT = datasets_root(None)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (ROOT / ARCHIVE).exists(), reason=f"{ROOT / ARCHIVE} is not there")]


def test_entries_match_the_readme_counts_and_are_six_masked_presses():
    entries = load_entries(ROOT)
    assert len(entries) == 16_694 and len({e.user for e in entries}) == 96  # the README's figures
    e = entries[0]
    p = keystroke_presses(e.keys)
    assert len(p) == 6 and np.all(p.hold >= 0) and np.all(p.key_class == KeyClass.MASKED)
    session = keystroke_session(e.keys, device_type="mobile")  # a valid contract session
    assert {k.key_class for k in session.keystrokes} == {KeyClass.MASKED}
    cells = Counter((e.user, e.pin, e.posture) for e in entries)  # the README's cells after the filters
    assert {e.pin for e in entries} == set(PINS)
    assert (len(cells), sum(n == 5 for n in cells.values()), sum(n >= 4 for n in cells.values())) == (3799, 2702, 2875)
