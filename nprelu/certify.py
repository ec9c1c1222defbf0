"""Certified robustness: lower bounds on the margin that no attack can beat.

An input x of class y is robust at radius eps when, for every x' in the box
B = {x' : |x' - x|_inf <= eps} ∩ [0, 1]^D and every other class j, the margin
z_y(x') - z_j(x') stays positive. An attack that fails proves nothing; a lower bound on the
smallest margin over B does. Three of them, from fast and loose to slow and exact:

    IBP    interval bound propagation (Gowal et al., 2018): push the box through the net one
           layer at a time. Exact for each neuron alone (the activations are monotone), loose
           because the neurons of a layer cannot all reach their extremes at once.
    CROWN  (Zhang et al., 2018): bound every activation between two lines (its linear
           relaxation on the neuron's interval [l, u]) and carry a linear function of the input
           backwards through the net, so that the errors of different neurons can cancel.
           Intermediate bounds [l, u] come from CROWN itself, layer by layer.
    MILP   an exact mixed-integer program (one binary per kink a neuron's interval crosses,
           big-M constants from the CROWN bounds), solved with HiGHS: the true smallest margin,
           when it finishes within its time limit.

Certified = all nine margin bounds > 0. Bounds are computed in float64 from the float32
weights, and are statements about the network in exact arithmetic (float32 inference differs
from it by about 1e-6 in the logits). Supported: (capped) ReLU nets for all three; IBP also
handles the scaled sigmoid and tanh (monotone).

The capped ReLU a = clip(z, 0, beta) on an interval [l, u] has six cases (lines: lower <= a <=
upper, each `slope * z + intercept`):
    u <= 0: a = 0;   l >= beta: a = beta;   0 <= l, u <= beta: a = z         (exact)
    l < 0 < u <= beta (crosses 0):   upper chord u (z - l) / (u - l); lower z or 0, whichever
                                     leaves the smaller area (slope 1 if u > -l), as for ReLU
    0 <= l < beta < u (crosses beta): concave there: lower chord from (l, l) to (u, beta);
                                     upper z or beta (slope 1 if u - beta < beta - l)
    l < 0 < beta < u (crosses both): upper through (beta, beta), slope beta / (beta - l) or 0;
                                     lower through (0, 0), slope beta / u or 0; in each case the
                                     one enclosing the smaller area.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

from .activations import CappedReLU, LearnedCap
from .checks import check_batch, check_number
from .network import Network
from .progress import bar

METHODS = ("ibp", "crown")


# ----------------------------------------------------------------------------- the box, layers
def input_box(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The L-inf ball of radius eps around x, intersected with [0, 1]: (lo, hi), float64."""
    x = x.astype(np.float64)
    return np.clip(x - eps, 0, 1), np.clip(x + eps, 0, 1)


def _layers(model: Network) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(d.W.astype(np.float64), d.b.astype(np.float64)) for d in model.layers]


def _dense_stack(model: Network) -> bool:
    """A net of dense layers only, the last without activation (the paper's MLPs, D-ReLU's
    dense net): the fast path below. Anything else takes the general path (`_Steps`)."""
    return (all(layer.kind == "dense" for layer in model.layers)
            and model.layers[-1].act is None
            and all(layer.act is not None for layer in model.layers[:-1]))


def _beta(act):
    """The cap of a (capped, or learned-cap) ReLU: one number or one per unit."""
    if not isinstance(act, (CappedReLU, LearnedCap)):
        raise ValueError(f"CROWN and MILP here handle (capped) ReLU nets; this one has "
                         f"{act.name} (IBP works for it)")
    return act.beta


