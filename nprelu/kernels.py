"""The hot loops, each written once in plain Python and then compiled with numba.

Convention: `_name` is the plain Python/NumPy function (readable, steppable in a debugger, and
what runs under NUMBA_DISABLE_JIT=1); `name = njit(_name)` is the compiled twin with the same
signature. tests/test_kernels.py asserts every pair agrees.

All kernels write into preallocated output arrays, so a training step allocates nothing in these
loops. They run on float32 (models, attacks) and on float64 (gradient-check tests). The Adam
update keeps every scalar float32 (the caller passes np.float32): a Python float would be typed
float64 and promote the whole update, which is slower (benchmarks/design_choices.py measures
each such choice against its alternative; the numbers are in benchmarks/RESULTS.md). The
activation kernels compute in float64 registers and store in the array's dtype, which is exact
for the capped ReLU.
Large matrix products are not here: they go to BLAS through numpy's matmul, which is faster;
a convolution is one such product between the unfolded patches (`im2col`) and the kernels.

The activation kernels (capped ReLU, scaled sigmoid) fuse the bias add with the activation
(forward) and the activation's derivative with the bias gradient (backward); the scaled tanh,
used by no experiment of the paper, runs in plain NumPy. Their plain-NumPy definitions, with
the equations and the side each kink takes, are in nprelu/activations.py.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


# ----------------------------------------------------------------------------- activations
def _capped_relu_forward(z, b, beta, a):
    """z += b, then a = max(0, min(z, beta)), in place on a mini-batch (beta = inf: ReLU).

    z: (N, H) holds x @ W on entry and z = x @ W + b on exit; b: (H,); beta: (H,), one cap per
    unit (the same value everywhere for a layer with one cap); a: (N, H) output."""
    n, h = z.shape
    for i in range(n):
        for j in range(h):
            v = z[i, j] + b[j]
            z[i, j] = v
            a[i, j] = max(0.0, min(v, beta[j]))


def _capped_relu_backward(z, da, beta, dz, db, want_db):
    """dz = da * a'(z) with a'(z) = 1 on 0 < z < beta and 0 elsewhere (both kinks take the flat
    side, as ReLU6 in PyTorch does); if want_db, db = sum over the batch of dz.

    z, da, dz: (N, H); beta: (H,); db: (H,). beta = inf gives ReLU's derivative (1 on z > 0).
    db is summed row by row from dz, which holds exact float32 values (da or 0)."""
    n, h = z.shape
    for i in range(n):
        for j in range(h):
            v = z[i, j]
            dz[i, j] = da[i, j] if (v > 0.0 and v < beta[j]) else 0.0
    if want_db:
        db[:] = dz[0]
        for i in range(1, n):
            db += dz[i]


def _learned_cap_backward(z, da, m, dz, dm):
    """The learned cap a = min(max(z, 0), max(m, 0)) (D-ReLU), one m per unit: dz = da * da/dz
    and dm = sum over the batch of da * da/dm.

    da/dz = 1 on 0 < z < max(m, 0), else 0 (the flat side at both kinks, as the capped ReLU);
    da/dm = 1 where z > m > 0 (the unit sits on its cap), else 0: at z = m exactly neither z
    nor m gets the gradient, and a cap m <= 0 (the unit is off) gets none.
    z, da, dz: (N, H); m, dm: (H,); dm is overwritten."""
    n, h = z.shape
    for j in range(h):
        dm[j] = 0.0
    for i in range(n):
        for j in range(h):
            v = z[i, j]
            cap = max(m[j], 0.0)
            dz[i, j] = da[i, j] if (v > 0.0 and v < cap) else 0.0
            if v > m[j] and m[j] > 0.0:
                dm[j] += da[i, j]


def _sigmoid_forward(z, b, c, a):
    """z += b, then a = 1 / (1 + exp(-c z)), in place. Shapes as in _capped_relu_forward."""
    n, h = z.shape
    for i in range(n):
        for j in range(h):
            v = z[i, j] + b[j]
            z[i, j] = v
            a[i, j] = 1.0 / (1.0 + math.exp(-c * v))


def _sigmoid_backward(a, da, c, dz, db, want_db):
    """dz = da * c a (1 - a), from the forward output a; db as in _capped_relu_backward."""
    n, h = a.shape
    if want_db:
        for j in range(h):
            db[j] = 0.0
    for i in range(n):
        for j in range(h):
            s = a[i, j]
            g = da[i, j] * c * s * (1.0 - s)
            dz[i, j] = g
            if want_db:
                db[j] += g


# ----------------------------------------------------------------------------- loss, optimizer
def _softmax_xent(logits, y, loss, dlogits):
    """Softmax cross-entropy from logits, with its gradient.

    logits: (N, K); y: (N,) int; loss: (N,) out; dlogits: (N, K) out.
    loss_i = logsumexp(logits_i) - logits_i[y_i], computed as m + log(sum exp(logits - m)) with
    m the row max, so logits of +-1e4 do not overflow. dlogits_i = softmax(logits_i) - onehot(y_i)
    (the gradient of loss_i itself, not of a batch mean).
    """
    n, k = logits.shape
    for i in range(n):
        m = logits[i, 0]
        for j in range(1, k):
            if logits[i, j] > m:
                m = logits[i, j]
        s = 0.0  # float64 accumulator: ten terms, cheap, and exact enough for 1e-5 checks
        for j in range(k):
            s += math.exp(logits[i, j] - m)
        lse = m + math.log(s)
        loss[i] = lse - logits[i, y[i]]
        for j in range(k):
            dlogits[i, j] = math.exp(logits[i, j] - lse)
        dlogits[i, y[i]] -= np.float32(1.0)


def _adam_update(p, g, m, v, step_size, inv_sqrt_bc2, b1, b2, eps):
    """One Adam step on flat float32 arrays, the update torch.optim.Adam computes.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    p -= step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps),
    with step_size = lr / (1 - b1^t) and inv_sqrt_bc2 = 1 / sqrt(1 - b2^t) precomputed by the
    caller. (PyTorch divides by sqrt(1 - b2^t) instead; multiplying by its inverse saves one
    division per parameter (benchmarks/design_choices.py) and changes the result by at most
    1 ulp.)
    """
    one = np.float32(1.0)
    c1 = one - b1
    c2 = one - b2
    for i in range(p.shape[0]):
        gi = g[i]
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= step_size * mi / (math.sqrt(vi) * inv_sqrt_bc2 + eps)


def _add_signed(out, w, m):
    """out += sign(w) * m, elementwise and in place, in one pass (sign(0) = 0): the gradient of
    |W| in IBP training. out, w, m: 2-D arrays of one shape."""
    n, h = out.shape
    for i in range(n):
        for j in range(h):
            wij = w[i, j]
            if wij > 0:
                out[i, j] += m[i, j]
            elif wij < 0:
                out[i, j] -= m[i, j]


# ----------------------------------------------------------------------------- attacks
def _project_linf(x_adv, x0, eps):
    """Clip x_adv into the L-infinity ball of radius eps around x0 and into [0, 1], in place."""
    n, d = x_adv.shape
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for i in range(n):
        for j in range(d):
            lo = max(zero, x0[i, j] - eps)
            hi = min(one, x0[i, j] + eps)
            x_adv[i, j] = min(max(x_adv[i, j], lo), hi)


def _signed_step(x_adv, g, step):
    """x_adv += step * sign(g), in place (sign(0) = 0, so a zero gradient does not move)."""
    n, d = x_adv.shape
    for i in range(n):
        for j in range(d):
            gij = g[i, j]
            if gij > 0:
                x_adv[i, j] += step
            elif gij < 0:
                x_adv[i, j] -= step


def _step_project(x_adv, g, x0, step, eps):
    """One PGD/FGSM update in a single pass, in place: x_adv += step * sign(g), then clip into the
    eps-ball around x0 and into [0, 1]. The same float operations as `_signed_step` followed by
    `_project_linf` (so the same bits), reading and writing x_adv once instead of twice."""
    n, d = x_adv.shape
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for i in range(n):
        for j in range(d):
            xij = x_adv[i, j]
            gij = g[i, j]
            if gij > 0:
                xij += step
            elif gij < 0:
                xij -= step
            lo = max(zero, x0[i, j] - eps)
            hi = min(one, x0[i, j] + eps)
            x_adv[i, j] = min(max(xij, lo), hi)


# ----------------------------------------------------------------------------- convolution
def _im2col(x, k, stride, pad, cols):
    """Unfold the k x k patches of x (N, C, H, W) into the columns of cols (C*k*k, N*OH*OW):
    column (n, p, q) holds the patch whose top-left corner is at (p*stride - pad,
    q*stride - pad), row (c, u, v) its pixel (u, v) of channel c; pixels outside the image (zero
    padding) are 0. OH = (H + 2 pad - k) // stride + 1, OW likewise. A convolution is then one
    matrix product: cols.T @ W.reshape(C_out, C*k*k).T.

    Laid out this way (one row per kernel position), the innermost loop copies a run of
    consecutive pixels of one image row into consecutive entries, which is faster than one row
    per patch (benchmarks/design_choices.py times both)."""
    n, c, h, w = x.shape
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    for row in range(c * k * k):
        ch, uv = row // (k * k), row % (k * k)
        u, v = uv // k, uv % k
        for i in range(n):
            for p in range(oh):
                hi = p * stride - pad + u
                base = (i * oh + p) * ow
                if hi < 0 or hi >= h:
                    for q in range(ow):
                        cols[row, base + q] = 0.0
                    continue
                for q in range(ow):
                    wi = q * stride - pad + v
                    cols[row, base + q] = x[i, ch, hi, wi] if 0 <= wi < w else 0.0


def _col2im(cols, k, stride, pad, dx):
    """The transpose of _im2col: add every entry of cols (C*k*k, N*OH*OW) back onto the pixel
    of dx (N, C, H, W) it was copied from (padding entries are dropped). dx is overwritten.
    Used for the input gradient of a convolution: dL/dx = col2im(dL/dcols)."""
    n, c, h, w = dx.shape
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    for i in range(n):
        dx[i] = 0.0
        for ch in range(c):
            for u in range(k):
                for v in range(k):
                    row = (ch * k + u) * k + v
                    for p in range(oh):
                        hi = p * stride - pad + u
                        if hi < 0 or hi >= h:
                            continue
                        base = (i * oh + p) * ow
                        for q in range(ow):
                            wi = q * stride - pad + v
                            if 0 <= wi < w:
                                dx[i, ch, hi, wi] += cols[row, base + q]


def _col2im_rows(rows, k, stride, pad, dx):
    """_col2im for the transposed layout: rows (N*OH*OW, C*k*k), one row per patch, as a
    product g @ W2.T gives it, without copying it into columns first. Each pixel of dx gets its
    patches' entries in the same order as in _col2im (kernel position (u, v) by (u, v)), so the
    two give the same bits; the loop runs over one image's patches at a time, whose rows stay
    in the cache, instead of over the whole batch once per kernel position."""
    n, c, h, w = dx.shape
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    for i in range(n):
        dx[i] = 0.0
        for u in range(k):
            for v in range(k):
                for p in range(oh):
                    hi = p * stride - pad + u
                    if hi < 0 or hi >= h:
                        continue
                    base = (i * oh + p) * ow
                    for q in range(ow):
                        wi = q * stride - pad + v
                        if 0 <= wi < w:
                            for ch in range(c):
                                dx[i, ch, hi, wi] += rows[base + q, (ch * k + u) * k + v]


def _maxpool_forward(x, k, out, arg):
    """k x k max-pooling with stride k (floor: a last row or column that does not fill a window
    is dropped, as in PyTorch): out[n, c, p, q] = max of the window, arg = the window position
    u * k + v of that max. Ties: the first maximum in row-major order wins (strictly greater
    replaces), so the gradient goes to exactly one input. x (N, C, H, W); out, arg
    (N, C, H // k, W // k)."""
    n, c, oh, ow = out.shape
    for i in range(n):
        for ch in range(c):
            for p in range(oh):
                for q in range(ow):
                    best = x[i, ch, p * k, q * k]
                    at = 0
                    for u in range(k):
                        for v in range(k):
                            val = x[i, ch, p * k + u, q * k + v]
                            if val > best:
                                best = val
                                at = u * k + v
                    out[i, ch, p, q] = best
                    arg[i, ch, p, q] = at


def _maxpool_backward(dout, arg, k, dx):
    """Route each window's gradient to the input that was its maximum (arg from the forward
    pass); every other input of the window gets 0. dx (N, C, H, W) is overwritten."""
    n, c, oh, ow = dout.shape
    dx[:] = 0.0
    for i in range(n):
        for ch in range(c):
            for p in range(oh):
                for q in range(ow):
                    at = arg[i, ch, p, q]
                    dx[i, ch, p * k + at // k, q * k + at % k] += dout[i, ch, p, q]


capped_relu_forward = njit(cache=True, error_model="numpy")(_capped_relu_forward)
capped_relu_backward = njit(cache=True, error_model="numpy")(_capped_relu_backward)
learned_cap_backward = njit(cache=True, error_model="numpy")(_learned_cap_backward)
im2col = njit(cache=True, error_model="numpy")(_im2col)
col2im = njit(cache=True, error_model="numpy")(_col2im)
col2im_rows = njit(cache=True, error_model="numpy")(_col2im_rows)
maxpool_forward = njit(cache=True, error_model="numpy")(_maxpool_forward)
maxpool_backward = njit(cache=True, error_model="numpy")(_maxpool_backward)
sigmoid_forward = njit(cache=True, error_model="numpy")(_sigmoid_forward)
sigmoid_backward = njit(cache=True, error_model="numpy")(_sigmoid_backward)
softmax_xent = njit(cache=True, error_model="numpy")(_softmax_xent)
adam_update = njit(cache=True, error_model="numpy")(_adam_update)
add_signed = njit(cache=True, error_model="numpy")(_add_signed)
project_linf = njit(cache=True, error_model="numpy")(_project_linf)
signed_step = njit(cache=True, error_model="numpy")(_signed_step)
step_project = njit(cache=True, error_model="numpy")(_step_project)

# (twin, kernel) pairs, so the agreement test can walk them all.
TWINS = {
    "capped_relu_forward": (_capped_relu_forward, capped_relu_forward),
    "capped_relu_backward": (_capped_relu_backward, capped_relu_backward),
    "learned_cap_backward": (_learned_cap_backward, learned_cap_backward),
    "im2col": (_im2col, im2col),
    "col2im": (_col2im, col2im),
    "col2im_rows": (_col2im_rows, col2im_rows),
    "maxpool_forward": (_maxpool_forward, maxpool_forward),
    "maxpool_backward": (_maxpool_backward, maxpool_backward),
    "sigmoid_forward": (_sigmoid_forward, sigmoid_forward),
    "sigmoid_backward": (_sigmoid_backward, sigmoid_backward),
    "softmax_xent": (_softmax_xent, softmax_xent),
    "adam_update": (_adam_update, adam_update),
    "add_signed": (_add_signed, add_signed),
    "project_linf": (_project_linf, project_linf),
    "signed_step": (_signed_step, signed_step),
    "step_project": (_step_project, step_project),
}
