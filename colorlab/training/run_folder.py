"""A run folder's conventions: `summary.json` (status, timing, final metrics), where checkpoints are,
what resuming means, and what a second run into the same folder is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.utilities import rank_zero_only

SUMMARY_FILE = "summary.json"


class RunSummary:
    """`summary.json` in the run folder: status, timing and final metrics, for reports without TensorBoard."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.info: dict = {}  # the model's hparams, once it is built
        self.extra: dict = {}  # more records (the feature cache's report)
        self.write("running", 0.0, None)

    def write(self, status: str, seconds: float, trainer: pl.Trainer | None, metrics=None, error=None) -> None:
        if rank_zero_only.rank != 0:  # under DDP, one summary per run: rank 0's
            return
        record = {"status": status, "train_seconds": round(seconds, 2), "hparams": self.info, **self.extra}
        if trainer is not None:
            record.update(epochs=trainer.current_epoch, global_step=trainer.global_step)
        if metrics is not None:
            record["metrics"] = metrics
        if error is not None:
            record["error"] = error
        self.path.write_text(json.dumps(record, indent=2, default=str))


def refuse_ddp_in_local_sweep(trainer: pl.Trainer) -> None:
    """Lightning starts the other DDP ranks by re-running the command line, which inside a local `-m`
    sweep would start the whole sweep again in each rank. (Under SLURM the ranks are SLURM tasks.)"""
    strategy = trainer.strategy
    launcher = getattr(strategy, "launcher", None)
    # Lightning's public API names no launcher kind: a DDP strategy that starts its ranks itself (not
    # SLURM's or torchelastic's) and cannot run inside an interactive session is the re-running one
    # (ddp_spawn answers the same and is refused too: in a sweep, run it one command at a time).
    reruns = isinstance(strategy, DDPStrategy) and launcher is not None and not launcher.is_interactive_compatible
    if not reruns or not HydraConfig.initialized():
        return
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        raise ValueError(
            "trainer=ddp inside a local -m sweep: Lightning would start each extra rank by re-running the whole "
            "sweep. Run the variants one command at a time, or sweep with hydra/launcher=slurm"
        )


def resume_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """`ckpt_path`: a checkpoint file, `last` (this run folder's newest) or a run folder: its newest
    of checkpoints/last.ckpt and checkpoints/on_exception.ckpt. Nothing to resume from is an error."""
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        return _newest_checkpoint(output_dir, f"ckpt_path=last: the run folder {output_dir}")
    path = Path(ckpt_path).expanduser().resolve()  # absolute: Lightning takes any string starting "http" for a URL
    if path.is_file():
        return str(path)
    if not path.is_dir():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file or run folder")
    return _newest_checkpoint(path, f"ckpt_path={ckpt_path}")


def _newest_checkpoint(run_dir: Path, what: str) -> str:
    found = [run_dir / "checkpoints" / name for name in ("last.ckpt", "on_exception.ckpt")]
    found = [p for p in found if p.is_file()]
    if not found:
        raise FileNotFoundError(f"{what} has no checkpoints/last.ckpt or on_exception.ckpt to resume from")
    return str(max(found, key=lambda p: p.stat().st_mtime_ns).resolve())


RUN_FILES = (SUMMARY_FILE, "checkpoints", "csv/metrics.csv")


def refuse_used_folder(output_dir: Path, ckpt_path: str | None) -> None:
    """A second run into a folder that holds one would mix their metrics and checkpoints: refused
    unless it resumes (with ckpt_path)."""
    used = [name for name in RUN_FILES if (output_dir / name).exists()]
    if used and ckpt_path is None and not ended_before_its_first_checkpoint(output_dir):
        raise ValueError(
            f"hydra.run.dir={output_dir} already holds a run ({', '.join(used)}): resume it with ckpt_path=last, "
            "or choose a new folder"
        )


def ended_before_its_first_checkpoint(output_dir: Path) -> bool:
    """A run that failed or was interrupted before writing a checkpoint or a metric (a wrong data.root,
    say): nothing to resume and nothing to lose, so the folder may be run again in place."""
    try:
        status = json.loads((output_dir / SUMMARY_FILE).read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return False
    written = list((output_dir / "checkpoints").glob("*.ckpt")) + [output_dir / "csv" / "metrics.csv"]
    return status in ("failed", "interrupted") and not any(path.exists() for path in written)


def check_image_size(image_size: int | None, stride: int) -> None:
    if image_size is not None and image_size % stride:
        raise ValueError(
            f"data.image_size={image_size}: must be a multiple of the encoder's stride {stride} "
            f"(e.g. {max(stride, image_size // stride * stride)})"
        )
