"""Hydra configs compose; a tiny synthetic run trains, separates users, exports a faithful bundle."""

import logging
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from biometrics.bundle import ModelBundle
from training.callbacks import EpochLog
from training.export import export_run
from training.export import main as export_main
from training.run import build_datamodule, embed_stage, load_task
from training.train import train

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = str(ROOT / "configs")
PROGRESS: list[str] = []  # the "training" logger's lines during fast_run
GROUP_OPTIONS = {
    "data": ["aalto", "cmu", "synthetic", "balabit", "serwadda", "strokepin"],
    "model": ["typenet", "conv_transformer", "bigru"],
    "trainer": ["cpu", "gpu", "ddp"],
    "callbacks": ["default", "none"],
    "logger": ["csv", "none"],
    "experiment": ["aalto_typenet", "cmu_folds", "synthetic", "balabit_mouse", "touch_serwadda", "strokepin_phone"],
    "model/loss": ["multi_similarity", "arcface"],
    "debug": ["fast"],
}


def compose_train(overrides, tmp_path=None):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        cfg = compose("train.yaml", overrides=overrides, return_hydra_config=True)
    if tmp_path is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path)
            cfg.paths.log_dir = str(tmp_path)
            cfg.hydra.runtime.output_dir = str(tmp_path)
    return cfg


@pytest.mark.parametrize("group,option", [(g, o) for g, opts in GROUP_OPTIONS.items() for o in opts])
def test_every_config_group_option_composes(group, option):
    cfg = compose_train([f"{group}={option}"])
    assert cfg.data._target_ and cfg.model.encoder._target_ and cfg.trainer._target_


@pytest.mark.parametrize("name", ["eval.yaml", "export.yaml"])
def test_other_entry_configs_compose(name):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        cfg = compose(name, overrides=["ckpt_path=x"] if name == "eval.yaml" else ["run_dir=x"])
    assert cfg


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """One debug=fast training run on synthetic users, shared by the assertions below."""
    tmp = tmp_path_factory.mktemp("run")
    cfg = compose_train(["debug=fast", "data.n_users=60", "data.n_test_users=15", "data.n_val_users=10",
                         "trainer.max_epochs=4", "data.batches_per_epoch=6",
                         f"paths.cache_dir={tmp / 'cache'}", "logger=none"], tmp)
    HydraConfig.instance().set_config(cfg)
    torch.set_num_threads(2)
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: PROGRESS.append(record.getMessage())
    progress = logging.getLogger("training")
    progress.addHandler(handler)
    level = progress.level
    progress.setLevel(logging.INFO)
    try:
        report = train(cfg)
    finally:
        progress.removeHandler(handler)
        progress.setLevel(level)
    return cfg, tmp, report


