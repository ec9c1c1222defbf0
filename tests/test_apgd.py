"""APGD and the DLR losses: known answers, a property, and strength against PGD."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import nprelu as nr
from nprelu.apgd import apgd, apgd_targeted
from nprelu.audit import masking_flags
from nprelu.losses import dlr_loss, dlr_loss_targeted
from tests.helpers import numeric_grad, rel_err

D = 12


def linear3(w, b, shift=50.0):
    """3 classes, margin Z_1 - Z_0 = w.x + b exactly (one ReLU unit kept positive), Z_2 far
    below: the smallest margin over an L-inf ball is at the corner x - eps sign(w)."""
    m = nr.MLP((1,), n_in=len(w), n_out=3, dtype=np.float64)
    m.dense[0].W[:, 0], m.dense[0].b[0] = w, b + shift
    m.dense[1].W[0] = [-0.5, 0.5, 0.0]
    m.dense[1].b[...] = [shift / 2, -shift / 2, -100.0]
    return m


@pytest.mark.parametrize("loss", ["ce", "dlr"])
@pytest.mark.parametrize("seed", range(3))
def test_apgd_reaches_the_minimal_margin_corner_of_a_linear_model(loss, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=D)
    x = rng.uniform(0.3, 0.7, size=(1, D))
    model = linear3(w, -(x @ w)[0] + 2.0)  # margin 2 at x; eps 0.05 cannot reach the plane
    eps = 0.05
    res = apgd(model, x, np.array([1]), eps, iters=100, loss=loss, seed=seed)
    assert not res.fooled[0]
    np.testing.assert_array_equal(res.x_adv, np.clip(x - eps * np.sign(w), 0, 1))


def test_apgd_flips_a_linear_model_when_eps_suffices():
    rng = np.random.default_rng(0)
    w = rng.normal(size=D)
    x = rng.uniform(0.3, 0.7, size=(1, D))
    model = linear3(w, -(x @ w)[0] + 0.5)
    eps = 1.2 * 0.5 / np.abs(w).sum()
    res = apgd(model, x, np.array([1]), eps, iters=50)
    assert res.fooled[0] and model.predict(res.x_adv)[0] != 1
    assert np.abs(res.x_adv - x).max() <= eps + 1e-12


@settings(max_examples=50, deadline=None)
@given(z=arrays(np.float64, (4, 10), elements=st.floats(-50, 50)),
       scale=st.floats(0.01, 100), shift=st.floats(-100, 100))
def test_dlr_is_invariant_to_shifting_and_scaling_the_logits(z, scale, shift):
    z = z + np.arange(10) * 1e-3  # distinct logits (DLR's denominator needs a spread)
    y = np.array([0, 3, 5, 9])
    t = np.array([1, 4, 6, 0])
    np.testing.assert_allclose(dlr_loss(scale * z + shift, y)[0], dlr_loss(z, y)[0],
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dlr_loss_targeted(scale * z + shift, y, t)[0],
                               dlr_loss_targeted(z, y, t)[0], rtol=1e-6, atol=1e-9)


def test_dlr_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 10)) * 3
    y, t = rng.integers(0, 10, 6), rng.integers(0, 10, 6)
    t[t == y] = (y[t == y] + 1) % 10
    for f, args in ((dlr_loss, (y,)), (dlr_loss_targeted, (y, t))):
        num = numeric_grad(lambda f=f, args=args: float(f(z, *args)[0].sum()), z)
        assert rel_err(f(z, *args)[1], num) < 1e-7


def test_dlr_needs_enough_classes():
    with pytest.raises(ValueError, match="at least 3 classes"):
        dlr_loss(np.zeros((2, 2)), np.array([0, 1]))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), eps=st.floats(0, 0.5))
def test_apgd_stays_in_the_ball_and_the_box(seed, eps):
    model = nr.MLP((10, 8), caps={2: 0.2}, n_in=D, n_out=4, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(16, D)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    for res in (apgd(model, x, y, eps, iters=8, loss="dlr", seed=seed),
                apgd_targeted(model, x, y, eps, iters=5, n_targets=3, seed=seed)):
        assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
        assert np.abs(res.x_adv - x).max() <= np.float32(eps) + 1e-7
        assert np.all(model.predict(res.x_adv[res.fooled]) != y[res.fooled]) or eps == 0


def test_masking_flags_name_what_they_saw():
    flags = masking_flags({"fgsm": 90.0, "pgd": 95.0, "apgd_ce": 93.0, "square": 30.0,
                           "zero_gradient_share": 93.2, "eps_curve_pgd": [96.0, 90.0]})
    assert flags["zero_gradient"] and flags["gradient_free_wins"] and flags["not_broken_at_eps_1"]
    assert "93.2 % of the inputs" in flags["warnings"][0]
    honest = masking_flags({"fgsm": 60.0, "pgd": 40.0, "square": 55.0,
                            "zero_gradient_share": 0.0, "eps_curve_pgd": [90.0, 0.0]})
    assert not any(honest[k] for k in ("zero_gradient", "gradient_free_wins",
                                       "not_broken_at_eps_1")) and honest["warnings"] == []


@pytest.mark.slow
def test_apgd_is_at_least_as_strong_as_pgd10_on_a_trained_net(mnist, trained_general):
    _, (xt, yt) = mnist
    x, y = xt[:500], yt[:500]
    m = trained_general
    acc_pgd = nr.accuracy(m, nr.pgd(m, x, y, 0.1, 0.01, 10), y)
    for loss in ("ce", "dlr"):
        res = apgd(m, x, y, 0.1, iters=100, loss=loss)
        assert nr.accuracy(m, res.x_adv, y) <= acc_pgd
        assert 1 - res.fooled.mean() <= acc_pgd
