"""The evaluate command: `python -m colorlab.evaluate run=<run folder, checkpoint or pretrained:name>`.

Evaluates the model and the baselines on a split (colorlab.evaluation.results) and prints a table; the settings
are conf/evaluate.yaml's.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from colorlab.core.config import register_resolvers, whole_number
from colorlab.core.errors import command
from colorlab.evaluation.results import evaluate_run

register_resolvers()
SETTINGS = ("run", "data", "split", "protocol", "batch_size", "bootstrap", "prior_images", "baselines",
            "temperature", "device", "out", "seed", "hints", "global_hint", "hint_patch", "hint_sigma")  # fmt: skip


def run_evaluation(cfg: DictConfig) -> dict[str, Any]:
    """conf/evaluate.yaml's settings as plain arguments to `colorlab.evaluation.results.evaluate_run`. Only those
    settings are resolved, so a config composed outside a Hydra run (a script's) works too."""
    settings = {key: plain(cfg, key) for key in SETTINGS if key in cfg}
    whole_number(settings["batch_size"], "batch_size", 1)
    whole_number(settings["bootstrap"], "bootstrap", 0)
    whole_number(settings["prior_images"], "prior_images", 1)
    return evaluate_run(**{key: settings.get(key) for key in SETTINGS})


def plain(cfg: DictConfig, key: str) -> Any:
    node = cfg[key]
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig | ListConfig) else node


@command("evaluate")
def main(cfg: DictConfig) -> None:
    run_evaluation(cfg)


if __name__ == "__main__":
    main()
