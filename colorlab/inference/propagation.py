"""Edge-aware propagation of point colours over the region they lie in.

A point tells the colour of one spot; the user means the region around it: the same surface, up to
its edges. Levin, Lischinski and Weiss (2004, "Colorization using Optimization") spread scribbles to
neighbours of similar lightness by a sparse solve; colorlab gets the same behaviour in linear time
from the domain transform's recursive filter (Gastal and Oliveira 2011, "Domain Transform for
Edge-Aware Image and Video Processing"): along each row and column, the distance between two
neighbours is 1 + (reach / edge) * |L_i - L_j|, so a lightness step of a few `edge` units is as far
as a long walk through a uniform region, and an exponential kernel of `reach` pixels in that distance
spreads each value. Normalised convolution turns it into propagation: the filtered hint mask says how
strongly the points reach each pixel, the filtered values over it which value they bring.

`refine` is what guided colorization outputs: the network's own change under the points kept where the
points reach, and each point's remaining error spread over its region, so the point keeps its colour
and other regions keep theirs; a last, local round (`pinned`) gives each point back what neighbouring
points of other colours mixed away. `spread` is the non-learned baseline: the automatic colours plus the
points' errors spread the same way.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from colorlab.models.hints import CellPool


@dataclass(frozen=True)
class Propagation:
    """How far and how freely point colours spread: `edge` the lightness step (L/100 units) that costs
    as much as `reach` pixels of uniform region, `reach` the spatial scale in pixels at
    `reference_side` px (it scales with the network's input), `gain` how far below a point's own
    strength a pixel still counts as fully reached (1: only the point itself), `iterations` of the
    separable filter, `scale` the factor the lightness is reduced by first (4: fur and grain average
    out, the outlines of objects stay; and 16 times less work). `separate_edges`: distance and edges
    act apart: `gain` applies to the distance alone (the same filter on a flat image), and each
    edge crossed then costs its own factor, about exp(-1.4 step / edge), which no gain undoes."""

    edge: float = 1.0
    reach: float = 64.0
    gain: float = 4.0
    iterations: int = 3
    scale: int = 1
    separate_edges: bool = False
    reference_side: int = 224

    def __post_init__(self) -> None:
        for name in ("edge", "reach", "gain"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
                raise ValueError(f"propagation.{name}={value!r}: must be a finite number > 0")
        for name, high in (("iterations", 8), ("scale", 16)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise ValueError(f"propagation.{name}={value!r}: must be a whole number, 1 to {high}")

    def spatial(self, height: int, width: int) -> float:
        """`reach` in pixels of a grid of this size: it scales with the grid, reduced by `scale` or not."""
        return max(1.0, self.reach * min(height, width) / self.reference_side)


# Chosen on the Kaggle cats validation split (scripts/tune_propagation.py; the guided page shows the
# curve): the points' errors spread over their surface at a quarter of the resolution, where fur and
# grain average out and only the outlines of objects stay as edges, and those edges stop it a little
# sooner than at full resolution (edge 0.7): on 160 validation photos +0.03 dB at 10 points and 1 % less
# change in far regions than half the resolution with edge 1.0 (and a quarter of the work). The
# network's own change under the points is kept over the object they lie on, also at a quarter of the
# resolution, and each strong edge it crosses costs a factor of its own. A wider gate (edge 0.45)
# gains +0.04 dB at one point but tints other regions 17 % more; a narrower one (0.35) the reverse.
# PIN: what error remains at the points after the spread (neighbouring points of other colours mix
# in a normalised convolution) is spread once more over a few pixels around each, so each point gets
# its own colour back: the ab error at 50 points falls from 3.5 to 1.0 units, +0.8 dB. It runs at half
# the network's resolution with one iteration of its filter, a third of the cost of two at full
# resolution: the same PSNR up to 10 points, -0.01 dB at 20 and -0.03 at 50, and the points' colours
# kept more closely (ab error 0.57 units at 10 points and 1.03 at 50, against 0.62 and 1.13).
# Two iterations at half the resolution: -0.01 dB at 50, 0.64 and 1.20 units; at a quarter, 0.67
# and 1.28.
# MIN_REACH: a pixel a point reaches with less than 3 % of its own strength is left as it was: the
# filters' faint tail made 2 % of the change in far regions for 0.01 dB at one point (none at 10 or 50).
DEFAULT_PROPAGATION = Propagation(edge=0.7, scale=4)
GATE = Propagation(edge=0.4, reach=400.0, gain=16.0, scale=4, separate_edges=True)
PIN = Propagation(reach=16.0, iterations=1, scale=2)
MIN_REACH = 0.03  # below this share of a point's own strength, a pixel is not reached
BLOCKED_STEP_SIZE = 2048  # values per step of a recursive pass up to which it runs in blocks


def _scripted(function):
    """`function` compiled by TorchScript on first use (its Python loop is ~8x faster compiled);
    TorchScript's deprecation notice is for code authors, not for colorlab's users, so it is muted."""
    compiled = None

    def call(*args):
        nonlocal compiled
        if compiled is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                compiled = torch.jit.script(function)
        return compiled(*args)

    return call


def _causal(values: torch.Tensor, feedback: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """J[i] = values[i] + feedback[i] J[i-1] along dim 0 (J[-1] = 0), in place on `values`; `reverse`:
    J[i] = values[i] + feedback[i] J[i+1] from the end. Each step is one fused multiply-add on a view
    taken once (indexing a tensor per step costs more than the step)."""
    rows, gains = values.unbind(0), feedback.unbind(0)
    if reverse:
        for i in range(len(rows) - 2, -1, -1):
            rows[i].addcmul_(gains[i], rows[i + 1])
    else:
        for i in range(1, len(rows)):
            rows[i].addcmul_(gains[i], rows[i - 1])
    return values


def _block_size(n: int) -> int:
    """Steps per block for `_causal_blocked`: about sqrt(n), a divisor of n where one is near (no padding)."""
    root = int(math.sqrt(n))
    for block in range(root, max(1, root // 2), -1):
        if n % block == 0:
            return block
    return root + 1


def _causal_blocked(values: torch.Tensor, feedback: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """`_causal` in about 2 sqrt(N) steps instead of N: the recurrence runs inside blocks of sqrt(N)
    steps, all blocks at once, then along the blocks' ends, and each block gets what enters it times
    the product of its feedbacks so far. Worth it where a step is small (the loop's overhead is most
    of its cost); the same result up to float rounding."""
    n = values.shape[0]
    block = _block_size(n)
    count = (n + block - 1) // block
    pad = count * block - n
    if pad > 0:
        values = torch.cat([values, values.new_zeros([pad] + values.shape[1:])])
        feedback = torch.cat([feedback, feedback.new_zeros([pad] + feedback.shape[1:])])
    out = values.reshape([count, block] + values.shape[1:]).transpose(0, 1).contiguous()  # (block, count, ...)
    steps = feedback.reshape([count, block] + feedback.shape[1:]).transpose(0, 1).contiguous()
    out = _causal(out, steps, reverse)  # each block on its own, as if nothing entered it
    if reverse:  # a block's entry comes from the next block's first step, through its own last one
        through = torch.cumprod(steps.flip(0), 0).flip(0)  # what of a block's entry reaches each of its steps
        firsts = _causal(out[0].clone(), through[0], True)  # each block's true first value
        out[:, :-1].addcmul_(through[:, :-1], firsts[1:].unsqueeze(0))
    else:
        through = torch.cumprod(steps, 0)
        ends = _causal(out[block - 1].clone(), through[block - 1])  # each block's true last value
        out[:, 1:].addcmul_(through[:, 1:], ends[:-1].unsqueeze(0))
    return out.transpose(0, 1).reshape([count * block] + values.shape[1:])[:n]


def _recursive_pass(values: torch.Tensor, weights: torch.Tensor, blocked: bool) -> torch.Tensor:
    """One causal and one anti-causal pass along dim 0 of `values` (N,...): J[i] = I[i] + w[i] (J[i-1] - I[i]),
    `weights` (N,...) the feedback between i-1 and i (w[0] unused). Written as J[i] = (1 - w[i]) I[i] +
    w[i] J[i-1], the (1 - w) I term computed for all i at once. `blocked`: in blocks (`_causal_blocked`),
    for small steps (one photo on the web page: ~2.4x faster); else step by step (a batch: less memory
    traffic)."""
    forward = weights.clone()
    forward[0] = 0.0
    backward = torch.cat([forward[1:], torch.zeros_like(forward[:1])])  # the feedback between i and i+1
    if blocked:
        out = _causal_blocked((1.0 - forward) * values, forward)
        return _causal_blocked((1.0 - backward) * out, backward, True)
    out = _causal((1.0 - forward) * values, forward)
    return _causal((1.0 - backward) * out, backward, True)


recursive_pass = _scripted(_recursive_pass)


def edge_aware_filter(
    lightness: torch.Tensor, values: torch.Tensor, settings: Propagation | Sequence[Propagation]
) -> torch.Tensor:
    """The domain transform's recursive filter of (B,C,H,W) `values`, its edges from L/100 (B,1,H,W).
    `settings`: one Propagation for the whole batch, or one per equal share of it, in order (several
    filters in one run: their loop steps are shared, which is most of a small image's cost); all with
    the same `iterations`."""
    groups = [settings] if isinstance(settings, Propagation) else list(settings)
    if len({group.iterations for group in groups}) != 1 or lightness.shape[0] % len(groups):
        raise ValueError("filters run together need the same iterations and an equal share of the batch each")
    height, width = lightness.shape[-2:]
    n = groups[0].iterations
    share = lightness.shape[0] // len(groups)
    spatial = [group.spatial(height, width) for group in groups]
    # per batch item: the lightness step that costs a pixel, and log(feedback) of the first iteration
    # (its sigma; each next halves it)
    ratio = torch.tensor([s / group.edge for s, group in zip(spatial, groups, strict=True)]).repeat_interleave(share)
    sigma = torch.tensor(spatial, dtype=torch.float64) * math.sqrt(3) * 2 ** (n - 1) / math.sqrt(4**n - 1)
    log_feedback = (-math.sqrt(2) / sigma).float().repeat_interleave(share)
    ratio, log_feedback = ratio.view(-1, 1, 1, 1).to(lightness), log_feedback.view(-1, 1, 1, 1).to(lightness)
    # distances between neighbours, rows (along W) and columns (along H), then feedback ** distance,
    # laid out loop dimension first
    along_w = 1 + ratio * (lightness[..., :, 1:] - lightness[..., :, :-1]).abs()  # (B,1,H,W-1)
    along_h = 1 + ratio * (lightness[..., 1:, :] - lightness[..., :-1, :]).abs()  # (B,1,H-1,W)
    weights_w = (
        torch.cat([torch.zeros_like(along_w[..., :1]), along_w], -1).mul_(log_feedback).exp_().permute(3, 0, 1, 2)
    )
    weights_h = (
        torch.cat([torch.zeros_like(along_h[..., :1, :]), along_h], -2).mul_(log_feedback).exp_().permute(2, 0, 1, 3)
    )
    out = values
    blocked = values[:, :, 0].numel() <= BLOCKED_STEP_SIZE and values[..., 0].numel() <= BLOCKED_STEP_SIZE
    for k in range(n):
        if k:  # half the sigma: the feedback, and so each weight, squared
            weights_w, weights_h = weights_w * weights_w, weights_h * weights_h
        rows = recursive_pass(out.permute(3, 0, 1, 2).contiguous(), weights_w, blocked)  # (W,B,C,H)
        out = rows.permute(1, 2, 3, 0)
        columns = recursive_pass(out.permute(2, 0, 1, 3).contiguous(), weights_h, blocked)  # (H,B,C,W)
        out = columns.permute(1, 2, 0, 3)
    return out.contiguous()


@torch.no_grad()
def propagate(
    lightness: torch.Tensor, mask: torch.Tensor, values: torch.Tensor, settings: Propagation | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reach (B,1,H,W) in [0,1], propagated values (B,C,H,W)) of `values` given where `mask` (B,1,H,W)
    is 1: reach is 1 at the points and inside their region near them, falling with distance and
    across edges; the values are the points' own, mixed by how strongly each reaches the pixel."""
    return propagate_all(lightness, mask, [(values, settings or DEFAULT_PROPAGATION)])[0]


@torch.no_grad()
def propagate_all(
    lightness: torch.Tensor, mask: torch.Tensor, requests: Sequence[tuple[torch.Tensor, Propagation]]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`propagate` of several (values, settings) from the same points: what each gives. Requests with
    the same `scale` and `iterations` share one filter run (on one photo, the loop's steps cost more
    than the values they carry)."""
    results: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(requests)
    runs: dict[tuple[int, int], list[int]] = {}
    for index, (_, settings) in enumerate(requests):
        runs.setdefault((settings.scale, settings.iterations), []).append(index)
    for (scale, _), indices in runs.items():
        together = _propagate_run(lightness, mask, [requests[i] for i in indices], scale)
        for index, result in zip(indices, together, strict=True):
            results[index] = result
    return results  # type: ignore[return-value]


def _propagate_run(
    lightness: torch.Tensor, mask: torch.Tensor, requests: Sequence[tuple[torch.Tensor, Propagation]], scale: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`propagate_all` for requests of one `scale` and `iterations`: one filter run over the batch
    stacked once per request (twice for `separate_edges`: with edges and without), their values'
    channels padded to the widest, and one resize back for all of them."""
    lightness, mask = lightness.float(), mask.float()
    size = lightness.shape[-2:]
    pooled = scale > 1 and min(size) >= 4 * scale
    if pooled:
        small_light = F.avg_pool2d(lightness, scale, ceil_mode=True)
        pool = CellPool(mask, scale)
        small_mask = pool.mask
    else:
        small_light, small_mask = lightness, mask
    flat = torch.zeros_like(small_light)  # the same filter without edges: distance alone
    width = 1 + max(values.shape[1] for values, _ in requests)
    lights, inputs, groups = [], [], []
    for values, settings in requests:
        values = values.float()
        if values.shape[1]:
            carried = torch.cat([small_mask, pool(values) if pooled else values * small_mask], 1)
        else:
            carried = small_mask
        carried = F.pad(carried, (0, 0, 0, 0, 0, width - carried.shape[1]))
        for light in (small_light, flat) if settings.separate_edges else (small_light,):
            lights.append(light)
            inputs.append(carried)
            groups.append(settings)
    filtered = edge_aware_filter(torch.cat(lights), torch.cat(inputs), groups).split(small_light.shape[0])
    results, k = [], 0
    for values, settings in requests:
        strength, carried = filtered[k][:, :1], filtered[k][:, 1 : 1 + values.shape[1]]
        spatial = filtered[k + 1][:, :1] if settings.separate_edges else strength
        k += 2 if settings.separate_edges else 1
        results.append(_reach(strength, spatial, carried, small_mask, settings))
    if small_light.shape[-2:] == size:
        return results
    # all requests' reach and values resized in one call: one pass over the output, not one per tensor
    parts = [part for result in results for part in result]
    resized = F.interpolate(torch.cat(parts, 1), size=size, mode="bilinear", align_corners=False)
    parts = resized.split([part.shape[1] for part in parts], 1)
    return [(parts[2 * i], parts[2 * i + 1]) for i in range(len(results))]


def _reach(
    strength: torch.Tensor, spatial: torch.Tensor, carried: torch.Tensor, mask: torch.Tensor, settings: Propagation
) -> tuple[torch.Tensor, torch.Tensor]:
    """`propagate`'s answer from the filtered mask (`strength`; `spatial`: without edges), the filtered
    values (`carried`) and the points (`mask`), at the filter's grid."""
    own = (spatial * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1.0)  # at the points
    reach = (settings.gain * spatial / own.view(-1, 1, 1, 1).clamp_min(1e-12)).clamp(max=1.0)
    if settings.separate_edges:
        reach = reach * (strength / spatial.clamp_min(1e-12)).clamp(max=1.0)
    reach = torch.where(reach > MIN_REACH, reach, torch.zeros_like(reach))
    return reach, carried / strength.clamp_min(1e-12)


def refine(
    lightness: torch.Tensor,
    automatic: torch.Tensor,
    guided: torch.Tensor,
    hints_ab: torch.Tensor,
    mask: torch.Tensor,
    settings: Propagation | None = None,
    gate: Propagation = GATE,
    pin: Propagation | None = PIN,
) -> torch.Tensor:
    """Guided ab/128 (B,2,H,W) that does what the points mean: `automatic` (the network without points)
    plus the network's change under the points (`guided - automatic`) where the points reach by `gate`
    (the object they lie on), plus each point's remaining error spread over its region by `settings`:
    its error against the guided colours where the network's change is kept, against the automatic
    ones where it is not, so the point keeps its colour either way; then `pin` (None: not). Far from
    every point, and across edges, the automatic colours stay. Without points: `guided`."""
    if not bool(mask.any()):
        return guided
    errors = torch.cat([hints_ab - guided, hints_ab - automatic], 1)
    (reach, errors), (gated, _) = propagate_all(
        lightness, mask, [(errors, settings or DEFAULT_PROPAGATION), (mask[:, :0], gate)]
    )
    # in place on what propagate_all made (image-sized temporaries cost more than their arithmetic)
    kept, dropped = errors[:, :2], errors[:, 2:]
    error = kept.sub_(dropped).mul_(gated).add_(dropped)  # gated * kept + (1 - gated) * dropped
    out = torch.sub(guided, automatic).mul_(gated).add_(automatic).addcmul_(reach, error).clamp_(-1.0, 1.0)
    return pinned(lightness, out, hints_ab, mask, pin)


def spread(
    lightness: torch.Tensor,
    automatic: torch.Tensor,
    hints_ab: torch.Tensor,
    mask: torch.Tensor,
    settings: Propagation | None = None,
    pin: Propagation | None = PIN,
) -> torch.Tensor:
    """The non-learned propagation baseline: the automatic colours plus the points' errors
    (`hints_ab - automatic` at each point) spread over their regions, then `pin`, as `refine` does."""
    if not bool(mask.any()):
        return automatic
    reach, error = propagate(lightness, mask, hints_ab - automatic, settings)
    return pinned(lightness, torch.addcmul(automatic, reach, error).clamp_(-1.0, 1.0), hints_ab, mask, pin)


def pinned(
    lightness: torch.Tensor, ab: torch.Tensor, hints_ab: torch.Tensor, mask: torch.Tensor, pin: Propagation | None
) -> torch.Tensor:
    """`ab` with each point's remaining error (`hints_ab - ab` at the point) spread over the few pixels
    around it that `pin` reaches: normalised convolution mixes neighbouring points of other colours,
    and this gives each its own back (a second, local round of the same spread)."""
    if pin is None:
        return ab
    reach, error = propagate(lightness, mask, hints_ab - ab, pin)
    return torch.addcmul(ab, reach, error).clamp_(-1.0, 1.0)
