"""The embedded sample: 120 Oxford-IIIT Pet cat photos (CC BY-SA 4.0, see sample/LICENSE.md)."""

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"


def sample_dir() -> str:
    """Folder of the embedded sample photos, shipped inside the package (works offline)."""
    return str(SAMPLE_DIR)
