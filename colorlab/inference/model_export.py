"""Export a trained colorizer as one file (ONNX or TorchScript): `python -m colorlab.export`.

The file maps L/100 (B,1,S,S) in [0,1] to ab/128 (B,2,S,S) in [-1,1] (S = `size`, default 224);
LAB conversion and resizing stay with the caller (see colorlab.inference.photo for the recipe).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from colorlab.models.checkpoints import open_model

log = logging.getLogger(__name__)
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}


def export(ckpt: str | Path, fmt: str, output: Path | None = None, size: int = 224) -> Path:
    if fmt not in SUFFIX:
        raise ValueError(f"format={fmt}: choose onnx or torchscript")
    opened = open_model(ckpt)
    net, path = opened.net, opened.path  # the model is the exported graph: L/100 -> ab/128
    if size % net.stride:
        raise ValueError(f"size={size}: must be a multiple of the encoder's stride {net.stride}")
    folder = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    output = Path(output) if output else folder / "export" / f"colorizer{SUFFIX[fmt]}"
    output.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(2, 1, size, size)  # batch 2: a size-1 example would fix the batch dimension
    with torch.no_grad():
        if fmt == "torchscript":
            torch.jit.trace(net, example).save(str(output))
        else:
            torch.onnx.export(
                net,
                (example,),
                str(output),
                input_names=["lightness"],
                output_names=["ab"],
                dynamic_shapes={"lightness": {0: torch.export.Dim("batch", min=1, max=1024)}},
                dynamo=True,
                external_data=False,
            )
    log.info("wrote %s (%s, input (B,1,%d,%d) L/100 -> ab/128)", output, fmt, size, size)
    return output
