"""The gradient-sign attacks of the paper, built by hand on the model's input gradient.

    fgsm                  one signed-gradient step of size eps (Goodfellow et al., 2014)
    pgd                   iterated signed steps, projected on the L-inf eps-ball (Madry et al.)
    zero_gradient_search  Sec. 6: signed ascent with no eps bound that stops where the input
                          gradient is exactly zero

The Carlini-Wagner L2 attack is in nprelu.cw, the attacks of the gradient-masking audit in
nprelu.audit. All inputs are float32 batches (N, 784) in [0, 1]; every returned point stays in
[0, 1], and the L-inf attacks stay within eps of the clean input. Work is done in chunks of
`batch` inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import kernels as K
from .checks import check_batch, check_count, check_number, check_seed
from .model import MLP


def fgsm(model: MLP, x: np.ndarray, y: np.ndarray, eps: float, batch: int = 4096) -> np.ndarray:
    """x_adv = clip(x + eps * sign(d loss / dx), 0, 1), loss = softmax cross-entropy. (N, D)."""
    x, y = check_batch(model, x, y)
    e = model.dtype.type(check_number(eps, "eps", nonnegative=True))
    batch = check_count(batch, "batch")
    out = np.empty_like(x)
    for i in range(0, len(x), batch):
        x0, y0 = x[i : i + batch], y[i : i + batch]
        _, g = model.input_gradient(x0, y0, check=False)
        adv = x0.copy()
        K.step_project(adv, g, x0, e, e)
        out[i : i + batch] = adv
    return out


def pgd(
    model: MLP,
    x: np.ndarray,
    y: np.ndarray,
    eps: float,
    step: float,
    iters: int,
    random_start: bool = False,
    seed: int | None = None,
    batch: int = 4096,
) -> np.ndarray:
    """L-inf PGD maximising cross-entropy: iters times x <- Proj_{eps-ball and [0,1]}(x + step *
    sign(grad)). With random_start, begin at a uniform point of the eps-ball drawn from
    numpy.random.default_rng(seed); a seed is then required, so runs are repeatable."""
    x, y = check_batch(model, x, y)
    eps = check_number(eps, "eps", nonnegative=True)
    step = check_number(step, "step", nonnegative=True)
    iters = check_count(iters, "iters", minimum=0)
    batch = check_count(batch, "batch")
    if random_start and seed is None:
        raise ValueError("pgd(random_start=True) needs a seed (an integer), so that the random "
                         "start can be repeated")
    rng = np.random.default_rng(check_seed(seed)) if random_start else None
    e, s = model.dtype.type(eps), model.dtype.type(step)
    out = np.empty_like(x)
    for i in range(0, len(x), batch):
        out[i : i + batch] = pgd_from(x[i : i + batch], y[i : i + batch], e, s, iters,
                                      lambda a, b: model.input_gradient(a, b, check=False)[1],
                                      rng)
    return out


def pgd_from(x0: np.ndarray, y0: np.ndarray, eps, step, iters: int,
             gradient: Callable[[np.ndarray, np.ndarray], np.ndarray],
             rng: np.random.Generator | None = None) -> np.ndarray:
    """The PGD loop itself, shared with the adaptive attacks of nprelu.audit: start at x0 (or,
    given rng, at a uniform point of the eps-ball), then `iters` times step along
    sign(gradient(x, y0)) and project back on the eps-ball and [0, 1]. eps, step: x0's dtype;
    the caller has checked every argument."""
    adv = x0.copy()
    if rng is not None:
        adv += rng.uniform(-eps, eps, size=adv.shape).astype(x0.dtype)
        K.project_linf(adv, x0, eps)
    for _ in range(iters):
        K.step_project(adv, gradient(adv, y0), x0, step, eps)  # sign step, then project
    return adv


@dataclass(frozen=True)
class FGSM:
    """FGSM as an adversary for `train(..., adversary=FGSM(0.1))`."""

    eps: float = 0.1

    def __call__(self, model: MLP, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return fgsm(model, x, y, self.eps)


@dataclass(frozen=True)
class PGD:
    """PGD as an adversary for `train(..., adversary=PGD(0.1, 0.01, 10))`."""

    eps: float = 0.1
    step: float = 0.01
    iters: int = 10

    def __call__(self, model: MLP, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return pgd(model, x, y, self.eps, self.step, self.iters)


# --------------------------------------------------------------------------- Sec. 6
@dataclass
class ZeroGradResult:
    x: np.ndarray  # (N, D) where the search stopped
    l2: np.ndarray  # (N,) L2 distance from the clean input to that point
    iteration: np.ndarray  # (N,) iteration at which the gradient was exactly zero (-1: never)
    found: np.ndarray  # (N,) bool


def zero_gradient_search(
    model: MLP,
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
            K.signed_step(adv, g, s)
            np.clip(adv, 0, 1, out=adv)  # no eps-ball: only the image box
            out[idx] = adv
    found = iteration >= 0
    l2 = np.sqrt(((out.astype(np.float64) - x) ** 2).sum(1))
    return ZeroGradResult(out, l2, iteration, found)
