"""The README's "Extend colorlab" examples train through `colorlab.train`, configured as a user would:
a class of one's own on the command line, or a config file of one's own on Hydra's search path."""

from pathlib import Path

import pytest

from colorlab.train import train
from tests.conftest import compose_config, tiny_overrides

OWN_CONFIGS = f"hydra.searchpath=[file://{Path(__file__).parent / 'helpers' / 'conf'}]"


@pytest.mark.parametrize(
    "overrides",
    [
        [OWN_CONFIGS, "model=tiny_decoder"],
        [OWN_CONFIGS, "model=tiny_decoder", "model.net.head._target_=colorlab.models.heads.ClassificationHead"],
        ["model.net.head._target_=tests.helpers.extensions.L1Head"],
        ["model.net.encoder._target_=tests.helpers.extensions.PoolingEncoder"],
        [OWN_CONFIGS, "data=random_photos"],
    ],
    ids=["decoder", "decoder with the rebalanced head", "head", "encoder", "data source"],
)
def test_an_extension_trains(overrides, photo_dir, tmp_path):
    data = [] if "data=random_photos" in overrides else ["data=folder", f"data.root={photo_dir}"]
    base = [*data, *tiny_overrides(tmp_path)]
    metrics = train(compose_config([*base, *overrides], tmp_path / "run"))
    assert metrics["train/loss"] > 0 and metrics["val/loss"] > 0
