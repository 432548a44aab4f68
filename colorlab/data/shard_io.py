"""WebDataset tar shards: write a photo folder as shards, and stream them back without duplicates.

    python -m colorlab.shards folder=<photos> out=<shards> [per_shard=1000]

writes `<out>/{train,val,test}-000000.tar, ...` (the same hash split as `data=folder`, so a photo
lands in the same split either way) and `<out>/index.json` (shards and counts per split). Each sample
holds the original file's bytes under its extension (`jpg`, `png`, ...) and `json` metadata (relative
path, split, mean chroma). Unreadable files are reported and left out.

Reading (`ShardStream`): each epoch the shard list is permuted the same way on every rank (seed +
epoch), dealt round-robin to ranks and then to DataLoader workers, so each shard is read exactly once
per epoch across all of them; samples are shuffled within a buffer. Shards can be local paths or any
URL WebDataset opens (http(s), `pipe:` commands: `pipe:curl -s https://host/shards` + `/<name>`).
"""

from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import fsspec
import torch
import webdataset as wds
from torch.utils.data import IterableDataset, get_worker_info
from torchvision.transforms.v2 import functional as TF

from colorlab.data.images import UnreadableImageError, read_rgb
from colorlab.data.photo_files import SPLITS, find_images, split_files
from colorlab.data.scan import scan_chroma

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"
INDEX_VERSION = 1
IMAGE_FIELDS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff")


def write_shards(
    root: str | Path,
    out: str | Path,
    per_shard: int = 1000,
    split: Sequence[float] = (0.8, 0.1, 0.1),
    cache_dir: str | Path | None = None,
) -> dict:
    """Write `root`'s photos as shards under `out`; return (and save) the index."""
    root, out = Path(root).expanduser(), Path(out).expanduser()
    if per_shard < 1:
        raise ValueError(f"per_shard={per_shard}: must be positive")
    files = find_images(root)
    chroma = scan_chroma(root, files, cache_dir)  # also finds the unreadable files
    out.mkdir(parents=True, exist_ok=True)
    index = {"version": INDEX_VERSION, "source": str(root), "splits": {}}
    for name, part in split_files(root, files, split).items():
        readable = [f for f in part if chroma[f] is not None]
        with wds.ShardWriter(str(out / f"{name}-%06d.tar"), maxcount=per_shard, verbose=0) as sink:
            for path in readable:
                relative = path.relative_to(root).as_posix()
                sink.write({
                    "__key__": _key(relative),
                    _field(path): path.read_bytes(),
                    "json": {"path": relative, "split": name, "chroma": chroma[path]},
                })  # fmt: skip
            shards = sink.shard
        index["splits"][name] = {
            "count": len(readable),
            "shards": [f"{name}-{i:06d}.tar" for i in range(shards)] if readable else [],
        }
    (out / INDEX_FILE).write_text(json.dumps(index, indent=2))
    unreadable = sum(v is None for v in chroma.values())
    log.info("wrote %s: %s (%d unreadable files left out)", out, counts(index), unreadable)
    return index


def _key(relative: str) -> str:
    """A sample key without dots or slashes (WebDataset splits field names at the first dot)."""
    return relative.replace(".", "_").replace("/", "__")


def _field(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    return "jpg" if ext == "jpeg" else "tif" if ext == "tiff" else ext


def counts(index: dict) -> str:
    return ", ".join(f"{s['count']} {n} in {len(s['shards'])} shards" for n, s in index["splits"].items())


def read_index(urls: str, index: str | None = None) -> dict:
    """The shard index: `index` (a path or fsspec URL), by default `<urls>/index.json`. A separate
    `index` lets `urls` be a `pipe:` command prefix. Errors name the setting and what is wrong."""
    location = index or f"{urls.rstrip('/')}/{INDEX_FILE}"
    setting = f"data.index={index}" if index else f"data.urls={urls}"
    try:
        with fsspec.open(location, "r") as handle:
            found = json.load(handle)
    except (OSError, ValueError, ImportError) as err:
        raise FileNotFoundError(
            f"{setting}: cannot read {location} ({err}); write shards with "
            "`python -m colorlab.shards folder=<photos> out=<out>` and point data.urls at <out>"
        ) from err
    if found.get("version") != INDEX_VERSION or set(found.get("splits", {})) != set(SPLITS):
        raise ValueError(f"{setting}: {location} is not a colorlab shard index (version {INDEX_VERSION})")
    return found


def shard_urls(urls: str, index: dict, split: str) -> list[str]:
    return [f"{urls.rstrip('/')}/{name}" for name in index["splits"][split]["shards"]]


class ShardStream(IterableDataset):
    """Samples of `urls` -> (3,H,W) uint8 tensors after `transform`, one pass per epoch per rank.

    `rank`/`world` deal shards to processes, DataLoader workers split a rank's shards further, so no
    sample is read twice in an epoch; `shuffle` permutes shards (same order on every rank) and
    samples within a `buffer`. `min_chroma` drops near-gray samples (by the chroma stored at writing).
    """

    def __init__(
        self,
        urls: Sequence[str],
        transform: Callable[[torch.Tensor], torch.Tensor],
        min_side: int | None = None,
        shuffle: bool = False,
        buffer: int = 1000,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        min_chroma: float = 0.0,
    ) -> None:
        self.urls = list(urls)
        self.transform = transform
        self.min_side = min_side
        self.shuffle, self.buffer, self.seed = shuffle, buffer, seed
        self.rank, self.world = rank, world
        self.min_chroma = min_chroma
        self.epoch = 0  # each process and worker advances its own copy once per pass, in step

    def my_shards(self, epoch: int) -> list[str]:
        """This rank's and this worker's shards for `epoch`."""
        urls = list(self.urls)
        if self.shuffle:
            random.Random(self.seed + epoch).shuffle(urls)
        urls = urls[self.rank :: self.world]
        worker = get_worker_info()
        return urls[worker.id :: worker.num_workers] if worker is not None else urls

    def __iter__(self) -> Iterator[torch.Tensor]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        shards = iter({"url": url} for url in self.my_shards(epoch))
        samples = wds.tarfile_to_samples(handler=_name_shard)(shards)
        if self.shuffle and self.buffer > 1:
            worker = get_worker_info()
            stream = f"{self.seed}:{epoch}:{self.rank}:{worker.id if worker else 0}"
            samples = wds.shuffle(bufsize=self.buffer, initial=self.buffer, seed=stream)(samples)
        for sample in samples:
            meta = json.loads(sample["json"])
            if meta["chroma"] < self.min_chroma:
                continue
            yield self.transform(TF.pil_to_tensor(decode(sample, self.min_side)))


def decode(sample: dict, min_side: int | None = None):
    """The sample's image as an upright RGB PIL image; errors name the shard and the sample."""
    field = next((f for f in IMAGE_FIELDS if f in sample), None)
    name = f"{sample.get('__url__')}:{sample.get('__key__')}"
    if field is None:
        raise UnreadableImageError(f"cannot read image {name}: the sample has no {'/'.join(IMAGE_FIELDS)} field")
    return read_rgb(io.BytesIO(sample[field]), min_side, name=name)


def _name_shard(err: Exception) -> bool:
    """WebDataset's handler: re-raise with the shard named (it passes the url in the args)."""
    raise OSError(f"cannot read shard: {err}") from err
