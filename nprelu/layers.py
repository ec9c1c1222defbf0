"""The layers a network is made of, each with its forward and backward pass side by side.

    Dense       z = x W + b, then an optional activation a = f(z)      x (N, in) -> (N, out)
    Conv2D      z = W * x + b (k x k kernels, stride, zero padding),   (N, C, H, W) ->
                then an optional activation, one cap per channel        (N, C', H', W')
    MaxPool2D   the largest value of each k x k window (stride k)      (N, C, H, W) -> H / k
    Flatten     (N, C, H, W) -> (N, C*H*W), C-order as in PyTorch
    Activation  an activation alone, on any shape (one cap per unit of the flattened input)

The contract, the same for every layer:
- `forward(x)` returns (y, cache): the output and what backward needs;
- `backward(cache, dy, param_grads, input_grad, bpda)` returns dL/dx (or None when not
  `input_grad`), and when `param_grads` writes dL/dW etc. into the layer's gradient views;
- `params` maps each parameter's name to its shape; `bind(values, grads)` hands the layer views
  into the network's flat parameter and gradient buffers (so that Adam updates every parameter
  in one kernel call); the layer never replaces them, it only writes into them;
- `init_(rng)` draws the initial weights; `config()` describes the layer for saving;
  `out_shape(in_shape)` gives the shape of one output sample.

Dense and Conv2D fuse their activation with the bias (forward: bias add + activation in one
kernel; backward: derivative + bias gradient), as the nprelu.activations kernels do. bpda=True
(the audit's straight-through gradient) makes every capped activation pass ReLU's derivative.
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .activations import from_config
from .checks import check_choice, check_count


def glorot_limit(fan_in: int, fan_out: int) -> float:
    """Glorot-uniform bound sqrt(6 / (fan_in + fan_out)) (Keras' default initialiser)."""
    return float(np.sqrt(6.0 / (fan_in + fan_out)))


def activate(act, z: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The activation of z (rows, units) with the bias b (units,) added first, fused in one
    kernel (z is modified in place: it becomes z + b); without an activation, z + b."""
    if act is None:
        z += b
        return z
    a = np.empty_like(z)
    act.forward(z, b, a)
    return a


def activate_backward(act, z, a, da, db, param_grads: bool, bpda: bool) -> np.ndarray:
    """dL/dz from dL/da through the activation (identity without one), and db = sum of dz over
    the rows when param_grads (fused in the activation's kernel)."""
    if act is None:
        if param_grads:
            np.sum(da, axis=0, out=db)
        return da
    dz = np.empty_like(z)
    act.backward(z, a, da, dz, db, param_grads, straight_through=bpda)
    return dz


def rows_to_images(z: np.ndarray, n: int, oh: int, ow: int) -> np.ndarray:
    """A convolution's output rows (N OH OW, C), one row per output pixel, as images
    (N, C, OH, OW), C-contiguous."""
    return np.ascontiguousarray(z.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2))


def images_to_rows(g: np.ndarray) -> np.ndarray:
    """The inverse of `rows_to_images`: (N, C, H, W) -> (N H W, C)."""
    return np.ascontiguousarray(g.transpose(0, 2, 3, 1)).reshape(-1, g.shape[1])


class Dense:
    """z = x W + b, then the activation (if any). W (in, out), b (out,)."""

    kind = "dense"

    def __init__(self, n_in: int, n_out: int, activation=None):
        self.n_in, self.n_out = check_count(n_in, "n_in"), check_count(n_out, "n_out")
        self.act = activation
        self.W = np.zeros((self.n_in, self.n_out), np.float32)
        self.b = np.zeros(self.n_out, np.float32)
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)

    @property
    def params(self) -> dict:
        own = {"W": (self.n_in, self.n_out), "b": (self.n_out,)}
        return {**own, **(self.act.params if self.act is not None else {})}

    @property
    def shape(self) -> tuple[int, int]:
        return self.W.shape

    def bind(self, values: dict, grads: dict) -> None:
        self.W, self.b, self.dW, self.db = values["W"], values["b"], grads["W"], grads["b"]
        if self.act is not None and self.act.params:
            self.act.bind(values, grads)

    def init_(self, rng: np.random.Generator) -> None:
        """Glorot-uniform W, zero b; a learned cap starts at its initial value."""
        limit = glorot_limit(self.n_in, self.n_out)
        self.W[...] = rng.uniform(-limit, limit, size=self.W.shape).astype(self.W.dtype)
        self.b[...] = 0
        if self.act is not None and self.act.params:
            self.act.init_(rng)

    def config(self) -> dict:
        return {"type": self.kind, "n_in": self.n_in, "n_out": self.n_out,
                "activation": None if self.act is None else self.act.config()}

    def out_shape(self, in_shape: tuple) -> tuple:
        if tuple(in_shape) != (self.n_in,):
            raise ValueError(f"a dense layer with {self.n_in} inputs cannot take samples of "
                             f"shape {tuple(in_shape)}")
        return (self.n_out,)

    def forward(self, x: np.ndarray):
        """z = x W + b (N, out); a = act(z), or z itself without an activation."""
        z = x @ self.W  # BLAS; the bias is added with the activation, in one kernel
        a = activate(self.act, z, self.b)
        return a, (x, z if self.act is not None else None, a)

    def backward(self, cache, da: np.ndarray, param_grads: bool = True,
                 input_grad: bool = True, bpda: bool = False):
        """dz = da * act'(z); dW = x^T dz, db = sum_n dz (when param_grads); returns
        dL/dx = dz W^T (N, in) when input_grad, else None."""
        x, z, a = cache
        dz = activate_backward(self.act, z, a, da, self.db, param_grads, bpda)
        if param_grads:
            np.matmul(x.T, dz, out=self.dW)
        return dz @ self.W.T if input_grad else None

    # for certification: the layer as a linear map of its input, and its transpose
    def linear(self, x: np.ndarray, W: np.ndarray | None = None) -> np.ndarray:
        """x W (no bias), W defaults to the layer's (certification passes |W| or float64)."""
        return x @ (self.W if W is None else W)

    def linear_T(self, g: np.ndarray, W: np.ndarray | None = None) -> np.ndarray:
        """g W^T: the transpose of `linear`, for coefficients g (M, out) -> (M, in)."""
        return g @ (self.W if W is None else W).T


class Conv2D:
    """Convolution of (N, C, H, W) images with C_out kernels of C x k x k, stride s and zero
    padding p, then the activation (if any; a capped one takes one cap or one per channel).

    By im2col: the input's k x k patches become the columns of a matrix cols (C k k, N OH OW)
    (nprelu.kernels.im2col), and the convolution is one matrix product with the kernels W
    reshaped to (C_out, C k k):
        z[(n, p, q), c'] = sum_{c, u, v} x[n, c, p s - pad + u, q s - pad + v] W[c', c, u, v]
                           + b[c'],        i.e.  z = cols^T W^T + b
    The backward pass is the same product transposed: dW = dz^T cols^T, and
    dL/dx = col2im(W^T dz^T), which adds each patch's gradient back onto the pixels it was
    copied from."""

    kind = "conv2d"

    INITS = ("glorot", "he")

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, pad: int = 0,
                 activation=None, init: str = "glorot"):
        self.c_in, self.c_out = check_count(c_in, "c_in"), check_count(c_out, "c_out")
        self.init = check_choice(init, "init", self.INITS)
        self.k, self.stride = check_count(k, "kernel size"), check_count(stride, "stride")
        self.pad = check_count(pad, "padding", minimum=0)
        self.act = activation
        self.W = np.zeros((self.c_out, self.c_in, self.k, self.k), np.float32)
        self.b = np.zeros(self.c_out, np.float32)
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)

    @property
    def params(self) -> dict:
        own = {"W": (self.c_out, self.c_in, self.k, self.k), "b": (self.c_out,)}
        return {**own, **(self.act.params if self.act is not None else {})}

    bind = Dense.bind

    def init_(self, rng: np.random.Generator) -> None:
        """Glorot-uniform over fan_in = C k k and fan_out = C_out k k (Keras' default), or
        (init="he") He-uniform, bound sqrt(6 / fan_in), Keras' he_uniform; zero b."""
        area = self.k * self.k
        limit = (glorot_limit(self.c_in * area, self.c_out * area) if self.init == "glorot"
                 else float(np.sqrt(6.0 / (self.c_in * area))))
        self.W[...] = rng.uniform(-limit, limit, size=self.W.shape).astype(self.W.dtype)
        self.b[...] = 0
        if self.act is not None and self.act.params:
            self.act.init_(rng)

    def config(self) -> dict:
        return {"type": self.kind, "c_in": self.c_in, "c_out": self.c_out, "k": self.k,
                "stride": self.stride, "pad": self.pad, "init": self.init,
                "activation": None if self.act is None else self.act.config()}

    def out_shape(self, in_shape: tuple) -> tuple:
        if len(in_shape) != 3 or in_shape[0] != self.c_in:
            raise ValueError(f"a convolution with {self.c_in} input channels cannot take "
                             f"samples of shape {tuple(in_shape)} (expected (C, H, W))")
        _, h, w = in_shape
        oh = (h + 2 * self.pad - self.k) // self.stride + 1
        ow = (w + 2 * self.pad - self.k) // self.stride + 1
        if oh < 1 or ow < 1:
            raise ValueError(f"a {self.k}x{self.k} kernel does not fit a {h}x{w} input with "
                             f"padding {self.pad}")
        return (self.c_out, oh, ow)

    def _cols(self, x: np.ndarray) -> tuple[np.ndarray, int, int]:
        """The unfolded patches (C k k, N OH OW), and OH, OW."""
        _, oh, ow = self.out_shape(x.shape[1:])
        cols = np.empty((self.c_in * self.k * self.k, len(x) * oh * ow), x.dtype)
        kernels.im2col(x, self.k, self.stride, self.pad, cols)
        return cols, oh, ow

    def forward(self, x: np.ndarray):
        """x (N, C, H, W) -> (N, C_out, OH, OW), a C-contiguous array."""
        cols, oh, ow = self._cols(x)
        z = cols.T @ self.W.reshape(self.c_out, -1).T  # (N OH OW, C_out)
        a = activate(self.act, z, self.b)  # one bias and one cap (if any) per channel
        out = rows_to_images(a, len(x), oh, ow)
        return out, (x.shape, cols, z if self.act is not None else None, a)

    def backward(self, cache, dout: np.ndarray, param_grads: bool = True,
                 input_grad: bool = True, bpda: bool = False):
        """dout (N, C_out, OH, OW) -> dL/dx (N, C, H, W); dW and db when param_grads."""
        x_shape, cols, z, a = cache
        da = images_to_rows(dout)
        dz = activate_backward(self.act, z, a, da, self.db, param_grads, bpda)
        if param_grads:
            self.dW[...] = (dz.T @ cols.T).reshape(self.W.shape)
        if not input_grad:
            return None
        dx = np.empty(x_shape, dz.dtype)
        kernels.col2im(self.W.reshape(self.c_out, -1).T @ dz.T, self.k, self.stride, self.pad, dx)
        return dx

    def linear(self, x: np.ndarray, W: np.ndarray | None = None) -> np.ndarray:
        """The convolution of x (N, C, H, W) without bias, with kernels W (default the layer's)."""
        W = self.W if W is None else W
        cols, oh, ow = self._cols(x)
        z = cols.T @ W.reshape(self.c_out, -1).T
        return z.reshape(len(x), oh, ow, self.c_out).transpose(0, 3, 1, 2)

    def linear_T(self, g: np.ndarray, in_shape: tuple, W: np.ndarray | None = None
                 ) -> np.ndarray:
        """The transpose of `linear`: coefficients g (M, C_out, OH, OW) -> (M, C, H, W)."""
        W = self.W if W is None else W
        flat = images_to_rows(g)
        dx = np.empty((len(g), *in_shape), g.dtype)
        kernels.col2im(W.reshape(self.c_out, -1).T @ flat.T, self.k, self.stride, self.pad, dx)
        return dx


