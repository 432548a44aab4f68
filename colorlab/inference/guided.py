"""One photo held for guided colorizing: its encoder features are computed once, so every change of
points or reference re-runs only the decoder and the points' propagation (what the web page does on
each click). Before the decoder runs, `first_answer` gives the page something to show at once: the
new points' colours propagated over the decoder's last answer, with no network run at all."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from colorlab.core.color import lightness
from colorlab.inference.guidance import Point, decode_guided, default_radius, network_hints
from colorlab.inference.photo import (
    assemble,
    default_size,
    network_lightness,
    network_size,
    recombine,
    recombine_image,
    split_alpha,
)
from colorlab.inference.propagation import refine
from colorlab.models.contract import ColorModel


class GuidedPhoto:
    """A photo, its network-size L and the frozen encoder's features of it; `colorize` applies hints.

    `preview_side` bounds the side of what `colorize` returns (the page shows a preview; `full` gives
    the original resolution)."""

    def __init__(
        self, model: ColorModel, image: Image.Image, size: int | None = None, preview_side: int = 1024
    ) -> None:
        model.require_hints("guided colorizing")
        self.model = model
        self.rgb, self.alpha = split_alpha(image)
        self.height, self.width = self.rgb.shape[:2]
        shape = network_size(self.height, self.width, default_size(model, size), model.stride)
        self.lightness = network_lightness([self.rgb], shape, model.device)
        with torch.no_grad():
            self.features = model.encode(self.lightness)  # features once, decode many
        scale = min(1.0, preview_side / max(self.width, self.height))
        self.preview_size = (max(1, round(self.width * scale)), max(1, round(self.height * scale)))
        self.preview_rgb = np.array(Image.fromarray(self.rgb).resize(self.preview_size, Image.Resampling.BILINEAR))
        self.preview_lightness = lightness(torch.from_numpy(self.preview_rgb).permute(2, 0, 1).unsqueeze(0))
        self._key: tuple | None = None  # the reference and temperature the kept answers are for
        self._base: torch.Tensor | None = None  # the decoder's ab without points
        self._last: torch.Tensor | None = None  # the decoder's ab with the last points

    @torch.no_grad()
    def ab(
        self,
        points: Sequence[Point] = (),
        reference: torch.Tensor | None = None,
        temperature: float | None = None,
        pin: bool = True,
    ):
        """ab/128 (1,2,h,w) at the network size: the decoder alone, on the stored features, and `pin`:
        each point's colour propagated over its region (colorlab.inference.propagation.refine). The decoder's
        result without points is kept while the reference and temperature stay, so a new point costs
        one decoder run and one propagation."""
        hints = network_hints(points, reference, self.lightness, (self.width, self.height))
        key = self.answers_key(reference, temperature)
        kept = self._base if key == self._key else None
        ab, base, decoded = decode_guided(self.model, self.features, self.lightness, hints, temperature, pin, kept)
        if pin:
            self._key, self._base, self._last = key, base, decoded
        return ab

    @torch.no_grad()
    def first_answer(
        self, points: Sequence[Point] = (), reference: torch.Tensor | None = None, temperature: float | None = None
    ) -> torch.Tensor | None:
        """What `ab` will give, approximately, without running the decoder: the decoder's last answer
        (to the previous points) with these points' colours propagated over their regions; exactly
        the kept automatic colours when there are no points. None when nothing is kept for this
        reference and temperature (a new photo, reference or temperature: only the decoder can say)."""
        if self._key != self.answers_key(reference, temperature) or self._base is None or self._last is None:
            return None
        hints = network_hints(points, reference, self.lightness, (self.width, self.height))
        if not bool(hints.mask.any()):
            return self._base
        return refine(self.lightness, self._base, self._last, hints.ab, hints.mask)

    @staticmethod
    def answers_key(reference: torch.Tensor | None, temperature: float | None) -> tuple:
        return (None if reference is None else tuple(reference.flatten().tolist()), temperature)

    def colorize(
        self,
        points: Sequence[Point] = (),
        reference: torch.Tensor | None = None,
        saturation: float = 1.0,
        temperature: float | None = None,
        full: bool = False,
    ) -> Image.Image:
        """The colorized photo with these hints: at the preview size, or the original one (`full`)."""
        return self.image(self.ab(points, reference, temperature), saturation, full)

    def image(self, ab: torch.Tensor, saturation: float = 1.0, full: bool = False) -> Image.Image:
        """`ab` (from `ab`) recombined with the photo's L: at the preview size, or the original one
        (`full`); the page makes both from one `ab`, so the decoder runs once per change."""
        if full:
            return assemble(self.rgb, recombine(self.rgb, ab, saturation), self.alpha, side_by_side=False)
        return recombine_image(self.preview_rgb, ab, saturation, self.preview_lightness)

    def marked(self, points: Sequence[Point]) -> Image.Image:
        """The gray preview with each point drawn as a ring in its colour, numbered (what the user clicks on)."""
        gray = Image.fromarray(self.preview_rgb).convert("L").convert("RGB")
        draw = ImageDraw.Draw(gray)
        scale = self.preview_size[0] / self.width
        for number, point in enumerate(points, start=1):
            x, y = point.x * scale, point.y * scale
            r = max(4.0, (point.radius or default_radius(self.width, self.height)) * scale)
            fill = tuple(point.rgb) if point.rgb is not None else (255, 255, 255)
            draw.ellipse((x - r, y - r, x + r, y + r), outline=(0, 0, 0), width=3)
            draw.ellipse((x - r + 1, y - r + 1, x + r - 1, y + r - 1), outline=fill, width=2)
            draw.text((x + r + 2, y - r), str(number), fill=(255, 255, 0))
        return gray

    def to_photo(self, x: float, y: float) -> tuple[float, float]:
        """A click on the preview (its pixels) -> the photo's own pixels."""
        scale = self.width / self.preview_size[0]
        return min(self.width - 1, x * scale), min(self.height - 1, y * scale)
