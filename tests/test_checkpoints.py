"""Checkpoints are opened safely: no pickled code runs, and bad files get clear errors."""

import pickle

import pytest
import torch

from colorlab.models import Colorizer
from colorlab.models.checkpoints import CheckpointError, find_checkpoint, load_model, open_model


class Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/colorlab-pwned",))


def test_a_run_folder_opens_its_best_checkpoint_as_the_network(cli_sweep):
    opened = open_model(cli_sweep / "1_batchnorm")
    assert opened.path.name.startswith("best-") and opened.variant == "batchnorm"
    assert isinstance(opened.net, Colorizer) and not opened.net.training and opened.net.image_size == 32
    assert opened.net(torch.rand(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    assert load_model(cli_sweep / "1_batchnorm").state_dict().keys() == opened.net.state_dict().keys()


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
    with pytest.raises(CheckpointError, match="foreign.ckpt: not a colorlab model file"):
        load_model(tmp_path / "foreign.ckpt")
    with pytest.raises(CheckpointError, match="no such run folder"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoints"):
        load_model(tmp_path / "empty_run")


def test_weights_that_do_not_fit_their_network_are_refused(cli_sweep, tmp_path):
    checkpoint = torch.load(find_checkpoint(cli_sweep / "0_baseline"), weights_only=True)
    checkpoint["colorlab_model"]["network"]["decoder"]["norm"] = "batch"  # another version's network
    torch.save(checkpoint, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="other.ckpt: its weights do not fit"):
        load_model(tmp_path / "other.ckpt")


def test_a_temperature_is_refused_for_a_regression_model_and_must_be_positive(cli_sweep):
    with pytest.raises(CheckpointError, match="RegressionHead model, which has no color classes"):
        load_model(cli_sweep / "0_baseline", temperature=0.5)
