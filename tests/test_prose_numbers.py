"""Every number in a chapter's prose is checked against the records it reports (tests/prose.py).

Each function below lists one chapter's claims: a piece of its prose as a template, and the
values that fill it, computed here from the records of the paper-settings run (or taken
from nprelu.paper, for the paper's numbers and our settings). `holds` marks a claim whose words
state a fact without a number ("bit for bit", "only β ≤ 0.1 beats the control"): the fact is
checked on the records. A rerun that moves a number, or an edit of the prose, fails a test
that names the sentence; so does a number added to the prose without a claim.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import nprelu as nr
from nprelu import audit, paper
from nprelu.context import ROOT
from nprelu.cw import cw_accuracies
from nprelu.data import load_split_of
from nprelu.metrics import mean_std
from nprelu.paper import Settings
from nprelu.plotting import fmt
from nprelu.reproduce import CHAPTERS, chapter_path
from nprelu.store import ensemble_record, net_tag
from nprelu.train import Spec
from tests.prose import (
    FASHION_RECORDS,
    RECIPE_RECORDS,
    SEED_RECORDS,
    bab_inputs,
    bab_record,
    ibp_record,
    ibpsandwich_record,
    markdown,
    milp_record,
    missing_claims,
    recipe_record,
    record,
    record_inputs,
    seed_record,
    seed_records,
    unchecked_numbers,
)
from tests.test_certified_recipes import load_recipes

QUICK = Settings.make(quick=True)
PAPER = Settings.make(quick=False)
WORDS = dict(enumerate(("no", "one", "two", "three", "four", "five", "six", "seven", "eight",
                        "nine", "ten", "eleven", "twelve")))


def quick_settings(more: str = "", **values):
    """The 'Settings' cell's description of the quick run."""
    return (f"(2 epochs on {{n_train}} images, {{n_test}} test images{more}",
            {"n_train": f"{QUICK.n_train:,}".replace(",", " "), "n_test": QUICK.n_test,
             "holds": QUICK.epochs == 2, **values})


def pgd_eval(template: str = "(eps 0.1, step {step:g}, {iters} iterations)"):
    return (template, {**paper.PGD_EVAL, "holds": paper.PGD_EVAL["eps"] == 0.1})


def sweeps(net: str) -> dict:
    """{(capped layers, training beta): [{beta (evaluation), robust, ...} per evaluation beta]}."""
    return {(cap, b): record(f"sweep_{net}_{cap}_b{b:g}_seed0")
            for cap in paper.CAP_SETS for b in PAPER.init_betas}


def at(rows: list[dict], beta: float) -> dict:
    """The row of a sweep evaluated at `beta`."""
    return next(r for r in rows if abs(r["beta"] - beta) < 1e-9)


def ch3_enlarged_perturbations():
    def r(cap, beta):
        return record(f"sec3_{cap}_b{beta}_seed0")

    base, control = r("none", "None"), r("control", "None")
    caps = ("HL1", "HL2", "HL3", "HL123")

    def adv_range(beta):
        advs = [r(c, beta)["adv"] for c in caps]
        return {"lo": min(advs), "hi": max(advs)}

    best_small = max(r(c, b)["adv"] for c in caps for b in ("0.01", "0.1"))
    return [
        ("(eps {eps:.0f}/256, step {step:.0f}/256, {iters} iterations)",
         {"eps": 256 * paper.SEC3_PGD["eps"], "step": 256 * paper.SEC3_PGD["step"],
          "iters": paper.SEC3_PGD["iters"]}),
        ("grows {0:.2f} → {1:.2f} → {2:.2f} from HL1 to HL3",
         [layer["linf"] for layer in base["layers"]]),
        ("(all three layers at β = 0.01: {0:.3f}, {1:.3f}, {2:.3f})",
         [layer["linf"] for layer in r("HL123", "0.01")["layers"]]),
        ("A cap of 100 never binds: those nets are the uncapped net bit for bit.",
         {"holds": all(r(c, "100") == base for c in caps)}),
        ("The attacked net keeps {adv:.1f} % of the images", base),
        ("the control, uncapped but trained from another seed, already keeps **{adv:.1f} %**",
         control),
        ("The capped nets keep {lo:.1f}–{hi:.1f} % at β = 0.01,", adv_range("0.01")),
        ("{lo:.1f}–{hi:.1f} % at 0.1", adv_range("0.1")),
        ("and {lo:.1f}–{hi:.1f} % at 1.", adv_range("1")),
        ("Most of the gap to {adv:.1f} % is", base),
        ("only β ≤ 0.1 beats the control, by at most about {gain:.0f} points",
         {"gain": best_small - control["adv"],
          "holds": all(r(c, b)["adv"] < control["adv"] for c in caps for b in ("1", "10"))}),
        ("(all three layers at 0.01: {capped:.1f} % against {base:.1f} %)",
         {"capped": r("HL123", "0.01")["clean"], "base": base["clean"]}),
    ]


def ch3_scaled_sigmoid():
    runs = record("sec3_sigmoid_seed0")
    c1, c10 = runs["1.0"], runs["10.0"]  # per epoch: weight std, c·z std per layer, accuracy
    epochs = {"epochs": c1[-1]["epoch"]}
    return [
        ("of c·z on 1000 test images", {"holds": "x_test[:1000]" in source("ch3s")}),
        ("At the paper's settings ({epochs} epochs, seed 0)", epochs),
        ("(HL1 weight std {0:.3f} → {1:.3f}, against {2:.3f} → {3:.3f} for c = 1)",
         [c10[0]["w_std"][0], c10[-1]["w_std"][0], c1[0]["w_std"][0], c1[-1]["w_std"][0]]),
        ("spread out from std {0:.1f} to {1:.1f} (c = 1: {2:.2f} → {3:.2f})",
         [c10[0]["cz_std"][0], c10[-1]["cz_std"][0], c1[0]["cz_std"][0], c1[-1]["cz_std"][0]]),
        ("not what Adam does here in {epochs} epochs", epochs),
        ("test accuracy {0:.2f} % (c = 10) against {1:.2f} % (c = 1)",
         [c10[-1]["acc"], c1[-1]["acc"]]),
    ]


def ch4_layer_size():
    general, reversed_ = sweeps("general"), sweeps("reversed")
    trained_at_1 = [at(rows, 0.15)["robust"] for (cap, b), rows in {**general}.items()
                    if b == 1] + [at(rows, 0.15)["robust"] for (cap, b), rows in
                                  reversed_.items() if b == 1]

    def best(sw, b0, beta):  # the capped layers with the highest PGD accuracy
        return max(paper.CAP_SETS, key=lambda cap: at(sw[cap, b0], beta)["robust"])

    def worst(sw, b0, beta):
        return min(paper.CAP_SETS, key=lambda cap: at(sw[cap, b0], beta)["robust"])

    evals = PAPER.eval_betas
    others_015 = [at(general[cap, 0.01], 0.15)["robust"] for cap in ("HL1", "HL12")]
    others_01 = [at(general[cap, 0.1], 0.15)["robust"] for cap in ("HL1", "HL12")]
    return [
        ("initial β of {0:g}, {1:g} or {2:g}: nine nets per shape", list(PAPER.init_betas)),
        ("with the cap moved to every β from {0:g} to {1:g}, under PGD",
         [evals[0], evals[-1]]),
        pgd_eval(),
        quick_settings(", {n_eval} evaluation β)", n_eval=WORDS[len(QUICK.eval_betas)]),
        ("(Adam, lr {lr:g}, batch {batch_size};", vars(Spec(hidden=()))),
        ("keep {lo:.0f}–{hi:.0f} % accuracy under PGD with the cap moved down to β = 0.15",
         {"lo": min(trained_at_1), "hi": max(trained_at_1)}),
        ("when evaluated at β ≤ 0.07 ({top:.1f} % at 0.01) but the lowest from 0.09 on "
         "({low:.1f} % against {lo:.1f}–{hi:.1f} % at 0.15)",
         {"top": at(general["HL2", 0.01], 0.01)["robust"],
          "low": at(general["HL2", 0.01], 0.15)["robust"], "lo": min(others_015),
          "hi": max(others_015),
          "holds": all(best(general, 0.01, b) == "HL2" for b in evals if b <= 0.07)
          and all(worst(general, 0.01, b) == "HL2" for b in evals if b >= 0.09)}),
        ("for evaluation β ≥ 0.04 ({low:.1f} % against {lo:.1f}–{hi:.1f} % at 0.15)",
         {"low": at(general["HL2", 0.1], 0.15)["robust"], "lo": min(others_01),
          "hi": max(others_01),
          "holds": all(worst(general, 0.1, b) == "HL2" for b in evals if b >= 0.04)}),
        ("Capping the narrow HL1 (196 units)", {"holds": paper.NETS["reversed"][0] == 196}),
        ("(trained at 0.1, evaluated at 0.15: HL1 {0:.1f} %, both {1:.1f} %, HL2 {2:.1f} %)",
         [at(reversed_[cap, 0.1], 0.15)["robust"] for cap in ("HL1", "HL12", "HL2")]),
    ]


def ch5_layer_order():
    equal = sweeps("equal")
    evals = PAPER.eval_betas
    hl2 = equal["HL2", 0.01]
    low = min(hl2, key=lambda r: r["robust"])

    def best(b0, beta):
        return max(paper.CAP_SETS, key=lambda cap: at(equal[cap, b0], beta)["robust"])

    return [
        ("capped at an initial β of {0:g}, {1:g} or {2:g}, then evaluated", list(PAPER.init_betas)),
        ("with the cap moved over β = {0:g} … {1:g} under PGD", [evals[0], evals[-1]]),
        pgd_eval(),
        ("HL1 capped at β = 1, evaluated with the cap at 0.05.",
         {"holds": "model.set_caps({1: 0.05})" in source("ch5")}),
        ("capping HL2 is best only when evaluated at β = {first:g} ({r0:.1f} % under PGD, "
         "against {r1:.1f} % for HL1 and {r2:.1f} % for both)",
         {"first": evals[0], "r0": at(hl2, evals[0])["robust"],
          "r1": at(equal["HL1", 0.01], evals[0])["robust"],
          "r2": at(equal["HL12", 0.01], evals[0])["robust"],
          "holds": [b for b in evals if best(0.01, b) == "HL2"] == [evals[0]]}),
        ("and falls to {low:.1f} % at β = {beta:g} (HL1 {hl1:.1f} %, both {both:.1f} %)",
         {"low": low["robust"], "beta": low["beta"],
          "hl1": at(equal["HL1", 0.01], low["beta"])["robust"],
          "both": at(equal["HL12", 0.01], low["beta"])["robust"]}),
        ("Trained at β = 1, capping HL2 is the best choice below β ≈ 0.08",
         {"holds": all((best(1, b) == "HL2") == (b < 0.08) for b in evals)}),
    ]


def ch6_zero_gradients():
    cells = [(net, cap, b0, row) for net in ("general", "reversed", "equal")
             for cap in paper.CAP_SETS for b0 in PAPER.init_betas
             for row in record(f"zerograd_{net}_{cap}_b{b0:g}_seed0")]
    lowest = min(cells, key=lambda c: c[3]["found"])
    rev = {cap: at(record(f"zerograd_reversed_{cap}_b0.1_seed0"), 0.15) for cap in paper.CAP_SETS}
    pgd = {cap: at(record(f"sweep_reversed_{cap}_b0.1_seed0"), 0.15) for cap in paper.CAP_SETS}
    return [
        ("The step is {step:g} (the paper does not give one), at most {iters} iterations, on the "
         "first {n} test inputs.",
         {"step": paper.ZERO_GRAD_STEP, "iters": PAPER.zg_iters, "n": PAPER.zg_samples}),
        ("The general net trained with HL2 capped at 0.1.",
         {"holds": 'specs["general", "HL2", 0.1, ctx.seeds[0]]' in source("ch6")}),
        ("iteration 0 means the clean input itself", {}),  # a definition, not a measurement
        ("(seed 0, first {n} test inputs)", {"n": PAPER.zg_samples}),
        ("(≥ 99 % in {share:.0f} % of the cells; the lowest share is {low:.1f} %, {net} net capped "
         "at {cap}, trained at {b0:g}, evaluated at {beta:g})",
         {"share": 100 * sum(c[3]["found"] >= 99 for c in cells) / len(cells),
          "low": lowest[3]["found"], "net": lowest[0], "cap": lowest[1], "b0": lowest[2],
          "beta": lowest[3]["beta"]}),
        ("Reversed net trained at 0.1 and evaluated at 0.15: capped HL2 mean distance "
         "{d2:.2f} with PGD accuracy {p2:.1f} %, against {d1:.2f} / {p1:.1f} % (HL1) and "
         "{d12:.2f} / {p12:.1f} % (both)",
         {"d2": rev["HL2"]["mean_l2"], "p2": pgd["HL2"]["robust"], "d1": rev["HL1"]["mean_l2"],
          "p1": pgd["HL1"]["robust"], "d12": rev["HL12"]["mean_l2"],
          "p12": pgd["HL12"]["robust"]}),
        ("brings accuracy at eps 0.1 down to {bpda:.1f} %.",
         record("attacks_eps0.1_0.01_clean_seed0")),
    ]


