"""`python -m colorlab.export`: export a model as ONNX or TorchScript (the command lives in colorlab.cli.export)."""

from colorlab.cli.export import main

if __name__ == "__main__":
    main()
