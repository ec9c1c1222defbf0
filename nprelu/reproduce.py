"""`nprelu reproduce`: run the chapter scripts in order and collect results/README.md."""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from .experiments import (
    ROOT,
    Context,
    atomic_write_bytes,
    chapter_parser,
    context_from_args,
    exclusive,
    make_context,
)

# Cheapest and most central first, so an interrupted full run has the key results early.
CHAPTERS = {
    "ch8": "ch8_adversarial_training",
    "ch4": "ch4_layer_size",
    "ch3": "ch3_enlarged_perturbations",
    "ch3s": "ch3_scaled_sigmoid",
    "ch7": "ch7_sensitivity",
    "ch5": "ch5_layer_order",
    "ch6": "ch6_zero_gradients",
    "ch9": "ch9_audit",
}

# Chapters that reuse models another chapter trains: with --jobs they wait for it, so the models
# are trained once (a lock on each model file covers the remaining overlaps).
DEPENDS = {"ch9": ("ch8",), "ch7": ("ch8",), "ch6": ("ch4", "ch5")}

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
]


def load_chapter(name: str):
    path = ROOT / "chapters" / f"{name}.py"
    if not path.exists():
        raise FileNotFoundError(
            f"chapter script {path} not found: `nprelu reproduce` runs the chapters of a source "
            "checkout; clone the repository and `pip install -e .` there"
        )
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reproduce(quick: bool = False, only: str | None = None, seeds: str = "0",
              force: bool = False, cw_samples: int | None = None, results=None,
              cache=None, jobs: int = 1) -> Path:
    """Run the chapters (all, or `only` = "ch4,ch8"); return the path of results/README.md.

    jobs > 1 runs that many chapters at once, each in its own process with cores // jobs BLAS
    threads (more threads than cores slows everything down), its output in .cache/logs/."""
    ctx = make_context(quick, seeds, force, results, cache=cache, cw_samples=cw_samples)
    keys = list(CHAPTERS) if not only else [k.strip() for k in only.split(",") if k.strip()]
    unknown = [k for k in keys if k not in CHAPTERS]
    if unknown:
        raise ValueError(f"unknown chapter(s) {unknown}; choose from {', '.join(CHAPTERS)}")
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    t_all = time.perf_counter()
    if jobs == 1:
        for i, key in enumerate(keys):
            elapsed = time.perf_counter() - t_all
            print(f"\n=== [{i + 1}/{len(keys)}] {CHAPTERS[key]} ({'quick' if quick else 'full'}, "
                  f"seeds {ctx.seeds}, {elapsed:.0f} s so far) ===")
            run_chapter(ctx, key)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    else:
        argv = [*(["--quick"] if quick else []), "--seeds", str(seeds),
                *(["--force"] if force else []), "--results", str(ctx.results),
                "--cache", str(ctx.cache),
                *(["--cw-samples", str(cw_samples)] if cw_samples else [])]
        _run_parallel(keys, jobs, argv, ctx.cache.parent / "logs")
        rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    total = time.perf_counter() - t_all
    print(f"\nall done in {total:.0f} s; peak memory {rss:.0f} MiB")
    return write_readme(ctx, total, rss)


def _last_line(log: Path) -> str:
    """The latest progress line of a chapter's log (tqdm rewrites its line with \\r)."""
    try:
        tail = log.read_bytes()[-2000:].decode(errors="replace")
    except OSError:
        return ""
    parts = [p.strip() for p in tail.replace("\r", "\n").split("\n") if p.strip()]
    return parts[-1][:100] if parts else ""


def _run_parallel(keys: list[str], jobs: int, argv: list[str], logs: Path) -> None:
    """Run chapters in `jobs` worker processes, respecting DEPENDS (each worker records its own
    wall time in results/timings.json)."""
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
               MKL_NUM_THREADS=threads, NUMBA_NUM_THREADS=threads)
    logs.mkdir(parents=True, exist_ok=True)
    pending, running, timings, failed = list(keys), {}, {}, []
    t_all = last_report = time.perf_counter()
    print(f"running {len(keys)} chapters, {jobs} at a time, {threads} BLAS thread(s) each; "
          f"logs in {logs}")
    while pending or running:
        for key in list(pending):
            blocked = [d for d in DEPENDS.get(key, ()) if d in pending or d in running]
            if len(running) < jobs and not blocked:
                log = logs / f"{key}.log"
                cmd = [sys.executable, "-u", "-m", "nprelu.reproduce", "--chapter", key, *argv]
                proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"),
                                        stderr=subprocess.STDOUT)
                running[key] = (proc, time.perf_counter(), log)
                pending.remove(key)
                print(f"[{time.perf_counter() - t_all:6.0f} s] started {CHAPTERS[key]}")
        time.sleep(1)
        for key, (proc, t0, log) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[key]
            timings[key] = time.perf_counter() - t0
            ok = proc.returncode == 0
            if not ok:
                failed.append(key)
            print(f"[{time.perf_counter() - t_all:6.0f} s] {CHAPTERS[key]} "
                  f"{'done' if ok else f'FAILED (exit {proc.returncode}), see {log}'} in "
                  f"{timings[key]:.0f} s; {len(timings)}/{len(keys)} finished")
        if running and time.perf_counter() - last_report > 30:
            last_report = time.perf_counter()
            for key, (_, t0, log) in running.items():
                print(f"    {key} ({time.perf_counter() - t0:.0f} s): {_last_line(log)}")
    if failed:
        raise RuntimeError(f"chapter(s) {', '.join(failed)} failed; their logs are in {logs}")


