"""The book: every chapter executed as a notebook (jupytext + nbclient) and rendered to HTML
(nbconvert), checked as files and then in a real browser (headless Chromium via Playwright)."""

import json
import re
import shutil
from pathlib import Path

import pytest

from nprelu.reproduce import CHAPTERS

SHOTS = Path(__file__).parent / "output" / "book-screenshots"
PAGES = ["index.html", *(f"{name}.html" for name, _ in CHAPTERS.values()), "run.html"]


@pytest.mark.slow
@pytest.mark.parametrize("key", list(CHAPTERS))
def test_every_chapter_ran_as_a_notebook_and_showed_a_figure(quick_book, key):
    nb = json.loads((quick_book / "notebooks" / f"{CHAPTERS[key][0]}.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "".join(code[0]["source"]).startswith("QUICK = True")  # the visible switch
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert all(c.get("execution_count") for c in code), "a cell did not run"
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert [o for o in outputs if "image/png" in o.get("data", {})], f"{key}: no figure shown"
    streams = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    assert "\r" not in streams and "Traceback" not in streams and "WARNING" not in streams


@pytest.mark.slow
def test_pages_show_tables_as_tables_and_no_local_paths(quick_book):
    ch8 = (quick_book / f"{CHAPTERS['ch8'][0]}.html").read_text()
    assert re.search(r"<table>.*?adv\. training.*?</table>", ch8, re.S), "Table 1 is no table"
    for page in PAGES:
        html = (quick_book / page).read_text()
        assert "PosixPath" not in html and str(quick_book) not in html, page
    assert not (quick_book / "_work").exists()
    assert "This page ran at quick settings" in ch8  # the prose says whose numbers it quotes


@pytest.mark.slow
def test_pages_are_self_contained(quick_book):
    for page in PAGES:
        html = (quick_book / page).read_text()
        assert not re.findall(r'(?:src|href)="(?:https?:)?//', html), page  # nothing remote
        assert "<nav class=\"book top\">" in html and "<nav class=\"book bottom\">" in html
        if page.startswith("ch"):
            assert re.search(r'<img [^>]*src="data:image/png;base64,', html), page
            assert 'alt="No description' not in html, page
    index = (quick_book / "index.html").read_text()
    assert "gradient masking" in index and "has not been run" not in index  # the audit's verdict
    for name, _ in CHAPTERS.values():
        assert f'href="{name}.html"' in index


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _playwright_missing() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return True
    return False


# Checked when the test is collected, before its fixture spends minutes building the book.
@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH (apt-get install -y chromium; "
                    ".ci/run installs it): the book's browser test cannot run here")
@pytest.mark.skipif(_playwright_missing(), reason="needs playwright (dev extra)")
def test_the_book_in_a_real_browser(quick_book):
    from playwright import sync_api

    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
        page.on("request", lambda r: None if r.url.startswith(("file://", "data:"))
                else problems.append(f"request to another host: {r.url}"))
        for name in PAGES:
            url = (quick_book / name).as_uri()
            page.goto(url)
            page.wait_for_load_state("load")
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)
            widths = page.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
            assert all(w > 0 for w in widths), f"{name}: an image did not decode"
            if name.startswith("ch"):
                assert widths, f"{name}: no figure"
            for href in page.evaluate("Array.from(document.querySelectorAll('a[href]'))"
                                      ".map(a => a.getAttribute('href'))"):
                if href.startswith("#"):
                    continue
                assert not href.startswith(("http:", "https:")), f"{name} links out: {href}"
                target = (quick_book / href.split("#")[0]).resolve()
                assert target.exists(), f"{name}: broken link {href}"
            if name == "index.html":
                rows = page.evaluate("""() => {
                    const t = Array.from(document.querySelectorAll('table')).find(
                        t => t.innerText.includes('adv. training'));
                    return t ? t.querySelectorAll('tbody tr').length : 0; }""")
                assert rows == 12, f"Table 1 on the index has {rows} rows, not 12"
            # the page is readable: no horizontal scrolling at 1280 px, and a table wider than
            # the text column scrolls by itself instead of being cut off at the page's edge
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280, name
            clipped = page.evaluate("""() => Array.from(document.querySelectorAll('table'))
                .filter(t => t.getBoundingClientRect().right
                             > t.parentElement.getBoundingClientRect().right + 1)
                .length""")
            assert clipped == 0, f"{name}: {clipped} table(s) cut off at the page's edge"
        browser.close()
    assert problems == []


def test_index_shows_the_seeds_table_at_full_settings_when_it_was_made(tmp_path):
    pytest.importorskip("nbformat", reason="needs the book extra: pip install -e .[book]")
    from nprelu.book import index_notebook

    (tmp_path / "records").mkdir()
    (tmp_path / "table1.md").write_text("| seed 0 table |\n")

    def text(quick):
        nb = index_notebook(tmp_path, [("ch3.html", "Sec. 3")], quick=quick,
                            seeds=tmp_path / "seeds")
        return "\n".join(cell.source for cell in nb.cells)

    assert "seeds" not in text(quick=False)  # no results/seeds/: nothing about seeds
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "table1.md").write_text("| 97.88 ± 0.05 |\n")
    (tmp_path / "seeds" / "NOTES.md").write_text("## Three seeds\n\nverdicts\n")
    full = text(quick=False)
    assert "| 97.88 ± 0.05 |" in full and "verdicts" in full
    assert full.index("verdicts") < full.index("## Chapters")
    assert "97.88" not in text(quick=True)  # a quick build shows quick numbers only


