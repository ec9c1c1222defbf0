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


def test_the_design_benchmark_times_alternatives_that_compute_the_same():
    """benchmarks/design_choices.py compares each kernel with the alternative it replaced; the
    comparison only means something if both give the same numbers."""
    import math

    import numpy as np

    from nprelu import kernels

    spec = importlib.util.spec_from_file_location(
        "design_choices", ROOT / "benchmarks" / "design_choices.py")
    dc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dc)
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 6, 6), dtype=np.float32)
    cols, patches = np.empty((3 * 9, 2 * 36), np.float32), np.empty((2 * 36, 3 * 9), np.float32)
    kernels.im2col(x, 3, 1, 1, cols)
    dc.im2col_rows(x, 3, 1, 1, patches)
    np.testing.assert_array_equal(cols, patches.T)
    f32, t = np.float32, 5
    runs = []
    for fn, bc2 in ((kernels.adam_update, 1 / math.sqrt(1 - 0.999**t)),
                    (dc.adam_divide, math.sqrt(1 - 0.999**t))):
        p, g = rng.standard_normal(50).astype(np.float32), np.full(50, 0.3, np.float32)
        p[:] = np.linspace(-1, 1, 50)
        m, v = np.full(50, 0.1, np.float32), np.full(50, 0.01, np.float32)
        fn(p, g, m, v, f32(1e-3 / (1 - 0.9**t)), f32(bc2), f32(0.9), f32(0.999), f32(1e-8))
        runs.append(p)
    np.testing.assert_allclose(runs[0], runs[1], rtol=0, atol=np.spacing(np.float32(1)))


def test_the_run_profile_sorts_trainings_and_records_into_their_kinds():
    """benchmarks/profile_run.py: the architecture comes from the model's label (a CNN keeps
    its convolutions), an added capped layer and adversarial fine-tuning are kinds of their
    own, and a record goes to the first prefix that matches it (ch11c's before ch11's)."""
    import sys

    from nprelu.train import Spec

    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("profile_run",
                                                  ROOT / "benchmarks" / "profile_run.py")
    prof = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prof)
    cnn = Spec((128,), convs=((16, 5, 2), (32, 5, 2)), epochs=3)
    cases = [(cnn, "training: clean c16k5p2-c32k5p2-128 (3 epochs)"),
             (Spec((392, 196), adv="pgd", adv_epochs=10),
              "training: PGD fine-tuning (392-196, 10 epochs)"),
             (Spec((128,), convs=((16, 5, 2), (32, 5, 2)), added="input", added_beta=0.1,
                   added_epochs=1),
              "training: a capped layer added (c16k5p2-c32k5p2-128, 1 epochs)")]
    for s, kind in cases:
        entry = {"label": s.label(), "hidden": list(s.hidden), "adv": s.adv,
                 "epochs": s.own_epochs}
        assert prof.training_kind(entry) == kind
    kinds = dict(prof.RECORD_KINDS)
    first = [what for prefix, what in prof.RECORD_KINDS
             if "drelu_cnn_ensemble_mnist_lam1".startswith(prefix)][0]
    assert first == kinds["drelu_cnn_ensemble_"]
