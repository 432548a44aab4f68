"""Colorizing with a trained model: one photo at full resolution (photo), files and folders (files),
videos (video), and export to ONNX / TorchScript (export)."""
