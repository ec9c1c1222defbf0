"""Seconds per input and inputs decided, for each way of certifying a dense net, in one run.

    python benchmarks/verify.py [--eps 0.02] [--n 20] [--seconds 10] [--training pgd]

On the paper's 784-392-196-10 net (Table 1's uncapped net, seed 0, clean-trained or fine-tuned
on FGSM or PGD examples; from the model cache, trained if missing), the first n test inputs at
radius eps: CROWN, alpha-CROWN (20 steps), branch and bound (CROWN or alpha-CROWN bounds,
`--seconds` per input) and the MILP warm-started with CROWN's bounds (same limit); then one
training epoch, ordinary, IBP and CROWN-IBP. Every method sees the same inputs; "robust" and
"not robust" of the last three are exact verdicts, the rest are "unknown" (time limit). Prints
Markdown tables for benchmarks/RESULTS.md. Ratios, not absolute seconds, carry over (this VM's
speed varies).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import nprelu as nr
from nprelu import certify
from nprelu.alpha_crown import alpha_crown_margins
from nprelu.branch_and_bound import branch_and_bound
from nprelu.context import make_context


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eps", type=float, default=0.02)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--training", choices=("clean", "fgsm", "pgd"), default="clean",
                   help="the net: Table 1's uncapped net, clean-trained or fine-tuned on FGSM or "
                        "PGD (default: clean)")
    p.add_argument("--no-epochs", action="store_true",
                   help="skip the timing of training epochs")
    a = p.parse_args()
    ctx = make_context(quick=False, name="bench")
    model = ctx.model(ctx.spec((392, 196), seed=0,
                               adv=None if a.training == "clean" else a.training))
    x, y = ctx.test_set()
    x, y = x[: a.n], y[: a.n]
    rows = []
    t = time.perf_counter()
    crown = certify.crown_margins(model, x, y, a.eps).min(axis=1)
    rows.append(("CROWN", (crown > 0).sum(), 0, time.perf_counter() - t))
    t = time.perf_counter()
    alpha = alpha_crown_margins(model, x, y, a.eps).min(axis=1)
    rows.append(("alpha-CROWN, 20 steps", (alpha > 0).sum(), 0, time.perf_counter() - t))
    for name, fn in (("branch and bound, CROWN bounds", lambda i: branch_and_bound(
            model, x[i], int(y[i]), a.eps, time_limit=a.seconds, alpha_iters=0)),
                     ("branch and bound, alpha-CROWN bounds (10 steps)", lambda i:
                      branch_and_bound(model, x[i], int(y[i]), a.eps, time_limit=a.seconds,
                                       alpha_iters=10)),
                     ("MILP (HiGHS)", lambda i: certify.milp_margin(
                         model, x[i], int(y[i]), a.eps, time_limit=a.seconds))):
        t = time.perf_counter()
        verdicts = [fn(i).status for i in range(len(x))]
        rows.append((name, verdicts.count("robust"), verdicts.count("not robust"),
                     time.perf_counter() - t))
    print(f"| method ({a.training} net, eps {a.eps}, first {a.n} test inputs, limit "
          f"{a.seconds:g} s) | robust | "
          "not robust | undecided | s per input |")
    print("|---|---|---|---|---|")
    for name, rob, notrob, sec in rows:
        print(f"| {name} | {rob} | {notrob} | {a.n - rob - notrob} | {sec / a.n:.3f} |")
    print(f"\nclean accuracy on these inputs: {100 * np.mean(model.predict(x) == y):.0f} %; "
          f"nprelu {nr.__version__}\n")
    if a.no_epochs:
        return
    epochs = certified_training_epochs()
    print("| training epoch, (392, 196), batch 100, eps 0.1 | seconds | × ordinary |")
    print("|---|---|---|")
    for name, sec in epochs:
        print(f"| {name} | {sec:.2f} | {sec / epochs[0][1]:.2f} |")



def certified_training_epochs(n: int = 5000, repeats: int = 2) -> list[tuple[str, float]]:
    """Seconds per 60000-image epoch (timed on n images, best of `repeats`, scaled) of the
    (392, 196) net at batch 100: ordinary, IBP, CROWN-IBP training at eps 0.1 (past warm-up)."""
    from nprelu.crown_ibp import CrownIBPMix
    from nprelu.objectives import IBPMix

    (x, y), _ = nr.load_mnist()
    x, y = x[:n], y[:n]
    out = []
    for name, objective in (("ordinary", None), ("IBP", IBPMix(0.1, warmup=0, ramp=0)),
                            ("CROWN-IBP", CrownIBPMix(0.1, warmup=0, ramp=0))):
        best = np.inf
        for _ in range(repeats):
            model = nr.MLP((392, 196), seed=0)
            t = time.perf_counter()
            nr.train(model, x, y, epochs=1, batch_size=100, progress=False, objective=objective)
            best = min(best, time.perf_counter() - t)
        out.append((name, best * 60000 / n))
    return out


if __name__ == "__main__":
    main()
