"""Build the default bundle the API serves: one scorer per modality, each trained on real public data.

    python -m training.default_bundle                       # bundles/default.pt, a few minutes
    python -m training.default_bundle --keystrokes-run logs/aalto_typenet/runs/<run>

- **keystrokes**: the Aalto TypeNet encoder (trained on the 1,364 training users, the 400
  test users held out) with its distance head, the distance scaled by the user's own
  enrollment spread (``SPREAD_ALPHA``, chosen by ``bench/keystroke_spread.py``: a login's text
  typed alike every time brings everyone's sessions closer), calibrated on the 100 validation
  users (on whole sentences, and on sentences cut to 8 ... 40 presses for shorter sessions
  such as a login page's, :mod:`biometrics.data.keystroke_scorer`):
  exported from ``--keystrokes-run`` (a run of ``python -m training.train
  experiment=aalto_typenet``), or taken from ``--keystrokes-bundle`` (default
  ``bundles/aalto_keystrokes.pt``, the export of such a run);
  Aalto's terms are **non-commercial** (with attribution): the scorer carries them in its
  metadata;
- **pointer**: per-user boosted trees on mouse-action features against a background of
  Balabit's ten accounts' training actions (:mod:`biometrics.data.pointer_scorer`); the
  labelled test sessions are never used;
- **touch**: a per-user RBF SVM on stroke features against a background of Serwadda's users
  outside the held-out fold 0 (:mod:`biometrics.data.touch_scorer`);
- **password_timing** (desktop and unknown devices): the password field's timing position by
  position against the owner's same-length enrollments (:class:`biometrics.heads.fixed_text.FixedTextHead`,
  the scaled Manhattan detector), calibrated on CMU's calibration half of the subjects as logins
  (:mod:`biometrics.data.password_scorer`); where it scores a session it replaces the keystroke
  encoder's probability in the fused risk (the same presses, told apart far better: a login's
  text is the same every time);
- **keystrokes_phone** (mobile and tablet sessions): the StrokePIN phone encoder on the masked
  presses of a PIN field (trained on folds 1-4; ``experiment=strokepin_phone``), from
  ``--phone-run`` or ``--phone-bundle`` (default ``bundles/strokepin_phone.pt``). Its data is
  **CC BY-NC-SA 4.0** (non-commercial; the weights are derived data): the scorer carries that
  licence in its metadata.

``--without-noncommercial`` leaves out every scorer whose training data forbids commercial use
(both keystroke scorers): a commercial deployment without the authors' permission trains its
keystroke model on its own data (``python -m training.train``, ``python -m training.export``).
Balabit and Serwadda publish no licence (offered to researchers as benchmarks, citation asked).

Data is read from ``--datasets-dir`` (default ``../shared/datasets``), never copied.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from biometrics.bundle import ModelBundle
from biometrics.data.balabit import load_balabit
from biometrics.data.cmu import load_cmu
from biometrics.data.keystroke_scorer import aalto_sessions, spread_scaled
from biometrics.data.password_scorer import build_password_scorer
from biometrics.data.paths import datasets_root
from biometrics.data.pointer_scorer import build_pointer_scorer
from biometrics.data.serwadda import load_serwadda
from biometrics.data.touch_scorer import build_touch_scorer
from training.export import export_run, find_checkpoint
from training.run import ROOT

#: The StrokePIN data's terms, carried by every scorer trained on it.
STROKEPIN_LICENCE = ("CC BY-NC-SA 4.0 (StrokePIN, Yao & Wang, Nankai University): non-commercial use only; "
                     "derived data (these weights) shared under the same licence; commercial use needs the "
                     "authors' written permission")
#: The Aalto data's terms (its readme), carried by the desktop keystroke scorer trained on it.
AALTO_LICENCE = ("Aalto 136M Keystrokes (Dhakal et al., CHI 2018): non-commercial use in research or projects, "
                 "with attribution; commercial use needs the authors' permission")
PHONE_DEVICES = ("mobile", "tablet")
#: The recipe's revision, in the model version: a change to how a scorer is built (r2: touch
#: ignores the contact area, pointer heads draw at least 256 background actions; r3: pointer
#: and touch calibrated per item count; r4: keystrokes calibrated per press count; r5: keystroke
#: distances scaled by the user's spread; r6: the password scorer) re-versions the bundle even when the keystroke export
#: is the same.
RECIPE = "r6"


def keystroke_scorer(run: Path | None, bundle: Path, ckpt: str = "best"):
    """The keystroke scorer of a run (exported now) or of an already exported bundle."""
    source = export_run(run, ckpt) if run is not None else ModelBundle.load(bundle)
    return source.scorers["keystrokes"], source.model_version


def phone_scorer(run: Path | None, bundle: Path):
    """The phone PIN scorer: StrokePIN fold 0's encoder, on masked presses, for phones and tablets."""
    ckpt = "best" if run is None else str(find_checkpoint(run / "fold0", "best"))  # fold 0 held out
    scorer, _ = keystroke_scorer(run, bundle, ckpt)
    return dataclasses.replace(scorer, name="keystrokes_phone", devices=PHONE_DEVICES, licence=STROKEPIN_LICENCE,
                               unit_options={"masked_only": True})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bundles" / "default.pt")
    ap.add_argument("--datasets-dir", default=None)
    ap.add_argument("--keystrokes-run", type=Path, default=None)
    ap.add_argument("--keystrokes-bundle", type=Path, default=ROOT / "bundles" / "aalto_keystrokes.pt")
    ap.add_argument("--phone-run", type=Path, default=None, help="an experiment=strokepin_phone run")
    ap.add_argument("--phone-bundle", type=Path, default=ROOT / "bundles" / "strokepin_phone.pt")
    ap.add_argument("--without-noncommercial", action="store_true",
                    help="leave out scorers whose training data forbids commercial use (Aalto and StrokePIN: "
                         "both keystroke scorers)")
    ap.add_argument("--touch-test-fold", type=int, default=0, help="Serwadda fold held out (-1: none)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    start = time.time()
    keys, keys_version = keystroke_scorer(args.keystrokes_run, args.keystrokes_bundle)
    validation = aalto_sessions(datasets_root(args.datasets_dir), ROOT / ".cache" / "aalto-desktop", "val")
    keys = dataclasses.replace(spread_scaled(keys, validation), licence=AALTO_LICENCE)
    data = load_balabit(args.datasets_dir)
    pointer = build_pointer_scorer(data, data.accounts, seed=args.seed)
    touch = build_touch_scorer(load_serwadda(args.datasets_dir), args.touch_test_fold, seed=args.seed)
    version = f"default-{time.strftime('%Y%m%d')}-{RECIPE}-{keys_version}"
    scorers = {"pointer": pointer, "touch": touch}
    password = build_password_scorer(load_cmu(datasets_root(args.datasets_dir)))
    scorers["password_timing"] = dataclasses.replace(password, replaces=None)
    if not args.without_noncommercial:
        scorers["keystrokes"] = keys
        scorers["keystrokes_phone"] = phone_scorer(args.phone_run, args.phone_bundle)
        scorers["password_timing"] = password
    bundle = ModelBundle(version, scorers)
    bundle.save(args.out, compress=True)  # gzip: lossless
    size = args.out.stat().st_size / 1e6
    print(f"bundle {version} ({', '.join(bundle.scorers)}; {size:.1f} MB) written to {args.out} "
          f"in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
