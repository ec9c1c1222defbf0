"""The attacks of the paper, built by hand on the model's input gradient.

    fgsm                  one signed-gradient step of size eps (Goodfellow et al., 2014)
    pgd                   iterated signed steps, projected on the L-inf eps-ball (Madry et al.)
    cw_l2                 Carlini & Wagner's L2 attack (2017): tanh change of variables, Adam,
                          margin loss on the logits, binary search on the trade-off constant c
    zero_gradient_search  Sec. 6: signed ascent with no eps bound that stops where the input
                          gradient is exactly zero

All inputs are float32 batches (N, 784) in [0, 1]; every returned point stays in [0, 1], and
the L-inf attacks stay within eps of the clean input. Work is done in chunks of `batch` inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels as K
from .losses import cw_margin, logit_margin
from .model import MLP, check_x, check_y


def _prepare(model: MLP, x, y):
    x = check_x(x, model.n_in).astype(model.dtype, copy=False)
    y = check_y(y, len(x), model.n_out)
    return x, y


def _check_eps(eps: float, name: str = "eps") -> None:
    if not (eps >= 0 and np.isfinite(eps)):
        raise ValueError(f"{name} must be a finite number >= 0, got {eps}")


def fgsm(model: MLP, x: np.ndarray, y: np.ndarray, eps: float, batch: int = 4096) -> np.ndarray:
    """x_adv = clip(x + eps * sign(d loss / dx), 0, 1), loss = softmax cross-entropy. (N, D)."""
    x, y = _prepare(model, x, y)
    _check_eps(eps)
    out = np.empty_like(x)
    e = model.dtype.type(eps)
    for i in range(0, len(x), batch):
        x0, y0 = x[i : i + batch], y[i : i + batch]
        _, g = model._input_gradient(x0, y0)  # x, y checked by _prepare
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
    sign(grad)). With random_start, begin at a uniform point of the eps-ball (needs a seed)."""
    x, y = _prepare(model, x, y)
    _check_eps(eps)
    _check_eps(step, "step")
    if iters < 0:
        raise ValueError(f"iters must be >= 0, got {iters}")
    rng = np.random.default_rng(seed) if random_start else None
    e, s = model.dtype.type(eps), model.dtype.type(step)
    out = np.empty_like(x)
    for i in range(0, len(x), batch):
        out[i : i + batch] = pgd_from(x[i : i + batch], y[i : i + batch], e, s, iters,
                                      lambda a, b: model._input_gradient(a, b)[1], rng)
    return out


def pgd_from(x0, y0, eps, step, iters, gradient, rng=None) -> np.ndarray:
    """The PGD loop itself, shared with the adaptive attacks of nprelu.audit: start at x0 (or,
    given rng, at a uniform point of the eps-ball), then `iters` times step along
    sign(gradient(x, y0)) and project back on the eps-ball and [0, 1]. eps, step: x0's dtype."""
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


# --------------------------------------------------------------------------- Carlini-Wagner L2
@dataclass
class CWResult:
    x_adv: np.ndarray  # (N, D) best adversarial point found; the clean input where none was found
    l2: np.ndarray  # (N,) its L2 distance to the clean input; inf where none was found
    success: np.ndarray  # (N,) bool
    c: np.ndarray  # (N,) the smallest c that succeeded (inf where none did)
    iterations: int  # optimisation steps actually run (over all binary steps, summed per chunk)


def _to_w(x: np.ndarray) -> np.ndarray:
    """Inverse of x = (tanh(w) + 1) / 2, with a factor just below 1 so x = 0 or 1 stays finite."""
    return np.arctanh((2 * x.astype(np.float64) - 1) * 0.999999).astype(x.dtype)


