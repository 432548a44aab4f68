"""Reading photos as RGB, and the Dataset that serves them as uint8 tensors."""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

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


DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's decompression-bomb limit: one limit for photos, frames and uploads


class ImageTooLargeError(ValueError):
    """More pixels than the configured limit (a decompression bomb, or simply too big)."""


def too_large(width: int, height: int, max_pixels: int | None) -> ImageTooLargeError | None:
    """The error for a `width` x `height` picture or frame over `max_pixels` (None when it fits)."""
    if max_pixels is None or width * height <= max_pixels:
        return None
    return ImageTooLargeError(
        f"{width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,} "
        f"(max_pixels={max_pixels:,}); raise it if you trust this file"
    )


_PILLOW_LIMIT = threading.Lock()


@contextlib.contextmanager
def pillow_limit_at_least(max_pixels: int | None) -> Iterator[None]:
    """Pillow refuses pictures over its own global limit (twice MAX_IMAGE_PIXELS) before colorlab's
    header check could allow them: a `max_pixels` above that limit lifts it while the file opens."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is None or (max_pixels is not None and max_pixels <= limit):
        yield
        return
    with _PILLOW_LIMIT, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # colorlab's own check has passed
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def open_image(
    path: str | Path | BinaryIO,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    min_side: int | None = None,
    name: str | None = None,
) -> Image.Image:
    """Decode a photo (or a file object, called `name` in errors), upright (EXIF orientation applied),
    in its own mode; more than `max_pixels` is refused from the header, before anything is decoded.
    JPEGs decode straight at >= `min_side` when smaller. The one reader of photos in colorlab."""
    name = name or path
    try:
        with pillow_limit_at_least(max_pixels), Image.open(path) as img:
            error = too_large(img.width, img.height, max_pixels)
            if error is not None:
                raise error
            if min_side is not None and img.format == "JPEG":
                img.draft("RGB", (min_side, min_side))  # DCT scaling: 2-8x faster on large photos
            img.load()
            return ImageOps.exif_transpose(img)
    except ImageTooLargeError:
        raise
    except Image.DecompressionBombError as err:  # over Pillow's own limit, when max_pixels is above it
        raise ImageTooLargeError(f"refused: {err} (the limit is max_pixels={max_pixels:,})") from err
    except (OSError, ValueError, SyntaxError) as err:
        raise UnreadableImageError(f"cannot read image {name}: {err}") from err


def read_rgb(
    path: str | Path | BinaryIO,
    min_side: int | None = None,
    name: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """`open_image` as 8-bit RGB (what training and evaluation read); too large is unreadable here."""
    try:
        return to_8bit(open_image(path, max_pixels, min_side, name)).convert("RGB")
    except ImageTooLargeError as err:
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
        rgb = np.asarray(read_rgb(self.files[index], self.min_side))
        image = torch.from_numpy(rgb.copy()).permute(2, 0, 1)  # (3,H,W) uint8
        return self.transform(image)
