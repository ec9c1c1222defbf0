"""What a training step minimises: the objectives that the one training loop (nprelu.train)
plugs in. Each is called as objective(model, xb, yb, at), with `at` the training progress
(epoch, step, steps per epoch); it fills model.grads with the gradient of its loss (the mean over
the batch) and returns Step(loss, logits, certified).

    CrossEntropy()        softmax cross-entropy of the clean batch
    Adversarial(attack)   the same on the batch replaced by its adversarial version: Madry et
                          al.'s min-max training, the Sec. 8 recipe with FGSM or PGD
    IBPMix(eps, ...)      kappa CE(z(x), y) + (1 - kappa) CE(zhat(x, eps_t), y) (Gowal et al.,
                          2018), zhat the worst-case logits of interval bounds over the eps_t-ball;
                          eps_t ramps up and kappa down on a schedule

and a penalty that any objective can carry:

    CapPenalty(lam, hl)   + lam * sum of m^2 over the learned caps of activation site HL`hl`
                          (D-ReLU's "balancer": it pushes the caps down)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels
from .activations import LearnedCap
from .certify import _dense_stack
from .checks import check_count, check_number
from .layers import images_to_rows, rows_to_images
from .losses import softmax_cross_entropy
from .network import Network


@dataclass
class Step:
    loss: float  # the objective's mean over the batch
    logits: np.ndarray  # of the batch as the net saw it (for the training accuracy)
    certified: int | None = None  # inputs whose worst-case logits are all below the truth


@dataclass(frozen=True)
class At:
    """Where training is: epoch (0-based), step within it, steps per epoch."""

    epoch: int
    step: int
    steps: int


class CrossEntropy:
    """Softmax cross-entropy of the clean batch."""

    def __call__(self, model: Network, xb: np.ndarray, yb: np.ndarray, at: At) -> Step:
        loss, logits = model.loss_and_param_grads(xb, yb, check=False)  # checked once, by train
        return Step(loss, logits)

    def describe(self, at: At) -> str:
        return ""


class Adversarial:
    """Cross-entropy of the batch's adversarial version: attack(model, xb, yb) replaces it."""

    def __init__(self, attack):
        self.attack = attack

    def __call__(self, model: Network, xb: np.ndarray, yb: np.ndarray, at: At) -> Step:
        xa = self.attack(model, xb, yb)
        loss, logits = model.loss_and_param_grads(xa, yb)  # the attack's output is checked
        return Step(loss, logits)

    def describe(self, at: At) -> str:
        return ""


class IBPMix:
    """Certified training with interval bounds (Gowal et al., 2018): each step minimises
    kappa * CE(z(x), y) + (1 - kappa) * CE(zhat(x, eps_t), y), the network trained to make its
    own certificate hold. eps_t is 0 for `warmup` epochs, then grows linearly to `eps` over
    `ramp` epochs while kappa falls from 1 to `kappa_end`."""

    bound_name = "IBP"  # the bound whose certified share the progress line prints

    def __init__(self, eps: float, warmup: int = 2, ramp: int = 10, kappa_end: float = 0.5):
        self.eps = check_number(eps, "eps", nonnegative=True)
        self.warmup, self.ramp = check_count(warmup, "warmup", 0), check_count(ramp, "ramp", 0)
        self.kappa_end = check_number(kappa_end, "kappa_end", nonnegative=True, at_most=1)
        self.grads = None

    def schedule(self, at: At) -> tuple[float, float]:
        """(eps_t, kappa) at this step."""
        t = (at.epoch * at.steps + at.step - self.warmup * at.steps) / max(self.ramp * at.steps,
                                                                          1)
        ramped = min(max(t, 0.0), 1.0) if at.epoch >= self.warmup else 0.0
        return self.eps * ramped, 1 - (1 - self.kappa_end) * ramped

    def __call__(self, model: Network, xb: np.ndarray, yb: np.ndarray, at: At) -> Step:
        eps_t, kappa = self.schedule(at)
        loss, logits = model.loss_and_param_grads(xb, yb, check=False)
        if kappa >= 1:
            return Step(loss, logits, 0)
        if self.grads is None or self.grads.shape != model.grads.shape:
            self.grads = np.zeros_like(model.grads)
        bound_loss, certified = self.bound_step(model, xb, yb, eps_t)
        model.grads *= model.dtype.type(kappa)
        model.grads += model.dtype.type(1 - kappa) * self.grads
        return Step(kappa * loss + (1 - kappa) * bound_loss, logits, certified)

    def bound_step(self, model: Network, xb: np.ndarray, yb: np.ndarray, eps_t: float
                   ) -> tuple[float, int]:
        """The bound's cross-entropy (mean over the batch) with its gradient in self.grads,
        and the inputs whose bound certifies them: here IBP's worst-case logits."""
        zhat, cache = ibp_worst_logits(model, xb, yb, eps_t)
        ibp_loss, dz = softmax_cross_entropy(zhat, yb)
        dz *= model.dtype.type(1.0 / len(yb))
        ibp_backward(model, cache, dz, self.grads)
        others_below = (zhat < 0) | (np.arange(zhat.shape[1]) == yb[:, None])
        return float(ibp_loss.mean()), int(others_below.all(axis=1).sum())  # zhat_y is 0

    def describe(self, at: At) -> str:
        eps_t, kappa = self.schedule(at)
        return f", eps {eps_t:.3f}, kappa {kappa:.2f}"


