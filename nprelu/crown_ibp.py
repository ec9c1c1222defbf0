"""CROWN-IBP (Zhang et al., 2020): certified training with a tighter bound at the same cost.

IBP training (nprelu.objectives.IBPMix) minimises the cross-entropy of the worst-case logits
that interval bounds give. Its bound is loose, so the net must be very regular to certify
anything. CROWN-IBP keeps IBP's bounds [l, u] for every hidden layer (one cheap forward pass)
and replaces only the last step: the margins z_y - z_j are carried back to the input through
the linear relaxation of every ReLU on its IBP interval, as CROWN does (nprelu.certify):

    lam = C (the last layer folded into the margins), then per hidden layer i, downwards:
        pos, neg = max(lam, 0), min(lam, 0)
        lam_z = pos aL + neg aU;  const += neg . bU + lam_z . b_i;  lam = lam_z W_i^T
    m = const + lam . c - |lam| . r        (c, r: the input box's centre and radius)

with the lines a >= aL z + bL and a <= aU z + bU of certify.relaxation (pos picks the lower
line, neg the upper: the const also gains pos . bL). For a ReLU unit whose interval crosses 0
(l < 0 < u): the upper chord aU = u / (u - l), bU = -u l / (u - l) and the lower line
aL = 1 if u > -l else 0 (a constant: no gradient); stable units have aL = aU = 1 (active) or
0 (off). A capped unit (a = clip(z, 0, cap)) adds the cases of certify's module docstring;
the lines that move with l and u are the chord from (l, l) to (u, cap) below a unit that
crosses only the cap, and, for one that crosses both kinks, the upper line through (cap,
cap) of slope cap / (cap - l) and the lower one through (0, 0) of slope cap / u (when the area
rule picks them over the flat ones). Training minimises CE(-m, y) mixed with IBP's:
m_mix = beta m + (1 - beta) m_ibp, beta falling from 1 to 0 as eps ramps up.

The gradient is written by hand, in two parts. (1) Through the backward pass itself, with the
relaxation fixed: the same pass run forward again, g(lam_x) = dL/dm (c - sign(lam_x) r), and
for each layer dW_i += g(lam_{i-1})^T lam_z_i, db_i += dL/dm . lam_z_i, g(lam_z_i) =
g(lam_{i-1}) W_i + dL/dm b_i, g(lam_i) = g(lam_z_i) (aL or aU) + dL/dm (0 or bU); at the top,
C = W_L[:, y] - W_L[:, j]. (2) Through the relaxation's dependence on the IBP bounds:
    ReLU's chord:          daU/dl = u / (u - l)^2,   daU/du = -l / (u - l)^2,
                           dbU/dl = -u^2 / (u - l)^2, dbU/du = l^2 / (u - l)^2;
    the cap's lower chord: daL/dl = (cap - u) / (u - l)^2, daL/du = -(cap - l) / (u - l)^2,
      bL = l (u - cap) / (u - l): dbL/dl = u (u - cap) / (u - l)^2,
                                  dbL/du = l (cap - l) / (u - l)^2;
    both kinks, upper:     daU/dl = cap / (cap - l)^2, dbU/dl = -cap^2 / (cap - l)^2;
    both kinks, lower:     daL/du = -cap / u^2,
which `ibp_backward` then carries down through interval propagation to every weight. Dense
(capped) ReLU nets; a learned cap's relaxation would also move with its cap m (not here).
"""

from __future__ import annotations

import numpy as np

from .activations import CappedReLU
from .certify import relaxation
from .checks import check_number
from .losses import softmax_cross_entropy
from .network import Network
from .objectives import At, IBPMix, _param_views, ibp_backward, ibp_worst_logits


def _check(model: Network) -> None:
    for i, act in enumerate(model.acts):
        if not isinstance(act, CappedReLU):
            raise ValueError(f"CROWN-IBP here handles (capped) ReLU nets; HL{i + 1} has "
                             f"{act.name}")
    if any(layer.kind != "dense" for layer in model.layers):
        raise ValueError("CROWN-IBP here handles dense nets (MLPs)")


