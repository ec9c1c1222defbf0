"""The gradient-sign attacks of the paper, built by hand on the model's input gradient.

    fgsm                  one signed-gradient step of size eps (Goodfellow et al., 2014)
    pgd                   iterated signed steps, projected on the L-inf eps-ball (Madry et al.)
    zero_gradient_search  Sec. 6: signed ascent with no eps bound that stops where the input
                          gradient is exactly zero

The Carlini-Wagner L2 attack is in nprelu.cw, the attacks of the gradient-masking audit in
nprelu.audit. All inputs are float32 batches (N, 784) in [0, 1]; every returned point stays in
[0, 1], and the L-inf attacks stay within eps of the clean input. Work is done in chunks of
`batch` inputs.

Attack libraries make choices the paper's text does not state; `fgsm` and `pgd` can make them
too, to show what each does to a published number (keyword options, off by default):
    loss="softmax_output"  cross-entropy of the softmax *output* taken as logits, what cleverhans
                           computes on a Keras model that ends in softmax (nprelu.losses)
    box=False              no clipping to [0, 1] (cleverhans' default clip_min=clip_max=None):
                           the result may leave the image range
    start_radius=r         random start uniform in [-r, r] per pixel, then clipped to the eps-ball
                           (cleverhans' madry_et_al uses r = 0.3 whatever eps is)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import kernels
from .checks import check_batch, check_choice, check_count, check_number, check_seed
from .losses import (
    cw_margin,
    dlr_loss,
    dlr_loss_targeted,
    softmax_cross_entropy,
    softmax_output_cross_entropy,
)
from .network import Network

LOSSES = ("ce", "margin", "softmax_output", "dlr", "dlr_targeted")


def loss_and_gradient(model: Network, x: np.ndarray, y: np.ndarray, loss: str = "ce",
                      bpda: bool = False, target: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample attack objective (to maximise), its input gradient (N, D) and the logits.

    loss="ce": cross-entropy on the logits; "margin": -(Z_y - max_{j != y} Z_j), the CW margin
    with its sign flipped so that every loss is maximised; "softmax_output": cross-entropy of the
    softmax output taken as logits (see the module docstring); "dlr" and "dlr_targeted" (with
    `target`): the DLR losses of APGD (nprelu.losses). bpda=True backpropagates through the caps
    as if they were plain ReLUs (the forward pass keeps them). x is not checked: it may lie
    outside [0, 1] (an attack with box=False)."""
    check_choice(loss, "loss", LOSSES)
    logits, cache = model.forward(x, check=False)
    if loss == "ce":
        value, dlogits = softmax_cross_entropy(logits, y)
    elif loss == "softmax_output":
        value, dlogits = softmax_output_cross_entropy(logits, y)
    elif loss == "dlr":
        value, dlogits = dlr_loss(logits, y)
    elif loss == "dlr_targeted":
        value, dlogits = dlr_loss_targeted(logits, y, target)
    else:
        value, dlogits = cw_margin(logits, y, kappa=np.inf)
        value, dlogits = -value, -dlogits
    return value, model.backward(cache, dlogits, param_grads=False, bpda=bpda), logits


