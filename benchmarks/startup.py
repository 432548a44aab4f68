"""What a user waits for when colorizing one photo: `python -m colorlab.colorize` on one photo, end to
end in a fresh process, against the bare forward of the same model on the same photo (model loaded).

    python benchmarks/startup.py [--ckpt pretrained:cats] [--rounds 3]

Rates are photos per second; the ratio (command / bare forward) is the share of a one-photo command
that is the network itself: the rest is Python and its imports, opening the model file, decoding
and writing. Printed beside it, from the same process kind: the import time of the colorize command
and of `load_model` (seconds), so a regression is found where it happens.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from harness import interleave, ratio, report  # benchmarks/harness.py

from colorlab.data.embedded import SAMPLE_DIR
from colorlab.data.images import open_image
from colorlab.inference.photo import predict_ab, split_alpha
from colorlab.models.checkpoints import load_model

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def timed_process(*args: str) -> float:
    """Seconds a fresh `python <args>` takes, start to exit (it must succeed)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, capture_output=True, env=ENV, timeout=600)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default="pretrained:cats")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    photo = sorted(SAMPLE_DIR.glob("*.jpg"))[0]
    model = load_model(args.ckpt)
    rgb, _ = split_alpha(open_image(photo))
    with tempfile.TemporaryDirectory() as out:
        command = ["-m", "colorlab.colorize", f"ckpt={args.ckpt}", f"input={photo}", f"output={out}",
                   "overwrite=true", "progress=false"]  # fmt: skip

        def bare() -> float:
            start = time.perf_counter()
            with torch.no_grad():
                predict_ab(model, [rgb])
            return 1 / (time.perf_counter() - start)

        values = interleave({"colorize command, one photo": lambda: 1 / timed_process(*command), "bare forward": bare},
                            args.rounds)  # fmt: skip
    imports = timed_process("-c", "import colorlab.colorize")
    loading = timed_process("-c", f"from colorlab.models.checkpoints import load_model; load_model({args.ckpt!r})")
    interpreter = timed_process("-c", "pass")
    print(f"  python alone {interpreter:.2f} s; importing the colorize command {imports:.2f} s; "
          f"importing and load_model({args.ckpt}) {loading:.2f} s")  # fmt: skip
    settings = (f"{args.ckpt}, one {photo.name} ({rgb.shape[1]}x{rgb.shape[0]}); start-up: python {interpreter:.2f} s, "
                f"command import {imports:.2f} s, import + load_model {loading:.2f} s")  # fmt: skip
    report("startup", settings, "photos/s", values, [ratio(values, "colorize command, one photo", "bare forward")])


if __name__ == "__main__":
    main()
