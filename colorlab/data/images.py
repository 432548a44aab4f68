"""Reading photos as RGB, and the Dataset that serves them as uint8 tensors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF


class UnreadableImageError(OSError):
    """An image file that cannot be decoded; the message names the file."""


def to_8bit(image: Image.Image) -> Image.Image:
    """16-bit (or 32-bit integer) gray images keep their top 8 bits as mode L; others pass unchanged."""
    if image.mode.startswith("I;16") or image.mode == "I":
        return Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8))
    return image


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
