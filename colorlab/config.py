"""OmegaConf resolvers the configs in conf/ use; registered before any config is composed."""

import torch
from omegaconf import OmegaConf

from colorlab.data.embedded import sample_dir


def sync_batchnorm(accelerator: str) -> bool:
    """SyncBatchNorm for GPU runs; torch's DDP refuses it for CPU modules, so CPU runs keep BatchNorm."""
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def register_resolvers() -> None:
    """`${colorlab.sample_dir:}` -> the embedded sample folder inside the installed package;
    `${colorlab.sync_batchnorm:<accelerator>}` -> whether DDP can synchronise batch norm."""
    if not OmegaConf.has_resolver("colorlab.sample_dir"):
        OmegaConf.register_new_resolver("colorlab.sample_dir", sample_dir)
    if not OmegaConf.has_resolver("colorlab.sync_batchnorm"):
        OmegaConf.register_new_resolver("colorlab.sync_batchnorm", sync_batchnorm)