def ch7_sensitivity():
    b1, b01, b001 = (record(f"sec7_b{b}_seed0") for b in ("1", "0.1", "0.01"))
    return [
        ("the sum of the map is {0:.1f} at β = 1, {1:.1f} at β = 0.1 and {2:.0f} at β = 0.01, "
         "where the gradient vanishes entirely",
         [b1["five_sum"], b01["five_sum"], b001["five_sum"]]),
        ("", {"holds": b001["five_sum"] == 0}),
        ("Over the first {n} test inputs the *median* sum falls from {m1:.1f} (β = 1) to "
         "{m01:.0f} (β = 0.1 and 0.01)",
         {"n": PAPER.smap_samples, "m1": b1["median_sum"], "m01": b01["median_sum"],
          "holds": b01["median_sum"] == 0 == b001["median_sum"]}),
        ("but the *mean* rises, from {0:.1f} to {1:.1f} and {2:.1f}.",
         [b1["mean_sum"], b01["mean_sum"], b001["mean_sum"]]),
    ]


def ch8_adversarial_training():
    y = load_split_of("mnist", "test")[1]
    nets = [(b, a) for a in paper.TABLE1_TRAINING for b in paper.TABLE1_BETAS]

    def t1(b, a, seed=0):
        name = f"table1_{net_tag(b, a, seed)}"
        return record(name) if seed == 0 else seed_records(name[: -len("_seed0")])[seed]

    def cw(b, a, seed, n):  # CW accuracy in % both ways, on the first n inputs of the seed
        name = f"cw_{net_tag(b, a, seed)}_0000-{PAPER.cw_inputs(seed == 0):04d}"
        out = record(name) if seed == 0 else seed_record(name)
        black = seed_records(f"black_{net_tag(b, a, 0)[: -len('_seed0')]}")[seed]["class"]
        return cw_accuracies(out["correct"][:n], out["success"][:n], y[:n], black)

    def theirs(b, a, col):
        return paper.PAPER_TABLE1[b, a][paper.TABLE1_COLUMNS.index(col)]

    tools = record("tool_choices_none_clean_seed0")
    recipe = {name: record(f"recipe_{name}_seed0") for name in (
        "batch256_none_clean", "lr0.0001_none_clean", "batch128_none_clean",
        "batch128_0.1_clean", "lr0.0001_0.1_clean", "1epoch_none_clean", "5epochs_none_clean",
        "10epochs_none_clean")}
    clean_gap = [abs(t1(b, None)["clean"] - theirs(b, None, "clean")) for b in paper.TABLE1_BETAS]
    n = PAPER.cw_samples
    ours = {k: cw(*k, 0, n) for k in nets}
    small = [ours[b, a]["honest"] for b, a in nets if b is not None and b <= 0.1]
    small_paper = [theirs(b, a, "cw") for b, a in nets if b is not None and b <= 0.1]
    shared = PAPER.cw_samples_other_seeds
    seeds_fb = {k: mean_std([cw(*k, s, shared)["foolbox"] for s in (0, 1, 2)])[0] for k in nets}
    blacks = [r["class"] for k in nets for r in seed_records(f"black_{net_tag(*k, 0)[:-6]}")]
    spreads = {(k, col): mean_std([t1(*k, s)[col] for s in (0, 1, 2)])
               for k in nets for col in ("clean", "fgsm", "pgd")}
    widest = max(spreads, key=lambda c: spreads[c][1])
    return [
        ("for {epochs} epochs (Adam, lr {lr:g}), then either left alone or trained {adv} more "
         "epochs", {"epochs": PAPER.epochs, "lr": Spec(hidden=()).lr, "adv": PAPER.adv_epochs}),
        pgd_eval(),
        ("({steps} iterations, lr {lr:g}, initial c {initial_c:g}, {binary_steps} binary-search "
         "steps on c)", paper.CW_PAPER),
        ("at β = 0.01 PGD accuracy is {0:.2f} % without adversarial training and {1:.0f}–{2:.0f} % "
         "with it, against {3:.2f} % and {4:.0f}–{5:.0f} % for the uncapped nets.",
         [theirs(0.01, None, "pgd"), theirs(0.01, "pgd", "pgd"), theirs(0.01, "fgsm", "pgd"),
          theirs(None, None, "pgd"), theirs(None, "fgsm", "pgd"), theirs(None, "pgd", "pgd")]),
        ("(at most {0:.2f} % survive)", [max(theirs(b, a, "cw") for b, a in nets)]),
        ("CW runs on the first {0} test inputs", [n]),
        ("(10 at the paper's settings)", {"holds": PAPER.adv_epochs == 10}),
        ("foolbox 3 (`L2CarliniWagnerAttack`)", {}),  # the tool's major version
        ("CW in records of up to {0} inputs each", [PAPER.cw_samples]),
        ("", {"holds": "CW_CHUNK = 500" in source("ch8")}),
        ("The paper's CW column ({0:.0f}–{1:.0f} %)",
         [min(theirs(b, a, "cw") for b, a in nets), max(theirs(b, a, "cw") for b, a in nets)]),
        ("keeps {0:.2f} % under PGD in the paper and about {1:.0f} % here, and the β = 1 net "
         "{2:.2f} % against about {3:.0f} %.",
         [theirs(None, None, "pgd"), t1(None, None)["pgd"], theirs(1.0, None, "pgd"),
          t1(1.0, None)["pgd"]]),
        ("starts at a random point of radius 0.3 clipped to the eps-ball", {}),  # cleverhans
        ("(Keras defaults: batch {batch_size}, Adam {lr:g}, Glorot-uniform weights",
         vars(Spec(hidden=()))),
        ("trained with a larger batch or a smaller learning rate ({0} epochs each)",
         [PAPER.epochs]),
        ("the first k epochs of a {0}-epoch run", [PAPER.epochs]),
        ("(seed 0; CW on the first {0} test inputs)", [n]),
        ("within {0:.1f}–{1:.1f} points of the paper (uncapped {2:.2f} % against {3:.2f} %)",
         [min(clean_gap), max(clean_gap), t1(None, None)["clean"], theirs(None, None, "clean")]),
        ("**PGD on the uncapped net: {0:.2f} % against the paper's {1:.2f} %** ({2} % over three "
         "seeds; β = 1: {3:.2f} % against {4:.2f} %)",
         [t1(None, None)["pgd"], theirs(None, None, "pgd"),
          fmt([t1(None, None, s)["pgd"] for s in (0, 1, 2)]), t1(1.0, None)["pgd"],
          theirs(1.0, None, "pgd")]),
        ("(a random start of radius 0.3, the loss on the softmax output) move the uncapped net by "
         "less than one point ({0:.2f} %, {1:.2f} %); dropping the [0, 1] clip gives {2:.2f} % and "
         "40 iterations {3:.2f} %, but the unclipped FGSM then falls to {4:.2f} %, far below the "
         "paper's {5:.2f} %.",
         [tools["PGD-10, random start 0.3 (madry_et_al)"],
          tools["PGD-10, softmax output as logits"], tools["PGD-10, no [0, 1] clip"],
          tools["PGD-40, step 0.01"], tools["FGSM, no [0, 1] clip"],
          theirs(None, None, "fgsm")]),
        ("", {"holds": all(abs(tools[k] - t1(None, None)["pgd"]) < 1 for k in (
            "PGD-10, random start 0.3 (madry_et_al)", "PGD-10, softmax output as logits"))}),
        ("batch 256 gives {0:.2f} % (FGSM {1:.2f} %), a learning rate of 0.0001 gives {2:.2f} % "
         "({3:.2f} %), batch 128 {4:.2f} % ({5:.2f} %). The paper's {6:.2f} % is",
         [recipe["batch256_none_clean"]["pgd"], recipe["batch256_none_clean"]["fgsm"],
          recipe["lr0.0001_none_clean"]["pgd"], recipe["lr0.0001_none_clean"]["fgsm"],
          recipe["batch128_none_clean"]["pgd"], recipe["batch128_none_clean"]["fgsm"],
          theirs(None, None, "pgd")]),
        ("(batch {batch_size}, Adam {lr:g}, {epochs} epochs, clipped attacks)",
         {**vars(Spec(hidden=())), "epochs": PAPER.epochs}),
        ("the same run cut after 1, 5 and 10 epochs keeps {0:.2f}, {1:.2f} and {2:.2f} % under "
         "PGD-10", [recipe[f"{e}_none_clean"]["pgd"] for e in ("1epoch", "5epochs", "10epochs")]),
        ("at β = 0.01 PGD accuracy is {0:.2f} % (clean training) and {1:.2f} % (PGD training)",
         [t1(0.01, None)["pgd"], t1(0.01, "pgd")["pgd"]]),
        ("for every net capped at β ≤ 0.1, and for β = 1 after adversarial training, PGD accuracy "
         "is *above* FGSM accuracy (β = 0.1: PGD {pgd:.2f} %, FGSM {fgsm:.2f} %)",
         {**t1(0.1, None), "holds": all(
             (t1(b, a)["pgd"] > t1(b, a)["fgsm"])
             == (b is not None and (b <= 0.1 or a is not None)) for b, a in nets)}),
        ("(Trained at batch 128 or with lr 0.0001 the β = 0.1 net has PGD below FGSM again, "
         "{0:.2f} % and {1:.2f} %, nearer the paper's {2:.2f} %",
         [recipe["batch128_0.1_clean"]["pgd"], recipe["lr0.0001_0.1_clean"]["pgd"],
          theirs(0.1, None, "pgd")]),
        ("", {"holds": all(recipe[k]["pgd"] < recipe[k]["fgsm"]
                           for k in ("batch128_0.1_clean", "lr0.0001_0.1_clean"))}),
        ("({0:.0f}–{1:.0f} % of the inputs \"survive\" CW on the nets capped at β ≤ 0.1, against "
         "the paper's {2:.1f}–{3:.1f} %)",
         [min(small), max(small), min(small_paper), max(small_paper)]),
        ("Counted the way foolbox 3 counts it", {}),
        ("which every one of our {n} Table 1 nets (three seeds) reads as a 5",
         {"n": len(blacks), "holds": set(blacks) == {5}}),
        ("(5s are {five:.1f} % of our {n} inputs). That gives {lo:.1f}–{hi:.1f} % on the {n} "
         "inputs, within {gap:.1f} points of the paper in every row (β = 0.1: {b01:.2f} % against "
         "{p01:.2f} %; β = 0.01: {b001:.2f} % against {p001:.2f} %), and within {seeds:.1f} "
         "points over three seeds.",
         {"five": 100 * (y[:n] == 5).mean(), "n": n,
          "lo": min(v["foolbox"] for v in ours.values()),
          "hi": max(v["foolbox"] for v in ours.values()),
          "gap": max(abs(ours[k]["foolbox"] - theirs(*k, "cw")) for k in nets),
          "b01": ours[0.1, None]["foolbox"], "p01": theirs(0.1, None, "cw"),
          "b001": ours[0.01, None]["foolbox"], "p001": theirs(0.01, None, "cw"),
          "seeds": max(abs(seeds_fb[k] - theirs(*k, "cw")) for k in nets)}),
        ("(β = 1 with PGD training: {0:.2f} %, paper {1:.2f} %; β = 0.01 with FGSM training: "
         "{2:.2f} %, paper {3:.2f} %). Seeds 1 and 2 collapse too ({4:.2f} % and {5:.2f} %; "
         "{6:.2f} % and {7:.2f} %).",
         [t1(1.0, "pgd")["clean"], theirs(1.0, "pgd", "clean"), t1(0.01, "fgsm")["clean"],
          theirs(0.01, "fgsm", "clean"), t1(1.0, "pgd", 1)["clean"], t1(1.0, "pgd", 2)["clean"],
          t1(0.01, "fgsm", 1)["clean"], t1(0.01, "fgsm", 2)["clean"]]),
        ("the standard deviation of a clean, FGSM or PGD cell is at most {0:.1f} points, except "
         "β = 1 with PGD training (FGSM accuracy {1} %)",
         [max(s for c, (_, s) in spreads.items() if c != widest),
          fmt([t1(1.0, "pgd", s)["fgsm"] for s in (0, 1, 2)])]),
        ("", {"holds": widest == ((1.0, "pgd"), "fgsm")}),
        ("CW there runs on the first {0} inputs of each seed ({1} for the first)",
         [PAPER.cw_samples_other_seeds, PAPER.cw_samples]),
    ]