def test_training_shows_progress_per_epoch(fast_run):
    """One line per epoch with the epoch, the validation metric and the run directory (issue 13.11)."""
    cfg, tmp, _ = fast_run
    assert cfg.trainer.enable_progress_bar is False  # the per-step bar stays off in tests and CI
    epochs = [line for line in PROGRESS if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/4", "2/4", "3/4", "4/4"]
    for line in epochs:
        assert "val/eer=0." in line and "(best 0." in line and line.endswith(f"-> {tmp}")
    assert any(line.startswith("training up to 4 epochs") and str(tmp) in line for line in PROGRESS)


def test_epoch_log_line():
    trainer = SimpleNamespace(current_epoch=2, max_epochs=12, default_root_dir="logs/x/runs/r",
                              callback_metrics={"train/loss": torch.tensor(0.41), "val/eer": torch.tensor(0.0912),
                                                "val/eer_best": torch.tensor(0.085)})
    assert EpochLog().line(trainer, 14.2) == ("epoch 3/12 train/loss=0.4100 val/eer=0.0912 (best 0.0850) "
                                             "14 s -> logs/x/runs/r")
    trainer.callback_metrics = {}
    assert EpochLog().line(trainer, 1.0) == "epoch 3/12 train/loss=- val/eer=- 1 s -> logs/x/runs/r"


def _compose_export(overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose("export.yaml", overrides=overrides)


@pytest.mark.parametrize("overrides,words", [
    ([], ["no run to export", "run_dir="]),
    (["run_dirs=[]"], ["no run to export", "run_dir="]),
    (["run_dir=/nonexistent/run"], ["/nonexistent/run does not exist", "run_dir="]),
    (["run_dirs=[/nonexistent/a]"], ["/nonexistent/a does not exist"]),
])
def test_export_without_a_usable_run_dir_exits_with_a_message(overrides, words, tmp_path):
    cfg = _compose_export([*overrides, f"out={tmp_path / 'b.pt'}"])
    with pytest.raises(SystemExit) as exited:
        export_main(cfg)
    message = str(exited.value.code)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    assert not (tmp_path / "b.pt").exists()  # no empty bundle


def test_export_of_a_folder_that_is_not_a_run(tmp_path):
    cfg = _compose_export([f"run_dir={tmp_path}", f"out={tmp_path / 'b.pt'}"])
    with pytest.raises(SystemExit) as exited:
        export_main(cfg)
    assert "is not a training run" in str(exited.value.code)


def test_export_cli_with_no_run_dir_is_one_line_and_non_zero(tmp_path):
    out = tmp_path / "bundle.pt"
    r = subprocess.run([sys.executable, "-m", "training.export", f"out={out}", f"hydra.run.dir={tmp_path}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "run_dir=" in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not out.exists()


def test_fast_training_separates_synthetic_users(fast_run):
    _, tmp, report = fast_run
    assert report["n_test_users"] == 15 and report["n_train_users"] == 35
    # Chance is 0.5; a few epochs on synthetic typists get far below it.
    assert report["encoder"]["eer"] < 0.30
    assert report["encoder"]["auc"] > 0.75
    assert (tmp / "metrics.json").exists() and (tmp / "det.png").exists() and (tmp / "scores.png").exists()
    assert "manhattan_scaled" in report  # classic baseline on the same split


def test_exported_bundle_embeds_like_the_checkpoint(fast_run, tmp_path):
    cfg, tmp, report = fast_run
    (tmp / ".hydra").mkdir(exist_ok=True)
    from omegaconf import OmegaConf

    plain = cfg.copy()
    with open_dict(plain):
        del plain["hydra"]
    OmegaConf.save(plain, tmp / ".hydra" / "config.yaml")
    bundle = export_run(tmp, "best")
    bundle.save(tmp_path / "b.pt")
    loaded = ModelBundle.load(tmp_path / "b.pt")
    dm = build_datamodule(cfg)
    task = load_task(report["fit"]["best_ckpt"], cfg, dm)
    want = embed_stage(task, dm, "test")
    # The bundle takes full-width tokens and selects its columns itself.
    full = build_datamodule(cfg, drop_columns=[])
    got = loaded.scorers["keystrokes"].encoder.embed(full.sets["test"].tokens)
    np.testing.assert_allclose(got, want, atol=1e-5)
    cal = loaded.scorers["keystrokes"].calibration
    assert cal.slope > 0  # larger distance -> more likely an impostor


# Runs last: resuming trains on in the shared run directory.
def test_resume_from_last_checkpoint(fast_run):
    cfg, tmp, _ = fast_run
    last = tmp / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 3  # safe loader works
    resumed = cfg.copy()
    with open_dict(resumed):
        resumed.ckpt_path = "last"
        resumed.trainer.max_epochs = 5
        resumed.test = False
    train(resumed)
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 4  # one more epoch, not five


def test_validation_is_gathered_across_ranks_without_the_samplers_repeats():
    """Two DDP ranks' shards (the sampler pads the second with a repeat) give the whole set once."""
    import torch

    from biometrics.models.task import gather_validation

    shards = {0: (torch.tensor([[0.0, 0], [2, 2], [4, 4]]), torch.tensor([0, 2, 4])),
              1: (torch.tensor([[1.0, 1], [3, 3], [0, 0]]), torch.tensor([1, 3, 0]))}

    def all_gather(t):  # what Lightning's all_gather returns: [world_size, *shape]
        which = 0 if t.dtype.is_floating_point else 1
        return torch.stack([shards[r][which] for r in (0, 1)])

    emb, idx = gather_validation(*shards[0], all_gather, world_size=2)
    assert idx.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(emb[:, 0], [0, 1, 2, 3, 4])
    emb1, idx1 = gather_validation(torch.tensor([[5.0, 5], [1, 1]]), torch.tensor([5, 1]), all_gather, 1)
    assert idx1.tolist() == [1, 5] and emb1[:, 0].tolist() == [1, 5]  # one process: sorted, as before
