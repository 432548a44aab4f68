"""The benchmark harness: interleaving, median ratios, the busy flag, run_all's table in the docs, provenance."""

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import harness  # noqa: E402
import run_all  # noqa: E402


def test_interleave_alternates_the_measurements_round_by_round():
    calls = []
    values = harness.interleave({"a": lambda: calls.append("a") or 2.0, "b": lambda: calls.append("b") or 1.0}, 3)
    assert calls == ["a", "b"] * 3 and values == {"a": [2.0] * 3, "b": [1.0] * 3}


def test_the_ratio_is_the_median_of_per_round_ratios_and_a_wide_spread_is_flagged():
    # the machine got 3x slower in round 2 for both: per-round ratios stay 0.5
    steady = harness.ratio({"fit": [5.0, 1.6, 5.2], "bare": [10.0, 3.2, 10.4]}, "fit", "bare", target=0.4)
    assert steady.median == pytest.approx(0.5) and not steady.busy and steady.met
    noisy = harness.ratio({"fit": [5.0, 1.0, 5.0], "bare": [10.0, 10.0, 5.0]}, "fit", "bare", target=0.9)
    assert noisy.median == pytest.approx(0.5) and noisy.busy and noisy.met is False
    one_odd_round = harness.Ratio("r", "a", "b", [0.50, 0.51, 0.49, 0.50, 0.90])  # the quartiles ignore it
    assert one_odd_round.median == pytest.approx(0.50) and not one_odd_round.busy


def test_report_writes_the_record_for_run_all(tmp_path, monkeypatch, capsys):
    out = tmp_path / "records.jsonl"
    monkeypatch.setenv("BENCHMARK_JSON", str(out))
    values = {"pipeline": [9.0, 9.5], "bare": [10.0, 10.0]}
    harness.report("demo", "2 photos", "photos/s", values, [harness.ratio(values, "pipeline", "bare", target=0.9)])
    record = json.loads(out.read_text())
    assert record["ratios"][0]["median"] == pytest.approx(0.925) and record["ratios"][0]["met"] is True
    assert "target >= 0.9: met" in capsys.readouterr().out
    table = run_all.markdown([record], "Measured on a test.")
    assert "| demo | pipeline / bare | **0.925** | 0.9–0.95 (2) | ≥ 0.9: met | 2 photos |" in table


def test_the_performance_page_shows_the_table_run_all_writes_and_no_typed_copy():
    page = (Path(__file__).resolve().parents[1] / "docs" / "performance.md").read_text()
    assert '--8<-- "benchmarks/results.md"' in page and "| benchmark | ratio |" not in page


def test_a_results_file_says_which_command_commit_date_and_machine_wrote_it():
    from colorlab.core.provenance import provenance

    line = provenance("python scripts/frontier.py a b")
    assert line.startswith("*Written by `python scripts/frontier.py a b` at commit ")
    assert re.search(r"on \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC, on .+ CPUs", line), line


def test_the_load_tests_table_says_what_was_measured_and_where():
    import app_load

    result = {"requests": 6, "answered": 6, "colorized": 2, "refused_with_a_message": 4, "still_serving": False,
              "seconds_per_round": [3.25, 4.0], "server_rss_mb": {"start": 900, "peak": 1000, "after": 950},
              "temp_folder_mb": {"peak": 1.5, "after_requests": 1.2}, "left_after_exit": []}  # fmt: skip
    table = app_load.table(result, "python benchmarks/app_load.py --rounds 2").splitlines()
    assert table[0].startswith("*Written by `python benchmarks/app_load.py --rounds 2` at commit ")
    rows = dict([cell.strip() for cell in line.strip("|").split("|")] for line in table[4:])
    assert rows["requests answered"] == "6 of 6" and rows["colorized / refused with a message"] == "2 / 4"
    assert rows["still serving afterwards"] == "**no**" and rows["seconds per round"] == "3.25, 4"
    assert rows["server resident memory, MB: start / peak / after"] == "900 / 1000 / 950"
    assert rows["left in the temporary folder after exit"] == "nothing"


@pytest.mark.parametrize("folder", ["scripts", "benchmarks"])
def test_every_script_and_benchmark_imports_against_the_current_library(folder, monkeypatch):
    """A moved library module breaks a script only when someone runs it; importing each one (its
    `main` is not run) catches that here."""
    import importlib.util

    for path in sorted((Path(__file__).resolve().parents[1] / folder).glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_{folder}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
        spec.loader.exec_module(module)
        assert callable(getattr(module, "main", None)) or path.stem in {"harness", "steps"}, path