def _lines(beta, l: np.ndarray, u: np.ndarray) -> tuple[list, list]:
    """The relaxation of clip(z, 0, beta) on [l, u] (per unit, (N, n); beta = inf for a ReLU):
    the lines [aL, bL, aU, bU] of certify.relaxation, and their derivatives in l and u,
    [daL, dbL, daU, dbU], each a pair (d/dl, d/du)."""
    lines = list(relaxation(beta, l, u))
    aL, _, aU, _ = lines
    B = np.broadcast_to(np.asarray(beta, l.dtype), l.shape)
    zero = np.zeros_like(l)
    d = [[zero, zero] for _ in range(4)]
    relu_chord = (l < 0) & (u > 0) & (u <= B)
    w = np.where(relu_chord, u - l, 1)
    w2 = w * w
    d[2] = [np.where(relu_chord, u / w2, 0), np.where(relu_chord, -l / w2, 0)]
    d[3] = [np.where(relu_chord, -u * u / w2, 0), np.where(relu_chord, l * l / w2, 0)]
    if np.any(np.isfinite(B)):
        Bf = np.where(np.isfinite(B), B, 0)
        cap_chord = (l >= 0) & (l < B) & (u > B)  # crosses the cap only: the lower chord
        w = np.where(cap_chord, u - l, 1)
        w2 = w * w
        d[0] = [np.where(cap_chord, (Bf - u) / w2, 0), np.where(cap_chord, (l - Bf) / w2, 0)]
        d[1] = [np.where(cap_chord, u * (u - Bf) / w2, 0),
                np.where(cap_chord, l * (Bf - l) / w2, 0)]
        both = (l < 0) & (u > B)
        up = both & (aU > 0)  # the line through (cap, cap), not the flat a <= cap
        v = np.where(up, Bf - l, 1)
        v2 = v * v
        d[2][0] = d[2][0] + np.where(up, Bf / v2, 0)
        d[3][0] = d[3][0] + np.where(up, -Bf * Bf / v2, 0)
        low = both & (aL > 0)  # the line through (0, 0), not a >= 0
        uu = np.where(low, u, 1)
        d[0][1] = d[0][1] + np.where(low, -Bf / (uu * uu), 0)
    return lines, d


def _times(A: np.ndarray, W: np.ndarray) -> np.ndarray:
    """A (N, K, n) @ W (n, m) as one matrix product over all N K rows (numpy's batched
    matmul would call BLAS once per input)."""
    return (A.reshape(-1, A.shape[-1]) @ W).reshape(*A.shape[:-1], W.shape[1])


def crown_ibp_margins(model: Network, x: np.ndarray, y: np.ndarray, eps: float):
    """Lower bounds m (N, K) of z_y - z_j over the eps-box by CROWN-IBP (m_y = 0), in the
    model's dtype, the IBP worst-case logits zhat = -m_ibp (N, K), and the cache for
    `crown_ibp_backward`."""
    _check(model)
    zhat, ibp_cache = ibp_worst_logits(model, x, y, eps)
    c, r = ibp_cache[0][0][:2]  # the input box's centre and radius, as IBP propagated them
    bounds = [(entry[2], entry[3]) for entry in ibp_cache[0]]
    lines = [_lines(act.beta, l, u) for act, (l, u) in zip(model.acts, bounds)]
    W_L, b_L = model.layers[-1].W, model.layers[-1].b
    lam = W_L[:, y].T[:, None, :] - W_L.T[None, :, :]  # (N, K, H): row j is W_y - W_j
    m = b_L[y][:, None] - b_L[None, :]
    saved = [None] * len(lines)
    for i in range(len(lines) - 1, -1, -1):
        aL, bL, aU, bU = lines[i][0]
        pos, neg = np.maximum(lam, 0), np.minimum(lam, 0)
        lam_z = pos * aL[:, None, :] + neg * aU[:, None, :]
        m = m + (pos * bL[:, None, :] + neg * bU[:, None, :]).sum(-1) + lam_z @ model.layers[i].b
        saved[i] = (lam > 0, pos, neg, lam_z)
        lam = _times(lam_z, model.layers[i].W.T)
    m = m + np.einsum("nkd,nd->nk", lam, c) - np.einsum("nkd,nd->nk", np.abs(lam), r)
    return m, zhat, (ibp_cache, lines, saved, lam, c, r, y)


