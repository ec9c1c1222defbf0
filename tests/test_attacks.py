"""Attacks: properties on random nets, known answers on hand-built nets, and a real MNIST check."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nprelu as nr
from nprelu import kernels

D = 12


def _random_net(seed, caps=None):
    return nr.MLP((10, 8), caps=caps or {}, n_in=D, n_out=3, seed=seed)


def _data(seed, n=16):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, D)).astype(np.float32), rng.integers(0, 3, n)


def _linear_net(w, b, shift=50.0):
    """A 2-class net whose margin Z_1 - Z_0 = w.x + b exactly, for x in [0, 1]^D.

    One ReLU unit h = w.x + b + shift stays positive (so it is linear); Z_0 = -h/2 + shift/2,
    Z_1 = h/2 - shift/2. Weights are float64 so the known answers are exact."""
    m = nr.MLP((1,), n_in=len(w), n_out=2, dtype=np.float64)
    m.dense[0].W[:, 0], m.dense[0].b[0] = w, b + shift
    m.dense[1].W[0] = [-0.5, 0.5]
    m.dense[1].b[...] = [shift / 2, -shift / 2]
    return m


# ----------------------------------------------------------------- properties
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0, 1), step=st.floats(0, 0.3),
       iters=st.integers(0, 5), beta=st.sampled_from([None, 0.05, 1.0]))
def test_linf_attacks_stay_in_the_box_and_the_ball(seed, eps, step, iters, beta):
    model = _random_net(seed, {2: beta} if beta else None)
    x, y = _data(seed)
    for adv in (nr.fgsm(model, x, y, eps), nr.pgd(model, x, y, eps, step, iters),
                nr.pgd(model, x, y, eps, step, iters, random_start=True, seed=seed)):
        assert adv.min() >= 0 and adv.max() <= 1
        assert np.abs(adv - x).max() <= np.float32(eps) + 1e-7


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0, 0.5))
def test_pgd_with_one_step_of_eps_is_fgsm(seed, eps):
    model = _random_net(seed)
    x, y = _data(seed)
    np.testing.assert_array_equal(nr.pgd(model, x, y, eps, eps, 1), nr.fgsm(model, x, y, eps))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_eps_zero_changes_nothing(seed):
    model = _random_net(seed)
    x, y = _data(seed)
    np.testing.assert_array_equal(nr.fgsm(model, x, y, 0.0), x)
    np.testing.assert_array_equal(nr.pgd(model, x, y, 0.0, 0.01, 5), x)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0, 1))
def test_robust_accuracy_never_exceeds_clean(seed, eps):
    model = _random_net(seed)
    x, y = _data(seed, 64)
    adv = nr.pgd(model, x, y, eps, eps / 4, 4)
    assert nr.robust_accuracy(model, x, adv, y) <= nr.accuracy(model, x, y)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_cw_and_zero_gradient_outputs_stay_in_the_box(seed):
    model = _random_net(seed, {2: 0.1})
    x, y = _data(seed, 8)
    res = nr.cw_l2(model, x, y, steps=20, binary_steps=2)
    assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    zg = nr.zero_gradient_search(model, x, y, step=0.05, max_iters=20)
    assert zg.x.min() >= 0 and zg.x.max() <= 1


def test_bad_eps_is_refused():
    model = _random_net(0)
    x, y = _data(0)
    with pytest.raises(ValueError, match="eps"):
        nr.fgsm(model, x, y, -0.1)
    with pytest.raises(ValueError, match="eps"):
        nr.pgd(model, x, y, float("nan"), 0.01, 3)


# ----------------------------------------------------------------- known answers
def test_fgsm_on_a_linear_model_steps_along_sign_of_w_wrong_minus_w_true():
    rng = np.random.default_rng(0)
    w = rng.normal(size=D)
    model = _linear_net(w, 0.1)
    x = rng.uniform(0.3, 0.7, size=(2, D))
    y = np.array([0, 1])
    adv = nr.fgsm(model, x, y, 0.05)
    # effective logit weights: Z_0 has -w/2, Z_1 has +w/2, so w_1 - w_0 = w
    np.testing.assert_allclose(adv[0] - x[0], 0.05 * np.sign(w), atol=1e-12)
    np.testing.assert_allclose(adv[1] - x[1], 0.05 * np.sign(-w), atol=1e-12)


@pytest.mark.parametrize("kappa", [0.0, 0.5])
def test_cw_on_a_linear_model_finds_the_distance_to_the_hyperplane(kappa):
    rng = np.random.default_rng(1)
    w = rng.normal(size=D)
    x = np.full((3, D), 0.5) + rng.uniform(-0.05, 0.05, size=(3, D))
    b = -x @ w + np.array([0.4, -0.6, 0.8])  # margins w.x + b of 0.4, -0.6 and 0.8
    y = np.array([1, 0, 1])
    margin = x @ w  # per row: the net sees w.x + b_row; use one net per row
    for r in range(3):
        model = _linear_net(w, b[r])
        res = nr.cw_l2(model, x[r : r + 1], y[r : r + 1], steps=2000, lr=0.01,
                       binary_steps=9, kappa=kappa)
        assert res.success[0]
        dist = (abs(margin[r] + b[r]) + kappa) / np.linalg.norm(w)
        assert abs(res.l2[0] - dist) < 0.01 * dist, (res.l2[0], dist)
        final = nr.losses.logit_margin(model.logits(res.x_adv), y[r : r + 1])[0][0]
        assert -kappa - 0.02 < final < -kappa


def test_sensitivity_map_of_a_linear_model_is_the_closed_form():
    rng = np.random.default_rng(2)
    k, shift = 4, 50.0
    A = rng.normal(size=(D, k))
    model = nr.MLP((D,), n_in=D, n_out=k, dtype=np.float64)
    model.dense[0].W[...] = np.eye(D)
    model.dense[0].b[...] = shift  # hidden h = x + shift > 0: the ReLU is the identity here
    model.dense[1].W[...] = A
    x = rng.uniform(size=(5, D))
    t = rng.integers(0, k, 5)
    smap, total = nr.sensitivity_map(model, x, t)
    want = np.maximum(0, A[:, t].T * (A.sum(1)[None] - A[:, t].T))
    np.testing.assert_allclose(smap, want, rtol=1e-12)
    np.testing.assert_allclose(total, want.sum(1), rtol=1e-12)


def _saturating_net():
    """x (2 pixels) -> one unit z = x0 + x1 - 0.25 capped at beta = 0.5 -> Z = (h, -h)."""
    m = nr.MLP((1,), caps={1: 0.5}, n_in=2, n_out=2)
    m.dense[0].W[:, 0], m.dense[0].b[0] = [1, 1], -0.25
    m.dense[1].W[0], m.dense[1].b[...] = [1, -1], 0
    return m


@pytest.mark.parametrize("label, iteration, pixel", [(0, 18, 0.12), (1, 8, 0.38)])
def test_zero_gradient_search_stops_where_the_capped_unit_saturates(label, iteration, pixel):
    # label 0: the loss grows as h falls, so the search drives z = 0.35 - 0.02 k below 0 (k = 18);
    # label 1: h must rise, and z = 0.35 + 0.02 k passes beta = 0.5 at k = 8.
    model = _saturating_net()
    x = np.array([[0.3, 0.3]], np.float32)
    res = nr.zero_gradient_search(model, x, np.array([label]), step=0.01, max_iters=100)
    assert res.found[0] and res.iteration[0] == iteration
    np.testing.assert_allclose(res.x[0], [pixel, pixel], atol=1e-5)
    np.testing.assert_allclose(res.l2[0], np.sqrt(2) * abs(0.3 - pixel), atol=1e-5)
    short = nr.zero_gradient_search(model, x, np.array([label]), step=0.01, max_iters=5)
    assert not short.found[0] and short.iteration[0] == -1


def test_jitted_input_gradients_equal_the_numpy_twins(monkeypatch):
    model = _random_net(3, {1: 0.2})
    x, y = _data(3, 32)
    _, fast = model.input_gradient(x, y)
    per_sample = np.concatenate([model.input_gradient(x[i : i + 1], y[i : i + 1])[1]
                                 for i in range(len(x))])
    for name, (twin, _) in kernels.TWINS.items():
        monkeypatch.setattr(kernels, name, twin)
    _, slow = model.input_gradient(x, y)
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fast, per_sample, rtol=1e-5, atol=1e-7)


def test_adversarial_training_hooks_accept_fgsm_and_pgd():
    x, y = _data(0, 64)
    for adv in (nr.FGSM(0.1), nr.PGD(0.1, 0.01, 3)):
        model = _random_net(0)
        hist = nr.train(model, x, y, epochs=1, batch_size=16, adversary=adv, progress=False)
        assert np.isfinite(hist["loss"][0])


# ----------------------------------------------------------------- a real MNIST model
@pytest.mark.slow
def test_pgd_beats_fgsm_on_mnist(mnist, trained_general):
    _, (xt, yt) = mnist
    x, y = xt[:2000], yt[:2000]
    acc_fgsm = nr.accuracy(trained_general, nr.fgsm(trained_general, x, y, 0.1), y)
    acc_pgd = nr.accuracy(trained_general, nr.pgd(trained_general, x, y, 0.1, 0.01, 10), y)
    assert acc_pgd < acc_fgsm < nr.accuracy(trained_general, x, y)


@pytest.mark.slow
def test_cw_succeeds_on_mnist_with_small_l2(mnist, trained_general):
    _, (xt, yt) = mnist
    res = nr.cw_l2(trained_general, xt[:100], yt[:100], steps=1000, lr=0.01, initial_c=1e-3,
                   binary_steps=9)
    assert res.success.mean() >= 0.95
    assert np.median(res.l2[res.success]) < 2.0
    # every reported point really is misclassified, at the reported distance
    ok = res.success
    assert np.all(trained_general.predict(res.x_adv[ok]) != yt[:100][ok])
    np.testing.assert_allclose(np.linalg.norm(res.x_adv[ok] - xt[:100][ok], axis=1),
                               res.l2[ok], rtol=1e-4)


def softmax_pitfall_net():
    """(a, b, p, model, x, y): the 3-class net of the test below, where only pixel 0 matters,
    at x_0 = 0.5 with softmax output p for true class 0."""
    a, b = 1.0, 1.55
    p = np.array([0.5, 0.3, 0.2])
    model = nr.MLP((1,), n_out=3, seed=0)
    hidden, out = model.dense
    hidden.W[...] = 0.0
    hidden.W[0, 0], hidden.b[0] = 1.0, 10.0  # h = x_0 + 10 > 0: the ReLU is the identity here
    out.W[...] = [[0.0, a, -b]]
    out.b[...] = np.log(p) - np.array([0.0, a, -b]) * 10.5
    return a, b, p, model, np.full((1, 784), 0.5, np.float32), np.array([0])


def test_the_softmax_output_pitfall_turns_fgsm_the_other_way():
    """Known answer. A net with 3 classes where only pixel 0 matters: at x_0 = 0.5 its softmax
    output is p = (0.5, 0.3, 0.2) for true class 0, and raising x_0 raises z_1 by 1 and lowers
    z_2 by 1.55. The cross-entropy of the logits then has d/dx_0 = 0.3 - 0.2 * 1.55 < 0, while
    the cross-entropy of the softmax output (probabilities taken as logits, what cleverhans
    computes on a Keras softmax model) weights the classes by p * (g - <p, g>) and gets the
    opposite sign: FGSM moves pixel 0 down in one case and up in the other."""
    a, b, p, model, x, y = softmax_pitfall_net()
    z = model.forward(x)[0][0].astype(np.float64)
    np.testing.assert_allclose(np.exp(z) / np.exp(z).sum(), p, rtol=1e-5)
    # the two signs, by hand
    onehot = np.array([1.0, 0, 0])
    d_ce = p - onehot
    g = np.exp(p) / np.exp(p).sum() - onehot
    d_out = p * (g - p @ g)
    sign_ce, sign_out = np.sign(d_ce[1] * a - d_ce[2] * b), np.sign(d_out[1] * a - d_out[2] * b)
    assert (sign_ce, sign_out) == (-1, 1)
    step_ce = nr.fgsm(model, x, y, 0.1) - x
    step_out = nr.fgsm(model, x, y, 0.1, loss="softmax_output") - x
    assert np.sign(step_ce[0, 0]) == sign_ce and np.sign(step_out[0, 0]) == sign_out
    assert not step_ce[0, 1:].any() and not step_out[0, 1:].any()  # no other pixel matters


def test_pgd_without_the_box_leaves_0_1_and_with_it_never_does():
    rng = np.random.default_rng(0)
    model = nr.MLP((16,), seed=0)
    x = rng.uniform(size=(20, 784)).astype(np.float32)
    x[:, :100] = 0.0  # background pixels at the edge of the box
    y = rng.integers(0, 10, 20)
    boxed = nr.pgd(model, x, y, 0.1, 0.02, 5)
    free = nr.pgd(model, x, y, 0.1, 0.02, 5, box=False)
    assert boxed.min() >= 0 and boxed.max() <= 1
    assert free.min() < 0  # pushed below the black background
    assert np.abs(free - x).max() <= np.float32(0.1) + 1e-7
    assert np.abs(nr.fgsm(model, x, y, 0.1, box=False) - x).max() == pytest.approx(0.1)


def test_a_start_radius_larger_than_eps_puts_most_pixels_on_the_ball():
    """cleverhans' madry_et_al: uniform in [-0.3, 0.3], clipped to eps = 0.1, leaves 2/3 of the
    pixels exactly at +-eps (seen with 0 iterations and no box)."""
    model = nr.MLP((16,), seed=0)
    x = np.full((50, 784), 0.5, np.float32)
    y = np.zeros(50, np.int64)
    start = nr.pgd(model, x, y, 0.1, 0.01, 0, random_start=True, seed=0, start_radius=0.3,
                   box=False)
    on_ball = np.isclose(np.abs(start - x), 0.1, atol=1e-6).mean()
    assert on_ball == pytest.approx(2 / 3, abs=0.01)
    with pytest.raises(ValueError, match="random_start"):
        nr.pgd(model, x, y, 0.1, 0.01, 1, start_radius=0.3)
