"""The activation functions of the paper, each with its derivative.

    ReLU            a = max(0, z)                 a'(z) = 1 on z > 0, else 0
    capped ReLU     a = max(0, min(z, beta))      a'(z) = 1 on 0 < z < beta, else 0     (eq. 1)
    scaled sigmoid  a = 1 / (1 + exp(-c z))       a'(z) = c a (1 - a)                   (Sec. 3.3)
    scaled tanh     a = tanh(c z)                 a'(z) = c (1 - a^2)

Kinks: the capped ReLU is not differentiable at z = 0 and at z = beta. We take the derivative
from the flat side at both, so a'(0) = a'(beta) = 0 (PyTorch's ReLU6 does the same). A unit
sitting exactly on a kink therefore passes no gradient.

Each activation object has two faces:
- `fn(z)` and `grad(z)`: plain NumPy, one line each, for reading and for tests;
- `forward(z, b, a)` and `backward(z, a, da, dz, db, want_db)`: what the model runs, the fused
  numba kernels of nprelu.kernels (bias add + activation; derivative + bias gradient).
tests/test_activations.py checks that both faces agree and that `grad` matches finite differences.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernels as K
from .checks import check_beta, check_number


class CappedReLU:
    """a(z, beta) = max(0, min(z, beta)), eq. (1); beta = inf is the plain ReLU.

    Derivative: 1 on 0 < z < beta, 0 elsewhere, the flat side at both kinks z = 0 and z = beta.
    BPDA (straight-through, used by the gradient-masking audit): `backward(...,
    straight_through=True)` keeps the forward cap but uses ReLU's derivative (1 on z > 0), so a
    saturated unit no longer blocks the gradient."""

    def __init__(self, beta: float = math.inf):
        self.beta = check_beta(beta)

    @property
    def capped(self) -> bool:
        return math.isfinite(self.beta)

    @property
    def name(self) -> str:
        return f"capped_relu(beta={self.beta:g})" if self.capped else "relu"

    def fn(self, z: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(z, 0), self.beta).astype(z.dtype, copy=False)

    def grad(self, z: np.ndarray) -> np.ndarray:
        return ((z > 0) & (z < self.beta)).astype(z.dtype)

    def forward(self, z: np.ndarray, b: np.ndarray, a: np.ndarray) -> None:
        """z (N, H) += b (H,) in place; a (N, H) = fn(z)."""
        K.capped_relu_forward(z, b, z.dtype.type(self.beta), a)

    def backward(self, z, a, da, dz, db, want_db: bool, straight_through: bool = False) -> None:
        """dz = da * grad(z) (N, H); db = sum of dz over the batch when want_db."""
        beta = np.inf if straight_through else self.beta
        K.capped_relu_backward(z, da, z.dtype.type(beta), dz, db, want_db)


class _Scaled:
    """An activation of c z, the Sec. 3.3 way of narrowing sigmoid and tanh (c > 1)."""

    kind = ""

    def __init__(self, c: float = 1.0):
        self.c = check_number(c, "c", positive=True)

    @property
    def name(self) -> str:
        return f"{self.kind}(c={self.c:g})"


class ScaledSigmoid(_Scaled):
    """a = sigma(c z) = 1 / (1 + exp(-c z)); derivative c a (1 - a) (smooth, no kink)."""

    kind = "sigmoid"

    def fn(self, z: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-self.c * z))

    def grad(self, z: np.ndarray) -> np.ndarray:
        a = self.fn(z)
        return self.c * a * (1 - a)

    def forward(self, z, b, a) -> None:
        K.sigmoid_forward(z, b, z.dtype.type(self.c), a)

    def backward(self, z, a, da, dz, db, want_db: bool, straight_through: bool = False) -> None:
        K.sigmoid_backward(a, da, z.dtype.type(self.c), dz, db, want_db)


class ScaledTanh(_Scaled):
    """a = tanh(c z); derivative c (1 - a^2) (smooth, no kink)."""

    kind = "tanh"

    def fn(self, z: np.ndarray) -> np.ndarray:
        return np.tanh(self.c * z)

    def grad(self, z: np.ndarray) -> np.ndarray:
        return self.c * (1 - np.tanh(self.c * z) ** 2)

    def forward(self, z, b, a) -> None:
        """No numba kernel: the tanh net is in no experiment, so plain NumPy is fast enough."""
        z += b
        np.tanh(self.c * z, out=a)

    def backward(self, z, a, da, dz, db, want_db: bool, straight_through: bool = False) -> None:
        np.multiply(da, self.c * (1 - a * a), out=dz)
        if want_db:
            np.sum(dz, axis=0, out=db)


Activation = CappedReLU | ScaledSigmoid | ScaledTanh


def relu() -> CappedReLU:
    return CappedReLU(math.inf)


def capped_relu(beta: float) -> CappedReLU:
    """a(z, beta) = max(0, min(z, beta)), eq. (1) of the paper."""
    return CappedReLU(beta)


def scaled_sigmoid(c: float = 1.0) -> ScaledSigmoid:
    return ScaledSigmoid(c)


def scaled_tanh(c: float = 1.0) -> ScaledTanh:
    return ScaledTanh(c)


def apply(act: Activation, z: np.ndarray) -> np.ndarray:
    """act(z) through the fast kernel, for z (N, H); z is not modified."""
    z = np.array(z, copy=True)
    a = np.empty_like(z)
    act.forward(z, np.zeros(z.shape[1], z.dtype), a)
    return a
