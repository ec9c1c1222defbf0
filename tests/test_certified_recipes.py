"""benchmarks/certified_recipes.py --bab: `decide` sends exactly the inputs that are neither
certified nor broken to branch and bound, and every verdict it records is the exact one (the
MILP's), so the certified share it adds is sound."""

import importlib.util

import numpy as np

from nprelu import audit
from nprelu import certify as C
from nprelu.alpha_crown import alpha_crown_margins
from nprelu.context import ROOT
from tests.test_certify import random_net, sampled_margins


def load_recipes():
    spec = importlib.util.spec_from_file_location(
        "certified_recipes", ROOT / "benchmarks" / "certified_recipes.py")
    recipes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipes)
    return recipes


def test_decide_sends_the_gap_to_branch_and_bound_and_its_verdicts_are_exact():
    # a random 16-6-5-4 net (16 inputs: a 4x4 image for the Square attack) on 16 random inputs
    # at eps 0.1: the certificates and the (weak) attacks leave 9 of them undecided
    model = random_net(1, {}, n_in=16)
    x = np.random.default_rng(1).uniform(size=(16, 16))
    y = model.predict(x)
    eps, n = 0.1, 16
    r = load_recipes().decide(model, x, y, n, eps, 10, 1, 50, 200)

    # the gap, computed again here: survives the ensemble, certified by none of the bounds
    certified = (C.certify(model, x, y, eps).certified
                 | (alpha_crown_margins(model, x, y, eps).min(axis=1) > 0))
    survives = audit.attack_ensemble(model, model, x, y, eps, 10, 1, 50, 0)["per_input"]
    gap = np.flatnonzero(survives["worst_case"].astype(bool) & ~certified)
    assert r["gap"] == gap.tolist() and len(r["verdicts"]) == len(gap) >= 3
    assert {"robust", "not robust"} <= set(r["verdicts"])  # the case exercises both verdicts

    for i, verdict in zip(gap, r["verdicts"]):
        exact = C.milp_margin(model, x[i], int(y[i]), eps, time_limit=20).status
        assert verdict in (exact, "unknown"), (i, verdict, exact)
        if verdict == "robust":
            assert sampled_margins(model, x[i], int(y[i]), eps, n=2000).min() > 0
    robust = r["verdicts"].count("robust")
    assert r["certified_with_bab"] == 100 * (certified.sum() + robust) / n
    assert r["undecided"] == 100 * r["verdicts"].count("unknown") / n
    assert r["certified"] <= r["certified_with_bab"] <= r["worst_case"]
