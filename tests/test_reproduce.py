"""End to end: `nprelu reproduce --quick` writes every figure and table, gives the same numbers
as the code before the chapter redesign, and resumes from its cache."""

import json
import shutil
import warnings

import numpy as np
import pytest

from nprelu import blas
from nprelu.context import make_context
from nprelu.paper import PAPER_TABLE1, Settings
from nprelu.reproduce import CHAPTERS, FIGURES, FROM_SEED_RUNS, reproduce, select
from nprelu.store import model_key
from nprelu.train import Spec
from tests.refactor_records import differences, kernel_differences, new_numbers, old_numbers


def test_spec_key_changes_with_every_field():
    a = Spec((392, 196), ((2, 0.1),))
    assert model_key(a) == model_key(Spec((392, 196), ((2, 0.1),)))
    for other in (Spec((392, 196), ((2, 0.01),)), Spec((392, 196), ((2, 0.1),), seed=1),
                  Spec((392, 196), ((2, 0.1),), adv="pgd"),
                  Spec((392, 196), ((2, 0.1),), blas_threads=2),
                  Spec((392, 196), ((2, 0.1),), dataset="fashion-mnist"),
                  Spec((392, 196), ((2, 0.1),), convs=((32, 3, 1),)),
                  Spec((392, 196), ((2, 0.1),), convs=((32, 3, 1),), conv_init="he"),
                  Spec((392, 196), ((2, 0.1),), added="output", added_beta=0.1)):
        assert model_key(a) != model_key(other)
    # a field added later keeps the keys of the models made before it, at its default
    assert model_key(Spec((392, 196), ((2, 0.1),), dataset="mnist")) == model_key(a)
    assert model_key(Spec((392, 196), ((2, 0.1),), convs=(), conv_init="glorot")) == model_key(a)
    assert model_key(Spec((392, 196), ((2, 0.1),), added="", added_beta=0.0,
                          added_epochs=0)) == model_key(a)


def test_paper_settings_are_the_defaults():
    s = Settings.make(quick=False)
    assert (s.epochs, s.adv_epochs, s.cw_steps, s.cw_binary_steps, s.cw_samples) == (
        20, 10, 10000, 9, 500)
    assert s.eval_betas[0] == 0.01 and s.eval_betas[-1] == 0.15 and len(s.eval_betas) == 15
    assert make_context(quick=False).blas_threads == 1  # the same bits as a cluster run


def test_unknown_chapter_is_refused():
    with pytest.raises(ValueError, match="unknown chapter.*ch99"):
        select("ch4,ch99")


@pytest.mark.slow
def test_quick_run_gives_the_numbers_of_the_code_before_the_redesign(quick_run):
    """Bit for bit on the kernel that made the 'before' records; on another kernel the nets
    are other nets of the same recipe, and every number is compared by what it is
    (tests/refactor_records.kernel_differences). The exact comparison runs on any x86-64
    machine too, in the next test, with the kernel pinned."""
    _, res, _, _ = quick_run
    before, after = old_numbers(), new_numbers(res / "records")
    assert len(before) > 900
    if blas.is_reference():
        assert differences(before, after) == []
    else:
        warnings.warn(f"BLAS kernel {blas.kernel()} is not the one the 'before' records were "
                      f"made with ({blas.REFERENCE_KERNEL}): comparing each number within what "
                      "other rounding explains", stacklevel=1)
        assert kernel_differences(before, after) == []


@pytest.mark.slow
def test_pinning_the_kernel_gives_the_committed_numbers_bit_for_bit(tmp_path):
    """The documented recipe, OPENBLAS_CORETYPE=Haswell before NumPy loads, reproduces the
    'before' records exactly, whatever kernel this machine would pick (chapter 8's quick run:
    twelve nets trained, then FGSM, PGD, CW)."""
    from tests.helpers import start_nprelu
    from tests.test_blas import kernel_in_child, needs_openblas

    if needs_openblas.args[0]:
        pytest.skip(needs_openblas.kwargs["reason"])
    if kernel_in_child("Haswell")[0] != blas.REFERENCE:
        pytest.skip("this OpenBLAS gives other Haswell bits than the reference one")
    res = tmp_path / "results"
    proc = start_nprelu(["reproduce", "--quick", "--only", "ch8", "--results", res, "--cache",
                         tmp_path / "cache"], {"OPENBLAS_CORETYPE": "Haswell"}, tmp_path)
    out, err = proc.communicate(timeout=1200)
    assert proc.returncode == 0, err[-3000:]
    assert "the kernel of the committed results" in out
    before, after = old_numbers(), new_numbers(res / "records")
    ch8 = {k: v for k, v in before.items() if isinstance(k[0], str)
           and k[0].startswith("table1_")}
    assert len(ch8) == 72  # 12 nets: clean, FGSM, PGD, CW, CW median L2, CW inputs
    assert differences(ch8, after) == []


