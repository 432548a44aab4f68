"""Evaluation with hints: N points revealed from the truth, every metric per N, as Zhang et al. 2017
measured user-guided colorization (PSNR against the number of points).

Per batch the encoder runs once; the decoder runs once per N. Beside the model, two non-learned hint
baselines on the model's own zero-hint colours: each point's colour blended in by a Gaussian
(`colorlab.evaluation.hint_reveal.gaussian_blend`), and each point's error propagated over its region by an
edge-aware solve (`colorlab.inference.propagation.spread`); and two ways of finishing the model's guided
colours: blended like the first baseline ("model + blend"), and refined by the same propagation
("model + propagation", `colorlab.inference.propagation.refine`: what colorize and the web page output). A
model that takes no hints is measured by the baselines alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from colorlab.core.color import AB_SCALE
from colorlab.core.threads import read_ahead
from colorlab.evaluation import hint_reveal
from colorlab.evaluation.scoring import METRIC_KEYS, Truth, paired_differences, score_batch, summarise
from colorlab.inference.propagation import DEFAULT_PROPAGATION, Propagation, refine, spread
from colorlab.models import ab_grid
from colorlab.models import hints as hint_maps
from colorlab.models.ab_grid import ColorStats
from colorlab.models.contract import ColorModel
from colorlab.models.hints import Hints

MODEL, BLEND, PINNED = "model", "gaussian blend", "model + blend"
PROPAGATED, REFINED = "edge-aware propagation", "model + propagation"
FAR_SHARE = 0.25  # "far": more than this share of the short side from every point ...
OTHER_LIGHTNESS = 0.1  # ... and more than this (L/100) from every point's lightness: another region


def check_counts(counts: Sequence[int]) -> list[int]:
    """The hint counts of a sweep: whole numbers in 0..hint_maps.MAX_POINTS, sorted, each once."""
    if isinstance(counts, str | bytes) or not isinstance(counts, Sequence) or not counts:
        raise ValueError(f"hints={counts!r}: give a list of point counts, e.g. hints=[0,1,5,10]")
    for count in counts:
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= hint_maps.MAX_POINTS:
            raise ValueError(f"hints={list(counts)}: each count must be a whole number in 0..{hint_maps.MAX_POINTS}")
    return sorted(set(counts))


@torch.no_grad()
def sweep(
    model: ColorModel,
    batches: Iterable[torch.Tensor],
    stats: ColorStats,
    counts: Sequence[int],
    device: torch.device | str = "cpu",
    seed: int = 0,
    patch: int = 6,
    sigma: float = 24.0,
    global_hint: str | torch.Tensor | None = None,
    temperature: float | None = None,
    propagation: Propagation = DEFAULT_PROPAGATION,
) -> dict[int, dict[str, list[dict[str, float]]]]:
    """{N: {predictor: one dict of metrics per image}} for each count N of points revealed from the truth
    (`patch` px squares at random locations, `hints.reveal` with `seed`: the same points for every model).

    `global_hint`: None, "truth" (each photo's own colour distribution: an oracle) or a (GLOBAL_CHANNELS,)
    distribution (a reference photo's), given with every N to a model that takes hints.

    Beside the metrics, each row has `hint_error` (mean ab error at the hinted pixels, ab units: is the
    colour given honoured?) and `far_change` (mean ab change against the predictor's own zero-point
    result in pixels far from every point and of another lightness: does a point tint other regions?
    0 where a photo has no such pixel)."""
    counts = check_counts(counts)
    weights = ab_grid.inverse_prior_weights(stats.prior).float()
    records: dict[int, dict[str, list[dict[str, float]]]] = {n: {} for n in counts}
    learned = model.takes_hints
    first = 0
    for rgb in read_ahead(batches):
        truth = Truth.of(rgb.to(device), weights)
        size = tuple(truth.lightness.shape[-2:])
        features = model.encode(truth.lightness)
        given = _global(global_hint, truth.ab)
        automatic = model.decode(features, size, None, temperature)
        zero: dict[str, torch.Tensor] = {}
        base = None
        for n in counts:
            revealed = hint_reveal.reveal(truth.ab, n, seed, patch, first)
            predictions = {
                BLEND: hint_reveal.gaussian_blend(automatic, revealed, sigma, patch * patch),
                PROPAGATED: spread(truth.lightness, automatic, revealed.ab, revealed.mask, propagation),
            }
            if learned:
                hints = revealed.with_global(given)
                guided = model.decode(features, size, hints, temperature)
                pinned = hint_reveal.gaussian_blend(guided, revealed, sigma, patch * patch)
                if base is None:  # the decoder with the global hint but no points: what the points change
                    no_points = hints.without_points()
                    base = automatic if given is None else model.decode(features, size, no_points, temperature)
                refined = refine(truth.lightness, base, guided, revealed.ab, revealed.mask, propagation)
                predictions = {MODEL: guided, PINNED: pinned, REFINED: refined, **predictions}
            for name, rows in score_predictions(truth, predictions, revealed, zero).items():
                records[n].setdefault(name, []).extend(rows)
        first += rgb.shape[0]
    return records


def score_predictions(
    truth: Truth, predictions: dict[str, torch.Tensor], revealed: Hints, zero: dict[str, torch.Tensor]
) -> dict[str, list[dict[str, float]]]:
    """Each predictor's rows for one batch: the metrics, `hint_error` and `far_change` (against its
    zero-point result in `zero`, which the first count fills)."""
    far = far_pixels(truth.lightness, revealed.mask)
    keys = [*METRIC_KEYS, "hint_error", "far_change"]
    rows = {}
    for name, pred in predictions.items():
        zero.setdefault(name, pred)
        scores = score_batch(truth, pred)
        scores["hint_error"] = masked_mean(ab_distance(pred, revealed.ab), revealed.mask)
        scores["far_change"] = masked_mean(ab_distance(pred, zero[name]), far)
        table = torch.stack([scores[key].double() for key in keys], 1).cpu().tolist()
        rows[name] = [dict(zip(keys, row, strict=True)) for row in table]
    return rows


def ab_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,1,H,W) Euclidean distance of two ab/128 maps, in ab units."""
    return (a - b).square().sum(1, keepdim=True).sqrt() * AB_SCALE


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) mean of (B,1,H,W) `values` where `mask` is 1; 0 for a photo without such pixels."""
    return (values * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1.0)


def far_pixels(lightness: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,1,H,W) 1 where a pixel is more than FAR_SHARE of the short side from every hinted pixel and
    its lightness differs by more than OTHER_LIGHTNESS from every hinted pixel's: another region."""
    reach = max(1, int(FAR_SHARE * min(lightness.shape[-2:])))
    near = F.max_pool2d(mask, 2 * reach + 1, stride=1, padding=reach) > 0
    bins = (lightness.clamp(0, 1) * 100).round().long()  # (B,1,H,W) L in whole units
    hinted = torch.zeros(lightness.shape[0], 101, device=lightness.device)
    hinted.scatter_add_(1, bins.flatten(1), mask.flatten(1).float())
    width = int(OTHER_LIGHTNESS * 100)
    close = F.max_pool1d((hinted > 0).float().unsqueeze(1), 2 * width + 1, stride=1, padding=width).squeeze(1) > 0
    similar = close.gather(1, bins.flatten(1)).view_as(mask)
    return (~near & ~similar).float()


