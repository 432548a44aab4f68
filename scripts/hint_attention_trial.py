"""Does hint attention add to a trained guided model? Grow the model with it, train only the attention,
and compare both on the validation split (never on a test set).

    COLORLAB_DATA=../shared/data python scripts/hint_attention_trial.py --ckpt pretrained:cats --strides 16 8 \
        --out outputs/hint_attention -- experiment=cats_unet_hints_many model.hint_simulation.p_continue=0.875 \
        model.optimizer.lr=1e-3 model.optimizer.weight_decay=0 trainer.max_epochs=6

1. **Grown**: the model with `hint_attention` at `--strides` (colorlab.models.hint_attention); the convs
   that read the attention take its channels with zero weights, so it gives the model's own colours to
   the last bit, with points or without.
2. **Trained**: `colorlab.train` with the arguments after `--`, from the grown file, every weight frozen
   but the attention's and the zero-started ones (with no weight decay, as above): without points it
   stays the model itself to the last bit, so whatever changes comes from the attention.
3. **Compared**: both at the source's decoding temperature, with the shipped propagation, on
   `--images` validation photos: PSNR gain over zero points at each count and far-region change.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import sys
from pathlib import Path

import torch

import colorlab.train
from colorlab.core import metrics
from colorlab.core.color import lab_to_srgb8
from colorlab.data import ColorDataModule
from colorlab.inference.propagation import DEFAULT_PROPAGATION, GATE
from colorlab.models import model_file
from colorlab.models.checkpoints import LoadedModel, load_model, open_model
from colorlab.models.contract import ColorModel
from colorlab.models.hint_attention import CHANNELS as ATTENDED


def grown(source: LoadedModel, strides: list[int]) -> tuple[ColorModel, bool]:
    """`source`'s network with hint attention at `strides` (zero weights where the convs read it),
    and whether its encoder's weights come from a package."""
    meta, _ = model_file.to_current(source.checkpoint)
    packaged = meta.get("encoder_weights") == "package"
    network = copy.deepcopy(source.net.describe())
    network["decoder"]["hint_attention"] = strides
    torch.manual_seed(0)
    net = type(source.net).from_description(network, packaged_weights=packaged)
    net.image_size, net.channels_last = source.net.image_size, source.net.channels_last
    trained = source.net.state_dict()
    state = {}
    for key, value in net.state_dict().items():
        old = trained.get(key)
        if old is None:  # the attention's own weights: fresh
            state[key] = value
        elif old.shape == value.shape:
            state[key] = old
        else:  # a conv that reads the attention's channels (appended last): zero there
            state[key] = torch.cat([old, old.new_zeros(old.shape[0], value.shape[1] - old.shape[1], *old.shape[2:])], 1)
    net.load_state_dict(state)
    return net, packaged


def attention_only(net: ColorModel) -> None:
    """Freeze every weight but the attention's and the zero-started input channels that read it."""
    decoder = net.decoder
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    for parameter in decoder.attention.parameters():
        parameter.requires_grad_(True)
    for level, stride in enumerate(decoder.strides):
        if str(stride) in decoder.attention:
            conv = next(m for m in decoder.ups[level] if isinstance(m, torch.nn.Conv2d))
            keep = torch.zeros_like(conv.weight)
            keep[:, -ATTENDED:] = 1.0
            conv.weight.requires_grad_(True)
            conv.weight.register_hook(lambda grad, keep=keep: grad * keep)


def tuning_script():
    """scripts/tune_propagation.py, whose sweep (`network_outputs`, `score`) this compares with."""
    spec = importlib.util.spec_from_file_location("tune_propagation", Path(__file__).with_name("tune_propagation.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compare(models: dict[str, ColorModel], root: Path, images: int, counts: list[int]) -> None:
    tune = tuning_script()
    data = ColorDataModule(root, image_size=224, batch_size=16, cache_dir=Path("outputs/cache"))
    data.setup()
    with torch.no_grad():
        for name, model in models.items():
            batches = tune.network_outputs(model, data.eval_dataloader("val", max_images=images), counts, 6, 0)
            zero = torch.cat([metrics.psnr(lab_to_srgb8(t.lightness, a), t.rgb) for t, a, _ in batches])
            result = tune.score(batches, DEFAULT_PROPAGATION, GATE)
            gains = " ".join(f"{n}: {gain:+.3f}" for n, gain in result["refined"].items() if n)
            far = result["far_change_at_1"]["refined"]
            print(f"{name}: zero points {float(zero.mean()):.3f} dB; gain {gains}; far change at 1: {far:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", default="pretrained:cats")
    parser.add_argument("--strides", type=int, nargs="+", default=[16, 8])
    parser.add_argument("--root", type=Path, default=Path("../shared/data/cats"))
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--counts", type=int, nargs="+", default=[0, 1, 2, 5, 10, 20, 50])
    parser.add_argument("--out", type=Path, default=Path("outputs/hint_attention"))
    args, overrides = parser.parse_known_args()
    overrides = [o for o in overrides if o != "--"]
    torch.set_flush_denormal(True)
    opened = open_model(args.ckpt)
    source = opened.net
    args.out.mkdir(parents=True, exist_ok=True)
    net, packaged = grown(opened, args.strides)
    model_file.save(args.out / "grown.ckpt", net, "unet_hints", package_encoder=packaged)

    def start_from_grown(net: ColorModel, path: str) -> None:
        start_from(net, path)
        attention_only(net)

    start_from = colorlab.train.start_from
    colorlab.train.start_from = start_from_grown  # the run's own init_from, then the freezing
    run = args.out / "run"
    strides = ",".join(map(str, args.strides))
    sys.argv = ["colorlab.train", *overrides, f"init_from={args.out / 'grown.ckpt'}",
                f"model.net.decoder.hint_attention=[{strides}]", f"hydra.run.dir={run}"]  # fmt: skip
    try:
        colorlab.train.main()
    except SystemExit as stop:
        if stop.code:
            raise
    trained = load_model(run / "checkpoints" / "last.ckpt", temperature=source.head.temperature)
    compare({"source": source, "with attention": trained}, args.root, args.images, sorted(set(args.counts)))


if __name__ == "__main__":
    main()
