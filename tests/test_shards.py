"""WebDataset shards: writing a folder, one pass per epoch across ranks and workers, training from them."""

import hashlib
import json
import logging
import subprocess
import sys

import pytest
from torch.utils.data import DataLoader

from colorlab.data.photo_files import find_images, split_files
from colorlab.data.shard_io import ShardStream, read_index, shard_urls, write_shards
from colorlab.data.transforms import eval_transform
from colorlab.shards import run_shards
from colorlab.train import train
from tests.conftest import compose_app, compose_config, tiny_overrides


@pytest.fixture
def shards(photo_dir, tmp_path):
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "shards"
    write_shards(photo_dir, out, per_shard=2, cache_dir=tmp_path / "cache")
    return out


def digests(batches) -> list[str]:
    return [hashlib.sha1(image.numpy().tobytes()).hexdigest() for batch in batches for image in batch]


def test_shards_hold_each_readable_photo_once_in_its_split(photo_dir, shards):
    index = read_index(str(shards))
    readable = [f for f in find_images(photo_dir) if f.name != "broken.jpg"]
    expected = split_files(photo_dir, readable, (0.8, 0.1, 0.1))
    for name, files in expected.items():
        split = index["splits"][name]
        assert split["count"] == len(files) and len(split["shards"]) == -(-len(files) // 2)
        assert all((shards / shard).is_file() for shard in split["shards"])
    stream = ShardStream(shard_urls(str(shards), index, "train"), eval_transform(32)[0])
    assert len(list(stream)) == len(expected["train"])


def test_ranks_and_workers_share_an_epoch_without_duplicates(shards):
    index = read_index(str(shards))
    urls = shard_urls(str(shards), index, "train")
    transform = eval_transform(32)[0]
    everything = sorted(digests([list(ShardStream(urls, transform))]))
    orders = []
    for epoch in range(2):
        per_rank = []
        for rank in (0, 1):
            stream = ShardStream(urls, transform, shuffle=True, buffer=4, seed=7, rank=rank, world=2)
            stream.epoch = epoch
            loader = DataLoader(stream, batch_size=3, num_workers=2)
            per_rank.append(digests(loader))
        assert not set(per_rank[0]) & set(per_rank[1])  # no photo on both ranks
        assert sorted(per_rank[0] + per_rank[1]) == everything  # and every photo once
        orders.append(per_rank[0] + per_rank[1])
    assert orders[0] != orders[1]  # reshuffled each epoch


def test_near_gray_samples_are_dropped_from_training(photo_dir, tmp_path):
    for i in range(12):  # enough gray photos that some land in the training split
        (photo_dir / f"gray{i}.png").write_bytes((photo_dir / "gray.png").read_bytes())
    index = write_shards(photo_dir, tmp_path / "s", per_shard=4, cache_dir=tmp_path / "cache")
    urls = shard_urls(str(tmp_path / "s"), index, "train")
    kept = list(ShardStream(urls, eval_transform(32)[0], min_chroma=1.0))
    all_ = list(ShardStream(urls, eval_transform(32)[0]))
    assert len(all_) - len(kept) >= 1 and all(img.float().std(dim=0).max() > 0 for img in kept)


def test_training_from_shards(shards, tmp_path):
    overrides = ["data=shards", f"data.urls={shards}", *tiny_overrides(tmp_path), "data.crop_scale=null"]
    cfg = compose_config(overrides, tmp_path / "run")
    metrics = train(cfg)
    assert metrics["train/loss"] > 0 and metrics["val/loss"] > 0
    cfg = compose_config([*overrides, "model=rebalanced"], tmp_path / "rebalanced")  # the prior from shards
    assert train(cfg)["val/loss"] > 0


def test_a_run_trained_from_shards_evaluates_and_compares(shards, tmp_path):
    from colorlab.evaluate import run_evaluation
    from colorlab.evaluation.report import compare
    from tests.conftest import compose_evaluate

    overrides = ["data=shards", f"data.urls={shards}", *tiny_overrides(tmp_path), "data.crop_scale=null"]
    train(compose_config(overrides, tmp_path / "sweep" / "0_baseline"))
    result = run_evaluation(compose_evaluate([f"run={tmp_path / 'sweep' / '0_baseline'}", "bootstrap=0"]))
    assert result["images"] == read_index(str(shards))["splits"]["test"]["count"] > 0
    assert result["data_root"] == str(shards)
    out = compare([tmp_path / "sweep" / "0_baseline"], tmp_path / "report", "test", bootstrap=0, images=2)
    report = (out / "report.md").read_text()
    assert "evaluation failed" not in report and "0_baseline" in report


def test_shards_stream_through_a_pipe_command(shards, tmp_path):
    overrides = [
        "data=shards", f"data.urls=pipe:cat {shards}", f"data.index={shards / 'index.json'}",
        *tiny_overrides(tmp_path), "data.crop_scale=null",
    ]  # fmt: skip
    cfg = compose_config(overrides, tmp_path / "run")
    assert train(cfg)["val/loss"] > 0


def test_bad_shards_and_missing_indexes_are_named(shards, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match=r"data.urls=.*nowhere.*index.json"):
        read_index(str(tmp_path / "nowhere"))
    index = read_index(str(shards))
    first = shards / index["splits"]["train"]["shards"][0]
    first.write_bytes(b"garbage" * 100)
    with pytest.raises(OSError, match=first.name):
        list(ShardStream(shard_urls(str(shards), index, "train"), eval_transform(32)[0]))
    (shards / "index.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError, match="not a colorlab shard index"):
        read_index(str(shards))


def test_the_cli_writes_shards_and_says_how_to_train(photo_dir, tmp_path, capsys, caplog):
    with caplog.at_level(logging.INFO):
        run_shards(compose_app("shards", [f"folder={photo_dir}", f"out={tmp_path / 'out'}", "per_shard=5"]))
    assert f"data=shards data.urls={tmp_path / 'out'}" in capsys.readouterr().out
    command = [sys.executable, "-m", "colorlab.shards", f"folder={tmp_path / 'missing'}", f"out={tmp_path / 'o2'}"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("error:") == 1 and "missing: no such folder" in done.stderr
