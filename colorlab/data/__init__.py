"""Data: finding, splitting, reading and downloading photos; the LightningDataModule.

`ColorDataModule` is imported on first use: colorizing photos reads `colorlab.data.photo_files` and
`colorlab.data.images`, and should not pay for importing Lightning (seconds) to do it.
"""

from colorlab.data.embedded import sample_dir

__all__ = ["ColorDataModule", "sample_dir"]


def __getattr__(name: str):
    if name == "ColorDataModule":
        from colorlab.data.datamodule import ColorDataModule

        return ColorDataModule
    raise AttributeError(f"module 'colorlab.data' has no attribute {name!r}")
