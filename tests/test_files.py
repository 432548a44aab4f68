import os

import pytest

from colorlab.data.photo_files import IMAGE_EXTENSIONS, find_images, fixed_subset, split_files, split_of


def test_finds_images_recursively_any_case(photo_dir):
    files = find_images(photo_dir)
    assert len(files) == 25  # 24 color + 1 gray; notes.txt ignored
    assert {f.suffix.lower() for f in files} <= set(IMAGE_EXTENSIONS)
    assert any(f.suffix == ".PNG" for f in files) and any("deep" in f.parts for f in files)
    assert files == sorted(files, key=lambda p: p.relative_to(photo_dir).as_posix())


def test_hidden_folders_are_skipped(photo_dir):
    (photo_dir / ".downloads").mkdir()
    (photo_dir / ".downloads" / "x.jpg").write_bytes((photo_dir / "gray.png").read_bytes())
    assert len(find_images(photo_dir)) == 25


def test_missing_empty_and_file_roots_raise_naming_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope")):
        find_images(tmp_path / "nope")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"empty: no images found"):
        find_images(tmp_path / "empty")
    (tmp_path / "a.jpg").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="a.jpg"):
        find_images(tmp_path / "a.jpg")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_root_raises(tmp_path):
    root = tmp_path / "locked"
    root.mkdir()
    root.chmod(0)
    try:
        with pytest.raises(PermissionError, match="locked"):
            find_images(root)
    finally:
        root.chmod(0o755)


def test_split_is_deterministic_and_stable_when_files_are_added(photo_dir):
    files = find_images(photo_dir)
    first = split_files(photo_dir, files, (0.8, 0.1, 0.1))
    again = split_files(photo_dir, list(reversed(files)), (0.8, 0.1, 0.1))
    assert {k: sorted(v) for k, v in first.items()} == {k: sorted(v) for k, v in again.items()}
    for i in range(50):
        (photo_dir / f"new{i}.jpg").write_bytes(b"x")
    grown = split_files(photo_dir, find_images(photo_dir), (0.8, 0.1, 0.1))
    for name, part in first.items():
        assert set(part) <= set(grown[name])


def test_split_fractions_are_respected_on_many_paths():
    counts = {"train": 0, "val": 0, "test": 0}
    for i in range(20000):
        counts[split_of(f"CAT_0{i % 7}/{i:08d}.jpg", (0.8, 0.1, 0.1))] += 1
    assert abs(counts["train"] / 20000 - 0.8) < 0.01
    assert abs(counts["val"] / 20000 - 0.1) < 0.01


def test_bad_split_setting_is_named(photo_dir):
    with pytest.raises(ValueError, match="data.split"):
        split_files(photo_dir, find_images(photo_dir), (0.5, 0.2))


def test_fixed_subset_is_the_same_whatever_the_order(photo_dir):
    files = find_images(photo_dir)
    subset = fixed_subset(photo_dir, files, 10)
    assert len(subset) == 10 and subset == sorted(subset, key=files.index)
    assert set(subset) == set(fixed_subset(photo_dir, list(reversed(files)), 10))
    assert fixed_subset(photo_dir, files, None) == files
    with pytest.raises(ValueError, match="data.subset"):
        fixed_subset(photo_dir, files, 0)


def test_a_subset_keeps_all_three_splits_in_proportion():
    from pathlib import Path

    root = Path("/data")
    files = [root / f"CAT_0{i % 7}" / f"{i:08d}.jpg" for i in range(5000)]
    subset = fixed_subset(root, files, 1000)
    counts = {name: len(part) for name, part in split_files(root, subset, (0.8, 0.1, 0.1)).items()}
    assert 730 < counts["train"] < 870 and counts["val"] > 60 and counts["test"] > 60
