"""Beyond one process: kill-and-resume, a real 2-process DDP fit on CPU, and the SLURM launcher config."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import get_class
from PIL import Image

from colorlab.data.photo_files import split_of
from colorlab.models.checkpoints import load_model
from colorlab.train import train
from tests.conftest import compose_config, smooth_image, tiny_overrides

ROOT = Path(__file__).resolve().parents[1]


def cli(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "colorlab.train", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def even_photo_dir(root: Path, train: int, val: int) -> Path:
    """Photos whose train and val splits have exactly `train` and `val` files (so ranks split evenly)."""
    counts = {"train": 0, "val": 0, "test": 0}
    wanted = {"train": train, "val": val, "test": 2}
    root.mkdir(parents=True)
    i = 0
    while counts != wanted:
        name = f"img{i}.png"
        split = split_of(name, (0.8, 0.1, 0.1))
        if counts[split] < wanted[split]:
            Image.fromarray(smooth_image(40, seed=i)).save(root / name)
            counts[split] += 1
        i += 1
    return root


def test_a_run_killed_mid_epoch_resumes_to_the_same_final_step(tmp_path):
    photos = even_photo_dir(tmp_path / "photos", train=16, val=4)
    run_dir = tmp_path / "run"
    args = [
        "data=folder", f"data.root={photos}", *tiny_overrides(tmp_path), "trainer.max_epochs=3",
        "trainer.limit_train_batches=4", "trainer.limit_val_batches=1.0", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    killed = cli([*args, "+callbacks.kill._target_=tests.callbacks.KillAtStep", "+callbacks.kill.step=6"], tmp_path)
    assert killed.returncode == -9, killed.stderr[-2000:]  # SIGKILL in epoch 1, after 2 of its 4 steps
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "running"  # nothing could clean up
    before = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert (before["epoch"], before["global_step"]) == (0, 4)
    best_before = before["colorlab_best"]["val_loss_best"]

    resumed = cli([*args, "ckpt_path=last"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["global_step"] == 12  # as if never interrupted
    after = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert after["epoch"] == 2 and after["optimizer_states"][0]["state"][0]["step"] == 12  # Adam's state continued
    assert summary["metrics"]["val/loss_best"] <= best_before  # the best before the crash is remembered
    with open(run_dir / "csv" / "metrics.csv") as f:
        epochs = {float(r["epoch"]) for r in csv.DictReader(f) if r.get("val/loss")}
    assert epochs == {0.0, 1.0, 2.0}  # the CSV history from before the crash is kept


def test_resume_from_a_run_folder_or_a_missing_path(tmp_path):
    from colorlab.training.run_folder import resume_path

    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(FileNotFoundError, match="no checkpoints/last.ckpt"):
        resume_path(str(tmp_path), tmp_path)
    with pytest.raises(FileNotFoundError, match="ckpt_path=last: the run folder .* no checkpoints/last.ckpt"):
        resume_path("last", tmp_path)  # a typo'd folder, or a kill before the first checkpoint: not a new run
    with pytest.raises(FileNotFoundError, match="ckpt_path=.*nope"):
        resume_path(str(tmp_path / "nope.ckpt"), tmp_path)
    for age, name in enumerate(("last.ckpt", "on_exception.ckpt")):
        (tmp_path / "checkpoints" / name).write_bytes(b"x")
        os.utime(tmp_path / "checkpoints" / name, (1e9 + age, 1e9 + age))
        assert resume_path(str(tmp_path), tmp_path / "new") == str(tmp_path / "checkpoints" / name)  # the newest
        assert resume_path("last", tmp_path) == str(tmp_path / "checkpoints" / name)
    assert resume_path(None, tmp_path) is None


def test_ddp_on_two_cpu_processes_splits_the_data(tmp_path):
    photos = even_photo_dir(tmp_path / "photos", train=16, val=4)
    run_dir, record = tmp_path / "run", tmp_path / "seen"
    args = [
        "data=folder", f"data.root={photos}", *tiny_overrides(tmp_path), "model=batchnorm", "trainer=ddp",
        "trainer.devices=2", "trainer.accelerator=cpu", "trainer.max_epochs=2", "trainer.limit_train_batches=1.0",
        "trainer.limit_val_batches=1.0", "data.batch_size=4", "data.cache_features=true", "data.crop_scale=null",
        f"hydra.run.dir={run_dir}", "+callbacks.record._target_=tests.callbacks.RecordBatches",
        f"+callbacks.record.folder={record}",
    ]  # fmt: skip
    done = cli(args, tmp_path, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((record / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 and not r["sync_batchnorm"] for r in ranks)  # torch: CUDA only
    for split, per_epoch in (("train", 16), ("val", 4)):
        for epoch in (0, 1):
            seen = [{h for h in r[split] if h.startswith(f"{epoch}:")} for r in ranks]
            assert len(seen[0]) == len(seen[1]) == per_epoch // 2  # each rank half ...
            assert not seen[0] & seen[1]  # ... and never the same photo
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["global_step"] == 4  # 16 photos / (2 ranks x 4) x 2
    assert summary["feature_cache"]["computed"] == 10  # rank 0 encoded half of the 20 train + val photos
    model = load_model(run_dir, device="cpu")  # the DDP checkpoint loads as a plain model
    assert model(torch.rand(1, 1, 32, 32)).shape == (1, 2, 32, 32)


def test_ddp_inside_a_local_sweep_is_refused_before_training(photo_dir, tmp_path):
    overrides = ["data=folder", f"data.root={photo_dir}", *tiny_overrides(tmp_path), "trainer=ddp"]
    cfg = compose_config([*overrides, "trainer.devices=2", "hydra.mode=MULTIRUN"], tmp_path / "run")
    with pytest.raises(ValueError, match="local -m sweep.*hydra/launcher=slurm"):
        train(cfg)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "failed"


def test_an_optuna_search_runs_trials_and_reports_the_best(photo_dir, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="needs hydra-optuna-sweeper (.[search])")
    command = [
        sys.executable, "-m", "colorlab.train", "-m", "hparams_search=decoder_optuna", "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=2", "data=folder", f"data.root={photo_dir}", *tiny_overrides(tmp_path),
        f"hydra.sweep.dir={tmp_path / 'search'}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = (tmp_path / "search" / "optimization_results.yaml").read_text()
    assert "best_params" in results and "model.optimizer.lr" in results and "best_value" in results
    assert len([p for p in (tmp_path / "search").iterdir() if (p / "summary.json").is_file()]) == 2


def test_the_slurm_launcher_config_composes_to_submitit(tmp_path):
    cfg = compose_config(["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], tmp_path, keep_hydra=True)
    launcher = cfg.hydra.launcher
    assert launcher.partition == "gpu" and launcher.gpus_per_node == 1 and launcher.timeout_min == 240
    assert launcher.submitit_folder.endswith(".submitit/%j")
    cls = get_class(launcher._target_)  # the plugin is installed and the class exists
    assert cls.__name__ == "SlurmLauncher"


@pytest.mark.parametrize(
    ("accelerator", "cuda", "synced"),
    [("cpu", True, False), ("gpu", False, True), ("auto", True, True), ("auto", False, False)],
)
def test_ddp_synchronises_batch_norm_on_gpus(accelerator, cuda, synced, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    cfg = compose_config(["trainer=ddp", f"trainer.accelerator={accelerator}"], tmp_path)
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.sync_batchnorm is synced


def test_ddp_in_a_local_sweep_is_refused_before_its_ranks_rerun_the_sweep(tmp_path):
    import pytorch_lightning as pl
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import read_write

    from colorlab.training.run_folder import refuse_ddp_in_local_sweep

    cfg = compose_config(tiny_overrides(tmp_path), tmp_path / "run", keep_hydra=True)
    with read_write(cfg.hydra):
        cfg.hydra.mode = "MULTIRUN"
    HydraConfig.instance().set_config(cfg)
    quiet = {"accelerator": "cpu", "logger": False, "enable_progress_bar": False}
    with pytest.raises(ValueError, match="inside a local -m sweep"):
        refuse_ddp_in_local_sweep(pl.Trainer(devices=2, strategy="ddp", **quiet))
    refuse_ddp_in_local_sweep(pl.Trainer(devices=1, **quiet))  # one process: nothing is re-run
