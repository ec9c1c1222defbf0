"""IBP training: its hand-written gradient, its schedule, and that it (and CROWN-IBP, whose
gradient is checked in test_crown_ibp) does what it is for."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
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
@pytest.mark.parametrize("certified_training", [_ibp_trained, _crown_ibp_trained],
                         ids=["ibp", "crown_ibp"])
def test_certified_training_makes_certificates_hold(mnist, certified_training):
    (x, y), (xt, yt) = mnist
    x, y, xs, ys = x[:6000], y[:6000], xt[:300], yt[:300]
    plain = nr.MLP((64,), seed=0)
    nr.train(plain, x, y, epochs=4, batch_size=50, progress=False)
    certified = nr.MLP((64,), seed=0)
    certified_training(certified, x, y)
    before = C.certify(plain, xs, ys, 0.05).certified.mean()
    after = C.certify(certified, xs, ys, 0.05).certified.mean()
    assert after > before + 0.3, (before, after)
    assert nr.accuracy(certified, xs, ys) > 0.8
