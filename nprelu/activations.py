"""Activation functions of the paper: ReLU, the capped ReLU of eq. (1), scaled sigmoid / tanh.

Each `Activation` is a small value object (a kind code and one parameter) whose `forward` and
`backward` run the numba kernels in nprelu.kernels. Shapes: z, a, da, dz are all (N, H).

    ReLU            a = max(0, z)                 a' = 1 on z > 0, else 0
    capped ReLU     a = max(0, min(z, beta))      a' = 1 on 0 < z < beta, else 0   (eq. 1)
    scaled sigmoid  a = 1 / (1 + exp(-c z))       a' = c a (1 - a)                 (Sec. 3.3)
    scaled tanh     a = tanh(c z)                 a' = c (1 - a^2)

At the kinks z = 0 and z = beta the (sub)derivative is taken from the flat side: 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import kernels as K


@dataclass(frozen=True)
class Activation:
    kind: int  # kernels.CAPPED_RELU, SIGMOID or TANH
    p: float  # beta for a capped ReLU (inf = plain ReLU), c for sigmoid/tanh

    @property
    def name(self) -> str:
        if self.kind == K.CAPPED_RELU:
            return "relu" if math.isinf(self.p) else f"capped_relu(beta={self.p:g})"
        return f"{'sigmoid' if self.kind == K.SIGMOID else 'tanh'}(c={self.p:g})"

    def forward(self, z: np.ndarray) -> np.ndarray:
        """a = act(z) for z (N, H); z is not modified."""
        z = np.array(z, copy=True)
        a = np.empty_like(z)
        K.bias_act_forward(z, np.zeros(z.shape[1], z.dtype), self.kind, z.dtype.type(self.p), a)
        return a

    def backward(self, z: np.ndarray, a: np.ndarray, da: np.ndarray) -> np.ndarray:
        """dL/dz = dL/da * act'(z), all (N, H)."""
        dz = np.empty_like(z)
        db = np.empty(z.shape[1], z.dtype)
        K.act_backward(z, a, da, self.kind, z.dtype.type(self.p), dz, db, False)
        return dz


def check_beta(beta: float, where: str = "beta") -> float:
    """Return beta as float if it is a usable cap (> 0, not NaN), else raise ValueError."""
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a number > 0, got {beta!r}") from None
    if not beta > 0:  # also catches NaN
        raise ValueError(f"{where} must be > 0 (a cap of 0 or less kills every unit), got {beta}")
    return beta


def relu() -> Activation:
    return Activation(K.CAPPED_RELU, math.inf)


def capped_relu(beta: float) -> Activation:
    """a(z, beta) = max(0, min(z, beta)), eq. (1) of the paper; beta = inf gives ReLU."""
    return Activation(K.CAPPED_RELU, check_beta(beta))


def scaled_sigmoid(c: float = 1.0) -> Activation:
    return Activation(K.SIGMOID, check_beta(c, "c"))


def scaled_tanh(c: float = 1.0) -> Activation:
    return Activation(K.TANH, check_beta(c, "c"))
