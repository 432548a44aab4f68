"""The embedded sample: 120 Oxford-IIIT Pet cat photos (CC BY-SA 4.0, see sample/LICENSE.md)."""

from colorlab.core.config import SAMPLE_DIR

__all__ = ["SAMPLE_DIR", "sample_dir"]


def sample_dir() -> str:
    """Folder of the embedded sample photos, shipped inside the package (works offline)."""
    return str(SAMPLE_DIR)
