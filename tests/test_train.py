import numpy as np
import pytest

import nprelu as nr


def _toy(seed=0, n=200):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > x[:, 1]).astype(np.int64)
    return x, y


def test_training_is_deterministic_given_the_seed():
    x, y = _toy()
    a, b = nr.MLP((16,), seed=0, n_in=4), nr.MLP((16,), seed=0, n_in=4)
    nr.train(a, x, y, epochs=2, seed=5, progress=False)
    nr.train(b, x, y, epochs=2, seed=5, progress=False)
    np.testing.assert_array_equal(a.params, b.params)
    c = nr.MLP((16,), seed=0, n_in=4)
    nr.train(c, x, y, epochs=2, seed=6, progress=False)
    assert not np.array_equal(a.params, c.params)


def test_training_lowers_the_loss():
    x, y = _toy()
    model = nr.MLP((16,), seed=0, n_in=4)
    hist = nr.train(model, x, y, epochs=10, batch_size=16, lr=1e-2, progress=False)
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]


def test_adam_first_step_moves_each_parameter_by_lr():
    """With bias correction, Adam's first step is lr * sign(g) (up to eps)."""
    p = np.array([1.0, 2.0, 3.0], np.float32)
    opt = nr.Adam([p], lr=0.1)
    opt.step([np.array([0.5, -2.0, 1e-3], np.float32)])
    np.testing.assert_allclose(p, [0.9, 2.1, 2.9], rtol=1e-5)


def test_adversary_hook_is_called_with_each_batch():
    x, y = _toy(n=64)
    seen = []

    def adversary(model, xb, yb):
        seen.append(len(xb))
        return xb

    model = nr.MLP((8,), n_in=4)
    nr.train(model, x, y, epochs=1, batch_size=32, adversary=adversary, progress=False)
    assert seen == [32, 32]


@pytest.mark.slow
def test_one_epoch_on_mnist_reaches_95_percent(mnist):
    (x, y), (xt, yt) = mnist
    model = nr.MLP((392, 196), seed=0)
    nr.train(model, x, y, epochs=1, batch_size=32, seed=0, progress=False)
    acc = float((model.predict(xt) == yt).mean())
    assert acc > 0.95, acc
