"""The feature cache: right features, reuse across runs, exact invalidation, no silent use of bad entries."""

import functools
import hashlib
import json
import logging
import shutil

import pytest
import torch
from hydra.errors import InstantiationException
from PIL import Image
from torch.utils.data import default_collate
from torchvision.transforms import v2

from colorlab.core.color import rgb_to_lab
from colorlab.data import ColorDataModule
from colorlab.data.feature_cache import CACHE_VERSION, CachedViews, FeatureBatch, FeatureCache, encoder_fingerprint
from colorlab.data.images import ImageFiles
from colorlab.data.photo_files import find_images
from colorlab.data.transforms import zoomed_views
from colorlab.models import Colorizer, Decoder, UNetDecoder, VGG16Encoder
from colorlab.train import train
from colorlab.training.module import ColorizationModule
from tests.conftest import compose_config, smooth_image, tiny_overrides

SIZE = 32


def centre_crops(files):
    return ImageFiles(files, v2.Compose([v2.Resize(SIZE, antialias=True), v2.CenterCrop(SIZE)]), min_side=SIZE)


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return VGG16Encoder(weights=None)


def build(cache, files):
    return cache.build(files, centre_crops, batch_size=8)


def test_entries_hold_the_encoder_output_of_both_views_and_the_target(photo_dir, tmp_path, encoder):
    files = [f for f in find_images(photo_dir) if f.name != "gray.png"][:5]
    cache = FeatureCache(tmp_path, encoder, SIZE)
    entries, report = build(cache, files)
    assert report.computed == 5 and report.reused == 0 and len(entries) == 5

    images = torch.stack([centre_crops(files)[i] for i in range(5)])
    lightness, ab = rgb_to_lab(images)
    with torch.no_grad():
        centre, mirror = encoder(lightness), encoder(lightness.flip(-1))
    views = CachedViews(entries, cache.layout, mirror=False)
    for i in range(5):
        item = views[i]
        assert isinstance(item, FeatureBatch) and item.features.dtype == torch.float16
        torch.testing.assert_close(item.features.float(), centre[i], atol=2e-2, rtol=2e-3)
        torch.testing.assert_close(item.ab.float(), ab[i], atol=1e-3, rtol=0)

    torch.manual_seed(1)
    mirrored = CachedViews(entries, cache.layout, mirror=True)
    seen = set()
    for _ in range(40):  # a random view each time; the mirror view comes with the flipped target
        item = mirrored[0]
        is_mirror = not torch.allclose(item.ab.float(), ab[0], atol=1e-3)  # the photos are left-right ramps
        expected = mirror[0] if is_mirror else centre[0]
        torch.testing.assert_close(item.features.float(), expected, atol=2e-2, rtol=2e-3)
        torch.testing.assert_close(item.ab.float(), ab[0].flip(-1) if is_mirror else ab[0], atol=1e-3, rtol=0)
        seen.add(is_mirror)
    assert seen == {True, False}


def test_a_centre_only_cache_holds_one_view_and_never_flips(photo_dir, tmp_path, encoder):
    files = [f for f in find_images(photo_dir) if f.name != "gray.png"][:3]
    cache = FeatureCache(tmp_path, encoder, SIZE, mirror=False)
    both = FeatureCache(tmp_path, encoder, SIZE)
    assert "-1view-" in cache.folder.name and cache.folder != both.folder
    entries, _ = build(cache, files)
    assert entries[0].stat().st_size < both.layout.file_bytes
    lightness, ab = rgb_to_lab(centre_crops(files[:1])[0][None])
    with torch.no_grad():
        centre = encoder(lightness)[0]
    views = CachedViews(entries, cache.layout, mirror=True)  # asks for flips the entries cannot give
    for _ in range(10):
        item = views[0]
        torch.testing.assert_close(item.features.float(), centre, atol=2e-2, rtol=2e-3)
        torch.testing.assert_close(item.ab.float(), ab[0], atol=1e-3, rtol=0)


