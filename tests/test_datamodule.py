import logging

import pytest
import torch
from PIL import Image

from colorlab.data import ColorDataModule, sample_dir
from colorlab.data.scan import scan_chroma


def make(root, tmp_path, **kwargs):
    kwargs = {"image_size": 32, "batch_size": 4, "cache_dir": tmp_path / "cache", **kwargs}
    return ColorDataModule(root=root, **kwargs)


def test_batches_are_uint8_rgb_and_become_lab_on_the_device(photo_dir, tmp_path):
    dm = make(photo_dir, tmp_path)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch.dtype == torch.uint8 and batch.shape == (4, 3, 32, 32)
    lightness, ab = dm.on_after_batch_transfer(batch, 0)
    assert lightness.shape == (4, 1, 32, 32) and ab.shape == (4, 2, 32, 32)
    assert lightness.min() >= 0 and lightness.max() <= 1 and ab.abs().max() <= 1
    val = next(iter(dm.val_dataloader()))
    assert val.shape[1:] == (3, 32, 32)


def test_val_transform_is_deterministic(photo_dir, tmp_path):
    dm = make(photo_dir, tmp_path)
    dm.setup()
    a, b = next(iter(dm.val_dataloader())), next(iter(dm.val_dataloader()))
    assert torch.equal(a, b)


def test_near_gray_training_photos_are_dropped_and_counted(photo_dir, tmp_path, caplog):
    for i in range(30):  # enough gray photos that some land in the training split
        Image.new("RGB", (40, 40), (i * 8, i * 8, i * 8)).save(photo_dir / f"gray{i}.png")
    dm = make(photo_dir, tmp_path)
    with caplog.at_level(logging.INFO):
        dm.setup()
    assert dm.dropped_gray > 0
    assert not any("gray" in f.name for f in dm.splits["train"])
    assert f"dropped {dm.dropped_gray} near-gray" in caplog.text
    keep_all = make(photo_dir, tmp_path, min_chroma=0.0)
    keep_all.setup()
    assert keep_all.dropped_gray == 0


def test_unreadable_files_are_skipped_by_name(photo_dir, tmp_path, caplog):
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    (photo_dir / "empty.png").write_bytes(b"")
    dm = make(photo_dir, tmp_path)
    with caplog.at_level(logging.WARNING):
        dm.setup()
    assert dm.dropped_unreadable == 2
    assert "broken.jpg" in caplog.text and "empty.png" in caplog.text
    assert all(f.name not in {"broken.jpg", "empty.png"} for part in dm.splits.values() for f in part)


def test_scan_cache_is_reused_and_refreshed_on_change(photo_dir, tmp_path):
    make(photo_dir, tmp_path).setup()
    cache = next((tmp_path / "cache" / "scan").glob("*.json"))
    before = cache.stat().st_mtime_ns
    make(photo_dir, tmp_path).setup()
    assert cache.stat().st_mtime_ns == before  # nothing new: not rewritten
    changed = photo_dir / "set1" / "img1.PNG"
    assert scan_chroma(photo_dir, [changed], tmp_path / "cache")[changed] > 5.0
    Image.new("RGB", (40, 40), (0, 0, 0)).save(changed)  # now gray: must be rescanned, not trusted
    assert scan_chroma(photo_dir, [changed], tmp_path / "cache")[changed] < 1.0
    assert cache.stat().st_mtime_ns != before


def test_an_empty_split_names_the_folder(tmp_path):
    root = tmp_path / "two"
    root.mkdir()
    for i in range(2):
        Image.new("RGB", (40, 40), (200, 30 * i, 10)).save(root / f"{i}.jpg")
    dm = make(root, tmp_path)
    with pytest.raises(ValueError, match=r"two: the \w+ split is empty"):
        dm.setup()
        dm.val_dataloader()
        dm.test_dataloader()


def test_embedded_sample_ships_120_photos_with_licence():
    from pathlib import Path

    root = Path(sample_dir())
    photos = sorted(root.glob("*.jpg"))
    assert len(photos) == 120
    assert "CC BY-SA 4.0" in (root / "LICENSE.md").read_text()
    assert all(max(Image.open(p).size) <= 256 for p in photos)


@pytest.mark.parametrize("name", ["image_size", "batch_size"])
def test_bad_sizes_name_the_setting(photo_dir, name):
    with pytest.raises(ValueError, match=f"data.{name}"):
        ColorDataModule(root=photo_dir, **{name: 0})
