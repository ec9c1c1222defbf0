"""The layers beyond the paper's dense nets: Conv2D, MaxPool2D, Flatten, the standalone
activation, the learned cap. Float64 central differences against every hand-written backward,
each with a negative control that a deliberately wrong gradient fails."""

import numpy as np
import pytest

import nprelu as nr
from nprelu import kernels
from tests.helpers import numeric_grad, rel_err

TOL = 1e-6


def _run(layer, x, w):
    """L = sum(w * layer(x)) and its analytic gradients (dx, and the layer's dW, db, dm)."""
    y, cache = layer.forward(x)
    dx = layer.backward(cache, w)
    return dx


def _bind64(layer, rng, scale=0.5):
    """Give a layer float64 parameter arrays (random) and gradient arrays."""
    values, grads = {}, {}
    for name, shape in layer.params.items():
        values[name] = rng.normal(size=shape) * scale
        grads[name] = np.zeros(shape)
    layer.bind(values, grads)
    return values, grads


@pytest.mark.parametrize("k, stride, pad", [(3, 1, 1), (3, 2, 1), (2, 2, 0), (5, 1, 2)])
def test_conv_backward_matches_finite_differences(k, stride, pad):
    rng = np.random.default_rng(k * 10 + stride + pad)
    layer = nr.Conv2D(2, 3, k, stride, pad)
    values, grads = _bind64(layer, rng)
    x = rng.normal(size=(2, 2, 7, 6))
    w = rng.normal(size=(2, *layer.out_shape((2, 7, 6))))
    loss = lambda: float((layer.forward(x)[0] * w).sum())  # noqa: E731
    dx = _run(layer, x, w)
    assert rel_err(dx, numeric_grad(loss, x)) < TOL
    assert rel_err(grads["W"], numeric_grad(loss, values["W"])) < TOL
    assert rel_err(grads["b"], numeric_grad(loss, values["b"])) < TOL


def test_conv_with_a_capped_activation_per_channel():
    rng = np.random.default_rng(3)
    layer = nr.Conv2D(1, 3, 3, 1, 1, activation=nr.CappedReLU(np.array([0.4, 0.9, np.inf])))
    values, grads = _bind64(layer, rng)
    x = rng.normal(size=(2, 1, 6, 6))
    z = layer.linear(x) + values["b"][None, :, None, None]
    assert np.min(np.abs(z)) > 1e-4 and np.min(np.abs(z - np.array([0.4, 0.9, 1e9])[None, :, None,
                                                                                    None])) > 1e-4
    w = rng.normal(size=(2, 3, 6, 6))
    out = layer.forward(x)[0]
    assert out[:, 0].max() <= 0.4 and out[:, 1].max() <= 0.9 and out[:, 2].max() > 0.9
    loss = lambda: float((layer.forward(x)[0] * w).sum())  # noqa: E731
    dx = _run(layer, x, w)
    assert rel_err(dx, numeric_grad(loss, x)) < TOL
    assert rel_err(grads["W"], numeric_grad(loss, values["W"])) < TOL


def test_negative_control_a_conv_backward_that_forgets_the_padding_fails(monkeypatch):
    rng = np.random.default_rng(4)
    layer = nr.Conv2D(2, 2, 3, 1, 1)
    _bind64(layer, rng)
    x = rng.normal(size=(1, 2, 5, 5))
    w = rng.normal(size=(1, 2, 5, 5))
    num = numeric_grad(lambda: float((layer.forward(x)[0] * w).sum()), x)
    assert rel_err(_run(layer, x, w), num) < TOL
    monkeypatch.setattr(kernels, "col2im", _col2im_shifted)
    assert rel_err(_run(layer, x, w), num) > 1e-2


def _col2im_shifted(cols, k, stride, pad, dx):
    """A wrong col2im: every patch lands one pixel to the right of where it came from."""
    kernels._col2im(cols, k, stride, pad, dx)
    dx[...] = np.roll(dx, 1, axis=3)


