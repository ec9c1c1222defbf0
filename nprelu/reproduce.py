"""`nprelu reproduce`: run the chapter scripts and collect results/README.md.

Each chapter is a literate script in chapters/; here it is executed as a module with the
runner's context (see nprelu.context.chapter), so its models and records go through the run's
executor and cache. Finished models and records are on disk as soon as they are done: an
interrupted run picks up where it stopped.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import resource
import sys
import threading
import time
import traceback
from pathlib import Path

from threadpoolctl import threadpool_limits

from . import blas
from .context import ROOT, Context, make_context, running
from .executors import tune_malloc
from .files import atomic_write_bytes
from .progress import plural, say

# Paper order. (key, file name, title)
CHAPTERS = {
    "ch3": ("ch3_enlarged_perturbations", "Sec. 3.1 — perturbations grow through ReLU layers"),
    "ch3s": ("ch3_scaled_sigmoid", "Sec. 3.3 — a scaled sigmoid instead of a cap"),
    "ch4": ("ch4_layer_size", "Sec. 4 — the width of the capped layer"),
    "ch5": ("ch5_layer_order", "Sec. 5 — early or deep layer"),
    "ch6": ("ch6_zero_gradients", "Sec. 6 — distance to a zero gradient"),
    "ch7": ("ch7_sensitivity", "Sec. 7 — sensitivity maps"),
    "ch8": ("ch8_adversarial_training", "Sec. 8 — adversarial training (Table 1)"),
    "ch9": ("ch9_audit", "Beyond the paper — robust, or masked?"),
    "ch10": ("ch10_certified", "Beyond the paper — certified bounds and AutoAttack"),
    "ch11": ("ch11_drelu", "Beyond the paper — D-ReLU, the learned cap"),
    "ch11c": ("ch11_drelu_cnn", "Beyond the paper — D-ReLU in a convolutional net"),
    "ch12": ("ch12_conclusion", "Beyond the paper — the paper's conclusion, tested"),
}

FIGURES = [
    ("fig1_layer_distances", "Fig. 1 — distance between clean and adversarial hidden outputs"),
    ("fig2_accuracy", "Fig. 2 — accuracy by capped layer and β"),
    ("fig3_scaled_sigmoid", "Fig. 3 — scaled sigmoid and tanh"),
    ("fig3b_sigmoid_weights", "Sec. 3.3 — does training shrink a scaled sigmoid's weights?"),
    ("fig4_general", "Fig. 4 — general net (392, 196), β sweep under PGD"),
    ("fig5_reversed", "Fig. 5 — reversed net (196, 392)"),
    ("fig6_equal", "Fig. 6 — equal net (784, 784)"),
    ("fig8_zero_grad_general", "Fig. 8 — distance to zero gradients, general net"),
    ("fig9_zero_grad_reversed", "Fig. 9 — reversed net"),
    ("fig10_zero_grad_equal", "Fig. 10 — equal net"),
    ("fig11_sensitivity", "Fig. 11 — sensitivity maps"),
    ("table1", "Table 1 — adversarial training, as bars"),
    ("audit_worst_case", "Audit — claimed (PGD) vs worst-case robust accuracy"),
    ("audit_eps_curve", "Audit — accuracy as eps grows to 1"),
    ("ch10_relaxation", "Certification — the capped ReLU's linear relaxation"),
    ("ch10_sandwich", "Certification — certified vs worst-case robust accuracy at eps 0.1"),
    ("ch10_eps", "Certification — bounds over eps"),
    ("ch10_undecided", "Certification — inputs still undecided, and what the exact methods decide"),
    ("ch11_cap_trajectory", "D-ReLU — the learned caps during training"),
    ("ch11_cap_histogram", "D-ReLU — where the learned caps end up"),
    ("ch11_protocols", "D-ReLU — their protocol against a sound one"),
    ("ch11_sandwich", "D-ReLU — certified vs worst case per λ"),
    ("ch11c_cnn", "D-ReLU's shallow CNN on MNIST and Fashion-MNIST, both protocols"),
    ("ch12_trainability", "Caps in a CNN's convolutions: Fig. 2's experiment beside the MLP"),
    ("ch12_cnn_table1", "Table 1 for a CNN: PGD, worst case and certified"),
    ("ch12_added_layer", "A capped layer added to a trained net"),
    ("ch12_datasets", "Table 1's MLPs on MNIST and Fashion-MNIST"),
]
# Figures drawn from the committed three-seed runs (results/seeds, results/fashion-mnist) at full
# settings only: a quick run has no such runs of its own to draw
FROM_SEED_RUNS = ("ch12_datasets",)


def chapter_path(key: str) -> Path:
    path = ROOT / "chapters" / f"{CHAPTERS[key][0]}.py"
    if not path.exists():
        raise FileNotFoundError(
            f"chapter script {path} not found: `nprelu reproduce` runs the chapters of a source "
            "checkout; clone the repository and `pip install -e .` there")
    return path


def load_chapter(key: str, by_value: bool = False):
    """Execute chapter `key` as a fresh module named nprelu_chapters.FILE and return it.

    by_value: register the module with cloudpickle first, so that functions it defines travel
    to cluster workers by value (the workers need not see the chapters folder)."""
    name = f"nprelu_chapters.{CHAPTERS[key][0]}"
    spec = importlib.util.spec_from_file_location(name, chapter_path(key))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        if by_value:
            import cloudpickle

            cloudpickle.register_pickle_by_value(module)
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


_TIMINGS_LOCK = threading.Lock()


def run_chapter(ctx: Context, key: str, by_value: bool = False, log=None
                ) -> tuple[float, int]:
    """Run one chapter with ctx; keep its wall time in results/timings.json if it computed
    anything (rather than reading every model and record back). Returns (seconds, models
    trained + records computed)."""
    cctx = ctx.for_chapter(key, log)
    t0 = time.perf_counter()
    with running(cctx):
        load_chapter(key, by_value)
    secs = time.perf_counter() - t0
    if cctx.work_done:
        with _TIMINGS_LOCK:
            path = ctx.results / "timings.json"
            timings = json.loads(path.read_text()) if path.exists() else {}
            timings[key] = {"seconds": round(secs, 1), "date": time.strftime("%Y-%m-%d"),
                            "cores": os.cpu_count(), "executor": ctx.executor.name}
            atomic_write_bytes(path, json.dumps(timings, indent=1).encode())
    return secs, cctx.work_done


def select(only: str | None) -> list[str]:
    keys = list(CHAPTERS) if not only else [k.strip() for k in only.split(",") if k.strip()]
    unknown = [k for k in keys if k not in CHAPTERS]
    if unknown or not keys:
        raise ValueError(f"unknown chapter(s) {', '.join(unknown) or repr(only)}; choose from "
                         f"{', '.join(CHAPTERS)}")
    return keys


def reproduce(quick: bool = False, only: str | None = None, seeds=(0,), force: bool = False,
              cw_samples: int | None = None, results=None, cache=None,
              threads: int | None = None, workers: int | None = None,
              scheduler: str | None = None, dataset: str = "mnist") -> Path:
    """Run the chapters (all, or `only` = "ch4,ch8"); return the path of results/README.md.

    Without `workers` or `scheduler`: one chapter after the other, every task in this process.
    With them: on Dask (a LocalCluster of `workers` processes, or the cluster at `scheduler`),
    every chapter at once in a thread of this process, their tasks on the cluster."""
    keys = select(only)
    tune_malloc()
    if workers is not None and scheduler is not None:
        raise ValueError("give either --workers (a local cluster) or --scheduler (an existing "
                         "one), not both")
    make = dict(quick=quick, seeds=seeds, force=force, results=results, cache=cache,
                cw_samples=cw_samples, blas_threads=threads, dataset=dataset)
    t_all = time.perf_counter()
    work = 0  # models trained and records computed by this run
    if workers is None and scheduler is None:
        ctx = make_context(**make)
        _announce(ctx, keys, "one after the other, in this process")
        with threadpool_limits(ctx.blas_threads):
            for i, key in enumerate(keys):
                say(f"\n=== [{i + 1}/{len(keys)}] {CHAPTERS[key][0]} "
                    f"({time.perf_counter() - t_all:.0f} s so far) ===")
                work += run_chapter(ctx, key)[1]
    else:
        from .cluster import DaskExecutor, Progress, connect

        make_context(**make)  # check every option before starting a cluster
        with connect(workers, scheduler) as client:
            executor = DaskExecutor(client)
            ctx = make_context(**make, executor=executor)
            _announce(ctx, keys, "all at once, their tasks on the cluster")
            with threadpool_limits(ctx.blas_threads), Progress(executor):
                work = _run_concurrently(ctx, keys)
            executor.drain()
    total = time.perf_counter() - t_all
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if work:  # a run that only read its results back says nothing about how long they take
        _note_run(ctx, keys, total, workers, scheduler)
    say(f"\nall done in {total:.0f} s; peak memory {rss:.0f} MiB")
    return write_readme(ctx, total, rss)


def _note_run(ctx: Context, keys: list[str], seconds: float, workers, scheduler) -> None:
    """Keep the whole run's wall time beside the chapters' in results/timings.json."""
    with _TIMINGS_LOCK:
        path = ctx.results / "timings.json"
        timings = json.loads(path.read_text()) if path.exists() else {}
        timings["_run"] = {"seconds": round(seconds, 1), "chapters": keys,
                           "executor": ctx.executor.name, "workers": workers,
                           "scheduler": scheduler, "date": time.strftime("%Y-%m-%d"),
                           "cores": os.cpu_count()}
        atomic_write_bytes(path, json.dumps(timings, indent=1).encode())


def _announce(ctx: Context, keys: list[str], how: str) -> None:
    say(f"running {plural(len(keys), 'chapter')} {how}, at "
        f"{'quick' if ctx.settings.quick else 'paper'} settings, on {ctx.dataset}, seeds "
        f"{list(ctx.seeds)}; results in {ctx.results}, models in {ctx.store.cache}")
    say(blas.announcement())


class _ThreadedStdout(io.TextIOBase):
    """sys.stdout while chapters run in threads: each chapter thread writes to its own log
    file; every other thread (the progress bar, Dask's callbacks) to the console."""

    def __init__(self, console):
        self.console = console
        self.routes: dict[int, object] = {}

    def write(self, text: str) -> int:
        return self.routes.get(threading.get_ident(), self.console).write(text)

    def flush(self) -> None:
        self.routes.get(threading.get_ident(), self.console).flush()

    def isatty(self) -> bool:
        return False


def _run_concurrently(ctx: Context, keys: list[str]) -> int:
    """Every chapter in a thread of its own (its output in .cache/logs/KEY.log), so that all
    their tasks reach the cluster at once; a chapter that fails does not stop the others.
    Returns the models trained and records computed, over all chapters."""
    logs = ctx.store.cache.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    router = _ThreadedStdout(sys.stdout)
    failed: dict[str, str] = {}
    done: list[int] = []

    def one(key: str) -> None:
        log = logs / f"{key}.log"
        with open(log, "w") as f:
            router.routes[threading.get_ident()] = f

            def to_log(message: str) -> None:  # from Dask's callback thread too
                (router.console if f.closed else f).write(message + "\n")

            try:
                secs, work = run_chapter(ctx, key, by_value=True, log=to_log)
                done.append(work)
                say_console(f"[{key}] done in {secs:.0f} s (log: {log})")
            except Exception as err:  # noqa: BLE001 - reported below, the others go on
                failed[key] = f"{type(err).__name__}: {err}"
                print(traceback.format_exc(), file=f)
                say_console(f"[{key}] FAILED: {failed[key]} (log: {log})")
            finally:
                del router.routes[threading.get_ident()]

    def say_console(message: str) -> None:
        router.console.write(message + "\n")
        router.console.flush()

    sys.stdout = router
    try:  # daemon threads: Ctrl-C in the main thread ends the run (and closes the cluster)
        threads = [threading.Thread(target=one, args=(k,), name=k, daemon=True) for k in keys]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():  # join with a timeout, so that Ctrl-C is seen at once
                t.join(0.5)
    finally:
        sys.stdout = router.console
    if failed:
        raise RuntimeError(f"chapter(s) {', '.join(failed)} failed: "
                           + "; ".join(f"{k}: {v}" for k, v in failed.items()))
    return sum(done)


def write_readme(ctx: Context, total: float | None = None, rss_mib: float | None = None) -> Path:
    """results/README.md from whatever results/ holds: notes, tables, figures, wall times."""
    res = ctx.results
    s = ctx.settings
    tpath = res / "timings.json"
    merged = json.loads(tpath.read_text()) if tpath.exists() else {}
    this_run = (f"; this run {total:.0f} s, peak RSS {rss_mib:.0f} MiB" if total is not None
                else "")
    mode = ("quick (smoke-test settings, NOT the paper's)" if s.quick else
            "full (paper settings)") + ("" if ctx.dataset == "mnist" else f", on {ctx.dataset}")
    lines = [
        "# Results",
        "",
        f"Generated by `nprelu reproduce{' --quick' if s.quick else ''}` — {mode}; seeds "
        f"{list(ctx.seeds)}. Wall time of each chapter's latest run, on {os.cpu_count()} "
        "cores: " + ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in merged.items()
                              if not k.startswith("_"))
        + f"{this_run}. Settings: {s.epochs} clean epochs, {s.adv_epochs} adversarial epochs, "
        f"{s.n_train} training and {s.n_test} test images, CW {s.cw_steps} steps × "
        f"{s.cw_binary_steps} binary steps on the first {s.cw_samples} test inputs"
        + (f" (seed {ctx.seeds[0]}; the first {s.cw_inputs(first_seed=False)} for the "
           "other seeds), "
           if len(ctx.seeds) > 1 else ", ") +
        f"zero-gradient search on the first {s.zg_samples} (≤ {s.zg_iters} iterations), "
        f"{plural(ctx.blas_threads, 'BLAS thread')} per task.",
        "",
    ]
    notes = res / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    for md, title in (("table1.md", "Table 1, side by side with the paper"),
                      ("audit.md", "Audit: worst-case robust accuracy (beyond the paper)"),
                      ("ch10_sandwich.md", "Certified and worst-case robust accuracy"),
                      ("ch10_undecided.md", "What bounds and exact methods leave undecided")):
        if (res / md).exists():
            lines += [f"## {title}", "", (res / md).read_text().strip(), ""]
    if (res / "seeds" / "table1.md").exists():  # `--seeds 0,1,2 --results results/seeds`
        lines += ["## Table 1 over several seeds", "", "From `results/seeds/` (made with "
                  "`--only ch8,ch9 --seeds ... --results results/seeds`); its seeds, settings, "
                  "notes, the audit over seeds and the figures: "
                  "[seeds/README.md](seeds/README.md).", "",
                  (res / "seeds" / "table1.md").read_text().strip(), ""]
    lines += ["## Figures", ""]
    for name, title in FIGURES:
        if (res / f"{name}.png").exists():
            lines += [f"### {title}", "", f"![{title}]({name}.png)", ""]
            if (res / f"{name}.md").exists():
                lines += [f"Numbers: [{name}.md]({name}.md)", ""]
    path = atomic_write_bytes(res / "README.md", "\n".join(lines).encode())
    say(f"wrote {path}")
    return path
