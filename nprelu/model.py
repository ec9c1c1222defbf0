"""The multilayer perceptron of the paper: dense hidden layers with (capped) ReLU, dense logits.

    x (N, 784) -> [Dense -> activation] * L -> Dense -> logits Z (N, 10)

An MLP is a Network (nprelu.network) of Dense layers, each hidden one with its activation
(nprelu.layers): the forward and backward passes, the flat parameter buffer, input gradients
and losses are the Network's. This module adds what the paper's nets need on top: the
constructor by hidden sizes and caps, and the model file the paper's nets have always had.

Hidden layers are numbered from 1 as in the paper (HL1, HL2, ...). `caps` maps a hidden-layer
number to its cap beta (one number, or one per unit); a hidden layer without a cap is a plain
ReLU. Softmax is not part of the model: losses take logits.

Methods that take images validate them (shape, dtype, finite, in [0, 1]; see nprelu.checks).
Loops that call them thousands of times on data they already validated pass `check=False`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import blas
from .activations import CappedReLU, ScaledSigmoid, ScaledTanh
from .checks import check_choice, check_count, check_hidden, check_number
from .files import META_KEYS, ModelFileError, check_array, read_archive, write_model_file
from .layers import Dense
from .network import Network, dense_layers
from .version import VERSION

ACTIVATIONS = ("relu", "sigmoid", "tanh")


class MLP(Network):
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
        dataset: str = "mnist",
    ):
        self.hidden = check_hidden(hidden)
        self.activation = check_choice(activation, "activation", ACTIVATIONS)
        self.c = check_number(c, "c", positive=True)
        n_in, n_out = check_count(n_in, "n_in"), check_count(n_out, "n_out", 2)
        make = {"relu": CappedReLU, "sigmoid": ScaledSigmoid, "tanh": ScaledTanh}[activation]
        layers = dense_layers(n_in, self.hidden, n_out,
                              lambda units: make() if activation == "relu" else make(self.c))
        super().__init__(layers, (n_in,), seed, dtype, dataset)
        self.set_caps(caps or {})

    @property
    def dense(self) -> list[Dense]:
        """The dense layers, HL1 ... HLL and the logits layer."""
        return self.layers

    # ------------------------------------------------------------------ configuration
    def set_caps(self, caps: dict) -> MLP:
        """Change beta of the given hidden layers (1-based); None or inf removes a cap.

        Layers not named keep their current activation. Returns self."""
        if caps and self.activation != "relu":
            raise ValueError("caps apply to ReLU networks only; this one uses " + self.activation)
        return super().set_caps(caps)

    def config(self) -> dict:
        caps = {str(k): (v.tolist() if isinstance(v, np.ndarray) else v)
                for k, v in sorted(self.caps.items())}
        return {"hidden": list(self.hidden), "caps": caps, "activation": self.activation,
                "c": self.c, "seed": self.seed, "n_in": self.n_in, "n_out": self.n_out,
                "dataset": self.dataset}

    @classmethod
    def from_config(cls, config: dict, dtype=np.float32) -> MLP:
        caps = {int(k): (np.asarray(v) if isinstance(v, list) else v)
                for k, v in config["caps"].items()}
        return cls(tuple(config["hidden"]), caps, config["activation"], config["c"],
                   config["seed"], config["n_in"], config["n_out"], dtype,
                   config.get("dataset", "mnist"))

    def __repr__(self) -> str:
        pairs = enumerate(zip(self.hidden, self.acts))
        acts = ", ".join(f"HL{i + 1}:{h} {a.name}" for i, (h, a) in pairs)
        return f"MLP({self.n_in} -> {acts} -> {self.n_out})"

    def copy(self, dtype=None) -> MLP:
        """An independent copy with the same weights, in `dtype` (default: this model's)."""
        twin = MLP.from_config(self.config(), self.dtype if dtype is None else dtype)
        twin.params[...] = self.params
        return twin

    def __reduce__(self):
        """Pickle as (config, weights): the layers' views into the flat buffer are rebuilt, not
        copied apart (a worker process receives a model that trains like the original)."""
        return (_rebuild, (self.config(), str(self.dtype), self.params))

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
        """Load a model saved by `save`, after checking the file completely (read_model_file)."""
        meta, layers = read_model_file(path)
        if meta.get("format_version") == 2:
            raise ModelFileError(f"{path} holds a network of layers, not an MLP: load it with "
                                 "nprelu.load_model (or Network.load)")
        try:
            model = cls.from_config(meta, np.dtype(meta.get("dtype", "float32")))
        except (ValueError, TypeError, AttributeError, KeyError) as err:
            raise ValueError(f"{path}: bad model metadata: {err}") from None
        for layer, (W, b) in zip(model.dense, layers):
            layer.W[...], layer.b[...] = W, b
        return model


def read_model_file(path: str | os.PathLike) -> tuple[dict, list[tuple[np.ndarray, np.ndarray]]]:
    """Read and fully check an MLP file (format 1). Returns (meta, [(W, b) per dense layer]);
    a format-2 file gives its meta and no layers (the caller refuses it)."""
    path = Path(path)
    meta, arrays = read_archive(path)
    if meta.get("format_version") == 2:
        return meta, []
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise ModelFileError(f"{path}: metadata lacks {', '.join(missing)}; the file is "
                             "incomplete or from another program")
    try:
        sizes = (int(meta["n_in"]), *(int(h) for h in meta["hidden"]), int(meta["n_out"]))
    except (TypeError, ValueError):
        raise ModelFileError(f"{path}: metadata has a bad hidden/n_in/n_out entry") from None
    shapes = list(zip(sizes[:-1], sizes[1:]))  # (fan-in, fan-out) of each dense layer
    wanted = {f"{k}{i}" for i in range(len(shapes)) for k in "Wb"}
    missing, extra = sorted(wanted - arrays.keys()), sorted(arrays.keys() - wanted)
    if missing:
        raise ModelFileError(f"{path}: weight arrays {', '.join(missing)} are missing (a net "
                             f"with hidden {meta['hidden']} needs {', '.join(sorted(wanted))})")
    if extra:
        raise ModelFileError(f"{path}: unexpected arrays {', '.join(extra)} for a net with "
                             f"hidden {meta['hidden']}")
    layers = []
    for i, (n_in, n_out) in enumerate(shapes):
        W, b = arrays[f"W{i}"], arrays[f"b{i}"]
        if W.shape != (n_in, n_out) or b.shape != (n_out,):
            raise ModelFileError(f"{path}: layer {i} has W {W.shape} and b {b.shape}, expected "
                                 f"{(n_in, n_out)} and {(n_out,)}")
        check_array(path, f"W{i}", W, (n_in, n_out))
        check_array(path, f"b{i}", b, (n_out,))
        layers.append((W, b))
    return meta, layers


def _rebuild(config: dict, dtype: str, params: np.ndarray) -> MLP:
    model = MLP.from_config(config, np.dtype(dtype))
    model.params[...] = params
    return model


def load_model(path: str | os.PathLike) -> Network:
    """The model a file holds, whichever kind: an MLP (format 1) or a network of layers
    (format 2), checked completely on the way (nprelu.files)."""
    meta, _ = read_archive(Path(path))
    return Network.load(path) if meta.get("format_version") == 2 else MLP.load(path)
