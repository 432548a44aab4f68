"""What guidance costs: a 7-point hint sweep against a plain evaluation, and a web-page point against a
full colorize of the same photo, each pair measured interleaved in one run.

    python benchmarks/hint_cost.py [--run pretrained:cats] [--photos 40] [--rounds 3]

Sweep: `colorlab.evaluate` end to end on a fixed subset of `--photos` photos of the embedded sample
(224 px, bootstrap 1000), once plainly and once with `hints=[0,1,2,5,10,20,50]` (the model,
the model + blend and the Gaussian blend at every N, the encoder once per photo). The ratio is the
sweep's images/s over the plain one's: its inverse is how many plain evaluations a sweep costs.
Point: a photo of the sample scaled to `--side` px on its long side (512: a typical upload) with three
points. The web page answers a change twice: first without the network (`GuidedPhoto.first_answer`:
the new points' colours propagated over the decoder's last answer, the preview recombined), then with
the decoder's answer (`GuidedPhoto.colorize`: the decoder alone on the kept encoder features, the
points' edge-aware propagation, the preview). Each is measured against `colorlab.colorize_image` with
the same points (encoder, decoder twice, propagation, full resolution). A round times 20 first answers,
10 decoder answers and 5 full colorizes in a row (one takes milliseconds). The target: an update costs at
most a fifth of a full colorize (ratio >= 5); absolute rates are in the table (updates/s; the page aims
at 3.3 or more, 0.3 s an update).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from harness import interleave, ratio, report  # benchmarks/harness.py
from hydra import compose, initialize_config_dir
from PIL import Image

from colorlab.core.config import CONFIG_DIR, register_resolvers
from colorlab.data.embedded import SAMPLE_DIR
from colorlab.evaluate import run_evaluation
from colorlab.inference.guidance import Point
from colorlab.inference.guided import GuidedPhoto
from colorlab.inference.photo import colorize_image
from colorlab.models.checkpoints import load_model

SWEEP = "hints=[0,1,2,5,10,20,50]"


def timed(work, count: int, repeat: int = 1) -> float:
    """Items per second of `work` (which handles `count` items), run `repeat` times in a row: a page
    update takes milliseconds, too short to time once."""
    start = time.perf_counter()
    for _ in range(repeat):
        work()
    return count * repeat / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="pretrained:cats")
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--photo", default="Bengal_107.jpg", help="the embedded sample photo the points go on")
    parser.add_argument("--side", type=int, default=512, help="the photo's long side in pixels")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    register_resolvers()
    with tempfile.TemporaryDirectory() as out, initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        common = [f"run={args.run}", "data=sample", "data.split=[0,0,1]", "data.image_size=224",
                  f"data.subset={args.photos}", f"out={out}", "device=cpu"]  # fmt: skip
        plain_cfg, sweep_cfg = compose("evaluate", overrides=common), compose("evaluate", overrides=[*common, SWEEP])
        images = run_evaluation(plain_cfg)["images"]  # warm-up; also the photo count
        run_evaluation(sweep_cfg)
        model = load_model(args.run, "cpu")
        photo = Image.open(SAMPLE_DIR / args.photo).convert("L")
        scale = args.side / max(photo.size)
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BICUBIC)
        width, height = photo.size
        points = [Point(width * fx, height * fy, rgb=(40, 90, 220)) for fx, fy in ((0.3, 0.3), (0.6, 0.5), (0.5, 0.8))]
        guided = GuidedPhoto(model, photo)
        guided.colorize(points)
        one_more = [*points, Point(width * 0.7, height * 0.2, rgb=(230, 180, 40))]
        runs = {
            "web page: first answer to one more point": lambda: timed(
                lambda: guided.image(guided.first_answer(one_more)), 1, 20
            ),
            "plain evaluation": lambda: timed(lambda: run_evaluation(plain_cfg), images),
            "7-point hint sweep": lambda: timed(lambda: run_evaluation(sweep_cfg), images),
            "web page: the decoder's answer": lambda: timed(lambda: guided.colorize(points), 1, 10),
            "full colorize with the points": lambda: timed(lambda: colorize_image(photo, model, hints=points), 1, 5),
        }
        values = interleave(runs, args.rounds)
    ratios = [
        ratio(values, "7-point hint sweep", "plain evaluation", "hint sweep (0-50 points) / plain evaluation"),
        ratio(
            values,
            "web page: first answer to one more point",
            "full colorize with the points",
            "page's first answer / full colorize",
            target=5.0,
        ),
        ratio(
            values,
            "web page: the decoder's answer",
            "full colorize with the points",
            "page's decoder answer / full colorize",
            target=5.0,
        ),
    ]
    settings = (
        f"{args.run}, {images} embedded-sample photos at 224 px, bootstrap 1000; points on {args.photo} "
        f"({width}x{height}); {torch.get_num_threads()} threads"
    )
    report("hint_cost", settings, "images/s (updates/s)", values, ratios)


if __name__ == "__main__":
    main()
