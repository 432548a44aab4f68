"""End-to-end runs: what a run leaves on disk (TensorBoard, CSV, checkpoints) and the CLI sweep."""

import csv
import functools
import json

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from colorlab.data import ColorDataModule
from colorlab.data.images import ImageFiles, UnreadableImageError
from colorlab.models import Colorizer, Decoder, VGG16Encoder, ab_grid
from colorlab.models.ab_grid import ColorStats
from colorlab.train import train
from colorlab.training.module import HP_METRICS, ColorizationModule
from tests.conftest import compose_config, tiny_overrides


def run(photo_dir, tmp_path, *extra):
    overrides = ["data=folder", f"data.root={photo_dir}", *tiny_overrides(tmp_path), *extra]
    cfg = compose_config(overrides, tmp_path / "run")
    return cfg, train(cfg)


def test_a_run_writes_tensorboard_csv_and_checkpoints_that_reload(photo_dir, tmp_path):
    cfg, metrics = run(photo_dir, tmp_path, "trainer.max_epochs=2", "trainer.limit_train_batches=1")
    out = tmp_path / "run"

    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/loss_epoch", "val/loss", "val/acc", "val/loss_best", "lr-Adam"} <= scalars
    assert len(events.Scalars("train/loss")) == 2  # per step (log_every_n_steps=1)
    assert len(events.Scalars("val/loss")) == 2  # per epoch
    images = events.Images("val/samples")
    assert len(images) == 2 and images[0].width == 3 * 32 + 4 * 2  # gray | prediction | truth

    plugin = events.PluginTagToContent("hparams")
    experiment = HParamsPluginData.FromString(plugin["_hparams_/experiment"]).experiment
    assert {m.name.tag for m in experiment.metric_infos} == set(HP_METRICS)
    session = HParamsPluginData.FromString(plugin["_hparams_/session_start_info"]).session_start_info
    assert session.hparams["variant"].string_value == "baseline"
    assert session.hparams["params/decoder"].number_value == 1_572_114
    assert len(events.Scalars("hp/val_acc")) == 3  # NaN placeholder, then one per epoch
    assert "custom_scalars__config__" in events.PluginTagToContent("custom_scalars")
    layout = events.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0]
    assert b"train/loss_epoch" in layout and b"val/loss" in layout  # train beside val on one chart

    with open(out / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"val/loss", "val/acc", "train/loss", "train/loss_epoch"} <= set(rows[0])
    assert sum(1 for r in rows if r["val/loss"]) == 2

    checkpoints = out / "checkpoints"
    assert (checkpoints / "last.ckpt").is_file() and len(list(checkpoints.glob("best-*.ckpt"))) == 1
    ckpt = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["colorlab_model"]["variant"] == ckpt["colorlab_config"]["model"]["variant"] == "baseline"
    model = instantiate(cfg.model)
    model.load_state_dict(ckpt["state_dict"])
    assert metrics["val/loss"] > 0


def test_resuming_from_last_continues_the_step_count(photo_dir, tmp_path):
    run(photo_dir, tmp_path, "trainer.max_epochs=1")
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    cfg, _ = run(photo_dir, tmp_path, "trainer.max_epochs=2", f"ckpt_path={last}")
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["global_step"] == 4  # 2 epochs x limit_train_batches=2