def ch9_audit():
    def ens(beta, training):
        return record(ensemble_record(beta, training, 0))

    def flags(beta, training):
        masking = record(f"masking_{net_tag(beta, training, 0)}")
        return {k for k, v in audit.masking_flags({**ens(beta, training), **masking}).items()
                if v is True}

    capped = {t: ens(0.01, t) for t in ("clean", "fgsm", "pgd")}
    curve = record("masking_0.01_clean_seed0")
    eps_curve = dict(zip((0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0), curve["eps_curve_bpda"]))
    uncapped = {t: ens(None, t) for t in ("fgsm", "pgd")}
    three = {t: [r["worst_case"] for r in seed_records(f"attacks_eps0.1_0.01_{t}")]
             for t in ("clean", "fgsm", "pgd")}
    nets = [(b, t) for t in ("clean", "fgsm", "pgd") for b in paper.TABLE1_BETAS]
    return [
        ("its derivative is 1 only on 0 < z < β and 0 elsewhere", {}),  # the derivative's rule
        ("almost every unit sits at 0 or at the cap", {}),
        ("sign(0) = 0", {}),
        ("(derivative 1 on z > 0)", {}),
        ("on the first {n} test inputs at the same eps = 0.1", {"n": PAPER.audit_samples}),
        ("accuracy as eps grows to 1 (at eps = 1 any image is reachable, so an honest evaluation "
         "must drive accuracy to about chance, 10 %)", {}),  # ten classes
        ("(20 steps of eps / 4)", {"holds": "e / 4, 20, bpda=True" in source("ch9")}),
        ("(seed 0, first {n} test inputs, eps 0.1;", {"n": PAPER.audit_samples}),
        ("keep **{0:.1f} %** (clean training), **{1:.1f} %** (FGSM training) and **{2:.1f} %** "
         "(PGD training) in the worst case, where the paper's PGD column says {3:.2f} %, "
         "{4:.2f} % and {5:.2f} %.",
         [capped[t]["worst_case"] for t in capped]
         + [paper.PAPER_TABLE1[0.01, a][2] for a in (None, "fgsm", "pgd")]),
        ("BPDA alone brings them to {0:.1f} %, {1:.1f} % and {2:.1f} %; APGD-CE only to "
         "{3:.1f} %, {4:.1f} % and {5:.1f} %.",
         [capped[t]["bpda"] for t in capped] + [capped[t]["apgd_ce"] for t in capped]),
        ("its gradient is exactly zero for {zero_gradient_share:.1f} % of the inputs of the "
         "clean-trained one", capped["clean"]),
        ("As eps grows to 1 its PGD accuracy only falls from {0:.1f} % to {1:.1f} %, while BPDA "
         "reaches {2:.1f} % at eps 0.2 and {3:.1f} % from eps 0.3 on",
         [curve["eps_curve_pgd"][0], curve["eps_curve_pgd"][-1], eps_curve[0.2],
          max(v for e, v in eps_curve.items() if e >= 0.3)]),
        ("The same flags (Z, E) go up for every net capped at β ≤ 0.1 and for β = 1 after PGD "
         "training, and never for the uncapped nets.",
         {"holds": all(({"zero_gradient", "not_broken_at_eps_1"} <= flags(b, t))
                       == (b is not None and (b <= 0.1 or t == "pgd"))
                       and (b is not None or not flags(b, t)) for b, t in nets)}),
        ("Those keep {0:.1f} % (FGSM training) and {1:.1f} % (PGD training) in the worst case, "
         "{2:.1f} and {3:.1f} points below their PGD-10 number",
         [uncapped["fgsm"]["worst_case"], uncapped["pgd"]["worst_case"],
          uncapped["fgsm"]["pgd"] - uncapped["fgsm"]["worst_case"],
          uncapped["pgd"]["pgd"] - uncapped["pgd"]["worst_case"]]),
        ("the worst case of the three β = 0.01 nets is {clean} % (clean training), {fgsm} % "
         "(FGSM) and {pgd} % (PGD): the {gap:.0f}-point gap to the uncapped PGD-trained net",
         {**{t: fmt(v, 1) for t, v in three.items()},
          "gap": uncapped["pgd"]["worst_case"] - mean_std(three["pgd"])[0]}),
    ]


def ch10_certified():
    n = PAPER.milp_samples
    table1 = [(b, t) for t in ("clean", "fgsm", "pgd") for b in paper.TABLE1_BETAS]

    def sandwich(beta, training):
        """Certified, MILP bounds and attacks of one net at eps 0.1, as chapter 10 defines them:
        on the first n inputs the truth lies in [certified + MILP-robust, survivors of every
        attack - MILP-not-robust] (in %), the MILP leaving `unknown` % undecided."""
        tag = net_tag(beta, training, 0)
        cert, milp, att = (record(f"cert_{tag}"), record(f"milp_{tag}"),
                           record(ensemble_record(beta, training, 0)))
        i = cert["eps"].index(0.1)
        certified = np.array(cert["certified_at_0.1"][:n], bool)
        survives = np.array(att["per_input"]["worst_case"][:n], bool)
        return {"ibp": cert["ibp"][i], "crown": cert["crown"][i], "certified": cert["best"][i],
                "lower": 100 * (certified.sum() + milp["robust"]) / n,
                "upper": 100 * (survives.sum() - milp["not_robust"]) / n,
                "unknown": 100 * milp["unknown"] / n, **att}

    ibp = {b: sandwich(b, "ibp") for b in paper.TABLE1_BETAS}
    cib = {b: sandwich(b, "crown-ibp") for b in paper.TABLE1_BETAS}

    def bab(beta):
        """Branch and bound's verdicts on the inputs an IBP-trained net leaves open (first n)."""
        return record(f"bab_{net_tag(beta, 'ibp', 0)}")["verdicts"]

    t1 = {k: sandwich(*k) for k in table1}
    capped = [v["certified"] for (b, _), v in t1.items() if b is not None]
    uncapped = {t: t1[None, t] for t in ("clean", "fgsm", "pgd")}
    small = [t1[0.01, t] for t in ("clean", "fgsm", "pgd")]
    small_paper = [paper.PAPER_TABLE1[0.01, a][2] for a in (None, "fgsm", "pgd")]
    clean_undecided = [t1[b, "clean"]["unknown"] for b in paper.TABLE1_BETAS]
    early = record("cert_none_clean_seed0")
    j = early["eps"].index(0.01)
    chapter = source("ch10")
    # IBP's boxes per hidden layer of the four IBP-trained nets (the chapter's box_widths)
    box = {b: record(f"boxes_{net_tag(b, 'ibp', 0)}") for b in paper.TABLE1_BETAS}
    cbox = {b: record(f"boxes_{net_tag(b, 'crown-ibp', 0)}") for b in paper.TABLE1_BETAS}
    alpha_cib = np.mean(record(f"alpha_{net_tag(None, 'crown-ibp', 0)}")["certified"]) * 100
    # beta = 1 against uncapped, ibp-60 on seeds 0, 1, 2 (benchmarks/certified_recipes.py)
    seeds = [("", "-hl2@1")] + [(f"-seed{sd}", f"-hl2@1-seed{sd}") for sd in (1, 2)]
    pairs = [(recipe_record(f"ibp-60{u}"), recipe_record(f"ibp-60{c}")) for u, c in seeds]
    lead = [c["certified"] - u["certified"] for u, c in pairs]
    lead_clean = [c["clean"] - u["clean"] for u, c in pairs]
    # the uncapped net's certified accuracy per recipe length (benchmarks/certified_recipes.py)
    best, best_bab = (recipe_record("crown-ibp-only-120-eps0.125"),
                      bab_record("crown-ibp-only-120-eps0.125"))
    # ... and after the MILP on what 10000 sub-problems left: exact when nothing is unknown
    # and the certified share meets the worst case less every counterexample
    bab10k, milp10k = (bab_record("crown-ibp-only-120-eps0.125@10000"),
                       milp_record("crown-ibp-only-120-eps0.125@10000"))
    exact_cells = load_recipes().milp_cells(bab10k, milp10k,
                                            bab_inputs("crown-ibp-only-120-eps0.125@10000"))
    closed = exact_cells[4] == "0" and exact_cells[5] == exact_cells[6]
    exact_best = float(exact_cells[5]) if closed else None
    # beta = 0.1 and 0.01 (keys 2, 3: the third and fourth net of the sentence) after branch
    # and bound and the MILP's decision form, by the script's own MILP row
    small_cap_milp, small_cap_seconds = {}, set()
    for i, b in ((2, 0.1), (3, 0.01)):
        name = f"crown-ibp-only-120-eps0.125-hl2@{b:g}"
        milp = milp_record(name)
        small_cap_milp[i] = load_recipes().milp_cells(bab_record(name), milp, bab_inputs(name))
        config = json.loads((RECIPE_RECORDS / f"milp_{name}.json").read_text())["config"]
        assert config["args"][-1] is False, f"{name}: not the decision form"
        small_cap_seconds.add(config["args"][-2])
    (small_cap_seconds,) = small_cap_seconds  # one time limit for both
    recipe = {30: recipe_record("ibp-ch10")["certified"], 60: recipe_record("ibp-60")["certified"],
              120: recipe_record("ibp-120")["certified"]}
    return [
        ("we run it on the first {0} inputs", [n]),
        ("train at eps 0.15 for a test eps of 0.1, {0} epochs of batch 100; one clean epoch, then "
         "eps grows linearly over a third of the epochs while the weight of the clean loss falls "
         "from 1 to 0.5; the learning rate drops tenfold at 70 % and 85 % of the epochs.",
         [PAPER.ibp_epochs]),
        ("", {"holds": "IBP = paper.ibp_recipe(s.ibp_epochs)" in chapter
              and paper.ibp_recipe(120) == dict(ibp_eps=0.15, batch_size=100, ibp_warmup=1,
                                                ibp_ramp=40, ibp_kappa=0.5, lr_drops=(84, 102),
                                                epochs=120)}),
        ("this chapter first ran with {a} epochs, then {b}; each doubling certified more on the "
         "uncapped net, the second less than the first",
         {"a": 30, "b": 60, "holds": recipe[30] < recipe[60] < recipe[120]
          and recipe[120] - recipe[60] < recipe[60] - recipe[30]}),
        ("the recipe of that table that beats the published fully connected nets "
         "(crown-ibp-only-120-eps0.125: at least {c} % clean and {v} % certified, with branch and "
         "bound): the same schedule at a training eps of {e:g}.",
         {"c": 97, "v": 90, "e": paper.crown_ibp_recipe(120)["ibp_eps"],
          "holds": best["clean"] >= 97 and best_bab["certified_with_bab"] >= 90
          and "CROWN_IBP = paper.crown_ibp_recipe(s.ibp_epochs)" in chapter
          and paper.crown_ibp_recipe(120) == load_recipes().RECIPES[
              "crown-ibp-only-120-eps0.125"]
          and paper.crown_ibp_recipe(120) == {**paper.ibp_recipe(120), "ibp_eps": 0.125,
                                              "ibp_bound": "crown-ibp-only"}}),
        ("(zhat_y = 0)", {}), ("every other zhat_j is below 0", {}),
        ("lower bounds m_j on the margins (m_y = 0)", {}),  # crown_ibp_margins' definition
        ("beta_end = 1 trains against CROWN-IBP's bound alone",
         {"holds": "beta_end=1.0" in chapter}),
        ("The same 100 images", {"holds": "x_train[:100]" in chapter}),
        ("kappa : (1 - kappa)", {}),  # the loss's definition
        ("on the first 100 training images", {"holds": "x_train[:100]" in chapter}),
        ("for the first input (a 7)", {"holds": load_split_of("mnist", "test")[1][0] == 7}),
        ("(seed 0, first {0} test inputs, eps 0.1;", [PAPER.cert_samples]),
        ("On the first {n} inputs the certificates and the attacks leave nothing open on the "
         "IBP-trained nets capped at β = 1 and 0.1: their true robust accuracy there is exactly "
         "{a:.0f} % and {b:.0f} %. The MILP (≤ {s:g} s and ≤ {m} binaries per input) decides "
         "neither the one input they leave open on the uncapped IBP-trained net nor the two on "
         "β = 0.01, so the truth lies in {c:.0f}–{d:.0f} % and {e:.0f}–{f:.0f} % (branch and "
         "bound, below, breaks both of β = 0.01's: exactly {g:.0f} %).",
         {"n": n, "s": PAPER.milp_seconds, "m": PAPER.milp_binaries, "a": ibp[1.0]["lower"],
          "b": ibp[0.1]["lower"], "c": ibp[None]["lower"], "d": ibp[None]["upper"],
          "e": ibp[0.01]["lower"], "f": ibp[0.01]["upper"],
          "g": ibp[0.01]["upper"] - 100 * bab(0.01).count("not robust") / n,
          "holds": all(ibp[b]["lower"] == ibp[b]["upper"] and len(bab(b)) == 0
                       for b in (1.0, 0.1))
          and len(bab(None)) == 1 and len(bab(0.01)) == 2 and bab(0.01) == ["not robust"] * 2
          and ibp[None]["unknown"] == 100 / n and ibp[0.01]["unknown"] == 200 / n}),
        ("stay undecided ({lo:.0f}–{hi:.0f} % of the first {n} for the clean-trained nets; "
         "{u:.0f} % for the uncapped PGD-trained net, whose truth lies in {a:.0f}–{b:.0f} %)",
         {"lo": min(clean_undecided), "hi": max(clean_undecided), "n": n,
          "u": uncapped["pgd"]["unknown"], "a": uncapped["pgd"]["lower"],
          "b": uncapped["pgd"]["upper"]}),
        ("IBP and CROWN certify {0:.1f} % of every capped net and at most {1:.1f} % (CROWN, "
         "uncapped + PGD) of the others",
         [max(capped), max(v["certified"] for v in uncapped.values())]),
        ("", {"holds": max(uncapped.values(), key=lambda v: v["certified"]) is uncapped["pgd"]
              and uncapped["pgd"]["crown"] == uncapped["pgd"]["certified"]}),
        ("the truth for the β = 0.01 nets lies below {0:.0f}–{1:.0f} %, where the paper's PGD says "
         "{2:.0f}–{3:.0f} %. The paper overstates their robustness by {4:.0f}–{5:.0f} points.",
         [min(v["worst_case"] for v in small), max(v["worst_case"] for v in small),
          min(small_paper), max(small_paper),
          min(p - v["worst_case"] for p, v in zip(small_paper, small)),
          max(p - v["worst_case"] for p, v in zip(small_paper, small))]),
        ("The uncapped IBP-trained net keeps {clean:.1f} % clean and {certified:.1f} % certified, "
         "and no attack gets it below {worst_case:.1f} %: the true robust accuracy is pinned "
         "inside {gap:.1f} points. Its PGD-10 number ({pgd:.1f} %) overstates it by "
         "{over_lo:.1f}–{over_hi:.1f} points.",
         {**ibp[None], "gap": ibp[None]["worst_case"] - ibp[None]["certified"],
          "over_lo": ibp[None]["pgd"] - ibp[None]["worst_case"],
          "over_hi": ibp[None]["pgd"] - ibp[None]["certified"]}),
        ("β = 1 certifies {0:.1f} % at {1:.1f} % clean, {2:.1f} points above the uncapped net, and "
         "it led on each of three seeds of the 60-epoch recipe too (by {3:.1f}, {4:.1f} and "
         "{5:.1f} points, at the same clean accuracy within {6:.1f};",
         [ibp[1.0]["certified"], ibp[1.0]["clean"], ibp[1.0]["certified"] - ibp[None]["certified"],
          *lead, max(abs(d) for d in lead_clean)]),
        ("", {"holds": min(lead) > 0}),
        ("HL2 hands the last layer boxes {0:.0f} % narrower than the uncapped net's (mean width "
         "{1:.3f} against {2:.3f}), although its boxes before the cap are as wide ({3:.2f} against "
         "{4:.2f}).",
         [100 * (1 - box[1.0]["post_width"][1] / box[None]["post_width"][1]),
          box[1.0]["post_width"][1], box[None]["post_width"][1], box[1.0]["pre_width"][1],
          box[None]["pre_width"][1]]),
        ("", {"holds": abs(box[1.0]["pre_width"][1] / box[None]["pre_width"][1] - 1) < 0.05}),
        ("The price: more of its HL2 units have a kink inside their box ({0:.1f} % against "
         "{1:.1f} %), where CROWN's relaxation is loose, and CROWN certifies less of it ({2:.1f} % "
         "against {3:.1f} %).",
         [box[1.0]["kinked"][1], box[None]["kinked"][1], ibp[1.0]["crown"], ibp[None]["crown"]]),
        ("their boxes are narrower still ({0:.3f} and {1:.3f}), but so is all that the layer can "
         "carry, inside [0, β].",
         [box[0.1]["post_width"][1], box[0.01]["post_width"][1]]),
        ("", {"holds": box[0.01]["post_width"][1] < box[0.1]["post_width"][1]
              < box[1.0]["post_width"][1]}),
        ("β = 0.1 and 0.01 lose {0:.0f} and {1:.0f} certified points and {2:.0f} clean points "
         "against the uncapped net",
         [ibp[None]["certified"] - ibp[b]["certified"] for b in (0.1, 0.01)]
         + [ibp[None]["clean"] - ibp[0.1]["clean"]]),
        ("", {"holds": round(ibp[None]["clean"] - ibp[0.1]["clean"])
              == round(ibp[None]["clean"] - ibp[0.01]["clean"])}),
        ("(a(u) - a(l)), over all units and inputs, and the share of units whose box holds a kink "
         "(z = 0, or z = β for a capped one)", {}),  # the definition of box_widths' "kinked"
        ("At β = 0.01 PGD-10 ({pgd:.1f} %) again runs {gap:.0f} points above the worst case, "
         "because the gradient is exactly zero for {zero_gradient_share:.0f} % of the inputs",
         {**ibp[0.01], "gap": ibp[0.01]["pgd"] - ibp[0.01]["worst_case"]}),
        ("CROWN certifies less than IBP ({crown:.1f} % against {ibp:.1f} % uncapped)",
         {**ibp[None], "holds": all(v["crown"] < v["ibp"] for v in ibp.values())}),
        ("(at eps 0.01, uncapped: {0:.1f} % certified, mostly by CROWN)",
         [early["best"][j]]),
        ("", {"holds": early["crown"][j] > early["ibp"][j]}),
        ("Trained against CROWN-IBP's bound at eps {e:g}, the four nets certify {c0:.1f}, "
         "{c1:.1f}, {c2:.1f} and {c3:.1f} % (uncapped, β = 1, 0.1, 0.01), {lo:.1f}–{hi:.1f} "
         "points more than their IBP-trained twins, at {clo:.1f}–{chi:.1f} points more clean "
         "accuracy (the uncapped net: {clean:.1f} % clean; α-CROWN certifies {alpha:.1f} % of it, "
         "and branch and bound, in the recipe table, {bab:.1f} %; the MILP on the inputs branch "
         "and bound leaves open closes the sandwich there: exactly {exact:.1f} % robust). β = 1 "
         "now certifies {d1:.1f} "
         "points less than the uncapped net instead of {g1:.1f} more; β = 0.1 and 0.01 still "
         "lose {d2:.1f} and {d3:.1f}. Branch and bound, then the MILP's decision form on what "
         "it leaves ({t:g} s per input), narrow their robust accuracy to [{lo2}, {hi2}] and "
         "[{lo3}, {hi3}] % ({u2} and {u3} % undecided): below the uncapped net's {exact:.1f} % "
         "even at the top of the interval.",
         {**{f"c{i}": cib[b]["certified"] for i, b in enumerate(paper.TABLE1_BETAS)},
          "e": paper.crown_ibp_recipe(120)["ibp_eps"],
          "lo": min(cib[b]["certified"] - ibp[b]["certified"] for b in paper.TABLE1_BETAS),
          "hi": max(cib[b]["certified"] - ibp[b]["certified"] for b in paper.TABLE1_BETAS),
          "clo": min(cib[b]["clean"] - ibp[b]["clean"] for b in paper.TABLE1_BETAS),
          "chi": max(cib[b]["clean"] - ibp[b]["clean"] for b in paper.TABLE1_BETAS),
          "clean": cib[None]["clean"], "alpha": alpha_cib,
          "bab": best_bab["certified_with_bab"], "exact": exact_best,
          "d1": cib[None]["certified"] - cib[1.0]["certified"],
          "g1": ibp[1.0]["certified"] - ibp[None]["certified"],
          "d2": cib[None]["certified"] - cib[0.1]["certified"],
          "d3": cib[None]["certified"] - cib[0.01]["certified"],
          # [certified with both, worst case less every counterexample] and undecided %, from
          # the script's own MILP row of each small cap's bab and milp records
          **{f"{k}{i}": cells[j] for i, cells in small_cap_milp.items()
             for k, j in (("lo", 5), ("hi", 6), ("u", 7))},
          "t": small_cap_seconds,
          # the chapter's CROWN-IBP nets are the recipe table's: the same shares by IBP and CROWN
          "holds": all(cib[b][k] == recipe_record("crown-ibp-only-120-eps0.125" + (
              f"-hl2@{b:g}" if b else ""))[k] for b in paper.TABLE1_BETAS for k in ("ibp", "crown"))
          and all(cib[b]["certified"] > ibp[b]["certified"] and cib[b]["clean"] > ibp[b]["clean"]
                  for b in paper.TABLE1_BETAS)
          and all(float(cells[6]) < exact_best for cells in small_cap_milp.values())}),
        ("On the uncapped CROWN-IBP-trained net IBP certifies {ibp:.1f} % and CROWN {crown:.1f} %",
         cib[None]),
        ("the box HL2 hands on is {0:.0f} times as wide as on the IBP-trained net (mean width "
         "{1:.3f} against {2:.3f}). A cap narrows it again: at β = 1 to {3:.3f}, and IBP certifies "
         "{4:.1f} %; at β = 0.1 and 0.01 IBP certifies more than CROWN ({5:.1f} and {6:.1f} % "
         "against {7:.1f} and {8:.1f} %).",
         [cbox[None]["post_width"][1] / box[None]["post_width"][1], cbox[None]["post_width"][1],
          box[None]["post_width"][1], cbox[1.0]["post_width"][1], cib[1.0]["ibp"],
          cib[0.1]["ibp"], cib[0.01]["ibp"], cib[0.1]["crown"], cib[0.01]["crown"]]),
        ("At β = 0.01 the gradient is exactly zero for {zero_gradient_share:.1f} % of the inputs, "
         "and PGD-10 ({pgd:.1f} %) runs {gap:.1f} points above the worst case "
         "({worst_case:.1f} %).",
         {**cib[0.01], "gap": cib[0.01]["pgd"] - cib[0.01]["worst_case"]}),
        *ch10_tighter_bounds(sandwich, ibp, t1),
    ]


