import numpy as np

import nprelu as nr
from tests.helpers import numeric_grad, rel_err


def test_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 10)) * 3
    y = rng.integers(0, 10, 5)
    num = numeric_grad(lambda: float(nr.softmax_cross_entropy(z, y)[0].sum()), z)
    assert rel_err(nr.softmax_cross_entropy(z, y)[1], num) < 1e-7


def test_cross_entropy_matches_textbook_formula():
    z = np.array([[1.0, 2.0, 3.0]])
    p = np.exp(z) / np.exp(z).sum()
    loss, d = nr.softmax_cross_entropy(z, np.array([0]))
    np.testing.assert_allclose(loss, -np.log(p[:, 0]), rtol=1e-12)
    np.testing.assert_allclose(d, p - [[1, 0, 0]], rtol=1e-12)


def test_cross_entropy_is_stable_at_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], np.float32)
    loss, d = nr.softmax_cross_entropy(z, np.array([0, 0]))
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(d))
    np.testing.assert_allclose(loss, [0.0, 2e4], rtol=1e-6)
    np.testing.assert_allclose(d[1], [-1, 1, 0], atol=1e-6)


def test_cw_margin_and_its_gradient():
    z = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0]])
    f, d = nr.cw_margin(z, np.array([0, 0]), kappa=0.0)
    np.testing.assert_allclose(f, [1.0, 0.0])  # row 2 is clamped at -kappa = 0
    np.testing.assert_array_equal(d, [[1, 0, -1], [0, 0, 0]])


def test_softmax_output_cross_entropy_gradient_matches_finite_differences():
    from nprelu.losses import softmax_output_cross_entropy

    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 10)) * 2
    y = rng.integers(0, 10, 6)
    num = numeric_grad(lambda: float(softmax_output_cross_entropy(z, y)[0].sum()), z)
    assert rel_err(softmax_output_cross_entropy(z, y)[1], num) < 1e-7
    # negative control: the cross-entropy gradient on the logits is not this one
    assert rel_err(nr.softmax_cross_entropy(z, y)[1], num) > 0.1


def test_softmax_output_cross_entropy_is_the_textbook_formula_on_probabilities():
    from nprelu.losses import softmax_output_cross_entropy

    z = np.array([[1.0, 2.0, 3.0]])
    p = np.exp(z) / np.exp(z).sum()
    loss, _ = softmax_output_cross_entropy(z, np.array([1]))
    np.testing.assert_allclose(loss, np.log(np.exp(p).sum()) - p[0, 1], rtol=1e-12)
