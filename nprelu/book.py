"""`nprelu book`: the chapters as a static site, readable offline from the file system.

    chapters/chN_*.py  --jupytext-->  notebook  --nbclient (a Jupyter kernel)-->  executed notebook
                       --nbconvert (nprelu/templates/nprelu_book)-->  site/chN_*.html

plus site/index.html (the paper's question, Table 1 beside the paper, the audit's verdict, the
chapters in paper order) and site/run.html (how to run it yourself), made the same way from
small notebooks written here. The template is nbconvert's lab template without any script from
the network, with a navigation bar; figures are PNG outputs embedded in the pages.

Settings: `--quick` executes every chapter at quick settings, reusing results/quick and
.cache/models-quick when they exist. Without it, chapters run at the paper's settings on a copy
of the committed records (results/records) and the model cache, and never train: a chapter that
needs a model missing from the cache says which and how long it would take to train, and its
page is built at quick settings instead, with that message on top (or pass `train=True`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from pathlib import Path

from .conclusions import audit_verdict
from .context import ROOT
from .files import atomic_write_bytes
from .progress import say
from .reproduce import CHAPTERS, chapter_path

TEMPLATES = Path(__file__).resolve().parent / "templates"


class BookError(RuntimeError):
    """A chapter could not be executed or rendered."""


@contextlib.contextmanager
def _environ(**values: str):
    """Set environment variables for the kernels started inside the block."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _set_quick(nb, quick: bool) -> None:
    """The chapter's settings switch is the first line of its first code cell."""
    cell = next(c for c in nb.cells if c.cell_type == "code")
    first, _, rest = cell.source.partition("\n")
    if not first.startswith("QUICK = "):
        raise BookError("a chapter's first code cell must start with `QUICK = True`")
    cell.source = f"QUICK = {quick}\n{rest}"


def run_notebook(nb, cwd: Path, timeout: int = 3600) -> None:
    """Execute every cell in a fresh Jupyter kernel (nbclient); raises on the first error."""
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   extra_arguments=["--IPKernelApp.log_level=ERROR"],
                   resources={"metadata": {"path": str(cwd)}}).execute()


def execute_chapter(key: str, quick: bool, results: Path, cache: Path, train: bool,
                    quick_dirs: tuple[Path, Path], cwd: Path):
    """The executed notebook of chapter `key`, and a banner (or None) if its page had to fall
    back to quick settings because it needed a model that is not cached."""
    import jupytext
    from nbclient.exceptions import CellExecutionError

    nb = jupytext.read(chapter_path(key))
    _set_quick(nb, quick)
    env = {"NPRELU_RESULTS": str(results), "NPRELU_CACHE": str(cache),
           "NPRELU_NO_TRAINING": "0" if (train or quick) else "1"}
    try:
        with _environ(**env):
            run_notebook(nb, cwd)
        return nb, None
    except CellExecutionError as err:
        needs = needs_training(str(err))
        if quick or needs is None:
            raise BookError(f"chapter {key} failed: {plain(str(err))[-3000:]}") from None
    banner = (f"This page was built at quick settings, not the paper's: {needs}. "
              "Run `nprelu reproduce` to fill the model cache, or `nprelu book --train`.")
    say(f"[book] {key}: {needs}; building it at quick settings")
    nb = jupytext.read(chapter_path(key))
    _set_quick(nb, True)
    with _environ(NPRELU_RESULTS=str(quick_dirs[0]), NPRELU_CACHE=str(quick_dirs[1]),
                  NPRELU_NO_TRAINING="0"):
        run_notebook(nb, cwd)
    return nb, banner


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    """Text without the terminal colour codes Jupyter puts into tracebacks."""
    return ANSI.sub("", text)


def needs_training(error: str) -> str | None:
    """The message of the NeedsTraining error in a cell's traceback (coloured or not), or
    None when the cell failed for another reason."""
    found = re.search(r"NeedsTraining: (.*)", plain(error))
    return found.group(1).strip() if found else None


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return m.group(1).strip()
    return "nprelu"


