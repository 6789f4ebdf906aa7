"""CMU's password typists as logins: a text typed the same way every time, day after day.

The desktop keystroke scorer's calibrations are fitted on Aalto's free text: every session a
new sentence. A login page's text is the same every time (the user's login name and
password), and an impostor types the victim's. Between two typings of one text the embedding
moves far less than between two sentences, for the owner and for anyone else: served on these
logins with the free-text calibration, every impostor is allowed (``bench/results/product_accuracy.json``,
``cmu_logins_22``).

A **login** here is ``k`` consecutive repetitions of CMU's ``.tie5Roanl`` (``k`` = 1, 2, 3:
11, 22, 33 presses, a password field's keys: key class ``MASKED``), the repetitions a second
apart. The protocol is one login a day, as a login page sees its users: each subject enrolls
the first login of each of days (CMU sessions) 1 ... ``ENROLL_DAYS``; its genuine queries are
the first ``QUERY_LOGINS`` logins of each later day; its impostor queries the first login of
``IMPOSTORS`` other subjects (their first typings of the text, as an attacker with a stolen
password). The subjects are split, seeded, in two halves: ``bench/keystroke_spread.py`` reports
the first, ``bench/product_accuracy.py --benchmark cmu`` serves the second; nothing is fitted on
either.
"""

from __future__ import annotations

import numpy as np

from biometrics.data.cmu import CmuData, cmu_to_keystroke_arrays
from biometrics.data.sessions import joined_presses, keystroke_session
from biometrics.events import Session

#: Repetitions per login, days enrolled (one login each), logins per later day queried,
#: impostor subjects per subject, pause between repetitions (ms), subjects' split seed.
LOGIN_REPS, ENROLL_DAYS, QUERY_LOGINS, IMPOSTORS, GAP_MS, SPLIT_SEED = (1, 2, 3), 5, 5, 10, 1000.0, 0


def subject_logins(data: CmuData, subject: str, reps: int) -> dict[int, list[Session]]:
    """The subject's logins of ``reps`` repetitions each, by day (CMU session 1 ... 8), in order."""
    out: dict[int, list[Session]] = {}
    for day in np.unique(data.session):
        rows = np.flatnonzero((data.subject == subject) & (data.session == day))
        arrays = cmu_to_keystroke_arrays(data, rows)
        out[int(day)] = [keystroke_session(joined_presses(arrays[i:i + reps], GAP_MS))
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
