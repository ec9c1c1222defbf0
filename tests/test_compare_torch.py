"""Cross-check against PyTorch: same weights, same numbers (needs the `compare` extra).

Run with `pip install -e ".[compare]"` (torch==2.13.0, CPU) and `pytest -m compare`.
"""

import numpy as np
import pytest

import nprelu as nr

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e .[compare])")
pytestmark = pytest.mark.compare
F = torch.nn.functional


def torch_logits(model: nr.MLP, x):
    """The same MLP written in PyTorch, on torch tensors that require grad."""
    params = []
    h = x
    for i, layer in enumerate(model.dense):
        W = torch.tensor(layer.W, requires_grad=True)
        b = torch.tensor(layer.b, requires_grad=True)
        params += [W, b]
        h = h @ W + b
        if i < len(model.acts):
            act = model.acts[i]
            if model.activation == "relu":
                h = F.relu(h) if not act.capped else F.hardtanh(h, 0.0, act.beta)
            elif model.activation == "sigmoid":
                h = torch.sigmoid(act.c * h)
            else:
                h = torch.tanh(act.c * h)
    return h, params


NETS = {
    "relu": dict(hidden=(64, 32)),
    # beta = 0.5 on HL1 and 0.3 on HL2: with these weights units fall in all three regions
    "capped": dict(hidden=(64, 32), caps={1: 0.5, 2: 0.3}),
    "sigmoid_c5": dict(hidden=(64, 32), activation="sigmoid", c=5.0),
}


def _setup(name):
    model = nr.MLP(seed=1, **NETS[name])
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 784)).astype(np.float32)
    y = rng.integers(0, 10, 16)
    return model, x, y


def close(a, b, rtol=1e-5):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(b).max(), 1e-6)
    assert np.abs(a - b).max() <= rtol * scale, np.abs(a - b).max() / scale


@pytest.mark.parametrize("name", NETS)
def test_logits_loss_and_gradients_match_pytorch(name):
    model, x, y = _setup(name)
    xt = torch.tensor(x, requires_grad=True)
    logits_t, params_t = torch_logits(model, xt)
    loss_t = F.cross_entropy(logits_t, torch.tensor(y), reduction="mean")
    loss_t.backward()
    logits, _ = model.forward(x)
    close(logits, logits_t.detach().numpy())
    loss, _ = model.loss_and_param_grads(x, y)
    close(loss, loss_t.item())
    for layer, (W, b) in zip(model.dense, zip(params_t[::2], params_t[1::2])):
        close(layer.dW, W.grad.numpy())
        close(layer.db, b.grad.numpy())
    _, dx = model.input_gradient(x, y)  # gradient of the *sum* of losses
    close(dx / len(x), xt.grad.numpy())


def test_capped_net_really_uses_all_three_regions():
    model, x, _ = _setup("capped")
    for (_, z, _), beta in zip(model.forward(x)[1], (0.5, 0.3)):
        assert (z < 0).any() and ((z > 0) & (z < beta)).any() and (z > beta).any()


def test_one_adam_step_matches_torch_optim_adam():
    rng = np.random.default_rng(0)
    p = rng.normal(size=1000).astype(np.float32)
    pt = torch.tensor(p.copy(), requires_grad=True)
    ours = nr.Adam([p], lr=1e-3)
    theirs = torch.optim.Adam([pt], lr=1e-3)
    for _ in range(3):
        g = rng.normal(size=1000).astype(np.float32)
        ours.step([g])
        pt.grad = torch.tensor(g)
        theirs.step()
    close(p, pt.detach().numpy(), rtol=1e-6)


def _torch_pgd(model, x, y, eps, step, iters):
    x0 = torch.tensor(x)
    adv = x0.clone()
    for _ in range(iters):
        adv.requires_grad_(True)
        logits, _ = torch_logits(model, adv)
        loss = F.cross_entropy(logits, torch.tensor(y), reduction="sum")
        (g,) = torch.autograd.grad(loss, adv)
        adv = adv.detach() + step * g.sign()
        adv = torch.min(torch.max(adv, x0 - eps), x0 + eps).clamp(0, 1)
    return adv.numpy()


