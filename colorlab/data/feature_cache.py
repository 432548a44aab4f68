"""A disk cache of the frozen encoder's output, so decoders train without re-running the encoder.

The encoder is frozen, so its output for a given view of a photo never changes: a sweep of decoders
(and every epoch of each) can share one encoder pass. Each photo gets one entry holding its
deterministic views, the centre crop and (unless `mirror=False`) its mirror, and optionally
`zoom_views` zoomed views (seeded random square crops of the centre crop, resized back, some mirrored):
encoder features (fp16), the skip features a U-Net decoder reads (fp16, only at the strides it asks
for) and the ab/128 targets (fp16): the centre crop's (the mirror's is its flip) and each zoomed view's.

Entries live in `<cache_dir>/features/<namespace>/<content hash>.bin`: a header (format magic, the
entry's key, a checksum of the payload) and the raw fp16 arrays, so that a training step reads an
entry with one file read and no unpickling. The namespace is a hash of the cache format version, the
encoder's class and every one of its weights, the image size, the precision the features were
computed in, the number of views (and the zoom range) and the skip strides; the entry name is a hash
of the file's bytes.
So a new encoder, new weights or a new size uses a new namespace, and an edited photo a new entry:
exactly the affected entries are recomputed. An entry whose size, format, key or checksum is wrong
(truncated, corrupt, from another version) is recomputed with a warning, never used.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from colorlab.core.atomic import atomic_write
from colorlab.core.color import rgb_to_lab
from colorlab.core.threads import read_ahead
from colorlab.data.images import ImageFiles
from colorlab.data.transforms import checked_zoom_scale, zoomed_views

log = logging.getLogger(__name__)

CACHE_VERSION = 2
MAGIC = b"CLFEAT" + CACHE_VERSION.to_bytes(2, "big")
KEY_BYTES, SUM_BYTES = 64, 16
HEADER = len(MAGIC) + KEY_BYTES + SUM_BYTES


class FeatureBatch(NamedTuple):
    """A batch (or item) from the cache: encoder features (B,C,h,w), the target ab/128 (B,2,H,W) and
    the skip features {stride: (B,C_s,H/s,W/s)} (empty unless the cache holds them)."""

    features: torch.Tensor
    ab: torch.Tensor
    skips: dict[int, torch.Tensor] = {}  # noqa: RUF012 - a read-only default; batches never mutate it

    def to_float(self) -> FeatureBatch:
        """fp32 copies of the fp16 arrays (autocast then picks the compute precision)."""
        skips = {stride: skip.float() for stride, skip in self.skips.items()}
        return FeatureBatch(self.features.float(), self.ab.float(), skips)


def encoded(batch: FeatureBatch | Sequence[torch.Tensor], net: nn.Module) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """A training batch as (encoder features, {stride: skip}, ab/128): a `FeatureBatch` as cached,
    photos (L/100, ab/128) through `net.encode` (a `Colorizer`'s frozen encoder)."""
    if isinstance(batch, FeatureBatch):
        return batch.features, batch.skips, batch.ab
    lightness, ab = batch
    features, skips = net.encode(lightness)
    return features, skips, ab


def file_digest(path: Path) -> str:
    """Hash of the file's bytes: the entry name, so an edited photo never reuses a stale entry."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def encoder_fingerprint(encoder: nn.Module) -> str:
    """Hash of the encoder's class and all its parameters and buffers (weights=null, a .pth, ...)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{type(encoder).__module__}.{type(encoder).__qualname__}".encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(str((tuple(tensor.shape), tensor.dtype)).encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass
class CacheReport:
    """What building did: entries reused and computed, and the seconds spent (for logs and benchmarks)."""

    reused: int = 0
    computed: int = 0
    rebuilt: int = 0  # entries that were present but unreadable or invalid
    seconds: float = 0.0


@dataclass(frozen=True)
class EntryLayout:
    """The byte layout of one entry: header, then features (views,C,h,w), the skip features
    (views,C_s,H/s,W/s) in `skip_strides` order and ab, all fp16. The ab is the centre crop's (2,S,S),
    or with `zoom_views` (1+zoom_views,2,S,S): the centre crop's, then each zoomed view's; the zoomed
    views are the last `zoom_views` of the views."""

    feature_shape: tuple[int, ...]
    ab_shape: tuple[int, ...]
    skip_shapes: tuple[tuple[int, ...], ...] = ()
    skip_strides: tuple[int, ...] = ()
    zoom_views: int = 0

    def target(self, ab: torch.Tensor, view: int) -> torch.Tensor:
        """View `view`'s ab/128 target (2,S,S) from an entry's ab: the centre crop's, flipped for its
        mirror, or a zoomed view's own."""
        if not self.zoom_views:
            return ab.flip(-1) if view else ab
        first_zoom = self.feature_shape[0] - self.zoom_views
        if view >= first_zoom:
            return ab[1 + view - first_zoom]
        return ab[0].flip(-1) if view else ab[0]

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [self.feature_shape, *self.skip_shapes, self.ab_shape]

    @property
    def file_bytes(self) -> int:
        return HEADER + 2 * sum(math.prod(shape) for shape in self.shapes)

    def pack(self, key: str, features: torch.Tensor, ab: torch.Tensor, skips: Sequence[torch.Tensor] = ()) -> bytes:
        arrays = (features, *skips, ab)
        for array, shape in zip(arrays, self.shapes, strict=True):
            if tuple(array.shape) != shape:
                raise ValueError(f"feature cache: an array of shape {tuple(array.shape)} where {shape} belongs")
        payload = b"".join(t.to(torch.float16).contiguous().numpy().tobytes() for t in arrays)
        checksum = hashlib.blake2b(payload, digest_size=SUM_BYTES).digest()
        return MAGIC + key.encode().ljust(KEY_BYTES, b"\0") + checksum + payload

    def read(self, path: Path) -> tuple[bytearray, str]:
        """The raw entry and its key; raises ValueError naming what is wrong with its size or format."""
        with open(path, "rb") as handle:
            raw = bytearray(handle.read(self.file_bytes + 1))
        if len(raw) != self.file_bytes:
            raise ValueError(f"has {len(raw)} bytes, not {self.file_bytes}")
        if raw[: len(MAGIC)] != MAGIC:
            raise ValueError("is not a colorlab feature cache entry of this version")
        return raw, raw[len(MAGIC) : len(MAGIC) + KEY_BYTES].rstrip(b"\0").decode(errors="replace")

    def tensors(self, raw: bytearray) -> tuple[torch.Tensor, torch.Tensor, dict[int, torch.Tensor]]:
        """(features (views,C,h,w), ab (2,S,S), {stride: skip (views,C_s,H/s,W/s)}), fp16 views of `raw`
        (no copy)."""
        arrays, offset = [], HEADER
        for shape in self.shapes:
            count = math.prod(shape)
            arrays.append(torch.frombuffer(raw, dtype=torch.float16, offset=offset, count=count).view(shape))
            offset += 2 * count
        features, *skips, ab = arrays
        return features, ab, dict(zip(self.skip_strides, skips, strict=True))

    def problem(self, path: Path, key: str) -> str | None:
        """Why `path` is not a valid entry for `key` (None when it is): size, format, key, checksum."""
        try:
            raw, found = self.read(path)
        except (OSError, ValueError) as err:
            return str(err)
        if found != key:
            return f"belongs to another namespace or file ({found})"
        if hashlib.blake2b(raw[HEADER:], digest_size=SUM_BYTES).digest() != raw[HEADER - SUM_BYTES : HEADER]:
            return "fails its checksum (corrupt)"
        features, _, skips = self.tensors(raw)
        if not all(bool(torch.isfinite(t).all()) for t in (features, *skips.values())):
            return "holds non-finite features"
        return None


class FeatureCache:
    """The entries of one (encoder, weights, image size, precision, views) namespace under `root`.

    `mirror=False` caches the centre crop alone: half the encoder work to build, no flip augmentation.
    `skip_strides` also stores the encoder's skip features at those strides (`encoder.skip_channels`),
    for a U-Net decoder. `zoom_views` adds that many zoomed views per photo (area fraction uniform in
    `zoom_scale`): more distinct views to train on, for that many more encoder passes and bytes.
    """

    def __init__(
        self,
        root: str | Path,
        encoder: nn.Module,
        image_size: int,
        precision: str = "32",
        mirror: bool = True,
        skip_strides: Sequence[int] = (),
        zoom_views: int = 0,
        zoom_scale: Sequence[float] = (0.5, 1.0),
    ) -> None:
        if zoom_views < 0:
            raise ValueError(f"feature cache: zoom_views={zoom_views} must be 0 or more")
        self.encoder = encoder
        self.image_size = image_size
        self.precision = str(precision)
        self.base_views = 2 if mirror else 1
        self.zoom_views = int(zoom_views)
        self.zoom_scale = checked_zoom_scale(zoom_scale, "feature cache: zoom_scale")
        self.views = self.base_views + self.zoom_views
        self.skip_strides = tuple(sorted(skip_strides, reverse=True))
        unknown = set(self.skip_strides) - set(encoder.skip_channels)
        if unknown:
            raise ValueError(
                f"feature cache: {type(encoder).__name__} has no skip features at stride(s) {sorted(unknown)} "
                f"(it has {sorted(encoder.skip_channels)})"
            )
        tag = f"v{CACHE_VERSION}|{encoder_fingerprint(encoder)}|{image_size}|{self.precision}|{self.views}"
        skips = "".join(f"-s{stride}" for stride in self.skip_strides)
        if skips:  # caches without skips keep the namespace they had before skips existed
            tag += f"|skips{skips}"
        cut = f"-cut{encoder.frozen_stride}" if encoder.trains_top else ""
        if cut:  # the encoder's top trains: the entries hold the frozen part's output, not the features
            tag += f"|cut{encoder.frozen_stride}"
        zoom = f"-zoom{self.zoom_views}" if self.zoom_views else ""
        if zoom:
            tag += f"|zoom{self.zoom_views}:{self.zoom_scale[0]:g}-{self.zoom_scale[1]:g}"
        self.namespace = hashlib.sha1(tag.encode()).hexdigest()[:16]
        name = f"{type(encoder).__name__}-{image_size}px-{self.views}view{skips}{cut}{zoom}-{self.namespace}"
        self.folder = Path(root).expanduser() / "features" / name
        size = image_size // encoder.frozen_stride
        skip_shapes = tuple(
            (self.views, encoder.skip_channels[s], image_size // s, image_size // s) for s in self.skip_strides
        )
        feature_shape = (self.views, encoder.frozen_channels, size, size)
        ab_shape = (2, image_size, image_size)
        if self.zoom_views:
            ab_shape = (1 + self.zoom_views, *ab_shape)
        self.layout = EntryLayout(feature_shape, ab_shape, skip_shapes, self.skip_strides, self.zoom_views)

    def entry_path(self, digest: str) -> Path:
        return self.folder / f"{digest}.bin"

    def _key(self, digest: str) -> str:
        return f"{self.namespace}/{digest}"

    def is_valid(self, path: Path, digest: str) -> bool:
        """True when `path` holds this namespace's entry for `digest`; otherwise says why (a warning)."""
        problem = self.layout.problem(path, self._key(digest))
        if problem:
            log.warning("feature cache entry %s %s: recomputing it", path, problem)
        return problem is None

    def build(
        self,
        files: Sequence[Path],
        load_views: Callable[[list[Path]], ImageFiles],
        device: torch.device | str = "cpu",
        encode: Callable[[torch.Tensor], torch.Tensor] | None = None,
        batch_size: int = 32,
        shard: tuple[int, int] = (0, 1),
    ) -> tuple[list[Path], CacheReport]:
        """Make sure every file has a valid entry; return the entry paths (in `files` order) and a report.

        `load_views(files)` gives the deterministic centre crops as uint8 images; `encode` runs the
        encoder on L/100 on `device` and returns its features and {stride: skip features} (default:
        the encoder's `forward_with_skips` as it is; pass one to add autocast or channels-last; it must
        be the same encoder this cache was made for). With `shard=(rank,
        world)`, this process computes only every world-th missing entry (the others come from the
        other ranks; call `build` again after a barrier to collect them).
        """
        started = time.perf_counter()
        report = CacheReport()
        self.folder.mkdir(parents=True, exist_ok=True)
        digests = [file_digest(path) for path in files]
        missing = []
        for index, (path, digest) in enumerate(zip(files, digests, strict=True)):
            entry = self.entry_path(digest)
            if entry.is_file() and self.is_valid(entry, digest):
                report.reused += 1
                continue
            report.rebuilt += entry.is_file()
            if index % shard[1] == shard[0]:
                missing.append((path, digest))
        if missing:
            log.info("feature cache %s: computing %d entries", self.folder, len(missing))
            self._compute(missing, load_views, device, encode or self.encoder.forward_with_skips, batch_size)
            report.computed = len(missing)
        report.seconds = time.perf_counter() - started
        return [self.entry_path(d) for d in digests], report

    @torch.no_grad()
    def _compute(self, missing, load_views, device, encode, batch_size: int) -> None:
        """Encode the missing entries: the next batch is decoded and the previous one written by
        background threads while the encoder runs."""
        paths = [path for path, _ in missing]
        loader = DataLoader(load_views(paths), batch_size=batch_size, shuffle=False)
        done, writing = 0, None
        progress = Progress(len(missing))
        with ThreadPoolExecutor(1, "feature-cache-write") as writer:
            for images in read_ahead(loader):
                digests = [d for _, d in missing[done : done + len(images)]]
                images = images.to(device)
                lightness, ab = rgb_to_lab(images)
                inputs = [lightness, lightness.flip(-1)][: self.base_views]
                if self.zoom_views:
                    seeds = [int(digest[:15], 16) for digest in digests]
                    zoomed = zoomed_views(images, seeds, self.zoom_views, self.zoom_scale).transpose(0, 1)
                    zoom_lightness, zoom_ab = rgb_to_lab(zoomed.flatten(0, 1))  # view-major, like `inputs`
                    inputs.append(zoom_lightness)
                    ab = torch.cat([ab[:, None], torch.stack(zoom_ab.chunk(self.zoom_views), dim=1)], dim=1)
                encoded, skips = encode(torch.cat(inputs))  # one batched pass for all views
                arrays = [encoded, *(skips[stride] for stride in self.skip_strides)]
                # each array (B,views,C,h,w)
                views = [torch.stack(a.float().chunk(self.views), dim=1).cpu() for a in arrays]
                if writing is not None:
                    writing.result()  # one batch in writing at a time; its errors surface here
                writing = writer.submit(self._write, digests, views, ab.cpu())
                done += len(lightness)
                progress.update(done)
            if writing is not None:
                writing.result()

    def _write(self, digests: list[str], views: list[torch.Tensor], ab: torch.Tensor) -> None:
        for index, (digest, entry_ab) in enumerate(zip(digests, ab, strict=True)):
            features, *skips = (array[index] for array in views)
            data = self.layout.pack(self._key(digest), features, entry_ab, skips)
            # atomic: a crash or a parallel job never leaves half an entry
            atomic_write(self.entry_path(digest), lambda tmp, data=data: tmp.write_bytes(data))


class Progress:
    """A log line at most every `every` seconds while a long job runs: how far, how fast, how long to go."""

    def __init__(self, total: int, every: float = 30.0) -> None:
        self.total, self.every = total, every
        self.started = self.shown = time.perf_counter()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.shown < self.every or done >= self.total:
            return
        self.shown = now
        rate = done / max(now - self.started, 1e-9)
        left = (self.total - done) / max(rate, 1e-9)
        log.info("feature cache: %d of %d entries (%.0f/s, about %.0f min to go)", done, self.total, rate, left / 60)


class CachedViews(Dataset):
    """Entries -> FeatureBatch items: the centre view, or (with `mirror`, for training) a random one of the
    views the entries hold (the mirror and any zoomed views).

    `images` keeps the underlying photos (uint8 centre crops) for callbacks that draw pictures.
    """

    def __init__(
        self, entries: Sequence[Path], layout: EntryLayout, mirror: bool, images: ImageFiles | None = None
    ) -> None:
        self.entries = list(entries)
        self.layout = layout
        self.mirror = mirror
        self.images = images

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> FeatureBatch:
        try:
            features, ab, skips = self.layout.tensors(self.layout.read(self.entries[index])[0])
        except (OSError, ValueError) as err:
            raise RuntimeError(
                f"feature cache entry {self.entries[index]} became unreadable during training ({err}); "
                "rerun to rebuild it"
            ) from err
        views = self.layout.feature_shape[0]
        view = int(torch.randint(views, ()).item()) if self.mirror and views > 1 else 0
        skips = {stride: skip[view] for stride, skip in skips.items()}
        return FeatureBatch(features[view], self.layout.target(ab, view), skips)
