"""docs/benchmarks.md is written by the benchmarks: a section per benchmark, replaced whole."""

import datetime
import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str, as_name: str):
    """A bench script as a module, without putting bench/ on the path (its localcloud.py would
    shadow the localcloud package)."""
    spec = importlib.util.spec_from_file_location(as_name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = sys.modules.setdefault("report", load("report", "report"))  # what the scripts import it as


def test_a_section_is_replaced_whole_and_the_others_are_kept(tmp_path):
    page = tmp_path / "benchmarks.md"
    stamp = {"when": datetime.date(2026, 12, 2), "revision": "abc1234", "host": "2 CPUs"}
    report.record("one", "python bench/one.py", report.table(["a"], [[1]]), page, **stamp)
    report.record("two", "python bench/two.py", "| b |", page, **stamp)
    report.record("one", "python bench/one.py --docs", report.table(["a"], [[2]]), page, **stamp)
    text = page.read_text()
    assert text.startswith(report.HEADER) and text.count("<!-- begin one -->") == 1
    assert "| 2 |" in text and "| 1 |" not in text and "| b |" in text
    assert "`python bench/one.py --docs` — 2026-12-02, commit abc1234, 2 CPUs" in text


def test_the_local_cloud_benchmark_tables_its_runs():
    bench_localcloud = load("localcloud", "bench_localcloud")

    run = {"execution_seconds": 57.6, "compute_seconds": 28.9, "states": {"Training": 19.0, "ScoreShards": 7.4},
           "max_memory_used": {"IngestFunction": {"used": 208, "size": 1024}}}
    text = bench_localcloud.docs_tables({100_000: run, 1_000_000: {**run, "execution_seconds": 358.7}})
    assert "| 100,000 | 57.6 | 28.9 | Training 19.0 s, ScoreShards 7.4 s |" in text
    assert "| IngestFunction | 208 | 208 |" in text
