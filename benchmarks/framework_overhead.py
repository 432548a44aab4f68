"""Framework overhead: images/s of `Trainer.fit` vs a bare PyTorch loop, same model, same batches.

    python benchmarks/framework_overhead.py [--size 128] [--batch 16] [--steps 24] [--encoder vgg16]

The model, trainer, loggers and callbacks come from conf/ exactly as `python -m colorlab.train
trainer=cpu model.net.channels_last=true` builds them (TensorBoard + CSV logging, checkpoints, throughput
and LR callbacks); validation is off so that only training steps are timed. The bare loop runs the
same module's step in the same precision (trainer=cpu's choice for this CPU) with the same Adam.
Batches are made once, in memory, and both see them in the same order; the first steps are warm-up.
The two alternate for `--rounds` rounds (benchmarks/harness.py); prints images/s and fit / bare.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import hydra
import pytorch_lightning as pl
import torch
from harness import interleave, ratio, report  # benchmarks/harness.py
from hydra import compose, initialize_config_dir
from steps import train_step  # benchmarks/steps.py
from torch.utils.data import DataLoader

from colorlab.core.config import CONFIG_DIR, register_resolvers

WARMUP = 4
register_resolvers()  # trainer=cpu picks its precision through ${colorlab.cpu_precision:}


class StepClock(pl.Callback):
    """Wall time at the end of every training batch."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.ends.append(time.perf_counter())


def config(args, out: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=[
            f"model/net/encoder={args.encoder}", "model.net.encoder.weights=null", "model.net.channels_last=true",
            "trainer=cpu", f"paths.output_dir={out}", "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0",
            "trainer.enable_progress_bar=false", "trainer.max_epochs=1",
        ])  # fmt: skip


def images_per_second(ends: list[float], batch: int) -> float:
    timed = ends[WARMUP:]
    return (len(timed) - 1) * batch / (timed[-1] - timed[0])


def fit(cfg, batches) -> float:
    torch.manual_seed(0)
    model = hydra.utils.instantiate(cfg.model)
    clock = StepClock()
    callbacks = [hydra.utils.instantiate(c) for c in cfg.callbacks.values()] + [clock]
    loggers = [hydra.utils.instantiate(c) for c in cfg.logger.values()]
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    trainer.fit(model, train_dataloaders=DataLoader(batches, batch_size=None))
    return images_per_second(clock.ends, batches[0][0].shape[0])


def bare(cfg, batches) -> float:
    torch.manual_seed(0)
    step = train_step(hydra.utils.instantiate(cfg.model), bf16=str(cfg.trainer.precision).startswith("bf16"))
    ends = []
    for batch in batches:
        step(batch)
        ends.append(time.perf_counter())
    return images_per_second(ends, batches[0][0].shape[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--encoder", default="vgg16", choices=["vgg16", "efficientnet_lite0"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    batches = [
        (torch.rand(args.batch, 1, args.size, args.size), torch.rand(args.batch, 2, args.size, args.size) * 0.4 - 0.2)
        for _ in range(args.steps)
    ]
    with tempfile.TemporaryDirectory() as out:
        cfg = config(args, out)
        values = interleave(
            {"bare loop": lambda: bare(cfg, batches), "Trainer.fit": lambda: fit(cfg, batches)}, args.rounds
        )
    settings = (
        f"{args.encoder}, {args.batch} x {args.size}px, precision {cfg.trainer.precision} + channels-last, "
        f"{args.steps - WARMUP} timed steps, {torch.get_num_threads()} threads"
    )
    report(
        "framework_overhead",
        settings,
        "images/s",
        values,
        [ratio(values, "Trainer.fit", "bare loop", "fit / bare loop")],
    )


if __name__ == "__main__":
    main()
