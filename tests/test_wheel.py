"""The built wheel works on its own: configs and the embedded sample ship inside the package, so an
installed colorlab trains and colorizes from a folder outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from this tree, unpacked as pip would install it (a pure-Python wheel)."""
    tmp = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0 and "No module named" in done.stderr:
        pytest.skip(f"cannot build a wheel here: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp.glob("colorlab-*.whl")
    site = tmp / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "colorlab/conf/train.yaml" in names and "colorlab/conf/model/baseline.yaml" in names
        assert any(name.startswith("colorlab/data/sample/") for name in names)
        archive.extractall(site)
    return site


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # The unpacked wheel comes first on the path, ahead of the editable install of this checkout.
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_installed_package_trains_and_colorizes_outside_the_repository(installed, tmp_path):
    where = run_installed(
        installed, tmp_path, "-c", "import colorlab.core.config as c; print(c.__file__, c.CONFIG_DIR)"
    )
    assert where.stdout.startswith(str(installed)), where.stdout + where.stderr
    tiny = [
        "model.net.encoder.weights=null",
        "data.image_size=32",
        "data.batch_size=4",
        "data.subset=40",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.num_sanity_val_steps=0",
        "trainer.enable_progress_bar=false",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    done = run_installed(installed, tmp_path, "-m", "colorlab.train", *tiny)  # data=sample: inside the package
    assert done.returncode == 0, done.stderr[-3000:]
    photos = tmp_path / "photos"
    photos.mkdir()
    sample = installed / "colorlab" / "data" / "sample"
    for photo in sorted(sample.glob("*.jpg"))[:2]:
        (photos / photo.name).write_bytes(photo.read_bytes())
    done = run_installed(
        installed, tmp_path, "-m", "colorlab.colorize", f"ckpt={tmp_path / 'run'}", f"input={photos}", "output=out"
    )
    assert done.returncode == 0 and "2 colorized" in done.stdout, done.stderr[-3000:]
    assert len(list((tmp_path / "out").glob("*.jpg"))) == 2
