"""The GPU check: one short command, a table of what the project's GPU paths do on a lent GPU.

    bash benchmarks/gpu.sh            # or: python benchmarks/gpu.py [--quick] [--device cuda]

Measured on the device (interleaved rounds, benchmarks/harness.py), with random encoder weights (the
cost does not depend on them) and synthetic data (nothing to download):
  1. VGG-16 + the paper's decoder, training step images/s at 224 px, batch 32: fp32, bf16 autocast,
     bf16 + channels-last, and bf16 + channels-last + torch.compile.
  2. Feature-cache build photos/s (Lite0, 192 px, two views), `FeatureCache.build` from JPEGs on disk.
  3. colorize photos/s on 500x375 JPEGs (VGG-16), and the bare forward on the same photos.
  4. A 2-process DDP smoke test on this one device (gloo: NCCL refuses two ranks on one GPU):
     both ranks take a step and end with identical decoder weights.
Prints the measurements and writes benchmarks/gpu_results.json. About 3 minutes on one H200; `--device cpu
--quick` checks the script itself on a CPU.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from harness import interleave, ratio, report  # benchmarks/harness.py
from PIL import Image

from colorlab.models import Decoder, EfficientNetLite0Encoder, VGG16Encoder
from colorlab.training.module import ColorizationModule

HERE = Path(__file__).resolve().parent


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_rates(device: torch.device, size: int, batch: int, steps: int, rounds: int) -> dict:
    """Images/s of a full training step in each precision and layout, interleaved."""
    lightness = torch.rand(batch, 1, size, size, device=device)
    ab = torch.rand(batch, 2, size, size, device=device) * 0.4 - 0.2
    dtype = torch.bfloat16

    def make(bf16: bool, channels_last: bool, compiled: bool):
        torch.manual_seed(0)
        module = ColorizationModule(
            VGG16Encoder(None), Decoder, functools.partial(torch.optim.Adam, lr=1e-3), channels_last=channels_last
        ).to(device)
        optimizer = module.configure_optimizers()
        module.train()

        def step():
            with torch.autocast(device.type, dtype=dtype, enabled=bf16):
                loss, _, _ = module._step((lightness, ab))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        run = torch.compile(step) if compiled else step
        for _ in range(3):  # warm-up (and compilation)
            run()
        synchronize(device)

        def measure() -> float:
            start = time.perf_counter()
            for _ in range(steps):
                run()
            synchronize(device)
            return steps * batch / (time.perf_counter() - start)

        return measure

    runs = {
        "fp32": make(False, False, False),
        "bf16": make(True, False, False),
        "bf16 + channels-last": make(True, True, False),
    }
    try:
        runs["bf16 + channels-last + compile"] = make(True, True, True)
    except Exception as err:  # a compiler toolchain missing on the machine: say so, measure the rest
        print(f"torch.compile unavailable here: {type(err).__name__}: {str(err)[:200]}")
    values = interleave(runs, rounds)
    ratios = [ratio(values, name, "fp32", f"{name} / fp32") for name in runs if name != "fp32"]
    settings = f"VGG-16 + baseline decoder, {batch} x {size}px, {steps} steps per round, {device_name(device)}"
    return report("gpu train step", settings, "images/s", values, ratios)


def photos(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    """Synthetic smooth color photos as JPEGs (no dataset needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
        paths.append(folder / f"p{i:04d}.jpg")
        image.save(paths[-1], quality=90)
    return paths


def cache_rate(device: torch.device, tmp: Path, count: int, rounds: int) -> dict:
    from colorlab.core.color import rgb_to_lab
    from colorlab.data.feature_cache import FeatureCache
    from colorlab.data.images import ImageFiles
    from colorlab.data.transforms import eval_transform

    files = photos(tmp / "cache-photos", count, (256, 256))
    encoder = EfficientNetLite0Encoder(None).to(device).eval()

    def load(paths):
        return ImageFiles(paths, *eval_transform(192))

    lightness = rgb_to_lab(torch.stack([load(files)[i] for i in range(len(files))]).to(device))[0]

    def build() -> float:
        folder = tmp / f"cache-{time.perf_counter_ns()}"
        start = time.perf_counter()
        FeatureCache(folder, encoder, 192).build(files, load, device, batch_size=64)
        synchronize(device)
        return len(files) / (time.perf_counter() - start)

    @torch.no_grad()
    def bare() -> float:
        start = time.perf_counter()
        for i in range(0, len(files), 64):
            light = lightness[i : i + 64]
            encoder(torch.cat([light, light.flip(-1)]))
        synchronize(device)
        return len(files) / (time.perf_counter() - start)

    build(), bare()  # warm-up
    values = interleave({"cache build": build, "bare encoder (2 views)": bare}, rounds)
    settings = f"EfficientNet-Lite0, {count} photos 256 px -> 192 px, two views, batch 64, {device_name(device)}"
    build_ratio = ratio(values, "cache build", "bare encoder (2 views)", target=0.8)
    return report("gpu cache build", settings, "photos/s", values, [build_ratio])


def colorize_rate(device: torch.device, tmp: Path, count: int, rounds: int) -> dict:
    from colorize_throughput import colorize_config, make_checkpoint  # benchmarks/colorize_throughput.py

    from colorlab.colorize import run_colorize
    from colorlab.core.color import rgb_to_lab
    from colorlab.inference.photo import network_size
    from colorlab.models.checkpoints import load_model

    folder = tmp / "colorize-photos"
    photos(folder, count, (500, 375))
    ckpt = make_checkpoint(tmp, "vgg16")
    cfg = colorize_config(ckpt, folder, tmp / "colorized", device.type, 16)
    run_colorize(cfg)  # warm-up
    model = load_model(ckpt, device)
    h, w = network_size(375, 500, 224)
    rgb = torch.from_numpy(np.stack([np.asarray(Image.open(p).resize((w, h))) for p in sorted(folder.glob("*.jpg"))]))
    lightness = rgb_to_lab(rgb.permute(0, 3, 1, 2).to(device))[0]

    def pipeline() -> float:
        start = time.perf_counter()
        run_colorize(cfg)
        return count / (time.perf_counter() - start)

    @torch.no_grad()
    def bare() -> float:
        start = time.perf_counter()
        for i in range(0, count, 16):
            model(lightness[i : i + 16])
        synchronize(device)
        return count / (time.perf_counter() - start)

    values = interleave({"colorize pipeline": pipeline, "bare model forward": bare}, rounds)
    settings = f"VGG-16, {count} JPEGs 500x375, batch 16, {device_name(device)}"
    colorize_ratio = ratio(values, "colorize pipeline", "bare model forward", target=0.9)
    return report("gpu colorize", settings, "photos/s", values, [colorize_ratio])


def _ddp_worker(rank: int, world: int, port: int, device_type: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    device = torch.device(device_type, 0) if device_type == "cuda" else torch.device("cpu")
    torch.manual_seed(0)  # same initial weights on both ranks
    module = ColorizationModule(EfficientNetLite0Encoder(None), Decoder, functools.partial(torch.optim.Adam, lr=1e-3))
    module = module.to(device)
    ddp = torch.nn.parallel.DistributedDataParallel(module.decoder)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=1e-3)
    torch.manual_seed(1 + rank)  # different data per rank
    lightness, ab = torch.rand(4, 1, 64, 64, device=device), torch.rand(4, 2, 64, 64, device=device) * 0.2
    with torch.no_grad():
        features = module.encoder(lightness)
    loss = module.head.loss(ddp(features), ab)  # gradients all-reduced across the two ranks
    loss.backward()
    optimizer.step()
    digest = float(sum(p.detach().double().sum() for p in module.decoder.parameters()))
    Path(out, f"rank{rank}.json").write_text(json.dumps({"loss": float(loss), "weights": digest}))
    dist.destroy_process_group()


def ddp_smoke(device: torch.device, tmp: Path) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    mp.spawn(_ddp_worker, args=(2, port, device.type, str(tmp)), nprocs=2, join=True)
    ranks = [json.loads(Path(tmp, f"rank{r}.json").read_text()) for r in range(2)]
    same = abs(ranks[0]["weights"] - ranks[1]["weights"]) < 1e-6 * max(1.0, abs(ranks[0]["weights"]))
    different_data = ranks[0]["loss"] != ranks[1]["loss"]
    result = {"ok": same and different_data, "seconds": time.perf_counter() - start, "ranks": ranks}
    print(f"ddp smoke (2 processes, gloo, {device_name(device)}): "
          f"{'ok' if result['ok'] else 'FAILED'}: losses {ranks[0]['loss']:.4f} / {ranks[1]['loss']:.4f}, "
          f"identical decoder weights after the step: {same}")  # fmt: skip
    return result


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny settings: checks the script, measures little")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device here (use --device cpu --quick to check the script)")
    torch.backends.cudnn.benchmark = True
    quick = args.quick
    results = {"device": device_name(device), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rounds = 2 if quick else 3
        results["train"] = training_rates(device, 64 if quick else 224, 4 if quick else 32, 2 if quick else 10, rounds)
        results["cache"] = cache_rate(device, tmp, 16 if quick else 512, rounds)
        results["colorize"] = colorize_rate(device, tmp, 8 if quick else 96, rounds)
        try:
            results["ddp"] = ddp_smoke(device, tmp)
        except Exception as err:
            results["ddp"] = {"ok": False, "error": f"{type(err).__name__}: {err}"}
            print(f"ddp smoke: not possible here: {results['ddp']['error'][:300]}")
    if device.type == "cuda":  # a CPU run only checks the script
        out = HERE / "gpu_results.json"
        out.write_text(json.dumps(results, indent=2))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