def test_a_file_that_breaks_mid_training_is_named_and_a_checkpoint_is_left(photo_dir, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = ImageFiles.__getitem__

    def flaky(self, index):
        calls["n"] += 1
        if calls["n"] > 8:  # the third batch of 4
            raise UnreadableImageError(f"cannot read image {self.files[index]}: truncated")
        return original(self, index)

    monkeypatch.setattr(ImageFiles, "__getitem__", flaky)
    uniform = ColorStats(prior=torch.full((ab_grid.NUM_BINS,), 1 / ab_grid.NUM_BINS).double(), mean_ab=torch.zeros(2))
    monkeypatch.setattr(ColorDataModule, "color_stats", lambda self, n: uniform)  # reads no photo before fit
    with pytest.raises(UnreadableImageError, match=str(photo_dir)):
        run(photo_dir, tmp_path, "trainer.limit_train_batches=4")
    assert (tmp_path / "run" / "checkpoints" / "on_exception.ckpt").is_file()


def test_cli_sweep_writes_one_named_run_per_variant(cli_sweep):
    runs = sorted(p.name for p in cli_sweep.iterdir() if p.is_dir())
    assert runs == ["0_baseline", "1_batchnorm", "2_dropout"]
    for name in runs:
        assert list((cli_sweep / name / "tensorboard").glob("events.out.tfevents.*"))
        assert (cli_sweep / name / "checkpoints" / "last.ckpt").is_file()
        assert (cli_sweep / name / "csv" / "metrics.csv").is_file()
        assert (cli_sweep / name / "train.log").is_file()
        summary = json.loads((cli_sweep / name / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["hparams"]["variant"] == name.split("_", 1)[1]
        assert "test/loss" in summary["metrics"] and summary["train_seconds"] > 0


def test_a_failed_run_says_so_in_its_summary(photo_dir, tmp_path):
    with pytest.raises(ValueError, match="multiple of the encoder.s stride 32"):
        run(photo_dir, tmp_path, "data.image_size=48")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and "multiple of the encoder's stride 32" in summary["error"]


def test_a_run_that_fails_before_training_also_says_so(photo_dir, tmp_path):
    with pytest.raises(Exception, match="decoder norm"):
        run(photo_dir, tmp_path, "model.net.decoder.norm=layer")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and "decoder norm" in summary["error"]


def test_plain_lightning_trains_exactly_as_colorlab_train(photo_dir, tmp_path):
    """`Trainer().fit(ColorizationModule(net=Colorizer(...)), ColorDataModule(...))`, written by hand as a
    Lightning user would, gives bit-identical weights to `colorlab.train` with the same settings: the
    module takes its image size and color statistics from the data source itself."""
    overrides = ["data=folder", f"data.root={photo_dir}", *tiny_overrides(tmp_path), "logger=csv"]
    train(compose_config(overrides, tmp_path / "cli"))
    trained = torch.load(tmp_path / "cli" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]

    pl.seed_everything(42, workers=True)  # conf/train.yaml's seed
    datamodule = ColorDataModule(photo_dir, image_size=32, batch_size=4, cache_dir=tmp_path / "cache")
    net = Colorizer(VGG16Encoder(weights=None), functools.partial(Decoder, norm=None, dropout=0.0))
    module = ColorizationModule(net, functools.partial(torch.optim.Adam, lr=1e-3), variant="baseline")
    trainer = pl.Trainer(
        max_epochs=1, limit_train_batches=2, limit_val_batches=1, num_sanity_val_steps=0, accelerator="cpu",
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
    )  # fmt: skip
    trainer.fit(module, datamodule)
    assert net.image_size == 32 and net.color_stats is not None
    plain = module.state_dict()
    assert plain.keys() == trained.keys()
    assert all(torch.equal(plain[key], trained[key]) for key in plain), "plain Lightning trained other weights"


def test_init_from_starts_a_new_run_from_trained_weights_and_refuses_another_network(photo_dir, tmp_path):
    from colorlab.core.errors import UserError
    from colorlab.training.start_from import start_from

    trained_cfg, _ = run(photo_dir, tmp_path / "first", "trainer.max_epochs=1", "trainer.limit_train_batches=1")
    trained = tmp_path / "first" / "run"
    fresh = instantiate(trained_cfg.model).net
    start_from(fresh, str(trained))
    saved = torch.load(trained / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, saved[f"net.{key}"]), key  # every weight, frozen encoder included

    with pytest.raises(UserError, match=r"init_from=.*first.*: that model (lacks|has)"):
        run(photo_dir, tmp_path / "second", "model=batchnorm", f"init_from={trained}")
    assert not list((tmp_path / "second" / "run").glob("checkpoints/*.ckpt"))  # refused before training
