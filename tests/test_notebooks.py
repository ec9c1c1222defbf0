"""Every chapter runs cell by cell in a Jupyter kernel (jupytext + nbclient), at quick
settings: no cell fails, and at least one figure is shown inline.

The kernels read the models and records of the session's quick run (`quick_run`), so they
compute only what the chapters' step-by-step cells compute themselves."""

import pytest

from nprelu.reproduce import CHAPTERS, chapter_path

jupytext = pytest.importorskip("jupytext", reason="needs the dev extra (jupytext, nbclient)")
nbclient = pytest.importorskip("nbclient", reason="needs the dev extra (jupytext, nbclient)")


def run_notebook(key: str, cwd) -> dict:
    nb = jupytext.read(chapter_path(key))
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                     extra_arguments=["--IPKernelApp.log_level=ERROR"],
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, if a cell fails
    return nb


@pytest.mark.slow
@pytest.mark.parametrize("key", list(CHAPTERS))
def test_chapter_runs_as_a_notebook_and_shows_a_figure(key, quick_run, tmp_path, monkeypatch):
    _, res, cache, _ = quick_run
    monkeypatch.setenv("NPRELU_RESULTS", str(res))
    monkeypatch.setenv("NPRELU_CACHE", str(cache))
    nb = run_notebook(key, tmp_path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source.lstrip().startswith("QUICK = True")  # the visible settings switch
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert figures, f"{key} showed no figure"
    streams = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "\r" not in streams and "Traceback" not in streams
