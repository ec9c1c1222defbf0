"""The multilayer perceptron of the paper: dense hidden layers with (capped) ReLU, dense logits.

    x (N, 784) -> [Dense -> activation] * L -> Dense -> logits Z (N, 10)

Hidden layers are numbered from 1 as in the paper (HL1, HL2, ...). `caps` maps a hidden-layer
number to its cap beta; a hidden layer without a cap is a plain ReLU. Softmax is not part of the
model: losses take logits.

Every parameter lives in one flat float32 buffer (`params`) and every gradient in another
(`grads`); each layer's W, b, dW, db are views into them. Adam then updates the whole model in
one kernel call, and nothing is copied between steps.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from . import kernels as K
from .activations import Activation, capped_relu, check_beta, relu, scaled_sigmoid, scaled_tanh
from .layers import Dense
from .losses import softmax_cross_entropy

FORMAT_VERSION = 1
ACTIVATIONS = ("relu", "sigmoid", "tanh")


def check_x(x: np.ndarray, n_in: int) -> np.ndarray:
    """Validate a batch of inputs: a finite 2-D array with n_in columns. Returns it as an array."""
    x = np.asarray(x)
    if x.ndim == 1 and x.shape[0] == n_in:
        raise ValueError(f"x has shape {x.shape}; pass a batch of shape (N, {n_in}), e.g. x[None]")
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"x must have shape (N, {n_in}), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"x must be floating point (float32 in [0, 1]), got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise ValueError(f"x contains {bad} NaN or infinite values; clean the input first")
    return x


def check_y(y: np.ndarray, n: int, n_classes: int) -> np.ndarray:
    """Validate labels: integers in 0..n_classes-1, one per input."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match x, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"labels must lie in 0..{n_classes - 1}, got values from {y.min()} to {y.max()}"
        )
    return y.astype(np.int64, copy=False)


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
        hidden = tuple(int(h) for h in hidden)
        if not hidden or min(hidden) < 1:
            raise ValueError(f"hidden must be a non-empty list of positive sizes, got {hidden}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.hidden, self.activation, self.c, self.seed = hidden, activation, float(c), seed
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.dtype = np.dtype(dtype)

        sizes = (self.n_in, *hidden, self.n_out)
        shapes = [(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]
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
        rng = np.random.default_rng(seed)
        for layer in self.dense:
            layer.glorot_(rng)

        self.acts: list[Activation] = []
        self.caps: dict[int, float] = {}
        for _ in hidden:
            if activation == "relu":
                self.acts.append(relu())
            elif activation == "sigmoid":
                self.acts.append(scaled_sigmoid(c))
            else:
                self.acts.append(scaled_tanh(c))
        self.set_caps(caps or {})

    # ------------------------------------------------------------------ configuration
    def set_caps(self, caps: dict[int, float | None]) -> MLP:
        """Change beta of the given hidden layers (1-based); None or inf removes a cap.

        Layers not named keep their current activation. Returns self.
        """
        caps = dict(caps)
        if caps and self.activation != "relu":
            raise ValueError("caps apply to ReLU networks only; this one uses " + self.activation)
        for hl, beta in caps.items():
            if not isinstance(hl, (int, np.integer)) or not 1 <= hl <= len(self.hidden):
                raise ValueError(
                    f"unknown hidden layer {hl!r}: this net has HL1..HL{len(self.hidden)}"
                )
            if beta is None or (isinstance(beta, float) and math.isinf(beta) and beta > 0):
                self.acts[hl - 1] = relu()
                self.caps.pop(int(hl), None)
            else:
                beta = check_beta(beta, f"beta of HL{hl}")
                self.acts[hl - 1] = capped_relu(beta)
                self.caps[int(hl)] = beta
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

    def copy(self) -> MLP:
        twin = MLP(self.hidden, dict(self.caps), self.activation, self.c, self.seed,
                   self.n_in, self.n_out, self.dtype)
        twin.params[...] = self.params
        return twin

    # ------------------------------------------------------------------ forward / backward
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list]:
        """Logits (N, n_out) and the cache [(x_in, z, a) per hidden layer] for backward."""
        return self._forward(check_x(x, self.n_in).astype(self.dtype, copy=False))

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, list]:
        """`forward` without input validation, for callers that validated x (float32) once."""
        cache = []
        h = x
        for layer, act in zip(self.dense[:-1], self.acts):
            z = h @ layer.W  # BLAS; the bias is added by the fused kernel below
            a = np.empty_like(z)
            K.bias_act_forward(z, layer.b, act.kind, self.dtype.type(act.p), a)
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

        bpda=True is the straight-through surrogate of the gradient-masking audit: the forward
        pass (in `cache`) kept the caps, but the backward pass uses plain ReLU's derivative
        (1 on z > 0) in the capped layers, so saturated units no longer block the gradient."""
        last = self.dense[-1]
        h_last = cache[-1][2]
        da = last.backward(h_last, dlogits, param_grads)
        for i in range(len(self.acts) - 1, -1, -1):
            x_in, z, a = cache[i]
            act, layer = self.acts[i], self.dense[i]
            p = np.inf if (bpda and act.kind == K.CAPPED_RELU) else act.p
            dz = np.empty_like(z)
            K.act_backward(z, a, da, act.kind, self.dtype.type(p), dz, layer.db, param_grads)
            if i == 0 and not input_grad:
                if param_grads:
                    np.matmul(x_in.T, dz, out=layer.dW)
                return None
            da = layer.backward(x_in, dz, param_grads, db_done=True)
        return da

    # ------------------------------------------------------------------ conveniences
    def logits(self, x: np.ndarray, batch: int = 4096) -> np.ndarray:
        x = check_x(x, self.n_in)
        out = [self.forward(x[i : i + batch])[0] for i in range(0, max(len(x), 1), batch)]
        return np.concatenate(out) if out else np.empty((0, self.n_out), self.dtype)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted class (N,) int64."""
        return self.logits(x).argmax(axis=1)

    def hidden_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """Output of HL1, HL2, ... after the activation, each (N, H_l)."""
        return [a for (_, _, a) in self.forward(x)[1]]

    def loss(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-sample softmax cross-entropy (N,)."""
        logits, _ = self.forward(x)
        return softmax_cross_entropy(logits, check_y(y, len(logits), self.n_out))[0]

    def input_gradient(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample loss (N,) and d(sum_n loss_n)/dx (N, n_in): row n is d loss_n / d x_n."""
        x = check_x(x, self.n_in).astype(self.dtype, copy=False)
        return self._input_gradient(x, check_y(y, len(x), self.n_out))

    def _input_gradient(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`input_gradient` without validation, for attack loops that checked x and y once
        (the isfinite scan of a 4096-image batch at every PGD iteration is 2 % of PGD)."""
        logits, cache = self._forward(x)
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

    def loss_and_param_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean cross-entropy over the batch, and fill `self.grads` with its gradient.

        Returns (mean loss, logits)."""
        x = check_x(x, self.n_in).astype(self.dtype, copy=False)
        return self._loss_and_param_grads(x, check_y(y, len(x), self.n_out))

    def _loss_and_param_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """`loss_and_param_grads` without validation: the training loop checks the whole
        dataset once, then calls this 1875 times per epoch (at batch 32), where the checks
        would cost ~10 % of an epoch."""
        logits, cache = self._forward(x)
        loss, dlogits = softmax_cross_entropy(logits, y)
        dlogits *= self.dtype.type(1.0 / len(logits))
        self.backward(cache, dlogits, param_grads=True, input_grad=False)
        return float(loss.sum()) / len(loss), logits

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write weights and JSON metadata to an .npz file, atomically (temp file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = dict(self.config(), format_version=FORMAT_VERSION, dtype=str(self.dtype))
        from . import __version__

        meta["nprelu_version"] = __version__
        arrays = {"meta": np.array(json.dumps(meta))}
        for i, layer in enumerate(self.dense):
            arrays[f"W{i}"], arrays[f"b{i}"] = layer.W, layer.b
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> MLP:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no model file at {path}")
        try:
            with np.load(path, allow_pickle=False) as f:
                meta = json.loads(str(f["meta"]))
                arrays = {k: f[k] for k in f.files if k != "meta"}
        except Exception as err:
            raise ValueError(f"{path} is not a readable nprelu model file ({err})") from err
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported model format {meta.get('format_version')}")
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
        for i, layer in enumerate(model.dense):
            W, b = arrays[f"W{i}"], arrays[f"b{i}"]
            if W.shape != layer.W.shape or b.shape != layer.b.shape:
                raise ValueError(f"{path}: layer {i} has shape {W.shape}, expected {layer.W.shape}")
            layer.W[...], layer.b[...] = W, b
        return model
