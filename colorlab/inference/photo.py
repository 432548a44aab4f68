"""Colorizing one photo at its original resolution (richzhang/colorization's recipe).

Predict ab at the network's size, upsample ab to the photo's size, and recombine it with the photo's
own full-resolution L: the output keeps every pixel of detail and exactly the input's size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from colorlab.core.color import lab_to_srgb8, lightness
from colorlab.core.config import finite_number
from colorlab.data.images import to_8bit
from colorlab.inference.guidance import Point, decode_guided, network_hints, parse_points, reference_distribution
from colorlab.models.contract import ColorModel

STRIP_ROWS = 512  # full-resolution LAB work is done in strips of rows: bounded memory for huge photos


def split_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Any PIL mode -> (H,W,3) uint8 RGB and the (H,W) uint8 alpha channel, if it has one."""
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    image = to_8bit(image)
    alpha = None
    if image.mode in ("RGBA", "LA", "PA"):
        alpha = np.asarray(image.getchannel("A"))
    return np.array(image.convert("RGB")), alpha  # a writable copy: torch.from_numpy needs one


def network_size(height: int, width: int, size: int, stride: int = 32) -> tuple[int, int]:
    """The network input for a photo: short side ~`size`, aspect kept, both sides multiples of `stride`,
    the long side at most 2*`size` (a panorama is squeezed rather than made huge)."""
    scale = size / min(height, width)
    h = min(2 * size, max(stride, round(height * scale / stride) * stride))
    w = min(2 * size, max(stride, round(width * scale / stride) * stride))
    return h, w


def network_lightness(photos: list[np.ndarray], size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """(H,W,3) uint8 photos of one shape -> L/100 (B,1,h,w) at the network size (h, w): resized as
    uint8 (bilinear) before any float conversion."""
    h, w = size
    small = [np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR)) for rgb in photos]
    return lightness(torch.from_numpy(np.stack(small)).permute(0, 3, 1, 2).to(device))


def default_size(model: ColorModel, size: int | None = None) -> int:
    """The network input's short side: `size`, else the size the model was trained at, else 224."""
    return int(size or model.image_size or 224)


