"""Adam (Kingma & Ba, 2014): one step function, and an optimizer object that owns its state.

`adam_step` is the update itself, on flat float32 arrays; `Adam` keeps the moment estimates
m, v and the step count t for a list of parameters (never on the layers), and the
Carlini-Wagner attack (nprelu.cw) calls `adam_step` on its own variables.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernels
from .checks import check_number


def adam_step(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, lr: float,
              b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> None:
    """One Adam update of the flat arrays p (params), m, v in place, from the gradient g.

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
        p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    t is the 1-based step number (bias correction). The bias-correction factors are computed in
    float64 once per step and passed to the kernel as float32, as torch.optim.Adam does."""
    f = p.dtype.type
    kernels.adam_update(p, g, m, v, f(lr / (1.0 - b1**t)), f(1.0 / math.sqrt(1.0 - b2**t)), f(b1),
                  f(b2), f(eps))


class Adam:
    """Adam over a list of float32 parameter arrays, updated in place.

    `step(grads)` takes one gradient array per parameter (same shapes). The update is the one
    torch.optim.Adam computes (bias-corrected m and v, eps added after the square root).
    The model hands over its single flat buffer, so a step is one kernel call.

    `lr_scale` (optional, one float32 array per parameter, same shapes) gives some entries a
    learning rate of their own, lr * lr_scale: Adam's step is proportional to the learning rate,
    so the step of those entries is multiplied by their scale. Chapter 11 uses it to let
    D-ReLU's caps move faster than the weights.
    """

    def __init__(self, params: list[np.ndarray], lr: float = 1e-3, betas=(0.9, 0.999),
                 eps: float = 1e-8, lr_scale: list[np.ndarray] | None = None):
        self.lr = check_number(lr, "lr (learning rate)", positive=True)
        self.b1 = check_number(betas[0], "beta1", nonnegative=True)
        self.b2 = check_number(betas[1], "beta2", nonnegative=True)
        if not (self.b1 < 1 and self.b2 < 1):
            raise ValueError(f"Adam's betas must lie in [0, 1), got {tuple(betas)}")
        self.eps = check_number(eps, "eps", positive=True)
        self.params = [p.reshape(-1) for p in params]
        for p, orig in zip(self.params, params):
            if not np.shares_memory(p, orig):
                raise ValueError("Adam needs contiguous parameter arrays it can update in place")
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.lr_scale = None
        if lr_scale is not None:
            if len(lr_scale) != len(params) or any(
                    np.shape(sc) != np.shape(p) for sc, p in zip(lr_scale, params)):
                raise ValueError("lr_scale needs one array per parameter, of the same shape")
            self.lr_scale = [np.asarray(sc, p.dtype).reshape(-1)
                             for sc, p in zip(lr_scale, self.params)]
            if not all(np.all(np.isfinite(sc) & (sc > 0)) for sc in self.lr_scale):
                raise ValueError("lr_scale must be finite and > 0 everywhere")

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        for i, (p, g, m, v) in enumerate(zip(self.params, grads, self.m, self.v)):
            before = None if self.lr_scale is None else p.copy()
            adam_step(p, g.reshape(-1), m, v, self.t, self.lr, self.b1, self.b2, self.eps)
            if before is not None:  # the step p - before, times each entry's scale
                p[...] = before + (p - before) * self.lr_scale[i]
