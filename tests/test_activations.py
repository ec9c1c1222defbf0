"""The activations: plain NumPy definitions, their fused kernels, and both kinks of the cap."""

import numpy as np
import pytest

import nprelu as nr
from tests.helpers import numeric_grad, rel_err


def apply(act, z):
    """act(z) through the fused kernel (as an Activation layer), for z (N, H)."""
    return nr.Activation(act).forward(z)[0]

ACTS = [nr.relu(), nr.capped_relu(0.7), nr.scaled_sigmoid(1.0), nr.scaled_sigmoid(5.0),
        nr.scaled_tanh(3.0)]


def kernel_backward(act, z, da, straight_through=False):
    """dz and db through the fused kernel, from the forward output."""
    a = apply(act, z)
    dz, db = np.empty_like(z), np.empty(z.shape[1], z.dtype)
    act.backward(z, a, da, dz, db, True, straight_through=straight_through)
    return dz, db


def test_capped_relu_values():
    z = np.array([[-1.0, 0.0, 0.05, 0.1, 0.2, 5.0]], np.float32)
    want = np.array([[0, 0, 0.05, 0.1, 0.1, 0.1]], np.float32)
    np.testing.assert_array_equal(nr.capped_relu(0.1).fn(z), want)
    np.testing.assert_array_equal(apply(nr.capped_relu(0.1), z), want)


@pytest.mark.parametrize("beta", [0.01, 0.1, 1.0])
def test_capped_relu_derivative_on_both_sides_of_both_kinks(beta):
    d = 1e-4 * beta
    z = np.array([[-d, 0.0, d, beta - d, beta, beta + d]], np.float64)
    # 0 below 0, 0 at the kink 0, 1 inside, 1 just below beta, 0 at beta, 0 above beta
    want = [[0, 0, 1, 1, 0, 0]]
    act = nr.capped_relu(beta)
    np.testing.assert_array_equal(act.grad(z), want)
    np.testing.assert_array_equal(kernel_backward(act, z, np.ones_like(z))[0], want)


def test_relu_has_no_upper_kink():
    z = np.array([[-1.0, 0.0, 1e-3, 1e6]])
    np.testing.assert_array_equal(nr.relu().grad(z), [[0, 0, 1, 1]])
    np.testing.assert_array_equal(kernel_backward(nr.relu(), z, np.ones_like(z))[0],
                                  [[0, 0, 1, 1]])


def test_straight_through_passes_the_relu_gradient_through_the_cap():
    z = np.array([[-1.0, 0.05, 0.5, 3.0]])
    dz, _ = kernel_backward(nr.capped_relu(0.1), z, np.ones_like(z), straight_through=True)
    np.testing.assert_array_equal(dz, [[0, 1, 1, 1]])  # the cap no longer blocks z > beta


@pytest.mark.parametrize("act", ACTS, ids=lambda a: a.name)
def test_grad_matches_finite_differences_and_the_kernel(act):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 6))
    z[np.abs(z) < 0.02] = 0.5  # keep away from the kinks, where differences are undefined
    z[np.abs(z - 0.7) < 0.02] = 0.5
    w = rng.normal(size=z.shape)
    num = numeric_grad(lambda: float((act.fn(z) * w).sum()), z)
    assert rel_err(act.grad(z) * w, num) < 1e-7
    dz, db = kernel_backward(act, z, w)
    np.testing.assert_allclose(dz, act.grad(z) * w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(db, (act.grad(z) * w).sum(0), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("act", ACTS, ids=lambda a: a.name)
def test_kernel_forward_is_fn(act):
    z = np.random.default_rng(1).normal(size=(5, 7)) * 3
    np.testing.assert_allclose(apply(act, z), act.fn(z), rtol=1e-12, atol=1e-15)


def test_scaled_sigmoid_narrows_with_c():
    z = np.array([[0.5]])
    assert nr.scaled_sigmoid(10).fn(z)[0, 0] > nr.scaled_sigmoid(1).fn(z)[0, 0]


@pytest.mark.parametrize("beta", [0, -1, float("nan"), "x", True])
def test_bad_beta_is_refused(beta):
    with pytest.raises(ValueError, match="beta must be"):
        nr.capped_relu(beta)
