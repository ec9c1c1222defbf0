"""IBP training: its hand-written gradient, its schedule, and that it (and CROWN-IBP, whose
gradient is checked in test_crown_ibp) does what it is for."""

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import nprelu as nr
from nprelu import certify as C
from nprelu import objectives as O
from nprelu.losses import softmax_cross_entropy
from nprelu.train import ibp_train
from tests.helpers import numeric_grad, rel_err


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), caps=st.sampled_from([{}, {2: 0.4}, {1: 0.5, 2: 0.3}]),
       eps=st.floats(0.01, 0.3))
def test_ibp_loss_gradient_matches_finite_differences(seed, caps, eps):
    model = nr.MLP((6, 5), caps=caps, n_in=8, n_out=4, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed)
    model.params[...] = rng.normal(size=model.params.shape) * 0.8
    x, y = rng.uniform(size=(3, 8)), rng.integers(0, 4, 3)
    zhat, cache = O.ibp_worst_logits(model, x, y, eps)
    bound = C.ibp_margins(model, x, y, eps)
    bound[np.arange(3), y] = 0
    np.testing.assert_allclose(zhat, -bound, atol=1e-12)  # the same bounds as certification
    # finite differences are meaningless where an interval end sits on a kink (0 or beta)
    for (_, _, l, u, _), act in zip(cache[0], model.acts):
        ends = np.concatenate([l.ravel(), u.ravel()])
        assume(np.min(np.abs(ends)) > 1e-5 and np.min(np.abs(ends - act.beta)) > 1e-5)
    _, dz = softmax_cross_entropy(zhat, y)
    grads = np.zeros_like(model.params)
    O.ibp_backward(model, cache, dz, grads)
    num = numeric_grad(lambda: float(softmax_cross_entropy(
        O.ibp_worst_logits(model, x, y, eps)[0], y)[0].sum()), model.params)
    assert rel_err(grads, num) < 1e-6


def _small_cnn(seed, caps, strided=False):
    """conv 2 x 3x3 (pad 1) -> max-pool 2 -> flatten -> dense 5 -> 3 logits, on 1 x 6 x 6
    inputs, float64, weights drawn large enough that every kink case occurs; strided: conv
    2 x 4x4 at stride 2, unpadded (overlapping patches), no pool, as in Gowal et al.'s CNNs."""
    conv = nr.Conv2D(1, 2, *((4, 2, 0) if strided else (3, 1, 1)),
                     nr.CappedReLU(caps.get(1, np.inf)))
    net = nr.Network([conv, *([] if strided else [nr.MaxPool2D(2)]), nr.Flatten(),
                      nr.Dense(8 if strided else 18, 5, nr.CappedReLU(caps.get(2, np.inf))),
                      nr.Dense(5, 3)],
                     (1, 6, 6), seed=seed, dtype=np.float64)
    net.params[...] = np.random.default_rng(seed).normal(size=net.params.shape) * 0.7
    return net


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), caps=st.sampled_from([{}, {1: 0.4}, {1: 0.5, 2: 0.3}]),
       eps=st.floats(0.01, 0.3), strided=st.booleans())
@example(seed=3, caps={1: 0.5, 2: 0.3}, eps=0.1, strided=True)
def test_ibp_loss_gradient_through_a_convolution_and_pooling(seed, caps, eps, strided):
    """The same check through Conv2D, MaxPool2D and Flatten (the general path), or through a
    strided unpadded convolution: the worst-case logits equal certification's IBP margins, the
    gradient equals float64 finite differences."""
    model = _small_cnn(seed, caps, strided)
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(size=(3, 36)), rng.integers(0, 3, 3)
    zhat, cache = O.ibp_worst_logits(model, x, y, eps)
    bound = C.ibp_margins(model, x, y, eps)
    bound[np.arange(3), y] = 0
    np.testing.assert_allclose(zhat, -bound, atol=1e-10)
    for entry in cache[0]:  # no interval end on a kink, no tie in a pooling window
        if entry[0].kind in ("dense", "conv2d"):
            ends = np.concatenate([entry[4].ravel(), entry[5].ravel()])
            beta = getattr(entry[0].act, "beta", np.inf)
            assume(np.min(np.abs(ends)) > 1e-5 and np.min(np.abs(ends - beta)) > 1e-5)
    _, dz = softmax_cross_entropy(zhat, y)
    grads = np.full_like(model.params, np.nan)  # every entry must be written
    O.ibp_backward(model, cache, dz, grads)
    num = numeric_grad(lambda: float(softmax_cross_entropy(
        O.ibp_worst_logits(model, x, y, eps)[0], y)[0].sum()), model.params, h=1e-6)
    assert rel_err(grads, num) < 1e-5


def test_the_general_ibp_path_gives_the_dense_path_on_a_dense_net():
    """_interval_forward/_interval_backward (written for any layers) on an MLP: the same
    worst-case logits and gradient as the dense fast path, to rounding."""
    model = nr.MLP((6, 5), caps={2: 0.4}, n_in=8, n_out=4, seed=3, dtype=np.float64)
    rng = np.random.default_rng(3)
    model.params[...] = rng.normal(size=model.params.shape) * 0.8
    x, y = rng.uniform(size=(4, 8)), rng.integers(0, 4, 4)
    zhat, cache = O.ibp_worst_logits(model, x, y, 0.1)
    _, dz = softmax_cross_entropy(zhat, y)
    fast = np.zeros_like(model.params)
    O.ibp_backward(model, cache, dz, fast)
    general_cache = []
    mu, r = O._interval_forward(model, (np.clip(x + 0.1, 0, 1) + np.clip(x - 0.1, 0, 1)) / 2,
                                (np.clip(x + 0.1, 0, 1) - np.clip(x - 0.1, 0, 1)) / 2,
                                general_cache)
    np.testing.assert_allclose(mu, cache[1], atol=1e-12)
    np.testing.assert_allclose(r, cache[2], atol=1e-12)
    general = np.zeros_like(model.params)
    last = slice(model.slice_of(model.layers[-1].W).start, None)
    general[last] = fast[last]  # the last layer's part is shared by both paths
    g_mu, g_r = _last_layer_input_grads(model, cache, dz)
    O._interval_backward(model, general_cache, g_mu, g_r, general)
    np.testing.assert_allclose(general, fast, atol=1e-12)


