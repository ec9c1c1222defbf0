"""benchmarks/certified_recipes.py --bab: `decide` sends exactly the inputs that are neither
certified nor broken to branch and bound, and every verdict it records is the exact one (the
MILP's), so the certified share it adds is sound. --milp: `decide_milp` on what branch and
bound left open agrees with branch and bound given a larger budget, and its table cells add
up."""

import importlib.util

import numpy as np
import pytest

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


@pytest.mark.parametrize("exact", [True, False])
def test_decide_milp_decides_what_a_small_branch_and_bound_left_as_a_large_one_does(exact):
    """Branch and bound with 1 sub-problem per input leaves inputs of the random net unknown;
    the MILP on them must reach the verdicts that branch and bound reaches with 200 (another
    algorithm: big-M programs against splitting with alpha-CROWN bounds), its "not robust"
    margins are negative and "robust" ones positive, and the row's counts add up."""
    recipes = load_recipes()
    model = random_net(3, {}, n_in=16)  # at eps 0.2 this net's open inputs go both ways
    x = np.random.default_rng(3).uniform(size=(16, 16))
    y = model.predict(x)
    eps, n = 0.2, 16
    small = recipes.decide(model, x, y, n, eps, 10, 1, 50, 1)
    large = recipes.decide(model, x, y, n, eps, 10, 1, 50, 200)
    assert small["gap"] == large["gap"]
    open_ = [i for i, v in zip(small["gap"], small["verdicts"]) if v == "unknown"]
    assert len(open_) >= 3
    r = recipes.decide_milp(model, x, y, open_, eps, 20.0, exact)
    assert r["indices"] == open_ and "unknown" not in r["verdicts"]
    truth = dict(zip(large["gap"], large["verdicts"]))
    assert {"robust", "not robust"} <= set(r["verdicts"])  # the case exercises both verdicts
    for i, verdict, margin in zip(open_, r["verdicts"], r["margins"]):
        assert truth[i] in (verdict, "unknown"), (i, verdict, truth[i])
        if exact or verdict == "not robust":  # the decision form gives no robust margin
            assert (margin > 0) == (verdict == "robust"), (i, verdict, margin)
    assert sum(truth[i] != "unknown" for i in open_) >= 3  # compared on enough inputs

    cells = recipes.milp_cells(small, r, n)
    robust, broken = r["verdicts"].count("robust"), r["verdicts"].count("not robust")
    assert cells[1:5] == [str(len(open_)), str(robust), str(broken), "0"]
    assert float(cells[5]) == round(small["certified_with_bab"] + 100 * robust / n, 1)
    # no less than the larger branch and bound certifies (here more: it leaves one input open)
    assert float(cells[5]) >= round(large["certified_with_bab"], 1)


def test_evaluate_and_decide_share_one_certify_and_attack(monkeypatch):
    """A run with --bab makes recipe_NAME (`evaluate`) and bab_NAME (`decide`) on the same
    inputs: the certificates and the attack ensemble run once for both, and any change of
    weights, inputs or settings runs them again; the reused verdicts are the ones a fresh
    computation gives."""
    recipes = load_recipes()
    calls = []
    ensemble = recipes.audit.attack_ensemble
    monkeypatch.setattr(recipes.audit, "attack_ensemble",
                        lambda *a: calls.append(1) or ensemble(*a))
    model = random_net(1, {}, n_in=16)
    x = np.random.default_rng(1).uniform(size=(16, 16))
    y = model.predict(x)
    first = recipes.evaluate(model, x, y, 16, 0.1, 10, 1, 50)
    r = recipes.decide(model, x, y, 16, 0.1, 10, 1, 50, 1)
    assert len(calls) == 1
    assert r["worst_case"] == first["worst_case"] and r["certified"] == first["certified"]

    recipes.decide(model, x, y, 16, 0.1, 10, 2, 50, 1)  # another setting: computed anew
    recipes.evaluate(model, x[:8], y[:8], 8, 0.1, 10, 1, 50)  # other inputs
    model.params[0] += 1e-3  # other weights (the same object, changed in place)
    recipes.evaluate(model, x, y, 16, 0.1, 10, 1, 50)
    assert len(calls) == 4

    model.params[0] -= 1e-3
    recipes._BOTH_SIDES.clear()  # a fresh process: the same numbers
    again = recipes.decide(model, x, y, 16, 0.1, 10, 1, 50, 1)
    assert {k: v for k, v in again.items() if k != "seconds"} == {
        k: v for k, v in r.items() if k != "seconds"}


def test_ibp_sandwich_brackets_with_ibp_and_the_ensemble_and_stops_on_a_contradiction(
        monkeypatch):
    """ibpsandwich_NAME: on the first n, the IBP-certified share and the ensemble's worst case
    computed again here, IBP <= worst case; an attack that breaks a certified input (here a
    fake one that breaks every input) stops the run instead of giving a number."""
    recipes = load_recipes()
    model = random_net(1, {}, n_in=16)
    x = np.random.default_rng(1).uniform(size=(20, 16))
    y = model.predict(x)
    eps = 0.05  # small enough that IBP certifies some inputs of this random net
    r = recipes.ibp_sandwich(model, x, y, 16, eps, 10, 1, 50)
    certified = C.ibp_margins(model, x[:16], y[:16], eps).min(axis=1) > 0
    ens = audit.attack_ensemble(model, model, x[:16], y[:16], eps, 10, 1, 50, 0)
    assert 0 < certified.sum() < 16
    assert r["ibp"] == 100 * certified.mean() and r["worst_case"] == ens["worst_case"]
    assert r["ibp"] <= r["worst_case"] and r["clean"] == 100.0  # y is the model's own label
    assert r["attacks"]["pgd"] == ens["pgd"] and "per_input" not in r["attacks"]

    def breaks_all(*a):
        out = dict(ens, per_input=dict(ens["per_input"]))
        out["per_input"]["worst_case"] = np.zeros(16, np.uint8)
        return out

    monkeypatch.setattr(recipes.audit, "attack_ensemble", breaks_all)
    with pytest.raises(AssertionError, match="certified robust was broken"):
        recipes.ibp_sandwich(model, x, y, 16, eps, 10, 1, 50)


def test_ibp_shares_count_every_input_once():
    """The ibp_NAME record: IBP alone over the test set; its shares on the first 100 and on all
    inputs are those of IBP run one input at a time."""
    from tests.test_certify import random_cnn

    model = random_cnn(3)
    x = np.random.default_rng(3).uniform(size=(250, 36))
    y = model.predict(x)
    eps = 0.2
    r = load_recipes().ibp_shares(model, x, y, eps)
    one_by_one = np.array([C.ibp_margins(model, x[i:i + 1], y[i:i + 1], eps).min() > 0
                           for i in range(len(x))])
    assert 0 < one_by_one.sum() < len(x)  # the case has certified and uncertified inputs
    assert r["first"] == [100, 250]
    assert r["ibp"] == [100 * one_by_one[:100].mean(), 100 * one_by_one.mean()]
    assert load_recipes().ibp_cells(r) == [f"{v:.1f}" for v in r["ibp"]]
