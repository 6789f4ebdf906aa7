"""Every experiment's model is servable: train it tiny, export it, score a session through the API.

For each experiment in ``configs/experiment/`` (issue 11: a figure counts only if a served bundle
produced it), the experiment's own Hydra config is composed with overrides that only make it
small (one epoch of two batches, few users, a small encoder), trained on its real dataset
(``../shared/datasets``; the ``synthetic`` experiment on generated users), exported with
:func:`training.export.export_run`, loaded by the real FastAPI app (``serving.app.create_app``
on a SQLite file), and a user enrolled with sessions of the model's modality is scored by
``POST /v1/score``: a 200 with a risk in [0, 1] and the modality scored.

For the action and stroke experiments it also checks that the exported scorer is the one the
experiment's test figures are computed through: the data module's test-stage scorer (built on
the test embeddings, as ``evaluate_embeddings`` builds it) has the bundle's head, inputs and
background, and scores a test user's items as the loaded bundle's scorer does.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

with warnings.catch_warnings():  # starlette asks for httpx2, which this project does not use
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from biometrics.bundle import ModelBundle
from biometrics.data.item_scorers import replace_background, user_anomalies
from biometrics.synthetic import generate_dataset
from serving.app import create_app
from serving.settings import Settings
from tests.test_training import compose_train
from training.export import ExportError, export_run
from training.run import build_datamodule, embed_stage, load_task
from training.train import train

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
KEY, SECRET = "export-test-key", "export-test-user-id-secret-0123456789"

#: Everything an experiment is trained with here, beyond its own config: only sizes.
COMMON = ["trainer.max_epochs=1", "data.batches_per_epoch=2", "logger=none", "test=false", "baselines=[]",
          "fusion=null", "callbacks.early_stopping=null", "callbacks.lr_monitor=null",
          "++trainer.num_sanity_val_steps=0", "++trainer.enable_model_summary=false"]
SMALL_GRU = ["model.encoder.hidden=16", "model.encoder.embedding_dim=16"]
#: ``experiment: (dataset folder or None, overrides, device of the scored sessions)``.
EXPERIMENTS = {
    "aalto_typenet": ("aalto-desktop", ["data.max_users=40", "data.n_test_users=10", "data.n_val_users=10",
                                        "data.batch_size=64", *SMALL_GRU], "desktop"),
    "cmu_folds": ("cmu-keystroke", ["folds=2", "data.n_val_users=5", *SMALL_GRU], "desktop"),
    "strokepin_phone": ("mobile-strokepin", ["folds=null", "data.max_users=20", "data.n_val_users=3",
                                             *SMALL_GRU], "desktop"),
    "synthetic": (None, ["data.n_users=30", "data.n_test_users=8", "data.n_val_users=8",
                         "data.sessions_per_user=6", *SMALL_GRU], "desktop"),
    "retrain": (None, [f"data.path={ROOT / 'sample_data' / 'sessions.jsonl'}", *SMALL_GRU], "desktop"),
    "balabit_mouse": ("balabit-mouse", ["+data.accounts=[user12,user15]", "data.val_enroll_per_account=100",
                                        "data.enroll_per_account=200", "+data.background_size=300",
                                        "+data.head_options={n_trees:20}", "model.encoder.hidden=16",
                                        "model.encoder.embedding_dim=16", "model.encoder.transformer_layers=1"],
                      "desktop"),
    "touch_serwadda": ("touch-serwadda", ["folds=null", f"data.users=[{','.join(map(str, range(139, 154)))}]",
                                          "data.n_val_users=3", "data.background_per_user=10", *SMALL_GRU],
                       "mobile"),
}


def test_every_experiment_is_covered():
    assert set(EXPERIMENTS) == {p.stem for p in (ROOT / "configs" / "experiment").glob("*.yaml")}


def run_config(name: str, tmp: Path, *more: str):
    """The experiment's config with the small overrides, written as the run folder ``tmp``'s."""
    _, overrides, _ = EXPERIMENTS[name]
    cfg = compose_train([f"experiment={name}", *COMMON, *overrides, *more, f"paths.cache_dir={tmp.parent / 'cache'}",
                         f"paths.datasets_dir={DATASETS}"], tmp)
    plain = cfg.copy()
    with open_dict(plain):
        del plain["hydra"]
    (tmp / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(plain, tmp / ".hydra" / "config.yaml")
    return cfg


def tiny_run(name: str, tmp: Path):
    """Train the experiment small into ``tmp`` (a run folder with its ``.hydra/config.yaml``)."""
    cfg = run_config(name, tmp)
    HydraConfig.instance().set_config(cfg)
    torch.set_num_threads(1)  # two threads thrash when the machine's two cores are busy
    return cfg, train(cfg)


def user_sessions(device: str, seed: int):
    """Five genuine sessions of one simulated user on ``device`` (desktop: keys and pointer; mobile: touch)."""
    records = generate_dataset(2, 6, n_impostor=0, n_bot=0, n_replay=0, seed=seed, n_enroll=5,
                               mobile_fraction=1.0 if device == "mobile" else 0.0)
    return [r.session for r in records if r.user_id == records[0].user_id]


def body(session) -> dict:
    return session.model_dump(mode="json", exclude_defaults=True)


def served_through_the_api(bundle_path: Path, tmp: Path, modality: str, device: str) -> dict:
    """Enroll one user on the bundle through the real app and score one more session: the response."""
    settings = Settings(bundle_path=bundle_path, database_url=f"sqlite:///{tmp / 'profiles.db'}",
                        api_keys={KEY: "tenant"}, user_id_secret=SECRET, min_enroll_sessions=3)
    sessions = user_sessions(device, seed=11)
    headers = {"X-API-Key": KEY}
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        enrolled = 0
        for s in sessions[:-1]:
            r = client.post("/v1/users/u1/enroll", json={"session": body(s)}, headers=headers)
            assert r.status_code in (200, 422), r.text  # 422: a guard refused it, the next one enrolls
            enrolled += r.status_code == 200
        assert enrolled >= 3
        r = client.post("/v1/score", json={"user_id": "u1", "session": body(sessions[-1])}, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_experiment_model_is_served(name, tmp_path):
    folder = EXPERIMENTS[name][0]
    if folder is not None and not (DATASETS / folder).is_dir():
        pytest.skip(f"{DATASETS / folder} not available")
    run = tmp_path / "run"
    cfg, report = tiny_run(name, run)
    bundle = export_run(run)
    (scorer_name,) = bundle.scorers
    bundle.save(run / "bundle.pt")
    loaded = ModelBundle.load(run / "bundle.pt")
    served = loaded.scorers[scorer_name]
    assert served.encoder is not None and served.calibration.slope > 0
    if cfg.get("folds"):
        assert served.metrics["fold"] == 0

    result = served_through_the_api(run / "bundle.pt", tmp_path, served.modality, EXPERIMENTS[name][2])
    assert 0.0 <= result["risk"] <= 1.0
    assert result["model_version"] == bundle.model_version
    assert "too_little_data" not in result["reasons"] and "profile_enrolling" not in result["reasons"]
    scored = result["modalities"][scorer_name]
    assert scored["probability"] is not None and 0.0 <= scored["probability"] <= 1.0

    if served.unit != "session":
        same_scorer_as_the_test_figures(cfg, report["fit"]["best_ckpt"], served)


def same_scorer_as_the_test_figures(cfg, ckpt: str, served) -> None:
    """The data module's test-stage scorer (research figures) is the exported one."""
    dm = build_datamodule(cfg)
    assert not dm.hidden  # the stage's tokens are full width, as a served session's
    task = load_task(ckpt, cfg, dm)
    emb = embed_stage(task, dm, "test")
    protocol = dm.served_scorers()
    research = protocol.stage_scorer(emb, "test")
    research = research[0] if isinstance(research, tuple) else research
    assert (research.head.kind, research.inputs, research.unit, research.unit_options,
            research.max_enroll_vectors) == (served.head.kind, served.inputs, served.unit, served.unit_options,
                                             served.max_enroll_vectors)
    assert {k: v for k, v in research.head.payload().items() if k != "background"} == \
        {k: v for k, v in served.head.payload().items() if k != "background"}
    # The same background rows; their embeddings differ by float noise only (export embeds the
    # background rows alone, the evaluation the whole stage in other batches).
    np.testing.assert_allclose(served.head.background, research.head.background, atol=1e-5)
    # One user's items: the bundle's encoder embeds them as the evaluation did, and the bundle's
    # head (on the evaluation's copy of the background: boosted trees amplify 1e-7 differences
    # into other trees) scores them as the evaluation's scorer does.
    test = dm.sets["test"]
    mine = np.flatnonzero(test.users == test.users[0])
    np.testing.assert_allclose(served.encoder.embed([test.tokens[i] for i in mine]), emb[mine], atol=1e-5)
    vectors = protocol.item_vectors(emb, "test")[mine]
    enroll, queries = vectors[:-5], vectors[-5:]
    np.testing.assert_allclose(user_anomalies(replace_background(served, research.head.background), enroll, queries),
                               user_anomalies(research, enroll, queries), rtol=1e-6, atol=1e-6)


def test_a_stroke_run_without_a_servable_head_is_not_exported(tmp_path):
    if not (DATASETS / "touch-serwadda").is_dir():
        pytest.skip("Serwadda data not available")
    run = tmp_path / "run"
    run_config("touch_serwadda", run, "data.scoring=logistic")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").touch()  # refused before the checkpoint is read
    with pytest.raises(ExportError, match="data.scoring=logistic has no servable head"):
        export_run(run, "last")
