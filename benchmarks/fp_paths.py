"""How far floating-point paths alone move the Table 1 cells: the same recipe, the same seed,
another BLAS kernel or thread count.

    python benchmarks/fp_paths.py                 # every job not yet in the output file
    python benchmarks/fp_paths.py --seeds 0 --betas 0.1

A path is (OpenBLAS kernel, BLAS threads). The kernel can only be chosen before NumPy loads, so
every job runs in a fresh process with OPENBLAS_CORETYPE set. Each job trains one clean-trained
Table 1 net (392-196, HL2 capped at beta or uncapped; 20 epochs, batch 32, Adam 0.001, the
paper's recipe) and measures clean, FGSM and PGD-10 accuracy on the 10000 test images and the
share of exactly-zero input gradients. Results go to results/seeds/fp_paths.json (one entry
per job, written as soon as it is done: an interrupted run resumes) and a Markdown table,
results/seeds/fp_paths.md: per cell, the spread over seeds on one path, over paths for one seed,
and over both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "seeds" / "fp_paths.json"
PATHS = [("Haswell", 1), ("Haswell", 2), ("SkylakeX", 1), ("SkylakeX", 2)]
BETAS = (None, 1.0, 0.1, 0.01)


def job(beta: float | None, seed: int, threads: int) -> dict:
    """One net on this process's kernel: train, then attack (runs inside the child)."""
    from threadpoolctl import threadpool_limits

    import nprelu as nr
    from nprelu import audit, blas, paper

    (x, y), (xt, yt) = nr.load_mnist()
    model = nr.MLP(paper.TABLE1_HIDDEN, caps={2: beta} if beta else None, seed=seed)
    t0 = time.perf_counter()
    with threadpool_limits(threads):
        nr.train(model, x, y, epochs=20, batch_size=32, lr=1e-3, seed=seed, progress=False)
        out = {"clean": 100 * nr.accuracy(model, xt, yt),
               "fgsm": 100 * nr.accuracy(model, nr.fgsm(model, xt, yt, paper.FGSM_EPS), yt),
               "pgd": 100 * nr.accuracy(model, nr.pgd(model, xt, yt, **paper.PGD_EVAL), yt),
               "zero_gradient": 100 * audit.zero_gradient_share(model, xt, yt)}
    return {**out, "seconds": round(time.perf_counter() - t0, 1), "kernel": blas.kernel(),
            "fingerprint": blas.fingerprint()}


def key(beta, seed, kernel, threads) -> str:
    return f"{beta or 'none'}_seed{seed}_{kernel}_{threads}t"


def run_job(beta, seed, kernel, threads) -> dict:
    env = dict(os.environ, OPENBLAS_CORETYPE=kernel, OPENBLAS_NUM_THREADS=str(threads))
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); "
            f"from benchmarks.fp_paths import job; "
            f"print(json.dumps(job({beta!r}, {seed}, {threads})))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"job {key(beta, seed, kernel, threads)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(done: dict, seeds, betas) -> str:
    """Per cell: mean and range over everything, the std over seeds on each path, the range
    over paths for each seed."""
    import numpy as np

    lines = ["| max val. | column | Haswell 1 thread, seeds " + ",".join(map(str, seeds))
             + " | all paths × seeds: min – max | spread over seeds (std, per path) | "
             "spread over paths (range, per seed) |", "|---|---|---|---|---|---|"]
    for beta in betas:
        for col in ("clean", "fgsm", "pgd", "zero_gradient"):
            grid = {(s, p): done.get(key(beta, s, *p), {}).get(col) for s in seeds
                    for p in PATHS}
            if any(v is None for v in grid.values()):
                continue
            ref = [grid[s, PATHS[0]] for s in seeds]
            allv = list(grid.values())
            over_seeds = [np.std([grid[s, p] for s in seeds]) for p in PATHS]
            over_paths = [np.ptp([grid[s, p] for p in PATHS]) for s in seeds]
            lines.append(
                f"| {beta or '–'} | {col} | {' / '.join(f'{v:.2f}' for v in ref)} | "
                f"{min(allv):.2f} – {max(allv):.2f} | "
                f"{min(over_seeds):.2f} – {max(over_seeds):.2f} | "
                f"{min(over_paths):.2f} – {max(over_paths):.2f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--betas", default="none,1,0.1,0.01", help="caps of HL2 (none: uncapped)")
    p.add_argument("--parallel", type=int, default=2, help="jobs at once (1-thread jobs)")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    betas = [None if b == "none" else float(b) for b in args.betas.split(",")]
    done = json.loads(OUT.read_text()) if OUT.exists() else {}
    todo = [(b, s, k, t) for b in betas for s in seeds for k, t in PATHS
            if key(b, s, k, t) not in done]
    print(f"{len(todo)} jobs to run, {len(done)} done ({OUT})", flush=True)

    def one(args_):
        result = run_job(*args_)
        done[key(*args_)] = result
        tmp = OUT.with_suffix(".tmp")
        tmp.write_text(json.dumps(done, indent=1))
        tmp.replace(OUT)
        print(f"{key(*args_)}: clean {result['clean']:.2f} FGSM {result['fgsm']:.2f} PGD "
              f"{result['pgd']:.2f} ({result['seconds']:.0f} s)", flush=True)

    one_thread = [j for j in todo if j[3] == 1]
    with ThreadPoolExecutor(args.parallel) as pool:  # 1-thread jobs side by side
        list(pool.map(one, one_thread))
    for j in todo:  # multi-thread jobs alone, so that they get their cores
        if j[3] != 1:
            one(j)
    text = table(done, seeds, betas)
    (OUT.with_suffix(".md")).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
