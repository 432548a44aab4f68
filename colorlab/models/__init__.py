"""Models: the contract every colorizer meets (`ColorModel`), the families that meet it (registered by
name, colorlab.models.registry), the encoder-decoder family's parts (frozen encoders, decoders, heads
and colour classes), hints, and the model file that rebuilds any registered family.

Names are imported on first use, so `colorlab.models.hints` does not pay for every network.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ColorModel": "colorlab.models.contract",
    "Colorizer": "colorlab.models.colorizer",
    "DecoderBase": "colorlab.models.decoder_base",
    "Decoder": "colorlab.models.decoder",
    "count_parameters": "colorlab.models.decoder",
    "EfficientNetLite0Encoder": "colorlab.models.efficientnet",
    "EfficientNetLite1Encoder": "colorlab.models.efficientnet",
    "EfficientNetLite2Encoder": "colorlab.models.efficientnet",
    "FrozenEncoder": "colorlab.models.encoder",
    "VGG16Encoder": "colorlab.models.encoder",
    "UNetDecoder": "colorlab.models.unet",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'colorlab.models' has no attribute {name!r}")
