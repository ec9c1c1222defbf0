"""Complete verification by branch and bound: split the kinks CROWN cannot see past.

CROWN and alpha-CROWN (nprelu.certify, nprelu.alpha_crown) lose tightness at the units whose
interval [l, u] crosses a kink (0, or the cap beta): there a line must stand in for a bend.
Branch and bound removes the bend. It picks such a unit and a kink k in (l, u) and splits the
problem in two, z <= k and z >= k; on each side the unit is linear, and every later layer's
bounds tighten. A sub-problem is done when its bound on the smallest margin is positive
(verified), when its clamps leave no input (empty), or when a point of the box that the net
misclassifies turns up (a counterexample, checked by a forward pass, ends the whole search).
The two sides of a split cover the parent, so when every sub-problem is done without a
counterexample, the input is robust: the verdict is exact, not a bound.

    queue <- [the whole box]
    repeat until the queue is empty (robust), a counterexample (not robust) or the time limit:
        bound a batch of the sub-problems with the lowest bounds (CROWN, then alpha-CROWN steps,
            with every pre-activation clamped to its side of each split made so far)
        check the corner of the box that minimises each linear bound: misclassified? stop
        drop the verified and the empty ones; split each other at the crossing unit whose
            lines cost the bound most (their intercepts), and queue both halves
        a sub-problem with no crossing unit left is linear: a linear program decides it

Before the search, margin PGD with random restarts looks for a counterexample (most
non-robust inputs are found there at once). Dense (capped) ReLU nets.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np

from .alpha_crown import alpha_crown_bounds, corners_and_scores, optimise
from .audit import pgd_adaptive
from .certify import _beta, _dense_stack, _layers, crown_bounds, input_box, margin_spec
from .checks import check_batch, check_count, check_number
from .network import Network


@dataclass
class BaBResult:
    status: str  # "robust", "not robust" or "unknown" (time limit)
    lower: float  # a certified lower bound on the smallest margin over the box
    domains: int  # sub-problems bounded
    seconds: float
    witness: np.ndarray | None = None  # "not robust": a point of the box the net misclassifies


def _split(bounds, betas, scores=None):
    """The (layer, unit, kink) to split in one sub-problem: among the kinks inside (l, u), the
    unit with the largest score (the intercepts it costs the bound, `intercept_scores`), or
    without scores the widest chord gap (u - k)(k - l) / (u - l); a unit that crosses both of
    its kinks is split at the one with the wider gap. None if no kink is crossed (then each
    unit is linear on the sub-problem)."""
    best, where = -1.0, None
    for i, ((l, u), beta) in enumerate(zip(bounds, betas)):
        for kink in (np.zeros_like(l), np.broadcast_to(np.asarray(beta, float), l.shape)):
            inside = (l < kink) & (u > kink) & np.isfinite(kink)
            if not inside.any():
                continue
            gap = np.where(inside, (u - kink) * (kink - l) / np.where(inside, u - l, 1.0), -1.0)
            key = gap if scores is None else np.where(inside, scores[i] + 1e-9 * gap, -1.0)
            j = int(np.argmax(key))
            if key[j] > best:
                best, where = float(key[j]), (i, j, float(kink[j]))
    return where


def _leaf(model: Network, bounds, betas, clamps, lo, hi, y: int):
    """The smallest margin over a sub-problem where no unit crosses a kink. There each unit is
    one linear piece (0, z or beta) of its activation, so every pre-activation is an affine
    function of x, z_i = x A_i + c_i, and the sub-problem is the polytope of the box where the
    clamped ones lie on their sides of the splits. One linear program per other class j
    (HiGHS): min (z_y - z_j) over that polytope, a lower bound on the margin over the
    sub-problem (exact when the polytope is the sub-problem). Returns (value, a minimiser)."""
    from scipy.optimize import linprog

    layers = _layers(model)
    A, c = np.eye(len(lo)), np.zeros(len(lo))  # a_{-1} = x
    rows, rhs = [], []
    for i, ((W, b), (l, u), beta) in enumerate(zip(layers[:-1], bounds, betas)):
        A, c = A @ W, c @ W + b  # z_i = x A + c
        floor, ceiling = clamps[0][i], clamps[1][i]
        for j in np.flatnonzero(np.isfinite(floor)):  # z >= floor  <=>  -x A_j <= c_j - floor
            rows.append(-A[:, j])
            rhs.append(c[j] - floor[j])
        for j in np.flatnonzero(np.isfinite(ceiling)):
            rows.append(A[:, j])
            rhs.append(ceiling[j] - c[j])
        beta = np.broadcast_to(np.asarray(beta, float), l.shape)
        on = (l >= 0) & (u <= beta)  # a = z
        sat = l >= beta  # a = beta; else u <= 0, a = 0
        A = A * on
        c = np.where(on, c, np.where(sat, beta, 0.0))
    W, b = layers[-1]
    A, c = A @ W, c @ W + b
    best, point = np.inf, None
    for j in range(W.shape[1]):
        if j == y:
            continue
        res = linprog(A[:, y] - A[:, j], A_ub=np.array(rows) if rows else None,
                      b_ub=np.array(rhs) if rows else None, bounds=list(zip(lo, hi)),
                      method="highs")
        if res.status == 2:  # infeasible: the sub-problem is empty
            return np.inf, None
        if res.status != 0:
            return -np.inf, None
        value = res.fun + c[y] - c[j]
        if value < best:
            best, point = value, res.x.astype(model.dtype)
    return best, point


def branch_and_bound(model: Network, x: np.ndarray, y: int, eps: float,
                     time_limit: float = 10.0, batch: int = 32, alpha_iters: int = 10,
                     lr: float = 0.1, attack_restarts: int = 2, seed: int = 0,
                     split: str = "intercept", intermediate: int = 0,
                     max_domains: int | None = None) -> BaBResult:
    """Decide whether every point of the box around x (D,) at radius eps keeps class y.
    `batch` sub-problems are bounded at once, each by CROWN followed by `alpha_iters` steps of
    alpha-CROWN (on the first 20 test inputs of the clean 392-196 net at eps 0.02, 10 s each:
    16 robust, 2 not, 2 undecided with 10 steps; 15, 2, 3 with none; benchmarks/verify.py).
    `split`: "intercept" (the unit whose lines cost the bound most) or "gap" (widest chord).
    intermediate > 0: every sub-problem's hidden intervals are tightened by that many steps
    of alpha-CROWN (alpha_crown_bounds) before its margins are bounded.
    max_domains: stop ("unknown") once that many sub-problems are bounded (the last batch is cut
    short so that the count never passes it), a budget that, unlike the time limit, gives the
    same verdict on a fast and a slow machine.
    Returns the verdict, a lower bound on the smallest margin (exact verdicts: its sign is the
    verdict), the sub-problems bounded, the seconds, and a counterexample."""
    t0 = time.perf_counter()
    x2, y2 = check_batch(model, np.asarray(x)[None], np.array([y]))
    eps = check_number(eps, "eps", nonnegative=True)
    time_limit = check_number(time_limit, "time_limit", positive=True)
    intermediate = check_count(intermediate, "intermediate", minimum=0)
    batch = check_count(batch, "batch")
    if max_domains is not None:
        max_domains = check_count(max_domains, "max_domains")
    if split not in ("intercept", "gap"):
        raise ValueError(f"split must be 'intercept' or 'gap', got {split!r}")
    if not _dense_stack(model):
        raise ValueError("branch and bound here handles dense nets (MLPs); for a CNN without "
                         "pooling use certify.as_dense first")
    if model.predict(x2)[0] != y:
        return BaBResult("not robust", -np.inf, 0, time.perf_counter() - t0, x2[0].copy())
    adv = pgd_adaptive(model, x2, y2, eps, eps / 4, 20, restarts=attack_restarts, seed=seed)
    if model.predict(adv)[0] != y:
        return BaBResult("not robust", -np.inf, 0, time.perf_counter() - t0, adv[0])
    lo, hi = input_box(x2, eps)
    W_last, b_last = _layers(model)[-1]
    betas = [_beta(a) for a in model.acts]
    sizes = [layer.shape[1] for layer in model.layers[:-1]]
    root = ([np.full(n, -np.inf) for n in sizes], [np.full(n, np.inf) for n in sizes])
    queue, tick = [(-np.inf, 0, root)], 1  # (parent's bound, tie-break, clamps)
    done_lower, bounded = np.inf, 0
    while queue:
        if (time.perf_counter() - t0 > time_limit
                or (max_domains is not None and bounded >= max_domains)):
            return BaBResult("unknown", min(done_lower, queue[0][0]), bounded,
                             time.perf_counter() - t0)
        room = batch if max_domains is None else min(batch, max_domains - bounded)
        todo = [heapq.heappop(queue) for _ in range(min(room, len(queue)))]
        n = len(todo)
        clamps = [(np.stack([d[2][0][i] for d in todo]), np.stack([d[2][1][i] for d in todo]))
                  for i in range(len(sizes))]
        LO, HI = np.repeat(lo, n, axis=0), np.repeat(hi, n, axis=0)
        bounds, relax = (alpha_crown_bounds(model, LO, HI, intermediate, lr, clamps)
                         if intermediate else crown_bounds(model, LO, HI, clamps))
        bounded += n
        empty = np.zeros(n, bool)
        for l, u in bounds:  # only a clamp empties an interval; rounding never does
            empty |= np.any(l > u + 1e-9 * (1 + np.abs(u)), axis=1)
        C, const = margin_spec(W_last, b_last, np.full(n, y))
        best, slopes = optimise(model, C, const, bounds, relax, LO, HI, alpha_iters, lr)
        best[:, y] = np.inf
        lower = best.min(axis=1)
        open_ = ~empty & (lower <= 0)
        done = ~empty & ~open_
        if done.any():
            done_lower = min(done_lower, float(lower[done].min()))
        if not open_.any():
            continue
        corners, scores = corners_and_scores(model, C, const, relax, slopes, LO, HI)
        pts = corners[open_].reshape(-1, corners.shape[-1]).astype(model.dtype)
        wrong = np.flatnonzero(model.predict(pts) != y)  # a corner the net misclassifies?
        if len(wrong):
            return BaBResult("not robust", -np.inf, bounded, time.perf_counter() - t0,
                             pts[wrong[0]].copy())
        if split == "gap":
            scores = None
        for k in np.flatnonzero(open_):
            where = _split([(l[k], u[k]) for l, u in bounds], betas,
                           None if scores is None else [sc[k] for sc in scores])
            if where is None:  # a leaf: every unit linear on it; a linear program decides it
                value, point = _leaf(model, [(l[k], u[k]) for l, u in bounds], betas,
                                     todo[k][2], lo[0], hi[0], y)
                if point is not None and model.predict(point[None])[0] != y:
                    return BaBResult("not robust", -np.inf, bounded, time.perf_counter() - t0,
                                     point)
                if value <= 0:
                    return BaBResult("unknown", value, bounded, time.perf_counter() - t0)
                done_lower = min(done_lower, value)
                continue
            i, j, kink = where
            floors, ceilings = todo[k][2]
            below = ([f.copy() for f in floors], [c.copy() for c in ceilings])
            below[1][i][j] = kink
            above = ([f.copy() for f in floors], [c.copy() for c in ceilings])
            above[0][i][j] = kink
            for child in (below, above):
                heapq.heappush(queue, (float(lower[k]), tick, child))
                tick += 1
    return BaBResult("robust", done_lower, bounded, time.perf_counter() - t0)