class MaxPool2D:
    """Max-pooling over k x k windows with stride k. Backward: each window's gradient goes to
    its largest input; on a tie, to the first in row-major order (nprelu.kernels)."""

    kind = "maxpool2d"
    params: dict = {}
    act = None

    def __init__(self, k: int = 2):
        self.k = check_count(k, "pool size")

    def bind(self, values, grads) -> None:
        pass

    def init_(self, rng) -> None:
        pass

    def config(self) -> dict:
        return {"type": self.kind, "k": self.k}

    def out_shape(self, in_shape: tuple) -> tuple:
        if len(in_shape) != 3 or in_shape[1] < self.k or in_shape[2] < self.k:
            raise ValueError(f"{self.k}x{self.k} max-pooling needs (C, H, W) samples at least "
                             f"{self.k} on a side, got {tuple(in_shape)}")
        c, h, w = in_shape
        return (c, h // self.k, w // self.k)

    def forward(self, x: np.ndarray):
        c, oh, ow = self.out_shape(x.shape[1:])
        out = np.empty((len(x), c, oh, ow), x.dtype)
        arg = np.empty(out.shape, np.int32)
        kernels.maxpool_forward(x, self.k, out, arg)
        return out, (x.shape, arg)

    def backward(self, cache, dout, param_grads=True, input_grad=True, bpda=False):
        x_shape, arg = cache
        dx = np.empty(x_shape, dout.dtype)
        kernels.maxpool_backward(np.ascontiguousarray(dout), arg, self.k, dx)
        return dx


class Flatten:
    """(N, C, H, W) -> (N, C H W), in C order (channel, then row, then column)."""

    kind = "flatten"
    params: dict = {}
    act = None

    def bind(self, values, grads) -> None:
        pass

    def init_(self, rng) -> None:
        pass

    def config(self) -> dict:
        return {"type": self.kind}

    def out_shape(self, in_shape: tuple) -> tuple:
        return (int(np.prod(in_shape)),)

    def forward(self, x: np.ndarray):
        return x.reshape(len(x), -1), x.shape

    def backward(self, cache, dy, param_grads=True, input_grad=True, bpda=False):
        return dy.reshape(cache)


class Activation:
    """An activation as a layer of its own, on samples of any shape (flattened to units: a cap
    per unit means one per element of a sample). For an activation right after a Dense or
    Conv2D layer, give it to that layer instead (fused, and one cap per channel in a conv)."""

    kind = "activation"

    def __init__(self, activation):
        self.act = activation

    @property
    def params(self) -> dict:
        return self.act.params

    def bind(self, values: dict, grads: dict) -> None:
        if self.act.params:
            self.act.bind(values, grads)

    def init_(self, rng) -> None:
        if self.act.params:
            self.act.init_(rng)

    def config(self) -> dict:
        return {"type": self.kind, "activation": self.act.config()}

    def out_shape(self, in_shape: tuple) -> tuple:
        return tuple(in_shape)

    def forward(self, x: np.ndarray):
        z = np.array(x.reshape(len(x), -1), copy=True)  # the kernel adds the (zero) bias in place
        a = np.empty_like(z)
        self.act.forward(z, np.zeros(z.shape[1], z.dtype), a)
        return a.reshape(x.shape), (x.shape, z, a)

    def backward(self, cache, da, param_grads=True, input_grad=True, bpda=False):
        shape, z, a = cache
        dz = np.empty_like(z)
        db = np.empty(z.shape[1], z.dtype)
        self.act.backward(z, a, np.ascontiguousarray(da).reshape(z.shape), dz, db, False,
                          straight_through=bpda)
        return dz.reshape(shape)


def from_layer_config(cfg: dict):
    """The layer a saved config describes (nprelu.network.Network.load checks the rest)."""
    kind = cfg.get("type")
    act = from_config(cfg.get("activation"))
    if kind == "dense":
        return Dense(cfg["n_in"], cfg["n_out"], act)
    if kind == "conv2d":
        return Conv2D(cfg["c_in"], cfg["c_out"], cfg["k"], cfg.get("stride", 1),
                      cfg.get("pad", 0), act, cfg.get("init", "glorot"))
    if kind == "maxpool2d":
        return MaxPool2D(cfg["k"])
    if kind == "flatten":
        return Flatten()
    if kind == "activation":
        return Activation(act)
    raise ValueError(f"unknown layer type {kind!r}; known: dense, conv2d, maxpool2d, flatten, "
                     "activation")
