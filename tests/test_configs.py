"""Every config in conf/ composes, instantiates and runs a step on tiny images."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from colorlab.core.config import CONFIG_DIR, cpu_precision
from colorlab.data import archives as dl
from colorlab.train import train
from tests.conftest import compose_config, tiny_overrides
from tests.test_download import cat_zip

CONF = Path(CONFIG_DIR)
# (group, choice) pairs that the tests below run; a new config file must be added here.
TESTED = {
    ("", "train"),
    ("", "evaluate"),  # tests/test_compare.py
    ("", "colorize"),  # tests/test_colorize.py
    ("", "export"),  # tests/test_colorize.py
    ("", "app"),  # tests/test_app.py
    ("", "compare"),  # tests/test_compare.py
    ("", "shards"),  # tests/test_shards.py
    ("", "download"),  # tests/test_download.py
    ("data", "folder"),
    ("data", "sample"),
    ("data", "cat_dataset"),
    ("data", "shards"),  # tests/test_shards.py
    ("model", "baseline"),
    ("model", "batchnorm"),
    ("model", "dropout"),
    ("model", "rebalanced"),
    ("model", "unet"),
    ("model", "unet_batchnorm"),
    ("model", "unet_class"),
    ("model", "unet_hints"),
    ("model", "hints"),
    ("model/net/encoder", "vgg16"),
    ("model/net/encoder", "efficientnet_lite0"),
    ("model/net/encoder", "efficientnet_lite1"),
    ("model/net/encoder", "efficientnet_lite2"),
    ("trainer", "default"),
    ("trainer", "cpu"),
    ("trainer", "ddp"),  # tests/test_scale.py
    ("hydra/launcher", "slurm"),  # tests/test_scale.py
    ("logger", "default"),
    ("logger", "csv"),
    ("logger", "tensorboard"),
    ("logger", "mlflow"),
    ("logger", "wandb"),
    ("callbacks", "default"),
    ("callbacks", "early_stopping"),
    ("paths", "default"),
    ("debug", "tiny"),  # every test that trains (tests/conftest.py)
    ("debug", "fdr"),
    ("debug", "overfit"),
    ("hparams_search", "decoder_optuna"),  # tests/test_scale.py
    ("hydra", "default"),
    ("hydra", "command"),  # every command but train (tests/test_commands.py)
    ("experiment", "demo"),
    ("experiment", "cats_full"),
    ("experiment", "cats_rebalanced"),
    ("experiment", "cats_class"),
    ("experiment", "cats_unet_class"),
    ("experiment", "cats_unet_rebalanced"),
    ("experiment", "cats_unet_hints"),
    ("experiment", "cats_unet_hints_many"),
    ("experiment", "cats_unet_top"),
    ("experiment", "cats_unet_regression"),
    ("experiment", "cats_unet_zoom"),
    ("experiment", "cats_unet_mix"),
}


def test_every_config_file_is_tested():
    found = {(str(p.parent.relative_to(CONF)).replace(".", ""), p.stem) for p in CONF.rglob("*.yaml")}
    assert found == TESTED


@pytest.mark.parametrize(
    "model",
    ["baseline", "batchnorm", "dropout", "rebalanced", "unet", "unet_batchnorm", "unet_class", "unet_hints", "hints"],
)
def test_model_variants_compose_and_train_a_step(model, photo_dir, tmp_path):
    overrides = [f"model={model}", "data=folder", f"data.root={photo_dir}", *tiny_overrides(tmp_path)]
    cfg = compose_config(overrides, tmp_path / "run")
    assert cfg.model.variant == model
    metrics = train(cfg)
    assert metrics["train/loss"] > 0 and 0 <= metrics["val/acc"] <= 1


@pytest.mark.parametrize(
    "choices",
    [
        ["debug=fdr"],
        ["debug=overfit", "trainer.max_epochs=2", "trainer.check_val_every_n_epoch=1"],
        ["logger=csv", "callbacks=early_stopping"],
        ["logger=tensorboard"],
        ["logger=[csv,mlflow,wandb]"],
    ],
)
def test_debug_logger_and_callback_choices_run(choices, photo_dir, tmp_path):
    tiny = tiny_overrides(tmp_path)
    if any(choice.startswith("debug=") for choice in choices):  # one debug choice at a time: tiny by hand
        tiny = [o for o in tiny if o != "debug=tiny"]
        tiny += ["model.net.encoder.weights=null", "data.image_size=32", "data.batch_size=4", "trainer.accelerator=cpu"]
    cfg = compose_config(["data=folder", f"data.root={photo_dir}", *tiny, *choices], tmp_path / "run")
    metrics = train(cfg)
    assert metrics["train/loss"] > 0
    written = {p.name for p in (tmp_path / "run").iterdir()}
    if "logger=csv" in choices:
        assert "csv" in written and "tensorboard" not in written and "early_stopping" in cfg.callbacks
    if "logger=tensorboard" in choices:
        assert "tensorboard" in written and "csv" not in written
    if "logger=[csv,mlflow,wandb]" in choices:  # several at once, all offline, each with the run's metrics
        assert {"csv", "mlflow.db", "mlartifacts", "wandb"} <= written and "tensorboard" not in written
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{tmp_path / 'run' / 'mlflow.db'}")
        (run,) = client.search_runs([client.get_experiment_by_name("colorlab").experiment_id])
        assert {"train/loss", "val/loss", "val/acc"} <= set(run.data.metrics) and run.data.params["variant"]
        assert list((tmp_path / "run" / "mlartifacts").rglob("val_samples/step_*.png"))  # the image grid
        assert list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))
    if "debug=fdr" in choices:
        summary = (tmp_path / "run" / "summary.json").read_text()
        assert cfg.trainer.fast_dev_run and '"global_step": 1' in summary  # one batch, then done


@pytest.mark.parametrize(
    "experiment",
    [
        "cats_full",
        "cats_rebalanced",
        "cats_class",
        "cats_unet_class",
        "cats_unet_rebalanced",
        "cats_unet_hints",
        "cats_unet_top",
        "cats_unet_regression",
        "cats_unet_zoom",
        "cats_unet_mix",
    ],
)
def test_the_full_data_recipes_run_from_cached_features(experiment, photo_dir, tmp_path):
    overrides = [f"experiment={experiment}", f"data.root={photo_dir}", *tiny_overrides(tmp_path)]
    cfg = compose_config([*overrides, "model.net.encoder.weights=imagenet", "trainer.max_epochs=2"], tmp_path / "run")
    assert cfg.data.cache_features and cfg.data.crop_scale is None and cfg.model.net.channels_last
    assert cfg.callbacks.early_stopping.monitor == "val/loss"
    assert cfg.model.scheduler._target_.endswith("ReduceLROnPlateau")
    metrics = train(cfg)
    assert metrics["val/loss"] > 0
    if experiment.endswith("top"):  # the encoder's top learns at a tenth of the decoder's rate
        assert metrics["lr-AdamW/encoder_top"] == pytest.approx(0.1 * metrics["lr-AdamW/decoder"])
    else:
        assert metrics["lr-AdamW"] > 0
    if experiment != "cats_full":
        model = instantiate(cfg.model)
        assert model.net.decoder.output_stride == 4 and model.net.decoder.out_channels == 262
        model.net.head.set_prior(torch.linspace(1.0, 100.0, 529))  # a skewed prior over the ab grid
        weights = model.net.head.weights  # rebalanced: rare colors weigh more; class: every pixel the same
        assert bool(torch.allclose(weights, weights[0])) == (not experiment.endswith(("rebalanced", "mix")))
        assert model.net.takes_hints == experiment.endswith("hints")
    if experiment.startswith("cats_unet"):  # the skips it reads were cached with the features
        assert model.net.decoder.skip_strides_used == (16, 8, 4)
        (folder,) = (tmp_path / "cache" / "features").glob("EfficientNetLite0Encoder-*")
        assert "-s16-s8-s4-" in folder.name
        assert ("-cut16-" in folder.name) == experiment.endswith("top")  # entries of the frozen part only
        assert ("-4view-" in folder.name and "-zoom2-" in folder.name) == experiment.endswith("zoom")
    if experiment.endswith("top"):  # the encoder's stride-32 stages trained, and only they
        trained = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        initial = model.net.encoder.state_dict()
        moved = {k for k, v in initial.items() if not torch.equal(trained[f"net.encoder.{k}"].to(v.dtype), v)}
        assert moved and all(k.startswith(("net.blocks.5", "net.blocks.6", "net.conv_head", "net.bn2")) for k in moved)
    if experiment.endswith("regression"):
        assert model.net.head.regression_weight == 10.0
    if experiment.endswith("mix"):  # rare colours weigh more, but less than at λ = 0.5
        assert model.net.head.mix == 0.75 and model.net.head.temperature == 0.2
        rebalanced = instantiate(compose_config(["experiment=cats_unet_rebalanced"], tmp_path / "r").model).net.head
        rebalanced.set_prior(torch.linspace(1.0, 100.0, 529))
        assert 1.0 < float(weights.max() / weights.min()) < float(rebalanced.weights.max() / rebalanced.weights.min())


@pytest.mark.parametrize("encoder", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_any_encoder_fits_any_decoder(encoder, photo_dir, tmp_path):
    overrides = ["model=batchnorm", f"model/net/encoder={encoder}", "data=folder", f"data.root={photo_dir}"]
    cfg = compose_config([*overrides, *tiny_overrides(tmp_path)], tmp_path / "run")
    model = instantiate(cfg.model)
    assert model.net.decoder.blocks[0][0].num_features == 1280  # batch norm on the encoder's channels
    assert train(cfg)["val/loss"] > 0


@pytest.mark.parametrize("trainer", ["default", "cpu"])
def test_trainers_and_the_embedded_sample(trainer, tmp_path):
    cfg = compose_config(["data=sample", f"trainer={trainer}", *tiny_overrides(tmp_path)], tmp_path / "run")
    assert Path(cfg.data.root).name == "sample"
    metrics = train(cfg)
    assert metrics["val/loss"] > 0


def test_demo_experiment(tmp_path):
    cfg = compose_config(["experiment=demo", *tiny_overrides(tmp_path)], tmp_path / "run")
    assert cfg.trainer.precision == cpu_precision() and cfg.model.net.channels_last and cfg.test
    assert cfg.model.net.encoder.weights is None
    metrics = train(cfg)
    assert "test/loss" in metrics and "test/acc" in metrics


def test_cat_dataset_downloads_on_first_use(tmp_path, monkeypatch):
    """data=cat_dataset fetches its archives in prepare_data (here from a local file:// mirror)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "CAT_DATASET_01.zip").write_bytes(cat_zip("CAT_00", 12))
    source = dl.DatasetSource(archives=(dl.Archive((mirror / "CAT_DATASET_01.zip").as_uri()),))
    monkeypatch.setitem(dl.DATASETS, "cat_dataset", source)
    monkeypatch.setenv("COLORLAB_DATA", str(tmp_path / "data"))
    cfg = compose_config(["data=cat_dataset", *tiny_overrides(tmp_path)], tmp_path / "run")
    assert cfg.data.root == str(tmp_path / "data" / "cat_dataset")
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup()
    assert (tmp_path / "data" / "cat_dataset" / dl.COMPLETE_MARKER).is_file()
    assert sum(len(v) for v in datamodule.splits.values()) == 12


@pytest.mark.parametrize(
    "capability, precision", [("AVX512", "bf16-mixed"), ("AVX2", "32-true"), ("DEFAULT", "32-true")]
)
def test_trainer_cpu_uses_bf16_only_where_the_cpu_makes_it_faster(capability, precision, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    cfg = compose_config(["trainer=cpu", *tiny_overrides(tmp_path)], tmp_path / "run")
    assert cfg.trainer.precision == precision


def test_hydra_folders_are_named_for_the_model(tmp_path):
    cfg = compose_config(["model=batchnorm", *tiny_overrides(tmp_path)], tmp_path / "run", keep_hydra=True)
    sweep = OmegaConf.to_container(cfg.hydra.sweep, resolve=False)
    assert sweep["subdir"] == "${hydra.job.num}_${hydra:runtime.choices.model}"
    assert cfg.hydra.runtime.choices.model == "batchnorm"


def test_a_typo_in_an_override_fails():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        compose_config(["data.imagesize=32"], Path("unused"))


def test_heads_and_decoders_compose_a_rebalanced_unet(photo_dir, tmp_path):
    overrides = [
        "model=unet",
        "model.net.head._target_=colorlab.models.heads.ClassificationHead",
        "data=folder",
        f"data.root={photo_dir}",
        *tiny_overrides(tmp_path),
    ]
    cfg = compose_config(overrides, tmp_path / "run")
    metrics = train(cfg)
    assert metrics["val/mse"] > 0
    model = instantiate(cfg.model)
    assert model.net.decoder.out_channels == 262 and model.net.decoder.uses_skips


def test_the_guided_recipes_second_stage_fine_tunes_the_first_with_many_points(photo_dir, tmp_path):
    tiny = [f"data.root={photo_dir}", *tiny_overrides(tmp_path), "model.net.encoder.weights=imagenet"]
    first = compose_config(["experiment=cats_unet_hints", *tiny, "trainer.max_epochs=1"], tmp_path / "first")
    train(first)
    second = compose_config(["experiment=cats_unet_hints_many", *tiny], tmp_path / "second")
    with pytest.raises(ValueError, match="init_from is required"):  # stage two needs stage one's weights
        train(second)
    second = compose_config(
        ["experiment=cats_unet_hints_many", *tiny, f"init_from={tmp_path / 'first'}"], tmp_path / "second"
    )
    assert second.model.hint_simulation.p_continue == 0.95 and second.model.hint_simulation.max_points == 128
    assert second.model.optimizer.lr == 3e-4 and not second.test  # (its 3 epochs: debug=tiny makes it 1)
    metrics = train(second)
    assert metrics["val/loss"] > 0