def affine_bounds(W: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Exact bounds of z = a W + b for a in the box [lo, hi] (N, n_in): (l, u), each (N, n_out)."""
    Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
    return lo @ Wp + hi @ Wn + b, hi @ Wp + lo @ Wn + b


def _act_box(act, l: np.ndarray, u: np.ndarray):
    """The box of a monotone activation's outputs on [l, u]: (act(l), act(u))."""
    return act.fn(l), act.fn(u)


def margin_spec(W: np.ndarray, b: np.ndarray, y: np.ndarray):
    """The last layer folded into the margins z_y - z_j: per input n, coefficients (N, K, H)
    on the last hidden output and constants (N, K). Row j = y is all zero."""
    C = W[:, y].T[:, None, :] - W.T[None, :, :]
    const = b[y][:, None] - b[None, :]
    return C, const


# ----------------------------------------------------------------------------- IBP
def ibp_bounds(model: Network, lo: np.ndarray, hi: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """Interval bounds (l, u) of every hidden layer's pre-activation z, float64."""
    layers, out = _layers(model), []
    a_lo, a_hi = lo, hi
    for (W, b), act in zip(layers[:-1], model.acts):
        l, u = affine_bounds(W, b, a_lo, a_hi)
        out.append((l, u))
        a_lo, a_hi = _act_box(act, l, u)
    return out


def ibp_margins(model: Network, x: np.ndarray, y: np.ndarray, eps: float,
                chunk: int = 500) -> np.ndarray:
    """Lower bounds (N, K) of z_y - z_j over the box, by IBP (+inf at j = y). A convolutional
    net is bounded `chunk` inputs at a time (its unfolded boxes take ~0.4 MB per input)."""
    x, y = check_batch(model, x, y)
    eps = check_number(eps, "eps", nonnegative=True)
    if not _dense_stack(model):
        steps, out = _Steps(model), np.empty((len(x), model.n_out))
        for i in range(0, len(x), chunk):
            lo, hi = input_box(x[i : i + chunk], eps)
            out[i : i + chunk] = steps.margins(lo, hi, y[i : i + chunk], crown=False)
        return out
    lo, hi = input_box(x, eps)
    l, u = ibp_bounds(model, lo, hi)[-1]
    a_lo, a_hi = _act_box(model.acts[-1], l, u)
    C, const = margin_spec(*_layers(model)[-1], y)
    mid, rad = (a_hi + a_lo) / 2, (a_hi - a_lo) / 2
    m = np.einsum("nkh,nh->nk", C, mid) - np.einsum("nkh,nh->nk", np.abs(C), rad) + const
    m[np.arange(len(y)), y] = np.inf
    return m


# ----------------------------------------------------------------------------- CROWN
def relaxation(beta, l: np.ndarray, u: np.ndarray):
    """Lines bounding a = clip(z, 0, beta) on [l, u], elementwise (the six cases of the module
    docstring): (lower slope, lower intercept, upper slope, upper intercept). beta = inf: ReLU;
    beta may be one number or one per unit (an array broadcasting against l)."""
    aL, bL, aU, bU = (np.zeros_like(l) for _ in range(4))
    Bf = np.broadcast_to(np.asarray(beta, l.dtype), l.shape)  # beta of every element
    capped = bool(np.any(np.isfinite(Bf)))
    linear = (l >= 0) & (u <= Bf)
    aL[linear] = aU[linear] = 1
    if capped:
        sat = l >= Bf
        bL[sat] = bU[sat] = Bf[sat]
    crosses_0 = (l < 0) & (u > 0) & (u <= Bf)  # crosses 0 only: the ReLU relaxation
    s = u[crosses_0] / (u[crosses_0] - l[crosses_0])
    aU[crosses_0], bU[crosses_0] = s, -s * l[crosses_0]
    aL[crosses_0] = (u[crosses_0] > -l[crosses_0]).astype(l.dtype)
    if capped:
        crosses_beta = (l >= 0) & (l < Bf) & (u > Bf)  # crosses beta only: concave on [l, u]
        lb, ub, B = l[crosses_beta], u[crosses_beta], Bf[crosses_beta]
        s = (B - lb) / (ub - lb)
        aL[crosses_beta], bL[crosses_beta] = s, lb - s * lb
        one = (ub - B) < (B - lb)
        aU[crosses_beta], bU[crosses_beta] = one.astype(l.dtype), np.where(one, 0.0, B)
        crosses_both = (l < 0) & (u > Bf)  # crosses both kinks
        lb, ub, B = l[crosses_both], u[crosses_both], Bf[crosses_both]
        s_up = B / (B - lb)  # through (beta, beta); the alternative is the flat a <= beta
        area_up = B * (-lb) / 2 + s_up * (ub - B) ** 2 / 2
        area_flat = B * (-lb) + B**2 / 2
        up = np.where(area_up < area_flat, s_up, 0.0)
        aU[crosses_both], bU[crosses_both] = up, B - up * B
        s_lo = B / ub  # through (0, 0); the alternative is a >= 0
        area_chord = s_lo * lb**2 / 2 + B**2 / 2 + B * (ub - B) - s_lo * ub**2 / 2
        area_zero = B**2 / 2 + B * (ub - B)
        aL[crosses_both] = np.where(area_chord < area_zero, s_lo, 0.0)
    return aL, bL, aU, bU


def _backward(lam: np.ndarray, const: np.ndarray, k: int, layers, relax, lo, hi,
              upper: bool) -> np.ndarray:
    """Bound of lam . a_k + const over the box, carried back through hidden layers k-1..0.

    lam: (N, m, n_k) coefficients on the output of hidden layer k (0-based), or (m, n_k) when
    they are the same for every input (an intermediate layer's own weights); const: (N, m).
    relax[i] = (aL, bL, aU, bU) of hidden layer i, each (N, n_i). Returns (N, m): the lower
    bound, or the upper bound when `upper`."""
    for i in range(k, -1, -1):
        aL, bL, aU, bU = relax[i]
        pos, neg = np.maximum(lam, 0), np.minimum(lam, 0)
        if upper:
            aL, bL, aU, bU = aU, bU, aL, bL
        if lam.ndim == 2:  # shared by all inputs: broadcast, never copied per input
            lam_z = pos[None] * aL[:, None, :] + neg[None] * aU[:, None, :]
            const = const + bL @ pos.T + bU @ neg.T
        else:
            lam_z = pos * aL[:, None, :] + neg * aU[:, None, :]
            const = const + np.einsum("nmh,nh->nm", pos, bL) + np.einsum("nmh,nh->nm", neg, bU)
        W, b = layers[i]
        const = const + lam_z @ b
        if i == 0:
            return const + _input_term(lam_z, W, lo, hi, upper)
        n, m, h = lam_z.shape
        lam = (lam_z.reshape(n * m, h) @ W.T).reshape(n, m, W.shape[0])
    raise AssertionError("unreachable")


_U32 = float(np.finfo(np.float32).eps) / 2  # unit roundoff of float32


def _input_term(lam_z: np.ndarray, W: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                upper: bool) -> np.ndarray:
    """Bound of lam_z . (x W) over x in [lo, hi] (lam_z (N, m, H), W (D, H)): with
    lam_x = lam_z W^T, c = (lo + hi) / 2 and r = (hi - lo) / 2, it is lam_x . c -+ |lam_x| . r.

    The centre term needs no lam_x: lam_z . (c W), in float64. The radius term needs |lam_x|,
    the largest matrix of CROWN (N x m x D); it is computed in float32, twice as fast, and the
    rounding error is bounded and added to the radius, so the bound stays sound: for a float32
    dot product of length k, |error| <= g_k sum |a_i b_i| with g_k = k u / (1 - k u)."""
    c, r = (lo + hi) / 2, (hi - lo) / 2
    center = np.einsum("nmh,nh->nm", lam_z, c @ W)
    n, m, h = lam_z.shape
    W32 = W.astype(np.float32)
    lam_x = (lam_z.astype(np.float32).reshape(n * m, h) @ W32.T).reshape(n, m, len(W))
    np.abs(lam_x, out=lam_x)
    radius = np.einsum("nmd,nd->nm", lam_x, r.astype(np.float32)).astype(np.float64)
    k = max(h, len(W)) + 2
    gamma = 1.01 * k * _U32 / (1 - k * _U32)
    slack = gamma * (np.einsum("nmh,nh->nm", np.abs(lam_z), r @ np.abs(W)) + radius)
    return center + radius + slack if upper else center - radius - slack


def crown_bounds(model: Network, lo: np.ndarray, hi: np.ndarray, clamps=None, tighten=None):
    """CROWN bounds (l, u) of every hidden layer's pre-activation, and the relaxations built on
    them: ([(l, u) per hidden layer], [(aL, bL, aU, bU) per hidden layer]).

    clamps (branch and bound): per hidden layer a pair (floor, ceiling) of (N, n_i) arrays that
    restrict each pre-activation to a part of its range (z >= floor, z <= ceiling; -inf and inf
    leave it free). The bounds are then bounds over the inputs of the box that satisfy every
    clamp; where a clamp leaves an empty interval, l > u comes back, and the caller must treat
    that sub-problem as empty. tighten(k, l, u, bounds, relax) -> (l, u), if given, narrows
    the CROWN interval of every hidden layer k >= 1 (0-based) from the bounds and relaxations
    of the layers below it (alpha-CROWN's intermediate bounds)."""
    layers = _layers(model)
    betas = [_beta(act) for act in model.acts]
    bounds, relax = [], []
    for k, beta in enumerate(betas):
        W, b = layers[k]
        if k == 0:
            l, u = affine_bounds(W, b, lo, hi)
        else:
            const = np.broadcast_to(b, (len(lo), len(b)))
            l = _backward(W.T, const, k - 1, layers, relax, lo, hi, upper=False)
            u = _backward(W.T, const, k - 1, layers, relax, lo, hi, upper=True)
            if tighten is not None:
                l, u = tighten(k, l, u, bounds, relax)
        if clamps is not None:
            l, u = np.maximum(l, clamps[k][0]), np.minimum(u, clamps[k][1])
        bounds.append((l, u))
        # an empty interval (l > u, clamps only) gets the lines of the point u: any will do
        relax.append(relaxation(beta, l if clamps is None else np.minimum(l, u), u))
    return bounds, relax


def crown_margins(model: Network, x: np.ndarray, y: np.ndarray, eps: float,
                  chunk: int = 100) -> np.ndarray:
    """Lower bounds (N, K) of z_y - z_j over the box, by CROWN (+inf at j = y)."""
    x, y = check_batch(model, x, y)
    eps = check_number(eps, "eps", nonnegative=True)
    out = np.empty((len(x), model.n_out))
    if not _dense_stack(model):
        steps = _Steps(model)
        chunk = steps.chunk(chunk)
        with bar(total=len(x), desc="CROWN", unit="input") as b:  # seconds per input on a CNN
            for i in range(0, len(x), chunk):
                lo, hi = input_box(x[i : i + chunk], eps)
                out[i : i + chunk] = steps.margins(lo, hi, y[i : i + chunk], crown=True)
                b.update(len(lo))
        return out
    layers = _layers(model)
    for i in range(0, len(x), chunk):
        xs, ys = x[i : i + chunk], y[i : i + chunk]
        lo, hi = input_box(xs, eps)
        _, relax = crown_bounds(model, lo, hi)
        C, const = margin_spec(*layers[-1], ys)
        out[i : i + chunk] = _backward(C, const, len(layers) - 2, layers, relax, lo, hi, False)
    out[np.arange(len(y)), y] = np.inf
    return out


# ----------------------------------------------------------------------------- any network
class _Steps:
    """IBP and CROWN through any sequence of layers (convolutions, pooling, flatten, dense),
    in float64. Shapes are per sample, as in the network; every bound array has a leading batch
    axis N, and CROWN's coefficient arrays a second axis m (one row per bounded quantity).

    Intermediate bounds: IBP for every activation site, tightened by CROWN (back-substitution
    from that site to the input) where the site has at most `crown_units` units, a dense layer
    typically; the two are intersected, which is sound because each is. Max-pooling is relaxed
    per window: the output is at least the input with the largest lower bound, and at most the
    largest upper bound (exactly that input when its lower bound beats every other upper)."""

    # bytes one chunk of inputs may spend on the coefficients CROWN carries through a
    # convolution's transpose (rows x unfolded patches, float64)
    BUDGET = 1 << 30

    def __init__(self, model: Network, crown_units: int = 2048):
        self.model, self.crown_units = model, crown_units
        self.W = [None if not hasattr(layer, "W") else layer.W.astype(np.float64)
                  for layer in model.layers]
        self.b = [None if not hasattr(layer, "b") else layer.b.astype(np.float64)
                  for layer in model.layers]
        last = model.layers[-1]
        if last.kind != "dense" or last.act is not None:
            raise ValueError("certification needs a network whose last layer is a dense layer "
                             "without activation (the logits)")
        for layer in model.layers:
            act = getattr(layer, "act", None)
            if act is not None and not isinstance(act, (CappedReLU, LearnedCap)):
                if not hasattr(act, "fn"):
                    raise ValueError(f"cannot bound a {act.name}")

    def chunk(self, most: int) -> int:
        """How many inputs to bound at once (at most `most`): CROWN carries one coefficient
        row per bounded quantity (a site of at most crown_units units, or the logits), and
        through a convolution each row becomes C k k x OH OW unfolded patches in float64, so
        a 28x28x32 convolution costs ~0.5 GB per input for a 256-unit site."""
        m = self.model
        rows = max([m.n_out] + [int(np.prod(m.shapes[i + 1]))
                                for i, layer in enumerate(m.layers)
                                if getattr(layer, "act", None) is not None
                                and np.prod(m.shapes[i + 1]) <= self.crown_units])
        cols = max([layer.c_in * layer.k * layer.k * int(np.prod(m.shapes[i + 1][1:]))
                    for i, layer in enumerate(m.layers) if layer.kind == "conv2d"] or [1])
        return int(max(1, min(most, self.BUDGET // (8 * rows * cols))))

    # -------------------------------------------------------- per layer
    def _lin(self, i: int, x: np.ndarray, W: np.ndarray) -> np.ndarray:
        layer = self.model.layers[i]
        if layer.kind == "dense":
            return x @ W
        return layer.linear(x, W)

    def _lin_T(self, i: int, lam: np.ndarray, W: np.ndarray) -> np.ndarray:
        """lam (N, m, *out) -> (N, m, *in) through layer i's linear map, transposed."""
        layer = self.model.layers[i]
        n, m = lam.shape[:2]
        flat = lam.reshape(n * m, *lam.shape[2:])
        if layer.kind == "dense":
            back = flat @ W.T
        else:
            back = layer.linear_T(flat, self.model.shapes[i], W)
        return back.reshape(n, m, *back.shape[1:])

    def _bias(self, i: int) -> np.ndarray:
        """Layer i's bias broadcast over one output sample's shape."""
        b = self.b[i]
        return b if self.model.layers[i].kind == "dense" else b[:, None, None]

    @staticmethod
    def _act_fn(layer, act, z):
        """The activation on z, its cap broadcast per channel in a convolution."""
        if layer.kind == "conv2d" and np.ndim(getattr(act, "beta", 0)):
            return np.moveaxis(act.fn(np.moveaxis(z, 1, -1)), -1, 1)
        if layer.kind == "activation":
            return act.fn(z.reshape(len(z), -1)).reshape(z.shape)
        return act.fn(z)

    def _beta_full(self, i: int, shape: tuple) -> np.ndarray:
        """The cap of site i's every unit, shape (*shape)."""
        layer = self.model.layers[i]
        beta = np.asarray(_beta(layer.act), np.float64)
        if layer.kind == "conv2d" and beta.ndim:
            beta = beta[:, None, None]
        elif layer.kind == "activation" and beta.ndim:
            beta = beta.reshape(shape)
        return np.broadcast_to(beta, shape)

    # -------------------------------------------------------- IBP
    def ibp(self, lo: np.ndarray, hi: np.ndarray):
        """Boxes of every layer's output, and the pre-activation bounds of every site:
        (boxes [(lo, hi) after layer i], pre {i: (l, u)})."""
        m = self.model
        lo = lo.reshape(len(lo), *m.input_shape)
        hi = hi.reshape(len(hi), *m.input_shape)
        boxes, pre = [], {}
        for i, layer in enumerate(m.layers):
            lo, hi, pre_i = self._ibp_step(i, layer, lo, hi)
            if pre_i is not None:
                pre[i] = pre_i
            boxes.append((lo, hi))
        return boxes, pre

    def _ibp_step(self, i, layer, lo, hi, pre_i=None):
        kind = layer.kind
        if kind in ("dense", "conv2d"):
            W = self.W[i]
            mu, r = (hi + lo) / 2, (hi - lo) / 2
            mu_z = self._lin(i, mu, W) + self._bias(i)
            r_z = self._lin(i, r, np.abs(W))
            l, u = mu_z - r_z, mu_z + r_z
            if pre_i is not None:  # tighter bounds known (CROWN): intersect
                l, u = np.maximum(l, pre_i[0]), np.minimum(u, pre_i[1])
            if layer.act is None:
                return l, u, None
            return self._act_fn(layer, layer.act, l), self._act_fn(layer, layer.act, u), (l, u)
        if kind == "activation":
            l, u = lo, hi
            if pre_i is not None:
                l, u = np.maximum(l, pre_i[0]), np.minimum(u, pre_i[1])
            return (self._act_fn(layer, layer.act, l), self._act_fn(layer, layer.act, u),
                    (l, u))
        if kind == "maxpool2d":
            return layer.forward(lo)[0], layer.forward(hi)[0], None
        if kind == "flatten":
            return lo.reshape(len(lo), -1), hi.reshape(len(hi), -1), None
        raise ValueError(f"cannot bound a {kind} layer")

    # -------------------------------------------------------- CROWN
    def crown(self, lo: np.ndarray, hi: np.ndarray):
        """Relaxations of every site and max-pool, from intermediate bounds (IBP, tightened by
        CROWN on small sites): {i: relaxation arrays}."""
        m = self.model
        x_lo = lo.reshape(len(lo), *m.input_shape)
        x_hi = hi.reshape(len(hi), *m.input_shape)
        self.box = (lo, hi)
        self.relax, self.pool = {}, {}
        a_lo, a_hi = x_lo, x_hi
        for i, layer in enumerate(m.layers):
            if layer.kind == "maxpool2d":
                self.pool[i] = (a_lo, a_hi)  # the bounds of the pool's input
            pre = None
            is_site = getattr(layer, "act", None) is not None
            if is_site and int(np.prod(m.shapes[i + 1])) <= self.crown_units and i > 0:
                pre = self._crown_pre(i, a_lo, a_hi)
            a_lo, a_hi, pre_i = self._ibp_step(i, layer, a_lo, a_hi, pre)
            if pre_i is not None and is_site:
                l, u = pre_i
                beta = self._beta_full(i, l.shape[1:])
                self.relax[i] = relaxation(beta, l, u)
        return self.relax

    def _crown_pre(self, i: int, a_lo, a_hi):
        """CROWN bounds of site i's pre-activation (units flattened back to their shape)."""
        layer = self.model.layers[i]
        n = len(a_lo)
        out_shape = self.model.shapes[i + 1]
        units = int(np.prod(out_shape))
        eye = np.broadcast_to(np.eye(units).reshape(units, *out_shape), (n, units, *out_shape))
        if layer.kind == "activation":  # pre-activation = the previous layer's output
            lam, const, start = eye, np.zeros((n, units)), i - 1
        else:
            const = np.broadcast_to((self._bias(i) * np.ones(out_shape)).reshape(-1),
                                    (n, units)).copy()
            lam, start = self._lin_T(i, np.ascontiguousarray(eye), self.W[i]), i - 1
        lower = self._back(lam, const, start, upper=False)
        upper = self._back(lam, const, start, upper=True)
        return lower.reshape(n, *out_shape), upper.reshape(n, *out_shape)

    def _back(self, lam: np.ndarray, const: np.ndarray, k: int, upper: bool) -> np.ndarray:
        """Bound of lam . (output of layer k) + const over the input box, carried back through
        layers k, k-1, ..., 0. lam: (N, m, *shape after layer k); const: (N, m)."""
        model = self.model
        n, m = lam.shape[:2]
        for i in range(k, -1, -1):
            layer = model.layers[i]
            red = tuple(range(2, lam.ndim))
            if getattr(layer, "act", None) is not None:  # through the activation first
                aL, bL, aU, bU = self.relax[i]
                if upper:
                    aL, bL, aU, bU = aU, bU, aL, bL
                pos, neg = np.maximum(lam, 0), np.minimum(lam, 0)
                const = const + (pos * bL[:, None]).sum(red) + (neg * bU[:, None]).sum(red)
                lam = pos * aL[:, None] + neg * aU[:, None]
            if layer.kind in ("dense", "conv2d"):
                const = const + (lam * self._bias(i)).sum(tuple(range(2, lam.ndim)))
                lam = self._lin_T(i, lam, self.W[i])
            elif layer.kind == "flatten":
                lam = lam.reshape(n, m, *model.shapes[i])
            elif layer.kind == "maxpool2d":
                lam, const = self._back_pool(i, lam, const, upper)
        lo, hi = self.box
        lam = lam.reshape(n, m, -1)
        c, r = (lo + hi) / 2, (hi - lo) / 2
        center = np.einsum("nmd,nd->nm", lam, c)
        radius = np.einsum("nmd,nd->nm", np.abs(lam), r)
        return const + center + radius if upper else const + center - radius

    def _back_pool(self, i: int, lam, const, upper: bool):
        """Through max-pooling: y >= x[i*] (i* the window's input with the largest lower
        bound) and y <= max of the window's upper bounds (y = x[i*] when that is certain)."""
        layer = self.model.layers[i]
        k = layer.k
        p_lo, p_hi = self.pool[i]
        n, c, h, w = p_lo.shape
        oh, ow = h // k, w // k
        win_lo = p_lo[:, :, : oh * k, : ow * k].reshape(n, c, oh, k, ow, k)
        win_hi = p_hi[:, :, : oh * k, : ow * k].reshape(n, c, oh, k, ow, k)
        win_lo = win_lo.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, oh, ow, k * k)
        win_hi = win_hi.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, oh, ow, k * k)
        best = win_lo.argmax(-1)  # i*
        best_lo = np.take_along_axis(win_lo, best[..., None], -1)[..., 0]
        others_hi = win_hi.copy()
        np.put_along_axis(others_hi, best[..., None], -np.inf, -1)
        exact = best_lo >= others_hi.max(-1)
        top = win_hi.max(-1)
        pos, neg = np.maximum(lam, 0), np.minimum(lam, 0)
        # the side that needs y's lower bound takes x[i*]; the other takes x[i*] only if
        # exact, else the constant top
        tight, loose = (neg, pos) if upper else (pos, neg)
        coef = tight + np.where(exact[:, None], loose, 0.0)
        const = const + (np.where(exact[:, None], 0.0, loose) * top[:, None]).sum((2, 3, 4))
        back = np.zeros((n, lam.shape[1], c, oh, ow, k * k))
        np.put_along_axis(back, np.broadcast_to(best[:, None, ..., None], back.shape[:-1] + (1,)),
                          coef[..., None], -1)
        back = back.reshape(n, lam.shape[1], c, oh, ow, k, k).transpose(0, 1, 2, 3, 5, 4, 6)
        full = np.zeros((n, lam.shape[1], c, h, w))
        full[:, :, :, : oh * k, : ow * k] = back.reshape(n, lam.shape[1], c, oh * k, ow * k)
        return full, const

    # -------------------------------------------------------- margins
    def margins(self, lo: np.ndarray, hi: np.ndarray, y: np.ndarray, crown: bool) -> np.ndarray:
        """Lower bounds (N, K) of z_y - z_j (+inf at j = y), by IBP, or by CROWN (then at
        least as tight as IBP: the better of the two per entry)."""
        boxes, _ = self.ibp(lo, hi)
        last = len(self.model.layers) - 1
        a_lo, a_hi = boxes[last - 1]
        C, const = margin_spec(self.W[last], self.b[last], y)
        mid, rad = (a_hi + a_lo) / 2, (a_hi - a_lo) / 2
        out = np.einsum("nkh,nh->nk", C, mid) - np.einsum("nkh,nh->nk", np.abs(C), rad) + const
        if crown:
            self.crown(lo, hi)
            out = np.maximum(out, self._back(C, const, last - 1, upper=False))
        out[np.arange(len(y)), y] = np.inf
        return out


def as_dense(model: Network) -> Network:
    """The same function as a network of dense layers (for the MILP): a convolution becomes
    its matrix (its action on every unit vector of its input, exact: one weight per entry), its
    caps one per unit; Flatten disappears; a standalone activation joins the layer before it.
    Max-pooling has no such form here and is refused."""
    from .layers import Dense

    if _dense_stack(model):
        return model
    specs = []  # (W, b, activation) per dense layer to build
    for i, layer in enumerate(model.layers):
        if layer.kind == "flatten":
            continue
        if layer.kind == "maxpool2d":
            raise ValueError("the MILP here encodes dense and convolutional layers; this "
                             "network has max-pooling (use IBP or CROWN)")
        if layer.kind == "activation":
            if not specs or specs[-1][2] is not None:
                raise ValueError("a standalone activation must follow a layer without one")
            specs[-1] = (*specs[-1][:2], layer.act)
            continue
        if layer.kind == "dense":
            act = layer.act
            if isinstance(act, LearnedCap):  # its cap in force, as a fixed cap
                act = CappedReLU(act.beta)
            specs.append((layer.W.astype(np.float64), layer.b.astype(np.float64), act))
            continue
        d_in = int(np.prod(model.shapes[i]))
        eye = np.eye(d_in).reshape(d_in, *model.shapes[i])
        W = layer.linear(eye, layer.W.astype(np.float64)).reshape(d_in, -1)
        area = int(np.prod(model.shapes[i + 1][1:]))
        b = np.repeat(layer.b.astype(np.float64), area)
        act = layer.act
        if act is not None and np.ndim(getattr(act, "beta", 0)):  # one cap per channel
            act = CappedReLU(np.repeat(np.asarray(act.beta, np.float64), area))
        elif isinstance(act, LearnedCap):
            act = CappedReLU(act.beta)
        specs.append((W, b, act))
    layers = [Dense(W.shape[0], W.shape[1], act) for W, _, act in specs]
    dense = Network(layers, (model.n_in,), dtype=np.float64, dataset=model.dataset)
    for layer, (W, b, _) in zip(dense.layers, specs):
        layer.W[...], layer.b[...] = W, b
    return dense


# ----------------------------------------------------------------------------- MILP
@dataclass
class MILPResult:
    margin: float | None  # the exact smallest margin over the box (None: not finished)
    status: str  # "robust", "not robust" or "unknown" (time limit)
    binaries: int  # binary variables of the program (kinks crossed)
    seconds: float
    witness: np.ndarray | None = None  # "not robust": an input of the box the net misclassifies


def unstable_count(bounds, betas) -> int:
    """Binaries a MILP needs: kinks (0 and beta) strictly inside the neurons' intervals."""
    total = 0
    for (l, u), beta in zip(bounds, betas):
        total += int(np.sum((l < 0) & (u > 0)))
        total += int(np.sum((l < beta) & (u > beta)))  # 0 where beta is inf
    return total


def milp_margin(model: Network, x: np.ndarray, y: int, eps: float, time_limit: float = 30.0,
                max_binaries: int | None = None, lower_bounds: np.ndarray | None = None,
                exact: bool = True) -> MILPResult:
    """The exact smallest margin min_j min_{x' in box} z_y(x') - z_j(x') for one input x (D,).

    One MILP per class j, solved by HiGHS (scipy.optimize.milp), in the order of the CROWN
    lower bounds (the likeliest minimum first); j is skipped when its CROWN bound already
    exceeds the smallest margin found. With `max_binaries`, inputs whose programs would need
    more binaries are "unknown" at once. The time limit covers all classes of the input.

    exact=False asks only the question a verdict needs: is there a point with margin <= 0?
    The row z_y - z_j <= 0 joins each program, so the solver may drop every branch whose bound
    is above 0 instead of closing the gap to the minimum; an infeasible program proves class j
    safe. The verdict is as exact as before, but a "robust" one comes without its margin
    (margin None); a "not robust" one has the margin of the point found, which need not be the
    smallest."""
    import time

    t0 = time.perf_counter()
    x2, y2 = check_batch(model, x[None], np.array([y]))
    model = as_dense(model)
    x2 = x2.astype(model.dtype)
    eps = check_number(eps, "eps", nonnegative=True)
    lo, hi = input_box(x2, eps)
    bounds, _ = crown_bounds(model, lo, hi)
    betas = [_beta(a) for a in model.acts]
    n_bin = unstable_count(bounds, betas)
    if max_binaries is not None and n_bin > max_binaries:
        return MILPResult(None, "unknown", n_bin, time.perf_counter() - t0)
    program = _Program(model, lo[0], hi[0], [(l[0], u[0]) for l, u in bounds], betas)
    if lower_bounds is None:
        lower_bounds = crown_margins(model, x2, y2, eps)[0]
    best, finished, witness = np.inf, True, None
    for j in np.argsort(lower_bounds):
        if j == y or lower_bounds[j] >= (best if exact else 0.0):
            continue
        left = time_limit - (time.perf_counter() - t0)
        value, ok, x_sol = program.minimise(int(y), int(j), max(left, 0.0),
                                            cutoff=None if exact else 0.0)
        if not exact and ok and value is None:
            continue  # infeasible below the cutoff: every point keeps z_y - z_j > 0
        if value is not None and value < best:  # the solver's point, back into the box (HiGHS
            best, witness = value, np.clip(x_sol, lo[0], hi[0])  # may leave it by ~1e-6)
        if not ok:
            finished = False
            break
        if not exact and best <= 0:
            break  # a point at or below 0 decides the input
    seconds = time.perf_counter() - t0
    if best < 0 and not _misclassified(model, witness, y):
        best, finished = np.nan, False  # the solver's point does not check out: undecided
    if not finished:  # an incumbent with a checked negative margin still proves "not robust"
        status = "not robust" if best < 0 else "unknown"
        return MILPResult(None, status, program.n_binaries, seconds,
                          witness if status == "not robust" else None)
    if not exact:  # every class infeasible below 0 (robust), or a point at or below it
        if best == np.inf:
            return MILPResult(None, "robust", program.n_binaries, seconds)
        if best <= 0 and _misclassified(model, witness, y):
            return MILPResult(float(best), "not robust", program.n_binaries, seconds, witness)
        # a "feasible" point whose margin is positive, within the solver's tolerance of 0:
        # neither a proof nor a counterexample
        return MILPResult(None, "unknown", program.n_binaries, seconds)
    return MILPResult(float(best), "robust" if best > 0 else "not robust", program.n_binaries,
                      seconds, witness if best <= 0 else None)


def _misclassified(model: Network, x: np.ndarray | None, y: int) -> bool:
    """Does the net (in float64) give x a margin <= 0? The check on a MILP counterexample."""
    if x is None:
        return False
    logits = model.copy(np.float64).forward(np.clip(x, 0, 1)[None], check=False)[0][0]
    return bool(logits[y] - np.delete(logits, y).max() <= 1e-9)


class _Program:
    """The mixed-integer program of one input's box, built once; the objective (the margin
    against class j) changes per solve. Variables: the input, then per hidden layer z and a,
    then helper variables s (ReLU output of neurons crossing both kinks) and the binaries."""

    def __init__(self, model: Network, lo, hi, bounds, betas):
        self.layers = _layers(model)
        self.lb, self.ub, self.integer = [], [], []
        rows, self.cl, self.cu = [], [], []  # sparse rows: list of (cols, vals)

        def new(lb, ub, integer=False) -> np.ndarray:
            start = len(self.lb)
            lb, ub = np.atleast_1d(lb), np.atleast_1d(ub)
            self.lb += list(lb)
            self.ub += list(ub)
            self.integer += [int(integer)] * len(lb)
            return np.arange(start, start + len(lb))

        def row(cols, vals, lower, upper):
            rows.append((np.asarray(cols), np.asarray(vals, float)))
            self.cl.append(lower)
            self.cu.append(upper)

        prev = new(lo, hi)  # the input
        self.n_in = len(lo)
        self.n_binaries = 0
        for (W, b), (l, u), beta in zip(self.layers[:-1], bounds, betas):
            z = new(l, u)
            for k in range(len(b)):  # z_k - sum_i W_ik a_i = b_k
                nz = np.flatnonzero(W[:, k])
                row(np.concatenate([[z[k]], prev[nz]]), np.concatenate([[1.0], -W[nz, k]]),
                    b[k], b[k])
            a_lo, a_hi = np.clip(l, 0, beta), np.clip(u, 0, beta)
            a = new(a_lo, a_hi)
            beta_k = np.broadcast_to(np.asarray(beta, float), l.shape)  # one per neuron
            for k in range(len(b)):
                self._neuron(z[k], a[k], l[k], u[k], beta_k[k], new, row)
            prev = a
        self.n_binaries = int(sum(self.integer))
        self.last = prev
        n_var = len(self.lb)
        from scipy.sparse import csr_matrix

        data = np.concatenate([v for _, v in rows])
        cols = np.concatenate([c for c, _ in rows])
        ptr = np.concatenate([[0], np.cumsum([len(c) for c, _ in rows])])
        self.A = csr_matrix((data, cols, ptr), shape=(len(rows), n_var))

    def _neuron(self, z, a, l, u, beta, new, row) -> None:
        """Constraints tying a = clip(z, 0, beta) for one neuron with z in [l, u]."""
        if u <= 0 or l >= beta:
            return  # a is fixed by its bounds (0 or beta)
        if l >= 0 and u <= beta:
            row([a, z], [1, -1], 0, 0)  # a = z
            return
        if l < 0 and u <= beta:  # a = max(z, 0): one binary d (1: z >= 0)
            d = new(0, 1, integer=True)[0]
            self._relu(z, a, d, l, u, row)
            return
        if l >= 0:  # a = min(z, beta) = z - max(z - beta, 0): one binary d (1: z >= beta)
            d = new(0, 1, integer=True)[0]
            row([a, z], [1, -1], -np.inf, 0)  # a <= z
            row([a, z, d], [1, -1, u - beta], 0, np.inf)  # a >= z - (u - beta) d
            row([a, d], [1, l - beta], l, np.inf)  # a >= beta + (l - beta)(1 - d)
            return
        # crosses both: s = max(z, 0) with binary d1, a = min(s, beta) with binary d2
        s = new(0, u)[0]
        d1, d2 = new([0, 0], [1, 1], integer=True)
        self._relu(z, s, d1, l, u, row)
        row([a, s], [1, -1], -np.inf, 0)  # a <= s
        row([a, s, d2], [1, -1, u - beta], 0, np.inf)  # a >= s - (u - beta) d2
        row([a, d2], [1, -beta], 0, np.inf)  # a >= beta d2

    @staticmethod
    def _relu(z, a, d, l, u, row) -> None:
        """a = max(z, 0) for z in [l, u], l < 0 < u, binary d: the standard big-M encoding."""
        row([a, z], [1, -1], 0, np.inf)  # a >= z   (a >= 0 is a's lower bound)
        row([a, d], [1, -u], -np.inf, 0)  # a <= u d
        row([a, z, d], [1, -1, -l], -np.inf, -l)  # a <= z - l (1 - d)

    def minimise(self, y: int, j: int, time_limit: float, cutoff: float | None = None):
        """min of z_y - z_j: (value, finished, input x at that value). When unfinished, the
        best value found so far (None if none). With `cutoff`, only points where
        z_y - z_j <= cutoff count: (None, True, None) when there is none (infeasible)."""
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import csr_matrix, vstack

        W, b = self.layers[-1]
        c = np.zeros(len(self.lb))
        c[self.last] = W[:, y] - W[:, j]
        const = b[y] - b[j]
        A, cl, cu = self.A, np.array(self.cl), np.array(self.cu)
        if cutoff is not None:  # c x + const <= cutoff
            A = vstack([A, csr_matrix(c[None])]).tocsr()
            cl, cu = np.append(cl, -np.inf), np.append(cu, cutoff - const)
        with solver_chatter_dropped():
            res = milp(c, integrality=np.array(self.integer),
                       bounds=Bounds(np.array(self.lb), np.array(self.ub)),
                       constraints=LinearConstraint(A, cl, cu),
                       options={"time_limit": max(time_limit, 1e-3), "mip_rel_gap": 1e-9,
                                "presolve": False})  # HiGHS' presolve ignores the time limit
        if cutoff is not None and res.status == 2:  # infeasible: no point at or below cutoff
            return None, True, None
        x_sol = None if res.x is None else res.x[: self.n_in]
        if res.status == 0:
            return float(res.fun + const), True, x_sol
        value = float(res.fun + const) if res.x is not None else None
        return value, False, x_sol


HIGHS_CHATTER = ("HighsMipSolverData::",)  # debugging lines no HiGHS option silences


@contextlib.contextmanager
def solver_chatter_dropped(prefixes: tuple[str, ...] = HIGHS_CHATTER):
    """Drop the lines starting with `prefixes` that C code writes to the process's stdout
    (file descriptor 1) inside the block; pass every other line on, after the block.

    HiGHS (the C++ solver behind scipy.optimize.milp) prints a debugging line such as
    "HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();" on some solves,
    straight to descriptor 1, whatever `disp` says; it would land in the middle of a progress
    report. So descriptor 1 points at a temporary file during the solve; nothing else written
    there (by any thread) is lost, only delayed to the end of the block."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no descriptor 1 (a detached process): nothing can be printed anyway
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            kept = [line for line in tmp.read().decode(errors="replace").splitlines(True)
                    if not line.startswith(prefixes)]
            if kept:
                sys.stdout.write("".join(kept))
                sys.stdout.flush()


# ----------------------------------------------------------------------------- verdicts
@dataclass
class Certificate:
    ibp: np.ndarray  # (N,) bool: certified by IBP
    crown: np.ndarray  # (N,) bool: certified by CROWN (None for non-ReLU nets)
    margin_ibp: np.ndarray  # (N,) smallest IBP margin bound
    margin_crown: np.ndarray | None  # (N,) smallest CROWN margin bound

    @property
    def certified(self) -> np.ndarray:
        """The better of the two per input (either bound > 0 proves robustness)."""
        return self.ibp if self.crown is None else self.ibp | self.crown


def certify(model: Network, x: np.ndarray, y: np.ndarray, eps: float) -> Certificate:
    """IBP and (for ReLU nets) CROWN certificates per input at radius eps. An input
    misclassified at x itself has a negative margin and is never certified."""
    m_ibp = ibp_margins(model, x, y, eps).min(axis=1)
    try:
        m_crown = crown_margins(model, x, y, eps).min(axis=1)
    except ValueError:
        m_crown = None
    return Certificate(m_ibp > 0, None if m_crown is None else m_crown > 0, m_ibp, m_crown)