QUICK_PROSE = ("> **This page ran at quick settings** (small nets, few epochs, few inputs): "
               "the outputs above are quick-settings numbers. The numbers quoted below are "
               "those of the full run at the paper's settings (`results/`), not of this build.")


def note_quick_prose(nb) -> None:
    """Before each "What we measured" cell of a page built at quick settings, say that the
    prose quotes the full run while the outputs are quick ones."""
    import nbformat

    at = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
          and re.match(r"\s*##\s+What we measured", c.source)]
    for i in reversed(at):
        nb.cells.insert(i, nbformat.v4.new_markdown_cell(QUICK_PROSE))


def _markdown_notebook(title: str, blocks: list[str]):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(b) for b in blocks]
    nb.metadata["title"] = title
    return nb


def index_notebook(results: Path, chapters: list[tuple[str, str]], quick: bool,
                   seeds: Path | None = None):
    """The index page; `seeds`: a results folder of several seeds (results/seeds/), shown at
    full settings when it holds a table."""
    table = results / "table1.md"
    table_md = table.read_text() if table.exists() else "*Table 1 has not been computed.*"
    settings = ("quick settings (a smoke test: small nets trained for 2 epochs; the numbers "
                "only show the shape of each experiment)" if quick
                else "the paper's settings (the committed full run, seed 0)")
    links = "\n".join(f"{i + 1}. [{title}]({href})" for i, (href, title) in enumerate(chapters))
    return _markdown_notebook("Is ReLU Adversarially Robust? — the book", [
        "# Is ReLU adversarially robust? — a reproduction you can read\n\n"
        "Sooksatra, Hamerly and Rivas argue that ReLU lets small input perturbations grow from "
        "layer to layer, and that capping it, a(z, β) = max(0, min(z, β)), makes a network "
        "robust to adversarial examples; Table 1 of their paper shows capped nets keeping "
        "90–96 % accuracy under PGD where ordinary ones keep 9–87 %. This book reruns every "
        "experiment of the paper in NumPy and numba, section by section, and then asks whether "
        "the robustness is real.",
        "## How to read it\n\n"
        "Each page is one section of the paper: what the paper does and claims, the method "
        "in code you can run cell by cell, the sweep, the figure, and what we measured beside "
        "the paper's numbers. The pages follow the paper's order; the last ones go beyond it. "
        f"This build shows {settings}. [How to run it yourself](run.html).",
        "## Table 1, side by side with the paper\n\n" + table_md,
        "## The audit's verdict\n\n" + audit_verdict(results / "records"),
        *([] if quick or seeds is None else _seeds_blocks(seeds)),
        "## Chapters\n\n" + links + "\n\n[How to run it yourself](run.html)",
    ])


def _seeds_blocks(seeds: Path) -> list[str]:
    """Table 1 over several seeds and its notes, from results/seeds/ when it was made."""
    table, notes = seeds / "table1.md", seeds / "NOTES.md"
    if not (table.exists() and notes.exists()):
        return []
    return [notes.read_text(), "### Table 1, mean ± std over the seeds\n\n" + table.read_text()]


def run_notebook_page():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    install, tests = (blocks + ["", ""])[:2]
    return _markdown_notebook("How to run it yourself", [
        "# How to run it yourself",
        "Everything runs on a laptop CPU (two cores are plenty). On a fresh machine, install "
        "and reproduce the whole paper at quick settings (a few minutes):\n\n```bash\n"
        + install + "```\n\nand run the tests:\n\n```bash\n" + tests + "```",
        "## The paper's settings\n\n`nprelu reproduce` runs every chapter at the paper's "
        "settings and writes `results/`. Finished models and records are cached, so an "
        "interrupted run resumes where it stopped. `--workers 2` runs it on a Dask cluster of "
        "two local worker processes (`pip install -e \".[cluster]\"`); `--only ch8` picks "
        "chapters; `nprelu reproduce --help` lists every option.",
        "## A chapter in Jupyter\n\nEach chapter is a jupytext percent-format script. Open "
        "`chapters/ch4_layer_size.py` in VS Code and use \"Run Cell\", or open it in Jupyter "
        "with jupytext installed, or make a notebook with `jupytext --to ipynb "
        "chapters/ch4_layer_size.py`. In a kernel a chapter runs at quick settings; set "
        "`QUICK = False` in its first code cell for the paper's.\n\n"
        "## This book\n\n`nprelu book` builds these pages (`--quick` for quick settings, "
        "`--open` to open them in a browser); `pip install -e \".[book]\"` first.",
    ])


