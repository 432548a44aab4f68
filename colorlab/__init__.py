"""colorlab: automatic image colorization with a frozen encoder and pluggable decoders.

Notebook use: `model = colorlab.load_model("pretrained:cats")` (or a run folder, a checkpoint, a
model file), then `colorlab.colorize_image(PIL.Image.open("old.jpg"), model)`.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy: `import colorlab` stays cheap; the API pulls in torch only when used.
    if name == "colorize_image":
        from colorlab.inference.photo import colorize_image

        return colorize_image
    if name == "load_model":
        from colorlab.models.checkpoints import load_model

        return load_model
    raise AttributeError(f"module 'colorlab' has no attribute {name!r}")
