"""alpha-CROWN: CROWN with its free slopes chosen per input by gradient ascent on the bound.

CROWN (nprelu.certify) bounds each unstable activation between two lines and carries a linear
function of the input back through the net. For a unit whose interval [l, u] crosses a kink,
one of the two lines is not forced: any line through the kink that stays on the right side of
the activation on [l, u] is sound. CROWN picks one by an area rule; alpha-CROWN (Xu et al.,
2021) treats the slopes as parameters, one per (input, margin, unit), and maximises the bound.
Every slope in its range gives a sound bound, so each iterate is a certificate and we keep the
best one seen.

The free lines of a = clip(z, 0, beta) (beta = inf for ReLU) on [l, u]:
    lower, through (0, 0), where l < 0 < u:       a >= s z,              0 <= s <= min(1, beta/u)
    upper, through (beta, beta), where l < beta < u:
                                                   a <= beta + s (z - beta),
                                                   0 <= s <= min(1, beta / (beta - l))
(the other line of such a unit, a chord, is the tightest there is and stays fixed). A lower
bound on a margin uses a unit's lower line where the coefficient carried back to it is positive
and its upper line where negative, so the free slope that matters switches with that sign.

The bound as a function of the slopes, and its gradient, by hand (dense nets: the paper's MLPs
and D-ReLU's dense net). Going back from the margins (lam = C on the last hidden output):
    layer i:  pos, neg = max(lam, 0), min(lam, 0)
              lam_z = pos aL + neg aU                       (coefficients on z_i)
              const += pos . bL + neg . bU + lam_z . b_i
              lam = lam_z W_i^T                             (coefficients on a_{i-1}, or x)
    input:    bound = const + lam_x . c - |lam_x| . r        (c, r: centre, radius of the box)
The gradient runs forward again: g(lam_x) = c - sign(lam_x) r, g(lam_z_0) = b_0 + g(lam_x) W_0,
g(lam_{i}) = g(lam_z_i) * (aL or aU, by the sign of lam) + (bL or bU), g(lam_z_{i+1}) =
b_{i+1} + g(lam_i) W_{i+1}; then d bound / d s = g(lam_z) pos for a lower slope and
(g(lam_z) - beta) neg for an upper one (its intercept is beta (1 - s)).

Intermediate bounds (`alpha_crown_bounds`): the interval [l, u] of every hidden unit decides its
lines, so tighter intervals tighten everything above them. The bound of hidden layer k's
pre-activation z_k = W_k a_{k-1} + b_k is the same kind of problem as a margin, with the rows
of W_k (for l_k) and of -W_k (for -u_k) in the place of the margins' coefficients: one set of
free slopes of the layers below per bounded unit and side, optimised the same way; the result
is never looser than CROWN's interval (we keep the tighter end of the two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .certify import _beta, _dense_stack, _layers, crown_bounds, input_box, margin_spec
from .checks import check_batch, check_count, check_number
from .network import Network


@dataclass
class Slopes:
    """The free slopes of one batch: per hidden layer i, lower[i] and upper[i] of shape
    (N, K, n_i), with the masks (N, 1, n_i) of the units where each is free, and its upper
    limit (0 <= s <= limit)."""

    lower: list
    upper: list
    free_lower: list
    free_upper: list
    max_lower: list
    max_upper: list

    def clip(self) -> None:
        for s, hi in zip(self.lower + self.upper, self.max_lower + self.max_upper):
            np.clip(s, 0.0, hi, out=s)


def initial_slopes(model: Network, bounds, relax, n_rows: int) -> Slopes:
    """CROWN's own lines as the starting point (so the first bound is CROWN's), the masks of the
    free units and the range of each slope."""
    lower, upper, fl, fu, ml, mu = [], [], [], [], [], []
    for act, (l, u), (aL, _, aU, _) in zip(model.acts, bounds, relax):
        beta = np.broadcast_to(np.asarray(_beta(act), np.float64), l.shape)
        free_l = (l < 0) & (u > 0)
        free_u = (l < beta) & (u > beta)
        with np.errstate(divide="ignore", invalid="ignore"):
            max_l = np.where(free_l, np.minimum(1.0, beta / np.where(u > 0, u, 1.0)), 0.0)
            max_u = np.where(free_u, np.minimum(1.0, beta / np.maximum(beta - l, 1e-300)), 0.0)
        fl.append(free_l[:, None, :])
        fu.append(free_u[:, None, :])
        ml.append(max_l[:, None, :])
        mu.append(max_u[:, None, :])
        lower.append(np.repeat(np.where(free_l, aL, 0.0)[:, None, :], n_rows, axis=1))
        upper.append(np.repeat(np.where(free_u, aU, 0.0)[:, None, :], n_rows, axis=1))
    slopes = Slopes(lower, upper, fl, fu, ml, mu)
    slopes.clip()
    return slopes


def _lines(model: Network, relax, slopes: Slopes):
    """The lines in use per hidden layer, (aL, bL, aU, bU) each (N, K, n_i), and each layer's
    caps (n_i,) with an infinite cap (a plain ReLU) as 0: the upper free line's intercept is
    beta (1 - s), and a plain ReLU has no upper free line."""
    betas = [np.broadcast_to(np.asarray(_beta(a), np.float64), (r[0].shape[-1],))
             for a, r in zip(model.acts, relax)]
    finite = [np.where(np.isfinite(b), b, 0.0) for b in betas]
    lines = []
    for i, (aL, bL, aU, bU) in enumerate(relax):
        fl, fu = slopes.free_lower[i], slopes.free_upper[i]
        lines.append((np.where(fl, slopes.lower[i], aL[:, None, :]),
                      np.where(fl, 0.0, bL[:, None, :]),
                      np.where(fu, slopes.upper[i], aU[:, None, :]),
                      np.where(fu, finite[i] * (1 - slopes.upper[i]), bU[:, None, :])))
    return lines, finite


def _back(layers, lines, C, const):
    """Carry C back to the input: (coefficients on x (N, K, D), constant (N, K), and per layer
    what the gradient needs)."""
    lam, total, saved = C, const.copy(), []
    for i in range(len(lines) - 1, -1, -1):
        aL, bL, aU, bU = lines[i]
        pos, neg = np.maximum(lam, 0), np.minimum(lam, 0)
        lam_z = pos * aL + neg * aU
        total += (pos * bL).sum(-1) + (neg * bU).sum(-1) + lam_z @ layers[i][1]
        saved.append((lam > 0, pos, neg))
        lam = lam_z @ layers[i][0].T
    saved.reverse()  # saved[i]: layer i
    return lam, total, saved


def bound_and_grad(model: Network, C: np.ndarray, const: np.ndarray, relax, slopes: Slopes,
                   lo: np.ndarray, hi: np.ndarray, grad: bool = True):
    """The lower bound (N, K) of C . a_last + const over the box [lo, hi] with the given free
    slopes, and (grad=True) its gradient with respect to each lower and upper slope (lists of
    (N, K, n_i) arrays, zero where a slope is not free)."""
    layers = _layers(model)
    lines, betas = _lines(model, relax, slopes)
    lam, total, saved = _back(layers, lines, C, const)
    c, r = (lo + hi) / 2, (hi - lo) / 2
    bound = total + np.einsum("nkd,nd->nk", lam, c) - np.einsum("nkd,nd->nk", np.abs(lam), r)
    if not grad:
        return bound, None, None
    g_lam = c[:, None, :] - np.sign(lam) * r[:, None, :]  # d bound / d lam_x
    d_lower, d_upper = [], []
    for i in range(len(relax)):
        W, b = layers[i]
        g_z = b + g_lam @ W  # d bound / d lam_z_i
        up, pos, neg = saved[i]
        beta = betas[i]
        d_lower.append(np.where(slopes.free_lower[i], g_z * pos, 0.0))
        d_upper.append(np.where(slopes.free_upper[i], (g_z - beta) * neg, 0.0))
        aL, bL, aU, bU = lines[i]
        g_lam = np.where(up, g_z * aL + bL, g_z * aU + bU)  # d bound / d lam on a_i
    return bound, d_lower, d_upper


def corners_and_scores(model: Network, C: np.ndarray, const: np.ndarray, relax,
                       slopes: Slopes, lo: np.ndarray, hi: np.ndarray):
    """From one backward pass, what branch and bound needs besides the bound:
    - the corner of the box (N, K, D) where each margin's linear lower bound is smallest, the
      natural candidate for a counterexample (checked by a forward pass);
    - per hidden layer (N, n_i), how far each unit's lines pull the bound down, summed over the
      margins, -sum_k (pos_k bL + neg_k bU), at least 0 (the intercept term the unit is
      responsible for; BaBSR's idea, Bunel et al. 2020): the unit to split first."""
    lines = _lines(model, relax, slopes)[0]
    lam, _, saved = _back(_layers(model), lines, C, const)
    corners = np.where(lam > 0, lo[:, None, :], hi[:, None, :])
    scores = [np.maximum(0.0, -((pos * bL).sum(axis=1) + (neg * bU).sum(axis=1)))
              for (_, pos, neg), (_, bL, _, bU) in zip(saved, lines)]
    return corners, scores


def optimise(model: Network, C: np.ndarray, const: np.ndarray, bounds, relax, lo: np.ndarray,
             hi: np.ndarray, iters: int, lr: float) -> tuple[np.ndarray, Slopes]:
    """`iters` steps of projected Adam ascent on the slopes of a batch, from CROWN's: the best
    bound (N, K) of any iterate, and the last slopes."""
    slopes = initial_slopes(model, bounds, relax, C.shape[1])
    best = bound_and_grad(model, C, const, relax, slopes, lo, hi, grad=False)[0]
    params = slopes.lower + slopes.upper
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    for t in range(1, iters + 1):
        bound, d_lo, d_up = bound_and_grad(model, C, const, relax, slopes, lo, hi)
        best = np.maximum(best, bound)
        for p, g, a, v in zip(params, d_lo + d_up, m1, m2):  # Adam, ascending
            a[...] = 0.9 * a + 0.1 * g
            v[...] = 0.999 * v + 0.001 * g * g
            p += lr * (a / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-12)
        slopes.clip()
    if iters:
        best = np.maximum(best, bound_and_grad(model, C, const, relax, slopes, lo, hi,
                                               grad=False)[0])
    return best, slopes


def alpha_crown_bounds(model: Network, lo: np.ndarray, hi: np.ndarray, iters: int = 20,
                       lr: float = 0.1, clamps=None):
    """Like certify.crown_bounds (same return value, same clamps), with every hidden layer's
    interval above the first tightened by alpha-CROWN: `iters` steps on the slopes of the
    layers below, for each unit's lower and upper end. Layer by layer, so each layer's
    relaxation is built on the tightened intervals of the layers below it."""
    layers = _layers(model)

    def tighten(k, l, u, bounds, relax):
        W, b = layers[k]
        n = len(b)
        C = np.broadcast_to(np.concatenate([W.T, -W.T]), (len(lo), 2 * n, W.shape[0]))
        both = np.broadcast_to(np.concatenate([b, -b]), (len(lo), 2 * n))
        best, _ = optimise(model, np.ascontiguousarray(C), both.copy(), bounds, relax, lo, hi,
                           iters, lr)
        l, u = np.maximum(l, best[:, :n]), np.minimum(u, -best[:, n:])
        # a unit whose value the box fixes (every unit below it stable) gets l = u up to
        # rounding, and the two sides are computed apart: never let them cross
        return np.minimum(l, u), np.maximum(l, u)

    return crown_bounds(model, lo, hi, clamps, tighten if iters else None)


def alpha_crown_margins(model: Network, x: np.ndarray, y: np.ndarray, eps: float,
                        iters: int = 20, lr: float = 0.1, chunk: int = 25,
                        intermediate: int = 0) -> np.ndarray:
    """Lower bounds (N, K) of z_y - z_j over the box, by alpha-CROWN (+inf at j = y): `iters`
    steps of projected Adam ascent (step `lr`) on the slopes of every input and margin, from
    CROWN's slopes; the best bound of any iterate is kept, so the result is never below
    CROWN's (up to CROWN's float32 rounding slack). intermediate > 0: the hidden layers'
    intervals too, by `alpha_crown_bounds` with that many steps. Dense (capped) ReLU nets."""
    x, y = check_batch(model, x, y)
    eps = check_number(eps, "eps", nonnegative=True)
    iters = check_count(iters, "iters", minimum=0)
    intermediate = check_count(intermediate, "intermediate", minimum=0)
    lr = check_number(lr, "lr", positive=True)
    if not _dense_stack(model):
        raise ValueError("alpha-CROWN here handles dense nets (MLPs); use certify.crown_margins "
                         "for convolutional ones")
    out = np.empty((len(x), model.n_out))
    W_last, b_last = _layers(model)[-1]
    for i in range(0, len(x), chunk):
        xs, ys = x[i : i + chunk], y[i : i + chunk]
        lo, hi = input_box(xs, eps)
        bounds, relax = (alpha_crown_bounds(model, lo, hi, intermediate, lr) if intermediate
                         else crown_bounds(model, lo, hi))
        C, const = margin_spec(W_last, b_last, ys)
        best, _ = optimise(model, C, const, bounds, relax, lo, hi, iters, lr)
        out[i : i + chunk] = best
    out[np.arange(len(y)), y] = np.inf
    return out