def test_maxpool_backward_matches_finite_differences_and_routes_to_the_max():
    rng = np.random.default_rng(5)
    layer = nr.MaxPool2D(2)
    x = rng.normal(size=(2, 3, 6, 5))  # the last column does not fill a window: dropped
    w = rng.normal(size=(2, 3, 3, 2))
    dx = _run(layer, x, w)
    assert rel_err(dx, numeric_grad(lambda: float((layer.forward(x)[0] * w).sum()), x)) < TOL
    assert not dx[..., 4].any()  # the dropped column gets no gradient
    windows = dx[..., :4].reshape(2, 3, 3, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
    assert (np.count_nonzero(windows.reshape(2, 3, 3, 2, 4), axis=-1) == 1).all()  # one each


def test_negative_control_a_maxpool_backward_to_the_wrong_input_fails(monkeypatch):
    """Route each window's gradient to its first input instead of its maximum: caught."""
    rng = np.random.default_rng(7)
    layer = nr.MaxPool2D(2)
    x = rng.normal(size=(2, 2, 4, 4))
    w = rng.normal(size=(2, 2, 2, 2))
    num = numeric_grad(lambda: float((layer.forward(x)[0] * w).sum()), x)
    assert rel_err(_run(layer, x, w), num) < TOL
    monkeypatch.setattr(kernels, "maxpool_backward",
                        lambda dout, arg, k, dx: kernels._maxpool_backward(dout, arg * 0, k, dx))
    assert rel_err(_run(layer, x, w), num) > 1e-2


def test_maxpool_ties_go_to_the_first_maximum_in_row_major_order():
    layer = nr.MaxPool2D(2)
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])  # three tied maxima
    out, cache = layer.forward(x)
    assert out[0, 0, 0, 0] == 3.0
    dx = layer.backward(cache, np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, 0], [[0, 1], [0, 0]])  # (0, 1): first in row-major


def test_flatten_is_c_order_and_its_backward_the_inverse():
    layer = nr.Flatten()
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    y, cache = layer.forward(x)
    np.testing.assert_array_equal(y[1], np.arange(12.0, 24.0))
    np.testing.assert_array_equal(layer.backward(cache, y), x)


def test_learned_cap_gradients_in_z_and_m():
    """a = min(max(z, 0), max(m, 0)): dz and dm against finite differences, away from kinks;
    one unit with m < 0 (off: no gradient to anything)."""
    rng = np.random.default_rng(6)
    cap = nr.LearnedCap(5)
    m = np.array([0.5, 1.0, 2.0, -0.3, 0.8])
    dm = np.zeros(5)
    cap.bind({"m": m}, {"m": dm})
    layer = nr.Activation(cap)
    z = rng.normal(size=(7, 5)) * 1.5
    z[np.abs(z) < 1e-3] = 0.3
    z[np.abs(z - m) < 1e-3] += 0.1
    w = rng.normal(size=z.shape)
    loss = lambda: float((layer.forward(z)[0] * w).sum())  # noqa: E731
    dz = _run(layer, z, w)
    assert rel_err(dz, numeric_grad(loss, z)) < TOL
    num_m = numeric_grad(loss, m)
    assert rel_err(dm, num_m) < TOL
    assert dm[3] == 0 and num_m[3] == 0  # a cap <= 0: the unit is off, m gets nothing
    np.testing.assert_allclose(dm, (w * cap.grad_m(z)).sum(0))
    # negative control: "d/dm = 1 wherever z > m" (forgetting m > 0) is caught on unit 3
    wrong = (w * (z > m)).sum(0)
    assert rel_err(wrong, num_m) > 1e-3


