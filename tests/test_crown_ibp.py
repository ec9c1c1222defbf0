"""CROWN-IBP: its bound is sound and, on one hidden layer, equals CROWN's; its hand-written
gradient (through the backward pass and through the relaxation's dependence on the IBP bounds)
matches float64 finite differences, with a negative control (that training with it certifies
is tested beside IBP training, in test_ibp_training)."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import nprelu as nr
from nprelu import certify as C
from nprelu import crown_ibp as CI
from nprelu.losses import softmax_cross_entropy
from tests.helpers import numeric_grad, rel_err
from tests.test_certify import sampled_margins


def random_relu_net(seed, hidden=(6, 5), n_in=8, n_out=4, scale=0.8):
    model = nr.MLP(hidden, n_in=n_in, n_out=n_out, seed=seed, dtype=np.float64)
    model.params[...] = np.random.default_rng(seed).normal(size=model.params.shape) * scale
    return model


@pytest.mark.parametrize("seed", range(8))
def test_the_bound_is_sound_and_equals_crown_on_one_hidden_layer(seed):
    deep = random_relu_net(seed)
    x = np.random.default_rng(seed).uniform(size=(1, 8))
    y = deep.predict(x)
    m = CI.crown_ibp_margins(deep, x, y, 0.15)[0]
    m[0, y[0]] = np.inf
    assert sampled_margins(deep, x[0], int(y[0]), 0.15, n=3000).min() >= m.min() - 1e-9
    shallow = random_relu_net(seed, hidden=(7,))
    y = shallow.predict(x)
    m = CI.crown_ibp_margins(shallow, x, y, 0.15)[0]
    m[0, y[0]] = np.inf
    # one hidden layer: its bounds are exact in both; CROWN adds a float32 rounding slack
    np.testing.assert_allclose(m, C.crown_margins(shallow, x, y, 0.15), atol=1e-5)


def loss_and_grad(model, x, y, eps, beta, wrong=False):
    m, zhat, cache = CI.crown_ibp_margins(model, x, y, eps)
    mix = beta * m - (1 - beta) * zhat
    loss, d_neg = softmax_cross_entropy(-mix, y)
    grads = np.zeros_like(model.params)
    dm = -d_neg
    CI.crown_ibp_backward(model, cache, beta * dm, -(1 - beta) * dm, grads)
    if wrong:  # negative control: forget the bounds' share (the relaxation held fixed)
        fixed = np.zeros_like(model.params)
        lines = cache[1]
        cache_fixed = (cache[0], [(a, b, c, 0 * d, 0 * e, 0 * f, 0 * g)
                                  for a, b, c, d, e, f, g in lines], *cache[2:])
        CI.crown_ibp_backward(model, cache_fixed, beta * dm, -(1 - beta) * dm, fixed)
        grads = fixed
    return float(loss.sum()), grads, cache


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), eps=st.floats(0.02, 0.3), beta=st.sampled_from([1.0, 0.6]))
def test_the_gradient_matches_finite_differences(seed, eps, beta):
    model = random_relu_net(seed)
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(size=(3, 8)), rng.integers(0, 4, 3)
    _, grads, cache = loss_and_grad(model, x, y, eps, beta)
    for _, _, l, u, _ in cache[0][0]:  # finite differences fail where an end sits on 0
        ends = np.concatenate([l.ravel(), u.ravel()])
        assume(np.min(np.abs(ends)) > 1e-5)
        assume(np.min(np.abs(np.abs(u) - np.abs(l))) > 1e-5)  # aL's switch (u > -l)
    num = numeric_grad(lambda: loss_and_grad(model, x, y, eps, beta)[0], model.params)
    assert rel_err(grads, num) < 1e-6


def test_the_finite_difference_check_sees_the_bounds_share():
    """Holding the relaxation fixed (dropping the l, u derivatives) must fail the check: the
    second part of the gradient is not negligible."""
    for seed in range(20):
        model = random_relu_net(seed)
        rng = np.random.default_rng(seed)
        x, y = rng.uniform(size=(3, 8)), rng.integers(0, 4, 3)
        _, right, _ = loss_and_grad(model, x, y, 0.2, 1.0)
        _, wrong, _ = loss_and_grad(model, x, y, 0.2, 1.0, wrong=True)
        num = numeric_grad(lambda m=model, a=x, b=y: loss_and_grad(m, a, b, 0.2, 1.0)[0],
                           model.params)
        if rel_err(right, num) < 1e-6:
            assert rel_err(wrong, num) > 1e-3
            return
    raise AssertionError("no net without kinks on its interval ends among 20 seeds")


def test_crown_ibp_refuses_capped_nets():
    model = nr.MLP((6,), caps={1: 0.5}, n_in=8, n_out=4, seed=0)
    with pytest.raises(ValueError, match="plain ReLU"):
        CI.crown_ibp_margins(model, np.zeros((1, 8), np.float32), np.array([0]), 0.1)