class CapPenalty:
    """lam * sum of m^2 over the learned caps of activation site HL`hl` (1-based), added to the
    loss; its gradient 2 lam m is added to the caps' gradient."""

    def __init__(self, lam: float, hl: int):
        self.lam = check_number(lam, "lam (the penalty's weight)", nonnegative=True)
        self.hl = check_count(hl, "hl")

    def caps(self, model: Network) -> LearnedCap:
        sites = model.sites
        if self.hl > len(sites):
            raise ValueError(f"unknown hidden layer HL{self.hl}: this net has HL1..HL"
                             f"{len(sites)}")
        act = sites[self.hl - 1].act
        if not isinstance(act, LearnedCap):
            raise ValueError(f"HL{self.hl} has a {act.name}, not a learned cap: nothing to "
                             "penalise")
        return act

    def value(self, model: Network) -> float:
        """lam * sum of m^2 (float64), without touching the gradients."""
        return self.lam * float(np.sum(self.caps(model).m.astype(np.float64) ** 2))

    def __call__(self, model: Network) -> float:
        """Add the penalty's gradient 2 lam m to the caps' gradient; return its value."""
        cap = self.caps(model)
        cap.dm += model.dtype.type(2 * self.lam) * cap.m
        return self.value(model)


# ----------------------------------------------------------------------------- IBP, for training
def ibp_worst_logits(model: Network, x: np.ndarray, y: np.ndarray, eps: float):
    """The worst-case logits of IBP training (Gowal et al., 2018), in the model's dtype:
    zhat_j = upper bound of z_j - z_y over the box (zhat_y = 0), with the last layer folded into
    the margins. Returns (zhat (N, K), cache for `ibp_backward`).

    Each layer maps the box's centre mu and radius r: mu -> mu W + b, r -> r |W|, then the
    activation's values at both ends (a convolution the same on its unfolded patches; a
    max-pool takes the largest lower and the largest upper end of each window). For the
    margins, z_y - z_j of the centre is a difference of ordinary logits, and the radius term
    r . |W_y - W_j| uses a small table over class pairs A[h, y, j] = |W[h, y] - W[h, j]| (one
    matrix product for the whole batch). The last layer must be dense, without activation."""
    dt = model.dtype
    lo = np.clip(x - dt.type(eps), 0, 1).astype(dt)
    hi = np.clip(x + dt.type(eps), 0, 1).astype(dt)
    mu, r = (hi + lo) / 2, (hi - lo) / 2
    cache = []
    if _dense_stack(model):  # the paper's MLPs: every layer dense with its activation
        for layer, act in zip(model.layers[:-1], model.acts):
            absW = np.abs(layer.W)
            mu_z, r_z = mu @ layer.W + layer.b, r @ absW
            l, u = mu_z - r_z, mu_z + r_z
            a_l, a_u = act.fn(l), act.fn(u)
            cache.append((mu, r, l, u, absW))
            mu, r = (a_u + a_l) / 2, (a_u - a_l) / 2
    else:
        mu, r = _interval_forward(model, mu, r, cache)
    W, b = model.layers[-1].W, model.layers[-1].b
    n, k = len(y), W.shape[1]
    diff = W[:, :, None] - W[:, None, :]  # (H, K, K): W_y - W_j
    A = np.abs(diff)
    z_mu = mu @ W + b
    spread = (r @ A.reshape(len(W), k * k)).reshape(n, k, k)[np.arange(n), y]  # (N, K)
    margin = z_mu[np.arange(n), y][:, None] - z_mu - spread
    return -margin, (cache, mu, r, diff, A, y)


