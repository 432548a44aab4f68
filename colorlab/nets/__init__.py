"""Networks: frozen encoders, the decoders that color their features, and the Colorizer composing them."""

from colorlab.nets.base import DecoderBase
from colorlab.nets.colorizer import Colorizer
from colorlab.nets.decoder import Decoder, count_parameters
from colorlab.nets.efficientnet import EfficientNetLite0Encoder, EfficientNetLite1Encoder, EfficientNetLite2Encoder
from colorlab.nets.encoder import FrozenEncoder, VGG16Encoder
from colorlab.nets.unet import UNetDecoder

__all__ = [
    "Colorizer",
    "Decoder",
    "DecoderBase",
    "EfficientNetLite0Encoder",
    "EfficientNetLite1Encoder",
    "EfficientNetLite2Encoder",
    "FrozenEncoder",
    "UNetDecoder",
    "VGG16Encoder",
    "count_parameters",
]
