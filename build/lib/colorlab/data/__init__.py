"""Data: finding, splitting, reading and downloading photos; the LightningDataModule."""

from colorlab.data.datamodule import ColorDataModule
from colorlab.data.embedded import sample_dir

__all__ = ["ColorDataModule", "sample_dir"]