def _affine_rows(layer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A dense or convolutional layer as one product P @ W2 (+ b): the rows P of its input x
    (x itself; a convolution's unfolded patches (N OH OW, C k k)) and W2 (in, out), a view of W
    (for a convolution W reshaped to (C_out, C k k) and transposed)."""
    if layer.kind == "dense":
        return x, layer.W
    cols, _, _ = layer._cols(np.ascontiguousarray(x))
    return cols.T, layer.W.reshape(layer.c_out, -1).T


def _interval_forward(model: Network, mu: np.ndarray, r: np.ndarray, cache: list):
    """IBP through any layers but the last (dense, convolution, max-pool, flatten), in the
    model's dtype: the centre and radius of the last hidden output, flattened. Appends what
    `_interval_backward` needs to `cache`, one entry per layer."""
    if any(act.params for act in model.acts):
        raise ValueError("IBP training through convolutions takes fixed caps only (a learned "
                         "cap's gradient is not written here); use a dense net for D-ReLU")
    shape = (len(mu), *model.input_shape)  # inputs come flattened, (N, C H W)
    mu, r = mu.reshape(shape), r.reshape(shape)
    for layer in model.layers[:-1]:
        if layer.kind in ("dense", "conv2d"):
            P_mu, W2 = _affine_rows(layer, mu)
            P_r, _ = _affine_rows(layer, r)
            absW2 = np.abs(W2)
            mu_z, r_z = P_mu @ W2 + layer.b, P_r @ absW2
            l, u = mu_z - r_z, mu_z + r_z
            act = layer.act
            a_l, a_u = (act.fn(l), act.fn(u)) if act is not None else (l, u)
            cache.append((layer, mu.shape, P_mu, P_r, l, u, W2, absW2))
            centre, radius = (a_u + a_l) / 2, (a_u - a_l) / 2
            if layer.kind == "conv2d":  # one row per output pixel -> (N, C_out, OH, OW)
                _, oh, ow = layer.out_shape(mu.shape[1:])
                centre = rows_to_images(centre, len(mu), oh, ow)
                radius = rows_to_images(radius, len(mu), oh, ow)
            mu, r = centre, radius
        elif layer.kind == "maxpool2d":  # monotone: the window's largest lower and upper end
            lo, (shape, arg_lo) = layer.forward(mu - r)
            hi, (_, arg_hi) = layer.forward(mu + r)
            cache.append((layer, shape, arg_lo, arg_hi))
            mu, r = (hi + lo) / 2, (hi - lo) / 2
        elif layer.kind == "flatten":
            cache.append((layer, mu.shape))
            mu, r = mu.reshape(len(mu), -1), r.reshape(len(r), -1)
        else:
            raise ValueError(f"IBP training does not handle a {layer.kind} layer here")
    return mu, r


def ibp_backward(model: Network, ibp_cache, dzhat: np.ndarray, grads: np.ndarray,
                 bound_grads: list | None = None) -> None:
    """Gradient of a loss through `ibp_worst_logits`: given dL/dzhat (N, K), write dL/dparams
    into `grads` (the model's flat layout). Activation derivatives take the flat side at the
    kinks, as everywhere else. bound_grads (CROWN-IBP): per hidden layer (dL/dl, dL/du) of its
    pre-activation bounds, from a loss that uses the bounds themselves; added on the way down."""
    cache, mu, r, diff, A, y = ibp_cache
    views = _param_views(model, grads)
    W = model.layers[-1].W
    n, k = len(y), W.shape[1]
    rows = np.arange(n)
    dm = -dzhat  # dL/dmargin, (N, K)
    # centre term: margin_j = z_y - z_j of z = mu W + b
    g_z = -dm
    g_z[rows, y] += dm.sum(axis=1)
    dW, db = views[-1]
    dW[...] = mu.T @ g_z
    db[...] = g_z.sum(axis=0)
    g_mu = g_z @ W.T
    # radius term: margin_j -= r . A[:, y, j], A = |W_y - W_j|
    spread_grad = np.zeros((n, k * k), dm.dtype)
    spread_grad[rows[:, None], y[:, None] * k + np.arange(k)] = -dm
    H = len(W)
    g_r = spread_grad @ A.reshape(H, k * k).T
    dA = (r.T @ spread_grad).reshape(H, k, k) * np.sign(diff)
    dW += dA.sum(axis=2) - dA.sum(axis=1)
    if not _dense_stack(model):
        if bound_grads is not None:
            raise ValueError("CROWN-IBP's bound gradients take a dense net")
        _interval_backward(model, cache, g_mu, g_r, grads)
        return
    for i in range(len(cache) - 1, -1, -1):
        mu_in, r_in, l, u, absW = cache[i]
        act, Wi = model.acts[i], model.layers[i].W
        g_u = (g_mu + g_r) / 2 * act.grad(u)
        g_l = (g_mu - g_r) / 2 * act.grad(l)
        if bound_grads is not None:
            g_l, g_u = g_l + bound_grads[i][0], g_u + bound_grads[i][1]
        g_muz, g_rz = g_l + g_u, g_u - g_l
        dW, db = views[i]
        np.matmul(mu_in.T, g_muz, out=dW)
        kernels.add_signed(dW, Wi, r_in.T @ g_rz)  # d|W|/dW = sign(W)
        db[...] = g_muz.sum(axis=0)
        if i:
            g_mu, g_r = g_muz @ Wi.T, g_rz @ absW.T


def _interval_backward(model: Network, cache: list, g_mu: np.ndarray, g_r: np.ndarray,
                       grads: np.ndarray) -> None:
    """`ibp_backward` below the last layer, for any layers `_interval_forward` went through:
    from dL/d(centre) and dL/d(radius) of the last hidden output, write dL/dparams into
    `grads`. Per affine layer (z = P W2 + b on the rows P of its input):
        l = mu_z - r_z, u = mu_z + r_z,  mu_z = P_mu W2 + b,  r_z = P_r |W2|
    so dW2 = P_mu^T dmu_z + sign(W2) * (P_r^T dr_z), db = sum dmu_z, and the input's centre
    and radius get dmu_z W2^T and dr_z |W2|^T (a convolution's through col2im). Activation
    derivatives take the flat side at the kinks; a max-pool sends each window's gradient to
    the lower or upper end it took."""
    for entry in reversed(cache):
        layer = entry[0]
        if layer.kind == "flatten":
            g_mu, g_r = g_mu.reshape(entry[1]), g_r.reshape(entry[1])
        elif layer.kind == "maxpool2d":
            _, shape, arg_lo, arg_hi = entry
            g_lo, g_hi = g_mu / 2 - g_r / 2, g_mu / 2 + g_r / 2
            g_lo = layer.backward((shape, arg_lo), g_lo)
            g_hi = layer.backward((shape, arg_hi), g_hi)
            g_mu, g_r = g_lo + g_hi, g_hi - g_lo
        else:
            _, in_shape, P_mu, P_r, l, u, W2, absW2 = entry
            g_u, g_l = (g_mu + g_r) / 2, (g_mu - g_r) / 2
            if layer.kind == "conv2d":
                g_u, g_l = images_to_rows(g_u), images_to_rows(g_l)
            if layer.act is not None:
                g_u, g_l = g_u * layer.act.grad(u), g_l * layer.act.grad(l)
            g_muz, g_rz = g_l + g_u, g_u - g_l
            at = model.slice_of(layer.W)
            dW2 = grads[at].reshape(layer.W.shape)
            dW2 = dW2 if layer.kind == "dense" else dW2.reshape(layer.c_out, -1).T
            dW2[...] = P_mu.T @ g_muz + np.sign(W2) * (P_r.T @ g_rz)
            grads[model.slice_of(layer.b)] = g_muz.sum(axis=0)
            if layer is model.layers[0]:
                return
            g_mu, g_r = _rows_back(layer, g_muz @ W2.T, in_shape), \
                _rows_back(layer, g_rz @ absW2.T, in_shape)


def _rows_back(layer, g_rows: np.ndarray, in_shape: tuple) -> np.ndarray:
    """The gradient of a layer's input rows (`_affine_rows`) back on its input: the same for a
    dense layer; for a convolution each patch's gradient added back onto its pixels."""
    if layer.kind == "dense":
        return g_rows
    dx = np.empty(in_shape, g_rows.dtype)
    kernels.col2im_rows(g_rows, layer.k, layer.stride, layer.pad, dx)
    return dx


def _param_views(model: Network, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, b) views of a flat array laid out like model.params, one per layer that has them
    (a dense net: every layer)."""
    return [(flat[model.slice_of(layer.W)].reshape(layer.W.shape),
             flat[model.slice_of(layer.b)]) for layer in model.layers if "W" in layer.params]
