"""The training step the benchmarks time: one definition, so every benchmark measures the same thing."""

from __future__ import annotations

from collections.abc import Callable

import torch

from colorlab.training.module import ColorizationModule


def train_step(module: ColorizationModule, bf16: bool = True) -> Callable[[tuple], None]:
    """A closure running one step on a batch: `module._step` (under bf16 CPU autocast when `bf16`),
    backward, and the module's own optimizer (Adam from its config)."""
    optimizer = module.configure_optimizers()
    module.train()

    def step(batch: tuple) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, _, _ = module._step(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step
