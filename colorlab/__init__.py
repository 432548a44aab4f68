"""colorlab: automatic image colorization with a frozen encoder and pluggable decoders."""

__version__ = "0.1.0"
