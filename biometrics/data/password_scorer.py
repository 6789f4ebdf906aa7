"""The servable password scorer: a password field's timing by position (:class:`FixedTextHead`).

A login page's password is the same text every time, and the desktop keystroke encoder,
trained on free text, barely tells its owner from someone else typing it (CMU's typists as
logins: served ROC AUC 0.72, ``cmu_logins_22``). Position by position the timing does
(the scaled Manhattan detector, ``bench/cmu_km09.py``). The head has nothing to train; its
calibration is fitted here on CMU's **calibration half** of the subjects
(:func:`biometrics.data.cmu_logins.split_subjects`), under the login protocol of
:mod:`biometrics.data.cmu_logins` (five days enrolled, one login each; later days' logins
genuine; other subjects' first typings of the password impostor). The other half is never
used here: ``bench/product_accuracy.py --benchmark cmu`` serves it.

Calibrations per press count: logins of 1, 2 and 3 typings of the 11-press password (11, 22,
33 presses: the headline is 33), and 6 and 8 presses (each typing cut to its first presses),
for shorter passwords and PINs typed on a keyboard.
"""

from __future__ import annotations

import numpy as np

from biometrics.calibration import fit_calibration, fit_item_calibrations
from biometrics.data.cmu import CmuData
from biometrics.data.cmu_logins import ENROLL_DAYS, login_trials, split_subjects
from biometrics.heads.fixed_text import FixedTextHead
from biometrics.modalities import MODALITIES, password_columns
from biometrics.scorers import ModalityScorer

#: Press counts calibrated by cutting one typing of the password to its first presses.
CUT_PRESSES = (6, 8)
#: Typings of the 11-press password per login calibrated; the most is the headline.
LOGIN_REPS = (1, 2, 3)
#: The devices it scores: a keyboard (a phone's PIN pad is the phone scorer's; unknown: keyboard).
DEVICES = ("desktop", "unknown")
CMU_TERMS = ("CMU keystroke benchmark (Killourhy & Maxion, DSN 2009): shared for research use and "
             "reproduction; cite the paper (see ../shared/datasets/cmu-keystroke/README.md)")


def password_rows(sessions) -> np.ndarray:
    """``[n, len(PASSWORD_FEATURES)]`` password rows of contract sessions, by the scorer's own unit."""
    spec = MODALITIES["keystrokes"]
    return np.concatenate([spec.items(s, "password").features for s in sessions])


def cut_rows(rows: np.ndarray, presses: int) -> np.ndarray:
    """Rows as if the password were only its first ``presses`` presses."""
    out = np.zeros_like(rows)
    out[:, 0] = np.minimum(rows[:, 0], presses)
    cols = password_columns(presses)
    out[:, cols] = rows[:, cols]
    return out


def held_out_anomalies(data: CmuData, subjects: list[str], head: FixedTextHead
                       ) -> tuple[dict[int, list[float]], dict[int, list[float]], dict[int, list], dict[int, list]]:
    """Genuine and impostor anomalies (and their subjects) by press count, under the login protocol."""
    genuine, impostor = {}, {}
    g_users, i_users = {}, {}
    add = lambda d, n, v: d.setdefault(n, []).extend(v)
    for reps in LOGIN_REPS:
        for s, enroll, gen, imp in login_trials(data, subjects, reps):
            e, g, i = password_rows(enroll), password_rows(gen), password_rows(imp)
            variants = [(11 * reps, e, g, i)]
            if reps == 1:
                variants += [(k, cut_rows(e, k), cut_rows(g, k), cut_rows(i, k)) for k in CUT_PRESSES]
            for n, e_, g_, i_ in variants:
                gs, is_ = head.score({"enroll": e_}, g_), head.score({"enroll": e_}, i_)
                add(genuine, n, gs), add(impostor, n, is_)
                add(g_users, n, [s] * len(gs)), add(i_users, n, [s] * len(is_))
    return genuine, impostor, g_users, i_users


def build_password_scorer(data: CmuData, head: FixedTextHead | None = None) -> ModalityScorer:
    """The password scorer (``head``: default :class:`FixedTextHead`), calibrated on CMU's
    calibration half (see the module docstring)."""
    head = head or FixedTextHead()
    calibration_subjects, _ = split_subjects(data)
    genuine, impostor, g_users, i_users = held_out_anomalies(data, calibration_subjects, head)
    headline = 11 * max(LOGIN_REPS)
    cal = fit_calibration(np.array(genuine[headline]), np.array(impostor[headline]),
                          np.array(g_users[headline]), np.array(i_users[headline]))
    shorter = {n: v for n, v in genuine.items() if n != headline}
    item_cals = fit_item_calibrations(shorter, {n: impostor[n] for n in shorter},
                                      {n: g_users[n] for n in shorter}, {n: i_users[n] for n in shorter})
    spec = MODALITIES["keystrokes"]
    return ModalityScorer(
        "password_timing", "keystrokes", "password", spec.default_feature_config(), head, cal, None,
        ("features",), max_enroll_vectors=20, devices=DEVICES, item_calibrations=item_cals, replaces="keystrokes",
        metrics={"calibration_subjects": len(calibration_subjects), "enrollment_logins": ENROLL_DAYS,
                 "calibration_presses": headline,
                 "validation_genuine": len(genuine[headline]), "validation_impostor": len(impostor[headline])},
        licence=CMU_TERMS)