def ch10_tighter_bounds(sandwich, ibp, t1):
    """The claims about alpha-CROWN (first 1000) and branch and bound (the MILP's inputs),
    counted here from the records (alpha_*, bab_*, milp_*, attacks_*), not from the table."""
    trained = ("ibp", "crown-ibp")  # the certified-trained nets
    nets = list(t1) + [(b, tr) for tr in trained for b in paper.TABLE1_BETAS]
    n = PAPER.milp_samples

    def counts(beta, training):
        tag = net_tag(beta, training, 0)
        cert = np.array(record(f"cert_{tag}")["certified_at_0.1"], bool)
        alpha = np.array(record(f"alpha_{tag}")["certified"], bool)
        survives = np.array(record(ensemble_record(beta, training, 0))["per_input"]["worst_case"],
                            bool)
        verdicts, milp = record(f"bab_{tag}")["verdicts"], record(f"milp_{tag}")
        # the MILP's open inputs, as the chapter's undecided_counts defines them
        milp_open = [m is None and milp["unknown"] > 0 for m in milp["margins"]]
        return {"milp_only": sum(v == "unknown" for v, o in zip(verdicts, milp_open) if not o),
                "alpha": 100 * alpha.mean(), "gap": len(verdicts),
                "open": 100 * (survives & ~(cert | alpha)).mean(),
                "robust": verdicts.count("robust"), "broken": verdicts.count("not robust"),
                "milp": milp["robust"] + milp["not_robust"],
                "first_robust": int(cert[:n].sum()), "first_survive": int(survives[:n].sum())}

    c = {k: counts(*k) for k in nets}
    pgd, capped = c[None, "pgd"], [k for k in nets if k[0] is not None]
    low = [k for k in nets if c[k]["open"] <= 10]
    high = [k for k in nets if c[k]["open"] > 10]
    certified_nets = [k for k in nets if k[1] in trained]
    clean_low = [k for k in low if k[1] == "clean"]
    rest_low = [k for k in low if k[1] not in (*trained, "clean")]
    cib = {b: counts(b, "crown-ibp") | sandwich(b, "crown-ibp") for b in paper.TABLE1_BETAS}
    return [
        ("It certifies {0:.1f} % of the uncapped PGD-trained net (CROWN: {1:.1f} %) and {2:.1f} % "
         "of the uncapped FGSM-trained one, and still {3:.1f} % of every capped Table 1 net.",
         [pgd["alpha"], t1[None, "pgd"]["crown"], c[None, "fgsm"]["alpha"],
          max(c[k]["alpha"] for k in t1 if k[0] is not None)]),
        ("it certifies less than IBP ({0:.1f} % against {1:.1f} %, uncapped)",
         [c[None, "ibp"]["alpha"], ibp[None]["ibp"]]),
        ("", {"holds": all(c[b, "ibp"]["alpha"] < ibp[b]["ibp"] for b in paper.TABLE1_BETAS)}),
        ("On the CROWN-IBP-trained nets it is the best single bound uncapped and at β = 1 ({0:.1f} "
         "% on both; CROWN: {1:.1f} and {2:.1f} %), and below IBP at β = 0.1 and 0.01.",
         [cib[None]["alpha"], cib[None]["crown"], cib[1.0]["crown"]]),
        ("", {"holds": cib[None]["alpha"] == cib[1.0]["alpha"]
              and all(cib[b]["alpha"] >= max(cib[b]["crown"], cib[b]["ibp"]) for b in (None, 1.0))
              and all(cib[b]["alpha"] < cib[b]["ibp"] for b in (0.1, 0.01))}),
        ("it decided {decided} of the {gap} that the bounds had left open (at most {budget} "
         "sub-problems each), where the MILP decided {milp}, all on CROWN-IBP-trained nets "
         "({only} of them, on the uncapped one, left open by branch and bound). It proved {robust} "
         "robust, {pgd_robust} of them on the uncapped PGD-trained net, whose truth on those {n} "
         "inputs now lies in {lower}–{upper} % instead of {before}–{upper} %. It found a "
         "counterexample for the other {broken}",
         {"decided": sum(v["robust"] + v["broken"] for v in c.values()),
          "gap": sum(v["gap"] for v in c.values()), "budget": PAPER.bab_domains,
          "milp": sum(v["milp"] for v in c.values()),
          "only": sum(v["milp_only"] for v in c.values()),
          "robust": sum(v["robust"] for v in c.values()), "pgd_robust": pgd["robust"], "n": n,
          "lower": pgd["first_robust"] + pgd["robust"],
          "upper": pgd["first_survive"] - pgd["broken"], "before": pgd["first_robust"],
          "broken": sum(v["broken"] for v in c.values())}),
        ("", {"holds": sum(c[k]["milp"] for k in nets if k[1] != "crown-ibp") == 0
              and sum(v["milp_only"] for v in c.values()) == c[None, "crown-ibp"]["milp_only"]
              and sandwich(None, "pgd")["lower"] == pgd["first_robust"]
              and sandwich(None, "pgd")["upper"] == pgd["first_survive"]}),
        ("and every one of them on a capped net (two on the IBP-trained net at β = 0.01, found on "
         "the first sub-problem)",
         {"holds": sum(c[k]["broken"] for k in capped) == sum(v["broken"] for v in c.values())
          and c[0.01, "ibp"]["broken"] == 2
          and record(f"bab_{net_tag(0.01, 'ibp', 0)}")["domains"] == [1, 1]}),
        ("On the CROWN-IBP-trained net at β = 1 it proved all {gap} inputs that the bounds left "
         "open robust: its truth on those {n} is exactly {lower:.0f} %.",
         {"gap": cib[1.0]["gap"], "n": n,
          "lower": 100 * (cib[1.0]["first_robust"] + cib[1.0]["robust"]) / n,
          "holds": cib[1.0]["robust"] == cib[1.0]["gap"]
          and cib[1.0]["first_robust"] + cib[1.0]["robust"] == cib[1.0]["first_survive"]}),
        ("since certified and worst case meet within {0:.1f} points on every IBP-trained net",
         [max(ibp[b]["worst_case"] - ibp[b]["certified"] for b in paper.TABLE1_BETAS)]),
        ("After IBP, CROWN and α-CROWN, {0} of the {1} nets have at most 10 % of the first {2} "
         "inputs undecided (the goal of issue #26): the eight IBP- and CROWN-IBP-trained nets "
         "({3:.1f}–{4:.1f} %), "
         "three clean-trained nets ({5:.1f}–{6:.1f} %) and β = 1 + PGD ({7:.1f} %). The other "
         "eight keep {8:.1f}–{9:.1f} % undecided",
         [len(low), len(nets), PAPER.cert_samples, min(c[k]["open"] for k in certified_nets),
          max(c[k]["open"] for k in certified_nets), min(c[k]["open"] for k in clean_low),
          max(c[k]["open"] for k in clean_low), c[1.0, "pgd"]["open"],
          min(c[k]["open"] for k in high), max(c[k]["open"] for k in high)]),
        ("", {"holds": set(certified_nets) <= set(low) and len(clean_low) == 3 and len(high) == 8
              and rest_low == [(1.0, "pgd")]
              and set(sorted(high, key=lambda k: c[k]["open"])[-2:])
              == {(None, "pgd"), (None, "fgsm")}}),
    ]