def _global(global_hint: str | torch.Tensor | None, truth_ab: torch.Tensor) -> torch.Tensor | None:
    if global_hint is None:
        return None
    if isinstance(global_hint, str):
        if global_hint != "truth":
            raise ValueError(f"global_hint={global_hint!r}: use truth, or a photo's colour distribution")
        return hint_maps.distribution(truth_ab)
    return global_hint.to(truth_ab.device).view(1, -1).expand(truth_ab.shape[0], -1)


def summarise_sweep(
    records: dict[int, dict[str, list[dict[str, float]]]], bootstrap: int = 1000, seed: int = 0
) -> dict[str, dict]:
    """Means with 95% intervals per N and predictor, and the paired differences that say what the hints
    bought: each predictor against its own zero-point result, and the model against the blend baseline."""
    curves = {
        str(n): {name: summarise(rows, bootstrap, seed) for name, rows in by_name.items()}
        for n, by_name in records.items()
    }
    differences: dict[str, dict] = {}
    zero = records.get(0)
    for n, by_name in records.items():
        pairs = {}
        for name in (MODEL, PINNED, REFINED):
            for baseline in (BLEND, PROPAGATED):
                if name in by_name and baseline in by_name:
                    pairs[f"{name} - {baseline}"] = paired_differences(
                        by_name[name], by_name[baseline], bootstrap, seed
                    )
        if zero is not None:
            for name, rows in by_name.items():
                pairs[f"{name} - {name} at 0"] = paired_differences(rows, zero[name], bootstrap, seed)
        differences[str(n)] = pairs
    return {"curves": curves, "differences": differences}


def format_sweep(summary: dict[str, dict]) -> str:
    """A plain-text table: PSNR and AuC per N and predictor, with the paired gains."""
    lines = [
        "points  predictor               PSNR (dB)  AuC (%)  hint Δab  far Δab  gain over 0 points (PSNR, paired 95%)"
    ]
    for n, by_name in summary["curves"].items():
        for name, metrics in by_name.items():
            gain = summary["differences"][n].get(f"{name} - {name} at 0", {}).get("psnr")
            gain_text = f"{gain['mean']:+.2f} [{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}]" if gain else ""
            hinted = metrics.get("hint_error", {}).get("mean", float("nan"))
            far = metrics.get("far_change", {}).get("mean", float("nan"))
            lines.append(
                f"{n:>6}  {name:<22}  {metrics['psnr']['mean']:9.2f}  {metrics['auc']['mean']:7.2f}  "
                f"{hinted:8.2f}  {far:7.2f}  {gain_text}"
            )
    return "\n".join(lines)


def plot_hint_curves(runs: dict[str, dict], path: Path) -> None:
    """PSNR and AuC against the number of points, one colour per run: the model + propagation (what
    colorize and the web page output) solid with its 95% band, the raw model dotted, the model + blend
    dash-dotted, the Gaussian-blend baseline dashed, the edge-aware propagation baseline dash-dot-dotted.
    `runs`: {name: the "hints" entry of its metrics.json}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for (name, entry), color in zip(runs.items(), colors * 4, strict=False):
        counts = [int(n) for n in entry["curves"]]
        for ax, key, label in zip(axes, ("psnr", "auc"), ("PSNR (dB)", "AuC (%)"), strict=True):
            for predictor, style in ((REFINED, "-"), (MODEL, (0, (1, 1))), (PINNED, "-."), (BLEND, "--"),
                                     (PROPAGATED, (0, (5, 1, 1, 1, 1, 1)))):  # fmt: skip
                rows = [entry["curves"][str(n)].get(predictor) for n in counts]
                if any(row is None for row in rows):
                    continue
                mean = [row[key]["mean"] for row in rows]
                ax.plot(counts, mean, linestyle=style, color=color, marker="o", ms=3, label=f"{name}: {predictor}")
                if predictor == REFINED:
                    low, high = [row[key]["ci_low"] for row in rows], [row[key]["ci_high"] for row in rows]
                    ax.fill_between(counts, low, high, color=color, alpha=0.15)
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlabel("points revealed from the truth")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Guided colorization: quality against the number of points")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
