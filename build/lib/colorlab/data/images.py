"""Reading photos as RGB, and the Dataset that serves them as uint8 tensors."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

log = logging.getLogger(__name__)


class UnreadableImageError(OSError):
    """An image file that cannot be decoded; the message names the file."""


def to_8bit(image: Image.Image) -> Image.Image:
    """Deep gray images (16/32-bit integer, 32-bit float) -> mode L, scaled by the range their values
    use: floats in [0, 1] (the usual convention) x 255; integers above 255 as 16-bit (top 8 bits);
    others unchanged. The scaling chosen is logged: a float TIFF must not come out black."""
    if not (image.mode.startswith("I;16") or image.mode in ("I", "F")):
        return image
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 0.0
    if image.mode == "F" and top <= 1.0:
        scale, rule = 255.0, "float values in [0, 1] scaled by 255"
    elif top <= 255.0:
        scale, rule = 1.0, "values in [0, 255] kept"
    elif top <= 65535.0:
        scale, rule = 1 / 257.0, "16-bit values scaled to 8 bits"
    else:
        scale, rule = 255.0 / top, f"values up to {top:g} scaled to 8 bits by their maximum"
    if image.mode in ("I", "F"):
        log.info("%s image: %s", image.mode, rule)
    eight = np.nan_to_num(values * scale, nan=0.0).round().clip(0, 255).astype(np.uint8)
    return Image.fromarray(eight)


def read_rgb(path: str | Path | BinaryIO, min_side: int | None = None, name: str | None = None) -> Image.Image:
    """Decode `path` (or a file object, called `name` in errors) as an upright RGB PIL image; JPEGs
    decode straight at >= `min_side` when smaller."""
    try:
        with Image.open(path) as img:
            if min_side is not None and img.format == "JPEG":
                img.draft("RGB", (min_side, min_side))  # DCT scaling: 2-8x faster on large photos
            img = ImageOps.exif_transpose(img)
            return to_8bit(img).convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise UnreadableImageError(f"cannot read image {name or path}: {err}") from err


class ImageFiles(Dataset):
    """Image files -> (3,H,W) uint8 tensors after `transform` (which works on uint8 tensors)."""

    def __init__(
        self,
        files: Sequence[Path],
        transform: Callable[[torch.Tensor], torch.Tensor],
        min_side: int | None = None,
    ) -> None:
        self.files = list(files)
        self.transform = transform
        self.min_side = min_side

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = TF.pil_to_tensor(read_rgb(self.files[index], self.min_side))  # (3,H,W) uint8
        return self.transform(image)