def _chapter_worker(argv: list[str] | None = None) -> None:
    """`python -m nprelu.reproduce --chapter ch4 ...`: one chapter, as run by --jobs."""
    p = chapter_parser()
    p.add_argument("--chapter", required=True, choices=list(CHAPTERS))
    a = p.parse_args(argv)
    run_chapter(context_from_args(a), a.chapter, shared=True)


def run_chapter(ctx: Context, key: str, shared: bool = False) -> None:
    """Run one chapter; if it computed anything (rather than reading every model and record
    back), keep its wall time in results/timings.json for results/README.md. `shared`: it ran
    beside other chapters (--jobs), so its time overlaps theirs."""
    before = ctx.work_done
    t0 = time.perf_counter()
    load_chapter(CHAPTERS[key]).run(ctx)
    secs = time.perf_counter() - t0
    if ctx.work_done > before:
        path = ctx.results / "timings.json"
        with exclusive(ctx.results / "timings.lock"):  # parallel workers share the file
            timings = json.loads(path.read_text()) if path.exists() else {}
            timings[key] = {"seconds": round(secs, 1), "shared": shared,
                            "date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count()}
            atomic_write_bytes(path, json.dumps(timings, indent=1).encode())


def write_readme(ctx: Context, total: float | None = None, rss_mib: float | None = None) -> Path:
    """results/README.md from whatever results/ holds: notes, tables, figures, wall times."""
    res = ctx.results
    s = ctx.settings
    tpath = res / "timings.json"
    merged = json.loads(tpath.read_text()) if tpath.exists() else {}
    this_run = (f"; this run {total:.0f} s, peak RSS {rss_mib:.0f} MiB" if total is not None
                else "")
    mode = "quick (smoke-test settings, NOT the paper's)" if s.quick else "full (paper settings)"
    cw = sorted({json.loads(f.read_text())["settings"]["cw_samples"]
                 for f in (res / "records").glob("table1_*.json")}) or [s.cw_samples]
    zg = sorted({json.loads(f.read_text())["config"]["samples"]
                 for f in (res / "records").glob("zerograd_*.json")}) or [s.zg_samples]
    lines = [
        "# Results",
        "",
        f"Generated by `nprelu reproduce{' --quick' if s.quick else ''}` — {mode}; seeds "
        f"{list(ctx.seeds)}. Wall time of each chapter's latest run, on "
        f"{os.cpu_count()} cores: "
        + ", ".join(f"{k} {v['seconds']:.0f} s" + ("*" if v.get("shared") else "")
                    for k, v in merged.items())
        + f" (sum {sum(v['seconds'] for v in merged.values()) / 3600:.1f} h; * = ran beside "
        f"other chapters on the same cores, so these overlap{this_run}). Settings: "
        f"{s.epochs} clean epochs, {s.adv_epochs} adversarial epochs, {s.n_train} training and "
        f"{s.n_test} test images, CW {s.cw_steps} steps × {s.cw_binary_steps} binary steps on "
        f"{', '.join(map(str, cw))} inputs, zero-gradient search on "
        f"{', '.join(map(str, zg))} inputs (≤ {s.zg_iters} iterations).",
        "",
    ]
    notes = res / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    if (res / "table1.md").exists():
        lines += ["## Table 1, side by side with the paper", "",
                  (res / "table1.md").read_text().strip(), ""]
    if (res / "audit.md").exists():
        lines += ["## Audit: worst-case robust accuracy (beyond the paper)", "",
                  (res / "audit.md").read_text().strip(), ""]
    lines += ["## Figures", ""]
    for name, title in FIGURES:
        if (res / f"{name}.png").exists():
            lines += [f"### {title}", "", f"![{title}]({name}.png)", ""]
            if (res / f"{name}.md").exists():
                lines += [f"Numbers: [{name}.md]({name}.md)", ""]
    path = res / "README.md"
    atomic_write_bytes(path, "\n".join(lines).encode())
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    _chapter_worker()
