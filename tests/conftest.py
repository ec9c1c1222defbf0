import numpy as np
import pytest

import nprelu as nr


def numeric_grad(f, x, h=1e-6):
    """Central differences of a scalar function f at x (float64), same shape as x."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(1e-12, np.max(np.abs(a)) + np.max(np.abs(b))))


@pytest.fixture(scope="session")
def mnist():
    return nr.load_mnist()


@pytest.fixture(scope="session")
def trained_general(mnist):
    """An uncapped (392, 196) net trained for 3 epochs; shared by the slow tests of a session."""
    (x, y), _ = mnist
    model = nr.MLP((392, 196), seed=0)
    nr.train(model, x, y, epochs=3, batch_size=32, seed=0, progress=False)
    return model
