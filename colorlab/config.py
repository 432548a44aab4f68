"""OmegaConf resolvers the configs in conf/ use; registered before any config is composed."""

from omegaconf import OmegaConf

from colorlab.data.embedded import sample_dir


def register_resolvers() -> None:
    """`${colorlab.sample_dir:}` -> the embedded sample folder inside the installed package."""
    if not OmegaConf.has_resolver("colorlab.sample_dir"):
        OmegaConf.register_new_resolver("colorlab.sample_dir", sample_dir)
