"""CROWN-IBP: its bound is sound and, on one hidden layer, equals CROWN's; its hand-written
gradient (through the backward pass and through the relaxation's dependence on the IBP bounds)
matches float64 finite differences, with a negative control (that training with it certifies
is tested beside IBP training, in test_ibp_training)."""

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import nprelu as nr
from nprelu import certify as C
from nprelu import crown_ibp as CI
from nprelu.losses import softmax_cross_entropy
from tests.helpers import numeric_grad, rel_err
from tests.test_certify import sampled_margins


def random_relu_net(seed, hidden=(6, 5), n_in=8, n_out=4, scale=0.8, caps=None):
    model = nr.MLP(hidden, caps=caps, n_in=n_in, n_out=n_out, seed=seed, dtype=np.float64)
    model.params[...] = np.random.default_rng(seed).normal(size=model.params.shape) * scale
    return model


CAPS = [None, {2: 0.4}, {1: 0.5, 2: 0.3}]


@pytest.mark.parametrize("caps", CAPS, ids=["relu", "cap_hl2", "caps_both"])
@pytest.mark.parametrize("seed", range(8))
def test_the_bound_is_sound_and_equals_crown_on_one_hidden_layer(seed, caps):
    deep = random_relu_net(seed, caps=caps)
    x = np.random.default_rng(seed).uniform(size=(1, 8))
    y = deep.predict(x)
    m = CI.crown_ibp_margins(deep, x, y, 0.15)[0]
    m[0, y[0]] = np.inf
    assert sampled_margins(deep, x[0], int(y[0]), 0.15, n=3000).min() >= m.min() - 1e-9
    shallow = random_relu_net(seed, hidden=(7,), caps=caps and {1: min(caps.values())})
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
    if wrong:  # negative control: forget the bounds' share (the relaxation held fixed), for
        # every line ("all") or only for the lower lines, which move only below a cap ("lower")
        fixed = np.zeros_like(model.params)
        lines = cache[1]
        dropped = (0, 1, 2, 3) if wrong == "all" else (0, 1)
        cache_fixed = (cache[0], [(values, [[0 * dl, 0 * du] if k in dropped else [dl, du]
                                            for k, (dl, du) in enumerate(derivs)])
                                  for values, derivs in lines], *cache[2:])
        CI.crown_ibp_backward(model, cache_fixed, beta * dm, -(1 - beta) * dm, fixed)
        grads = fixed
    return float(loss.sum()), grads, cache


def kink_sides(model, cache):
    """Every place where the CROWN-IBP loss has a kink in the weights, as the side each
    quantity is on: each unit's interval ends against 0 and the cap, the line the relaxation
    picked (a zero or a positive slope, above and below), and the sign of every backward
    coefficient (it picks the lower or the upper line, and |lam| r at the input), and of every
    weight (IBP's |W| r). Where none changes, the loss is smooth and finite differences hold."""
    out = [np.sign(model.params)]
    for (_, _, l, u, _), act, (lines, _) in zip(cache[0][0], model.acts, cache[1]):
        aL, _, aU, _ = lines
        out += [l < 0, u > 0, l < act.beta, u > act.beta, aL > 0, aU > 0]
    out += [np.sign(pos + neg) for _, pos, neg, _ in cache[2]] + [np.sign(cache[3])]
    return np.concatenate([a.ravel() for a in out])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), eps=st.floats(0.02, 0.3), beta=st.sampled_from([1.0, 0.6]),
       caps=st.sampled_from(CAPS))
@example(seed=877, eps=0.133750305282242, beta=1.0, caps={1: 0.5, 2: 0.3})  # an input-layer
# coefficient 2.5e-8 from 0: the step crossed the kink of |lam| r (it failed the check)
def test_the_gradient_matches_finite_differences(seed, eps, beta, caps):
    model = random_relu_net(seed, caps=caps)
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(size=(3, 8)), rng.integers(0, 4, 3)
    _, grads, cache = loss_and_grad(model, x, y, eps, beta)
    sides = kink_sides(model, cache)
    crossed = []

    def loss():  # finite differences mean nothing where a step crosses a kink
        value, _, c = loss_and_grad(model, x, y, eps, beta)
        crossed.append(not np.array_equal(kink_sides(model, c), sides))
        return value

    num = numeric_grad(loss, model.params)
    assume(not any(crossed))
    assert rel_err(grads, num) < 1e-6


@pytest.mark.parametrize("caps,wrong", [(None, "all"), ({1: 0.3, 2: 0.2}, "lower")],
                         ids=["relu_chord", "cap_lines"])
def test_the_finite_difference_check_sees_the_bounds_share(caps, wrong):
    """Holding the relaxation fixed (dropping the l, u derivatives) must fail the check: the
    second part of the gradient is not negligible; on a capped net, so is the lower lines'
    part (the cap's chord and the line through (0, 0)), which a ReLU net never uses."""
    for seed in range(40):
        model = random_relu_net(seed, caps=caps)
        rng = np.random.default_rng(seed)
        x, y = rng.uniform(size=(3, 8)), rng.integers(0, 4, 3)
        _, right, _ = loss_and_grad(model, x, y, 0.2, 1.0)
        _, bad, _ = loss_and_grad(model, x, y, 0.2, 1.0, wrong=wrong)
        num = numeric_grad(lambda m=model, a=x, b=y: loss_and_grad(m, a, b, 0.2, 1.0)[0],
                           model.params)
        if rel_err(right, num) < 1e-6 and not np.allclose(bad, right):
            assert rel_err(bad, num) > 1e-3
            return
    raise AssertionError("no net without kinks on its interval ends among 40 seeds")


def test_crown_ibp_refuses_what_it_does_not_bound():
    learned = nr.Network.dense((6,), nr.LearnedCap, n_in=8, n_out=4, seed=0)
    with pytest.raises(ValueError, match=r"capped\) ReLU nets"):
        CI.crown_ibp_margins(learned, np.zeros((1, 8), np.float32), np.array([0]), 0.1)
    cnn = nr.Network.cnn(convs=((2, 3),), dense=(4,), seed=0)
    with pytest.raises(ValueError, match="dense nets"):
        CI.crown_ibp_margins(cnn, np.zeros((1, 784), np.float32), np.array([0]), 0.1)