def test_zoomed_views_are_cached_with_their_own_targets_and_the_same_on_every_build(photo_dir, tmp_path, encoder):
    files = [f for f in find_images(photo_dir) if f.name != "gray.png"][:3]
    cache = FeatureCache(tmp_path / "a", encoder, SIZE, zoom_views=2, zoom_scale=(0.3, 0.6))
    plain = FeatureCache(tmp_path / "a", encoder, SIZE)
    assert "-4view-zoom2-" in cache.folder.name and cache.namespace != plain.namespace
    assert cache.namespace != FeatureCache(tmp_path, encoder, SIZE, zoom_views=2).namespace  # the range counts
    entries, _ = build(cache, files)
    again, _ = build(FeatureCache(tmp_path / "b", encoder, SIZE, zoom_views=2, zoom_scale=(0.3, 0.6)), files)
    assert [e.read_bytes() for e in entries] == [e.read_bytes() for e in again]  # seeded by the photo

    images = torch.stack([centre_crops(files)[i] for i in range(3)])
    seeds = [int(entry.stem[:15], 16) for entry in entries]
    zoomed = zoomed_views(images, seeds, 2, (0.3, 0.6))  # (3,2,3,S,S)
    lightness, ab = rgb_to_lab(zoomed.flatten(0, 1))
    with torch.no_grad():
        expected = encoder(lightness)
    torch.manual_seed(0)
    views, seen = CachedViews(entries, cache.layout, mirror=True), set()
    for _ in range(60):
        item = views[1]
        match = [k for k in range(2) if torch.allclose(item.ab.float(), ab[2 + k], atol=1e-3)]
        if match:  # a zoomed view: its own features and target, not a crop of the centre's
            torch.testing.assert_close(item.features.float(), expected[2 + match[0]], atol=2e-2, rtol=2e-3)
            seen.add(match[0])
    assert seen == {0, 1}
    assert not torch.allclose(ab[2], ab[3], atol=1e-2)  # two different zooms
    centre = CachedViews(entries, cache.layout, mirror=False)[1]  # validation: the centre crop alone
    torch.testing.assert_close(centre.ab.float(), rgb_to_lab(images[1:2])[1][0], atol=1e-3, rtol=0)


def test_zoom_settings_out_of_range_are_named(tmp_path):
    with pytest.raises(ValueError, match="data.cache_zoom_scale"):
        ColorDataModule(tmp_path, cache_zoom_views=1, cache_zoom_scale=[0.0, 1.0])
    with pytest.raises(ValueError, match="data.cache_zoom_views"):
        ColorDataModule(tmp_path, cache_zoom_views=-1)


def test_a_second_build_reuses_everything_and_an_edited_photo_recomputes_only_its_entry(photo_dir, tmp_path, encoder):
    files = find_images(photo_dir)[:6]
    cache = FeatureCache(tmp_path, encoder, SIZE)
    first, _ = build(cache, files)
    again, report = build(FeatureCache(tmp_path, encoder, SIZE), files)
    assert (report.reused, report.computed) == (6, 0) and again == first

    Image.fromarray(smooth_image(40, seed=99)).save(files[2])  # new content under the same name
    entries, report = build(cache, files)
    assert (report.reused, report.computed) == (5, 1)
    assert entries[2] != first[2] and entries[:2] + entries[3:] == first[:2] + first[3:]

    files[3].write_bytes(files[0].read_bytes())  # a copy of another photo shares its entry
    entries, report = build(cache, files)
    assert (report.reused, report.computed) == (6, 0) and entries[3] == entries[0]


def test_encoder_weights_image_size_and_precision_each_get_their_own_namespace(photo_dir, tmp_path, encoder):
    base = FeatureCache(tmp_path, encoder, SIZE)
    other = VGG16Encoder(weights=None)
    other.load_state_dict(encoder.state_dict())
    assert FeatureCache(tmp_path, other, SIZE).folder == base.folder  # same weights, same entries
    with torch.no_grad():
        other.features[0].bias[0] += 1e-3  # one changed weight
    assert FeatureCache(tmp_path, other, SIZE).folder != base.folder
    assert FeatureCache(tmp_path, encoder, 2 * SIZE).folder != base.folder
    assert FeatureCache(tmp_path, encoder, SIZE, precision="bf16-mixed").folder != base.folder


