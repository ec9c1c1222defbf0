"""alpha-CROWN: the bound's gradient in its free slopes (by hand) against float64 finite
differences, with a negative control; never looser than CROWN (soundness by sampling: in
test_certify); a one-unit net whose exact minimum only the optimised slope reaches."""

import numpy as np
import pytest

import nprelu as nr
from nprelu import alpha_crown as A
from nprelu import certify as C
from tests.test_certify import random_net, sampled_margins


def batch_state(model, x, y, eps):
    lo, hi = C.input_box(x, eps)
    bounds, relax = C.crown_bounds(model, lo, hi)
    Cm, const = C.margin_spec(*C._layers(model)[-1], y)
    return lo, hi, relax, Cm, const, A.initial_slopes(model, bounds, relax, Cm.shape[1])


def test_the_first_bound_is_crowns():
    for seed, caps in ((0, {}), (1, {1: 0.5}), (2, {1: 0.4, 2: 0.6})):
        model = random_net(seed, caps)
        x = np.random.default_rng(seed).uniform(size=(3, 8))
        y = model.predict(x)
        lo, hi, relax, Cm, const, slopes = batch_state(model, x, y, 0.2)
        bound = A.bound_and_grad(model, Cm, const, relax, slopes, lo, hi, grad=False)[0]
        bound[np.arange(3), y] = np.inf
        # CROWN adds a float32 rounding slack to its input term; nothing else differs
        assert np.allclose(bound, C.crown_margins(model, x, y, 0.2), atol=1e-5)


def finite_difference_errors(model, x, y, eps, grad_fn, h=1e-6):
    """Largest |analytic - central difference| over every free slope of a batch, and the
    largest |central difference| (the scale), in float64."""
    lo, hi, relax, Cm, const, slopes = batch_state(model, x, y, eps)
    rng = np.random.default_rng(0)
    for s, top in zip(slopes.lower + slopes.upper, slopes.max_lower + slopes.max_upper):
        s[...] = rng.uniform(0.1, 0.9) * top * np.ones_like(s)  # inside the range: smooth
    _, d_lo, d_up = grad_fn(model, Cm, const, relax, slopes, lo, hi)
    worst, scale = 0.0, 0.0
    for s, d in zip(slopes.lower + slopes.upper, d_lo + d_up):
        for idx in zip(*np.nonzero(np.broadcast_to(d != 0, s.shape) | (s > 0))):
            old = s[idx]
            s[idx] = old + h
            up = A.bound_and_grad(model, Cm, const, relax, slopes, lo, hi, grad=False)[0]
            s[idx] = old - h
            down = A.bound_and_grad(model, Cm, const, relax, slopes, lo, hi, grad=False)[0]
            s[idx] = old
            fd = (up - down)[idx[0], idx[1]] / (2 * h)
            worst, scale = max(worst, abs(fd - d[idx])), max(scale, abs(fd))
    return worst, scale


@pytest.mark.parametrize("caps", [{}, {1: 0.5}, {2: 0.3}, {1: 0.4, 2: 0.6}])
def test_the_slope_gradient_matches_finite_differences(caps):
    model = random_net(7, caps, n_in=5, hidden=(6, 5), n_out=3)
    x = np.random.default_rng(7).uniform(size=(2, 5))
    y = model.predict(x)
    worst, scale = finite_difference_errors(model, x, y, 0.3, A.bound_and_grad)
    assert scale > 1e-2  # the slopes do move the bound
    assert worst < 1e-6 * max(1.0, scale)


def test_the_finite_difference_check_catches_a_wrong_gradient():
    """Negative control: drop the intercept term beta (1 - s) from the upper slopes' gradient
    (and the bias from the lower ones') and the check must fail."""
    model = random_net(7, {1: 0.4, 2: 0.6}, n_in=5, hidden=(6, 5), n_out=3)
    x = np.random.default_rng(7).uniform(size=(2, 5))
    y = model.predict(x)

    def wrong(*args):
        bound, d_lo, d_up = A.bound_and_grad(*args)
        return bound, [1.1 * d for d in d_lo], d_up

    worst, scale = finite_difference_errors(model, x, y, 0.3, wrong)
    assert worst > 1e-3 * scale


def test_alpha_crown_is_never_looser_than_crown():
    """(Its soundness by sampling is in test_certify, beside IBP's and CROWN's.)"""
    for seed in range(12):
        model = random_net(seed, [{}, {1: 0.5}, {1: 0.05, 2: 2.0}][seed % 3])
        x = np.random.default_rng(seed).uniform(size=(4, 8))
        y = model.predict(x)
        eps = 0.05 + 0.03 * seed
        a, c = A.alpha_crown_margins(model, x, y, eps), C.crown_margins(model, x, y, eps)
        assert np.all(a >= c - 1e-5)


