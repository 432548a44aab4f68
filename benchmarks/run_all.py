"""Run every benchmark and write the table the docs show: one command, one source for the figures.

    python benchmarks/run_all.py [--quick] [--only colorize evaluate ...]

Each benchmark runs in its own process (so none inherits another's threads, caches or memory) with
BENCHMARK_JSON pointing at a file its `harness.report` appends to. The collected records are written
to `benchmarks/results.json` (every round of every measurement) and `benchmarks/results.md` (one row
per ratio: median, range over the interleaved rounds, target, and a busy flag), which the docs'
performance page includes as it is. `--quick` runs smaller settings (about a third
of the time); the table says which settings each row used. Run it on an idle machine; rows flagged
busy say when it was not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Ratio  # benchmarks/harness.py

from colorlab.core.provenance import machine_description

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name: (script, arguments, quick arguments)
BENCHMARKS = {
    "colorize-lite0": (
        "colorize_throughput.py",
        ["--encoder", "efficientnet_lite0"],
        ["--photos", "24", "--rounds", "3"],
    ),
    "colorize-vgg16": ("colorize_throughput.py", ["--encoder", "vgg16"], ["--photos", "16", "--rounds", "3"]),
    "evaluate": ("evaluate_throughput.py", [], ["--rounds", "3"]),
    "startup": ("startup.py", ["--rounds", "5"], ["--rounds", "3"]),
    # a page update takes milliseconds and a shared machine's speed shifts from one round to the next:
    # five rounds, so that the median is not one slow round's
    "hint-cost": ("hint_cost.py", ["--photos", "24", "--rounds", "5"], ["--photos", "12", "--rounds", "5"]),
    "cache-build": ("cache_build.py", [], ["--photos", "128", "--rounds", "3"]),
    "framework-overhead": ("framework_overhead.py", [], ["--steps", "12", "--rounds", "3"]),
    "head-speed": ("head_speed.py", [], ["--steps", "5", "--rounds", "3"]),
    "data-throughput": ("data_throughput.py", [], ["--batches", "8", "--rounds", "3"]),
    "train-throughput": ("train_throughput.py", [], ["--steps", "2", "--rounds", "3"]),
    "encoder-cost": ("encoder_cost.py", [], ["--steps", "2", "--rounds", "3"]),
    "memory": ("memory.py", [], ["--sizes", "500", "5000"]),
    "sweep-cost": ("sweep_cost.py", ["--subset", "1000", "--epochs", "4"], ["--subset", "500", "--epochs", "3"]),
}


def run(name: str, quick: bool, records_file: Path) -> tuple[int, float]:
    """Run one benchmark in its own process; its records (appended to `records_file`) get its name."""
    script, full, small = BENCHMARKS[name]
    command = [sys.executable, str(HERE / script), *(small if quick else full)]
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    env = {**os.environ, "BENCHMARK_JSON": str(records_file), "PYTHONPATH": str(ROOT)}
    before = records_file.read_text().splitlines()
    code = subprocess.run(command, cwd=HERE, env=env).returncode
    lines = records_file.read_text().splitlines()
    tagged = [json.dumps({**json.loads(line), "run": name}) for line in lines[len(before) :] if line.strip()]
    records_file.write_text("\n".join([*before, *tagged]) + "\n")
    return code, time.perf_counter() - started


def markdown(records: list[dict], header: str) -> str:
    lines = [
        header,
        "",
        "| benchmark | ratio | median | range over rounds | target | settings |",
        "|---|---|---|---|---|---|",
    ]
    for record in records:
        for r in record["ratios"]:
            target = "" if r["target"] is None else f"≥ {r['target']:.3g}: {'met' if r['met'] else '**not met**'}"
            busy = " (busy)" if Ratio(r["name"], r["numerator"], r["denominator"], r["per_round"]).busy else ""
            rounds = len(r["per_round"])
            lines.append(
                f"| {record['benchmark']} | {r['name']} | **{r['median']:.3g}**{busy} | "
                f"{r['low']:.3g}–{r['high']:.3g} ({rounds}) | {target} | {record['settings']} |"
            )
    return "\n".join(lines) + "\n"


def header(records: list[dict]) -> str:
    """Where and by which invocations the rows were measured (a partial rerun keeps the others' rows)."""
    runs = {}
    for record in records:
        runs.setdefault(record.get("measured_by", "?"), []).append(record.get("run", record["benchmark"]))
    parts = [f"`{command}` ({', '.join(dict.fromkeys(names))})" for command, names in runs.items()]
    machines = sorted({record.get("machine", "?") for record in records})
    return f"Measured on {'; '.join(machines)} by {'; '.join(parts)}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller settings (about a third of the time)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run these benchmarks only")
    parser.add_argument("--table-only", action="store_true", help="rewrite the table from results.json, run nothing")
    args = parser.parse_args()
    names = [] if args.table_only else args.only or list(BENCHMARKS)
    invocation = "python benchmarks/run_all.py" + (" --quick" if args.quick else "")
    invocation += f" --only {' '.join(args.only)}" if args.only else ""
    stamp, machine = time.strftime("%Y-%m-%d"), machine_description()
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        records_file = Path(tmp) / "records.jsonl"
        records_file.touch()
        for name in names:
            code, seconds = run(name, args.quick, records_file)
            if code != 0:
                failed.append(name)
        records = [json.loads(line) for line in records_file.read_text().splitlines() if line.strip()]
    for record in records:
        record.update(measured_by=f"{invocation}, {stamp}", machine=machine)
    previous = HERE / "results.json"
    if (args.only or args.table_only) and previous.is_file():  # keep the other benchmarks' last results
        kept = [r for r in json.loads(previous.read_text())["records"] if r.get("run") not in names]
        order = list(BENCHMARKS)
        records = sorted(kept + records, key=lambda r: order.index(r["run"]) if r.get("run") in order else len(order))
    (HERE / "results.json").write_text(json.dumps({"records": records}, indent=2))
    table = markdown(records, header(records))
    (HERE / "results.md").write_text(table)
    print(table)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
