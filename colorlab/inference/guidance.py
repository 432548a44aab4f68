"""A user's hints for one photo: points (where, which colour, how large) and a reference photo, turned
into the network's `colorlab.models.hints.Hints` at its input size.

A point's x and y are in the photo's own pixels, or fractions of its sides when both are in [0, 1]
and given as decimals; its colour is `#rrggbb` (its ab is taken at the photo's own lightness there,
pulled into the displayable gamut) or `[a, b]` in CIE ab units. The radius is in the photo's pixels
(default: about 1% of its short side).
"""

from __future__ import annotations

import functools
import json
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kornia
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from colorlab.core.color import AB_SCALE, rgb_to_lab
from colorlab.inference.propagation import refine
from colorlab.models import hints as hint_maps
from colorlab.models.hints import MAX_POINTS, Hints

if TYPE_CHECKING:
    from colorlab.models.contract import ColorModel, Features

HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
POINT_KEYS = {"x", "y", "color", "radius"}


class HintError(ValueError):
    """A hint that cannot be used; the message names the point and what is wrong with it."""


@dataclass(frozen=True)
class Point:
    """A point in the photo's pixels; `rgb` (0-255) or `ab` (CIE units) says its colour."""

    x: float
    y: float
    radius: float | None = None
    rgb: tuple[int, int, int] | None = None
    ab: tuple[float, float] | None = None


def parse_points(items: Any, width: int, height: int, where: str = "hints") -> list[Point]:
    """A JSON list of {x, y, color, radius?} for a photo of width x height -> Points in its pixels; a
    HintError naming `where` and the point's index for anything else."""
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise HintError(f'{where}: expected a list of points like {{"x": 10, "y": 20, "color": "#1e90ff"}}')
    if len(items) > MAX_POINTS:
        raise HintError(f"{where}: {len(items)} points; at most {MAX_POINTS}")
    return [_point(item, width, height, f"{where}[{index}]") for index, item in enumerate(items)]


def _point(item: Any, width: int, height: int, where: str) -> Point:
    if not isinstance(item, Mapping):
        raise HintError(f"{where}: a point is an object with x, y and color")
    unknown = set(item) - POINT_KEYS
    if unknown:
        raise HintError(f"{where}: unknown keys {sorted(map(str, unknown))}; a point has {sorted(POINT_KEYS)}")
    missing = {"x", "y", "color"} - set(item)
    if missing:
        raise HintError(f"{where}: missing {sorted(missing)}")
    x, y = _number(item["x"], f"{where}.x"), _number(item["y"], f"{where}.y")
    if isinstance(item["x"], float) and isinstance(item["y"], float) and 0 <= x <= 1 and 0 <= y <= 1:
        x, y = x * (width - 1), y * (height - 1)  # fractions of the sides
    if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
        raise HintError(f"{where}: ({item['x']}, {item['y']}) lies outside the {width}x{height} photo")
    radius = None
    if item.get("radius") is not None:
        radius = _number(item["radius"], f"{where}.radius")
        if not 0 < radius <= max(width, height):
            raise HintError(f"{where}.radius={item['radius']}: must be > 0 and at most the photo's side")
    color = item["color"]
    if isinstance(color, str):
        if not HEX.match(color):
            raise HintError(f"{where}.color={color!r}: use #rrggbb or [a, b]")
        rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
        return Point(x, y, radius, rgb=rgb)
    if isinstance(color, Sequence) and len(color) == 2:
        a, b = (_number(v, f"{where}.color") for v in color)
        if not (-128 <= a <= 127 and -128 <= b <= 127):
            raise HintError(f"{where}.color={list(color)}: a and b must be in [-128, 127]")
        return Point(x, y, radius, ab=(a, b))
    raise HintError(f"{where}.color={color!r}: use #rrggbb or [a, b]")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise HintError(f"{where}={value!r}: must be a number")
    return float(value)


def default_radius(width: int, height: int) -> float:
    return max(1.0, 0.01 * min(width, height))