@torch.no_grad()
def predict_batch(
    model: ColorModel, photos: list[np.ndarray], size: int | None = None, temperature: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(H,W,3) uint8 photos of one shape -> (L/100 (B,1,h,w), predicted ab/128 (B,2,h,w)) at their
    network size (short side `size`, default the model's training size)."""
    height, width = photos[0].shape[:2]
    light = network_lightness(
        photos, network_size(height, width, default_size(model, size), model.stride), model.device
    )
    return light, model(light, temperature).float()


@torch.no_grad()
def predict_ab(
    model: ColorModel, photos: list[np.ndarray], size: int | None = None, temperature: float | None = None
) -> list[torch.Tensor]:
    """(H,W,3) uint8 photos -> predicted ab/128 at network size, (1,2,h,w) each; photos that share a
    network size go through the model as one batch. `size`: the network input's short side (default:
    the model's training size); `temperature`: a class head's, for this call only."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, rgb in enumerate(photos):
        groups.setdefault(rgb.shape[:2], []).append(i)
    result: list[torch.Tensor] = [torch.empty(0)] * len(photos)
    for members in groups.values():
        _, ab = predict_batch(model, [photos[i] for i in members], size, temperature)
        for j, i in enumerate(members):
            result[i] = ab[j : j + 1]
    return result


def recombine(
    rgb: np.ndarray, ab_small: torch.Tensor, saturation: float = 1.0, light: torch.Tensor | None = None
) -> np.ndarray:
    """Full-resolution L of `rgb` (H,W,3) + bilinearly upsampled predicted ab -> (H,W,3) uint8.

    Works in strips of rows, so a 6000x4000 photo never needs full-size float images at once. Each
    strip samples ab at exactly the coordinates `F.interpolate(bilinear, align_corners=False)` uses.
    `light`: `lightness` of `rgb` (1,1,H,W) when the caller keeps it (a photo recombined many times).
    """
    height, width = rgb.shape[:2]
    out = np.empty_like(rgb)
    ab_small = _saturated(ab_small, saturation)
    for top in range(0, height, STRIP_ROWS):
        bottom = min(height, top + STRIP_ROWS)
        strip = _recombined_rows(rgb, ab_small, top, bottom, light)
        torch.from_numpy(out[top:bottom]).copy_(strip.permute(1, 2, 0))  # torch's transposing copy: 2x numpy's
    return out


def recombine_image(
    rgb: np.ndarray, ab_small: torch.Tensor, saturation: float = 1.0, light: torch.Tensor | None = None
) -> Image.Image:
    """`recombine` as an RGB image, for a photo of at most STRIP_ROWS rows (a preview): its three planes
    are merged by PIL, which costs a tenth of laying the pixels out as (H,W,3) first."""
    height = rgb.shape[0]
    if height > STRIP_ROWS:
        return Image.fromarray(recombine(rgb, ab_small, saturation, light))
    planes = _recombined_rows(rgb, _saturated(ab_small, saturation), 0, height, light).numpy()
    return Image.merge("RGB", [Image.fromarray(plane) for plane in planes])


def _saturated(ab_small: torch.Tensor, saturation: float) -> torch.Tensor:
    return ab_small.float().cpu() * finite_number(saturation, "saturation", 0.0)


def _recombined_rows(
    rgb: np.ndarray, ab_small: torch.Tensor, top: int, bottom: int, light: torch.Tensor | None
) -> torch.Tensor:
    """Rows `top`..`bottom` of the recombined photo as (3,rows,W) uint8 sRGB: ab sampled where
    `F.interpolate` (bilinear, align_corners=False) of the whole photo samples it, then clipped."""
    height, width = rgb.shape[:2]
    if bottom - top == height:  # the whole photo: the same samples, several times cheaper
        ab = F.interpolate(ab_small, size=(height, width), mode="bilinear", align_corners=False)
    else:
        xs = (torch.arange(width, dtype=torch.float32) + 0.5) * 2 / width - 1
        ys = (torch.arange(top, bottom, dtype=torch.float32) + 0.5) * 2 / height - 1
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).unsqueeze(0)  # (1,rows,W,2): (x,y)
        ab = F.grid_sample(ab_small, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if light is None:
        strip = lightness(torch.from_numpy(rgb[top:bottom]).permute(2, 0, 1).unsqueeze(0))
    else:
        strip = light[..., top:bottom, :]
    return lab_to_srgb8(strip, ab.clamp_(-1.0, 1.0))[0]


@torch.no_grad()
def predict_guided(
    model: ColorModel,
    rgb: np.ndarray,
    points: Sequence[Point | Mapping] | None = None,
    reference: Image.Image | torch.Tensor | None = None,
    size: int | None = None,
    temperature: float | None = None,
    pin: bool = True,
) -> torch.Tensor:
    """One (H,W,3) uint8 photo with hints -> ab/128 (1,2,h,w) at its network size. `points`: Points,
    or dicts as a hints file holds them (colorlab.inference.guidance); `reference`: a photo whose
    colours to use, or its distribution; `pin`: propagate each point's colour over its region after
    the network (`colorlab.inference.propagation.refine`). A model that takes no hints refuses them (ValueError)."""
    model.require_hints("points or a reference photo")
    height, width = rgb.shape[:2]
    light = network_lightness([rgb], network_size(height, width, default_size(model, size), model.stride), model.device)
    if points and not isinstance(points[0], Point):
        points = parse_points(points, width, height)
    if isinstance(reference, Image.Image):
        reference = reference_distribution(reference)
    hints = network_hints(points, reference, light, (width, height))
    return decode_guided(model, model.encode(light), light, hints, temperature, pin)[0]


def colorize_image(
    image: Image.Image,
    model: ColorModel,
    size: int | None = None,
    saturation: float = 1.0,
    side_by_side: bool = False,
    temperature: float | None = None,
    hints: Sequence[Point | Mapping] | None = None,
    reference: Image.Image | None = None,
    pin: bool = True,
) -> Image.Image:
    """Colorize a PIL image of any mode at its own resolution; alpha is kept, color inputs go gray first.

    `model`: a `ColorModel` (`colorlab.load_model(...)`); `size` is the network's input short side
    (default: the size the model was trained at); `temperature` a class head's, for this call only.
    A model trained with hints also takes `hints`, points as `{"x", "y", "color", "radius"}` dicts
    (x, y in the photo's pixels or as fractions; color "#rrggbb" or [a, b]), and a `reference` photo
    whose colour distribution it should follow; `pin=False` shows the network's own response to the
    points, without their colours propagated over their regions.
    """
    rgb, alpha = split_alpha(image)
    if hints or reference is not None:
        ab = predict_guided(model, rgb, hints, reference, size, temperature, pin)
    else:
        ab = predict_ab(model, [rgb], size, temperature)[0]
    color = recombine(rgb, ab, saturation)
    return assemble(rgb, color, alpha, side_by_side)


def assemble(rgb: np.ndarray, color: np.ndarray, alpha: np.ndarray | None, side_by_side: bool) -> Image.Image:
    """The output image: color (or gray | color), with the input's alpha channel if it had one."""
    if side_by_side:
        gray = recombine(rgb, torch.zeros(1, 2, 1, 1))
        color = np.concatenate([gray, color], axis=1)
        if alpha is not None:
            alpha = np.concatenate([alpha, alpha], axis=1)
    result = Image.fromarray(color, "RGB")
    if alpha is not None:
        result.putalpha(Image.fromarray(alpha, "L"))
    return result
