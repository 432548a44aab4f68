"""Checkpoints are rebuilt safely: no pickled code runs, and bad files get clear errors."""

import pickle

import pytest
import torch

from colorlab.checkpoints import CheckpointError, find_checkpoint, load_model


class Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/colorlab-pwned",))


def test_a_run_folder_loads_its_best_checkpoint(cli_sweep):
    model, config, path = load_model(cli_sweep / "1_batchnorm")
    assert path.name.startswith("best-") and config["model"]["variant"] == "batchnorm"
    assert not model.training and model.hparams["variant"] == "batchnorm"
    assert model(torch.rand(1, 1, 32, 32)).shape == (1, 2, 32, 32)


def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path):
    path = tmp_path / "evil.ckpt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {}, "colorlab_config": {}, "x": Exploit()}, f)
    torch.save({"state_dict": {}, "colorlab_config": {}, "x": Exploit()}, tmp_path / "evil2.ckpt")
    for bad in (path, tmp_path / "evil2.ckpt"):
        with pytest.raises(CheckpointError, match="refused to load"):
            load_model(bad)
    assert not (tmp_path / "colorlab-pwned").exists()


def test_corrupt_foreign_and_missing_checkpoints_get_clear_errors(cli_sweep, tmp_path):
    good = find_checkpoint(cli_sweep / "0_baseline").read_bytes()
    (tmp_path / "truncated.ckpt").write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="truncated.ckpt: not a readable checkpoint"):
        load_model(tmp_path / "truncated.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.ckpt")
    with pytest.raises(CheckpointError, match="not a colorlab checkpoint"):
        load_model(tmp_path / "foreign.ckpt")
    with pytest.raises(CheckpointError, match="no such run folder"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoints"):
        load_model(tmp_path / "empty_run")


def test_weights_that_do_not_fit_and_untrusted_targets_are_refused(cli_sweep, tmp_path):
    checkpoint = torch.load(find_checkpoint(cli_sweep / "0_baseline"), weights_only=True)
    checkpoint["colorlab_config"]["model"]["decoder"]["norm"] = "batch"  # another version's model
    torch.save(checkpoint, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(tmp_path / "other.ckpt")
    checkpoint["colorlab_config"]["model"]["optimizer"]["_target_"] = "os.system"
    torch.save(checkpoint, tmp_path / "target.ckpt")
    with pytest.raises(CheckpointError, match="'os.system' is not one of the classes colorlab builds"):
        load_model(tmp_path / "target.ckpt")


def test_checkpoints_with_the_old_buffer_names_load_their_color_statistics(cli_sweep, tmp_path):
    """Checkpoints written before identifiers took one spelling name the buffers colour_*."""
    from colorlab.module import LEGACY_KEYS

    ckpt = torch.load(find_checkpoint(cli_sweep / "0_baseline"), map_location="cpu", weights_only=False)
    expected = {new: ckpt["state_dict"][new].clone() for new in LEGACY_KEYS.values()}
    for old, new in LEGACY_KEYS.items():
        ckpt["state_dict"][old] = ckpt["state_dict"].pop(new)
    torch.save(ckpt, tmp_path / "old.ckpt")
    model, _, _ = load_model(tmp_path / "old.ckpt")
    assert bool(model.color_stats_ready) and model.color_stats is not None
    assert all(torch.equal(getattr(model, name).cpu(), value) for name, value in expected.items())