def cw_l2(
    model: MLP,
    x: np.ndarray,
    y: np.ndarray,
    steps: int = 10000,
    lr: float = 0.01,
    initial_c: float = 1e-3,
    binary_steps: int = 9,
    kappa: float = 0.0,
    abort_early: bool = True,
    batch: int = 1000,
    progress=None,
) -> CWResult:
    """Untargeted Carlini-Wagner L2 attack on the logits, batched.

    Minimises ||x' - x||_2^2 + c * max(Z_y(x') - max_{j != y} Z_j(x'), -kappa) over w, where
    x' = (tanh(w) + 1) / 2 keeps x' in [0, 1]. Adam (lr) on w for `steps` iterations per binary
    step; per sample, c starts at initial_c, is multiplied by 10 until the first success and is
    bisected after that. Each binary step restarts w at the clean input and resets Adam. With
    abort_early, a sample leaves the current binary step when its loss has not improved by
    0.01 % since the last check (every steps // 10 iterations). `progress(done, total)` is called
    after every binary step of every chunk.
    """
    x, y = _prepare(model, x, y)
    if steps < 1 or binary_steps < 1 or not lr > 0 or not initial_c > 0 or kappa < 0:
        raise ValueError("need steps >= 1, binary_steps >= 1, lr > 0, initial_c > 0, kappa >= 0")
    n = len(x)
    best_x, best_l2 = x.copy(), np.full(n, np.inf)
    best_c = np.full(n, np.inf)
    total_iters = 0
    f = model.dtype.type
    b1, b2, adam_eps = f(0.9), f(0.999), f(1e-8)
    check_every = max(steps // 10, 1)
    n_chunks = (n + batch - 1) // batch
    for ci, i in enumerate(range(0, n, batch)):
        x0, y0 = x[i : i + batch], y[i : i + batch]
        m = len(x0)
        w0 = _to_w(x0)
        c = np.full(m, initial_c)
        lower, upper = np.zeros(m), np.full(m, 1e10)
        for bs in range(binary_steps):
            succeeded = np.zeros(m, bool)
            active = np.arange(m)
            w = w0.copy()
            am, av = np.zeros_like(w), np.zeros_like(w)
            prev = np.full(m, np.inf)
            for it in range(1, steps + 1):
                xa = (np.tanh(w) + 1) / 2
                diff = xa - x0[active]
                l2sq = (diff.astype(np.float64) ** 2).sum(1)
                cc = c[active]
                logits, cache = model.forward(xa)
                margin, dmargin = cw_margin(logits, y0[active], kappa)
                gx = model.backward(cache, dmargin * cc[:, None].astype(f), param_grads=False)
                loss = l2sq + cc * margin
                # adversarial when the true logit trails the best other class by more than kappa
                hit = logit_margin(logits, y0[active])[0] < -kappa
                better = hit & (l2sq < best_l2[i + active] ** 2)
                if better.any():
                    rows = active[better]
                    best_l2[i + rows] = np.sqrt(l2sq[better])
                    best_x[i + rows] = xa[better]
                succeeded[active[hit]] = True
                # gradient w.r.t. w: (2 diff + c dmargin/dx') * dx'/dw, dx'/dw = (1 - tanh^2 w) / 2
                gx += 2 * diff
                gw = gx * (1 - (2 * xa - 1) ** 2) / 2
                t = it
                K.adam_update(w.reshape(-1), gw.astype(w.dtype).reshape(-1), am.reshape(-1),
                              av.reshape(-1), f(lr / (1 - 0.9**t)), f(1 / np.sqrt(1 - 0.999**t)),
                              b1, b2, adam_eps)
                total_iters += 1
                if abort_early and it % check_every == 0:
                    stalled = loss > prev[active] * 0.9999
                    prev[active] = loss
                    if stalled.any():
                        keep = ~stalled
                        active, w, am, av = active[keep], w[keep], am[keep], av[keep]
                        if len(active) == 0:
                            break
            # binary search on c, per sample
            ok = succeeded
            upper[ok] = np.minimum(upper[ok], c[ok])
            best_c[i : i + m][ok] = np.minimum(best_c[i : i + m][ok], c[ok])
            lower[~ok] = np.maximum(lower[~ok], c[~ok])
            bounded = upper < 1e9
            c = np.where(bounded, (lower + upper) / 2, c * 10)
            if progress is not None:
                progress(ci * binary_steps + bs + 1, n_chunks * binary_steps)
    success = np.isfinite(best_l2)
    return CWResult(best_x, best_l2.astype(np.float32), success, best_c, total_iters)


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
    x, y = _prepare(model, x, y)
    _check_eps(step, "step")
    n = len(x)
    out = x.copy()
    iteration = np.full(n, -1)
    s = model.dtype.type(step)
    for i in range(0, n, batch):
        idx = np.arange(i, min(i + batch, n))
        for it in range(max_iters + 1):
            if len(idx) == 0:
                break
            _, g = model.input_gradient(out[idx], y[idx])
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