def ch11_drelu():
    d, r, s = paper.DRELU, paper.DRELU_READ_OFF, PAPER
    lams = s.drelu_lams
    steps_per_epoch = int(60000 * (100 - d["val_share"]) / 100) // d["batch"]
    return [
        ("(Sooksatra & Rivas, *Mathematics* 12(22), 3551, 2024)", {}),  # the citation
        ("a(z) = min(max(z, 0), max(m, 0)) with one trainable m per unit, starting at {init}, so "
         "every unit begins as a plain ReLU", d),
        ("on a grid from 1e-7 to {0:g}, and {1:g}", [max(lams), min(lams)]),
        ("", {"holds": min(v for v in lams if v) == 1e-7}),
        ("Adam (lr {lr:g}), batch {batch}, {val_share} % of the training images held out, early "
         "stopping on the validation loss (patience {patience}, best weights restored), the "
         "learning rate halved on a plateau (patience {lr_patience}, never below 1e-4)",
         {**d, "holds": (s.drelu_patience, max(s.drelu_patience // 2, 1), 1e-4) == (
             d["patience"], d["lr_patience"], d["min_lr"])}),
        ("evaluation on a fixed {test_share} % of the MNIST test set at eps 0.1: FGSM and PGD "
         "({pgd_steps} steps of eps/10, random start)", d),
        ("CW-L2 with {cw_iters} iterations and {cw_binary} binary steps where an example farther "
         "than L2 = {max_l2} counts as a failure", d),
        ("Its derivative with respect to its input z is 1 strictly between the kinks and 0 "
         "elsewhere (at z = 0 and at z = m we take the flat side, 0); with respect to the cap m "
         "it is 1 where the cap binds (z > m > 0) and 0 elsewhere", {}),
        ("A fresh D-ReLU net (caps at {init}).", d),
        ("no activation comes near {init}, so no cap binds", d),
        ("from {init}, the caps need about {init} / {lr:g} = {n:.0f} steps to come down, about "
         "{e:.0f} epochs of {spe} batches",
         {**d, "n": d["init"] / d["lr"], "spe": steps_per_epoch,
          "e": round(d["init"] / d["lr"] / steps_per_epoch, -1)}),
        ("on their {0}/{1} split", [100 - d["val_share"], d["val_share"]]),
        ("Their recipe takes about {0:.0f} epochs for the caps to come down",
         [round(d["init"] / d["lr"] / steps_per_epoch, -1)]),
        ("and at most {0} epochs. Seed {1} is also", [s.drelu_fast_epochs, s.drelu_seeds[0]]),
        ("PGD with {pgd_steps} steps of eps/10 from a random start in the eps-ball; APGD-CE and "
         "APGD-DLR on the logits, {pgd_steps} iterations, one run (AutoAttack's \"rand\" version "
         "averages {eot} gradients per step", d),
        ("CW-L2 with {cw_iters} iterations and {cw_binary} binary steps, counted as their code "
         "counts it", d),
        ("farther than L2 = {max_l2})", d),
        ("and transfer from the λ = 0 net of the same seed)", {}),
        ("clean accuracy about {clean} % at every λ; from λ = 0.1 up, FGSM, PGD, APGD-CE and "
         "APGD-DLR between about {lo} and {hi} %; CW-L2 about {cw} % at every λ; the mean cap "
         "about {cap:g} at λ = 0.1",
         {"clean": r["clean"], "lo": r["attacks_from_0.1"][0], "hi": r["attacks_from_0.1"][1],
          "cw": r["cw"], "cap": r["mean_cap_0.1"]}),
    ] + ch11_measured()


def ch11_measured():
    """The claims of chapter 11's 'What we measured' cell, from its records."""
    s = PAPER
    seeds, sd = s.drelu_seeds, s.drelu_seeds[0]

    def rec(kind, lam, seed=sd, theirs=False):
        return record(f"drelu_{kind}_lam{lam:g}_seed{seed}" + ("_theirs" if theirs else ""))

    def hist(lam, theirs=False):
        h = rec("history", lam, theirs=theirs)
        return {"stopped": h["stopped"], "best": h["best_epoch"],
                "cap": h["caps"][h["best_epoch"] - 1][1]}

    high = [lam for lam in s.drelu_lams if lam >= 0.1]
    low = [lam for lam in s.drelu_lams if lam <= 1e-5]
    theirs = {lam: [rec("theirs", lam, k) for k in seeds] for lam in s.drelu_lams}
    ens = {lam: [rec("ensemble", lam, k) for k in seeds] for lam in s.drelu_lams}
    cert = [rec("cert", lam, k)["either"] for lam in s.drelu_lams for k in seeds]
    attacks = [r[a] for lam in high for r in theirs[lam]
               for a in ("fgsm", "pgd", "apgd_ce", "apgd_dlr")]
    cw = [r["cw"] for lam in s.drelu_lams for r in theirs[lam]]
    found = [r["cw_found"] for lam in s.drelu_lams for r in theirs[lam]]
    clean = [r["clean"] for lam in s.drelu_lams for r in theirs[lam]]
    worst_high = [r["worst_case"] for lam in high for r in ens[lam]]
    bpda_high = [r["bpda"] for lam in high for r in ens[lam]]
    zero_high = [r["zero_gradient_share"] for lam in high for r in ens[lam]]
    zero_low = [r["zero_gradient_share"] for lam in low for r in ens[lam]]
    worst_low = [r["worst_case"] for lam in low for r in ens[lam]]
    f1, f0, f7 = hist(1, True), hist(0, True), hist(1e-7, True)
    fast01 = [rec("history", 0.1, k) for k in seeds]
    fast01_caps = [h["caps"][h["best_epoch"] - 1][1] for h in fast01]
    fixed = {b: record(f"drelu_ensemble_beta{b or 'none'}_seed{sd}") for b in
             paper.TABLE1_BETAS}
    learned = rec("ensemble", 0.1)
    t1, e1 = rec("theirs", 1, theirs=True), rec("ensemble", 1, theirs=True)
    return [
        ("With their exact recipe (seed {sd}), λ = 1 trained for {a} epochs (the weights of epoch "
         "{b} kept, mean HL2 cap {c:.4f}); at λ = 0 and 1e-7 early stopping ended training after "
         "{f} and {g} epochs, with the caps of λ = 1e-7 still at {h:.0f}, far above every "
         "activation.",
         {"sd": sd, "a": f1["stopped"], "b": f1["best"], "c": f1["cap"], "f": f0["stopped"],
          "g": f7["stopped"], "h": f7["cap"]}),
        ("With their own learning rate and at most {n} epochs, the caps of λ = 0.1 end at "
         "{lo:.3f}–{hi:.3f} over the three seeds (their figure: about {r:g})",
         {"n": s.drelu_fast_epochs, "lo": min(fast01_caps), "hi": max(fast01_caps),
          "r": paper.DRELU_READ_OFF["mean_cap_0.1"]}),
        ("from λ = 0.1 up their FGSM, PGD, APGD-CE and APGD-DLR keep {lo:.1f}–{hi:.1f} % of the "
         "inputs (their figure: about {rlo}–{rhi} %)",
         {"lo": min(attacks), "hi": max(attacks),
          "rlo": paper.DRELU_READ_OFF["attacks_from_0.1"][0],
          "rhi": paper.DRELU_READ_OFF["attacks_from_0.1"][1]}),
        ("clean accuracy stays at {lo:.1f}–{hi:.1f} %", {"lo": min(clean), "hi": max(clean)}),
        ("CW-L2 counted their way gives {lo:.1f}–{hi:.1f} % at every λ (their figure: about "
         "{r} %)", {"lo": min(cw), "hi": max(cw), "r": paper.DRELU_READ_OFF["cw"]}),
        ("finds a misclassified point for at most {0:.1f} % of the inputs", [max(found)]),
        ("which every one of these nets reads as a 5",
         {"holds": all(r["black_class"] == 5 for v in theirs.values() for r in v)}),
        ("keep {lo:.0f}–{hi:.0f} % in the worst case of chapter 9's ensemble",
         {"lo": min(worst_high), "hi": max(worst_high)}),
        ("BPDA alone leaves {lo:.0f}–{hi:.0f} %", {"lo": min(bpda_high), "hi": max(bpda_high)}),
        ("the input gradient is exactly zero for {lo:.0f}–{hi:.0f} % of the inputs",
         {"lo": min(zero_high), "hi": max(zero_high)}),
        ("IBP and CROWN certify {0:.1f} % of the inputs of every net", [max(cert)]),
        ("At λ ≤ 1e-5 nothing is masked (zero-gradient share {z:.0f} %) and the nets are as "
         "fragile as plain ReLU nets (worst case {lo:.0f}–{hi:.0f} %)",
         {"z": max(zero_low), "lo": min(worst_low), "hi": max(worst_low)}),
        ("D-ReLU at λ = 0.1 keeps {w:.0f} % in the worst case (zero gradient for {z:.0f} % of the "
         "inputs), the fixed β = 0.1 net {w1:.0f} % ({z1:.0f} %) and β = 0.01 {w2:.0f} % "
         "({z2:.0f} %); the uncapped net {w0:.0f} %.",
         {"w": learned["worst_case"], "z": learned["zero_gradient_share"],
          "w1": fixed[0.1]["worst_case"], "z1": fixed[0.1]["zero_gradient_share"],
          "w2": fixed[0.01]["worst_case"], "z2": fixed[0.01]["zero_gradient_share"],
          "w0": fixed[None]["worst_case"]}),
        ("λ = 1 trained their way keeps {p1:.1f} % under their PGD and {w1:.0f} % in the worst "
         "case, with the gradient exactly zero for {z1:.0f} % of the inputs (with the faster "
         "caps: {p2:.1f}, {w2:.0f} and {z2:.0f} %)",
         {"p1": t1["pgd"], "w1": e1["worst_case"], "z1": e1["zero_gradient_share"],
          "p2": rec("theirs", 1)["pgd"], "w2": rec("ensemble", 1)["worst_case"],
          "z2": rec("ensemble", 1)["zero_gradient_share"]}),
    ]


def ch11_drelu_cnn():
    d, s = paper.DRELU, PAPER
    (c1, k1, p1), (c2, k2, p2) = paper.DRELU_CNN_CONVS
    lams = s.drelu_cnn_lams
    return [
        ("two {k}×{k} convolutions of {c} channels with 'same' padding and plain ReLUs",
         {"k": k1, "c": c1, "holds": (c1, k1, p1 > 1) == (c2, k2, False)}),
        ("a {0}×{0} max-pool, a dense layer of {1} units with D-ReLU",
         [p2, *paper.DRELU_CNN_HIDDEN]),
        ("starting at {init}, the penalty", d),
        ("Adam, batch {batch}, {val_share} % of the training images held out", d),
        ("λ = {0:g}, {1:g}, {2:g} and {3:g}, on MNIST and on Fashion-MNIST", list(lams)),
        ("", {"holds": s.drelu_cnn_datasets == ("mnist", "fashion-mnist")}),
        ("We train every net for a fixed {e} epochs, with the caps' own learning rate at {r:.0f} "
         "times Adam's, so that a cap can fall by up to {c:g} per step",
         {"e": s.drelu_cnn_epochs, "r": s.drelu_cnn_cap_lr / d["lr"], "c": s.drelu_cnn_cap_lr}),
        ("on the first {n} of their {N} test images", {"n": s.drelu_cnn_samples,
                                                       "N": s.drelu_samples}),
        ("the sound protocol of chapter 11 on the first {0} test images",
         [s.drelu_cnn_sound_samples]),
        ("(one BPDA restart and {q} Square queries instead of {r0} and {q0})",
         {"q": s.drelu_cnn_square_queries, "r0": s.audit_restarts, "q0": s.audit_square_queries,
          "holds": s.drelu_cnn_restarts == 1}),
        ("the D-ReLU layer is activation site {0} (the two convolutions are sites {1} and {2})",
         [3, 1, 2]),
        ("", {"holds": [type(site.act).__name__ for site in nr.Network.conv_dense(
            paper.DRELU_CNN_CONVS, paper.DRELU_CNN_HIDDEN, nr.LearnedCap).sites] == [
            "CappedReLU", "CappedReLU", "LearnedCap"]}),
    ] + ch11_drelu_cnn_measured()


def ch11_drelu_cnn_measured():
    """The claims of chapter 11c's 'What we measured' cell, from its records."""
    s = PAPER
    lams = s.drelu_cnn_lams

    def rec(kind, ds, lam):
        return record(f"drelu_cnn_{kind}_{ds}_lam{lam:g}")

    mn, fa = "mnist", "fashion-mnist"
    first = [rec("history", ds, lam)["caps"][0][-1] for ds in (mn, fa) for lam in lams if lam]
    dense = [record(f"drelu_history_lam0.1_seed{k}") for k in PAPER.drelu_seeds]
    dense01 = [h["caps"][h["best_epoch"] - 1][1] for h in dense]  # chapter 11's HL2 caps
    h1m, h1f = rec("history", mn, 1), rec("history", fa, 1)
    t = {(ds, lam): rec("theirs", ds, lam) for ds in (mn, fa) for lam in lams}
    e = {(ds, lam): rec("ensemble", ds, lam) for ds in (mn, fa) for lam in lams}
    full = {lam: record(f"drelu_cnn_ensemble_full_mnist_lam{lam:g}") for lam in (0, 1)}
    cert = [rec("cert", ds, lam)["either"] for ds in (mn, fa) for lam in lams]
    return [
        ("After the first epoch the mean cap is {0:.2f} for every λ > 0 on both datasets",
         [first[0]]),
        ("", {"holds": max(first) - min(first) < 1e-3}),
        ("the caps of λ = 0.1 stand at {a:.3f} on MNIST (the dense net's ended at {lo:.3f}–"
         "{hi:.3f}) and those of λ = 1 at {b:.3f}, down from {c:.2f} an epoch earlier",
         {"a": rec("history", mn, 0.1)["caps"][-1][-1], "lo": min(dense01), "hi": max(dense01),
          "b": h1m["caps"][-1][-1], "c": h1m["caps"][-2][-1]}),
        ("(λ = 1: from {a:.2f} to {b:.2f} % on MNIST, from {c:.2f} to {d:.2f} % on Fashion-MNIST)",
         {"a": 100 * h1m["val_acc"][-2], "b": 100 * h1m["val_acc"][-1],
          "c": 100 * h1f["val_acc"][-2], "d": 100 * h1f["val_acc"][-1]}),
        ("On MNIST their PGD-100 keeps {a:.0f} % of the images at λ = 0 and {b:.0f} % at λ = 1, "
         "APGD-CE {c:.0f} % and {d:.0f} %; on Fashion-MNIST PGD-100 rises from {f:.0f} % to "
         "{g:.0f} %",
         {"a": t[mn, 0]["pgd"], "b": t[mn, 1]["pgd"], "c": t[mn, 0]["apgd_ce"],
          "d": t[mn, 1]["apgd_ce"], "f": t[fa, 0]["pgd"], "g": t[fa, 1]["pgd"]}),
        ("Their CW count is {0:.0f} % at every λ on MNIST (every net reads the black image as a "
         "{1})", [t[mn, 0]["cw"], t[mn, 0]["black_class"]]),
        ("", {"holds": len({(t[mn, lam]["cw"], t[mn, lam]["black_class"]) for lam in lams}) == 1}),
        ("and {lo:.0f}–{hi:.0f} % on Fashion-MNIST, where CW with 10 iterations moves at most "
         "{f:.0f} % of the inputs",
         {"lo": min(t[fa, lam]["cw"] for lam in lams), "hi": max(t[fa, lam]["cw"] for lam in lams),
          "f": max(t[fa, lam]["cw_found"] for lam in lams)}),
        ("", {"holds": paper.DRELU["cw_iters"] == 10}),
        ("On Fashion-MNIST the worst case of chapter 9's ensemble is {lo:.0f}–{hi:.0f} % at every "
         "λ", {"lo": min(e[fa, lam]["worst_case"] for lam in lams),
               "hi": max(e[fa, lam]["worst_case"] for lam in lams)}),
        ("the input gradient is exactly zero for up to {0:.0f} % of the inputs",
         [max(e[fa, lam]["zero_gradient_share"] for lam in lams)]),
        ("(BPDA) alone leaves {0:.0f} % at λ = 1", [e[fa, 1]["bpda"]]),
        ("On MNIST the uncapped CNN keeps {a:.0f} % in the worst case and the net at λ = 1 keeps "
         "{b:.0f} % with the lighter ensemble, {c:.0f} % with the full one (four BPDA restarts, "
         "{q} Square queries)",
         {"a": e[mn, 0]["worst_case"], "b": e[mn, 1]["worst_case"], "c": full[1]["worst_case"],
          "q": s.audit_square_queries,
          "holds": s.audit_restarts == 4 and full[0]["worst_case"] == e[mn, 0]["worst_case"]}),
        ("", {"holds": full[1]["bpda"] == full[1]["worst_case"]}),  # BPDA does it
        ("while their PGD still reports {0:.0f} %", [t[mn, 1]["pgd"]]),
        ("IBP and CROWN certify {0:.1f} % of the inputs of every net", [max(cert)]),
        ("lies anywhere between {0:.0f} and {1:.0f} % of these {2} inputs",
         [max(cert), full[1]["worst_case"], s.drelu_cnn_sound_samples]),
        ("at λ = 1 their PGD is {a:.0f} points above the worst case on MNIST and {b:.0f} on "
         "Fashion-MNIST (their first {n} images against the first {m} test images)",
         {"a": t[mn, 1]["pgd"] - full[1]["worst_case"],
          "b": t[fa, 1]["pgd"] - e[fa, 1]["worst_case"],
          "n": s.drelu_cnn_samples, "m": s.drelu_cnn_sound_samples}),
        ("clean about {clean} %; PGD about {p0} % at λ = 0 and about {p3} % at λ = 0.001; from "
         "λ = 0.1 up every attack about {high} %; CW-L2 about {cw} % at every λ",
         {**paper.DRELU_CNN_READ_OFF, "p0": paper.DRELU_CNN_READ_OFF["pgd_lam0"],
          "p3": paper.DRELU_CNN_READ_OFF["pgd_lam1e-3"],
          "high": paper.DRELU_CNN_READ_OFF["attacks_from_0.1"]}),
        ("mean caps about {0:g}, {1:g} and {2:g} at λ = 0.001, 0.1 and 1",
         list(paper.DRELU_CNN_READ_OFF["mean_cap"].values())),
        ("Ours agree at λ = 0 (PGD {0:.0f} %, CW {1:.0f} %)", [t[mn, 0]["pgd"], t[mn, 0]["cw"]]),
        ("after {e} epochs our caps are about five times larger ({a:.3f}, {b:.3f}, {c:.3f}) and "
         "our PGD keeps {p:.0f}, {q:.0f} and {r:.0f} %",
         {"e": s.drelu_cnn_epochs, "a": t[mn, 1e-3]["mean_m"], "b": t[mn, 0.1]["mean_m"],
          "c": t[mn, 1]["mean_m"], "p": t[mn, 1e-3]["pgd"], "q": t[mn, 0.1]["pgd"],
          "r": t[mn, 1]["pgd"],
          "holds": all(3 < t[mn, lam]["mean_m"] / ref < 8
                       for lam, ref in paper.DRELU_CNN_READ_OFF["mean_cap"].items())}),
        ("({a:.0f} % against {b:.0f} % for the uncapped CNN, on {n} inputs)",
         {"a": full[1]["worst_case"], "b": full[0]["worst_case"], "n": s.drelu_cnn_sound_samples}),
    ]


def ch12_conclusion():
    """Chapter 12's settings as its prose states them (its measured claims come with its full
    run)."""
    (c1, k1, p1), (c2, k2, p2) = paper.CNN_CONVS
    cnn = nr.Network.cnn()
    kinds = [layer.kind for layer in cnn.layers]
    return [
        ("two {k}×{k} convolutions of {c1} and {c2} channels, each with a {p}×{p} max-pool, a "
         "dense layer of {h}, the logits",
         {"k": k1, "c1": c1, "c2": c2, "p": p1, "h": paper.CNN_HIDDEN[0],
          "holds": (k1, p1) == (k2, p2) and kinds == ["conv2d", "maxpool2d", "conv2d",
                                                      "maxpool2d", "flatten", "dense", "dense"]
          and [cnn.layers[i].c_out for i in (0, 2)] == [c1, c2] and cnn.layers[0].k == k1
          and cnn.layers[1].k == p1 and cnn.layers[5].n_out == paper.CNN_HIDDEN[0]}),
        ("caps β ∈ {{{0}}}", [", ".join(f"{b:g}" for b in PAPER.ch3_betas)]),
        ("fewer steps than the paper's {steps} × {binary_steps}", paper.CW_PAPER),
    ] + (ch12_trainability_measured() + ch12_table_measured() + ch12_added_measured()
         + ch12_datasets_measured())


def ch12_trainability_measured():
    """The claims of chapter 12's trainability cell, from its records."""
    s = PAPER
    datasets = {"MNIST": "mnist", "Fashion-MNIST": "fashion-mnist"}

    def rec(arch, ds, place, beta):
        b = "none" if beta is None else f"{beta:g}"
        return record(f"ch12_train_{arch}_{ds}_{place}_b{b}")

    def cost(arch, ds, place):
        return rec(arch, ds, "none", None)["clean"] - rec(arch, ds, place, 0.01)["clean"]

    places = {"cnn": ("conv1", "conv2", "dense", "all"), "mlp": ("HL1", "HL2", "HL3", "HL123")}
    rows = [(f"| {arch.upper()}, {name} | {{0:.2f}} % | {{1:.2f}} | {{2:.2f}} | {{3:.2f}} | "
             "{4:.2f} |", [rec(arch, ds, "none", None)["clean"]]
             + [cost(arch, ds, p) for p in places[arch]])
            for name, ds in datasets.items() for arch in ("cnn", "mlp")]
    conv = {ds: max(cost("cnn", ds, p) for p in ("conv1", "conv2")) for ds in datasets.values()}
    mlp = [cost("mlp", ds, p) for ds in datasets.values() for p in ("HL1", "HL2", "HL3")]
    live = [rec("cnn", ds, "conv1", 0.01)["live"][0] for ds in datasets.values()]
    return [
        ("(full settings: {e} epochs on all {n} training images",
         {"e": s.ch12_epochs, "n": s.ch12_n_train, "holds": s.ch12_n_train == 60000}),
        ("The cost of a cap of {0:g}, in points", [min(s.ch3_betas)]),
        *rows,
        ("costs the CNN at most {c_mn:.2f} points on MNIST and {c_fa:.2f} on Fashion-MNIST, where "
         "the same cap in any hidden layer of the MLP costs {lo:.2f} to {hi:.2f} points",
         {"c_mn": conv["mnist"], "c_fa": conv["fashion-mnist"], "lo": min(mlp), "hi": max(mlp),
          "holds": max(conv.values()) < min(mlp)}),
        ("dense layer capped at {b:g} loses {fa:.2f} points on Fashion-MNIST, as much as the "
         "MLP's hidden layers; on MNIST it loses {mn:.2f}",
         {"b": 0.01, "fa": cost("cnn", "fashion-mnist", "dense"),
          "mn": cost("cnn", "mnist", "dense"),
          "holds": cost("cnn", "fashion-mnist", "dense") >= cost("mlp", "fashion-mnist", "HL1")}),
        ("{0:.1f} % of conv1's units sit strictly between 0 and the cap on MNIST ({1:.1f} % on",
         live),
    ]


def ch12_cnn_record(kind: str, beta, training) -> dict:
    """One record of a net of chapter 12's CNN Table 1 (MNIST, caps in conv1, seed 0)."""
    return record(f"ch12_{kind}_cnn_mnist_conv1_{net_tag(beta, training, 0)}")


def ch12_table_measured():
    """The claims of chapter 12's CNN Table 1 (MNIST, caps in conv1, seed 0)."""
    s = PAPER

    def cell(beta, training, kind, key):
        return ch12_cnn_record(kind, beta, training)[key]

    twelve = [(b, t) for t in paper.TABLE1_TRAINING for b in paper.TABLE1_BETAS]
    allnets = twelve + [(None, "ibp"), (1.0, "ibp")]
    pgd12 = {k: cell(*k, "linf", "pgd") for k in twelve}
    worst12 = {k: cell(*k, "ensemble", "worst_case") for k in twelve}
    return [
        ("the worst case and the certificates on the first {0} test inputs, so one input is "
         "{1:.0f} points", [s.ch12_samples, 100 / s.ch12_samples]),
        ("β = {b:g} in conv1 gives the best PGD-10 accuracy of the four PGD-trained nets, {a:.2f} "
         "% (uncapped {u:.2f} %), and the lowest worst case of the table: {w:.0f} % of the {n} "
         "inputs survive the ensemble, against {wu:.0f} % for the uncapped net",
         {"b": 0.01, "a": pgd12[0.01, "pgd"], "u": pgd12[None, "pgd"],
          "w": worst12[0.01, "pgd"], "n": s.ch12_samples, "wu": worst12[None, "pgd"],
          "holds": max((k for k in twelve if k[1] == "pgd"), key=pgd12.get) == (0.01, "pgd")
          and worst12[0.01, "pgd"] == min(worst12.values())}),
        ("uses no gradient, alone brings it to {0:.0f} %", [cell(0.01, "pgd", "ensemble",
                                                               "square")]),
        ("β = {b:g} lifts PGD-10 from {u:.2f} % to {a:.2f} % while the worst case falls from "
         "{wu:.0f} % to {w:.0f} %",
         {"b": 0.01, "u": pgd12[None, None], "a": pgd12[0.01, None], "wu": worst12[None, None],
          "w": worst12[0.01, None]}),
        ("(the zero-gradient column is {z} everywhere)",
         {"z": 0, "holds": all(cell(*k, "linf", "zero_gradient") == 0 for k in allnets)}),
        ("β = 1 and β = 0.1 keep {a:.0f} % in the worst case, the uncapped net {u:.0f} %: one "
         "input apart, within the noise of {n} inputs",
         {"a": worst12[1.0, "pgd"], "u": worst12[None, "pgd"], "n": s.ch12_samples,
          "holds": worst12[1.0, "pgd"] == worst12[0.1, "pgd"]
          and abs(worst12[1.0, "pgd"] - worst12[None, "pgd"]) == 100 / s.ch12_samples}),
        ("gives the β = {b:g} nets {c:.0f} % (clean training) and {a:.0f} % (FGSM and PGD "
         "training)", {"b": 0.01, "c": cell(0.01, None, "cw", "cw"),
                       "a": cell(0.01, "fgsm", "cw", "cw"),
                       "holds": cell(0.01, "fgsm", "cw", "cw") == cell(0.01, "pgd", "cw", "cw")}),
        ("black image's class: {c:.0f} % and {a:.0f} %",
         {"c": cell(0.01, None, "cw", "cw_foolbox"), "a": cell(0.01, "fgsm", "cw", "cw_foolbox"),
          "holds": cell(0.01, "fgsm", "cw", "cw_foolbox")
          == cell(0.01, "pgd", "cw", "cw_foolbox")}),
        ("No net of the twelve has a single input certified at eps 0.1",
         {"holds": all(cell(*k, "cert", "either") == 0 for k in twelve)}),
        ("The two IBP-trained CNNs ({e} epochs) certify {c0:.0f} % (uncapped) and {c1:.0f} % "
         "(β = 1 in conv1), at {a0:.2f} % and {a1:.2f} % clean accuracy; their worst case is "
         "{w:.0f} % for both",
         {"e": s.ch12_ibp_epochs, "c0": cell(None, "ibp", "cert", "either"),
          "c1": cell(1.0, "ibp", "cert", "either"), "a0": cell(None, "ibp", "linf", "clean"),
          "a1": cell(1.0, "ibp", "linf", "clean"), "w": cell(None, "ibp", "ensemble", "worst_case"),
          "holds": cell(None, "ibp", "ensemble", "worst_case")
          == cell(1.0, "ibp", "ensemble", "worst_case")
          == cell(1.0, "ibp", "cert", "either")
          == cell(None, "ibp", "cert", "either") + 100 / s.ch12_samples}),
    ]


def ch12_added_measured():
    """The claims of chapter 12's capped layer added to a trained MLP and CNN (MNIST, seed 0)."""
    s = PAPER

    def c(arch, where, beta, kind, key):
        if arch == "cnn" and beta is None:  # the CNN without the layer is the table's first row
            return ch12_cnn_record(kind, None, None)[key]
        b = "none" if beta is None else f"{beta:g}"
        return record(f"ch12_{kind}_added_{arch}_mnist_{where}_b{b}")[key]

    added = [(a, w, b) for a in ("mlp", "cnn") for w in ("input", "output")
             for b in s.ch12_added_betas]
    certified = {k: c(*k, "cert", "either") for k in added}
    table = [ch12_cnn_record("cert", b, t)["either"]
             for t in paper.TABLE1_TRAINING for b in paper.TABLE1_BETAS]
    worst = {k: c(*k, "ensemble", "worst_case") for k in added
             + [("mlp", "none", None), ("cnn", "none", None)]}
    return [
        ("certificates on the first {n} test inputs). At the input side a cap of β = {b:g} "
         "changes nothing", {"n": s.ch12_samples, "b": max(s.ch12_added_betas)}),
        ("At β = {b:g} it lifts PGD-10 from {m0:.2f} % to {m1:.2f} % on the MLP and from "
         "{c0:.2f} % to {c1:.2f} % on the CNN, with {zm:.1f} % and {zc:.1f} % of the inputs at an "
         "exactly zero gradient; the worst case moves from {wm0:.0f} % to {wm1:.0f} % and from "
         "{wc0:.0f} % to {wc1:.0f} %, no further than the control's {km:.0f} % and {kc:.0f} %",
         {"b": 0.01, "m0": c("mlp", "none", None, "linf", "pgd"),
          "m1": c("mlp", "output", 0.01, "linf", "pgd"),
          "c0": c("cnn", "none", None, "linf", "pgd"),
          "c1": c("cnn", "output", 0.01, "linf", "pgd"),
          "zm": c("mlp", "output", 0.01, "linf", "zero_gradient"),
          "zc": c("cnn", "output", 0.01, "linf", "zero_gradient"),
          "wm0": worst["mlp", "none", None], "wm1": worst["mlp", "output", 0.01],
          "wc0": worst["cnn", "none", None], "wc1": worst["cnn", "output", 0.01],
          "km": worst["mlp", "input", 1.0], "kc": worst["cnn", "input", 1.0],
          "holds": worst["mlp", "output", 0.01] <= worst["mlp", "input", 1.0]
          and worst["cnn", "output", 0.01] <= worst["cnn", "input", 1.0]}),
        ("β = 0.1 and β = 0.01 leave {w:.0f} % in the worst case",
         {"w": 0, "holds": worst["mlp", "input", 0.1] == worst["mlp", "input", 0.01] == 0}),
        ("all {n} inputs survive the ensemble, and CROWN certifies {c:.0f} % of them, the only "
         "certificate in this chapter outside the IBP-trained nets",
         {"n": s.ch12_samples, "c": certified["cnn", "input", 0.1],
          "holds": worst["cnn", "input", 0.1] == 100
          and c("cnn", "input", 0.1, "cert", "crown") == certified["cnn", "input", 0.1] > 0
          and all(v == 0 for k, v in certified.items() if k != ("cnn", "input", 0.1))
          and not any(table)}),
        ("Before the worst case's {0:.0f} % is believed", [worst["cnn", "input", 0.1]]),
        ("β = {b:g} at the same place leaves {w:.0f} %",
         {"b": 0.01, "w": worst["cnn", "input", 0.01]}),
    ]


def ch12_datasets_measured():
    """The claims of chapter 12's side-by-side of the two three-seed runs of Table 1."""
    folders = {"mnist": SEED_RECORDS, "fashion-mnist": FASHION_RECORDS}

    def mean(ds, kind, beta, adv, key, seeds=(0, 1, 2)):
        name = (f"table1_{net_tag(beta, adv, 0)}" if kind == "linf"
                else ensemble_record(beta, adv, 0))[: -len("_seed0")]
        return float(np.mean([r[key] for r in seed_records(name, seeds, folders[ds])]))

    def worst(ds, beta, adv):  # MNIST audited all three seeds of the beta = 0.01 nets only
        seeds = (0, 1, 2) if ds == "fashion-mnist" or beta == 0.01 else (0,)
        return mean(ds, "ens", beta, adv, "worst_case", seeds)

    pgd = {(ds, b): mean(ds, "linf", b, "pgd", "pgd") for ds in folders for b in (None, 0.01)}
    wc = {(ds, b): worst(ds, b, "pgd") for ds in folders for b in (None, 0.01)}
    cost = {ds: mean(ds, "linf", None, None, "clean") - mean(ds, "linf", 0.01, None, "clean")
            for ds in folders}
    mn_audited = {b: len(list(SEED_RECORDS.glob(f"{ensemble_record(b, adv, 0)[:-1]}*.json")))
                  for b in paper.TABLE1_BETAS for adv in paper.TABLE1_TRAINING}
    return [
        ("on MNIST the ensemble audited all three seeds of the β = {b:g} nets and seed {s} of the "
         "others", {"b": 0.01, "s": 0, "holds": all(n == (3 if b == 0.01 else 1)
                                                for b, n in mn_audited.items())}),
        ("β = {b:g} wins PGD-10 on both datasets, {a:.2f} % against the uncapped net's {u:.2f} % "
         "on MNIST and {fa:.2f} % against {fu:.2f} % on Fashion-MNIST",
         {"b": 0.01, "a": pgd["mnist", 0.01], "u": pgd["mnist", None],
          "fa": pgd["fashion-mnist", 0.01], "fu": pgd["fashion-mnist", None]}),
        ("{0:.1f} % against {1:.1f} % on MNIST, {2:.1f} % against {3:.1f} % on Fashion-MNIST",
         [wc["mnist", 0.01], wc["mnist", None], wc["fashion-mnist", 0.01],
          wc["fashion-mnist", None]]),
        ("β = {b:g} loses {mn:.2f} points of clean accuracy on MNIST and {fa:.2f} on "
         "Fashion-MNIST", {"b": 0.01, "mn": cost["mnist"], "fa": cost["fashion-mnist"]}),
        ("standard training {0:g} % clean and {1:g} % robust, ours {2:.2f} % clean and {3:.1f} % "
         "worst case; PGD training {4:g} % clean and at most {5:g} % robust, ours {6:.2f} % and "
         "{7:.1f} %",
         [*paper.FASHION_PUBLISHED["standard training"],
          mean("fashion-mnist", "linf", None, None, "clean"), worst("fashion-mnist", None, None),
          *paper.FASHION_PUBLISHED["PGD training"],
          mean("fashion-mnist", "linf", None, "pgd", "clean"), wc["fashion-mnist", None]]),
        ("only fine-tuned with PGD for {0} epochs after {1} clean ones",
         [PAPER.adv_epochs, PAPER.epochs]),
    ]


CLAIMS = {"ch3": ch3_enlarged_perturbations, "ch3s": ch3_scaled_sigmoid, "ch4": ch4_layer_size,
          "ch5": ch5_layer_order, "ch6": ch6_zero_gradients, "ch7": ch7_sensitivity,
          "ch8": ch8_adversarial_training, "ch9": ch9_audit, "ch10": ch10_certified,
          "ch11": ch11_drelu, "ch11c": ch11_drelu_cnn, "ch12": ch12_conclusion}


def source(key: str) -> str:
    """A chapter's text, code and prose (for the claims about a choice made in its code)."""
    return chapter_path(key).read_text()


@pytest.mark.parametrize("key", sorted(CLAIMS))
def test_every_claim_of_the_prose_matches_its_record(key):
    claims = CLAIMS[key]()
    text = markdown(chapter_path(key))
    missing = missing_claims(text, claims)
    assert not missing, (f"{key}: the prose does not say what the records say; expected, word "
                         "for word:\n  " + "\n  ".join(missing))
    wrong = [t for t, v in claims if isinstance(v, dict) and not v.get("holds", True)]
    assert not wrong, f"{key}: these statements no longer hold on the records:\n  " + "\n  ".join(
        wrong)


@pytest.mark.parametrize("key", sorted(CLAIMS))
def test_every_number_of_the_prose_is_a_claim_or_a_label(key):
    unchecked = unchecked_numbers(markdown(chapter_path(key)), CLAIMS[key]())
    assert not unchecked, (f"{key}: numbers in the prose that no claim checks (add a claim in "
                           "tests/test_prose_numbers.py):\n  " + "\n  ".join(unchecked))


def test_every_chapter_has_its_claims():
    assert set(CLAIMS) == set(CHAPTERS)


def test_a_number_that_drifts_from_its_record_fails_its_claim():
    """The negative control: chapter 7's prose with one number changed (as if a rerun had
    moved the record and nobody had edited the sentence) no longer passes its claims."""
    text = markdown(chapter_path("ch7"))
    claims = CLAIMS["ch7"]()
    assert not missing_claims(text, claims)
    drifted = text.replace("from 48.2 to 61.4 and 134.6", "from 48.2 to 61.5 and 134.6")
    assert drifted != text
    assert missing_claims(drifted, claims) == ["but the *mean* rises, from 48.2 to 61.4 and 134.6."]


def test_a_number_without_a_claim_is_reported_and_labels_are_not():
    text = ("In Fig. 2 (Sec. 3.1) the net capped at HL2 with β = 0.01 keeps 32.4 % of the "
            "images, and the control 75.7 %.")
    claims = [("keeps {adv:.1f} % of the images", {"adv": 32.42})]
    assert not missing_claims(text, claims)
    unchecked = unchecked_numbers(text, claims)
    assert len(unchecked) == 1 and unchecked[0].startswith("'75.7'")


RECIPE_COLUMNS = ("clean", "ibp", "crown", "alpha_crown", "certified", "worst_case")


def recipe_names() -> set:
    """The names of the recipes with a record (results/recipes/records/recipe_NAME.json)."""
    return {p.stem.removeprefix("recipe_") for p in RECIPE_RECORDS.glob("recipe_*.json")}


def table_rows(text: str, names: set, second_column: str) -> dict:
    """{name: [its cells after the first, per row]} from every Markdown table of `text` whose
    header's second cell starts with `second_column`, for the rows whose first cell starts with
    one of `names` ('ibp-60 (...)', 'ibp-120, uncapped'); bold marks dropped, '–' kept."""
    rows, header, previous = {}, None, ""
    for line in text.splitlines():
        cells = [c.strip().replace("**", "") for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and not previous.startswith("|"):
            header = cells
        previous = line
        first = cells[0].split(" ")[0].rstrip(",") if cells else ""
        if (line.startswith("|") and first in names and header is not None and len(header) > 1
                and header[1].startswith(second_column)):
            rows.setdefault(first, []).append(cells[1:])
    return rows


def recipe_rows(text: str, names: set) -> dict:
    """{recipe name: its six numbers as written} from the recipe tables (second column
    'clean') of `text`."""
    return {name: [cells[:6] for cells in found if len(cells) >= 6]
            for name, found in table_rows(text, names, "clean").items()}


def test_the_recipe_tables_of_benchmarks_results_match_their_records():
    """benchmarks/RESULTS.md's recipe tables are written by hand from the recipe script's
    output: each row's clean / IBP / CROWN / alpha-CROWN / certified / worst case must be its
    record's numbers to one decimal ('–' where the record has none), every recipe row, and the
    negative control (a number moved by 0.1) must fail."""
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    names = recipe_names()
    rows = recipe_rows(text, names)

    def wrong(rows):
        bad = []
        for name, written in rows.items():
            numbers = recipe_record(name)
            want = ["–" if numbers[c] is None else f"{numbers[c]:.1f}" for c in RECIPE_COLUMNS]
            bad += [f"{name}: {w} (record: {want})" for w in written
                    if [c.split(" ")[0] for c in w] != want]
        return bad

    unseeded = {n for n in names if "-seed" not in n}
    assert unseeded <= set(rows), f"recipes without a row: {sorted(unseeded - set(rows))}"
    assert not wrong(rows), "\n".join(wrong(rows))
    # the seeds table: seed | uncapped clean, certified, worst case | beta = 1 the same | lead
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| seed | uncapped: clean"))
    for line, seed in zip(lines[head + 2:head + 5], (0, 1, 2)):
        tail = "" if seed == 0 else f"-seed{seed}"
        u, c = recipe_record(f"ibp-60{tail}"), recipe_record(f"ibp-60-hl2@1{tail}")
        want = [str(seed), *(f"{r[k]:.1f}" for r in (u, c)
                             for k in ("clean", "certified", "worst_case")),
                f"{c['certified'] - u['certified']:+.1f}"]
        assert [x.strip() for x in line.strip().strip("|").split("|")] == want, (line, want)
    moved = text.replace("| ibp-120 (120 epochs) | 96.4 | 86.2 |",
                         "| ibp-120 (120 epochs) | 96.4 | 86.3 |")
    assert moved != text and wrong(recipe_rows(moved, names))


def rows_of_every_record(prefix: str, second_column: str) -> tuple[set, dict]:
    """The names of the recipe script's records PREFIXNAME (results/recipes/records) and their
    rows in benchmarks/RESULTS.md's tables whose second column starts with `second_column`;
    there must be such records, and a row for each."""
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    names = {p.stem.removeprefix(prefix) for p in RECIPE_RECORDS.glob(f"{prefix}*.json")}
    assert names, f"no {prefix} record under results/recipes/records"
    rows = table_rows(text, names, second_column)
    assert names <= set(rows), f"{prefix} records without a row: {sorted(names - set(rows))}"
    return names, rows


def test_the_branch_and_bound_table_of_benchmarks_results_matches_its_records():
    """Every record bab_NAME of the recipe script has a row in RESULTS.md's branch-and-bound
    table (second column 'certified') equal to it cell for cell (its rows start with recipe
    names too: that the recipe-table test passes shows the header keeps them apart); a verdict
    moved from robust to unknown fails."""
    names, rows = rows_of_every_record("bab_", "certified")
    for name in sorted(names):
        numbers = bab_record(name)
        n = bab_inputs(name)
        bab_row = load_recipes().bab_cells  # the script's own row format
        want = bab_row(numbers, n)
        for row in rows[name]:
            assert [c.split(" ")[0] for c in row[:9]] == want, (name, row, want)
        robust = numbers["verdicts"].count("robust")
        moved = dict(numbers, verdicts=["unknown" if v == "robust" else v
                                        for v in numbers["verdicts"]])
        assert robust == 0 or bab_row(moved, n) != want


def test_the_milp_table_of_benchmarks_results_matches_its_records():
    """Every record milp_NAME of the recipe script has a row in RESULTS.md's MILP table (second
    column 'branch and bound: certified') equal to it cell for cell, computed from it and
    its branch-and-bound record bab_NAME by the script's own row format; a verdict moved from
    robust to unknown fails."""
    names, rows = rows_of_every_record("milp_", "branch and bound: certified")
    milp_row = load_recipes().milp_cells
    for name in sorted(names):
        bab, milp = bab_record(name), milp_record(name)
        n = bab_inputs(name)
        # the MILP took exactly the inputs branch and bound left unknown
        assert milp["indices"] == [i for i, v in zip(bab["gap"], bab["verdicts"])
                                   if v == "unknown"], name
        want = milp_row(bab, milp, n)
        for row in rows[name]:
            assert [c.split(" ")[0] for c in row[:8]] == want, (name, row, want)
        moved = dict(milp, verdicts=["unknown" if v == "robust" else v
                                     for v in milp["verdicts"]])
        assert "robust" not in milp["verdicts"] or milp_row(bab, moved, n) != want


def test_the_ibp_table_of_benchmarks_results_matches_its_records():
    """Every record ibp_NAME of the recipe script (IBP alone on the whole test set) has a row in
    RESULTS.md's table whose second column is 'IBP-certified, first 100', equal to it cell for
    cell; a share moved by 0.1 fails."""
    names, rows = rows_of_every_record("ibp_", "IBP-certified, first 100")
    cells = load_recipes().ibp_cells
    for name in sorted(names):
        record = ibp_record(name)
        assert record["first"] == [100, 1000, 10000], name  # the columns the table names
        for row in rows[name]:
            assert [c.split(" ")[0] for c in row[:3]] == cells(record), (name, row)
        moved = dict(record, ibp=[record["ibp"][0] + 0.1, *record["ibp"][1:]])
        assert cells(moved) != cells(record)


def test_the_ibp_sandwich_table_of_benchmarks_results_matches_its_records():
    """Every record ibpsandwich_NAME of the recipe script (IBP alone against the attack
    ensemble on the first n) has a row in RESULTS.md's table whose second column starts 'IBP
    alone: certified', equal to the script's own row of it; its IBP share on the first 1000
    is its ibp_NAME record's; a worst case moved by 0.1 fails."""
    names, rows = rows_of_every_record("ibpsandwich_", "IBP alone: certified")
    cells = load_recipes().ibp_sandwich_cells
    for name in sorted(names):
        record = ibpsandwich_record(name)
        n = record_inputs(f"ibpsandwich_{name}")
        shares = ibp_record(name)
        if n in shares["first"]:  # the same inputs, certified by the same bound
            assert record["ibp"] == shares["ibp"][shares["first"].index(n)], name
        assert record["ibp"] <= record["worst_case"], name
        for row in rows[name]:
            assert [c.split(" ")[0] for c in row[:4]] == cells(record), (name, row)
        assert cells(dict(record, worst_case=record["worst_case"] + 0.1)) != cells(record)
    # the medium CNN's bullets: its attacks one by one, and the masking flag they raise
    attacks = ibpsandwich_record("cnn-medium-gowal36-eps0.2")["attacks"]
    flat = " ".join((ROOT / "benchmarks" / "RESULTS.md").read_text().split())
    claims = [("FGSM {fgsm:.1f}, PGD-10 {pgd:.1f}, APGD-CE {apgd_ce:.1f}, APGD-DLR {apgd_dlr:.1f}, "
               "targeted APGD-DLR {apgd_t:.1f}, BPDA {bpda:.1f}, Square {square:.1f}, transfer "
               "{transfer:.1f}; {zero_gradient_share:.1f} % of the inputs have an exactly zero "
               "input gradient", attacks),
              ("lies in **[{ibp:.1f}, {worst_case:.1f}] %**: {k} inputs open",
               {**ibpsandwich_record("cnn-medium-gowal36-eps0.2"),
                "k": round(10 * (attacks["worst_case"]
                                 - ibpsandwich_record("cnn-medium-gowal36-eps0.2")["ibp"]))})]
    m60 = ibpsandwich_record("cnn-medium-ibp-60-eps0.2")
    claims.append(("its robust accuracy lies in **[{ibp:.1f}, {worst_case:.1f}] %** "
                   "(`--ibp-sandwich 1000`, {s:.0f} s), {g:.1f} points under it",
                   {**m60, "g": 97.77 - m60["worst_case"],
                    "s": json.loads((RECIPE_RECORDS / "ibpsandwich_cnn-medium-ibp-60-eps0.2.json")
                                    .read_text())["wall_seconds"]}))
    assert not missing_claims(flat, claims)
    assert audit.masking_flags(attacks)["gradient_free_wins"]  # "raises ... flag"
    assert attacks["square"] == attacks["worst_case"] < min(attacks[k] for k in audit.WHITE_BOX)


def test_the_readme_s_cnn_sentence_is_its_records():
    """README's certified-CNN numbers are the recipe script's records of cnn-ibp-60 and
    cnn-small-ibp-60-eps0.2 on the first 1000 (their ibp_ records agreeing on IBP there), and
    the distance from the target of #26 (97.77 %) to the better worst case is computed from
    them; a moved number fails."""
    readme = " ".join((ROOT / "README.md").read_text().split())
    r, small = recipe_record("cnn-ibp-60"), recipe_record("cnn-small-ibp-60-eps0.2")
    for name, rec in (("cnn-ibp-60", r), ("cnn-small-ibp-60-eps0.2", small)):
        shares = ibp_record(name)
        assert rec["ibp"] == shares["ibp"][shares["first"].index(1000)]  # the same 1000
    small_all = ibp_record("cnn-small-ibp-60-eps0.2")["ibp"][-1]
    claims = [("IBP-trained for 60 epochs, goes further: {clean:.1f} % clean, {certified:.1f} % "
               "certified and {worst_case:.1f} % in the worst case on the first 1000 test inputs",
               r),
              ("at training eps 0.2 does better still: {clean:.1f} % clean, {certified:.1f} % "
               "certified and {worst_case:.1f} % in the worst case on the first 1000 ({all:.1f} % "
               "IBP-certified on all 10000)", {**small, "all": small_all}),
              ("certifies 97.77 %, {g:.1f} points above even that worst case",
               {"g": 97.77 - max(r["worst_case"], small["worst_case"])})]
    medium = recipe_record("cnn-medium-gowal36-eps0.2")
    assert record_inputs("recipe_cnn-medium-gowal36-eps0.2") == 100  # "covers only its first 100"
    m_ibp = ibp_record("cnn-medium-gowal36-eps0.2")
    assert medium["ibp"] == m_ibp["ibp"][m_ibp["first"].index(100)]  # the same 100
    sandwich = ibpsandwich_record("cnn-medium-gowal36-eps0.2")
    assert sandwich["ibp"] == m_ibp["ibp"][m_ibp["first"].index(1000)]  # the same 1000
    claims.append(("after 36 epochs of their own schedule leads every CNN on the first 1000 by "
                   "IBP alone: "
                   "{clean:.1f} % clean, {all:.1f} % IBP-certified on all 10000 and {k:.1f} % on "
                   "the first 1000, where the attack ensemble leaves {w:.1f} %: its robust "
                   "accuracy there lies in [{k:.1f}, {w:.1f}] %, {g:.1f} points under the target "
                   "whatever the verifier. CROWN with the attacks, at 9 s per input, covers only "
                   "its first 100 ({certified:.1f} % certified, {worst_case:.1f} % in the worst "
                   "case)",
                   {**medium, "all": m_ibp["ibp"][-1], "k": sandwich["ibp"],
                    "w": sandwich["worst_case"], "g": 97.77 - sandwich["worst_case"]}))
    cnn_shares = {name: ibp_record(name) for name in load_recipes().RECIPES
                  if name.startswith("cnn-") and (RECIPE_RECORDS / f"ibp_{name}.json").exists()}
    at_1000 = {name: r["ibp"][r["first"].index(1000)] for name, r in cnn_shares.items()}
    assert len(at_1000) >= 7
    assert at_1000.pop("cnn-medium-gowal36-eps0.2") > max(at_1000.values())
    # "leads every CNN on the first 1000"; the 60-epoch medium net leads on all 10000
    m60, m60_ibp = recipe_record("cnn-medium-ibp-60-eps0.2"), cnn_shares["cnn-medium-ibp-60-eps0.2"]
    on_all = {name: r["ibp"][-1] for name, r in cnn_shares.items()}
    assert on_all.pop("cnn-medium-ibp-60-eps0.2") > max(on_all.values())  # "the most of any CNN"
    claims.append(("Through our 60-epoch schedule the same net reaches {all:.1f} % IBP-certified "
                   "on all 10000 (the most of any CNN; {k:.1f} % on the first 1000, {clean:.1f} % "
                   "clean), still {g:.1f} points under the target",
                   {**m60, "all": m60_ibp["ibp"][-1], "g": 97.77 - m60_ibp["ibp"][-1],
                    "k": m60_ibp["ibp"][m60_ibp["first"].index(1000)]}))
    assert not missing_claims(readme, claims)
    for rec in (r, small):
        moved = readme.replace(f"{rec['certified']:.1f} % certified",
                               f"{rec['certified'] + 0.1:.1f} % certified")
        assert moved != readme and missing_claims(moved, claims)