def test_a_coloured_needs_training_traceback_is_understood():
    from nprelu.book import needs_training

    coloured = ("\x1b[0;31m---------\x1b[0m\n\x1b[31mNeedsTraining\x1b[39m: chapter ch4 needs "
                "the model 392-196 uncapped seed 0, which is not in the model cache\n")
    assert needs_training(coloured) == ("chapter ch4 needs the model 392-196 uncapped seed 0, "
                                        "which is not in the model cache")
    assert needs_training("NeedsTraining: plain text too") == "plain text too"
    assert needs_training("\x1b[31mValueError\x1b[39m: something else") is None


def test_book_refuses_a_file_as_its_output_folder(cli, tmp_path):
    pytest.importorskip("nbconvert", reason="needs the book extra: pip install -e .[book]")
    f = tmp_path / "site.txt"
    f.write_text("x")
    code, _, err = cli("book", "--out", f)
    assert code == 2 and f"--out {f} is a file; give a folder" in err


@pytest.mark.slow
def test_a_chapter_whose_models_are_not_cached_falls_back_to_quick_settings(
        quick_run, tmp_path):
    """`nprelu book` on a fresh clone (committed records, empty model cache): the chapter's
    page is built at quick settings, from the quick run's cache, with the reason on top."""
    pytest.importorskip("nbconvert", reason="needs the book extra: pip install -e .[book]")
    from nprelu.book import QUICK_PROSE, execute_chapter, note_quick_prose
    from nprelu.context import ROOT

    _, quick_res, quick_cache, _ = quick_run
    committed = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "records", committed / "records")
    empty = tmp_path / "no-models"
    nb, banner = execute_chapter("ch7", quick=False, results=committed, cache=empty,
                                 train=False, quick_dirs=(quick_res, quick_cache), cwd=tmp_path)
    assert banner and "built at quick settings" in banner and "not in the model cache" in banner
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source.startswith("QUICK = True") and all(c.execution_count for c in code)
    note_quick_prose(nb)
    assert any(c.source == QUICK_PROSE for c in nb.cells)


def test_the_fallback_message_shows_no_local_path(tmp_path):
    from nprelu.context import ROOT, NeedsTraining, make_context

    ctx = make_context(quick=False, results=tmp_path / "r", cache=ROOT / ".cache" / "nowhere")
    ctx.allow_training = False
    with pytest.raises(NeedsTraining) as err:
        ctx.model(ctx.spec((8,)))
    assert "not in the model cache .cache/nowhere;" in str(err.value)
    assert str(ROOT) not in str(err.value)