@functools.lru_cache(maxsize=4096)
def ab_at_lightness(rgb: tuple[int, int, int], lightness: float) -> tuple[float, float]:
    """The ab (CIE units) of an sRGB colour, with its chroma reduced until it is displayable at the
    photo's `lightness` (0-100): a bright yellow on a dark blanket becomes the darker yellow there.
    Kept per (colour, lightness): the web page asks again for every point at each change."""
    colour = torch.tensor(rgb, dtype=torch.uint8).view(1, 3, 1, 1)
    _, ab = rgb_to_lab(colour)
    ab = ab.view(2) * AB_SCALE
    scales = torch.linspace(1.0, 0.0, 41)  # every chroma tried at once; the last, gray, always fits
    lab = torch.stack([torch.full_like(scales, float(lightness)), ab[0] * scales, ab[1] * scales])
    rgb_out = kornia.color.lab_to_rgb(lab.view(1, 3, -1, 1), clip=False).view(3, -1)
    fits = ((rgb_out >= -1e-3) & (rgb_out <= 1 + 1e-3)).all(0)
    ab = ab * scales[int(fits.nonzero()[0])]
    return float(ab[0]), float(ab[1])


def local_hints(points: Sequence[Point], lightness: torch.Tensor, photo_size: tuple[int, int]) -> Hints:
    """Points in a (width, height) photo -> Hints at the network input's size, from its L/100 (1,1,h,w):
    each point a square of its radius, scaled to the network's pixels (at least one)."""
    _, _, h, w = lightness.shape
    width, height = photo_size
    ab = torch.zeros(1, 2, h, w, device=lightness.device)
    mask = torch.zeros(1, 1, h, w, device=lightness.device)
    for point in points:
        radius = point.radius if point.radius is not None else default_radius(width, height)
        left, right = _span(point.x, radius, width, w)
        top, bottom = _span(point.y, radius, height, h)
        if point.ab is not None:
            a, b = point.ab
        else:
            light = float(lightness[0, 0, top:bottom, left:right].mean()) * 100
            a, b = ab_at_lightness(tuple(point.rgb), light)
        ab[0, 0, top:bottom, left:right] = a / AB_SCALE
        ab[0, 1, top:bottom, left:right] = b / AB_SCALE
        mask[0, 0, top:bottom, left:right] = 1.0
    return Hints(ab, mask)


def _span(coordinate: float, radius: float, photo_side: int, side: int) -> tuple[int, int]:
    """[first, last) network pixels whose centres lie within `radius` photo pixels of the point (at
    least the one it falls in)."""
    scale = side / photo_side
    centre, r = (coordinate + 0.5) * scale, radius * scale
    first, last = int(np.ceil(centre - r - 0.5)), int(np.floor(centre + r - 0.5)) + 1
    if last <= first:
        first = int(np.floor(centre))
        last = first + 1
    return max(0, min(first, side - 1)), max(1, min(last, side))


def reference_distribution(image: Image.Image, side: int = 256) -> torch.Tensor:
    """A reference photo's colour distribution (GLOBAL_CHANNELS,): the global hint that asks for its
    colours. Read at `side` px on the short side: the distribution, not the detail, matters."""
    rgb = np.asarray(image.convert("RGB"))
    tensor = torch.from_numpy(rgb.copy()).permute(2, 0, 1).unsqueeze(0)
    scale = side / min(tensor.shape[-2:])
    if scale < 1:
        size = (max(1, round(tensor.shape[-2] * scale)), max(1, round(tensor.shape[-1] * scale)))
        tensor = F.interpolate(tensor.float(), size=size, mode="area").round().clamp(0, 255).to(torch.uint8)
    _, ab = rgb_to_lab(tensor)
    return hint_maps.distribution(ab)[0]


def network_hints(
    points: Sequence[Point] | None,
    reference: torch.Tensor | None,
    lightness: torch.Tensor,
    photo_size: tuple[int, int],
) -> Hints:
    """The Hints for one photo at its network size: its points, and the reference's distribution."""
    hints = local_hints(points or (), lightness, photo_size)
    if reference is not None:
        hints = hints.with_global(reference.to(lightness.device).view(1, -1))
    return hints


