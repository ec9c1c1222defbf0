"""The dense (fully connected) layer: z = x W + b.

Shapes: x (N, in), W (in, out), b (out,), z (N, out). The backward pass returns dL/dx and
stores dL/dW and dL/db on the layer (in `dW`, `db`), where the optimizer picks them up.
W, b, dW, db may be views into one flat buffer owned by the model (so that Adam can update every
parameter in a single kernel call); the layer never replaces them, it only writes into them.
"""

from __future__ import annotations

import numpy as np


class Dense:
    def __init__(self, W: np.ndarray, b: np.ndarray, dW: np.ndarray, db: np.ndarray):
        self.W, self.b, self.dW, self.db = W, b, dW, db

    @property
    def shape(self) -> tuple[int, int]:
        return self.W.shape

    def glorot_(self, rng: np.random.Generator) -> None:
        """Glorot-uniform weights U(-l, l), l = sqrt(6 / (in + out)); zero biases."""
        fan_in, fan_out = self.W.shape
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        self.W[...] = rng.uniform(-limit, limit, size=self.W.shape).astype(self.W.dtype)
        self.b[...] = 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        """z = x W + b, (N, in) -> (N, out)."""
        return x @ self.W + self.b

    def backward(
        self, x: np.ndarray, dz: np.ndarray, param_grads: bool = True, db_done: bool = False
    ) -> np.ndarray:
        """Given dL/dz (N, out) and the forward input x (N, in): store dW = x^T dz and
        db = sum_n dz (unless `db_done`, when a fused kernel already wrote db); return
        dL/dx = dz W^T (N, in)."""
        if param_grads:
            np.matmul(x.T, dz, out=self.dW)
            if not db_done:
                np.sum(dz, axis=0, out=self.db)
        return dz @ self.W.T
