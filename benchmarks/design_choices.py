"""The kernels' design choices, each measured against the alternative it replaced, in one run.

    python benchmarks/design_choices.py

Prints a Markdown table (best of several repeats, ratios in the same run, since this VM's speed
varies for seconds at a time) for benchmarks/RESULTS.md:

- im2col's layout: nprelu.kernels.im2col writes one row per kernel position (C*k*k, N*OH*OW),
  so its innermost loop copies a run of one image row into consecutive entries; the layout it
  replaced wrote one row per patch (N*OH*OW, C*k*k).
- Adam's scalars: the update keeps every scalar float32; the alternative passes Python floats,
  which numba types as float64, promoting the whole expression.
- Adam's bias correction: multiply by 1 / sqrt(1 - b2^t), computed once, instead of dividing
  by sqrt(1 - b2^t) per parameter as PyTorch does.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numba import njit

from nprelu import kernels


def _im2col_rows(x, k, stride, pad, cols):
    """The replaced layout: cols (N*OH*OW, C*k*k), one row per patch."""
    n, c, h, w = x.shape
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    for i in range(n):
        for p in range(oh):
            for q in range(ow):
                r = (i * oh + p) * ow + q
                for ch in range(c):
                    for u in range(k):
                        hi = p * stride - pad + u
                        for v in range(k):
                            wi = q * stride - pad + v
                            inside = 0 <= hi < h and 0 <= wi < w
                            cols[r, (ch * k + u) * k + v] = x[i, ch, hi, wi] if inside else 0.0


def _adam_divide(p, g, m, v, step_size, sqrt_bc2, b1, b2, eps):
    """Adam dividing by sqrt(1 - b2^t) per parameter (PyTorch's form)."""
    one = np.float32(1.0)
    c1, c2 = one - b1, one - b2
    for i in range(p.shape[0]):
        gi = g[i]
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * gi * gi
        m[i], v[i] = mi, vi
        p[i] -= step_size * mi / (math.sqrt(vi) / sqrt_bc2 + eps)


im2col_rows = njit(_im2col_rows)
adam_divide = njit(_adam_divide)


def best(f, *args, repeats: int = 9) -> float:
    """The fastest of `repeats` calls f(*args), in seconds, after one call to compile."""
    f(*args)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for n, c, hw, k in ((128, 1, 28, 5), (128, 16, 14, 5)):
        x = rng.random((n, c, hw, hw), dtype=np.float32)
        cols = np.empty((c * k * k, n * hw * hw), np.float32)
        patches = np.empty((n * hw * hw, c * k * k), np.float32)
        ours = best(kernels.im2col, x, k, 1, k // 2, cols)
        theirs = best(im2col_rows, x, k, 1, k // 2, patches)
        assert np.array_equal(cols, patches.T)
        rows.append((f"im2col, {n} images {c}x{hw}x{hw}, {k}x{k} kernel",
                     "one row per kernel position", ours, "one row per patch", theirs))
    size = 392 * 784 + 392 + 196 * 392 + 196 + 10 * 196 + 10  # the Table 1 net's parameters
    p, g = rng.standard_normal(size, np.float32), rng.standard_normal(size, np.float32)
    m, v = np.zeros(size, np.float32), np.zeros(size, np.float32)
    f32 = np.float32
    t = 10
    step, inv, sqrt_bc2 = 1e-3 / (1 - 0.9**t), 1 / math.sqrt(1 - 0.999**t), math.sqrt(1 - 0.999**t)
    ours = best(kernels.adam_update, p, g, m, v, f32(step), f32(inv), f32(0.9), f32(0.999),
                f32(1e-8))
    promoted = best(kernels.adam_update, p, g, m, v, step, inv, 0.9, 0.999, 1e-8)
    rows.append((f"Adam step, {size} parameters", "float32 scalars", ours,
                 "float64 scalars (Python floats)", promoted))
    divide = best(adam_divide, p, g, m, v, f32(step), f32(sqrt_bc2), f32(0.9), f32(0.999),
                  f32(1e-8))
    rows.append((f"Adam step, {size} parameters", "multiply by 1/sqrt(1 - b2^t)", ours,
                 "divide by sqrt(1 - b2^t)", divide))
    print("| kernel | ours | ms | the alternative | ms | alternative / ours |")
    print("|---|---|---|---|---|---|")
    for what, a, ta, b, tb in rows:
        print(f"| {what} | {a} | {1e3 * ta:.2f} | {b} | {1e3 * tb:.2f} | {tb / ta:.2f} |")


if __name__ == "__main__":
    main()