def _last_layer_input_grads(model, cache, dz):
    """dL/dmu and dL/dr of the last hidden output (what ibp_backward passes down), by running
    ibp_backward on a net whose hidden layers are then thrown away: recomputed here in full."""
    _, mu, r, diff, A, y = cache
    W = model.layers[-1].W
    n, k = len(y), W.shape[1]
    g_z = dz.copy()
    g_z[np.arange(n), y] -= dz.sum(axis=1)
    spread_grad = np.zeros((n, k * k))
    spread_grad[np.arange(n)[:, None], y[:, None] * k + np.arange(k)] = dz
    return g_z @ W.T, spread_grad @ A.reshape(len(W), k * k).T


def test_ibp_training_of_a_cnn_refuses_learned_caps():
    net = nr.Network([nr.Conv2D(1, 2, 3, 1, 1, nr.CappedReLU()), nr.Flatten(),
                      nr.Dense(72, 4, nr.LearnedCap(4)), nr.Dense(4, 3)], (1, 6, 6), seed=0)
    with pytest.raises(ValueError, match="fixed caps only"):
        O.ibp_worst_logits(net, np.zeros((1, 36), np.float32), np.array([0]), 0.1)


def test_schedule_warms_up_then_ramps_eps():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(200, 10)).astype(np.float32), rng.integers(0, 3, 200)
    model = nr.MLP((16,), n_in=10, n_out=3, seed=0)
    h = ibp_train(model, x, y, eps=0.1, epochs=6, batch_size=50, warmup=1, ramp=3,
                  progress=False)
    assert h["eps"][0] == 0 and h["eps"][-1] == pytest.approx(0.1) and h["eps"][2] < 0.1
    assert all(a <= b for a, b in zip(h["eps"], h["eps"][1:]))


def _ibp_trained(model, x, y):
    ibp_train(model, x, y, eps=0.1, epochs=4, batch_size=50, warmup=1, ramp=2, progress=False)


def _crown_ibp_trained(model, x, y):
    from nprelu.crown_ibp import CrownIBPMix

    nr.train(model, x, y, epochs=4, batch_size=50, progress=False,
             objective=CrownIBPMix(0.1, warmup=1, ramp=2, kappa_end=0.5))


@pytest.mark.slow
@pytest.mark.parametrize("certified_training,caps", [(_ibp_trained, None),
                                                     (_crown_ibp_trained, None),
                                                     (_crown_ibp_trained, {1: 1.0})],
                         ids=["ibp", "crown_ibp", "crown_ibp_capped"])
def test_certified_training_makes_certificates_hold(mnist, certified_training, caps):
    (x, y), (xt, yt) = mnist
    x, y, xs, ys = x[:6000], y[:6000], xt[:300], yt[:300]
    plain = nr.MLP((64,), caps=caps, seed=0)
    nr.train(plain, x, y, epochs=4, batch_size=50, progress=False)
    certified = nr.MLP((64,), caps=caps, seed=0)
    certified_training(certified, x, y)
    before = C.certify(plain, xs, ys, 0.05).certified.mean()
    after = C.certify(certified, xs, ys, 0.05).certified.mean()
    assert after > before + 0.3, (before, after)
    assert nr.accuracy(certified, xs, ys) > 0.8


def test_ibp_init_keeps_the_width_of_a_box_through_a_layer():
    """Shi et al.'s initialisation: sigma = sqrt(2 pi) / n_in makes the mean interval radius after
    x W exactly 2x the input's in expectation (n_in E|w| = n_in sigma sqrt(2/pi) = 2), where
    Glorot's uniform weights give n_in a / 2 with a = sqrt(6 / (n_in + n_out)): 28 for 784 -> 392.
    (A box of radius r becomes, after x W, a box of radius r * sum_i |W_ij| per unit.)"""
    from nprelu.train import ibp_init

    glorot = nr.MLP((392, 196), seed=3)
    model = ibp_init(nr.MLP((392, 196), seed=3), seed=3)
    first, second, last = model.layers
    assert abs(np.abs(first.W).sum(axis=0).mean() - 2.0) < 0.05
    assert abs(np.abs(second.W).sum(axis=0).mean() - 2.0) < 0.1
    assert abs(np.abs(glorot.layers[0].W).sum(axis=0).mean() - 784 * np.sqrt(6 / 1176) / 2) < 0.5
    assert np.array_equal(last.W, glorot.layers[2].W)  # the logits' layer keeps its weights
    assert not first.b.any() and not second.b.any()
    assert np.array_equal(model.params, ibp_init(nr.MLP((392, 196), seed=3), seed=3).params)
    with pytest.raises(ValueError, match="dense layers only"):
        ibp_init(nr.Network.cnn(convs=((2, 3),), dense=(4,), seed=0))
