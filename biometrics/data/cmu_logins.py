"""CMU's password typists as logins: the calibration of a text typed the same way every time.

The desktop keystroke scorer's calibrations are fitted on Aalto's free text: every session a
new sentence. A login page's text is the same every time (the user's login name and
password), and an impostor types the victim's. Between two typings of one text the embedding
moves far less than between two sentences, for the owner and for anyone else: served on CMU's
typists with the free-text calibration, 58% of impostor logins were allowed.

A **login** here is ``k`` consecutive repetitions of CMU's ``.tie5Roanl`` (``k`` = 1, 2, 3:
11, 22, 33 presses, a password field's keys: key class ``MASKED``), the repetitions a second
apart. The protocol is one login a day, as a login page sees its users: each subject enrolls
the first login of each of days (CMU sessions) 1 ... ``ENROLL_DAYS``; its genuine queries are
the first ``QUERY_LOGINS`` logins of each later day; its impostor queries the first login of
``IMPOSTORS`` other subjects (their first typings of the text, as an attacker with a stolen
password). The subjects are split, seeded, into calibration subjects (the bundle's fixed-text
calibrations, :func:`fixed_text_calibrations`) and test subjects (the served figures,
``bench/product_accuracy.py --benchmark cmu``): no test subject is in a calibration.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from biometrics.calibration import Calibration, fit_item_calibrations
from biometrics.data.cmu import CmuData, cmu_to_keystroke_arrays
from biometrics.data.sessions import keystroke_session
from biometrics.events import KeyClass, KeystrokeArrays, Session
from biometrics.scorers import ModalityScorer

#: Repetitions per login, days enrolled (one login each), logins per later day queried,
#: impostor subjects per subject, pause between repetitions (ms), subjects' split seed.
LOGIN_REPS, ENROLL_DAYS, QUERY_LOGINS, IMPOSTORS, GAP_MS, SPLIT_SEED = (1, 2, 3), 5, 5, 10, 1000.0, 0


def _joined(reps: list[KeystrokeArrays]) -> KeystrokeArrays:
    """Repetitions one after another, ``GAP_MS`` apart, every key a password field's (``MASKED``)."""
    t, down, press, offset, end = [], [], [], 0, 0.0
    for r in reps:
        start = end + GAP_MS if t else 0.0
        t.append(np.asarray(r.t, np.float64) - r.t[0] + start)
        end = float(t[-1].max())
        down.append(r.is_down)
        press.append(np.asarray(r.press) + offset)
        offset += int(np.asarray(r.press).max()) + 1
    n = sum(x.size for x in t)
    return KeystrokeArrays(t=np.concatenate(t), is_down=np.concatenate(down),
                           key_class=np.full(n, int(KeyClass.MASKED), np.int8), key_bucket=np.zeros(n, np.int32),
                           press=np.concatenate(press).astype(np.int32))


def subject_logins(data: CmuData, subject: str, reps: int) -> dict[int, list[Session]]:
    """The subject's logins of ``reps`` repetitions each, by day (CMU session 1 ... 8), in order."""
    out: dict[int, list[Session]] = {}
    for day in np.unique(data.session):
        rows = np.flatnonzero((data.subject == subject) & (data.session == day))
        arrays = cmu_to_keystroke_arrays(data, rows)
        out[int(day)] = [keystroke_session(_joined(arrays[i:i + reps]))
                         for i in range(0, len(arrays) - reps + 1, reps)]
    return out


def split_subjects(data: CmuData, seed: int = SPLIT_SEED) -> tuple[list[str], list[str]]:
    """(calibration subjects, test subjects): a seeded half each (the test half one more when odd)."""
    subjects = np.array(data.subjects)
    order = np.random.default_rng(seed).permutation(subjects.size)
    half = subjects.size // 2
    return sorted(subjects[order[:half]].tolist()), sorted(subjects[order[half:]].tolist())


def login_trials(data: CmuData, subjects: list[str], reps: int, seed: int = 0
                 ) -> list[tuple[str, list[Session], list[Session], list[Session]]]:
    """Per subject: (subject, enrollment logins, genuine queries, impostor queries), the protocol
    of the module docstring among ``subjects`` only."""
    logins = {s: subject_logins(data, s, reps) for s in subjects}
    rng = np.random.default_rng(seed)
    out = []
    for i, s in enumerate(subjects):
        days = sorted(logins[s])
        enroll = [logins[s][d][0] for d in days[:ENROLL_DAYS]]
        genuine = [x for d in days[ENROLL_DAYS:] for x in logins[s][d][:QUERY_LOGINS]]
        others = rng.choice(np.delete(np.arange(len(subjects)), i), size=min(IMPOSTORS, len(subjects) - 1),
                            replace=False)
        impostor = [logins[subjects[o]][min(logins[subjects[o]])][0] for o in others]
        out.append((s, enroll, genuine, impostor))
    return out


def fixed_text_calibrations(scorer: ModalityScorer, data: CmuData, subjects: list[str], seed: int = 0
                            ) -> tuple[tuple[int, Calibration], ...]:
    """The scorer's calibrations of logins of each :data:`LOGIN_REPS` length (keyed by presses,
    ascending), from the protocol's comparisons among ``subjects`` (the calibration half)."""
    scores = {label: defaultdict(list) for label in ("genuine", "impostor")}
    groups = {label: defaultdict(list) for label in ("genuine", "impostor")}
    for reps in LOGIN_REPS:
        for s, enroll_sessions, genuine, impostor in login_trials(data, subjects, reps, seed):
            enroll = np.concatenate([scorer.vectors(x)[0] for x in enroll_sessions])
            state = scorer.fit(enroll)
            for label, queries in (("genuine", genuine), ("impostor", impostor)):
                for q in queries:
                    vectors, n = scorer.vectors(q)
                    scores[label][n].append(scorer.anomaly(enroll, state, vectors))
                    groups[label][n].append(s)
    return fit_item_calibrations(scores["genuine"], scores["impostor"], groups["genuine"], groups["impostor"])
