"""The gradient-masking audit: BPDA, adaptive PGD, the Square attack and worst-case accounting."""

import numpy as np
import pytest

import nprelu as nr
from nprelu import audit


def _one_layer_net(beta):
    """x (4) -> 3 units z = x W1 (+0) capped at beta -> logits h W2."""
    m = nr.MLP((3,), caps={1: beta}, n_in=4, n_out=2, dtype=np.float64)
    rng = np.random.default_rng(0)
    m.dense[0].W[...] = rng.uniform(0.5, 1.0, size=(4, 3))  # every z > 0 for x > 0
    m.dense[1].W[...] = rng.normal(size=(3, 2))
    return m


def test_bpda_returns_the_plain_relu_gradient_where_the_cap_is_active():
    capped = _one_layer_net(beta=0.5)
    plain = capped.copy().set_caps({1: None})
    x = np.full((1, 4), 0.4)  # z = sum of four weights in [0.5, 1] times 0.4 > 0.8 > beta
    logits, cache = capped.forward(x)
    assert np.all(cache[0][1] > 0.5)  # every unit is saturated at the cap
    onehot = np.array([[1.0, 0.0]])
    true_grad = capped.backward(cache, onehot, param_grads=False)
    bpda_grad = capped.backward(cache, onehot, param_grads=False, bpda=True)
    _, pcache = plain.forward(x)
    np.testing.assert_array_equal(true_grad, 0)  # the cap blocks everything...
    np.testing.assert_allclose(bpda_grad, plain.backward(pcache, onehot, param_grads=False))
    assert np.abs(bpda_grad).min() > 0  # ...and BPDA lets it through


def _linear_square_net(w, b, shift=50.0):
    m = nr.MLP((1,), n_in=len(w), n_out=2, dtype=np.float64)
    m.dense[0].W[:, 0], m.dense[0].b[0] = w, b + shift
    m.dense[1].W[0] = [-0.5, 0.5]
    m.dense[1].b[...] = [shift / 2, -shift / 2]
    return m


@pytest.mark.parametrize("seed", range(3))
def test_square_attack_flips_a_linear_model_when_eps_exceeds_the_margin(seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=16)  # a 4x4 "image"
    x = rng.uniform(0.3, 0.7, size=(1, 16))
    b = -(x @ w)[0] + 0.5  # the margin Z_1 - Z_0 = 0.5 at x: class 1
    model = _linear_square_net(w, b)
    needed = 0.5 / np.abs(w).sum()  # the smallest L-inf eps that can cross the plane
    adv, used = audit.square_linf(model, x, np.array([1]), eps=1.5 * needed, queries=2000,
                                  seed=seed)
    assert model.predict(adv)[0] == 0
    assert used[0] <= 2000
    assert np.abs(adv - x).max() <= 1.5 * needed + 1e-12 and adv.min() >= 0 and adv.max() <= 1
    # below the margin no L-inf perturbation can succeed, and the attack must not claim one
    adv, used = audit.square_linf(model, x, np.array([1]), eps=0.9 * needed, queries=300,
                                  seed=seed)
    assert model.predict(adv)[0] == 1 and used[0] == 300


def test_square_attack_respects_the_box_the_ball_and_the_budget():
    model = nr.MLP((16,), caps={1: 0.1}, seed=0)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(20, 784)).astype(np.float32)
    y = rng.integers(0, 10, 20)
    adv, used = audit.square_linf(model, x, y, eps=0.1, queries=50)
    assert adv.min() >= 0 and adv.max() <= 1
    assert np.abs(adv - x).max() <= np.float32(0.1) + 1e-7
    assert used.max() <= 50


def test_adaptive_pgd_stays_in_the_ball_and_is_at_least_as_strong_as_its_first_run():
    model = nr.MLP((16, 8), caps={2: 0.05}, seed=1)
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(50, 784)).astype(np.float32)
    y = model.predict(x)  # start from inputs the model gets "right"
    one = audit.pgd_adaptive(model, x, y, 0.1, 0.01, 10, restarts=0, loss="ce")
    np.testing.assert_array_equal(one, nr.pgd(model, x, y, 0.1, 0.01, 10))
    more = audit.pgd_adaptive(model, x, y, 0.1, 0.01, 10, restarts=3, loss="margin", bpda=True)
    assert np.abs(more - x).max() <= np.float32(0.1) + 1e-7 and more.min() >= 0
    assert nr.accuracy(model, more, y) <= 1.0


def test_worst_case_counts_an_input_only_if_it_survives_everything():
    model = nr.MLP((8,), seed=0)
    x = np.random.default_rng(0).uniform(size=(30, 784)).astype(np.float32)
    y = model.predict(x)
    y[:5] = (y[:5] + 1) % 10  # five inputs wrong before any attack
    res = audit.robust_per_input(model, x, y, {"none": x, "all": x[::-1]})
    assert res["clean"].sum() == 25 and np.array_equal(res["none"], res["clean"])
    reversed_ok = model.predict(x[::-1]) == y
    np.testing.assert_array_equal(res["all"], res["clean"] & reversed_ok)
    np.testing.assert_array_equal(res["worst_case"], res["clean"] & reversed_ok)


@pytest.mark.slow
def test_worst_case_is_never_above_pgd_on_a_trained_model(mnist, trained_general):
    _, (xt, yt) = mnist
    x, y = xt[:300], yt[:300]
    m = trained_general
    advs = {"pgd": nr.pgd(m, x, y, 0.1, 0.01, 10),
            "pgd_adaptive": audit.pgd_adaptive(m, x, y, 0.1, 0.01, 20, restarts=2),
            "square": audit.square_linf(m, x, y, 0.1, queries=200)[0]}
    res = {k: 100 * v.mean() for k, v in audit.robust_per_input(m, x, y, advs).items()}
    assert res["worst_case"] <= res["pgd"] and res["worst_case"] <= res["square"]
    assert res["worst_case"] < res["clean"]