def flip_last_bit(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def test_encoders_with_batch_norm_buffers_have_a_fingerprint(tmp_path):
    from colorlab.models import EfficientNetLite0Encoder

    encoder = EfficientNetLite0Encoder(weights=None)  # 0-dim num_batches_tracked buffers
    assert any(t.dim() == 0 for t in encoder.state_dict().values())
    assert FeatureCache(tmp_path, encoder, SIZE).folder.name.startswith("EfficientNetLite0Encoder-32px-")


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry, foreign: entry.write_bytes(b"not a tensor file"),
        lambda entry, foreign: entry.write_bytes(entry.read_bytes()[:100]),  # truncated
        lambda entry, foreign: shutil.copyfile(foreign, entry),  # another namespace's entry
        lambda entry, foreign: entry.write_bytes(b"CLFEAT\x00\x01" + entry.read_bytes()[8:]),  # version 1
        lambda entry, foreign: entry.write_bytes(flip_last_bit(entry.read_bytes())),
    ],
    ids=["garbage", "truncated", "foreign", "old-version", "bit-flip"],
)
def test_corrupt_or_foreign_entries_are_recomputed_with_a_warning(photo_dir, tmp_path, encoder, damage, caplog):
    files = find_images(photo_dir)[:3]
    foreign, _ = build(FeatureCache(tmp_path, encoder, SIZE, precision="other"), files)
    cache = FeatureCache(tmp_path, encoder, SIZE)
    entries, _ = build(cache, files)
    good = entries[1].read_bytes()
    damage(entries[1], foreign[1])
    with caplog.at_level(logging.WARNING):
        _, report = build(cache, files)
    assert (report.reused, report.computed, report.rebuilt) == (2, 1, 1)
    assert entries[1].read_bytes() == good
    assert any(str(entries[1]) in r.getMessage() and "recomputing" in r.getMessage() for r in caplog.records)


def test_random_crops_are_refused_when_caching(photo_dir, tmp_path):
    with pytest.raises(ValueError, match=r"data.crop_scale=\[0.5, 1.0\].*crop_scale=null"):
        ColorDataModule(photo_dir, image_size=SIZE, cache_dir=tmp_path, cache_features=True, crop_scale=(0.5, 1.0))
    with pytest.raises(ValueError, match="cache_dir"):
        ColorDataModule(photo_dir, image_size=SIZE, cache_dir=None, cache_features=True, crop_scale=None)


