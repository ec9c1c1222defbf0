"""The activation functions, each with its derivative.

    ReLU            a = max(0, z)                      a'(z) = 1 on z > 0, else 0
    capped ReLU     a = max(0, min(z, beta))           a'(z) = 1 on 0 < z < beta, else 0  (eq. 1)
    learned cap     a = min(max(z, 0), max(m, 0))      da/dz = 1 on 0 < z < max(m, 0)
                    (D-ReLU, m trained, one per unit)  da/dm = 1 where z > m > 0
    scaled sigmoid  a = 1 / (1 + exp(-c z))            a'(z) = c a (1 - a)          (Sec. 3.3)
    scaled tanh     a = tanh(c z)                      a'(z) = c (1 - a^2)

Kinks: the capped ReLU is not differentiable at z = 0 and at z = beta. We take the derivative
from the flat side at both, so a'(0) = a'(beta) = 0 (PyTorch's ReLU6 does the same). A unit
sitting exactly on a kink therefore passes no gradient. The learned cap follows the same rule
for z, and its cap m gets the gradient only where the unit is strictly above a positive cap
(z > m > 0): at z = m neither z nor m gets it (TensorFlow's min would give it to z; the two
differ only on that measure-zero set).

beta (or m) is one number for the whole layer, or one per unit (a 1-D array over the layer's
units; in a convolutional layer, one per channel).

Each activation object has two faces:
- `fn(z)` and `grad(z)`: plain NumPy, one line each, for reading and for tests (beta per unit
  broadcasts over the last axis);
- `forward(z, b, a)` and `backward(z, a, da, dz, db, want_db)`: what a layer runs on a
  (rows, units) matrix, the fused numba kernels of nprelu.kernels (bias add + activation;
  derivative + bias gradient).
tests/test_activations.py checks that both faces agree and that `grad` matches finite differences.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernels
from .checks import check_betas, check_count, check_number


class CappedReLU:
    """a(z, beta) = max(0, min(z, beta)), eq. (1); beta = inf is the plain ReLU.

    Derivative: 1 on 0 < z < beta, 0 elsewhere, the flat side at both kinks z = 0 and z = beta.
    BPDA (straight-through, used by the gradient-masking audit): `backward(...,
    straight_through=True)` keeps the forward cap but uses ReLU's derivative (1 on z > 0), so a
    saturated unit no longer blocks the gradient."""

    kind = "capped_relu"
    params: dict = {}  # no trainable parameters

    def __init__(self, beta: float | np.ndarray = math.inf):
        self.beta = check_betas(beta)
        self._vec: dict = {}

    @property
    def capped(self) -> bool:
        return bool(np.any(np.isfinite(self.beta)))

    @property
    def name(self) -> str:
        if not self.capped:
            return "relu"
        if np.ndim(self.beta) == 0:
            return f"capped_relu(beta={self.beta:g})"
        return f"capped_relu(beta per unit, mean {np.mean(self.beta):g})"

    def config(self) -> dict:
        """{"type", "beta"}: beta a number or a list (one per unit); None stands for inf."""
        if np.ndim(self.beta) == 0:
            return {"type": self.kind, "beta": None if self.beta == math.inf else self.beta}
        return {"type": self.kind,
                "beta": [None if b == math.inf else float(b) for b in self.beta]}

    def fn(self, z: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(z, 0), self.beta).astype(z.dtype, copy=False)

    def grad(self, z: np.ndarray) -> np.ndarray:
        return ((z > 0) & (z < self.beta)).astype(z.dtype)

    def betas(self, units: int, dtype) -> np.ndarray:
        """beta as one value per unit, in `dtype` (what the kernels read)."""
        key = (units, np.dtype(dtype).str)
        vec = self._vec.get(key)
        if vec is None:
            if np.ndim(self.beta) and len(self.beta) != units:
                raise ValueError(f"this capped ReLU has {len(self.beta)} caps (one per unit) but "
                                 f"its layer has {units} units")
            vec = np.broadcast_to(np.asarray(self.beta, dtype), (units,)).copy()
            self._vec[key] = vec
        return vec

    def forward(self, z: np.ndarray, b: np.ndarray, a: np.ndarray) -> None:
        """z (N, H) += b (H,) in place; a (N, H) = fn(z)."""
        kernels.capped_relu_forward(z, b, self.betas(z.shape[1], z.dtype), a)

    def backward(self, z, a, da, dz, db, want_db: bool, straight_through: bool = False) -> None:
        """dz = da * grad(z) (N, H); db = sum of dz over the batch when want_db."""
        beta = (np.full(z.shape[1], np.inf, z.dtype) if straight_through
                else self.betas(z.shape[1], z.dtype))
        kernels.capped_relu_backward(z, da, beta, dz, db, want_db)


class LearnedCap:
    """The learned cap of D-ReLU (Sooksatra & Rivas, 2024): a = min(max(z, 0), max(m, 0)) with
    one trainable cap m per unit (or channel), initialised to `init` (100 in the authors' code,
    so the cap starts far above any activation and the unit is a plain ReLU).

    The cap m is a parameter of the layer: its value lives in the network's flat parameter
    buffer and its gradient dL/dm = sum over the batch of dL/da * [z > m > 0] in the gradient
    buffer, where Adam finds both. `beta` is the cap in force, max(m, 0)."""

    kind = "learned_cap"

    def __init__(self, units: int, init: float = 100.0):
        self.units = check_count(units, "units")
        self.init = check_number(init, "init")
        self.params = {"m": (self.units,)}
        self.m = np.full(self.units, self.init, np.float32)  # replaced by views when bound
        self.dm = np.zeros(self.units, np.float32)

    def bind(self, values: dict, grads: dict) -> None:
        self.m, self.dm = values["m"], grads["m"]

    def init_(self, rng: np.random.Generator) -> None:
        self.m[...] = self.init

    @property
    def beta(self) -> np.ndarray:
        return np.maximum(self.m.astype(np.float64), 0.0)

    @property
    def capped(self) -> bool:
        return True

    @property
    def name(self) -> str:
        return f"learned_cap(mean cap {float(np.mean(self.beta)):.4g})"

    def config(self) -> dict:
        return {"type": self.kind, "units": self.units, "init": self.init}

    def fn(self, z: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(z, 0), np.maximum(self.m, 0)).astype(z.dtype, copy=False)

    def grad(self, z: np.ndarray) -> np.ndarray:
        """da/dz: 1 on 0 < z < max(m, 0)."""
        return ((z > 0) & (z < np.maximum(self.m, 0))).astype(z.dtype)

    def grad_m(self, z: np.ndarray) -> np.ndarray:
        """da/dm per element: 1 where z > m > 0."""
        return ((z > self.m) & (self.m > 0)).astype(z.dtype)

    def forward(self, z: np.ndarray, b: np.ndarray, a: np.ndarray) -> None:
        """z (N, H) += b in place; a = min(max(z, 0), max(m, 0))."""
        if z.shape[1] != self.units:
            raise ValueError(f"this learned cap has {self.units} units, its input {z.shape[1]}")
        kernels.capped_relu_forward(z, b, np.maximum(self.m, 0).astype(z.dtype), a)

    def backward(self, z, a, da, dz, db, want_db: bool, straight_through: bool = False) -> None:
        """dz = da * da/dz; self.dm = sum over the batch of da * da/dm; db = sum of dz."""
        if straight_through:  # BPDA: a plain ReLU's derivative, the cap left alone
            kernels.capped_relu_backward(z, da, np.full(z.shape[1], np.inf, z.dtype), dz, db,
                                   want_db)
            return
        dm = np.empty(self.units, z.dtype)
        kernels.learned_cap_backward(z, da, self.m.astype(z.dtype, copy=False), dz, dm)
        self.dm[...] = dm
        if want_db:
            np.sum(dz, axis=0, out=db)


class _Scaled:
    """An activation of c z, the Sec. 3.3 way of narrowing sigmoid and tanh (c > 1)."""

    kind = ""
    params: dict = {}

    def __init__(self, c: float = 1.0):
        self.c = check_number(c, "c", positive=True)

    @property
    def name(self) -> str:
        return f"{self.kind}(c={self.c:g})"

    capped = False

    def config(self) -> dict:
        return {"type": self.kind, "c": self.c}


class ScaledSigmoid(_Scaled):
    """a = sigma(c z) = 1 / (1 + exp(-c z)); derivative c a (1 - a) (smooth, no kink)."""

    kind = "sigmoid"

    def fn(self, z: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-self.c * z))

    def grad(self, z: np.ndarray) -> np.ndarray:
        a = self.fn(z)
        return self.c * a * (1 - a)

    def forward(self, z, b, a) -> None:
        kernels.sigmoid_forward(z, b, z.dtype.type(self.c), a)

    def backward(self, z, a, da, dz, db, want_db: bool, straight_through: bool = False) -> None:
        kernels.sigmoid_backward(a, da, z.dtype.type(self.c), dz, db, want_db)


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


Activation = CappedReLU | LearnedCap | ScaledSigmoid | ScaledTanh


def relu() -> CappedReLU:
    return CappedReLU(math.inf)


def capped_relu(beta: float | np.ndarray) -> CappedReLU:
    """a(z, beta) = max(0, min(z, beta)), eq. (1) of the paper."""
    return CappedReLU(beta)


def scaled_sigmoid(c: float = 1.0) -> ScaledSigmoid:
    return ScaledSigmoid(c)


def scaled_tanh(c: float = 1.0) -> ScaledTanh:
    return ScaledTanh(c)


def from_config(cfg: dict | None):
    """The activation a layer's saved config describes (None: no activation)."""
    if cfg is None:
        return None
    kind = cfg.get("type")
    if kind == "capped_relu":
        beta = cfg.get("beta")
        if isinstance(beta, list):
            return CappedReLU([math.inf if b is None else b for b in beta])
        return CappedReLU(math.inf if beta is None else beta)
    if kind == "learned_cap":
        return LearnedCap(cfg["units"], cfg.get("init", 100.0))
    if kind == "sigmoid":
        return ScaledSigmoid(cfg["c"])
    if kind == "tanh":
        return ScaledTanh(cfg["c"])
    raise ValueError(f"unknown activation {kind!r}; known: capped_relu, learned_cap, sigmoid, "
                     "tanh")