def test_the_optimised_slope_reaches_the_exact_minimum_crown_misses():
    """One ReLU unit z = 3 x - 1 on the box x in [0, 1] (x = 0.5, eps = 0.5): z in [-1, 2],
    and the margin z_0 - z_1 = relu(z), whose minimum over the box is 0. CROWN's area rule
    takes the lower line a >= z (u > -l), giving -1; the best line through (0, 0) is a >= 0,
    which alpha-CROWN finds (its slope is projected onto [0, 1])."""
    model = nr.Network.dense((1,), n_in=1, n_out=2, seed=0, dtype=np.float64)
    hidden, out = model.layers
    hidden.W[...], hidden.b[...] = 3.0, -1.0
    out.W[...], out.b[...] = [[1.0, 0.0]], 0.0
    x, y = np.array([[0.5]]), np.array([0])
    assert C.crown_margins(model, x, y, 0.5)[0, 1] == pytest.approx(-1.0)
    assert A.alpha_crown_margins(model, x, y, 0.5)[0, 1] == pytest.approx(0.0, abs=1e-9)
    assert A.alpha_crown_margins(model, x, y, 0.5, iters=0)[0, 1] == pytest.approx(-1.0)


@pytest.mark.slow
def test_alpha_crown_lies_between_crown_and_the_exact_minimum_on_a_trained_net(
        mnist, small_trained):
    """On a trained 784-32-16 net: CROWN <= alpha-CROWN (tighter on most inputs) <= the exact
    smallest margin of the MILP, where the MILP finishes. eps 0.04 and at most 20 binaries
    keep the MILPs small (10-14 binaries for three of the first five inputs, a few seconds
    each when measured), so a time limit of 60 s holds on a busy machine too: at eps 0.05
    with 20 s, a run sharing its cores once decided only 2 of the 5."""
    _, (xt, yt) = mnist
    x, y, eps = xt[:20], yt[:20], 0.04
    c = C.crown_margins(small_trained, x, y, eps).min(axis=1)
    a = A.alpha_crown_margins(small_trained, x, y, eps).min(axis=1)
    assert np.all(a >= c - 1e-5)
    assert np.mean(a > c + 1e-3) > 0.5  # most inputs gain
    exact = 0
    for i in range(5):
        res = C.milp_margin(small_trained, x[i], int(y[i]), eps, time_limit=60, max_binaries=20)
        if res.margin is not None:
            exact += 1
            assert a[i] <= res.margin + 1e-6
    assert exact >= 3


def test_optimised_intermediate_bounds_are_sound_and_never_looser_than_crowns():
    """alpha_crown_bounds on nets of three hidden layers: every sampled point's pre-activations
    lie in the intervals, each interval lies inside CROWN's, some are strictly tighter, and the
    margins built on them hold at every sampled point."""
    tighter = 0
    for seed in range(9):
        caps = [{}, {2: 0.5}, {1: 0.3, 3: 1.0}][seed % 3]
        model = random_net(seed, caps, hidden=(6, 5, 5))
        x = np.random.default_rng(seed).uniform(size=(1, 8))
        y = model.predict(x)
        eps = 0.1 + 0.03 * seed
        lo, hi = C.input_box(x, eps)
        crown, _ = C.crown_bounds(model, lo, hi)
        alpha, _ = A.alpha_crown_bounds(model, lo, hi, iters=30)
        rng = np.random.default_rng(seed)
        t = rng.random((5000, 8))
        t[:2500] = t[:2500] > 0.5  # half of the points on vertices of the box
        a = lo + t * (hi - lo)
        for (layer, act), (cl, cu), (l, u) in zip(zip(model.layers, model.acts), crown, alpha):
            z = a @ layer.W + layer.b
            assert np.all(z >= l - 1e-9) and np.all(z <= u + 1e-9)
            assert np.all(l >= cl - 1e-12) and np.all(u <= cu + 1e-12)
            tighter += int(np.sum(l > cl + 1e-6) + np.sum(u < cu - 1e-6))
            a = act.fn(z)
        m = A.alpha_crown_margins(model, x, y, eps, intermediate=30)[0]
        m[y[0]] = np.inf
        assert sampled_margins(model, x[0], int(y[0]), eps).min() >= m.min() - 1e-9
    assert tighter > 0


def test_alpha_crown_refuses_bad_input():
    model = random_net(0, {})
    x = np.full((1, 8), 0.5)
    with pytest.raises(ValueError, match="iters"):
        A.alpha_crown_margins(model, x, np.array([0]), 0.1, iters=-1)
    with pytest.raises(ValueError, match="lr"):
        A.alpha_crown_margins(model, x, np.array([0]), 0.1, lr=0.0)
    cnn = nr.Network.cnn(convs=((2, 3),), dense=(4,), seed=0)
    with pytest.raises(ValueError, match="dense nets"):
        A.alpha_crown_margins(cnn, np.zeros((1, 784)), np.array([0]), 0.1)
