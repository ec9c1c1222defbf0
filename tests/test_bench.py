"""benchmarks/bench.py says what it measures: its help, rows without PyTorch, shares of peak."""

import importlib.util

import pytest

from nprelu.context import ROOT


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_bench_help_describes_every_option_with_its_default(cli):
    code, out, _ = cli("bench", "--help")
    assert code == 0 and "usage: nprelu bench" in out and "PyTorch" in out
    for option, default in (("--repeats", "5"), ("--quick", "False"), ("--threads", "")):
        assert option in out
        assert f"(default: {default}" in out.replace("\n", " ").replace("  ", " ")


def test_a_row_without_pytorch_has_no_pytorch_columns():
    bench = load_bench()
    row = {"net": "392-196", "what": "PGD-10 over 2000 test images", "ours": 0.5,
           "torch": None, "gflops": 40.0}
    line = bench.describe_row(row, peak=100.0)
    assert "torch" not in line and "nan" not in line and "n/a" not in line
    assert "40.0 %" in line
    with_torch = bench.describe_row(dict(row, torch=1.0), peak=100.0)
    assert "torch    1.000 s" in with_torch and "speed-up  2.00x" in with_torch


def test_a_share_of_peak_above_100_percent_is_refused():
    bench = load_bench()
    assert bench.share_of_peak(55.0, 110.0) == "50.0 %"
    assert bench.share_of_peak(None, 110.0) == "–"
    with pytest.raises(RuntimeError, match="FLOP count or the peak measurement is wrong"):
        bench.share_of_peak(121.7, 110.0)


def test_the_peak_is_the_largest_of_its_measurements():
    bench = load_bench()
    peak = bench.Peak(repeats=1)
    peak.seen[:] = [80.0, 110.0, 95.0]
    assert peak.value == 110.0