def render(nb, prev: tuple[str, str] | None, nxt: tuple[str, str] | None,
           banner: str | None = None) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="nprelu_book",
                            extra_template_basedirs=[str(TEMPLATES)])
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    title = nb.metadata.get("title") or _title(nb)
    html, _ = exporter.from_notebook_node(nb, resources={
        "metadata": {"name": title}, "book_prev": prev, "book_next": nxt,
        "book_banner": banner})
    return html


def build(quick: bool = False, out: str | os.PathLike = "site", results=None, cache=None,
          train: bool = False, open_browser: bool = False, dataset: str = "mnist") -> Path:
    """Execute every chapter (on `dataset`) and write the site to `out`; returns the index
    page."""
    from .data import check_dataset

    check_dataset(dataset)
    sub = "" if dataset == "mnist" else dataset  # results of other datasets: a folder inside
    try:
        import jupytext  # noqa: F401
        import nbclient  # noqa: F401
        import nbconvert  # noqa: F401
    except ImportError:
        raise RuntimeError('the book needs jupytext, nbclient and nbconvert: pip install -e '
                           '".[book]"') from None
    t0 = time.perf_counter()
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file; give a folder for the site (it is "
                                 "created if missing)")
    work = out / "_work"
    quick_dirs = (Path(os.environ.get("NPRELU_QUICK_RESULTS",
                                      ROOT / "results" / "quick" / sub)),
                  Path(os.environ.get("NPRELU_QUICK_CACHE", ROOT / ".cache" / "models-quick")))
    if quick:
        res_dir, cache_dir = Path(results or quick_dirs[0]), Path(cache or quick_dirs[1])
        quick_dirs = (res_dir, cache_dir)
    else:  # a scratch copy of the committed records: building the book changes nothing there
        source = Path(results or ROOT / "results" / sub)
        res_dir = work / "results"
        if res_dir.exists():
            shutil.rmtree(res_dir)
        if (source / "records").exists():
            shutil.copytree(source / "records", res_dir / "records")
        else:  # nothing computed at full settings for this dataset yet
            (res_dir / "records").mkdir(parents=True)
        cache_dir = Path(cache or ROOT / ".cache" / "models")
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    pages = []
    for i, (key, (name, _)) in enumerate(CHAPTERS.items()):
        say(f"[book] executing {name} ({i + 1}/{len(CHAPTERS)}, "
            f"{time.perf_counter() - t0:.0f} s so far)")
        with _environ(NPRELU_DATASET=dataset):
            nb, banner = execute_chapter(key, quick, res_dir, cache_dir, train, quick_dirs,
                                         cwd=work)
        if quick or banner:
            note_quick_prose(nb)
        import nbformat

        nbformat.write(nb, out / "notebooks" / f"{name}.ipynb")
        pages.append((f"{name}.html", _title(nb), nb, banner))
    index = index_notebook(res_dir, [(href, title) for href, title, _, _ in pages], quick,
                           seeds=None if quick else source / "seeds")
    all_pages = [("index.html", "Index", index, None), *pages,
                 ("run.html", "How to run it yourself", run_notebook_page(), None)]
    for i, (href, _, nb, banner) in enumerate(all_pages):
        prev = all_pages[i - 1][:2] if i > 0 else None
        nxt = all_pages[i + 1][:2] if i + 1 < len(all_pages) else None
        atomic_write_bytes(out / href, render(nb, prev, nxt, banner).encode())
    shutil.rmtree(work, ignore_errors=True)  # scratch records and the kernels' working folder
    say(f"[book] wrote {len(all_pages)} pages to {out} in {time.perf_counter() - t0:.0f} s")
    index_path = out / "index.html"
    if open_browser:
        import webbrowser

        webbrowser.open(index_path.as_uri())
    return index_path
