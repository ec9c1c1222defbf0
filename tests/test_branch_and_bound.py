"""Branch and bound: its verdicts are exact, so they must agree with the MILP on small nets;
"robust" is never broken by a sampled point, "not robust" comes with a point of the box that the
net misclassifies; and it decides an input that CROWN alone cannot."""

import numpy as np
import pytest

import nprelu as nr
from nprelu import certify as C
from nprelu.branch_and_bound import branch_and_bound
from tests.test_certify import random_net, sampled_margins

NETS = [(seed, [{}, {1: 0.5}, {1: 0.4, 2: 0.6}][seed % 3], eps)
        for seed in range(24) for eps in (0.05, 0.15)]


@pytest.mark.parametrize("seed,caps,eps", NETS)
def test_branch_and_bound_agrees_with_the_milp(seed, caps, eps):
    model = random_net(seed, caps)
    x = np.random.default_rng(seed).uniform(size=8)
    y = int(model.predict(x[None])[0])
    exact = C.milp_margin(model, x, y, eps, time_limit=20)
    res = branch_and_bound(model, x, y, eps, time_limit=20)
    assert exact.status in ("robust", "not robust") and res.status == exact.status
    assert branch_and_bound(model, x, y, eps, time_limit=20, split="gap").status == res.status
    tight = branch_and_bound(model, x, y, eps, time_limit=20, intermediate=5)
    assert tight.status == res.status  # alpha-CROWN's intervals in every sub-problem
    if res.status == "robust":
        assert 0 < tight.lower <= exact.margin + 1e-6
    if res.status == "robust":
        assert 0 < res.lower <= exact.margin + 1e-6  # a lower bound (HiGHS solves to ~1e-7)
        assert sampled_margins(model, x, y, eps, n=2000).min() > 0
    else:
        lo, hi = C.input_box(x[None], eps)
        assert np.all(res.witness >= lo[0] - 1e-6) and np.all(res.witness <= hi[0] + 1e-6)
        assert model.predict(res.witness[None])[0] != y


def test_splitting_one_kink_decides_what_crown_cannot():
    """margin = relu(3 x - 1) + 0.1 on x in [0, 1]: the true minimum is 0.1 (robust), CROWN's
    lower line a >= z gives -1 + 0.1 < 0; split at z = 0, each half is linear and exact."""
    model = nr.Network.dense((1,), n_in=1, n_out=2, seed=0, dtype=np.float64)
    hidden, out = model.layers
    hidden.W[...], hidden.b[...] = 3.0, -1.0
    out.W[...], out.b[...] = [[1.0, 0.0]], [0.1, 0.0]
    x, y = np.array([0.5]), 0
    assert C.crown_margins(model, x[None], np.array([y]), 0.5)[0, 1] == pytest.approx(-0.9)
    res = branch_and_bound(model, x, y, 0.5, alpha_iters=0)
    assert res.status == "robust" and res.domains == 3  # the box, then its two halves
    assert res.lower == pytest.approx(0.1)
    res = branch_and_bound(model, x, y, 0.5)  # alpha-CROWN finds the line a >= 0 at once
    assert res.status == "robust" and res.domains == 1


def test_branch_and_bound_stops_at_its_time_limit_and_refuses_what_it_cannot_do():
    model = random_net(13, {1: 0.5})
    x = np.random.default_rng(13).uniform(size=8)
    y = int(model.predict(x[None])[0])
    res = branch_and_bound(model, x, y, 0.05, time_limit=1e-9)
    assert res.status == "unknown" and res.lower < 0 and res.witness is None
    with pytest.raises(ValueError, match="max_domains"):
        branch_and_bound(model, x, y, 0.05, max_domains=0)
    with pytest.raises(ValueError, match="time_limit"):
        branch_and_bound(model, x, y, 0.05, time_limit=0)
    with pytest.raises(ValueError, match="split must be"):
        branch_and_bound(model, x, y, 0.05, split="random")
    cnn = nr.Network.cnn(convs=((2, 3),), dense=(4,), seed=0)
    with pytest.raises(ValueError, match="dense nets"):
        branch_and_bound(cnn, np.zeros(784), 0, 0.1)


def test_a_budget_of_sub_problems_stops_the_search_the_same_way_everywhere():
    """max_domains is a budget in work, not seconds: the one-kink net needs 3 sub-problems
    without alpha (the box, then its halves); with a budget of 1 it stops after the box."""
    model = nr.Network.dense((1,), n_in=1, n_out=2, seed=0, dtype=np.float64)
    hidden, out = model.layers
    hidden.W[...], hidden.b[...] = 3.0, -1.0
    out.W[...], out.b[...] = [[1.0, 0.0]], [0.1, 0.0]
    x, y = np.array([0.5]), 0
    res = branch_and_bound(model, x, y, 0.5, alpha_iters=0, max_domains=1)
    assert res.status == "unknown" and res.domains == 1 and res.lower == pytest.approx(-0.9)
    res = branch_and_bound(model, x, y, 0.5, alpha_iters=0, max_domains=2)
    assert res.status == "unknown" and res.domains == 2  # the last batch cut to one of two
    res = branch_and_bound(model, x, y, 0.5, alpha_iters=0, max_domains=3)
    assert res.status == "robust" and res.domains == 3
