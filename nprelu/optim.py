"""Adam (Kingma & Ba, 2014), with its state (m, v, t) kept here and never on the layers."""

from __future__ import annotations

import math

import numpy as np

from . import kernels as K


class Adam:
    """Adam over a list of float32 parameter arrays, updated in place.

    `step(grads)` takes one gradient array per parameter (same shapes). The update is the one
    torch.optim.Adam computes (bias-corrected m and v, eps added after the square root).
    The model hands over its single flat buffer, so a step is one kernel call.
    """

    def __init__(self, params: list[np.ndarray], lr: float = 1e-3, betas=(0.9, 0.999),
                 eps: float = 1e-8):
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.params = [p.reshape(-1) for p in params]
        for p, orig in zip(self.params, params):
            if not np.shares_memory(p, orig):
                raise ValueError("Adam needs contiguous parameter arrays it can update in place")
        self.lr, self.b1, self.b2, self.eps = float(lr), float(betas[0]), float(betas[1]), eps
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        bc1 = 1.0 - self.b1**self.t
        bc2 = 1.0 - self.b2**self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            f = p.dtype.type
            K.adam_update(p, g.reshape(-1), m, v, f(self.lr / bc1), f(1.0 / math.sqrt(bc2)),
                          f(self.b1), f(self.b2), f(self.eps))

    def state_dict(self) -> dict:
        return {"t": self.t, "m": [m.copy() for m in self.m], "v": [v.copy() for v in self.v]}

    def load_state_dict(self, state: dict) -> None:
        self.t = int(state["t"])
        for dst, src in zip(self.m + self.v, list(state["m"]) + list(state["v"])):
            dst[...] = src
