"""Images per second of `colorlab.evaluate` (the model, three baselines, every metric, 1,000 bootstrap
resamples) vs the bare model forward on the same photos. Target: >= 0.5.

    python benchmarks/evaluate_throughput.py [--run pretrained:cats] [--size 224] [--rounds 5]

The photos are the embedded Oxford sample (120 cat photos, 174-1725 px, decoded and centre-cropped by
the evaluation loader); the model is the shipped one unless `--run` names another. Evaluation is timed
end to end as a user waits for it (model load, decoding, the model and the baselines, metrics,
bootstrap, writing metrics.json and per_image.csv); the bare forward runs the same model on the same
centre crops, already decoded, in batches of the same size. Interleaved rounds (benchmarks/harness.py).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from harness import interleave, ratio, report  # benchmarks/harness.py
from hydra import compose, initialize_config_dir

from colorlab.core.color import rgb_to_lab
from colorlab.core.config import CONFIG_DIR
from colorlab.evaluate import run_evaluation
from colorlab.models.checkpoints import load_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default="pretrained:cats")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    with tempfile.TemporaryDirectory() as out, initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("evaluate", overrides=[
            f"run={args.run}", "data=sample", "data.split=[0,0,1]", f"data.image_size={args.size}",
            f"batch_size={args.batch}", f"bootstrap={args.bootstrap}", f"out={out}", "device=cpu",
        ])  # fmt: skip
        images = run_evaluation(cfg)["images"]  # warm-up; also the image count

        import hydra

        datamodule = hydra.utils.instantiate(cfg.data, batch_size=args.batch)
        datamodule.setup()
        lightness = [rgb_to_lab(rgb)[0] for rgb in datamodule.eval_dataloader("test")]
        model = load_model(args.run, "cpu")

        def evaluate() -> float:
            start = time.perf_counter()
            run_evaluation(cfg)
            return images / (time.perf_counter() - start)

        @torch.no_grad()
        def bare() -> float:
            start = time.perf_counter()
            for batch in lightness:
                model(batch)
            return images / (time.perf_counter() - start)

        values = interleave({"evaluate (model + 3 baselines)": evaluate, "bare model forward": bare}, args.rounds)
    settings = (
        f"{args.run}, {images} photos (embedded sample) at {args.size} px, batch {args.batch}, "
        f"bootstrap {args.bootstrap}, {torch.get_num_threads()} threads"
    )
    target = ratio(values, "evaluate (model + 3 baselines)", "bare model forward", "evaluate / bare forward", 0.5)
    report("evaluate_throughput", settings, "images/s", values, [target])


if __name__ == "__main__":
    main()
