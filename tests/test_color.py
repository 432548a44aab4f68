import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2lab

from colorlab.core.color import AB_SCALE, L_SCALE, chroma, gray_rgb, lab_to_rgb, lab_to_srgb8, rgb_to_lab
from tests.conftest import SAMPLE


def real_photos(n: int = 4, size: int = 96) -> np.ndarray:
    paths = sorted(SAMPLE.glob("*.jpg"))[:: 120 // n][:n]
    return np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size))) for p in paths])


def test_kornia_lab_matches_scikit_image_on_real_photos():
    photos = real_photos()
    lightness, ab = rgb_to_lab(torch.from_numpy(photos).permute(0, 3, 1, 2))
    reference = rgb2lab(photos)  # float64, D65
    np.testing.assert_allclose(lightness[:, 0].numpy() * L_SCALE, reference[..., 0], atol=0.02)
    np.testing.assert_allclose(ab.permute(0, 2, 3, 1).numpy() * AB_SCALE, reference[..., 1:], atol=0.05)


def test_ranges_and_round_trip():
    rgb = torch.from_numpy(real_photos()).permute(0, 3, 1, 2)
    lightness, ab = rgb_to_lab(rgb)
    assert lightness.shape == (4, 1, 96, 96) and ab.shape == (4, 2, 96, 96)
    assert lightness.min() >= 0.0 and lightness.max() <= 1.0
    assert ab.min() >= -1.0 and ab.max() <= 1.0
    back = lab_to_rgb(lightness, ab)
    assert (back * 255 - rgb.float()).abs().max() < 1.0


def test_gray_has_no_chroma():
    lightness = torch.rand(2, 1, 8, 8)
    gray = gray_rgb(lightness)
    assert torch.allclose(gray[:, 0], gray[:, 1], atol=1e-3) and torch.allclose(gray[:, 1], gray[:, 2], atol=1e-3)
    _, ab = rgb_to_lab(gray)
    assert chroma(ab).max() < 0.5


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_uint8_and_float_inputs_agree(dtype):
    rgb = torch.from_numpy(real_photos(2, 32)).permute(0, 3, 1, 2)
    inp = rgb if dtype == torch.uint8 else rgb.float() / 255
    ref = rgb_to_lab(rgb)
    out = rgb_to_lab(inp)
    assert all(torch.allclose(a, b) for a, b in zip(ref, out, strict=True))


def test_lightness_alone_equals_the_l_of_rgb_to_lab():
    from colorlab.core.color import lightness

    rgb = torch.from_numpy(real_photos(4, 96)).permute(0, 3, 1, 2)
    every_level = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(1, 3, 16, 16)
    for x in (rgb, every_level, rgb[:, [2, 0, 1]]):
        assert torch.allclose(lightness(x), rgb_to_lab(x)[0], atol=1e-5)


def test_fast_8bit_conversion_matches_kornia_rounded():
    """lab_to_srgb8 is kornia's lab_to_rgb * 255 rounded, to one level on a rare pixel, over the whole ab
    range (out of gamut too) and on real photos' own ab (where it must give back the photo)."""
    torch.manual_seed(0)
    lightness_ = torch.rand(2, 1, 64, 80)
    ab = torch.rand(2, 2, 64, 80) * 2.2 - 1.1  # beyond the gamut on purpose: clipped like kornia
    expected = (lab_to_rgb(lightness_, ab) * 255).round().to(torch.uint8)
    got = lab_to_srgb8(lightness_, ab)
    assert got.dtype == torch.uint8 and got.shape == expected.shape
    difference = (got.int() - expected.int()).abs()
    assert difference.max() <= 1 and (difference > 0).float().mean() < 1e-4
    rgb = torch.from_numpy(real_photos()).permute(0, 3, 1, 2)
    back = lab_to_srgb8(*rgb_to_lab(rgb))
    assert (back.int() - rgb.int()).abs().max() <= 1
    ramp, zero = torch.linspace(0, 1, 10001).view(1, 1, 1, -1), torch.zeros(1, 2, 1, 10001)
    gray = lab_to_srgb8(ramp, zero)  # the gray ramp, level for level as kornia
    assert torch.equal(gray, (lab_to_rgb(ramp, zero) * 255).round().to(torch.uint8))
