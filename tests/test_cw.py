"""CW's two accountings (nprelu.cw): ours, where a failed input keeps its clean image, and
foolbox 3's, where it becomes the all-zero image. Known answers on a hand-built net, and the
formula against the accuracy of the net on the images each tool would return."""

import numpy as np
import pytest

import nprelu as nr
from nprelu.cw import cw_accuracies


def masked_net(c_inputs: int, c_black: int) -> nr.MLP:
    """784 -> 4 (capped at 0.5) -> 10, built so that every image with some ink saturates all
    hidden units at the cap (input gradient exactly zero: CW cannot move) and is put in class
    `c_inputs`, while the black image leaves them at 0 and is put in class `c_black`."""
    model = nr.MLP((4,), caps={1: 0.5}, seed=0)
    hidden, out = model.dense
    hidden.W[...] = 1000.0
    hidden.b[...] = -1.0  # black image: z = -1 < 0, a = 0; any ink: z >> 0.5, a = 0.5
    out.W[...] = 0.0
    out.b[...] = 0.0
    out.b[c_black] = 1.0  # logits of the black image: the bias alone
    out.W[:, c_inputs] = 10.0  # with every unit at 0.5 the inked images get 2 + bias
    return model


@pytest.mark.parametrize("c_black", [7, 3])
def test_a_masked_net_defeats_cw_and_the_two_accountings_give_the_known_answers(mnist, c_black):
    """Every inked image is put in class 3 with a zero gradient, so CW fails exactly on the
    inputs of class 3 (the others are misclassified from the start: CW's first iterate is
    already adversarial). Honest: those stay correct. foolbox: they become black images, which
    count as correct only if the net reads the black image as 3."""
    _, (xt, yt) = mnist
    x, y = xt[:200], yt[:200]
    model = masked_net(c_inputs=3, c_black=c_black)
    assert (model.predict(x) == 3).all() and nr.black_image_class(model) == c_black
    _, g = model.input_gradient(x, y)
    assert not g.any()  # masked: the gradient is exactly zero everywhere
    res = nr.cw_l2(model, x, y, steps=50, binary_steps=3)
    assert np.array_equal(res.success, y != 3)
    acc = cw_accuracies(model.predict(x) == y, res.success, y, nr.black_image_class(model))
    assert acc["honest"] == pytest.approx(100 * np.mean(y == 3)) and acc["honest"] > 5
    assert acc["foolbox"] == pytest.approx(acc["honest"] if c_black == 3 else 0.0)
    assert not res.foolbox_images()[y == 3].any()  # the images foolbox returns: black


def test_the_formula_is_the_accuracy_on_the_images_each_tool_returns():
    """On a random net CW succeeds on some inputs and fails on others (few steps); counting
    from per-input outcomes must equal the net's accuracy on the returned images."""
    rng = np.random.default_rng(1)
    model = nr.MLP((32,), caps={1: 0.3}, seed=2)
    x = rng.uniform(size=(60, 784)).astype(np.float32) * (rng.uniform(size=(60, 1)) < 0.9)
    y = rng.integers(0, 10, 60)
    y[:20] = model.predict(x[:20])  # a third classified correctly at the start
    res = nr.cw_l2(model, x, y, steps=30, lr=0.01, binary_steps=2)
    assert 0 < res.success.sum() < len(x)  # a mix of successes and failures
    correct = model.predict(x) == y
    acc = cw_accuracies(correct, res.success, y, nr.black_image_class(model))
    on_ours = 100 * nr.robust_accuracy(model, x, res.x_adv, y)
    on_foolbox = 100 * nr.accuracy(model, res.foolbox_images(), y)
    assert acc["honest"] == pytest.approx(on_ours)
    assert acc["foolbox"] == pytest.approx(on_foolbox)


def test_cw_accuracies_refuses_mismatched_outcomes():
    with pytest.raises(ValueError, match="1-D of one length"):
        cw_accuracies([True, False], [True], [1, 2], 0)
    with pytest.raises(ValueError, match="at least one input"):
        cw_accuracies([], [], [], 0)


def test_the_command_line_warns_of_masking_in_cws_own_terms(cli, tmp_path):
    path = masked_net(c_inputs=3, c_black=7).save(tmp_path / "masked.npz")
    code, out, _ = cli("attack", path, "--method", "cw", "--cw-steps", "5",
                       "--cw-binary-steps", "1", "-n", "50")
    assert code == 0
    warning = next(line for line in out.splitlines() if line.startswith("WARNING"))
    assert "100.0 % of the inputs have an exactly zero input gradient: CW, which starts at " \
           "the input and follows the gradient, cannot move them" in warning
    assert "PGD" not in out and "FGSM" not in out  # nothing about attacks that did not run
