"""Float64 central-difference checks of every hand-written gradient: layer, model, input."""

import numpy as np
import pytest

import nprelu as nr
from tests.helpers import numeric_grad, rel_err

TOL = 1e-6


def test_dense_backward():
    rng = np.random.default_rng(0)
    layer = nr.Dense(5, 3)
    layer.W, layer.b = rng.normal(size=(5, 3)), rng.normal(size=3)
    layer.dW, layer.db = np.zeros_like(layer.W), np.zeros_like(layer.b)
    x = rng.normal(size=(4, 5))
    w = rng.normal(size=(4, 3))  # L = sum(w * z)
    dx = layer.backward(layer.forward(x)[1], w)
    loss = lambda: float((layer.forward(x)[0] * w).sum())  # noqa: E731
    assert rel_err(dx, numeric_grad(loss, x)) < TOL
    assert rel_err(layer.dW, numeric_grad(loss, layer.W)) < TOL
    assert rel_err(layer.db, numeric_grad(loss, layer.b)) < TOL


NETS = {
    "relu": dict(hidden=(6, 5)),
    "capped_hl2": dict(hidden=(6, 5), caps={2: 0.4}),
    "capped_all": dict(hidden=(6, 5, 4), caps={1: 0.5, 2: 0.3, 3: 0.8}),
    "sigmoid_c5": dict(hidden=(6, 5), activation="sigmoid", c=5.0),
    "tanh_c3": dict(hidden=(6,), activation="tanh", c=3.0),
}


def _tiny(name, seed=0):
    model = nr.MLP(n_in=8, n_out=4, seed=seed, dtype=np.float64, **NETS[name])
    rng = np.random.default_rng(seed)
    model.params[...] = rng.normal(size=model.params.shape) * 0.8
    x = rng.uniform(size=(3, 8))
    y = rng.integers(0, 4, 3)
    return model, x, y


def _away_from_kinks(model, x):
    """Finite differences across a kink are meaningless; check no unit sits within 1e-4 of one."""
    for (_, z, _), act in zip(model.forward(x)[1], model.acts):
        if isinstance(act, nr.CappedReLU):
            assert np.min(np.abs(z)) > 1e-4 and np.min(np.abs(z - act.beta)) > 1e-4


@pytest.mark.parametrize("name", NETS)
def test_model_parameter_gradient(name):
    model, x, y = _tiny(name)
    _away_from_kinks(model, x)
    model.loss_and_param_grads(x, y)
    ana = model.grads.copy()
    num = numeric_grad(lambda: float(model.loss(x, y).mean()), model.params)
    assert rel_err(ana, num) < TOL


@pytest.mark.parametrize("name", NETS)
def test_model_input_gradient(name):
    model, x, y = _tiny(name)
    _away_from_kinks(model, x)
    loss, dx = model.input_gradient(x, y)
    num = numeric_grad(lambda: float(model.loss(x, y).sum()), x)
    assert rel_err(dx, num) < TOL
    np.testing.assert_allclose(loss, model.loss(x, y))


def test_capped_net_has_units_in_all_three_regions():
    """The capped check above is only meaningful if some units are below 0, inside and above."""
    model, x, _ = _tiny("capped_all")
    z = np.concatenate([c[1].ravel() for c in model.forward(x)[1] if c[1] is not None])
    assert (z < 0).any() and ((z > 0) & (z < 0.3)).any() and (z > 0.8).any()


def logit_jacobian(model, x):
    """dZ_k/dx for every class k: (N, n_out, n_in), one backward pass per class."""
    logits, cache = model.forward(x)
    jac = np.empty((len(logits), model.n_out, model.n_in), model.dtype)
    for k in range(model.n_out):
        onehot = np.zeros_like(logits)
        onehot[:, k] = 1
        jac[:, k] = model.backward(cache, onehot, param_grads=False)
    return jac


def test_logit_jacobian():
    model, x, _ = _tiny("capped_hl2")
    jac = logit_jacobian(model, x)
    for k in range(4):
        num = numeric_grad(lambda k=k: float(model.logits(x)[:, k].sum()), x)
        assert rel_err(jac[:, k], num) < TOL


def test_negative_control_gradcheck_catches_a_wrong_gradient():
    """A deliberately wrong backward (derivative of the cap taken as 1 everywhere) must fail."""
    model, x, y = _tiny("capped_hl2")
    num = numeric_grad(lambda: float(model.loss(x, y).sum()), x)
    wrong = model.copy().set_caps({2: None})  # forward without the cap = backward ignoring it
    assert rel_err(model.input_gradient(x, y)[1], num) < TOL
    _, dx_wrong = wrong.input_gradient(x, y)
    assert rel_err(dx_wrong, num) > 1e-2
