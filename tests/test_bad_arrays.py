"""Bad arrays (shape, dtype, NaN, values outside [0, 1], empty, bad labels): every entry point
that takes images refuses them with a message naming the problem."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import nprelu as nr
from nprelu import audit

D, K = 6, 3
MODEL = nr.MLP((8,), caps={1: 0.5}, n_in=D, n_out=K, seed=0)
Y = np.array([0, 1, 2, 1])

# every public entry point that takes a batch of images (and labels)
ENTRY_POINTS = {
    "logits": lambda x, y: MODEL.logits(x),
    "predict": lambda x, y: MODEL.predict(x),
    "hidden_outputs": lambda x, y: MODEL.hidden_outputs(x),
    "input_gradient": lambda x, y: MODEL.input_gradient(x, y),
    "loss": lambda x, y: MODEL.loss(x, y),
    "accuracy": lambda x, y: nr.accuracy(MODEL, x, y),
    "sensitivity_map": lambda x, y: nr.sensitivity_map(MODEL, x, y),
    "train": lambda x, y: nr.train(MODEL.copy(), x, y, epochs=1, progress=False),
    "fgsm": lambda x, y: nr.fgsm(MODEL, x, y, 0.1),
    "pgd": lambda x, y: nr.pgd(MODEL, x, y, 0.1, 0.01, 2),
    "cw_l2": lambda x, y: nr.cw_l2(MODEL, x, y, steps=2, binary_steps=1),
    "zero_gradient_search": lambda x, y: nr.zero_gradient_search(MODEL, x, y, max_iters=2),
    "pgd_adaptive": lambda x, y: audit.pgd_adaptive(MODEL, x, y, 0.1, 0.01, 2),
    "square_linf": lambda x, y: audit.square_linf(MODEL, x, y, 0.1, queries=2),
}
ids = list(ENTRY_POINTS)


def good_x(n=4):
    return np.random.default_rng(0).uniform(size=(n, D)).astype(np.float32)


@pytest.mark.parametrize("name", ids)
def test_good_input_is_accepted(name):
    x = good_x()
    if name == "square_linf":  # needs square images
        pytest.skip("square_linf takes square images; covered in test_audit")
    ENTRY_POINTS[name](x, Y)


@pytest.mark.parametrize("name", ids)
@pytest.mark.parametrize("x, match", [
    (np.zeros((4, D + 1), np.float32), rf"shape \(N, {D}\), got \(4, {D + 1}\)"),
    (np.zeros(D, np.float32), r"batch of shape"),
    (np.zeros((0, D), np.float32), r"x is empty"),
    (np.zeros((4, D), np.int64), r"floating point.*int64.*divide by 255"),
    (np.full((4, D), np.nan, np.float32), r"contains 24 NaN or infinite values"),
    (np.full((4, D), 2.0, np.float32), r"\[0, 1\].*from 2 to 2"),
    (np.full((4, D), -0.5, np.float32), r"\[0, 1\].*from -0.5"),
    (np.full((4, D), 255.0, np.float32), r"look like 0\.\.255 pixel values: divide by 255"),
], ids=["columns", "1-D", "empty", "ints", "nan", "above-1", "below-0", "0..255"])
def test_bad_images_are_refused(name, x, match):
    y = Y[: len(x)] if x.ndim == 2 else Y[:1]
    with pytest.raises(ValueError, match=match):
        ENTRY_POINTS[name](x, y)


@settings(max_examples=40, deadline=None)
@given(x=arrays(np.float32, (4, D), elements=st.floats(-1e3, 1e3, width=32)))
def test_any_value_outside_the_unit_box_is_refused_by_the_attacks(x):
    inside = (x.min() >= 0) and (x.max() <= 1)
    for name in ("fgsm", "pgd", "train", "accuracy"):
        if inside:
            ENTRY_POINTS[name](x, Y)
        else:
            with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
                ENTRY_POINTS[name](x, Y)


@pytest.mark.parametrize("name", [n for n in ids if n not in
                                  ("logits", "predict", "hidden_outputs")])
@pytest.mark.parametrize("y, match", [
    (np.array([0, 1, 2]), r"shape \(4,\) to match x, got \(3,\)"),
    (np.array([0, 1, 2, 3]), r"0\.\.2, got values from 0 to 3"),
    (np.array([0.0, 1.0, 2.0, 1.0]), r"integer class labels, got dtype float64"),
])
def test_bad_labels_are_refused(name, y, match):
    with pytest.raises(ValueError, match=match):
        ENTRY_POINTS[name](good_x(), y)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000), scale=st.floats(0, 1))
def test_attacks_never_leave_the_box_for_any_valid_input(seed, scale):
    x = (np.random.default_rng(seed).uniform(size=(4, D)) * scale).astype(np.float32)
    for adv in (nr.fgsm(MODEL, x, Y, 0.3), nr.pgd(MODEL, x, Y, 0.3, 0.1, 3)):
        assert adv.min() >= 0 and adv.max() <= 1
