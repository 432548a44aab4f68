"""The colorize command: `python -m colorlab.colorize ckpt=<model> input=<files|folders|globs> output=<dir>`.

Every photo is colorized at its original resolution (colorlab.inference.batch). A file that cannot
be read gets one line with the reason and the rest go on; the command ends with
`N colorized, M skipped, K failed` and exits non-zero when anything failed. Inputs are never modified.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from colorlab.core.errors import command
from colorlab.inference.batch import Options, Tally, colorize_inputs
from colorlab.models.checkpoints import open_model

log = logging.getLogger(__name__)


def run_colorize(cfg: DictConfig) -> Tally:
    """conf/colorize.yaml's settings as plain arguments: the model, the inputs, the output, the options."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    options = Options(**{f.name: settings[f.name] for f in dataclasses.fields(Options)})
    options.check()  # before the model is loaded
    opened = open_model(cfg.ckpt, cfg.device, cfg.temperature)
    log.info("model: %s", opened.path)
    inputs = list(cfg.input) if isinstance(cfg.input, ListConfig | list) else [str(cfg.input)]
    return colorize_inputs(opened.net, inputs, Path(cfg.output), options, cfg.get("hints"), cfg.get("reference"))


@command("colorize")
def _main(cfg: DictConfig) -> None:
    tally = run_colorize(cfg)
    if tally.failed or not tally.found:
        sys.exit(1)


def main() -> None:
    """Console script `colorlab-colorize` (same arguments)."""
    _main()


if __name__ == "__main__":
    main()