def crown_ibp_backward(model: Network, cache, dm: np.ndarray, dzhat: np.ndarray,
                       grads: np.ndarray) -> None:
    """Write into `grads` (the model's flat layout) the gradient of a loss that uses the
    CROWN-IBP margins m and the IBP worst-case logits zhat, given dL/dm and dL/dzhat (N, K)."""
    ibp_cache, lines, saved, lam_x, c, r, y = cache
    direct = np.zeros_like(grads)
    views = _param_views(model, direct)
    g_m = dm[..., None]
    G = g_m * (c[:, None, :] - np.sign(lam_x) * r[:, None, :])  # dL/d(coefficients on x)
    bound_grads = []
    for i, layer in enumerate(model.layers[:-1]):
        up, pos, neg, lam_z = saved[i]
        (aL, bL, aU, bU), derivs = lines[i]
        dW, db = views[i]
        dW += G.reshape(-1, G.shape[-1]).T @ lam_z.reshape(-1, lam_z.shape[-1])
        db += (g_m * lam_z).sum(axis=(0, 1))
        Gz = _times(G, layer.W) + g_m * layer.b  # dL/dlam_z_i
        g_lines = ((Gz * pos).sum(axis=1), (g_m * pos).sum(axis=1),  # dL/d(aL, bL, aU, bU)
                   (Gz * neg).sum(axis=1), (g_m * neg).sum(axis=1))
        bound_grads.append(tuple(sum(g * dd[k] for g, dd in zip(g_lines, derivs))
                                 for k in (0, 1)))
        G = np.where(up, Gz * aL[:, None, :] + g_m * bL[:, None, :],
                     Gz * aU[:, None, :] + g_m * bU[:, None, :])
    # the top: lam = C, C[n, j] = W_L[:, y_n] - W_L[:, j]; const = b_L[y_n] - b_L[j]
    dW, db = views[-1]
    np.add.at(dW.T, y, G.sum(axis=1))
    dW -= G.sum(axis=0).T
    np.add.at(db, y, dm.sum(axis=1))
    db -= dm.sum(axis=0)
    ibp_backward(model, ibp_cache, dzhat, grads, bound_grads)
    grads += direct


class CrownIBPMix(IBPMix):
    """kappa CE(z(x), y) + (1 - kappa) CE(-m_mix, y), m_mix = beta m_CROWN-IBP + (1 - beta)
    m_IBP over the eps_t-ball: IBPMix's schedule for eps_t and kappa, and beta falling from 1 to
    `beta_end` while eps_t ramps up (Zhang et al., 2020: beta_end 0, the default, ends on IBP's
    bound alone; beta_end 1 trains against CROWN-IBP's bound alone throughout)."""

    def __init__(self, eps: float, warmup: int = 2, ramp: int = 10, kappa_end: float = 0.5,
                 beta_end: float = 0.0):
        super().__init__(eps, warmup, ramp, kappa_end)
        self.beta_end = check_number(beta_end, "beta_end", nonnegative=True, at_most=1)
        self.bound_name = "CROWN-IBP" if beta_end == 1 else "mixed-bound"  # for the progress line

    def beta(self, eps_t: float) -> float:
        """CROWN-IBP's share of the bound at eps_t: 1 at eps_t = 0, beta_end at eps_t = eps."""
        return 1 - (1 - self.beta_end) * eps_t / self.eps if self.eps else 1.0

    def bound_step(self, model: Network, xb: np.ndarray, yb: np.ndarray, eps_t: float
                   ) -> tuple[float, int]:
        beta = self.beta(eps_t)
        m, zhat, cache = crown_ibp_margins(model, xb, yb, eps_t)
        mix = beta * m - (1 - beta) * zhat
        bound_loss, d_neg = softmax_cross_entropy(-mix, yb)  # d_neg = dL/d(-mix)
        d_mix = -d_neg * model.dtype.type(1.0 / len(yb))
        crown_ibp_backward(model, cache, model.dtype.type(beta) * d_mix,
                           -model.dtype.type(1 - beta) * d_mix, self.grads)
        others = (mix > 0) | (np.arange(mix.shape[1]) == yb[:, None])
        return float(bound_loss.mean()), int(others.all(axis=1).sum())

    def describe(self, at: At) -> str:
        eps_t, kappa = self.schedule(at)
        beta = self.beta(eps_t)
        return f", eps {eps_t:.3f}, kappa {kappa:.2f}, beta {beta:.2f}"