def test_kernel_tolerances_fit_each_quantity():
    from tests.refactor_records import kernel_differences, share_tolerance

    assert share_tolerance(3.0, 100) < share_tolerance(50.0, 100)  # a share, not a ratio
    assert share_tolerance(50.0, 500) < share_tolerance(50.0, 100)  # more inputs, less noise
    k_acc, k_l2, k_set = ("table1_x", "pgd"), ("sec3", "HL1", 1.0, "l2"), ("table1_x",
                                                                           "cw_samples")
    old = {k_acc: 40.0, k_l2: 2.0, k_set: 20}
    assert kernel_differences(old, {k_acc: 44.0, k_l2: 2.3, k_set: 20}) == []
    assert kernel_differences(old, {k_acc: 60.0, k_l2: 2.3, k_set: 20}) != []  # 20 points
    assert kernel_differences(old, {k_acc: 44.0, k_l2: 4.0, k_set: 20}) != []  # twice as far
    assert kernel_differences(old, {k_acc: 44.0, k_l2: 2.3, k_set: 30}) != []  # a setting
    many = {(f"table1_{i}", "pgd"): 50.0 for i in range(50)}
    assert kernel_differences(many, {k: 54.0 for k in many}) != []  # all moved the same way
    few = {("table1_x", "cw_median_l2"): 0.65}
    assert kernel_differences(few, {("table1_x", "cw_median_l2"): 0.23}) == []  # seen
    assert kernel_differences(few, {("table1_x", "cw_median_l2"): 6.5}) != []
    one = {("sec7", 0.01, "pixels_positive"): 0}
    assert kernel_differences(one, {("sec7", 0.01, "pixels_positive"): 536}) == []  # seen
    assert kernel_differences(one, {("sec7", 0.01, "pixels_positive"): 900}) != []


@pytest.mark.slow
def test_the_kernel_tolerances_pass_a_real_skylakex_quick_run_and_catch_a_wrong_one():
    """tests/data/quick_records_skylakex holds the quick run's records made with OpenBLAS's
    SkylakeX kernels (this code, 2026-12-02): within every tolerance of the Haswell records.
    The same records with PGD doing nothing (its accuracy = clean accuracy) must fail."""
    from pathlib import Path

    folder = Path(__file__).parent / "data" / "quick_records_skylakex"
    before, sky = old_numbers(), new_numbers(folder)
    assert len(differences(before, sky)) > 500  # really another kernel: most numbers moved
    assert kernel_differences(before, sky) == []
    broken = dict(sky)
    for k in [k for k in sky if k[-1] == "pgd" and isinstance(k[0], str)
              and k[0].startswith("table1_")]:
        broken[k] = sky[(k[0], "clean")]
    assert kernel_differences(before, broken) != []


@pytest.mark.slow
def test_quick_run_writes_every_figure_and_resumes_from_its_cache(quick_run):
    root, res, cache, readme = quick_run
    text = readme.read_text()
    for name, _ in FIGURES:
        if name in FROM_SEED_RUNS:
            assert not (res / f"{name}.png").exists(), name
            continue
        png = res / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000, name
        assert f"({name}.png)" in text
    assert "| 0.01 | PGD |" in (res / "table1.md").read_text()
    assert {"ch3", "ch8", "ch9"} <= set(json.loads((res / "timings.json").read_text()))
    # a second run reads everything back: no model is retrained, no record rewritten
    stamps = {p: p.stat().st_mtime_ns for p in list(cache.glob("*.npz"))
              + list((res / "records").glob("*.json"))}
    assert len(stamps) > 2 * len(CHAPTERS)
    reproduce(quick=True, only="ch8,ch7", results=res, cache=cache)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    # asking for another CW sample count computes new CW records, but retrains no model
    reproduce(quick=True, only="ch8", results=res, cache=cache, cw_samples=30)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert (res / "records" / "cw_0.01_pgd_seed0_0000-0030.json").exists()
    table = (res / "table1.md").read_text()
    assert "CW on the first 30 test inputs" in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "paper" not in line]
    assert len(rows) == len(PAPER_TABLE1) == 12


@pytest.mark.slow
def test_further_seeds_get_fewer_cw_inputs_and_the_table_compares_the_shared_ones(
        quick_run, tmp_path):
    """`--seeds 0,1`: seed 1 runs CW on `cw_samples_other_seeds` inputs, seed 0 keeps its
    record of `cw_samples`; the table's CW mean is over the inputs both seeds share, and the
    extra column repeats seed 0's CW on all of its inputs."""
    _, res, cache, _ = quick_run
    s = Settings.make(quick=True)
    n0, n1 = s.cw_samples, s.cw_samples_other_seeds
    assert n1 < n0
    out = tmp_path / "seeds"
    shutil.copytree(res / "records", out / "records")
    first = out / "records" / f"cw_none_clean_seed0_0000-{n0:04d}.json"
    stamp = first.stat().st_mtime_ns
    reproduce(quick=True, only="ch8", seeds=(0, 1), results=out, cache=cache)
    assert first.stat().st_mtime_ns == stamp  # seed 0's CW record is reused, not recomputed
    assert not (out / "records" / f"cw_none_clean_seed1_0000-{n0:04d}.json").exists()

    def survived(seed, n):  # % of the first n inputs correct at first and not broken by CW
        rec = json.loads((out / "records" / f"cw_none_clean_seed{seed}_0000-{n:04d}.json")
                         .read_text())["numbers"]
        return 100 * np.mean(np.array(rec["correct"][:n1]) & ~np.array(rec["success"][:n1]))

    shared = [survived(0, n0), survived(1, n1)]
    table = (out / "table1.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| – | – |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[12] == f"{np.mean(shared):.2f} ± {np.std(shared):.2f}"
    single = (res / "table1.md").read_text()
    single_row = next(line for line in single.splitlines() if line.startswith("| – | – |"))
    assert cells[-1] == single_row.strip("|").split("|")[12].strip()  # seed 0, all n0 inputs
    assert f"CW on the first {n1} test inputs" in table and "over 2 seeds" in table