MAX_HINTS_FILE_BYTES = 10_000_000


def read_hints_text(path: Path) -> str:
    """The hints file's text: a regular file (not a pipe or a device, which could block or never end)
    of at most MAX_HINTS_FILE_BYTES, read no further than that."""
    try:
        info = path.stat()
    except OSError as err:
        raise HintError(f"hints={path}: cannot read it ({err.strerror})") from err
    if not stat.S_ISREG(info.st_mode):
        raise HintError(f"hints={path}: not a regular file")
    with open(path, "rb") as handle:
        raw = handle.read(MAX_HINTS_FILE_BYTES + 1)
    if len(raw) > MAX_HINTS_FILE_BYTES:
        raise HintError(f"hints={path}: larger than {MAX_HINTS_FILE_BYTES:,} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise HintError(f"hints={path}: not a JSON file ({err})") from err


def read_hints_file(
    path: str | Path, photos: Sequence[Path], size_of: Callable[[Path], tuple[int, int] | None]
) -> dict[Path, list[Point]]:
    """A hints file -> {photo: its Points}, every point checked against its photo's (width, height)
    as `size_of` reads it.

    The file is JSON: an object from photo names (as given, relative to an input folder, or the file
    name alone) to lists of points; or, for a single photo, the list itself. A name that matches no
    input photo, or matches two, is refused, as is any bad point: HintError naming the file and point.
    A photo whose size cannot be read (`size_of` gives None) keeps no points: it fails on its own later.
    """
    path = Path(path)
    text = read_hints_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise HintError(f"hints={path}: not a JSON file ({err})") from err
    except RecursionError as err:
        raise HintError(f"hints={path}: nested too deeply to be a hints file") from err
    if isinstance(data, list):
        if len(photos) != 1:
            raise HintError(f"hints={path}: a list of points needs exactly one input photo; "
                            f"for {len(photos)} photos give an object {{\"photo.jpg\": [points]}}")  # fmt: skip
        data = {str(photos[0]): data}
    if not isinstance(data, dict):
        raise HintError(f"hints={path}: expected an object from photo names to lists of points")
    found: dict[Path, list[Point]] = {}
    for name, items in data.items():
        matches = [p for p in photos if str(p) == name or p.as_posix().endswith("/" + name) or p.name == name]
        if len(matches) != 1:
            why = "matches no input photo" if not matches else f"matches {len(matches)} input photos"
            raise HintError(f"hints={path}: {name!r} {why}")
        (photo,) = matches
        size = size_of(photo)
        if size is None:
            continue
        width, height = size
        found[photo] = parse_points(items, width, height, f"hints={path}: {name}")
    return found


@dataclass
class Guidance:
    """Hints for the photos of one colorize run: points per photo, and a reference photo's colour
    distribution for all of them."""

    points: dict[Path, list[Point]] = field(default_factory=dict)
    reference: torch.Tensor | None = None

    def for_photo(self, source: Path) -> tuple[list[Point] | None, torch.Tensor | None]:
        return self.points.get(source), self.reference

    def __bool__(self) -> bool:
        return bool(self.points) or self.reference is not None


@torch.no_grad()
def decode_guided(
    model: ColorModel,
    features: Features,
    lightness: torch.Tensor,
    hints: Hints,
    temperature: float | None = None,
    refined: bool = True,
    base: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(guided ab/128 (1,2,h,w), base ab, the decoder's own ab) from the model's features (`encode`'s): its
    decode with the hints, and, when `refined`, the points' region propagation on top
    (`colorlab.inference.propagation.refine`: the point's colour at the point, spread over its region,
    other regions left as `base` has them). `base` is the decoder's output with the reference but no
    points; pass the one returned earlier to skip recomputing it (the web page keeps it while only
    points change)."""
    size = tuple(lightness.shape[-2:])
    guided = model.decode(features, size, hints, temperature)
    if not refined or not bool(hints.mask.any()):
        return guided, guided if base is None else base, guided
    if base is None:
        base = model.decode(features, size, hints.without_points(), temperature)
    return refine(lightness, base, guided, hints.ab, hints.mask), base, guided
