"""Measurements that survive a shared, noisy machine: interleaved rounds, median ratios, a busy warning.

Every benchmark compares two (or more) things measured in the same run. A single timing of each says
little when another process shares the CPU: the load changes between the two timings and the ratio
swings (framework_overhead once printed 3.91 under load and 0.98 alone). So each measurement runs
once per round, in turn (A B A B ...), every round gives one ratio from neighbours that saw the same
machine, and the report is the median of those ratios with their range. When their spread (the
interquartile range from 4 rounds on, else the whole range) is wider than BUSY_SPREAD of the median,
the machine was busy or the measurement is too short: the report says so.

`report` prints a table and, when the environment variable BENCHMARK_JSON names a file, writes the
same numbers there for `benchmarks/run_all.py`.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

BUSY_SPREAD = 0.10  # spread / median of the per-round ratios above which a result is flagged


def interleave(runs: dict[str, Callable[[], float]], rounds: int = 5) -> dict[str, list[float]]:
    """Call each measurement (returning a rate, higher is better) once per round, in turn."""
    values: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, measure in runs.items():
            values[name].append(float(measure()))
    return values


@dataclass
class Ratio:
    """numerator / denominator, round by round; the target is a lower bound on the median."""

    name: str
    numerator: str
    denominator: str
    per_round: list[float]
    target: float | None = None
    note: str = ""
    median: float = field(init=False)
    low: float = field(init=False)
    high: float = field(init=False)

    def __post_init__(self) -> None:
        self.median = statistics.median(self.per_round)
        self.low, self.high = min(self.per_round), max(self.per_round)

    @property
    def spread(self) -> float:
        """Interquartile range (4+ rounds: one odd round does not flag a steady run), else the range,
        relative to the median."""
        if not self.median:
            return float("inf")
        if len(self.per_round) >= 4:
            q1, _, q3 = statistics.quantiles(self.per_round, n=4, method="inclusive")
            return (q3 - q1) / self.median
        return (self.high - self.low) / self.median

    @property
    def busy(self) -> bool:
        return len(self.per_round) > 1 and self.spread > BUSY_SPREAD

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.median >= self.target


def ratio(
    values: dict[str, list[float]], numerator: str, denominator: str, name: str = "", target: float | None = None
) -> Ratio:
    """The per-round ratio of two interleaved measurements."""
    rounds = zip(values[numerator], values[denominator], strict=True)
    return Ratio(name or f"{numerator} / {denominator}", numerator, denominator, [a / b for a, b in rounds], target)


def report(benchmark: str, settings: str, unit: str, values: dict[str, list[float]], ratios: list[Ratio]) -> dict:
    """Print the rates (median and range per measurement) and the ratios with their targets; return
    the record (also written to $BENCHMARK_JSON when set)."""
    print(f"{benchmark}: {settings}")
    for name, rates in values.items():
        print(f"  {name:40s} {statistics.median(rates):9.2f} {unit} (rounds: {', '.join(f'{v:.2f}' for v in rates)})")
    for r in ratios:
        target = "" if r.target is None else f"  target >= {r.target:g}: {'met' if r.met else 'NOT met'}"
        print(f"  ratio {r.name}: {r.median:.3f} [{r.low:.3f}, {r.high:.3f}] over {len(r.per_round)} rounds{target}")
        if r.busy:
            print(
                f"  warning: the rounds of '{r.name}' spread {r.spread:.0%} of the median (> {BUSY_SPREAD:.0%}): "
                "the machine was busy or the runs are too short; rerun on an idle machine or with more rounds"
            )
    record = {
        "benchmark": benchmark,
        "settings": settings,
        "unit": unit,
        "rates": {name: {"median": statistics.median(v), "rounds": v} for name, v in values.items()},
        "ratios": [{**asdict(r), "spread": r.spread, "busy": r.busy, "met": r.met} for r in ratios],
    }
    if os.environ.get("BENCHMARK_JSON"):
        with open(os.environ["BENCHMARK_JSON"], "a") as f:
            f.write(json.dumps(record) + "\n")
    return record
