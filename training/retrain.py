"""Retrain on newly labelled sessions: train a challenger, compare it with the champion as served.

    python -m training.retrain --sessions new_sessions.jsonl --champion bundles/default.pt
    python -m training.retrain --sessions new.parquet --champion bundles/default.pt \\
        --out-dir logs/retrain/june --impostors 10 trainer.max_epochs=20 model.encoder.hidden=64

One command, four steps, everything written under ``--out-dir`` (default
``logs/retrain/<UTC time>``):

1. **train** the challenger with the Hydra experiment ``retrain`` (``configs/experiment/retrain.yaml``,
   data ``configs/data/sessions_file.yaml``) through the code path of ``python -m training.train``
   (:func:`training.train.train` on the composed config; trailing ``key=value`` arguments are
   Hydra overrides of it). The file's accounts are split, seeded, into train, validation and
   held-out **evaluation** users; the encoder trains on the train users' genuine sessions only
   (:mod:`biometrics.data.sessions_module`). The run folder is ``<out-dir>/run``.
2. **export** it (:func:`training.export.export_run`, calibrated on the validation users) as
   ``<out-dir>/challenger.pt``: the champion's bundle with the scorer of the retrained modality
   (``keystrokes``) replaced by the new one and the other scorers kept, so shadowing and
   promoting it changes that model only (``--alone``: the new scorer by itself). Its model
   version is ``--model-version`` (default ``retrain-<UTC time>``).
3. **evaluate** champion and challenger on the same protocol and users through the serving path
   (:func:`serving.evaluation.evaluate_labelled_sessions`, as ``python -m training.evaluate_bundle``):
   the evaluation users' sessions of the file, the same enrollment (``--enroll``), the same
   impostor sessions of the file plus ``--impostors`` zero-effort trials drawn with ``--seed``.
4. **compare**: ``<out-dir>/comparison.json`` holds both reports side by side, the deltas
   (challenger minus champion) of EER, ROC AUC, FAR at 1% FRR, impostors allowed and genuine
   denied, the evaluation users and the training facts; one JSON line of the deltas is printed,
   then the next steps (shadow with ``BIOMETRICS_CHALLENGER_BUNDLE_PATH``, ``python -m
   serving.promote``, ``python -m serving.reembed``).

Bad input (no such sessions file or champion bundle, a malformed file, too few accounts to
split, a bad override) stops with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from training.run import ROOT

CONFIGS = ROOT / "configs"
EXPERIMENT = "retrain"
#: The figures compared, and whether lower is better.
COMPARED = {"eer_pooled": True, "eer_mean_per_user": True, "roc_auc": False, "far_at_frr_1pct": True,
            "impostors_allowed": True, "genuine_denied": True, "genuine_not_allowed": True}
#: Counts that must agree for the two reports to be on the same trials.
SAME_TRIALS = ("n_users", "n_genuine", "n_impostor", "impostor_trials", "enrolled_sessions_per_user")


class RetrainError(ValueError):
    """Input the retraining cannot use; a one-line message."""


def _fail(message: str) -> None:
    print(f"retrain: error: {message}".replace("\n", " "), file=sys.stderr)
    raise SystemExit(2)


def compose_config(sessions: Path, run_dir: Path, overrides: list[str]) -> DictConfig:
    """The ``retrain`` experiment's training config (``configs/train.yaml`` + ``experiment=retrain``),
    data from ``sessions``, run folder ``run_dir``, as ``python -m training.train`` composes it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            cfg = compose("train.yaml", overrides=[f"experiment={EXPERIMENT}", *overrides,
                                                   f"data.path={sessions.resolve()}"],
                          return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise RetrainError(f"bad override: {err}") from None
    finally:
        GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        cfg.hydra.runtime.output_dir = str(run_dir)
    return cfg


def evaluation_split(records: list, data_cfg: DictConfig) -> dict[str, list[str]]:
    """The accounts of each stage (``test``: the evaluation users) the data module will use."""
    from biometrics.data.sessions_module import genuine_sequences, split_user_ids

    seqs = genuine_sequences(records, data_cfg.modality, int(data_cfg.per_user), data_cfg.get("min_tokens"))
    return split_user_ids(list(seqs), float(data_cfg.test_fraction), float(data_cfg.val_fraction),
                          int(data_cfg.seed))


def train_challenger(cfg: DictConfig, run_dir: Path) -> dict:
    """Train through :func:`training.train.train`, with the run's config saved as a Hydra run's."""
    from hydra.core.hydra_config import HydraConfig

    from training.train import train

    plain = cfg.copy()
    with open_dict(plain):
        del plain["hydra"]
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(plain, run_dir / ".hydra" / "config.yaml")
    HydraConfig.instance().set_config(cfg)
    return train(cfg)


def challenger_bundle(run_dir: Path, champion_path: Path, version: str, alone: bool):
    """The exported run, merged into the champion's bundle (its scorer of the same name replaced)
    unless ``alone``; returns (bundle, what was replaced, what was kept)."""
    from biometrics.bundle import ModelBundle
    from training.export import export_run

    new = export_run(run_dir, model_version=version)
    if alone:
        return new, [], []
    champion = ModelBundle.load(champion_path)
    kept = {k: v for k, v in champion.scorers.items() if k not in new.scorers}
    merged = ModelBundle(version, {**kept, **new.scorers},
                         references={k: v for k, v in champion.references.items() if k in kept})
    return merged, sorted(set(champion.scorers) & set(new.scorers)), sorted(kept)


def compare(champion: dict, challenger: dict) -> dict:
    """Deltas (challenger minus champion) of the compared figures, and whether each is better."""
    out: dict[str, Any] = {}
    for name, lower_better in COMPARED.items():
        a, b = champion.get(name), challenger.get(name)
        if a is None or b is None:
            out[name] = {"champion": a, "challenger": b, "delta": None, "challenger_better": None}
            continue
        out[name] = {"champion": a, "challenger": b, "delta": b - a,
                     "challenger_better": (b < a) if lower_better else (b > a)}
    return out


def next_steps(challenger: Path, champion: Path) -> list[str]:
    """What to run after the comparison: shadow, promote, re-embed."""
    return [
        (f"shadow it beside the champion: BIOMETRICS_BUNDLE_PATH={champion} "
         f"BIOMETRICS_CHALLENGER_BUNDLE_PATH={challenger} uvicorn serving.app:app "
         "(live FAR/FRR of both: GET /v1/feedback/metrics)"),
        f"re-embed the stored profiles for it: python -m serving.reembed --bundle {challenger}",
        (f"promote it: python -m serving.promote --challenger {challenger} --bundle {champion} "
         "(then restart the API workers)"),
    ]


def retrain(sessions: Path, champion: Path, out_dir: Path, overrides: list[str] | None = None, *,
            enroll: int | None = None, impostors: int = 5, seed: int = 0, model_version: str | None = None,
            alone: bool = False) -> dict:
    """Train, export, evaluate both bundles on the held-out users, write ``comparison.json``;
    returns the comparison. Raises :class:`RetrainError` (or ``serving.evaluation.InputError``,
    ``biometrics.data.sessions_module.SplitError``) on bad input, before any training."""
    from biometrics.data.sessions_module import read_records
    from serving.evaluation import check_records, evaluate_labelled_sessions

    if not champion.is_file():
        raise RetrainError(f"no champion bundle at {champion}")
    start = time.time()
    records = read_records(sessions)  # InputError: no file, a malformed line
    run_dir = out_dir / "run"
    cfg = compose_config(sessions, run_dir, list(overrides or []))
    if cfg.data._target_ != "biometrics.data.sessions_module.SessionsFileDataModule":
        raise RetrainError("retraining reads the sessions file: keep data=sessions_file")
    split = evaluation_split(records, cfg.data)  # SplitError: too few accounts
    evaluation_users = set(split["test"])
    held_out = [r for r in records if r.user_id in evaluation_users]
    check_records(held_out, impostors)  # fail before training, not after

    report = train_challenger(cfg, run_dir)
    stamp = out_dir.name if out_dir.name else datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    version = model_version or f"retrain-{stamp}"
    bundle, replaced, kept = challenger_bundle(run_dir, champion, version, alone)
    challenger = out_dir / "challenger.pt"
    bundle.save(challenger)

    protocol = {"enroll": enroll, "impostors": impostors, "seed": seed}
    reports = {role: evaluate_labelled_sessions(held_out, path, **protocol)
               for role, path in (("champion", champion), ("challenger", challenger))}
    same = {k: reports["champion"].get(k) == reports["challenger"].get(k) for k in SAME_TRIALS}
    steps = next_steps(challenger, champion)
    comparison = {
        "sessions": str(sessions), "champion_bundle": str(champion), "challenger_bundle": str(challenger),
        "model_versions": {r: reports[r]["model_version"] for r in reports},
        "protocol": {**protocol, "served": "serving.evaluation.evaluate_labelled_sessions",
                     "evaluation_sessions": len(held_out)},
        "users": {**{k: split[k] for k in ("train", "val")}, "evaluation": split["test"]},
        "same_trials": all(same.values()), "same_trials_by_count": same,
        "delta": compare(reports["champion"], reports["challenger"]),
        "champion": reports["champion"], "challenger": reports["challenger"],
        "training": {"run_dir": str(run_dir), "modality": cfg.data.modality,
                     "scorers_replaced": replaced, "scorers_kept": kept,
                     "fit": report.get("fit"), "research_test_eer": report.get("encoder", {}).get("eer"),
                     "n_train_users": report.get("n_train_users"), "n_val_users": report.get("n_val_users"),
                     "n_test_users": report.get("n_test_users"), "overrides": list(overrides or [])},
        "next_steps": steps, "wall_s": round(time.time() - start, 1),
    }
    (out_dir / "comparison.json").write_text(json.dumps(comparison, indent=2, default=str) + "\n")
    return comparison


def main(argv: list[str] | None = None) -> dict:
    """Parse the arguments, retrain, print the deltas (one JSON line) and the next steps."""
    ap = argparse.ArgumentParser(prog="python -m training.retrain", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[5:]))
    ap.add_argument("--sessions", type=Path, required=True,
                    help="newly labelled sessions: .jsonl (or a folder with sessions.jsonl) or .parquet")
    ap.add_argument("--champion", type=Path, required=True, help="the served bundle, e.g. bundles/default.pt")
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="where the run, challenger.pt and comparison.json go (default logs/retrain/<UTC time>)")
    ap.add_argument("--enroll", type=int, default=None,
                    help="enrollment sessions per account in the served evaluation (default: all)")
    ap.add_argument("--impostors", type=int, default=5,
                    help="zero-effort impostor trials per genuine test session (default 5)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the impostor draws (default 0)")
    ap.add_argument("--model-version", default=None, help="the challenger's model version (default retrain-<out-dir name>)")
    ap.add_argument("--alone", action="store_true",
                    help="ship the new scorer alone instead of replacing it in the champion's bundle")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides of the retrain experiment, e.g. trainer.max_epochs=20")
    args = ap.parse_args(argv)
    out_dir = args.out_dir or ROOT / "logs" / "retrain" / datetime.now(UTC).strftime("%Y-%m-%d_%H-%M-%S")
    from biometrics.data.sessions_module import SplitError
    from biometrics.labelled_sessions import InputError

    try:
        comparison = retrain(args.sessions, args.champion, out_dir, args.overrides, enroll=args.enroll,
                             impostors=args.impostors, seed=args.seed, model_version=args.model_version,
                             alone=args.alone)
    except (RetrainError, InputError, SplitError) as err:
        _fail(str(err))
    summary = {"comparison": str(out_dir / "comparison.json"), "challenger": comparison["challenger_bundle"],
               "model_versions": comparison["model_versions"], "same_trials": comparison["same_trials"],
               "evaluation_users": len(comparison["users"]["evaluation"]),
               **{k: v["delta"] for k, v in comparison["delta"].items()}}
    print(json.dumps(summary))
    if not comparison["same_trials"]:
        print("retrain: warning: the two bundles were not scored on the same trials (enrollment refused "
              "differently); see same_trials_by_count", file=sys.stderr)
    print("next steps:")
    for i, step in enumerate(comparison["next_steps"], 1):
        print(f"  {i}. {step}")
    return comparison


if __name__ == "__main__":
    main()