def test_skip_features_are_cached_per_view_in_their_own_namespace(photo_dir, tmp_path, encoder):
    files = [f for f in find_images(photo_dir) if f.name != "gray.png"][:3]
    plain = FeatureCache(tmp_path, encoder, SIZE)
    cache = FeatureCache(tmp_path, encoder, SIZE, skip_strides=[4, 16])
    assert cache.skip_strides == (16, 4) and "-2view-s16-s4-" in cache.folder.name and cache.folder != plain.folder
    # caches without skips keep the namespace they had before skips existed (their entries stay valid)
    before = f"v{CACHE_VERSION}|{encoder_fingerprint(encoder)}|{SIZE}|32|2"
    assert plain.namespace == hashlib.sha1(before.encode()).hexdigest()[:16]
    entries, _ = build(cache, files)
    assert entries[0].stat().st_size == cache.layout.file_bytes > plain.layout.file_bytes

    lightness, ab = rgb_to_lab(centre_crops(files[:1])[0][None])
    with torch.no_grad():
        centre, mirror = encoder.forward_with_skips(lightness), encoder.forward_with_skips(lightness.flip(-1))
    views = CachedViews(entries, cache.layout, mirror=True)
    seen = set()
    for _ in range(30):
        item = views[0]
        is_mirror = not torch.allclose(item.ab.float(), ab[0], atol=1e-3)
        features, skips = mirror if is_mirror else centre
        assert set(item.skips) == {16, 4} and item.skips[4].shape == (encoder.skip_channels[4], SIZE // 4, SIZE // 4)
        torch.testing.assert_close(item.features.float(), features[0], atol=2e-2, rtol=2e-3)
        for stride in (16, 4):
            torch.testing.assert_close(item.skips[stride].float(), skips[stride][0], atol=2e-2, rtol=2e-3)
        seen.add(is_mirror)
    assert seen == {True, False}


def test_skip_strides_the_encoder_lacks_are_refused(tmp_path, encoder):
    with pytest.raises(ValueError, match=r"no skip features at stride\(s\) \[3\]"):
        FeatureCache(tmp_path, encoder, SIZE, skip_strides=[3, 4])


def test_a_unet_trains_from_the_cache_with_only_the_skips_it_reads(photo_dir, tmp_path):
    overrides = ["data=folder", f"data.root={photo_dir}", *tiny_overrides(tmp_path)]
    overrides += [
        "model=unet",
        "model.net.decoder.skip_strides=[8,2]",
        "data.cache_features=true",
        "data.crop_scale=null",
    ]
    metrics = train(compose_config(overrides, tmp_path / "run"))
    assert metrics["val/loss"] > 0
    (folder,) = (tmp_path / "cache" / "features").iterdir()
    assert "-s8-s2-" in folder.name
    with pytest.raises(
        InstantiationException, match=r"skip_strides=\[3\]: the encoder has skips at \[1, 2, 4, 8, 16\]"
    ):
        train(compose_config([*overrides, "model.net.decoder.skip_strides=[3]"], tmp_path / "other"))


@pytest.mark.parametrize("decoder", ["paper", "unet"])
def test_cached_batches_give_the_same_loss_as_photos(photo_dir, tmp_path, encoder, decoder):
    files = find_images(photo_dir)[:8]
    factory = Decoder if decoder == "paper" else functools.partial(UNetDecoder, skip_strides=[16, 4, 1])
    module = ColorizationModule(Colorizer(encoder, factory), functools.partial(torch.optim.Adam, lr=1e-3)).eval()
    cache = FeatureCache(tmp_path, encoder, SIZE, skip_strides=module.net.skip_strides)
    entries, _ = build(cache, files)
    views = [CachedViews(entries, cache.layout, mirror=False)[i] for i in range(8)]
    cached = default_collate(views).to_float()
    photos = rgb_to_lab(torch.stack([centre_crops(files)[i] for i in range(8)]))
    with torch.no_grad():
        from_cache, from_photos = module._step(cached), module._step(photos)
    for a, b in zip(from_cache, from_photos, strict=True):
        torch.testing.assert_close(a, b, rtol=2e-3, atol=1e-4)


def test_a_sweep_shares_one_cache_and_trains_from_it(photo_dir, tmp_path):
    overrides = [
        "data=folder",
        f"data.root={photo_dir}",
        *tiny_overrides(tmp_path),
        "data.cache_features=true",
        "data.crop_scale=null",
        "trainer.limit_val_batches=1.0",
    ]
    reports = []
    for model in ("baseline", "rebalanced", "dropout"):
        cfg = compose_config([*overrides, f"model={model}"], tmp_path / model)
        metrics = train(cfg)
        assert metrics["val/loss"] > 0 and metrics["train/loss"] > 0
        reports.append(json.loads((tmp_path / model / "summary.json").read_text())["feature_cache"])
    (folder,) = (tmp_path / "cache" / "features").iterdir()
    entries = len(list(folder.glob("*.bin")))
    assert reports[0]["computed"] == entries > 0  # built once (train + val photos) ...
    assert [r["reused"] for r in reports[1:]] == [entries, entries]  # ... and reused by the next runs
    assert [r["computed"] for r in reports[1:]] == [0, 0]


def test_a_long_cache_build_says_how_far_it_is(caplog):
    import logging

    from colorlab.data.feature_cache import Progress

    progress = Progress(100, every=0.0)
    with caplog.at_level(logging.INFO, logger="colorlab.data.feature_cache"):
        progress.update(25)
        progress.update(100)  # the end is said by the caller, not twice
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("feature cache: 25 of 100 entries (") and "min to go" in line
