"""The activations and their derivatives, including both kinks of the capped ReLU."""

import numpy as np
import pytest

import nprelu as nr
from tests.helpers import numeric_grad, rel_err


def test_capped_relu_values():
    z = np.array([[-1.0, 0.0, 0.05, 0.1, 0.2, 5.0]], np.float32)
    a = nr.capped_relu(0.1).forward(z)
    np.testing.assert_array_equal(a, np.array([[0, 0, 0.05, 0.1, 0.1, 0.1]], np.float32))


@pytest.mark.parametrize("beta", [0.01, 0.1, 1.0])
def test_capped_relu_derivative_on_both_sides_of_both_kinks(beta):
    d = 1e-4 * beta
    z = np.array([[-d, 0.0, d, beta - d, beta, beta + d]], np.float64)
    dz = nr.capped_relu(beta).backward(z, nr.capped_relu(beta).forward(z), np.ones_like(z))
    # 0 below 0, 0 at the kink 0, 1 inside, 1 just below beta, 0 at beta, 0 above beta
    np.testing.assert_array_equal(dz, [[0, 0, 1, 1, 0, 0]])


def test_relu_has_no_upper_kink():
    z = np.array([[-1.0, 0.0, 1e-3, 1e6]])
    dz = nr.relu().backward(z, nr.relu().forward(z), np.ones_like(z))
    np.testing.assert_array_equal(dz, [[0, 0, 1, 1]])


@pytest.mark.parametrize(
    "act", [nr.relu(), nr.capped_relu(0.7), nr.scaled_sigmoid(1.0), nr.scaled_sigmoid(5.0),
            nr.scaled_tanh(3.0)], ids=lambda a: a.name)
def test_activation_backward_matches_finite_differences(act):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 6))
    z[np.abs(z) < 0.02] = 0.5  # keep away from the kinks, where differences are undefined
    z[np.abs(z - 0.7) < 0.02] = 0.5
    w = rng.normal(size=z.shape)
    num = numeric_grad(lambda: float((act.forward(z) * w).sum()), z)
    ana = act.backward(z, act.forward(z), w)
    assert rel_err(ana, num) < 1e-7


def test_scaled_sigmoid_narrows_with_c():
    z = np.array([[0.5]])
    assert nr.scaled_sigmoid(10).forward(z)[0, 0] > nr.scaled_sigmoid(1).forward(z)[0, 0]


@pytest.mark.parametrize("beta", [0, -1, float("nan"), "x"])
def test_bad_beta_is_refused(beta):
    with pytest.raises(ValueError, match="must be"):
        nr.capped_relu(beta)
