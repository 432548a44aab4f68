"""Colorize your photos: `python -m colorlab.colorize ckpt=<run or .ckpt> input=<files|folders|globs> output=<dir>`.

Every photo is colorized at its original resolution. A file that cannot be read gets one line with
the reason and the rest go on; the command ends with `N colorized, M skipped, K failed` and exits
non-zero when anything failed. Inputs are never modified.
"""

from __future__ import annotations

import glob
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, ListConfig
from PIL import Image
from tqdm import tqdm

from colorlab.checkpoints import CheckpointError, load_model
from colorlab.data.files import IMAGE_EXTENSIONS
from colorlab.inference import assemble, open_image, predict_ab, recombine, split_alpha
from colorlab.train import CONFIG_DIR

log = logging.getLogger(__name__)

FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp", "tif": ".tif", "tiff": ".tif", "bmp": ".bmp"}
NO_ALPHA = {".jpg", ".jpeg", ".bmp"}


@dataclass
class Job:
    source: Path
    target: Path


@dataclass
class Tally:
    colorized: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"{self.colorized} colorized, {self.skipped} skipped, {len(self.failed)} failed"


def plan(inputs: list[str], output: Path, recursive: bool, fmt: str) -> tuple[list[Job], list[str]]:
    """(jobs, problems): each input photo with its output path; folders keep their layout under `output`."""
    jobs, problems, out_dir = [], [], output.resolve()
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(
                p
                for p in path.glob(pattern)
                if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and out_dir not in p.resolve().parents
            )
            jobs += [Job(p, output / p.relative_to(path)) for p in found]
        elif path.is_file():
            jobs.append(Job(path, output / path.name))
        elif matches := sorted(glob.glob(str(path), recursive=True)):
            jobs += [Job(Path(m), output / Path(m).name) for m in matches if Path(m).is_file()]
        else:
            problems.append(f"{item}: no such file, folder or matching glob")
    for job in jobs:
        if fmt != "same":
            job.target = job.target.with_suffix(FORMATS[fmt])
    return jobs, problems


def write(image: Image.Image, target: Path, quality: int) -> None:
    """Save atomically (a temporary file, then rename): an interrupted run leaves no half-written photo."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() in NO_ALPHA and image.mode == "RGBA":
        image = image.convert("RGB")  # JPEG/BMP cannot store alpha
    tmp = target.with_name(f".{target.name}.part")
    options = {"quality": quality} if target.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
    image.save(tmp, format=Image.registered_extensions()[target.suffix.lower()], **options)
    tmp.replace(target)


def run_colorize(cfg: DictConfig) -> Tally:
    if cfg.format not in ("same", *FORMATS):
        raise ValueError(f"format={cfg.format}: choose same, {', '.join(FORMATS)}")
    if cfg.saturation < 0:
        raise ValueError(f"saturation={cfg.saturation}: must be >= 0")
    model, config, ckpt = load_model(cfg.ckpt, cfg.device, cfg.temperature)
    device = model.device
    size = cfg.size or config["data"]["image_size"]
    inputs = list(cfg.input) if isinstance(cfg.input, ListConfig | list) else [str(cfg.input)]
    jobs, problems = plan(inputs, Path(cfg.output), cfg.recursive, cfg.format)
    tally = Tally(failed=problems)
    for problem in problems:
        print(f"failed: {problem}", file=sys.stderr)
    log.info("colorizing %d photos with %s (network size %d, %s)", len(jobs), ckpt, size, device)
    show = sys.stderr.isatty() if cfg.progress == "auto" else bool(cfg.progress)
    stride = model.encoder.stride
    with tqdm(total=len(jobs), unit="photo", disable=not show) as bar:
        for start in range(0, len(jobs), cfg.batch_size):
            chunk = jobs[start : start + cfg.batch_size]
            for job, reason in _colorize_batch(chunk, model, size, stride, cfg):
                if reason is None:
                    tally.colorized += 1
                elif reason.startswith("skipped"):
                    tally.skipped += 1
                    log.info("%s: %s", job.source, reason)
                else:
                    tally.failed.append(f"{job.source}: {reason}")
                    print(f"failed: {job.source}: {reason}", file=sys.stderr)
                bar.update()
    print(tally.line())
    return tally


def _colorize_batch(
    jobs: list[Job], model: torch.nn.Module, size: int, stride: int, cfg: DictConfig
) -> list[tuple[Job, str | None]]:
    """[(job, None when done, else why not: 'skipped: ...' or the failure)] for up to batch_size photos."""
    outcomes: dict[int, str | None] = {}
    loaded: list[tuple[int, np.ndarray, np.ndarray | None]] = []
    for i, job in enumerate(jobs):
        if job.target.resolve() == job.source.resolve():
            outcomes[i] = "output would overwrite the input; choose another output folder or format"
        elif job.target.exists() and not cfg.overwrite:
            outcomes[i] = "skipped: output exists (overwrite=true to redo)"
        else:
            try:
                loaded.append((i, *split_alpha(open_image(job.source, cfg.max_pixels))))
            except (OSError, ValueError, SyntaxError) as err:  # what PIL raises for unreadable files
                outcomes[i] = str(err) or type(err).__name__
    predictions = predict_ab(model, [rgb for _, rgb, _ in loaded], size, stride) if loaded else []
    for (i, rgb, alpha), ab in zip(loaded, predictions, strict=True):
        try:
            colour = recombine(rgb, ab, cfg.saturation)
            write(assemble(rgb, colour, alpha, cfg.side_by_side), jobs[i].target, cfg.quality)
            outcomes[i] = None
        except (OSError, ValueError) as err:
            outcomes[i] = f"cannot write {jobs[i].target}: {err}"
    return [(job, outcomes[i]) for i, job in enumerate(jobs)]


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="colorize")
def _main(cfg: DictConfig) -> None:
    try:
        tally = run_colorize(cfg)
    except (CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    if tally.failed:
        sys.exit(1)


def main() -> None:
    """Console script `colorlab-colorize` (same arguments)."""
    _main()


if __name__ == "__main__":
    main()
