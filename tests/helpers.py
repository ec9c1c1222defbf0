"""Helpers shared by the gradient-check tests."""

import numpy as np


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


def start_nprelu(args, env_extra, cwd):
    """`python -m nprelu ARGS` as a child process with pipes for stdout and stderr."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, **{k: str(v) for k, v in env_extra.items()})
    return subprocess.Popen([sys.executable, "-m", "nprelu", *args], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(cond, timeout=120.0):
    """Poll cond() until it is true; TimeoutError after `timeout` seconds."""
    import time

    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


def torch_sequential(model):
    """The same MLP as a torch.nn.Sequential (Linear, ReLU or Hardtanh(0, beta)), in eval mode,
    for the cross-checks that hand a model to PyTorch-based tools (foolbox)."""
    import torch

    layers = []
    for i, d in enumerate(model.dense):
        lin = torch.nn.Linear(*d.W.shape)
        lin.weight.data = torch.tensor(d.W.T.copy())
        lin.bias.data = torch.tensor(d.b.copy())
        layers.append(lin)
        if i < len(model.acts):
            act = model.acts[i]
            layers.append(torch.nn.Hardtanh(0.0, act.beta) if act.capped else torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()
