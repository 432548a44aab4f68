"""Networks: frozen encoders and the decoders that colour their features."""

from colorlab.nets.decoder import Decoder, count_parameters
from colorlab.nets.encoder import FrozenEncoder, VGG16Encoder

__all__ = ["Decoder", "FrozenEncoder", "VGG16Encoder", "count_parameters"]
