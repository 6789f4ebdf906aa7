"""CMU's password typists as day-by-day logins (the fixed-text benchmark; real data)."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.data.cmu import load_cmu
from biometrics.data.cmu_logins import ENROLL_DAYS, IMPOSTORS, QUERY_LOGINS, login_trials, split_subjects, subject_logins
from biometrics.events import KeyClass


@pytest.fixture(scope="module")
def data():
    try:
        return load_cmu()
    except FileNotFoundError as err:  # the datasets folder is configurable; CI has it
        pytest.skip(str(err))


def test_a_login_is_the_password_typed_k_times_in_a_masked_field(data):
    logins = subject_logins(data, data.subjects[0], 2)
    assert sorted(logins) == list(range(1, 9)) and all(len(v) == 25 for v in logins.values())
    keys = logins[1][0].keystroke_arrays()
    assert (keys.key_class == int(KeyClass.MASKED)).all()
    assert keys.is_down.sum() == 22 and np.unique(keys.press).size == 22
    assert np.all(np.diff(keys.t) >= 0)
    downs = keys.t[keys.is_down]
    assert downs[11] - downs[10] >= 1000.0  # the second typing starts after the pause


def test_test_subjects_are_never_calibration_subjects_and_trials_follow_the_days(data):
    calibration, test = split_subjects(data)
    assert not set(calibration) & set(test) and sorted(calibration + test) == data.subjects
    assert split_subjects(data) == (calibration, test)  # seeded
    subject, enroll, genuine, impostor = login_trials(data, test, 1)[0]
    assert subject == test[0] and len(enroll) == ENROLL_DAYS
    assert len(genuine) == (8 - ENROLL_DAYS) * QUERY_LOGINS and len(impostor) == IMPOSTORS
    own = {s.keystroke_arrays().t.tobytes() for s in enroll + genuine}
    assert not any(s.keystroke_arrays().t.tobytes() in own for s in impostor)