@pytest.mark.parametrize("name", ["relu", "capped"])
def test_fgsm_and_pgd_match_a_plain_pytorch_implementation(name):
    model, x, y = _setup(name)
    ours_f = nr.fgsm(model, x, y, 0.1)
    theirs_f = _torch_pgd(model, x, y, 0.1, 0.1, 1)
    ours_p = nr.pgd(model, x, y, 0.1, 0.01, 10)
    theirs_p = _torch_pgd(model, x, y, 0.1, 0.01, 10)
    np.testing.assert_allclose(ours_f, theirs_f, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours_p, theirs_p, rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- conv and pooling
@pytest.mark.parametrize("seed, k, stride, pad", [(0, 3, 1, 1), (1, 5, 1, 2), (2, 3, 2, 0),
                                                  (3, 4, 2, 1), (4, 2, 1, 0)])
def test_conv2d_forward_and_backward_match_pytorch(seed, k, stride, pad):
    rng = np.random.default_rng(seed)
    n, c_in, c_out, h, w = 3, int(rng.integers(1, 4)), int(rng.integers(2, 6)), 9, 8
    layer = nr.Conv2D(c_in, c_out, k, stride, pad)
    W = rng.normal(size=layer.params["W"]).astype(np.float32)
    b = rng.normal(size=c_out).astype(np.float32)
    layer.bind({"W": W, "b": b}, {"W": np.zeros_like(W), "b": np.zeros_like(b)})
    x = rng.normal(size=(n, c_in, h, w)).astype(np.float32)
    out, cache = layer.forward(x)
    g = rng.normal(size=out.shape).astype(np.float32)
    dx = layer.backward(cache, g)
    xt = torch.tensor(x, requires_grad=True)
    Wt, bt = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    yt = F.conv2d(xt, Wt, bt, stride=stride, padding=pad)
    (yt * torch.tensor(g)).sum().backward()
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())
    close(layer.dW, Wt.grad.numpy())
    close(layer.db, bt.grad.numpy())


@pytest.mark.parametrize("seed, k", [(0, 2), (1, 3)])
def test_maxpool2d_forward_and_backward_match_pytorch(seed, k):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 3, 7, 8)).astype(np.float32)  # 7 and 8: floor drops a remainder
    layer = nr.MaxPool2D(k)
    out, cache = layer.forward(x)
    g = rng.normal(size=out.shape).astype(np.float32)
    dx = layer.backward(cache, g)
    xt = torch.tensor(x, requires_grad=True)
    yt = F.max_pool2d(xt, k)
    (yt * torch.tensor(g)).sum().backward()
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())


def test_a_capped_cnn_matches_the_same_net_in_pytorch():
    """Conv + capped ReLU per channel + max-pool + flatten + dense, logits and input gradient."""
    net = nr.Network.cnn(convs=((4, 3), (6, 3)), dense=(16,), caps={1: 0.5, 3: 1.0}, seed=3)
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(5, 784)).astype(np.float32)
    y = rng.integers(0, 10, 5)
    c1, _, c2, _, _, d1, d2 = net.layers
    xt = torch.tensor(x.reshape(5, 1, 28, 28), requires_grad=True)
    h = F.hardtanh(F.conv2d(xt, torch.tensor(c1.W), torch.tensor(c1.b), padding=1), 0.0, 0.5)
    h = F.max_pool2d(h, 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, torch.tensor(c2.W), torch.tensor(c2.b), padding=1)), 2)
    h = F.hardtanh(h.flatten(1) @ torch.tensor(d1.W) + torch.tensor(d1.b), 0.0, 1.0)
    logits_t = h @ torch.tensor(d2.W) + torch.tensor(d2.b)
    F.cross_entropy(logits_t, torch.tensor(y), reduction="sum").backward()
    close(net.logits(x), logits_t.detach().numpy())
    _, dx = net.input_gradient(x, y)
    close(dx, xt.grad.numpy().reshape(5, 784), rtol=1e-4)
