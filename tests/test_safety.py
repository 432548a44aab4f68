"""Hostile checkpoints and careless input: nothing is run, nothing the user gave is modified,
and every user error is one `error:` line with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from colorlab.colorize import run_colorize
from colorlab.core.config import CONFIG_DIR
from colorlab.core.stored_data import SCHEMAS, StoredDataError, checked_data_settings
from colorlab.inference.batch import PlanError
from colorlab.models.checkpoints import CheckpointError, load_model
from colorlab.training.callbacks import BestCheckpoint
from tests.conftest import compose_app, smooth_image
from tests.helpers.commands import ENV, ROOT, assert_one_error_line, cli, clis, digest, evil_checkpoint, evil_model_file

# --- checkpoints from strangers -----------------------------------------------------------------------


def test_the_data_sources_in_conf_are_what_a_stored_config_may_build_with_every_key_typed():
    import yaml

    folder = Path(CONFIG_DIR) / "data"
    nodes = {config.stem: yaml.safe_load(config.read_text()) for config in folder.rglob("*.yaml")}
    used = {}
    for node in nodes.values():
        target = node.get("_target_") or nodes[node["defaults"][0]]["_target_"]  # a variant of another source
        used.setdefault(target, set()).update(key for key in node if key not in ("_target_", "defaults"))
    assert set(used) == set(SCHEMAS)
    for target, keys in used.items():
        assert keys <= set(SCHEMAS[target]), (target, keys - set(SCHEMAS[target]))


@pytest.mark.parametrize(
    "target",
    [
        "colorlab.data.archives.shutil.copyfile",  # reached through colorlab's own imports
        "colorlab.data.photo_files.os.system",
        "colorlab.data.ColorDataModule.__init__.__globals__",
        "builtins.eval",
        "colorlab.data.ColorDataModule ",  # near miss
        "torch.optim.Adam",  # built by training, never from a file
    ],
)
def test_names_reached_through_module_attributes_are_refused(target):
    with pytest.raises(StoredDataError, match="not one of the data sources colorlab builds"):
        checked_data_settings({"_target_": target, "src": "/dev/null", "dst": "victim"})


@pytest.mark.parametrize(
    "node, message",
    [
        ({"root": "${oc.env:HOME}"}, "interpolations"),
        ({"_args_": ["x"]}, "not a setting"),
        ({"_partial_": True}, "not a setting"),
        ({"split": {"_target_": "builtins.eval"}}, "list of 3 numbers"),
        ({"crop_scale": [{"_target_": "os.system"}, 1.0]}, "finite number"),
    ],
)
def test_other_tricks_in_a_stored_config_are_refused(node, message, tmp_path):
    with pytest.raises(StoredDataError, match=message):
        checked_data_settings({"_target_": "colorlab.data.ColorDataModule", "root": str(tmp_path), **node})


def test_a_config_nested_far_deeper_than_colorlab_writes_is_refused_without_recursing(tmp_path):
    node: list = []
    for _ in range(100_000):
        node = [node]
    with pytest.raises(StoredDataError, match="data.split"):
        checked_data_settings({"_target_": "colorlab.data.ColorDataModule", "root": str(tmp_path), "split": node})


def test_a_hostile_run_config_runs_nothing_and_writes_nothing_anywhere(cli_sweep, tmp_path, photo_dir):
    """The stored data section names an allowed data source whose settings run a command (pipe:),
    open a URL, download or write a cache outside the run: evaluate (which reuses a run's data
    settings), compare, colorize, export and load_model run nothing and write nothing."""
    (tmp_path / "index.json").write_text('{"train": 1, "val": 1, "test": 1}')
    outside = tmp_path / "outside"
    sections = {
        "pipe": {"_target_": "colorlab.data.shard_datamodule.ShardDataModule", "urls": "pipe:id > pwned.txt; echo",
                 "index": str(tmp_path / "index.json"), "image_size": 32},
        "url": {"_target_": "colorlab.data.shard_datamodule.ShardDataModule", "urls": "https://example.com/{0..9}.tar"},
        "huge": {"_target_": "colorlab.data.ColorDataModule", "root": str(photo_dir), "image_size": 100000},
    }  # fmt: skip
    sweep = tmp_path / "sweep"
    for name, data in sections.items():
        run = sweep / f"0_{name}" / "checkpoints"
        run.mkdir(parents=True)
        (sweep / f"0_{name}" / ".hydra").mkdir()
        evil = evil_checkpoint(cli_sweep, tmp_path, "data", data, name=f"{name}.ckpt")
        evil.rename(run / "last.ckpt")
        (sweep / f"0_{name}" / "summary.json").write_text('{"status": "finished"}')
        model = load_model(sweep / f"0_{name}")  # the network alone: never the stored data
        assert model(torch.rand(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    cached = evil_checkpoint(cli_sweep, tmp_path, "data", {
        "_target_": "colorlab.data.ColorDataModule", "root": str(photo_dir), "image_size": 32,
        "cache_dir": str(outside), "download": "cat_dataset", "split": [0.5, 0.25, 0.25],
    }, name="cached.ckpt")  # fmt: skip
    photo = next(photo_dir.rglob("*.jpg"))
    *refused, evaluated, compared, colorized, exported = clis(
        *(("colorlab.evaluate", f"run={sweep / f'0_{name}'}") for name in sections),
        ("colorlab.evaluate", f"run={cached}", "bootstrap=10", f"out={tmp_path / 'eval'}"),
        ("colorlab.compare", f"runs={sweep}", f"out={tmp_path / 'report'}"),
        ("colorlab.colorize", f"ckpt={sweep / '0_pipe'}", f"input={photo}", f"output={tmp_path / 'out'}"),
        ("colorlab.export", f"ckpt={sweep / '0_pipe'}", f"output={tmp_path / 'x.pt'}", "format=torchscript"),
        cwd=tmp_path,
    )
    for name, done in zip(sections, refused, strict=True):
        assert_one_error_line(done, "last.ckpt", "data.urls" if name != "huge" else "data.image_size")
    for done in (evaluated, compared, colorized, exported):  # the cached one's photos are read; nothing else
        assert done.returncode == 0, done.stderr[-2000:]
    assert "URL, command or scheme" in (tmp_path / "report" / "report.md").read_text()
    assert not list(tmp_path.rglob("pwned*")) and not (ROOT / "pwned.txt").exists() and not outside.exists()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["network"]["decoder"].update(_target_="colorlab.data.os.system"), "not one of the decoders"),
        (lambda m: m["network"]["head"].update(_target_="builtins.eval"), "not one of the heads"),
        (lambda m: m["network"]["encoder"].update(_partial_=True), "not a constructor argument"),
        (lambda m: m["network"]["encoder"].update(weights="/etc/passwd"), "not a constructor argument"),
        (lambda m: m["network"]["decoder"].update(colour="red"), "does not build"),
        (lambda m: m["network"]["decoder"].update(norm={"_target_": "os.system"}), "plain value"),
        (lambda m: m.update(image_size=100000), "image_size=100000"),
        (lambda m: m.update(encoder_weights="https://example.com/w.pth"), "encoder_weights"),
        (lambda m: m.update(version=99), "upgrade colorlab"),
    ],
    ids=["decoder target", "head target", "partial", "weights path", "unknown key", "nested target", "huge size",
         "weights url", "future version"],
)  # fmt: skip
def test_a_hostile_model_entry_is_refused_with_the_key_named(cli_sweep, tmp_path, edit, message):
    path = evil_model_file(cli_sweep, tmp_path, edit)
    with pytest.raises(CheckpointError, match=message):
        load_model(path)  # what every command opens a model with (the next test runs them)


def test_every_command_refuses_a_hostile_model_entry_before_any_work(cli_sweep, tmp_path):
    edit = lambda m: m["network"]["decoder"].update(_target_="colorlab.data.photo_files.os.system")  # noqa: E731
    path = evil_model_file(cli_sweep, tmp_path, edit)
    commands = [
        ("colorlab.app", f"ckpt={path}", "port=8123"),
        ("colorlab.export", f"ckpt={path}"),
        ("colorlab.colorize", f"ckpt={path}", f"input={tmp_path}", f"output={tmp_path / 'out'}"),
        ("colorlab.evaluate", f"run={path}"),
    ]
    for done in clis(*commands, cwd=tmp_path):
        assert_one_error_line(done, "evil_model.ckpt", "not one of the decoders")
    assert not list(tmp_path.rglob("pwned*")) and not (tmp_path / "out").exists()


def test_an_old_checkpoints_stored_optimizer_and_callbacks_are_never_read(tmp_path):
    """A version-1 file (its network described by the stored run config's model section) with a
    hostile optimizer and callback: only the encoder, decoder and head are read from it."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    node = {"_target_": "colorlab.data.archives.shutil.copyfile", "src": "/dev/null", "dst": str(victim)}
    checkpoint = torch.load(ROOT / "tests" / "data" / "v1" / "baseline_train_v1.ckpt", weights_only=True)
    checkpoint["colorlab_config"]["model"]["optimizer"]["lr"] = node
    checkpoint["colorlab_config"]["callbacks"] = {"evil": node}
    torch.save(checkpoint, tmp_path / "evil.ckpt")
    model = load_model(tmp_path / "evil.ckpt")
    assert model(torch.rand(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    assert victim.read_text() == "precious"


def test_an_extensions_own_class_loads_once_trusted_code_allows_it(cli_sweep, tmp_path, monkeypatch):
    from colorlab.models import parts
    from tests.helpers.extensions import L1Head

    path = evil_model_file(
        cli_sweep,
        tmp_path,
        lambda m: m["network"]["head"].update(_target_="tests.helpers.extensions.L1Head"),
        "l1.ckpt",
    )
    with pytest.raises(CheckpointError, match="tests.helpers.extensions.L1Head"):
        load_model(path)
    monkeypatch.setitem(parts.PARTS, "head", dict(parts.PARTS["head"]))  # undone after the test
    parts.allow("head", L1Head)
    model = load_model(path)
    assert type(model.head).__name__ == "L1Head"


def test_a_photo_given_as_a_checkpoint_is_called_not_a_checkpoint(photo_dir):
    photo = next(photo_dir.rglob("*.jpg"))
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_model(photo)


# --- colorize never loses a photo ---------------------------------------------------------------------


def save_photo(path: Path, seed: int, size: int = 40) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(smooth_image(size, seed)).save(path)
    return path


def colorize(cli_sweep: Path, *overrides: str):
    return run_colorize(compose_app("colorize", [f"ckpt={cli_sweep / '0_baseline'}", *overrides]))


def test_an_input_is_never_overwritten_whatever_overwrite_says(cli_sweep, tmp_path):
    inner, outer = save_photo(tmp_path / "t" / "photos" / "p.jpg", 1), save_photo(tmp_path / "t" / "p.jpg", 2)
    before = digest(outer)
    with pytest.raises(PlanError, match="more than one input"):  # both would become t/p.jpg: refused first
        colorize(cli_sweep, f"input=[{inner},{outer}]", f"output={tmp_path / 't'}", "overwrite=true")
    assert digest(outer) == before
    tally = colorize(cli_sweep, f"input={outer}", f"output={tmp_path / 't'}", "overwrite=true")  # onto itself
    assert digest(outer) == before and "would overwrite an input" in tally.failed[0]
    link = tmp_path / "t" / "out" / "p.jpg"  # a hard link to an input under the output name
    link.parent.mkdir()
    os.link(outer, link)
    colorize(cli_sweep, f"input={outer}", f"output={tmp_path / 't' / 'out'}", "overwrite=true")
    assert digest(outer) == before


@pytest.mark.parametrize("layout", ["same name in two folders", "jpg and png with format=png"])
def test_output_name_collisions_are_refused_before_any_work(cli_sweep, tmp_path, layout):
    if layout.startswith("same"):
        files = [save_photo(tmp_path / "a" / "x.jpg", 1), save_photo(tmp_path / "b" / "x.jpg", 2)]
        extra = []
    else:
        files = [save_photo(tmp_path / "q.jpg", 1), save_photo(tmp_path / "q.png", 2)]
        extra = ["format=png"]
    out = tmp_path / "out"
    with pytest.raises(PlanError, match="more than one input") as err:
        colorize(cli_sweep, f"input=[{files[0]},{files[1]}]", f"output={out}", *extra)
    assert all(str(f) in str(err.value) for f in files) and not out.exists()


def test_output_folder_above_equal_to_or_inside_the_input(cli_sweep, tmp_path):
    photos = tmp_path / "t" / "photos"
    save_photo(photos / "p1.jpg", 1), save_photo(photos / "p2.jpg", 2)
    tally = colorize(cli_sweep, f"input={photos}", f"output={tmp_path / 't'}")  # above: works
    assert tally.colorized == 2 and (tmp_path / "t" / "p1.jpg").is_file()
    with pytest.raises(PlanError, match="is the input folder"):
        colorize(cli_sweep, f"input={photos}", f"output={photos}")
    inside = photos / "color"
    assert colorize(cli_sweep, f"input={photos}", f"output={inside}").colorized == 2
    again = colorize(cli_sweep, f"input={photos}", f"output={inside}")  # its own outputs are not inputs
    assert again.found == 2 and again.skipped == 2


def test_no_images_found_is_a_warning_and_exit_1(cli_sweep, tmp_path):
    (tmp_path / "empty").mkdir()
    done = cli("colorlab.colorize", f"ckpt={cli_sweep / '0_baseline'}", f"input={tmp_path / 'empty'}", "output=o")
    assert done.returncode == 1 and "warning: no images found" in done.stderr
    assert "0 colorized, 0 skipped, 0 failed" in done.stdout


def test_temporary_files_of_a_killed_colorize_are_cleaned_up(cli_sweep, tmp_path):
    photo = save_photo(tmp_path / "in" / "p.jpg", 3)
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = out / f".p.jpg.{dead.stdout.strip()}.colorlab-part"  # what a kill -9 mid-write leaves
    stale.write_bytes(b"half a jpeg")
    assert colorize(cli_sweep, f"input={photo}", f"output={out}").colorized == 1
    assert not stale.exists() and [p.name for p in out.iterdir()] == ["p.jpg"]


def test_a_float_tiff_is_scaled_not_black(cli_sweep, tmp_path):
    values = np.tile(np.linspace(0.2, 0.9, 48, dtype=np.float32), (32, 1))  # mode F, values in [0, 1]
    Image.fromarray(values, mode="F").save(tmp_path / "scan.tif")
    colorize(cli_sweep, f"input={tmp_path / 'scan.tif'}", f"output={tmp_path / 'out'}")
    result = np.asarray(Image.open(tmp_path / "out" / "scan.tif").convert("L"), dtype=np.float64)
    assert abs(result.mean() - 255 * values.mean()) < 8  # ~140, not ~1


# --- runs are never mixed up ------------------------------------------------------------------------


def test_train_refuses_bad_resumes_reused_folders_and_endless_runs(photo_dir, tmp_path):
    base = [
        "data=folder",
        f"data.root={photo_dir}",
        "model.net.encoder.weights=null",
        "data.image_size=32",
        "data.batch_size=4",
        f"paths.cache_dir={tmp_path / 'cache'}",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=1",
        "trainer.limit_val_batches=1",
        "trainer.num_sanity_val_steps=0",
        "trainer.enable_progress_bar=false",
        "trainer.accelerator=cpu",
    ]
    run_dir = tmp_path / "run"
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    empty, forever, blocked = clis(
        ("colorlab.train", *base, f"hydra.run.dir={run_dir}", "ckpt_path=last"),
        ("colorlab.train", *base, f"hydra.run.dir={tmp_path / 'forever'}", "trainer.max_epochs=-1"),
        ("colorlab.train", *base, f"hydra.run.dir={blocker / 'run'}"),
    )
    assert_one_error_line(empty, "ckpt_path=last", "no checkpoints/last.ckpt")
    assert_one_error_line(forever, "trainer.max_epochs=-1", "forever")
    assert_one_error_line(blocked, "hydra.run.dir", "is a file")
    done = cli("colorlab.train", *base, f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr[-2000:]
    summary = digest(run_dir / "summary.json")
    done = cli("colorlab.train", *base, f"hydra.run.dir={run_dir}")  # again, without resuming
    assert_one_error_line(done, "already holds a run", "ckpt_path=last")
    assert digest(run_dir / "summary.json") == summary and not (run_dir / "checkpoints" / "last-v1.ckpt").exists()


@pytest.mark.parametrize(
    "command, needle",
    [
        (["colorlab.train", "data=folder", "data.root=/no/such/photos"], "data.root=/no/such/photos"),
        (["colorlab.train", "data.image_size=100"], "data.image_size=100"),
        (["colorlab.train", "ckpt_path=/no/such.ckpt"], "ckpt_path=/no/such.ckpt"),
        (["colorlab.train", "model.net.encoder.weights=/no/such.pth", "data.image_size=32"], "weights=/no/such.pth"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(command, needle, tmp_path):
    weights = [] if any("weights" in c for c in command) else ["model.net.encoder.weights=null"]
    paths = [f"hydra.run.dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}"]
    done = cli(*command, *weights, *paths, "trainer.max_epochs=1", "trainer.limit_train_batches=1", cwd=tmp_path)
    assert_one_error_line(done, needle)


def test_evaluate_names_a_missing_run(tmp_path):
    done = cli("colorlab.evaluate", "run=/no/such/run", cwd=tmp_path)
    assert_one_error_line(done, "run=/no/such/run")


def test_evaluate_names_a_misspelt_split(cli_sweep, tmp_path):
    done = cli("colorlab.evaluate", f"run={cli_sweep / '0_baseline'}", "split=tset", cwd=tmp_path)
    assert_one_error_line(done, "split=tset", "train, val, test")


def test_the_best_checkpoint_stays_the_best_across_a_resume_into_a_new_folder(tmp_path):
    old = tmp_path / "old" / "checkpoints"
    old.mkdir(parents=True)
    best = old / "best-epoch001.ckpt"
    best.write_bytes(b"weights of epoch 1")
    state = {
        "dirpath": str(old),
        "best_model_path": str(best),
        "best_model_score": torch.tensor(0.5),
        "best_k_models": {str(best): torch.tensor(0.5)},
        "kth_best_model_path": str(best),
        "kth_value": torch.tensor(0.5),
        "last_model_path": str(old / "last.ckpt"),
    }
    callback = BestCheckpoint(dirpath=str(tmp_path / "new" / "checkpoints"), monitor="val/loss", save_top_k=1)
    callback.load_state_dict(state)
    copied = Path(callback.best_model_path)
    assert copied.parent == tmp_path / "new" / "checkpoints" and copied.read_bytes() == b"weights of epoch 1"
    trainer = SimpleNamespace(strategy=SimpleNamespace(reduce_boolean_decision=lambda decision, all=True: decision))
    assert not callback.check_monitor_top_k(trainer, torch.tensor(0.9))  # a worse epoch is not "best"
    assert callback.check_monitor_top_k(trainer, torch.tensor(0.4))


# --- careless input through the real command line: one error line, exit 2 ------------------------------


def test_careless_settings_get_one_error_line_naming_the_key(cli_sweep, tmp_path):
    run = f"hydra.run.dir={tmp_path / 'run'}"
    model = f"ckpt={cli_sweep / '0_baseline'}"
    io = [f"input={tmp_path}", f"output={tmp_path / 'out'}"]
    cases = {  # arguments -> what the error line names
        ("colorlab.train", "data.imagesize=64", run): "data.imagesize",
        ("colorlab.train", "model=nonexistent", run): "model/nonexistent",
        ("colorlab.train", "trainer.max_epochs=abc", run): "trainer.max_epochs='abc'",
        ("colorlab.evaluate", f"run={cli_sweep / '0_baseline'}", "data.image_size=64"): "data=folder",
        ("colorlab.evaluate", f"run={cli_sweep / '0_baseline'}", "batch_size=0"): "batch_size=0",
        ("colorlab.app", "port=abc"): "port='abc'",
        ("colorlab.colorize", model, *io, "batch_size=0"): "batch_size=0",
        ("colorlab.colorize", model, *io, "quality=500"): "quality=500",
        ("colorlab.colorize", model, f"input={tmp_path}/a,b[1].jpg", f"output={tmp_path / 'out'}"): "quoted",
    }
    processes = {
        case: subprocess.Popen([sys.executable, "-m", *case], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=ENV, cwd=tmp_path)
        for case in cases
    }  # fmt: skip
    for case, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        assert_one_error_line(SimpleNamespace(returncode=process.returncode, stderr=stderr), cases[case])
    assert not (tmp_path / "out").exists() and not (tmp_path / "run" / "checkpoints").exists()


def test_a_path_with_special_characters_works_once_quoted_as_the_error_says(cli_sweep, tmp_path):
    photo = save_photo(tmp_path / "in" / "a, b=[c]'é.jpg", 5)
    done = cli("colorlab.colorize", f"ckpt={cli_sweep / '0_baseline'}", f'input="{photo}"', f"output={tmp_path / 'o'}")
    assert done.returncode == 0 and "1 colorized" in done.stdout, done.stderr[-2000:]
    assert (tmp_path / "o" / photo.name).is_file()


def test_a_link_planted_under_a_temporary_files_name_is_never_written_through(cli_sweep, tmp_path):
    photo = save_photo(tmp_path / "in" / "p.jpg", 3)
    out, victim = tmp_path / "out", tmp_path / "victim.jpg"
    out.mkdir()
    victim.write_bytes(b"precious")
    planted = [out / f".p.jpg.{os.getpid()}{suffix}.colorlab-part" for suffix in ("", ".000000000000")]
    for link in planted:  # under the names this process would use if they were predictable
        link.symlink_to(victim)
    assert colorize(cli_sweep, f"input={photo}", f"output={out}").colorized == 1
    assert victim.read_bytes() == b"precious"
    assert (out / "p.jpg").is_file() and not (out / "p.jpg").is_symlink()
    assert not any(link.is_symlink() for link in planted)  # planted links are removed


def test_a_video_with_frames_over_max_pixels_is_refused_from_its_header(cli_sweep, tmp_path):
    from tests.helpers.clips import make_clip

    (tmp_path / "in").mkdir()
    make_clip(tmp_path / "in" / "big.mp4", frames=3, size=(1280, 1024))
    done = cli("colorlab.colorize", f"ckpt={cli_sweep / '0_baseline'}", f"input={tmp_path / 'in'}",
               f"output={tmp_path / 'out'}", "max_pixels=1000000")  # fmt: skip
    assert done.returncode == 1 and "big.mp4: its frames are 1280x1024" in done.stderr, done.stderr[-2000:]
    assert "max_pixels=1,000,000" in done.stderr and not (tmp_path / "out" / "big.mp4").exists()


def test_format_png_on_a_video_is_a_failure_not_a_silent_mp4(cli_sweep, tmp_path):
    from tests.helpers.clips import make_clip

    (tmp_path / "in").mkdir()
    make_clip(tmp_path / "in" / "clip.mp4", frames=2)
    done = cli("colorlab.colorize", f"ckpt={cli_sweep / '0_baseline'}", f"input={tmp_path / 'in'}",
               f"output={tmp_path / 'out'}", "format=png")  # fmt: skip
    assert done.returncode == 1 and "clip.mp4: format=png is for photos" in done.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


# --- nothing lost, nothing stale ------------------------------------------------------------------------


def test_a_run_that_failed_before_its_first_checkpoint_runs_again_in_place(photo_dir, tmp_path):
    run = tmp_path / "run"
    photo = next(photo_dir.rglob("*.jpg"))
    common = ["data=folder", "debug=tiny", f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run}"]
    done = cli("colorlab.train", *common, f"data.root={photo}")
    assert_one_error_line(done, "data.root")
    assert "config:" not in done.stdout + done.stderr  # the config is dumped once data and model are good
    assert json.loads((run / "summary.json").read_text())["status"] == "failed"
    done = cli("colorlab.train", *common, f"data.root={photo_dir}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((run / "summary.json").read_text())["status"] == "finished"
    done = cli("colorlab.train", *common, f"data.root={photo_dir}")  # a run that has checkpoints is kept
    assert_one_error_line(done, "already holds a run")


def test_ctrl_c_is_recorded_as_interrupted_and_resumes(photo_dir, tmp_path):
    run = tmp_path / "run"
    common = ["data=folder", f"data.root={photo_dir}", "debug=tiny", f"paths.cache_dir={tmp_path / 'cache'}",
              f"hydra.run.dir={run}", "trainer.max_epochs=3"]  # fmt: skip
    interrupt = ["+callbacks.interrupt._target_=tests.callbacks.InterruptAtStep", "+callbacks.interrupt.step=3"]
    done = cli("colorlab.train", *common, *interrupt)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted", (summary, done.stderr[-2000:])
    done = cli("colorlab.train", *common, "ckpt_path=last")
    assert done.returncode == 0 and json.loads((run / "summary.json").read_text())["status"] == "finished"


def test_results_of_an_earlier_checkpoint_are_evaluated_again(cli_sweep, tmp_path):
    import shutil

    from colorlab.compare import run_compare

    run = tmp_path / "sweep" / "0_baseline"
    shutil.copytree(cli_sweep / "0_baseline", run)
    shutil.rmtree(run / "eval", ignore_errors=True)
    (old,) = run.glob("checkpoints/best-*.ckpt")
    first = run_compare(compose_app("compare", [f"runs={run.parent}", "bootstrap=0"]))
    metrics = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    assert metrics["checkpoint"] == str(old) and metrics["checkpoint_sha256"] == digest(old)
    newer = old.with_name("best-epoch999-val_loss0.00001.ckpt")  # training ended with a better epoch
    checkpoint = torch.load(old, weights_only=True)
    checkpoint["state_dict"] = {
        k: v + 0.01 if v.is_floating_point() else v for k, v in checkpoint["state_dict"].items()
    }
    torch.save(checkpoint, newer)
    old.unlink()
    run_compare(compose_app("compare", [f"runs={run.parent}", "bootstrap=0", f"out={first}"]))
    metrics = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    assert metrics["checkpoint"] == str(newer) and metrics["checkpoint_sha256"] == digest(newer)


def test_the_report_escapes_everything_it_reads(cli_sweep, tmp_path):
    import shutil

    from colorlab.compare import run_compare

    run = tmp_path / "sweep" / "0_baseline"
    shutil.copytree(cli_sweep / "0_baseline", run)
    out = run_compare(compose_app("compare", [f"runs={run.parent}", "bootstrap=0"]))
    metrics_file = run / "eval" / "test" / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    metrics["data_root"] = "</p><script>alert(1)</script>"
    metrics_file.write_text(json.dumps(metrics))
    (run / "summary.json").write_text(json.dumps({"status": "failed", "error": "<img src=x onerror=alert(2)>"}))
    run_compare(compose_app("compare", [f"runs={run.parent}", "bootstrap=0", f"out={out}"]))
    page = (out / "report.html").read_text()
    assert "<script>" not in page and "<img src=x" not in page and "&lt;script&gt;" in page


def test_a_max_pixels_above_pillows_own_limit_lets_a_trusted_big_photo_open(tmp_path, monkeypatch):
    from colorlab.data.images import ImageTooLargeError, open_image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)  # Pillow refuses from 2,000 pixels on
    save_photo(tmp_path / "big.png", 1, size=100)  # 10,000 pixels
    with pytest.raises(ImageTooLargeError, match="max_pixels=5,000"):
        open_image(tmp_path / "big.png", max_pixels=5_000)
    assert open_image(tmp_path / "big.png", max_pixels=20_000).size == (100, 100)
    assert Image.MAX_IMAGE_PIXELS == 1_000  # Pillow's limit is as it was
