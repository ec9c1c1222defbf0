"""Every numba kernel agrees with its plain-Python twin (same function, not compiled)."""

import numpy as np
import pytest

from nprelu import kernels

f32 = np.float32


def _run(fn, args):
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    fn(*args)
    return [a for a in args if isinstance(a, np.ndarray)]


def _cases(rng):
    n, h = 5, 7
    z = rng.normal(size=(n, h)).astype(f32)
    a = np.zeros_like(z)
    b = rng.normal(size=h).astype(f32)
    per_unit = rng.uniform(0.1, 1.0, h).astype(f32)
    yield "capped_relu_forward", (z, b, np.full(h, 0.3, f32), a)
    yield "capped_relu_forward", (z, b, np.full(h, np.inf, f32), a)
    yield "capped_relu_forward", (z, b, per_unit, a)
    yield "sigmoid_forward", (z, b, f32(2.0), a)
    da = rng.normal(size=(n, h)).astype(f32)
    yield "capped_relu_backward", (z, da, np.full(h, 0.5, f32), np.zeros_like(z),
                                   np.zeros(h, f32), True)
    yield "capped_relu_backward", (z, da, per_unit, np.zeros_like(z), np.zeros(h, f32), False)
    m = rng.uniform(-0.5, 1.0, h).astype(f32)  # some caps <= 0: those units are off
    yield "learned_cap_backward", (z, da, m, np.zeros_like(z), np.zeros(h, f32))
    img = rng.normal(size=(2, 3, 7, 6)).astype(f32)
    for k, stride, pad in ((3, 1, 1), (2, 2, 0), (3, 2, 2)):
        oh, ow = (7 + 2 * pad - k) // stride + 1, (6 + 2 * pad - k) // stride + 1
        yield "im2col", (img, k, stride, pad, np.zeros((3 * k * k, 2 * oh * ow), f32))
        yield "col2im", (rng.normal(size=(3 * k * k, 2 * oh * ow)).astype(f32), k, stride, pad,
                         np.zeros_like(img))
        yield "col2im_rows", (rng.normal(size=(2 * oh * ow, 3 * k * k)).astype(f32), k, stride,
                              pad, np.zeros_like(img))
    ties = np.round(img * 2) / 2  # ties inside windows: the first maximum must win in both
    yield "maxpool_forward", (ties, 2, np.zeros((2, 3, 3, 3), f32),
                              np.zeros((2, 3, 3, 3), np.int32))
    arg = rng.integers(0, 4, (2, 3, 3, 3)).astype(np.int32)
    yield "maxpool_backward", (rng.normal(size=(2, 3, 3, 3)).astype(f32), arg, 2,
                               np.zeros_like(img))
    yield "sigmoid_backward", (1 / (1 + np.exp(-z)), da, f32(2.0), np.zeros_like(z),
                               np.zeros(h, f32), True)
    logits = (rng.normal(size=(n, 10)) * 5).astype(f32)
    y = rng.integers(0, 10, n)
    yield "softmax_xent", (logits, y, np.zeros(n, f32), np.zeros_like(logits))
    p, g, m, v = (rng.normal(size=50).astype(f32) for _ in range(4))
    v = np.abs(v)
    yield "adam_update", (p, g, m, v, f32(1e-3), f32(0.3), f32(0.9), f32(0.999), f32(1e-8))
    w = rng.normal(size=(n, h)).astype(f32)
    w[0, :3] = 0  # sign(0) = 0: no change there
    out, m = (rng.normal(size=(n, h)).astype(f32) for _ in range(2))
    yield "add_signed", (out, w, m)
    x0 = rng.uniform(size=(n, h)).astype(f32)
    yield "project_linf", (x0 + rng.normal(size=(n, h)).astype(f32), x0, f32(0.1))
    yield "signed_step", (x0, rng.normal(size=(n, h)).astype(f32), f32(0.01))
    g = rng.normal(size=(n, h)).astype(f32)
    g[0, :5] = 0  # zero gradient: no move
    yield "step_project", (x0 + rng.uniform(-0.1, 0.1, (n, h)).astype(f32), g, x0, f32(0.03),
                           f32(0.1))


def test_every_kernel_has_a_case():
    names = {name for name, _ in _cases(np.random.default_rng(0))}
    assert names == set(kernels.TWINS)


CASES = list(_cases(np.random.default_rng(1)))


@pytest.mark.parametrize("name, args", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_twin_and_kernel_agree(name, args):
    twin, kernel = kernels.TWINS[name]
    for got, want in zip(_run(kernel, args), _run(twin, args)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_kernel_changes_its_output():
    """Guard against the agreement test passing because neither function does anything."""
    z = np.ones((2, 3), f32)
    a = np.zeros_like(z)
    kernels.capped_relu_forward(z, np.ones(3, f32), np.full(3, np.inf, f32), a)
    np.testing.assert_array_equal(a, 2 * np.ones((2, 3), f32))


def test_fused_step_project_equals_step_then_project_bit_for_bit():
    rng = np.random.default_rng(3)
    x0 = rng.uniform(size=(64, 784)).astype(np.float32)
    x0[:, :50] = 0  # pixels at the edges of [0, 1]
    x0[:, 50:100] = 1
    adv = np.clip(x0 + rng.uniform(-0.1, 0.1, x0.shape).astype(np.float32), 0, 1)
    g = rng.normal(size=x0.shape).astype(np.float32)
    g[::3] = 0
    two_pass = adv.copy()
    kernels.signed_step(two_pass, g, np.float32(0.04))
    kernels.project_linf(two_pass, x0, np.float32(0.1))
    fused = adv.copy()
    kernels.step_project(fused, g, x0, np.float32(0.04), np.float32(0.1))
    assert np.array_equal(fused, two_pass)
    assert np.all(np.abs(fused - x0) <= np.float32(0.1) + 1e-7) and fused.min() >= 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col2im_rows_gives_col2im_bits(dtype):
    """col2im_rows on rows (N OH OW, C k k) gives exactly (the same bits as) col2im on the same
    numbers laid out as columns: each pixel adds its patches' entries in the same order, so
    IBP training through it trains the same weights as before it existed."""
    rng = np.random.default_rng(5)
    for kernel_pair in ((kernels._col2im, kernels._col2im_rows),
                        (kernels.col2im, kernels.col2im_rows)):
        for k, stride, pad in ((3, 1, 1), (5, 1, 2), (2, 2, 0), (3, 2, 2)):
            n, c, h, w = 3, 4, 9, 8
            oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
            rows = (rng.normal(size=(n * oh * ow, c * k * k)) * 10 ** rng.uniform(
                -3, 3, size=(n * oh * ow, c * k * k))).astype(dtype)
            want, got = np.empty((n, c, h, w), dtype), np.full((n, c, h, w), np.nan, dtype)
            kernel_pair[0](np.ascontiguousarray(rows.T), k, stride, pad, want)
            kernel_pair[1](rows, k, stride, pad, got)
            assert np.array_equal(got, want)
