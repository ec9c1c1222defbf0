"""The multilayer perceptron of the paper: dense hidden layers with (capped) ReLU, dense logits.

    x (N, 784) -> [Dense -> activation] * L -> Dense -> logits Z (N, 10)

Hidden layers are numbered from 1 as in the paper (HL1, HL2, ...). `caps` maps a hidden-layer
number to its cap beta; a hidden layer without a cap is a plain ReLU. Softmax is not part of the
model: losses take logits.

Every parameter lives in one flat float32 buffer (`params`) and every gradient in another
(`grads`); each layer's W, b, dW, db are views into them. Adam then updates the whole model in
one kernel call, and nothing is copied between steps.

Methods that take images validate them (shape, dtype, finite, in [0, 1]; see nprelu.checks).
Loops that call them thousands of times on data they already validated pass `check=False`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import blas
from .activations import Activation, CappedReLU, ScaledSigmoid, ScaledTanh
from .checks import (
    check_caps,
    check_choice,
    check_count,
    check_hidden,
    check_images,
    check_labels,
    check_number,
    check_seed,
)
from .files import layer_shapes, read_model_file, write_model_file
from .layers import Dense
from .losses import softmax_cross_entropy
from .version import VERSION

ACTIVATIONS = ("relu", "sigmoid", "tanh")


class MLP:
    """A dense network with (capped) ReLU or scaled sigmoid/tanh hidden layers.

    MLP(hidden=(392, 196), caps={2: 0.1}, seed=0) is the paper's "general" net capped at HL2.
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (392, 196),
        caps: dict[int, float] | None = None,
        activation: str = "relu",
        c: float = 1.0,
        seed: int = 0,
        n_in: int = 784,
        n_out: int = 10,
        dtype=np.float32,
    ):
        self.hidden = check_hidden(hidden)
        self.activation = check_choice(activation, "activation", ACTIVATIONS)
        self.c = check_number(c, "c", positive=True)
        self.seed = check_seed(seed)
        self.n_in, self.n_out = check_count(n_in, "n_in"), check_count(n_out, "n_out", 2)
        self.dtype = np.dtype(dtype)

        shapes = layer_shapes(self.n_in, self.hidden, self.n_out)
        total = sum(i * o + o for i, o in shapes)
        self.params = np.zeros(total, self.dtype)
        self.grads = np.zeros(total, self.dtype)
        self.dense: list[Dense] = []
        at = 0
        for i, o in shapes:
            views = []
            for buf in (self.params, self.grads):
                W = buf[at : at + i * o].reshape(i, o)
                b = buf[at + i * o : at + i * o + o]
                views.append((W, b))
            (W, b), (dW, db) = views
            self.dense.append(Dense(W, b, dW, db))
            at += i * o + o
        rng = np.random.default_rng(self.seed)
        for layer in self.dense:
            layer.glorot_(rng)

        make = {"relu": CappedReLU, "sigmoid": ScaledSigmoid, "tanh": ScaledTanh}[activation]
        self.acts: list[Activation] = [
            make() if activation == "relu" else make(self.c) for _ in self.hidden]
        self.caps: dict[int, float] = {}
        self.set_caps(caps or {})

    # ------------------------------------------------------------------ configuration
    def set_caps(self, caps: dict[int, float | None]) -> MLP:
        """Change beta of the given hidden layers (1-based); None or inf removes a cap.

        Layers not named keep their current activation. Returns self."""
        caps = check_caps(caps, len(self.hidden))
        if caps and self.activation != "relu":
            raise ValueError("caps apply to ReLU networks only; this one uses " + self.activation)
        for hl, beta in caps.items():
            if beta is None:
                self.acts[hl - 1] = CappedReLU()
                self.caps.pop(hl, None)
            else:
                self.acts[hl - 1] = CappedReLU(beta)
                self.caps[hl] = beta
        return self

    def config(self) -> dict:
        return {
            "hidden": list(self.hidden),
            "caps": {str(k): v for k, v in sorted(self.caps.items())},
            "activation": self.activation,
            "c": self.c,
            "seed": self.seed,
            "n_in": self.n_in,
            "n_out": self.n_out,
        }

    def __repr__(self) -> str:
        pairs = enumerate(zip(self.hidden, self.acts))
        acts = ", ".join(f"HL{i + 1}:{h} {a.name}" for i, (h, a) in pairs)
        return f"MLP({self.n_in} -> {acts} -> {self.n_out})"

    def copy(self, dtype=None) -> MLP:
        """An independent copy with the same weights, in `dtype` (default: this model's)."""
        twin = MLP(self.hidden, dict(self.caps), self.activation, self.c, self.seed,
                   self.n_in, self.n_out, self.dtype if dtype is None else dtype)
        twin.params[...] = self.params
        return twin

    def __reduce__(self):
        """Pickle as (config, weights): the layers' views into the flat buffer are rebuilt, not
        copied apart (a worker process receives a model that trains like the original)."""
        return (_rebuild, (self.config(), str(self.dtype), self.params))

    # ------------------------------------------------------------------ forward / backward
    def forward(self, x: np.ndarray, check: bool = True) -> tuple[np.ndarray, list]:
        """Logits (N, n_out) and the cache [(x_in, z, a) per hidden layer] for backward."""
        if check:
            x = check_images(x, self.n_in).astype(self.dtype, copy=False)
        cache = []
        h = x
        for layer, act in zip(self.dense[:-1], self.acts):
            z = h @ layer.W  # BLAS; the bias is added by the fused kernel below
            a = np.empty_like(z)
            act.forward(z, layer.b, a)
            cache.append((h, z, a))
            h = a
        logits = self.dense[-1].forward(h)
        return logits, cache

    def backward(
        self, cache: list, dlogits: np.ndarray, param_grads: bool = True, input_grad: bool = True,
        bpda: bool = False,
    ) -> np.ndarray | None:
        """Backpropagate dL/dlogits (N, n_out). Writes dL/dparams into `self.grads` when
        `param_grads`; returns dL/dx (N, n_in) when `input_grad`, else None.

        bpda=True is the straight-through surrogate of the gradient-masking audit: each
        activation's backward gets straight_through=True, which makes a capped ReLU pass the
        gradient of a plain ReLU (the forward pass in `cache` kept the caps)."""
        last = self.dense[-1]
        da = last.backward(cache[-1][2], dlogits, param_grads)
        for i in range(len(self.acts) - 1, -1, -1):
            x_in, z, a = cache[i]
            layer = self.dense[i]
            dz = np.empty_like(z)
            self.acts[i].backward(z, a, da, dz, layer.db, param_grads, straight_through=bpda)
            if i == 0 and not input_grad:
                if param_grads:
                    np.matmul(x_in.T, dz, out=layer.dW)
                return None
            da = layer.backward(x_in, dz, param_grads, db_done=True)
        return da

    # ------------------------------------------------------------------ conveniences
    def logits(self, x: np.ndarray, batch: int = 4096) -> np.ndarray:
        x = check_images(x, self.n_in).astype(self.dtype, copy=False)
        return np.concatenate([self.forward(x[i : i + batch], check=False)[0]
                               for i in range(0, len(x), batch)])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted class (N,) int64."""
        return self.logits(x).argmax(axis=1)

    def hidden_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """Output of HL1, HL2, ... after the activation, each (N, H_l)."""
        return [a for (_, _, a) in self.forward(x)[1]]

    def loss(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-sample softmax cross-entropy (N,)."""
        logits, _ = self.forward(x)
        return softmax_cross_entropy(logits, check_labels(y, len(logits), self.n_out))[0]

    def input_gradient(self, x: np.ndarray, y: np.ndarray, check: bool = True
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample loss (N,) and d(sum_n loss_n)/dx (N, n_in): row n is d loss_n / d x_n.

        check=False skips validating x and y, for attack loops that checked them once (the
        isfinite scan of a 4096-image batch at every PGD iteration is 2 % of PGD)."""
        if check:
            x = check_images(x, self.n_in).astype(self.dtype, copy=False)
            y = check_labels(y, len(x), self.n_out)
        logits, cache = self.forward(x, check=False)
        loss, dlogits = softmax_cross_entropy(logits, y)
        return loss, self.backward(cache, dlogits, param_grads=False)

    def logit_jacobian(self, x: np.ndarray) -> np.ndarray:
        """dZ_k/dx for every class k: (N, n_out, n_in), one backward pass per class."""
        logits, cache = self.forward(x)
        jac = np.empty((len(logits), self.n_out, self.n_in), self.dtype)
        for k in range(self.n_out):
            onehot = np.zeros_like(logits)
            onehot[:, k] = 1
            jac[:, k] = self.backward(cache, onehot, param_grads=False)
        return jac

    def loss_and_param_grads(self, x: np.ndarray, y: np.ndarray, check: bool = True
                             ) -> tuple[float, np.ndarray]:
        """Mean cross-entropy over the batch, and fill `self.grads` with its gradient.

        Returns (mean loss, logits). check=False: the training loop validated the whole
        dataset once and calls this 1875 times per epoch (at batch 32), where the checks would
        cost ~10 % of an epoch."""
        if check:
            x = check_images(x, self.n_in).astype(self.dtype, copy=False)
            y = check_labels(y, len(x), self.n_out)
        logits, cache = self.forward(x, check=False)
        loss, dlogits = softmax_cross_entropy(logits, y)
        dlogits *= self.dtype.type(1.0 / len(logits))
        self.backward(cache, dlogits, param_grads=True, input_grad=False)
        return float(loss.sum()) / len(loss), logits

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write weights and JSON metadata to an .npz file, atomically (temp file + rename)."""
        meta = dict(self.config(), dtype=str(self.dtype), nprelu_version=VERSION,
                    blas=blas.describe())  # the kernel that computed the weights, for reading
        arrays = {}
        for i, layer in enumerate(self.dense):
            arrays[f"W{i}"], arrays[f"b{i}"] = layer.W, layer.b
        return write_model_file(path, meta, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> MLP:
        """Load a model saved by `save`, after checking the file completely (nprelu.files)."""
        meta, layers = read_model_file(path)
        try:
            model = cls(
                hidden=tuple(meta["hidden"]),
                caps={int(k): v for k, v in meta["caps"].items()},
                activation=meta["activation"],
                c=meta["c"],
                seed=meta["seed"],
                n_in=meta["n_in"],
                n_out=meta["n_out"],
                dtype=np.dtype(meta.get("dtype", "float32")),
            )
        except (ValueError, TypeError, AttributeError) as err:
            raise ValueError(f"{path}: bad model metadata: {err}") from None
        for layer, (W, b) in zip(model.dense, layers):
            layer.W[...], layer.b[...] = W, b
        return model


def _rebuild(config: dict, dtype: str, params: np.ndarray) -> MLP:
    caps = {int(k): v for k, v in config["caps"].items()}
    model = MLP(config["hidden"], caps, config["activation"], config["c"], config["seed"],
                config["n_in"], config["n_out"], np.dtype(dtype))
    model.params[...] = params
    return model
