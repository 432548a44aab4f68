"""Callbacks that tests add to real CLI runs (`+callbacks.<name>._target_=tests.callbacks...`)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

import pytorch_lightning as pl
import torch


class KillAtStep(pl.Callback):
    """SIGKILLs its own process once `global_step` reaches `step`: a crash nothing can clean up after."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class RecordBatches(pl.Callback):
    """Writes `<folder>/rank<r>.json`: a hash per training and validation image this rank saw, and
    whether batch norm was synchronised. Hashes ignore a horizontal flip (the mirror augmentation)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.seen: dict[str, list[str]] = {"train": [], "val": []}

    @staticmethod
    def _hashes(batch) -> list[str]:
        ab = batch[1].float().cpu()
        return [
            min(hashlib.sha1(view.half().numpy().tobytes()).hexdigest() for view in (item, item.flip(-1)))
            for item in ab
        ]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen["train"] += [f"{trainer.current_epoch}:{h}" for h in self._hashes(batch)]

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking:
            self.seen["val"] += [f"{trainer.current_epoch}:{h}" for h in self._hashes(batch)]

    def on_fit_end(self, trainer, pl_module) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {
            **self.seen,
            "world_size": trainer.world_size,
            "sync_batchnorm": any(isinstance(m, torch.nn.SyncBatchNorm) for m in pl_module.modules()),
        }
        (self.folder / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


class InterruptAtStep(pl.Callback):
    """Sends its own process SIGINT (what Ctrl-C sends) once `global_step` reaches `step`."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            # as in a terminal, even when this process was started with SIGINT ignored (`nohup ... &`)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os.kill(os.getpid(), signal.SIGINT)