def loss_gradient(model: Network, x: np.ndarray, y: np.ndarray, loss: str = "ce",
                  bpda: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(objective per input, its input gradient): loss_and_gradient without the logits."""
    return loss_and_gradient(model, x, y, loss, bpda)[:2]


def _gradient_fn(model: Network, loss: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """x, y -> the input gradient of `loss`; cross-entropy through the model's own method."""
    check_choice(loss, "loss", LOSSES)
    if loss == "ce":
        return lambda a, b: model.input_gradient(a, b, check=False)[1]
    return lambda a, b: loss_gradient(model, a, b, loss)[1]


def fgsm(model: Network, x: np.ndarray, y: np.ndarray, eps: float, batch: int = 4096, *,
         loss: str = "ce", box: bool = True) -> np.ndarray:
    """x_adv = clip(x + eps * sign(d loss / dx), 0, 1), loss = softmax cross-entropy. (N, D).

    loss and box: the tool options of the module docstring (box=False skips the clip)."""
    x, y = check_batch(model, x, y)
    e = model.dtype.type(check_number(eps, "eps", nonnegative=True))
    batch = check_count(batch, "batch")
    gradient = _gradient_fn(model, loss)
    out = np.empty_like(x)
    for i in range(0, len(x), batch):
        x0, y0 = x[i : i + batch], y[i : i + batch]
        g = gradient(x0, y0)
        adv = x0.copy()
        _step(adv, g, x0, e, e, box)
        out[i : i + batch] = adv
    return out


def _step(adv: np.ndarray, g: np.ndarray, x0: np.ndarray, step, eps, box: bool) -> None:
    """adv += step * sign(g), then back into the eps-ball around x0 (and [0, 1] if box), in
    place: the fused kernel, or plain NumPy for the no-box variant."""
    if box:
        kernels.step_project(adv, g, x0, step, eps)
    else:
        adv += step * np.sign(g)
        np.clip(adv, x0 - eps, x0 + eps, out=adv)


def pgd(
    model: Network,
    x: np.ndarray,
    y: np.ndarray,
    eps: float,
    step: float,
    iters: int,
    random_start: bool = False,
    seed: int | None = None,
    batch: int = 4096,
    *,
    start_radius: float | None = None,
    loss: str = "ce",
    box: bool = True,
) -> np.ndarray:
    """L-inf PGD maximising cross-entropy: iters times x <- Proj_{eps-ball and [0,1]}(x + step *
    sign(grad)). With random_start, begin at a uniform point of the eps-ball drawn from
    numpy.random.default_rng(seed); a seed is then required, so runs are repeatable.

    start_radius, loss, box: the tool options of the module docstring (start_radius needs
    random_start; its default is eps)."""
    x, y = check_batch(model, x, y)
    eps = check_number(eps, "eps", nonnegative=True)
    step = check_number(step, "step", nonnegative=True)
    iters = check_count(iters, "iters", minimum=0)
    batch = check_count(batch, "batch")
    if random_start and seed is None:
        raise ValueError("pgd(random_start=True) needs a seed (an integer), so that the random "
                         "start can be repeated")
    if start_radius is not None and not random_start:
        raise ValueError("pgd(start_radius=...) sets the random start's radius: it needs "
                         "random_start=True")
    radius = eps if start_radius is None else check_number(start_radius, "start_radius",
                                                           positive=True)
    rng = np.random.default_rng(check_seed(seed)) if random_start else None
    e, s, r = model.dtype.type(eps), model.dtype.type(step), model.dtype.type(radius)
    gradient = _gradient_fn(model, loss)
    out = np.empty_like(x)
    for i in range(0, len(x), batch):
        out[i : i + batch] = pgd_from(x[i : i + batch], y[i : i + batch], e, s, iters, gradient,
                                      rng, radius=r, box=box)
    return out


def pgd_from(x0: np.ndarray, y0: np.ndarray, eps, step, iters: int,
             gradient: Callable[[np.ndarray, np.ndarray], np.ndarray],
             rng: np.random.Generator | None = None, radius=None, box: bool = True
             ) -> np.ndarray:
    """The PGD loop itself, shared with the adaptive attacks of nprelu.audit: start at x0 (or,
    given rng, at a uniform point of radius `radius` (default eps), clipped to the eps-ball),
    then `iters` times step along sign(gradient(x, y0)) and project back on the eps-ball and
    [0, 1] (only the ball if not box). eps, step, radius: x0's dtype; the caller has checked
    every argument."""
    adv = x0.copy()
    if rng is not None:
        r = eps if radius is None else radius
        adv += rng.uniform(-r, r, size=adv.shape).astype(x0.dtype)
        if box:
            kernels.project_linf(adv, x0, eps)
        else:
            np.clip(adv, x0 - eps, x0 + eps, out=adv)
    for _ in range(iters):
        _step(adv, gradient(adv, y0), x0, step, eps, box)  # sign step, then project
    return adv


@dataclass(frozen=True)
class FGSM:
    """FGSM as an adversary for `train(..., adversary=FGSM(0.1))`."""

    eps: float = 0.1

    def __call__(self, model: Network, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return fgsm(model, x, y, self.eps)


@dataclass(frozen=True)
class PGD:
    """PGD as an adversary for `train(..., adversary=PGD(0.1, 0.01, 10))`."""

    eps: float = 0.1
    step: float = 0.01
    iters: int = 10

    def __call__(self, model: Network, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return pgd(model, x, y, self.eps, self.step, self.iters)


# --------------------------------------------------------------------------- Sec. 6
@dataclass
class ZeroGradResult:
    x: np.ndarray  # (N, D) where the search stopped
    l2: np.ndarray  # (N,) L2 distance from the clean input to that point
    iteration: np.ndarray  # (N,) iteration at which the gradient was exactly zero (-1: never)
    found: np.ndarray  # (N,) bool


def zero_gradient_search(
    model: Network,
    x: np.ndarray,
    y: np.ndarray,
    step: float = 0.01,
    max_iters: int = 1000,
    batch: int = 4096,
) -> ZeroGradResult:
    """Signed-gradient ascent on cross-entropy with no eps bound (only [0, 1]); each sample stops
    at the first point where its input gradient is exactly zero in every pixel (checked before
    every step, so iteration 0 means the clean input already has a zero gradient)."""
    x, y = check_batch(model, x, y)
    s = model.dtype.type(check_number(step, "step", nonnegative=True))
    max_iters = check_count(max_iters, "max_iters", minimum=0)
    batch = check_count(batch, "batch")
    n = len(x)
    out = x.copy()
    iteration = np.full(n, -1)
    for i in range(0, n, batch):
        idx = np.arange(i, min(i + batch, n))
        for it in range(max_iters + 1):
            if len(idx) == 0:
                break
            _, g = model.input_gradient(out[idx], y[idx], check=False)
            zero = ~np.any(g != 0, axis=1)
            iteration[idx[zero]] = it
            idx, g = idx[~zero], g[~zero]
            if it == max_iters or len(idx) == 0:
                break
            adv = out[idx]
            kernels.signed_step(adv, g, s)
            np.clip(adv, 0, 1, out=adv)  # no eps-ball: only the image box
            out[idx] = adv
    found = iteration >= 0
    l2 = np.sqrt(((out.astype(np.float64) - x) ** 2).sum(1))
    return ZeroGradResult(out, l2, iteration, found)
