"""Fine-tuning: a new run starts from a trained model's weights instead of random ones.

Unlike `ckpt_path` (which resumes the same run: its optimizer, epoch and schedule), `init_from` takes only
the network's weights; the run's own config (its hint simulation, learning rate, epochs) trains them on.
The source is read like any stranger's model file (colorlab.models.checkpoints' allow-list), and it must
hold exactly the network the config builds: every weight by name and shape, nothing missing or extra.
"""

from __future__ import annotations

import logging

import torch

from colorlab.core.errors import UserError
from colorlab.models.checkpoints import load_model
from colorlab.models.contract import ColorModel

log = logging.getLogger(__name__)


def start_from(net: ColorModel, source: str) -> None:
    """Copy the weights of the trained model `source` (a model file, run folder or `pretrained:NAME`)
    into `net`; refuse, naming `init_from`, a source whose network differs from the configured one."""
    trained = load_model(source).state_dict()
    own = net.state_dict()
    missing = sorted(set(own) - set(trained))
    extra = sorted(set(trained) - set(own))
    reshaped = sorted(key for key in set(own) & set(trained) if own[key].shape != trained[key].shape)
    for problem, keys in (("lacks", missing), ("has weights the config does not build", extra),
                          ("has other shapes for", reshaped)):  # fmt: skip
        if keys:
            shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
            raise UserError(
                f"init_from={source}: that model {problem}: {shown}; give a model= config that builds its network"
            )
    with torch.no_grad():
        net.load_state_dict({key: value.to(own[key].dtype) for key, value in trained.items()})
    log.info("weights from %s (%d tensors); training goes on from them", source, len(trained))
