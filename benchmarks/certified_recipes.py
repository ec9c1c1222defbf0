"""Certified training recipes for the paper's 784-392-196-10 net and chapter 12's CNN (#26).

    python benchmarks/certified_recipes.py [--only ibp-ch10,crown-ibp] [--n 1000] [--workers 2]
                                           [--ibp-all] [--ibp-sandwich 1000]
                                           [--bab 2000 [--milp 900]]

Each recipe is a Spec (IBP or CROWN-IBP training, nprelu.train.ibp_train) trained through the
model cache, so an interrupted study resumes where it stopped; its record (under
results/recipes/records) holds clean accuracy on the 10000 test images and, on the first n,
the share certified at eps 0.1 by IBP, by CROWN and by alpha-CROWN (20 steps) and the share that
survives chapter 9's attack ensemble (an upper bound: certified <= true <= worst case). Prints
a Markdown table (recipe, clean, certified, worst case, training minutes from the cache's
training log) for benchmarks/RESULTS.md. The recipes follow Gowal et al. 2018 (IBP, a larger
training eps than tested) and Zhang et al. 2020 (CROWN-IBP); `ibp-ch10` is chapter 10's first
recipe (30 epochs), `ibp-60` its second; `ibp-120` is the IBP recipe chapter 10 trains with
now (paper.Settings.ibp_epochs), and `crown-ibp-only-120-eps0.125`, the best measured, its
CROWN-IBP recipe (paper.crown_ibp_recipe); the `-hl2@beta` rows are chapter 10's capped nets
(HL2 capped), `-seed1` and `-seed2` the same recipes from other seeds, `-eps0.1` trains at the
test eps, `crown-ibp-only` against CROWN-IBP's bound alone (ibp_bound="crown-ibp-only"), and
`cnn-ibp-20` is chapter 12's CNN, `-dense@1` with its dense layer capped at 1 (alpha-CROWN is
written for dense nets only, so a CNN's certificate is IBP's or CROWN's). `--ibp-all` adds
a record ibp_NAME: IBP alone on the whole test set (the share certified on the first 100,
1000 and all), cheap enough for a CNN whose full record covers 100; `--ibp-sandwich N` adds
ibpsandwich_NAME: IBP alone against the attack ensemble on the first N, both sides of the
sandwich where CROWN costs too much (a CNN's first 1000). `--bab DOMAINS` closes
the sandwich on the MLPs: each input of the first n that is neither certified nor broken by
the attacks goes to branch and bound (nprelu.branch_and_bound) with that many sub-problems,
and its record (bab_NAME for 2000 sub-problems, bab_NAME@DOMAINS for another budget) holds
each verdict and the certified share with them. `--milp SECONDS` then sends the inputs branch
and bound left unknown to the MILP (nprelu.certify.milp_margin, HiGHS) with that time limit per
input (record milp_NAME, or milp_NAME@DOMAINS beside bab_NAME@DOMAINS): on certified-trained
nets few units are unstable (63-85 binaries on the best net's open inputs), few enough for an
exact solve. `--milp-decide` asks each program only whether a margin <= 0 exists (its record
replaces the exact one of the same name, its config saying which).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
from dataclasses import replace

import numpy as np

import nprelu as nr
from nprelu import audit, certify, paper
from nprelu.alpha_crown import alpha_crown_margins
from nprelu.branch_and_bound import branch_and_bound
from nprelu.context import ROOT, make_context
from nprelu.progress import bar, say
from nprelu.store import model_key

EPS = 0.1
BAB_BUDGET = 2000  # the budget of the records bab_NAME; another budget's record is bab_NAME@DOMAINS


# chapter 12's CNN through chapter 10's recipe shortened to 20 epochs
CNN_IBP_20 = {**paper.ibp_recipe(20), "convs": paper.CNN_CONVS, "hidden": paper.CNN_HIDDEN}

# Gowal et al.'s small CNN for IBP training: conv 16 4x4 stride 2, conv 32 4x4, dense 100
CNN_SMALL = {"convs": ((16, 4, 1, 2, 0), (32, 4, 1, 1, 0)), "hidden": (100,)}
# and their medium one: conv 32 3x3, 32 4x4 stride 2, 64 3x3, 64 4x4 stride 2, dense 512, 512
CNN_MEDIUM = {"convs": ((32, 3, 1, 1, 0), (32, 4, 1, 2, 0), (64, 3, 1, 1, 0), (64, 4, 1, 2, 0)),
              "hidden": (512, 512)}
# Gowal et al.'s MNIST schedule in epochs of batch 100 (their steps / 600)
GOWAL_SCHEDULE = {"ibp_warmup": 3, "ibp_ramp": 17, "lr_drops": (25, 42)}

RECIPES = {
    "ibp-ch10": paper.ibp_recipe(30),  # chapter 10's first: 95.1 % clean, 82.0 % certified
    "ibp-eps0.2": paper.ibp_recipe(30, ibp_eps=0.2),  # Gowal et al.: train at 0.2 for 0.1
    "ibp-kappa0": paper.ibp_recipe(30, ibp_kappa=0.0),  # the bound's loss alone at the end
    "ibp-60": paper.ibp_recipe(60),  # twice as long
    "ibp-120": paper.ibp_recipe(120),  # four times: ibp-60 was still gaining
    "ibp-60-shi": paper.ibp_recipe(60, ibp_init=True),  # Shi et al. 2021's initialisation
    "crown-ibp": paper.ibp_recipe(30, ibp_bound="crown-ibp"),
    "crown-ibp-eps0.2": paper.ibp_recipe(30, ibp_bound="crown-ibp", ibp_eps=0.2),
    "crown-ibp-60": paper.ibp_recipe(60, ibp_bound="crown-ibp"),  # queued, not measured yet
    # chapter 10's recipe (ibp-60) and the best (ibp-120) on its capped nets (HL2 capped at beta)
    **{f"ibp-{epochs}-hl2@{beta:g}": {**paper.ibp_recipe(epochs), "caps": ((2, beta),)}
       for epochs in (60, 120) for beta in (1.0, 0.1, 0.01)},
    # the beta = 1 lead over the uncapped net, on two more seeds (ibp-60, chapter 10's recipe)
    **{f"ibp-60{cap}-seed{seed}": {**paper.ibp_recipe(60), "caps": caps, "seed": seed}
       for seed in (1, 2) for cap, caps in (("", ()), ("-hl2@1", ((2, 1.0),)))},
    # chapter 12's CNN (16 and 32 5x5 kernels, 2x2 max-pools, 128 dense units), IBP-trained
    # for 20 epochs: an IBP epoch of it cost about 4.7 min on one core then (1.5 min since
    # kernels.col2im_rows)
    "cnn-ibp-20": CNN_IBP_20,
    # the same CNN with its dense layer (activation site 3, the last before the logits, as HL2
    # is in the MLP) capped at 1: does the MLP's beta = 1 lead carry over to a CNN?
    "cnn-ibp-20-dense@1": {**CNN_IBP_20, "caps": ((3, 1.0),)},
    # three times as long (2-3.5 min per epoch on one core with the other busy): the MLP
    # gained +4.2 certified from 30 to 120 epochs; the CNN gained +0.7 (95.3 % IBP-certified
    # on the first 1000, 95.6 % worst case)
    "cnn-ibp-60": {**CNN_IBP_20, **paper.ibp_recipe(60)},
    # Gowal et al.'s "small" IBP CNN (their code's layers: 16 4x4 kernels at stride 2 and 32
    # 4x4 at stride 1, both unpadded, no pooling, 100 dense units): a third of the compute of
    # chapter 12's CNN per image (32 s per IBP epoch on one thread against 88 s), through
    # the same 60-epoch schedule, at our training eps (0.15) and at Gowal et al.'s (0.2)
    "cnn-small-ibp-60": {**paper.ibp_recipe(60), **CNN_SMALL},
    "cnn-small-ibp-60-eps0.2": {**paper.ibp_recipe(60, ibp_eps=0.2), **CNN_SMALL},
    # eps 0.2 led at 60 epochs (96.6 % IBP-certified on all 10000 against 96.0 at 0.15, the
    # same 98.58 % clean): longer, as Gowal et al. train for about 200 epochs (measured: 98.50 %
    # clean, 96.2 % on all 10000, below the 60-epoch net)
    "cnn-small-ibp-100-eps0.2": {**paper.ibp_recipe(100, ibp_eps=0.2), **CNN_SMALL},
    # Gowal et al.'s own MNIST schedule (their paper's appendix: 60k steps of batch 100 =
    # 100 epochs, eps 0 for 2k steps, ramped over 10k, learning rate / 10 at 15k and 25k
    # steps) in epochs: warm-up 3, ramp 17, drops at 25 and 42, where ours ramps over a third
    # of the epochs and drops at 70 and 85 %
    "cnn-small-gowal-eps0.2": {**paper.ibp_recipe(100, ibp_eps=0.2), **GOWAL_SCHEDULE, **CNN_SMALL},
    # their "medium" CNN (4 unpadded convolutions 32 3x3, 32 4x4 stride 2, 64 3x3, 64 4x4
    # stride 2; two dense layers of 512): 2.5 min per IBP epoch on one thread, so their
    # schedule cut to 36 epochs (second drop at 33) to fit a session (measured: 98.8 % clean,
    # 96.9 % IBP-certified on all 10000, the best CNN; its full record covers the first 100)
    "cnn-medium-gowal36-eps0.2": {**paper.ibp_recipe(36, ibp_eps=0.2), **GOWAL_SCHEDULE,
                                  "lr_drops": (25, 33), **CNN_MEDIUM},
    # the medium CNN through the two full schedules: our 60 epochs (which beat Gowal et al.'s
    # on the small CNN by 0.4 IBP-certified points on all 10000) and their 100; about 2.5 and
    # 4.2 hours of training on one thread, so they resume from their last epoch across runs
    # (measured, 60 epochs: 98.57 % clean, 96.98 % IBP-certified on all 10000, the most of any
    # CNN, but 96.1 on the first 1000 against the 36-epoch net's 96.4)
    "cnn-medium-ibp-60-eps0.2": {**paper.ibp_recipe(60, ibp_eps=0.2), **CNN_MEDIUM},
    "cnn-medium-gowal-eps0.2": {**paper.ibp_recipe(100, ibp_eps=0.2), **GOWAL_SCHEDULE,
                                **CNN_MEDIUM},
    # training at the test eps (0.1) instead of 0.15: 0.2 cost 7.8 certified points, so does
    # a smaller training eps gain?
    "ibp-eps0.1": paper.ibp_recipe(30, ibp_eps=0.1),
    # Zhang et al.'s other schedule: CROWN-IBP's bound alone, its share never falling to IBP's
    "crown-ibp-only": paper.ibp_recipe(30, ibp_bound="crown-ibp-only"),
    "crown-ibp-only-120": paper.ibp_recipe(120, ibp_bound="crown-ibp-only"),
    "crown-ibp-only-eps0.1": paper.ibp_recipe(30, ibp_bound="crown-ibp-only", ibp_eps=0.1),
    "crown-ibp-only-60-eps0.1": paper.ibp_recipe(60, ibp_bound="crown-ibp-only", ibp_eps=0.1),
    "ibp-120-eps0.1": paper.ibp_recipe(120, ibp_eps=0.1),
    # the best MLP (crown-ibp-only-120) trained between the test eps and chapter 10's 0.15:
    # 0.1 gave the clean accuracy (98 %), 0.15 the certified share (88.7 %)
    "crown-ibp-only-120-eps0.125": paper.crown_ibp_recipe(120),  # the best: chapter 10's
    # and with HL2 capped at 1, the cap that led under IBP training (ibp-120-hl2@1)
    "crown-ibp-only-120-hl2@1": {**paper.ibp_recipe(120, ibp_bound="crown-ibp-only"),
                                 "caps": ((2, 1.0),)},
    # the smaller caps at eps 0.15 too: does the larger training eps that lifted beta = 1's
    # certified share (90.1 % against 89.2 % at 0.125) lift them as well? (beta = 0.1: 86.0
    # against 84.2 %, the same 87.8 % worst case; beta = 0.01 not measured)
    **{f"crown-ibp-only-120-hl2@{beta:g}": {**paper.ibp_recipe(120, ibp_bound="crown-ibp-only"),
                                            "caps": ((2, beta),)} for beta in (0.1, 0.01)},
    # the two together: eps 0.125 gave the clean accuracy (97.5 %), the cap the certified share
    # (90.1 %)
    # (with beta = 0.1 and 0.01: chapter 10's capped nets under the best recipe)
    **{f"crown-ibp-only-120-eps0.125-hl2@{beta:g}": {**paper.crown_ibp_recipe(120),
                                                     "caps": ((2, beta),)}
       for beta in (1.0, 0.1, 0.01)},
}


def certified_flags(model, x, y, eps: float):
    """certify.certify's verdicts (IBP, CROWN, either) on x at eps, and alpha-CROWN's per input
    (None for a CNN: alpha-CROWN is written for dense nets only)."""
    c = certify.certify(model, x, y, eps)
    try:
        alpha = alpha_crown_margins(model, x, y, eps).min(axis=1) > 0
    except ValueError:
        alpha = None
    return c, alpha


_BOTH_SIDES: dict[str, tuple] = {}  # this process's certify_and_attack results, by their inputs


def survivors(certified: np.ndarray, ens: dict) -> np.ndarray:
    """Which inputs survive the attack ensemble (its record `ens`), as booleans; an input in
    `certified` that an attack broke stops the run (a bug in a bound or an attack, never a
    number)."""
    survives = np.asarray(ens["per_input"]["worst_case"], bool)
    if np.any(certified & ~survives):
        raise AssertionError("an input certified robust was broken by an attack")
    return survives


def certify_and_attack(model, x, y, eps: float, iters: int, restarts: int,
                       square_queries: int) -> tuple:
    """Both sides of the sandwich per input of x (n, ...) with labels y (n,): certified_flags'
    verdicts and chapter 9's attack ensemble (audit.attack_ensemble, seed 0). `evaluate` and
    `decide` need the same ones, and they cost most of either (0.13-0.4 s per input on the
    MLPs, 9 s on the medium CNN), so a run that makes both records (--bab) computes them once:
    they are kept in this process, keyed by the model's layers and weights, x, y and the
    settings, and shared read-only. Returns (certify.certify's verdicts, alpha-CROWN's or
    None, the ensemble's record)."""
    key = hashlib.sha1(json.dumps([model.config(), str(model.dtype), float(eps), int(iters),
                                   int(restarts), int(square_queries)]).encode())
    for a in (model.params, x, y):
        key.update(np.ascontiguousarray(a).tobytes())
    key = key.hexdigest()
    if key not in _BOTH_SIDES:
        c, alpha = certified_flags(model, x, y, eps)
        ens = audit.attack_ensemble(model, model, x, y, eps, iters, restarts, square_queries, 0)
        _BOTH_SIDES[key] = (c, alpha, ens)
    return _BOTH_SIDES[key]


def evaluate(model, x_test, y_test, n: int, eps: float, iters: int, restarts: int,
             square_queries: int) -> dict:
    """Clean accuracy (%) on x_test; on its first n inputs the % certified at eps by IBP, CROWN,
    alpha-CROWN and any of them, and the % correct under chapter 9's attack ensemble."""
    x, y = x_test[:n], y_test[:n]
    c, alpha, ens = certify_and_attack(model, x, y, eps, iters, restarts, square_queries)
    return {"clean": 100 * nr.accuracy(model, x_test, y_test),
            "ibp": 100 * float(c.ibp.mean()), "crown": 100 * float(c.crown.mean()),
            "alpha_crown": None if alpha is None else 100 * float(alpha.mean()),
            "certified": 100 * float((c.certified if alpha is None
                                      else c.certified | alpha).mean()),
            "worst_case": ens["worst_case"]}


IBP_FIRST = (100, 1000)  # an ibp_NAME record reports these prefixes of the test set, and all


def ibp_shares(model, x_test, y_test, eps: float) -> dict:
    """IBP alone on the whole test set (about 1 ms per input on chapter 12's CNN, where CROWN
    and the attack ensemble take 2.6 s): the % IBP-certified at eps on its first 100, 1000
    and on all of it, so that a CNN, whose full record covers fewer inputs, compares with the
    MLPs on the same 1000."""
    ok = certify.ibp_margins(model, x_test, y_test, eps).min(axis=1) > 0
    first = [k for k in IBP_FIRST if k < len(ok)] + [len(ok)]
    return {"first": first, "ibp": [100 * float(ok[:k].mean()) for k in first]}


def ibp_sandwich(model, x_test, y_test, n: int, eps: float, iters: int, restarts: int,
                 square_queries: int) -> dict:
    """The sandwich with IBP alone as its lower side, for a CNN whose full record (`evaluate`)
    would cost too much on n inputs: on Gowal et al.'s medium CNN CROWN takes most of that
    record's 9 s per input, and it certified none of the first 100 beyond IBP. Clean accuracy
    (%) on x_test; on its first n, the % IBP-certified at eps and the % correct under each
    attack of chapter 9's ensemble and under all of them ("worst_case"). An input certified
    and broken stops the run (a bug, never a number)."""
    x, y = x_test[:n], y_test[:n]
    certified = certify.ibp_margins(model, x, y, eps).min(axis=1) > 0
    ens = audit.attack_ensemble(model, model, x, y, eps, iters, restarts, square_queries, 0)
    survivors(certified, ens)
    return {"clean": 100 * nr.accuracy(model, x_test, y_test),
            "ibp": 100 * float(certified.mean()), "worst_case": ens["worst_case"],
            "attacks": {k: v for k, v in ens.items() if k != "per_input"}}


def decide(model, x_test, y_test, n: int, eps: float, iters: int, restarts: int,
           square_queries: int, max_domains: int) -> dict:
    """Close the sandwich on the first n inputs: the ones neither certified (IBP, CROWN,
    alpha-CROWN, as in `evaluate`) nor broken by chapter 9's attack ensemble go to branch and
    bound with a budget of max_domains sub-problems each (a budget in work, not seconds, so
    that any machine reaches the same verdicts). Returns the % certified before and after
    (certified + the inputs it proves robust), the worst case, the undecided inputs' indices,
    verdicts, sub-problems and seconds, and the % still undecided."""
    x, y = x_test[:n], y_test[:n]
    c, alpha, ens = certify_and_attack(model, x, y, eps, iters, restarts, square_queries)
    certified = c.certified | alpha  # branch and bound needs a dense net anyway
    survives = survivors(certified, ens)
    gap = np.flatnonzero(survives & ~certified)
    runs = []
    for i in bar(gap, desc="branch and bound", unit="input"):
        runs.append(branch_and_bound(model, x[i], int(y[i]), eps, time_limit=1e9,
                                     max_domains=max_domains))
        say(f"  input {i}: {runs[-1].status} ({runs[-1].domains} sub-problems, "
            f"{runs[-1].seconds:.1f} s)")
    verdicts = [r.status for r in runs]
    robust = verdicts.count("robust")
    return {"certified": 100 * float(certified.mean()), "worst_case": ens["worst_case"],
            "certified_with_bab": 100 * (int(certified.sum()) + robust) / n,
            "undecided": 100 * verdicts.count("unknown") / n,
            "gap": gap.tolist(), "verdicts": verdicts, "domains": [r.domains for r in runs],
            "seconds": [round(r.seconds, 2) for r in runs]}


def decide_milp(model, x_test, y_test, indices: list, eps: float, time_limit: float,
                exact: bool = True) -> dict:
    """The MILP on the inputs `indices` (those branch and bound left unknown), `time_limit`
    seconds each: per input its verdict (robust / not robust, both exact; unknown at the time
    limit), its exact smallest margin when the solve finished, binaries and seconds.
    exact=False: the MILP's decision form (milp_margin(exact=False)), same verdicts, no margin
    for a robust input."""
    runs = []
    for i in bar(indices, desc="MILP", unit="input"):
        runs.append(certify.milp_margin(model, x_test[i], int(y_test[i]), eps,
                                        time_limit=time_limit, exact=exact))
        say(f"  input {i}: {runs[-1].status} (margin {runs[-1].margin}, {runs[-1].binaries} "
            f"binaries, {runs[-1].seconds:.1f} s)")
    return {"indices": list(indices), "verdicts": [r.status for r in runs],
            "margins": [r.margin for r in runs], "binaries": [r.binaries for r in runs],
            "seconds": [round(r.seconds, 1) for r in runs]}


def milp_cells(bab: dict, milp: dict, n: int) -> list[str]:
    """A MILP record after its branch-and-bound record, on n inputs, as table cells: certified
    with branch and bound | unknown after it | MILP robust | MILP not robust | MILP unknown |
    certified with both | worst case less every counterexample | undecided %."""
    v, b = milp["verdicts"], bab["verdicts"]
    broken = b.count("not robust") + v.count("not robust")
    return [f"{bab['certified_with_bab']:.1f}", str(len(v)), str(v.count("robust")),
            str(v.count("not robust")), str(v.count("unknown")),
            f"{bab['certified_with_bab'] + 100 * v.count('robust') / n:.1f}",
            f"{bab['worst_case'] - 100 * broken / n:.1f}", f"{100 * v.count('unknown') / n:.1f}"]


def bab_cells(r: dict, n: int) -> list[str]:
    """A `decide` record on n inputs as the cells of its table row: certified | undecided
    inputs | proved robust | proved not robust | unknown | certified with branch and bound |
    worst case | worst case less its counterexamples | undecided %."""
    v = r["verdicts"]
    return [f"{r['certified']:.1f}", str(len(v)), str(v.count("robust")),
            str(v.count("not robust")), str(v.count("unknown")), f"{r['certified_with_bab']:.1f}",
            f"{r['worst_case']:.1f}", f"{r['worst_case'] - 100 * v.count('not robust') / n:.1f}",
            f"{r['undecided']:.1f}"]


def ibp_cells(r: dict) -> list[str]:
    """An ibp_NAME record as table cells: % IBP-certified on the first 100, 1000 and all."""
    return [f"{v:.1f}" for v in r["ibp"]]


def ibp_sandwich_cells(r: dict) -> list[str]:
    """An ibpsandwich_NAME record's row: IBP-certified, worst case, the points between, clean."""
    return [f"{r['ibp']:.1f}", f"{r['worst_case']:.1f}", f"{r['worst_case'] - r['ibp']:.1f}",
            f"{r['clean']:.1f}"]


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A Markdown table for benchmarks/RESULTS.md, after a blank line."""
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def training_minutes(cache, spec) -> float | None:
    """Minutes the last training of `spec` took, from the cache's training log (None: not
    trained on this machine)."""
    log = cache / "training_log.jsonl"
    if not log.exists():
        return None
    key = model_key(spec)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    seconds = [e["seconds"] for e in lines if e.get("key") == key]
    return seconds[-1] / 60 if seconds else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(RECIPES),
                   help=f"recipes, comma-separated (default: all of {', '.join(RECIPES)})")
    p.add_argument("--n", type=int, default=1000, help="test inputs certified and attacked")
    p.add_argument("--workers", type=int, default=0, help="Dask worker processes (0: serial)")
    p.add_argument("--quick", action="store_true", help="a smoke test: small settings")
    p.add_argument("--bab", type=int, default=0, metavar="DOMAINS",
                   help="also close the sandwich: branch and bound, DOMAINS sub-problems per "
                        "input, on the inputs neither certified nor broken (record bab_NAME)")
    p.add_argument("--milp", type=float, default=0, metavar="SECONDS",
                   help="after --bab: the MILP on the inputs branch and bound left unknown, "
                        "SECONDS per input (record milp_NAME)")
    p.add_argument("--ibp-all", action="store_true",
                   help="also certify the whole test set by IBP alone (record ibp_NAME: the %% "
                        "certified on the first 100, 1000 and all), cheap where --n is small")
    p.add_argument("--ibp-sandwich", type=int, default=0, metavar="N",
                   help="also the attack ensemble on the first N beside IBP alone (record "
                        "ibpsandwich_NAME): both sides of the sandwich on N inputs where CROWN "
                        "costs too much (a CNN)")
    p.add_argument("--milp-decide", action="store_true",
                   help="with --milp: ask each program only whether a margin <= 0 exists (the "
                        "decision form, milp_margin(exact=False)) instead of for the smallest")
    a = p.parse_args()
    if a.milp < 0 or (a.milp and not a.bab):
        p.error("--milp SECONDS (> 0) goes with --bab DOMAINS: it takes the inputs that branch "
                "and bound with that budget left unknown")
    if a.ibp_sandwich < 0:
        p.error(f"--ibp-sandwich is a number of test inputs (0: none), got {a.ibp_sandwich}")
    if a.bab < 0:
        p.error(f"--bab is a number of sub-problems per input (0: no branch and bound), got "
                f"{a.bab}")
    names = [r for r in a.only.split(",") if r]
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        p.error(f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    with contextlib.ExitStack() as stack:
        executor = None
        if a.workers:
            from nprelu.cluster import DaskExecutor, connect

            executor = DaskExecutor(stack.enter_context(connect(a.workers)))
        results = ROOT / "results" / ("quick" if a.quick else "") / "recipes"
        ctx = make_context(quick=a.quick, results=results, name="recipes", executor=executor)
        s = ctx.settings
        x, y = ctx.test_set()
        n = min(a.n, 20) if a.quick else a.n
        specs = {}
        for name in names:
            recipe = dict(RECIPES[name])
            if a.quick:
                recipe.update(epochs=2, ibp_ramp=1, lr_drops=())
            specs[name] = replace(ctx.spec((392, 196)), **recipe)
        tasks = {f"recipe_{name}": (evaluate, spec, x, y, n, EPS, s.audit_iters,
                                    s.audit_restarts, s.audit_square_queries)
                 for name, spec in specs.items()}
        bab_name = {name: f"bab_{name}" + ("" if a.bab == BAB_BUDGET else f"@{a.bab}")
                    for name in names}
        if a.ibp_all:
            tasks |= {f"ibp_{name}": (ibp_shares, spec, x, y, EPS) for name, spec in specs.items()}
        sandwich_n = min(a.ibp_sandwich, 20) if a.quick else a.ibp_sandwich
        if sandwich_n:
            tasks |= {f"ibpsandwich_{name}": (ibp_sandwich, spec, x, y, sandwich_n, EPS,
                                              s.audit_iters, s.audit_restarts,
                                              s.audit_square_queries)
                      for name, spec in specs.items()}
        if a.bab:  # branch and bound is written for dense nets: the MLP recipes only
            tasks |= {bab_name[name]: (decide, spec, x, y, n, EPS, s.audit_iters,
                                      s.audit_restarts, s.audit_square_queries, a.bab)
                      for name, spec in specs.items() if not spec.convs}
        records = ctx.records(tasks)
        if a.milp:  # the inputs branch and bound left unknown, once its records exist
            milp_name = {name: bab_name[name].replace("bab_", "milp_", 1) for name in names}
            records |= ctx.records({
                milp_name[name]: (decide_milp, spec, x, y,
                                  [i for i, v in zip(records[bab_name[name]]["gap"],
                                                     records[bab_name[name]]["verdicts"])
                                   if v == "unknown"], EPS, a.milp,
                                  *([False] if a.milp_decide else []))
                for name, spec in specs.items() if bab_name[name] in records})
        if executor is not None:
            executor.drain()
    cols = ("clean", "ibp", "crown", "alpha_crown", "certified", "worst_case")
    rows = []
    for name, spec in specs.items():
        r, minutes = records[f"recipe_{name}"], training_minutes(ctx.store.cache, spec)
        rows.append([name, *("–" if r[c] is None else f"{r[c]:.1f}" for c in cols),
                     "–" if minutes is None else f"{minutes:.1f}"])
    print_table([f"recipe (eps {EPS}; certified and worst case on the first {n})", *cols,
                 "training min"], rows)
    if a.ibp_all:
        print_table([f"recipe (IBP alone, eps {EPS})",
                     *(f"IBP-certified, first {k}" for k in IBP_FIRST), f"all {len(x)}"],
                    [[name, *ibp_cells(records[f"ibp_{name}"])] for name in specs])
    if sandwich_n:
        print_table([f"recipe (eps {EPS}, first {sandwich_n})", "IBP alone: certified",
                     "worst case", "between", "clean"],
                    [[name, *ibp_sandwich_cells(records[f"ibpsandwich_{name}"])]
                     for name in specs])
    babs = {name: records[bab_name[name]] for name in specs if bab_name[name] in records}
    if babs:
        print_table([f"recipe (branch and bound, {a.bab} sub-problems per input)", "certified",
                     "undecided inputs", "proved robust", "proved not robust", "unknown",
                     "certified with branch and bound", "worst case",
                     "worst case less its counterexamples", "undecided %"],
                    [[bab_name[name].removeprefix("bab_"), *bab_cells(r, n)]
                     for name, r in babs.items()])
    milps = {name: records[milp_name[name]] for name in specs
             if a.milp and milp_name[name] in records}
    if milps:
        print_table([f"recipe (MILP, {a.milp:g} s per input, on what branch and bound left)",
                     "branch and bound: certified", "unknown after it", "MILP: robust",
                     "not robust", "unknown", "certified with both",
                     "worst case less every counterexample", "undecided %",
                     "MILP s per input (max)"],
                    [[milp_name[name].removeprefix("milp_"), *milp_cells(babs[name], r, n),
                      f"{max(r['seconds'], default=0):.0f}"] for name, r in milps.items()])
    print(f"\nnprelu {nr.__version__}; published for fully connected nets at eps 0.1: "
          "784-1024-10, LP-certified training 96.81 % clean / 89.1 % (Croce et al. 2019); "
          "3x100, CROWN-IBP 95.23 % / 85 %; goal of #26: >= 97 % / >= 90 %")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("\ncertified_recipes: interrupted. Finished records are saved, and a model in "
              "training keeps its last finished epoch; rerun the same command to resume.",
              file=sys.stderr)
        raise SystemExit(130) from None
