"""Colorizing files: photos and videos named by files, folders and globs, into an output folder.

Every photo is colorized at its original resolution. A file that cannot be read gets one line with
the reason and the rest go on; the command ends with `N colorized, M skipped, K failed` and exits
non-zero when anything failed. Inputs are never modified.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from colorlab.core.atomic import atomic_write, remove_stale_parts
from colorlab.core.config import finite_number, whole_number
from colorlab.data.images import DEFAULT_MAX_PIXELS, open_image, pillow_limit_at_least, too_large
from colorlab.data.photo_files import IMAGE_EXTENSIONS
from colorlab.inference.guidance import Guidance, HintError, read_hints_file, reference_distribution
from colorlab.inference.photo import assemble, default_size, predict_ab, predict_guided, recombine, split_alpha
from colorlab.inference.video import VIDEO_EXTENSIONS, VideoError, colorize_video
from colorlab.models.contract import ColorModel

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
    found: int = 0
    failed: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"{self.colorized} colorized, {self.skipped} skipped, {len(self.failed)} failed"


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


class PlanError(ValueError):
    """The inputs and output cannot be colorized as asked (before any work); the message says why."""


def plan(inputs: list[str], output: Path, recursive: bool, fmt: str) -> tuple[list[Job], list[str]]:
    """(jobs, problems): each input photo with its output path; folders keep their layout under `output`.

    An output folder inside an input folder is left out of that folder's scan (re-runs never colorize
    their own outputs); an output folder equal to an input folder is refused, as are two inputs that
    would get the same output file.
    """
    if output.exists() and not output.is_dir():
        raise PlanError(f"output={output} is a file, not a folder: choose a folder for the colorized photos")
    jobs, problems, out_dir = [], [], output.resolve()
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            folder = path.resolve()
            if folder == out_dir:
                raise PlanError(
                    f"output={output} is the input folder {item}: the color versions would replace the photos; "
                    "choose another output folder"
                )
            inside = folder in out_dir.parents  # the output folder lies inside this input folder
            pattern = "**/*" if recursive else "*"
            found = sorted(
                p
                for p in path.glob(pattern)
                if p.is_file()
                and p.suffix.lower() in (*IMAGE_EXTENSIONS, *VIDEO_EXTENSIONS)
                and not (inside and out_dir in p.resolve().parents)
                and not p.name.startswith(".")
            )
            jobs += [Job(p, output / p.relative_to(path)) for p in found]
        elif path.is_file():
            jobs.append(Job(path, output / path.name))
        elif matches := sorted(glob.glob(str(path), recursive=True)):
            jobs += [Job(Path(m), output / Path(m).name) for m in matches if Path(m).is_file()]
        else:
            problems.append(f"{item}: no such file, folder or matching glob")
    if fmt != "same":
        videos = [job for job in jobs if is_video(job.source)]
        problems += [f"{job.source}: format={fmt} is for photos; a video keeps its own container" for job in videos]
        jobs = [job for job in jobs if not is_video(job.source)]
        for job in jobs:
            job.target = job.target.with_suffix(FORMATS[fmt])
    refuse_collisions(jobs)
    linked = [job for job in jobs if link_below(output, job.target) is not None]
    problems += [
        f"{job.source}: {link_below(output, job.target)} inside output={output} is a link; "
        "colorlab writes only inside the output folder and never follows a link there"
        for job in linked
    ]
    return [job for job in jobs if job not in linked], problems


def link_below(folder: Path, target: Path) -> Path | None:
    """The first link among the existing folders between `folder` (itself the user's choice) and
    `target`'s own folder, else None: a link there would move the write outside the output folder."""
    current = folder
    for part in target.parent.relative_to(folder).parts:
        current = current / part
        if current.is_symlink():
            return current
        if not current.exists():
            return None
    return None


def refuse_collisions(jobs: list[Job]) -> None:
    """Two inputs that would write the same output file (a/x.jpg and b/x.jpg; q.jpg and q.png with
    format=png): refused before any work, with the list, instead of one silently replacing the other."""
    by_target: dict[Path, list[Path]] = {}
    for job in jobs:
        by_target.setdefault(job.target.resolve(), []).append(job.source)
    clashes = {target: sources for target, sources in by_target.items() if len(sources) > 1}
    if clashes:
        listed = "; ".join(f"{target} <- {', '.join(map(str, sources))}" for target, sources in clashes.items())
        raise PlanError(
            f"{len(clashes)} output file(s) would be written by more than one input: {listed}. "
            "Colorize them into separate output folders, or give the folders (their layout is kept)"
        )


def overwrites_an_input(target: Path, sources: set[Path]) -> bool:
    """True when writing `target` would replace any input photo (same path, or the same file by a link)."""
    resolved = target.resolve()
    if resolved in sources:
        return True
    if not target.exists():
        return False
    stat = target.stat()
    return any((s.st_dev, s.st_ino) == (stat.st_dev, stat.st_ino) for s in map(_stat, sources) if s is not None)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


def write(image: Image.Image, target: Path, quality: int) -> None:
    """Save atomically (a temporary file, then rename): an interrupted run leaves no half-written photo."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() in NO_ALPHA and image.mode == "RGBA":
        image = image.convert("RGB")  # JPEG/BMP cannot store alpha
    options = {"quality": quality} if target.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
    fmt = Image.registered_extensions()[target.suffix.lower()]
    atomic_write(target, lambda tmp: image.save(tmp, format=fmt, **options))


@dataclass(frozen=True)
class Options:
    """How photos and videos are colorized and written (conf/colorize.yaml's settings)."""

    recursive: bool = True
    batch_size: int = 8
    size: int | None = None
    saturation: float = 1.0
    temporal: float = 0.7
    side_by_side: bool = False
    format: str = "same"
    quality: int = 95
    overwrite: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    progress: str | bool = "auto"

    def check(self) -> None:
        """Refuse settings that would run but make no sense, naming the key."""
        if self.format not in ("same", *FORMATS):
            raise ValueError(f"format={self.format}: choose same, {', '.join(FORMATS)}")
        finite_number(self.saturation, "saturation", 0.0)
        finite_number(self.temporal, "temporal", 0.0, 1.0)
        whole_number(self.batch_size, "batch_size", 1)
        whole_number(self.quality, "quality", 1, 100)
        if self.max_pixels is not None:
            whole_number(self.max_pixels, "max_pixels", 1)
        if self.size is not None:
            whole_number(self.size, "size", 1, 4096)


def read_guidance(
    model: ColorModel, jobs: list[Job], hints: str | Path | None, reference: str | Path | None, max_pixels: int | None
) -> Guidance:
    """The run's hints, checked before any work: a model that takes them, a readable hints file whose
    every point lies in its photo, a readable reference photo. HintError or OSError naming the file."""
    if hints is None and reference is None:
        return Guidance()
    try:
        model.require_hints(f"hints={hints}" if hints else f"reference={reference}")
    except ValueError as err:
        raise HintError(str(err)) from err
    photos = [job.source for job in jobs if not is_video(job.source)]
    guidance = Guidance()
    if hints is not None:
        guidance.points = read_hints_file(hints, photos, lambda photo: _photo_size(photo, max_pixels))
    if reference is not None:
        guidance.reference = reference_distribution(open_image(reference, max_pixels).convert("RGB"))
    if any(is_video(job.source) for job in jobs):
        log.warning("hints and reference photos guide photos; videos are colorized without them")
    return guidance


def _photo_size(photo: Path, max_pixels: int | None) -> tuple[int, int] | None:
    """(width, height) of a photo as colorize sees it (upright), from its header when it has no EXIF turn;
    None when it cannot be read within `max_pixels` (that photo then fails alone, with its reason)."""
    try:
        with pillow_limit_at_least(max_pixels), Image.open(photo) as img:
            width, height = img.size
            orientation = img.getexif().get(0x0112, 1)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    if too_large(width, height, max_pixels) is not None:
        return None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def colorize_inputs(
    model: ColorModel,
    inputs: list[str],
    output: Path,
    options: Options,
    hints: str | Path | None = None,
    reference: str | Path | None = None,
) -> Tally:
    """Colorize every photo and video that `inputs` (files, folders, globs) name into `output`; `hints`
    (a hints file) and `reference` (a photo) guide a model trained with hints."""
    options.check()
    size = default_size(model, options.size)
    jobs, problems = plan(inputs, output, options.recursive, options.format)
    guidance = read_guidance(model, jobs, hints, reference, options.max_pixels)
    tally = Tally(failed=problems, found=len(jobs))
    for problem in problems:
        print(f"failed: {problem}", file=sys.stderr)
    if not jobs:
        print(f"warning: no images found in input={inputs}", file=sys.stderr)
    removed = remove_stale_parts({job.target.parent for job in jobs})
    if removed:
        log.info("removed %d temporary files left by an interrupted colorize", removed)
    sources = {job.source.resolve() for job in jobs}
    log.info("colorizing %d %s (network size %d, %s)", len(jobs), "file" if len(jobs) == 1 else "files", size,
             model.device)  # fmt: skip
    show = sys.stderr.isatty() if options.progress == "auto" else bool(options.progress)
    videos = [job for job in jobs if is_video(job.source)]
    photos = [job for job in jobs if not is_video(job.source)]
    for job in videos:
        _record(tally, job, _colorize_one_video(job, model, size, options, sources, show))
    with tqdm(total=len(photos), unit="photo", disable=not show) as bar:

        def done(job: Job, reason: str | None) -> None:
            _record(tally, job, reason)
            bar.update()

        colorize_photos(photos, model, size, options, sources, done, guidance)
    print(tally.line())
    return tally


def _record(tally: Tally, job: Job, reason: str | None) -> None:
    if reason is None:
        tally.colorized += 1
    elif reason.startswith("skipped"):
        tally.skipped += 1
        log.info("%s: %s", job.source, reason)
    else:
        tally.failed.append(f"{job.source}: {reason}")
        print(f"failed: {job.source}: {reason}", file=sys.stderr)


def _blocked(job: Job, options: Options, sources: set[Path]) -> str | None:
    """Why `job` must not be written (an input would be replaced, or the output exists), else None."""
    if overwrites_an_input(job.target, sources):  # whatever `overwrite` says
        return f"output {job.target} would overwrite an input; choose another output folder or format"
    if job.target.exists() and not options.overwrite:
        return "skipped: output exists (overwrite=true to redo)"
    return None


def _colorize_one_video(
    job: Job, model: ColorModel, size: int, options: Options, sources: set[Path], show: bool
) -> str | None:
    """Colorize one video (None when done, else why not), with a progress bar over its frames."""
    blocked = _blocked(job, options, sources)
    if blocked:
        return blocked
    if importlib.util.find_spec("av") is None:
        return "videos need PyAV: pip install 'colorlab[video]'"
    with tqdm(unit="frame", desc=job.source.name, disable=not show) as bar:
        try:
            report = colorize_video(
                job.source,
                job.target,
                model,
                size,
                options.saturation,
                options.temporal,
                options.batch_size,
                bar.update,
                max_pixels=options.max_pixels,
            )
        except (VideoError, OSError) as err:
            return str(err)
    log.info(
        "%s: %d frames, flicker %.2f ab units over static pixels, %d scene cuts",
        job.target, report.frames, report.flicker, report.scene_cuts,
    )  # fmt: skip
    return None


READ_AHEAD_PIXELS = 40_000_000  # a batch holding more decoded pixels than this is read and written alone


@dataclass
class Loaded:
    """One batch after decoding: the photos that can be colorized, and the outcome of those that cannot."""

    jobs: list[Job]
    photos: dict[int, tuple[np.ndarray, np.ndarray | None]]  # job index -> (RGB uint8, alpha or None)
    outcomes: dict[int, str | None]  # job index -> why it is not colorized

    @property
    def pixels(self) -> int:
        return sum(rgb.shape[0] * rgb.shape[1] for rgb, _ in self.photos.values())


def colorize_photos(
    photos: list[Job],
    model: ColorModel,
    size: int,
    options: Options,
    sources: set[Path],
    done,
    guidance: Guidance | None = None,
) -> None:
    """Colorize `photos` in batches, calling `done(job, None or why not)` for each, in order.

    While the network runs on one batch, one thread decodes the next batch and another recombines the
    previous one with its full-resolution L and encodes and writes it (Pillow's coding runs outside the
    GIL; that thread's torch work runs on one core, its own OpenMP setting, so it does not fight the
    network's threads for both). At most three batches are held, each of at most READ_AHEAD_PIXELS
    decoded pixels; a bigger batch (24-megapixel photos) is read, colorized and written alone, so
    huge photos hold no more memory than one batch, as when everything ran in turn.
    """
    batches = [photos[i : i + options.batch_size] for i in range(0, len(photos), options.batch_size)]
    if not batches:
        return
    one_core = {"initializer": torch.set_num_threads, "initargs": (1,)}  # per thread: OpenMP's own setting
    with (
        ThreadPoolExecutor(1, "colorize-read") as reader,
        ThreadPoolExecutor(1, "colorize-write", **one_core) as writer,
    ):
        reading = reader.submit(_load_batch, batches[0], options, sources)
        writing = None
        for k in range(len(batches)):
            loaded = reading.result()
            alone = loaded.pixels > READ_AHEAD_PIXELS
            following = batches[k + 1] if k + 1 < len(batches) else None
            if following and not alone:
                reading = reader.submit(_load_batch, following, options, sources)
            predictions = _predict_batch(loaded, model, size, guidance or Guidance())
            if writing is not None:
                _report(writing.result(), done)
            writing = writer.submit(_write_batch, loaded, predictions, options)
            if alone:
                _report(writing.result(), done)
                writing = None
                if following:
                    reading = reader.submit(_load_batch, following, options, sources)
        if writing is not None:
            _report(writing.result(), done)


def _report(loaded: Loaded, done) -> None:
    for i, job in enumerate(loaded.jobs):
        done(job, loaded.outcomes[i])


def _load_batch(jobs: list[Job], options: Options, sources: set[Path]) -> Loaded:
    """Decode the photos that may be written; the others get their reason ('skipped: ...' or the failure)."""
    loaded = Loaded(jobs, {}, {})
    for i, job in enumerate(jobs):
        blocked = _blocked(job, options, sources)
        if blocked:
            loaded.outcomes[i] = blocked
            continue
        try:
            loaded.photos[i] = split_alpha(open_image(job.source, options.max_pixels))
        except (OSError, ValueError, SyntaxError) as err:  # what PIL raises for unreadable files
            loaded.outcomes[i] = str(err) or type(err).__name__
    return loaded


def _predict_batch(loaded: Loaded, model: ColorModel, size: int, guidance: Guidance) -> dict:
    """The network: job index -> predicted ab/128 at the network's size. Photos with hints go one by
    one (each has its own); the rest as batches."""
    guided = [
        i for i in loaded.photos if guidance and any(x is not None for x in guidance.for_photo(loaded.jobs[i].source))
    ]
    order = [i for i in loaded.photos if i not in guided]
    predictions = predict_ab(model, [loaded.photos[i][0] for i in order], size) if order else []
    result = dict(zip(order, predictions, strict=True))
    for i in guided:
        points, reference = guidance.for_photo(loaded.jobs[i].source)
        result[i] = predict_guided(model, loaded.photos[i][0], points, reference, size)
    return dict(sorted(result.items()))


def _write_batch(loaded: Loaded, predictions: dict, options: Options) -> Loaded:
    """Recombine each prediction with its photo's full-resolution L, then encode and write it."""
    for i, ab in predictions.items():
        rgb, alpha = loaded.photos[i]
        target = loaded.jobs[i].target
        try:
            color = recombine(rgb, ab, options.saturation)
            write(assemble(rgb, color, alpha, options.side_by_side), target, options.quality)
            loaded.outcomes[i] = None
        except (OSError, ValueError) as err:
            loaded.outcomes[i] = f"cannot write {target}: {err}"
    loaded.photos.clear()  # the decoded photos are no longer needed
    return loaded