def test_learned_cap_kinks_take_the_flat_side():
    cap = nr.LearnedCap(1)
    m = np.array([0.5])
    cap.bind({"m": m}, {"m": np.zeros(1)})
    z = np.array([[-0.1], [0.0], [0.2], [0.5], [0.7]])
    np.testing.assert_array_equal(cap.grad(z).ravel(), [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(cap.grad_m(z).ravel(), [0, 0, 0, 0, 1])  # at z = m: neither


def _tiny_cnn(dtype=np.float64, seed=0, act=None, randomise=True):
    """1x8x8 images -> conv 3x3 (4 ch, padding 1) -> maxpool 2 -> flatten -> dense 6 -> 3,
    with random parameters (every unit's region varies) unless not `randomise`."""
    layers = [nr.Conv2D(1, 4, 3, 1, 1, act or nr.CappedReLU(np.inf)), nr.MaxPool2D(2),
              nr.Flatten(), nr.Dense(64, 6, nr.CappedReLU(0.8)), nr.Dense(6, 3)]
    net = nr.Network(layers, (1, 8, 8), seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    if randomise:
        net.params[...] = rng.normal(size=net.params.shape) * 0.6
    x = rng.uniform(size=(3, 64))
    y = rng.integers(0, 3, 3)
    return net, x, y


def test_a_small_cnn_parameter_and_input_gradients():
    net, x, y = _tiny_cnn()
    net.loss_and_param_grads(x, y)
    ana = net.grads.copy()
    num = numeric_grad(lambda: float(net.loss(x, y).mean()), net.params)
    assert rel_err(ana, num) < TOL
    _, dx = net.input_gradient(x, y)
    assert rel_err(dx, numeric_grad(lambda: float(net.loss(x, y).sum()), x)) < TOL


def test_a_cnn_with_a_learned_cap_trains_its_caps():
    net, x, y = _tiny_cnn(act=nr.LearnedCap(4, init=0.7), randomise=False)
    layer = net.layers[0]
    np.testing.assert_array_equal(layer.act.m, 0.7)  # a parameter, initialised
    net.params[...] = np.random.default_rng(1).normal(size=net.params.shape) * 0.6
    net.loss_and_param_grads(x, y)
    num = numeric_grad(lambda: float(net.loss(x, y).mean()), net.params)
    assert rel_err(net.grads, num) < TOL
    assert np.shares_memory(layer.act.m, net.params)  # Adam updates the caps with the rest


def test_network_checks_its_layers_fit_together():
    with pytest.raises(ValueError, match="layer 2 .dense.*cannot take samples of shape"):
        nr.Network([nr.Conv2D(1, 2, 3), nr.Dense(10, 10)], (1, 8, 8))
    with pytest.raises(ValueError, match="one logit per class"):
        nr.Network([nr.Conv2D(1, 2, 3)], (1, 8, 8))


def test_network_file_round_trip_and_one_line_errors(tmp_path):
    net, x, _ = _tiny_cnn(dtype=np.float32, act=nr.LearnedCap(4, init=0.7))
    path = net.save(tmp_path / "cnn.npz")
    back = nr.load_model(path)
    assert isinstance(back, nr.Network) and not isinstance(back, nr.MLP)
    np.testing.assert_array_equal(back.params, net.params)
    np.testing.assert_array_equal(back.predict(x.astype(np.float32)),
                                  net.predict(x.astype(np.float32)))
    with pytest.raises(nr.files.ModelFileError, match="holds a network of layers"):
        nr.MLP.load(path)
    arrays = dict(np.load(path))
    import json

    meta = json.loads(str(arrays.pop("meta")))

    def save(name, meta, arrays):
        p = tmp_path / name
        np.savez(p, meta=np.array(json.dumps(meta)), **arrays)
        return p

    bad = dict(arrays, **{"L0.W": np.zeros((4, 1, 5, 5), np.float32)})
    with pytest.raises(nr.files.ModelFileError, match=r"L0\.W .layer 1, conv2d. has shape "
                                                      r"\(4, 1, 5, 5\), expected \(4, 1, 3, 3\)"):
        nr.load_model(save("kernel.npz", meta, bad))
    missing = {k: v for k, v in arrays.items() if k != "L0.m"}
    with pytest.raises(nr.files.ModelFileError, match=r"arrays L0\.m are missing"):
        nr.load_model(save("missing.npz", meta, missing))
    nan = dict(arrays, **{"L3.W": np.full((64, 6), np.nan, np.float32)})
    with pytest.raises(nr.files.ModelFileError, match="NaN or infinite"):
        nr.load_model(save("nan.npz", meta, nan))
    unknown = dict(meta, layers=[*meta["layers"][:1], {"type": "dropout"}, *meta["layers"][2:]])
    with pytest.raises(nr.files.ModelFileError, match="layer 2 has a bad config.*dropout"):
        nr.load_model(save("unknown.npz", unknown, arrays))


def test_every_attack_and_metric_works_on_a_cnn():
    from nprelu import audit
    from nprelu.apgd import apgd, apgd_targeted

    net = nr.Network.cnn(convs=((2, 3),), dense=(8,), caps={1: 0.5}, seed=0)
    twin = nr.Network.cnn(convs=((2, 3),), dense=(8,), seed=1)
    x = np.random.default_rng(0).uniform(size=(3, 784)).astype(np.float32)
    y = net.predict(x)
    for adv in (nr.fgsm(net, x, y, 0.1), nr.pgd(net, x, y, 0.1, 0.02, 5),
                nr.cw_l2(net, x, y, steps=20, binary_steps=2).x_adv,
                apgd(net, x, y, 0.1, iters=10).x_adv,
                apgd_targeted(net, x, y, 0.1, iters=5, n_targets=2).x_adv,
                audit.pgd_adaptive(net, x, y, 0.1, 0.02, 5, restarts=1, bpda=True)):
        assert adv.shape == x.shape and adv.min() >= 0 and adv.max() <= 1
    assert nr.zero_gradient_search(net, x, y, 0.05, 5).l2.shape == (3,)
    ens = audit.attack_ensemble(net, twin, x, y, 0.1, iters=5, restarts=1, square_queries=20)
    assert 0 <= ens["worst_case"] <= ens["clean"]
    maps, sums = nr.sensitivity_map(net, x, y)
    assert maps.shape == x.shape and sums.shape == (3,)
    dist = nr.layer_distances(net, x, nr.fgsm(net, x, y, 0.1))
    assert len(dist) == 2 and all(d["linf"] >= 0 for d in dist)  # two activation sites


# --------------------------------------------------------------------------- an added capped layer
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_an_added_capped_layer_leaves_the_net_unchanged_where_its_cap_is_inactive(kind, mnist):
    """Sec. 9's future work: a capped layer added at the input side or before the output,
    initialised as the identity. With a cap no activation reaches, the logits are those of the
    original net bit for bit (x I is exact in floating point); with a small cap they change
    exactly for the inputs where some activation passes it."""
    _, (xt, _) = mnist
    x = xt[:50]
    net = (nr.MLP((32, 16), seed=0) if kind == "mlp"
           else nr.Network.cnn(convs=((2, 3),), dense=(8,), seed=0))
    base = net.logits(x)
    for where in ("input", "output"):
        wide = net.with_capped_layer(where, 1e6)
        assert len(wide.layers) == len(net.layers) + 1 and len(wide.sites) == len(net.sites) + 1
        assert np.array_equal(wide.logits(x), base)
    last = net.hidden_outputs(x)[-1]
    beta = float(np.median(last.max(axis=1)))  # half of the inputs pass it somewhere
    capped = net.with_capped_layer("output", beta)
    moved = np.any(capped.logits(x) != base, axis=1)
    assert np.array_equal(moved, np.any(last > beta, axis=1))
    assert 0 < moved.sum() < len(x)
    # the original is untouched, and the new layer trains with the rest (one flat buffer)
    assert np.array_equal(net.logits(x), base)
    assert capped.params.size == net.params.size + last.shape[1] ** 2 + last.shape[1]


def test_an_added_layer_refuses_a_bad_cap_or_place():
    net = nr.MLP((8,), seed=0)
    for beta in (0.0, -1.0, float("nan"), None):
        with pytest.raises(ValueError, match="beta"):
            net.with_capped_layer("output", beta)
    with pytest.raises(ValueError, match="'input' or 'output'"):
        net.with_capped_layer("middle", 1.0)
