"""A network is a sequence of layers (nprelu.layers) over one flat parameter buffer.

    images (N, 784) -> reshaped once to the first layer's input, e.g. (N, 1, 28, 28)
                    -> layer 1 -> layer 2 -> ... -> logits Z (N, 10)

Every parameter lives in one flat float32 buffer (`params`) and every gradient in another
(`grads`); each layer's W, b (and a learned cap's m) are views into them. Adam then updates the
whole model in one kernel call, and nothing is copied between steps.

The forward pass returns the logits and one cache per layer; the backward pass walks the
layers in reverse, each returning the gradient of its input (the chain rule, one line per
layer). Softmax is not part of the network: losses take logits.

Activation sites: the layers that carry an activation are numbered from 1 in order, as the
paper numbers hidden layers (HL1, HL2, ...); `set_caps` and `hidden_outputs` use that numbering.
Images always enter as (N, 784) in [0, 1]; `input_shape` says how they are read, so every
attack, metric and certificate works on any network unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import blas
from .activations import CappedReLU, LearnedCap
from .checks import check_caps, check_images, check_labels, check_seed
from .data import check_dataset
from .files import NETWORK_KEYS, ModelFileError, check_array, read_archive, write_model_file
from .layers import Conv2D, Dense, Flatten, MaxPool2D, from_layer_config
from .losses import softmax_cross_entropy
from .version import VERSION

# Convolutions unfold their input (im2col): a batch of attacked images is cut into chunks whose
# unfolded patches stay under this many bytes.
COLS_BUDGET = 256 << 20


class Network:
    """A sequence of layers; `Network.cnn(...)`, `nprelu.MLP(...)` build the usual ones."""

    def __init__(self, layers, input_shape=(784,), seed: int = 0, dtype=np.float32,
                 dataset: str = "mnist"):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.seed = check_seed(seed)
        self.dtype = np.dtype(dtype)
        self.dataset = check_dataset(dataset)
        self.n_in = int(np.prod(self.input_shape))
        shape = self.input_shape
        self.shapes = [shape]  # the shape of one sample before each layer, and at the end
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.out_shape(shape)
            except ValueError as err:
                raise ValueError(f"layer {i + 1} ({layer.kind}): {err}") from None
            self.shapes.append(shape)
        if len(shape) != 1 or shape[0] < 2:
            raise ValueError(f"the last layer must give one logit per class (at least 2), got "
                             f"samples of shape {shape}")
        self.n_out = shape[0]
        self._allocate()
        rng = np.random.default_rng(self.seed)
        for layer in self.layers:
            layer.init_(rng)

    def _allocate(self) -> None:
        """The flat buffers, and every layer's views into them (W, then b, then the rest)."""
        total = sum(int(np.prod(s)) for layer in self.layers for s in layer.params.values())
        self.params = np.zeros(total, self.dtype)
        self.grads = np.zeros(total, self.dtype)
        at = 0
        for layer in self.layers:
            values, grads = {}, {}
            for name, shape in layer.params.items():
                size = int(np.prod(shape))
                values[name] = self.params[at : at + size].reshape(shape)
                grads[name] = self.grads[at : at + size].reshape(shape)
                at += size
            layer.bind(values, grads)

    # ------------------------------------------------------------------ building
    @classmethod
    def cnn(cls, convs=((16, 5), (32, 5)), dense: tuple[int, ...] = (128,), caps=None,
            pool: int = 2, seed: int = 0, dataset: str = "mnist", n_classes: int = 10,
            dtype=np.float32) -> Network:
        """Conv(k x k, 'same' padding, stride 1) + activation + k' x k' max-pool per entry of
        `convs` ((channels, kernel size), ...), then Flatten, the dense layers, and the logits.
        caps maps an activation site (1..S, convolutions first) to its beta (or one per
        channel / unit); the others are plain ReLUs."""
        caps = check_caps(caps, len(convs) + len(dense))
        sites = iter(range(1, len(convs) + len(dense) + 1))

        def act(units):
            site = next(sites)
            return CappedReLU(np.inf if caps.get(site) is None else caps[site])

        layers, width = conv_layers([(ch, k, pool) for ch, k in convs], act)
        layers += dense_layers(width, tuple(dense), n_classes, act)
        return cls(layers, (1, 28, 28), seed=seed, dtype=dtype, dataset=dataset)

    @classmethod
    def conv_dense(cls, convs, hidden: tuple[int, ...], act=None, init: str = "glorot",
                   n_classes: int = 10, seed: int = 0, dataset: str = "mnist",
                   dtype=np.float32) -> Network:
        """Convolutions with plain ReLUs, then dense layers with act(units) (default a plain
        ReLU): per (channels, k, pool) of `convs` a 'same' k x k convolution (weights by
        `init`, "glorot" or "he") and, if pool > 1, a pool x pool max-pool; then Flatten, the
        hidden dense layers and the logits. D-ReLU's shallow CNN is
        conv_dense(((32, 3, 1), (32, 3, 2)), (256,), LearnedCap, init="he")."""
        layers, width = conv_layers(convs, lambda units: CappedReLU(), init)
        layers += dense_layers(width, tuple(hidden), n_classes,
                               act or (lambda units: CappedReLU()))
        return cls(layers, (1, 28, 28), seed=seed, dtype=dtype, dataset=dataset)

    @classmethod
    def dense(cls, hidden: tuple[int, ...], act=None, n_in: int = 784, n_out: int = 10,
              seed: int = 0, dataset: str = "mnist", dtype=np.float32) -> Network:
        """n_in -> hidden... -> n_out dense layers; `act(units)` makes each hidden layer's
        activation (default: a plain ReLU), e.g. lambda units: LearnedCap(units) for D-ReLU's
        dense net. Weights Glorot-uniform, biases zero, as Keras initialises them."""
        layers = dense_layers(n_in, hidden, n_out, act or (lambda units: CappedReLU()))
        return cls(layers, (n_in,), seed=seed, dtype=dtype, dataset=dataset)

    def config(self) -> dict:
        return {"kind": "network", "input_shape": list(self.input_shape),
                "layers": [layer.config() for layer in self.layers], "seed": self.seed,
                "dataset": self.dataset}

    def __repr__(self) -> str:
        parts = []
        for layer in self.layers:
            act = f" {layer.act.name}" if getattr(layer, "act", None) is not None else ""
            if layer.kind == "dense":
                parts.append(f"Dense {layer.n_out}{act}")
            elif layer.kind == "conv2d":
                parts.append(f"Conv {layer.c_out}x{layer.k}x{layer.k}{act}")
            elif layer.kind == "maxpool2d":
                parts.append(f"MaxPool {layer.k}")
            elif layer.kind == "activation":
                parts.append(layer.act.name)
        return f"Network({'x'.join(map(str, self.input_shape))} -> {' -> '.join(parts)})"

    def copy(self, dtype=None) -> Network:
        """An independent copy with the same weights, in `dtype` (default: this model's), and
        the same training history if it has one."""
        twin = rebuild(self.config(), str(self.dtype if dtype is None else np.dtype(dtype)),
                       self.params, getattr(self, "history", None))
        return twin

    def __reduce__(self):
        """Pickle as (config, weights): the layers' views are rebuilt, not copied apart."""
        return (rebuild, (self.config(), str(self.dtype), self.params,
                          getattr(self, "history", None)))

    def slice_of(self, view: np.ndarray) -> slice:
        """Where a parameter view (a layer's W or b, a learned cap's m) lies in the flat
        buffer `params` (and, at the same place, in `grads`)."""
        if not np.shares_memory(view, self.params):
            raise ValueError("slice_of needs a view into this network's parameters")
        start = (view.ctypes.data - self.params.ctypes.data) // self.params.itemsize
        return slice(start, start + view.size)

    # ------------------------------------------------------------------ activation sites
    @property
    def sites(self) -> list:
        """The layers that carry an activation, in order: HL1, HL2, ... (1-based)."""
        return [layer for layer in self.layers if getattr(layer, "act", None) is not None]

    @property
    def acts(self) -> list:
        """The activation of each site (HL1, HL2, ...)."""
        return [layer.act for layer in self.sites]

    @property
    def caps(self) -> dict:
        """{site: beta} of the sites whose fixed cap is finite."""
        return {i + 1: a.beta for i, a in enumerate(self.acts)
                if isinstance(a, CappedReLU) and a.capped}

    def set_caps(self, caps: dict) -> Network:
        """Change beta of the given activation sites (1-based); None or inf removes a cap.
        Sites not named keep their activation. Returns self."""
        sites = self.sites
        for hl, beta in check_caps(caps, len(sites)).items():
            act = sites[hl - 1].act
            if not isinstance(act, CappedReLU):
                raise ValueError(f"HL{hl} has a {act.name}, not a (capped) ReLU: caps apply to "
                                 "ReLU layers only" + (" (a learned cap is a parameter: set its "
                                                      "m instead)" if isinstance(act, LearnedCap)
                                                      else ""))
            sites[hl - 1].act = CappedReLU(np.inf if beta is None else beta)
        return self

    def with_capped_layer(self, where: str, beta: float) -> Network:
        """A copy with one capped layer added, initialised so that the net is unchanged
        wherever the cap is inactive (the paper's future work, its Sec. 9: a layer with a
        customised ReLU at the beginning, or before the output):

            where="input":  x -> clip(x I, 0, beta) first (a 1x1 convolution with weight 1 for
                            a convolutional net); unchanged for beta >= 1, as pixels lie in
                            [0, 1]
            where="output": a -> clip(a I, 0, beta) between the last hidden layer and the
                            logits; unchanged where every last hidden output is <= beta (they
                            are >= 0 already)

        The new layer's weights are ordinary parameters: fine-tuning trains them too."""
        beta = check_caps({1: beta}, 1)[1]
        if beta is None:
            raise ValueError("beta must be a finite cap > 0 (an uncapped identity layer would "
                             "add nothing)")
        old = [from_layer_config(layer.config()) for layer in self.layers]
        if where == "input":
            if len(self.input_shape) == 1:
                added = Dense(self.n_in, self.n_in, CappedReLU(beta))
            else:
                c = self.input_shape[0]
                added = Conv2D(c, c, 1, 1, 0, CappedReLU(beta))
            layers = [added, *old]
        elif where == "output":
            width = self.layers[-1].W.shape[0]
            added = Dense(width, width, CappedReLU(beta))
            layers = [*old[:-1], added, old[-1]]
        else:
            raise ValueError(f"where must be 'input' or 'output', got {where!r}")
        twin = Network(layers, self.input_shape, self.seed, self.dtype, self.dataset)
        for src, dst in zip(self.layers, [layer for layer in twin.layers if layer is not added]):
            for name in src.params:
                _param(dst, name)[...] = _param(src, name)
        # the identity: (n, n) for a dense layer, (c, c, 1, 1) for a 1x1 convolution
        added.W[...] = np.eye(added.W.shape[0], dtype=self.dtype).reshape(added.W.shape)
        added.b[...] = 0
        return twin

    # ------------------------------------------------------------------ forward / backward
    def _images(self, x: np.ndarray, check: bool) -> np.ndarray:
        if check:
            x = check_images(x, self.n_in).astype(self.dtype, copy=False)
        return x.reshape(len(x), *self.input_shape) if len(self.input_shape) > 1 else x

    def forward(self, x: np.ndarray, check: bool = True) -> tuple[np.ndarray, list]:
        """Logits (N, n_out) and the caches of every layer, for backward."""
        h = self._images(x, check)
        caches = []
        for layer in self.layers:
            h, cache = layer.forward(h)
            caches.append(cache)
        return h, caches

    def backward(self, caches: list, dlogits: np.ndarray, param_grads: bool = True,
                 input_grad: bool = True, bpda: bool = False) -> np.ndarray | None:
        """Backpropagate dL/dlogits (N, n_out). Writes dL/dparams into `self.grads` when
        `param_grads`; returns dL/dx (N, n_in) when `input_grad`, else None.

        bpda=True is the straight-through surrogate of the gradient-masking audit: each capped
        activation passes a plain ReLU's derivative (the forward pass in `caches` kept the
        caps)."""
        grad = dlogits
        for i in range(len(self.layers) - 1, -1, -1):
            want_input = input_grad or i > 0
            grad = self.layers[i].backward(caches[i], grad, param_grads, want_input, bpda)
        return grad.reshape(len(grad), -1) if grad is not None else None

    # ------------------------------------------------------------------ conveniences
    @property
    def batch_limit(self) -> int:
        """The largest batch whose unfolded convolution patches fit COLS_BUDGET (no limit for
        a network without convolutions)."""
        per_sample = 0
        for layer, shape in zip(self.layers, self.shapes[1:]):
            if layer.kind == "conv2d":
                per_sample = max(per_sample, shape[1] * shape[2] * layer.c_in * layer.k ** 2)
        if not per_sample:
            return 1 << 30
        return max(1, COLS_BUDGET // (per_sample * self.dtype.itemsize))

    def chunk(self, batch: int) -> int:
        """A batch size no larger than `batch` that this network can unfold at once."""
        return min(batch, self.batch_limit)

    def logits(self, x: np.ndarray, batch: int = 4096) -> np.ndarray:
        x = check_images(x, self.n_in).astype(self.dtype, copy=False)
        batch = self.chunk(batch)
        return np.concatenate([self.forward(x[i : i + batch], check=False)[0]
                               for i in range(0, len(x), batch)])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted class (N,) int64."""
        return self.logits(x).argmax(axis=1)

    def hidden_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """Output of each activation site (HL1, HL2, ...) after the activation, one array
        (N, units) per site; a convolution's output is flattened (C H W units)."""
        h = self._images(x, True)
        out = []
        for layer in self.layers:
            h, _ = layer.forward(h)
            if getattr(layer, "act", None) is not None:
                out.append(h.reshape(len(h), -1))
        return out

    def loss(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-sample softmax cross-entropy (N,)."""
        logits, _ = self.forward(x)
        return softmax_cross_entropy(logits, check_labels(y, len(logits), self.n_out))[0]

    def input_gradient(self, x: np.ndarray, y: np.ndarray, check: bool = True
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample loss (N,) and d(sum_n loss_n)/dx (N, n_in): row n is d loss_n / d x_n.

        check=False skips validating x and y, for attack loops that checked them once."""
        if check:
            x = check_images(x, self.n_in).astype(self.dtype, copy=False)
            y = check_labels(y, len(x), self.n_out)
        if len(x) > self.batch_limit:  # a convolutional net on many images: in chunks
            step = self.batch_limit
            parts = [self.input_gradient(x[i : i + step], y[i : i + step], check=False)
                     for i in range(0, len(x), step)]
            return (np.concatenate([p[0] for p in parts]),
                    np.concatenate([p[1] for p in parts]))
        logits, caches = self.forward(x, check=False)
        loss, dlogits = softmax_cross_entropy(logits, y)
        return loss, self.backward(caches, dlogits, param_grads=False)

    def loss_and_param_grads(self, x: np.ndarray, y: np.ndarray, check: bool = True
                             ) -> tuple[float, np.ndarray]:
        """Mean cross-entropy over the batch, and fill `self.grads` with its gradient.

        Returns (mean loss, logits). check=False: the training loop validated the whole
        dataset once and calls this thousands of times per epoch."""
        if check:
            x = check_images(x, self.n_in).astype(self.dtype, copy=False)
            y = check_labels(y, len(x), self.n_out)
        logits, caches = self.forward(x, check=False)
        loss, dlogits = softmax_cross_entropy(logits, y)
        dlogits *= self.dtype.type(1.0 / len(logits))
        self.backward(caches, dlogits, param_grads=True, input_grad=False)
        return float(loss.sum()) / len(loss), logits

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the layer configs (JSON) and every parameter array to an .npz, atomically."""
        meta = dict(self.config(), dtype=str(self.dtype), nprelu_version=VERSION,
                    blas=blas.describe())
        arrays = {}
        for i, layer in enumerate(self.layers):
            for name in layer.params:
                arrays[f"L{i}.{name}"] = _param(layer, name)
        return write_model_file(path, meta, arrays, format_version=2)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Network:
        """Load a network file (format 2), after checking it completely: every layer's config,
        that the layers fit together, every parameter array's presence, shape and finiteness.
        (An MLP file, format 1: nprelu.MLP.load; either: nprelu.load_model.)"""
        path = Path(path)
        meta, arrays = read_archive(path)
        if meta.get("format_version") != 2:
            raise ModelFileError(f"{path} holds an MLP (model format 1): load it with "
                                 "nprelu.MLP.load or nprelu.load_model")
        missing = [k for k in NETWORK_KEYS if k not in meta]
        if missing:
            raise ModelFileError(f"{path}: metadata lacks {', '.join(missing)}; the file is "
                                 "incomplete or from another program")
        configs = meta["layers"]
        if not isinstance(configs, list) or not configs:
            raise ModelFileError(f"{path}: 'layers' must be a non-empty list of layer configs")
        layers = []
        for i, cfg in enumerate(configs):
            try:
                layers.append(from_layer_config(cfg))
            except (ValueError, TypeError, KeyError, AttributeError) as err:
                raise ModelFileError(f"{path}: layer {i + 1} has a bad config ({err})") from None
        try:
            model = Network(layers, meta["input_shape"], meta["seed"],
                            np.dtype(meta.get("dtype", "float32")), meta.get("dataset", "mnist"))
        except (ValueError, TypeError) as err:
            raise ModelFileError(f"{path}: the layers do not fit together: {err}") from None
        wanted = {f"L{i}.{name}": shape for i, layer in enumerate(model.layers)
                  for name, shape in layer.params.items()}
        missing, extra = sorted(wanted.keys() - arrays.keys()), sorted(arrays.keys() - wanted)
        if missing:
            raise ModelFileError(f"{path}: parameter arrays {', '.join(missing)} are missing")
        if extra:
            raise ModelFileError(f"{path}: unexpected arrays {', '.join(extra)} for its layers")
        for i, layer in enumerate(model.layers):
            for name, shape in layer.params.items():
                key = f"L{i}.{name}"
                check_array(path, f"{key} (layer {i + 1}, {layer.kind})", arrays[key], shape)
                _param(layer, name)[...] = arrays[key]
        return model


def dense_layers(n_in: int, hidden: tuple[int, ...], n_out: int, act) -> list[Dense]:
    """n_in -> hidden... -> n_out as Dense layers; act(units) makes each hidden layer's
    activation, the last layer (the logits) has none."""
    sizes = (n_in, *hidden, n_out)
    return [Dense(sizes[i], sizes[i + 1], act(sizes[i + 1]) if i < len(hidden) else None)
            for i in range(len(sizes) - 1)]


def conv_entry(entry) -> tuple[int, int, int, int, int]:
    """A convolution entry of `conv_layers` in full, (channels, k, pool, stride, pad): a short
    entry (channels, k, pool) is stride 1 with 'same' padding k // 2."""
    if len(entry) not in (3, 5):
        raise ValueError(f"a convolution is (channels, k, pool) or (channels, k, pool, stride, "
                         f"pad); got {entry!r}")
    ch, k, pool = entry[:3]
    stride, pad = entry[3:] if len(entry) == 5 else (1, k // 2)
    return ch, k, pool, stride, pad


def conv_layers(convs, act, init: str = "glorot", in_shape=(1, 28, 28)) -> tuple[list, int]:
    """Per (channels, k, pool) of `convs`: Conv2D(k x k, stride 1, 'same' padding k // 2,
    activation act(channels), weights by `init`) and, if pool > 1, MaxPool2D(pool); an entry
    (channels, k, pool, stride, pad) sets the stride and the zero padding (pad 0: 'valid', as in
    Gowal et al.'s IBP CNNs). Then Flatten. Returns the layers and the flattened width."""
    layers, (c, side, _) = [], in_shape
    for entry in convs:
        ch, k, pool, stride, pad = conv_entry(entry)
        conv = Conv2D(c, ch, k, stride, pad, act(ch), init)
        layers.append(conv)
        c, side, _ = conv.out_shape((c, side, side))
        if pool > 1:
            layers.append(MaxPool2D(pool))
            side //= pool
    return [*layers, Flatten()], c * side * side


def _param(layer, name: str) -> np.ndarray:
    if name in ("W", "b"):
        return getattr(layer, name)
    return getattr(layer.act, name)


def rebuild(config: dict, dtype: str, params: np.ndarray, history: dict | None = None
            ) -> Network:
    """A network from its config, with the given flat parameters (pickling, copies) and, if
    given, its training history (what fit records for early-stopped recipes)."""
    layers = [from_layer_config(c) for c in config["layers"]]
    model = Network(layers, config["input_shape"], config["seed"], np.dtype(dtype),
                    config.get("dataset", "mnist"))
    model.params[...] = params
    if history is not None:
        model.history = history
    return model
