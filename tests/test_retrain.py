"""Retraining end to end on synthetic labelled sessions (issue 14.5).

A small labelled-sessions file (the format ``training.evaluate_bundle`` reads) is written by the
project's generator; ``python -m training.retrain`` trains a keystroke challenger on it (the
``retrain`` experiment, tiny), exports it into a copy of ``bundles/sample.pt``, evaluates champion
and challenger on the same held-out users through the serving path and writes comparison.json;
then the challenger is shadowed by the real app and promoted. Bad input exits 2 with one line.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

with warnings.catch_warnings():  # starlette asks for httpx2, which this project does not use
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from biometrics.bundle import ModelBundle
from biometrics.data.sessions_module import SplitError, split_user_ids
from biometrics.labelled_sessions import read_labelled_sessions
from biometrics.synthetic import generate_dataset, save_sessions
from serving.app import create_app
from serving.evaluation import evaluate_labelled_sessions
from serving.promote import main as promote_main
from serving.promote import validate
from serving.settings import Settings
from training.retrain import COMPARED, main
from training.run import ROOT, build_datamodule

SAMPLE = ROOT / "bundles" / "sample.pt"
KEY, SECRET = "retrain-test-key", "retrain-test-user-id-secret-0123456789"
#: Only sizes: two short epochs.
TINY = ["trainer.max_epochs=2", "data.batches_per_epoch=3", "logger=none", "callbacks.early_stopping=null",
        "callbacks.lr_monitor=null", "++trainer.enable_model_summary=false"]


def write_sessions(path: Path, n_users: int, seed: int = 5) -> Path:
    records = generate_dataset(n_users, 12, n_impostor=n_users, n_bot=0, n_replay=0, seed=seed, n_enroll=6,
                               mobile_fraction=0.25)
    save_sessions(records, path)
    return path


@pytest.fixture(scope="module")
def retrained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("retrain")
    sessions = write_sessions(tmp / "new_sessions.jsonl", 16)
    champion = tmp / "champion.pt"
    shutil.copy(SAMPLE, champion)
    torch.set_num_threads(1)  # two threads thrash when the machine's two cores are busy
    out = tmp / "out"
    comparison = main(["--sessions", str(sessions), "--champion", str(champion), "--out-dir", str(out),
                       "--impostors", "4", *TINY, f"paths.cache_dir={tmp / 'cache'}"])
    return {"tmp": tmp, "sessions": sessions, "champion": champion, "out": out, "comparison": comparison}


def test_comparison_has_both_reports_on_the_same_users(retrained):
    written = json.loads((retrained["out"] / "comparison.json").read_text())
    assert written["delta"] == json.loads(json.dumps(retrained["comparison"]["delta"]))
    champ, chall = written["champion"], written["challenger"]
    users = written["users"]
    evaluation = set(users["evaluation"])
    assert len(evaluation) == 4 and not evaluation & (set(users["train"]) | set(users["val"]))
    # The data module trained on exactly the other users (its test stage is the evaluation users).
    cfg = OmegaConf.load(retrained["out"] / "run" / ".hydra" / "config.yaml")
    dm = build_datamodule(cfg)
    assert dm.user_split() == {"train": users["train"], "val": users["val"], "test": users["evaluation"]}
    assert written["training"]["n_train_users"] == len(users["train"]) == 10
    assert written["training"]["n_test_users"] == len(evaluation)
    # Same protocol, users and trials for both bundles.
    assert written["same_trials"]
    for k in ("n_users", "n_genuine", "n_impostor", "impostor_trials", "enrollment_sessions"):
        assert champ[k] == chall[k], k
    assert champ["n_users"] == len(evaluation)
    assert champ["impostor_trials"]["from_file"] > 0 and champ["impostor_trials"]["derived"] > 0
    assert written["model_versions"] == {"champion": "sample-synthetic-s101", "challenger": "retrain-out"}
    for name in COMPARED:
        d = written["delta"][name]
        assert d["champion"] == champ[name] and d["challenger"] == chall[name]
        if d["delta"] is not None:
            assert d["delta"] == pytest.approx(chall[name] - champ[name])
    assert any("BIOMETRICS_CHALLENGER_BUNDLE_PATH=" in s for s in written["next_steps"])
    assert any("python -m serving.promote --challenger" in s for s in written["next_steps"])


def test_challenger_loads_serves_and_separates_users(retrained):
    path = retrained["out"] / "challenger.pt"
    challenger, champion = ModelBundle.load(path), ModelBundle.load(SAMPLE)
    assert validate(path) == "retrain-out"  # loads as a bundle this release serves, embeds a session
    assert set(challenger.scorers) == set(champion.scorers)  # keystrokes replaced, pointer and touch kept
    new, old = challenger.scorers["keystrokes"], champion.scorers["keystrokes"]
    assert new.encoder is not None and new.calibration.slope > 0
    assert new.encoder.kwargs["hidden"] == 32 != old.encoder.kwargs["hidden"]
    assert retrained["comparison"]["training"]["scorers_replaced"] == ["keystrokes"]
    # The new keystroke model alone, served, on the held-out users: it separates them.
    alone = retrained["tmp"] / "keystrokes_only.pt"
    ModelBundle("retrain-keystrokes-only", {"keystrokes": new}).save(alone)
    evaluation = set(retrained["comparison"]["users"]["evaluation"])
    held_out = [r for r in read_labelled_sessions(retrained["sessions"]) if r.user_id in evaluation]
    report = evaluate_labelled_sessions(held_out, alone, impostors=4, seed=0)
    # Keystrokes only: no mouse or touch reason; each user types one login name and password, so
    # a steady typist's retyping may be a possible_replay.
    assert set(report["reasons"]) - {"keystroke_mismatch", "bot_like_timing", "possible_replay"} == set()
    assert report["roc_auc"] > 0.7, report["roc_auc"]


def test_shadow_then_promote(retrained, tmp_path):
    challenger, champion = retrained["out"] / "challenger.pt", retrained["champion"]
    settings = Settings(bundle_path=champion, challenger_bundle_path=challenger,
                        shadow_log_dir=tmp_path / "shadow", database_url=f"sqlite:///{tmp_path / 'p.db'}",
                        api_keys={KEY: "tenant"}, user_id_secret=SECRET, min_enroll_sessions=3)
    user = retrained["comparison"]["users"]["evaluation"][0]
    mine = [r for r in read_labelled_sessions(retrained["sessions"]) if r.user_id == user and r.label == "genuine"]
    body = lambda r: r.session.model_dump(mode="json", exclude_defaults=True) | {"session_id": None}
    with TestClient(create_app(settings)) as client:
        for r in mine[:3]:
            assert client.post(f"/v1/users/{user}/enroll", json={"session": body(r)},
                               headers={"X-API-Key": KEY}).status_code == 200
        r = client.post("/v1/score", json={"user_id": user, "session": body(mine[-1])}, headers={"X-API-Key": KEY})
        assert r.status_code == 200 and r.json()["model_version"] == "sample-synthetic-s101"
    logged = [json.loads(line) for f in sorted((tmp_path / "shadow").glob("*.jsonl")) for line in f.read_text().splitlines()]
    assert logged and logged[-1]["challenger"] == "scored"
    assert promote_main(["--challenger", str(challenger), "--bundle", str(champion)]) == 0
    assert ModelBundle.load(champion).model_version == "retrain-out"
    assert list(champion.parent.glob("champion.*.sample-synthetic-s101.bak.pt"))


def test_split_is_seeded_and_disjoint():
    ids = [f"u{i:03d}" for i in range(20)]
    a, b = split_user_ids(ids, 0.25, 0.15, seed=3), split_user_ids(ids, 0.25, 0.15, seed=3)
    assert a == b and (len(a["test"]), len(a["val"]), len(a["train"])) == (5, 3, 12)
    assert sorted(a["test"] + a["val"] + a["train"]) == ids
    assert split_user_ids(ids, 0.25, 0.15, seed=4) != a
    with pytest.raises(SplitError, match="too few users to split"):
        split_user_ids(ids[:5], 0.25, 0.15, seed=0)


def _exit_2(argv, capsys) -> str:
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("retrain: error: ")
    return lines[0]


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    missing = _exit_2(["--sessions", str(tmp_path / "nope.jsonl"), "--champion", str(SAMPLE),
                       "--out-dir", str(tmp_path / "o")], capsys)
    assert "no such file" in missing
    few = write_sessions(tmp_path / "few.jsonl", 4)
    assert "too few users to split" in _exit_2(["--sessions", str(few), "--champion", str(SAMPLE),
                                                "--out-dir", str(tmp_path / "o")], capsys)
    assert "no champion bundle" in _exit_2(["--sessions", str(few), "--champion", str(tmp_path / "x.pt"),
                                            "--out-dir", str(tmp_path / "o")], capsys)
    assert "bad override" in _exit_2(["--sessions", str(few), "--champion", str(SAMPLE),
                                      "--out-dir", str(tmp_path / "o"), "trainer.nonsense_key=1"], capsys)
    assert not (tmp_path / "o" / "comparison.json").exists()
