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
