"""End to end: `nprelu reproduce --quick` writes every figure and table, with sane numbers."""

import json

import pytest

from nprelu.experiments import PAPER_TABLE1, Settings, Spec
from nprelu.reproduce import CHAPTERS, FIGURES, reproduce


def test_spec_key_changes_with_every_field():
    a = Spec((392, 196), ((2, 0.1),))
    assert a.key() == Spec((392, 196), ((2, 0.1),)).key()
    assert a.key() != Spec((392, 196), ((2, 0.01),)).key()
    assert a.key() != Spec((392, 196), ((2, 0.1),), seed=1).key()
    assert a.key() != Spec((392, 196), ((2, 0.1),), adv="pgd").key()


def test_paper_settings_are_the_defaults():
    s = Settings.make(quick=False)
    assert (s.epochs, s.adv_epochs, s.cw_steps, s.cw_binary_steps, s.cw_samples) == (
        20, 10, 10000, 9, 500)
    assert s.eval_betas[0] == 0.01 and s.eval_betas[-1] == 0.15 and len(s.eval_betas) == 15


def test_unknown_chapter_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown chapter"):
        reproduce(quick=True, only="ch99", results=tmp_path)


@pytest.mark.slow
def test_quick_reproduction_end_to_end(tmp_path):
    res, cache = tmp_path / "results", tmp_path / "cache"
    readme = reproduce(quick=True, results=res, cache=cache)
    text = readme.read_text()
    for name, _ in FIGURES:
        png = res / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000, name
        assert f"({name}.png)" in text
    records = [json.loads(p.read_text()) for p in (res / "records").glob("*.json")]
    assert len(records) >= len(CHAPTERS)
    table = {(r["config"]["beta"], r["config"]["adv"]): r["numbers"]
             for r in records if r["name"].startswith("table1_")}
    assert set(table) == set(PAPER_TABLE1)
    for nums in table.values():
        for key in ("clean", "fgsm", "pgd", "cw"):
            assert 0 <= nums[key] <= 100
    uncapped = table[(None, None)]
    assert uncapped["pgd"] < uncapped["clean"]
    assert "| 0.01 | PGD |" in (res / "table1.md").read_text()
    # a second run reads everything back: no model is retrained, no record rewritten
    stamps = {p: p.stat().st_mtime_ns for p in list(cache.glob("*.npz"))
              + list((res / "records").glob("*.json"))}
    reproduce(quick=True, only="ch8", results=res, cache=cache)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    # the same chapters in parallel worker processes (--jobs 2) also only read back
    reproduce(quick=True, only="ch7,ch3s", results=res, cache=cache, jobs=2)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert "sensitivity" in (tmp_path / "logs" / "ch7.log").read_text()
    # asking for another CW sample count recomputes Table 1's records, but retrains no model
    reproduce(quick=True, only="ch8", results=res, cache=cache, cw_samples=5)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items() if p.suffix == ".npz")
    cw = {json.loads(p.read_text())["numbers"]["cw_samples"]
          for p in (res / "records").glob("table1_*.json")}
    assert cw == {5}
    assert "first [5] test inputs" in (res / "table1.md").read_text()


def test_model_lock_waits_for_a_live_holder_and_takes_over_a_dead_ones(tmp_path):
    import os
    import subprocess
    import sys
    import threading
    import time

    from nprelu.experiments import exclusive

    lock = tmp_path / "m.lock"
    lock.write_text(str(os.getpid()))  # held by a live process (us)
    threading.Timer(0.5, lock.unlink).start()
    t0 = time.perf_counter()
    with exclusive(lock, poll=0.05):
        assert lock.read_text() == str(os.getpid())
    assert time.perf_counter() - t0 >= 0.45 and not lock.exists()

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    lock.write_text(dead)  # left behind by an interrupted run
    t0 = time.perf_counter()
    with exclusive(lock, poll=0.05):
        assert lock.read_text() == str(os.getpid())
    assert time.perf_counter() - t0 < 0.5
