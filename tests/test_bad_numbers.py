"""Bad numbers (learning rates, eps, step, beta, c, caps): a clear error naming the value, never
a silently wrong answer. Training that diverges stops and saves nothing."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nprelu as nr
from nprelu import audit

BAD_NONNEG = st.one_of(st.floats(max_value=-1e-12), st.just(math.nan), st.just(math.inf),
                       st.just(-math.inf))
BAD_POSITIVE = st.one_of(st.floats(max_value=0), st.just(math.nan), st.just(math.inf))


def _net_and_data(n=4):
    rng = np.random.default_rng(0)
    return (nr.MLP((8,), n_in=6, n_out=3, seed=0),
            rng.uniform(size=(n, 6)).astype(np.float32), rng.integers(0, 3, n))


@settings(max_examples=30, deadline=None)
@given(eps=BAD_NONNEG)
def test_bad_eps_is_refused_by_every_linf_attack(eps):
    model, x, y = _net_and_data()
    for attack in (lambda: nr.fgsm(model, x, y, eps), lambda: nr.pgd(model, x, y, eps, 0.01, 2),
                   lambda: audit.pgd_adaptive(model, x, y, eps, 0.01, 2),
                   lambda: audit.square_linf(model, x, y, eps, queries=2)):
        with pytest.raises(ValueError, match=r"eps must be a finite number >= 0, got"):
            attack()


@settings(max_examples=30, deadline=None)
@given(step=BAD_NONNEG)
def test_bad_step_is_refused(step):
    model, x, y = _net_and_data()
    with pytest.raises(ValueError, match="step must be"):
        nr.pgd(model, x, y, 0.1, step, 2)
    with pytest.raises(ValueError, match="step must be"):
        nr.zero_gradient_search(model, x, y, step=step, max_iters=2)


@settings(max_examples=30, deadline=None)
@given(lr=BAD_POSITIVE)
def test_bad_learning_rate_is_refused_before_training(lr):
    model, x, y = _net_and_data()
    with pytest.raises(ValueError, match=r"lr \(learning rate\) must be a finite number > 0"):
        nr.train(model, x, y, epochs=1, lr=lr, progress=False)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        nr.cw_l2(model, x, y, steps=2, lr=lr, binary_steps=1)


@settings(max_examples=30, deadline=None)
@given(beta=st.one_of(BAD_POSITIVE.filter(lambda b: not math.isinf(b)), st.booleans(),
                      st.text(max_size=3)))
def test_bad_beta_is_refused_everywhere(beta):
    with pytest.raises(ValueError, match="beta"):
        nr.capped_relu(beta)
    with pytest.raises(ValueError, match=r"beta of HL1|unknown hidden layer"):
        nr.MLP((8,), caps={1: beta})


def test_a_boolean_cap_is_refused_not_read_as_one():
    with pytest.raises(ValueError, match=r"beta of HL2 must be a number > 0, got True"):
        nr.MLP((8, 4), caps={2: True})
    with pytest.raises(ValueError, match=r"unknown hidden layer True"):
        nr.MLP((8, 4), caps={True: 0.1})


@pytest.mark.parametrize("c", [0, -1.0, math.nan, math.inf])
def test_bad_sigmoid_scale_is_refused(c):
    with pytest.raises(ValueError, match="c must be a finite number > 0"):
        nr.MLP((8,), activation="sigmoid", c=c)


def test_diverging_training_stops_and_names_epoch_and_step():
    model, x, y = _net_and_data(64)
    with pytest.raises(nr.TrainingDiverged, match=r"epoch 1 of 3, step \d+ of 4.*loss is nan"):
        nr.train(model, x, y, epochs=3, batch_size=16, lr=1e30, progress=False)


@pytest.mark.parametrize("argv, option, value", [
    (["train", "--lr", "inf"], "--lr", "'inf'"),
    (["train", "--lr", "nan"], "--lr", "'nan'"),
    (["train", "--lr", "-1"], "--lr", "'-1'"),
    (["attack", "m.npz", "--eps", "-0.1"], "--eps", "'-0.1'"),
    (["attack", "m.npz", "--step", "nan"], "--step", "'nan'"),
    (["attack", "m.npz", "--step", "0"], "--step", "'0'"),  # PGD would not move
    (["attack", "m.npz", "--eps", "0"], "--eps", "'0'"),
    (["attack", "m.npz", "--eps", "2"], "--eps", "'2'"),  # beyond the whole image range
    (["attack", "m.npz", "--iters", "0"], "--iters", "'0'"),
    (["attack", "m.npz", "--method", "cw", "--cw-lr", "0"], "--cw-lr", "'0'"),
    (["attack", "m.npz", "--method", "cw", "--cw-c", "inf"], "--cw-c", "'inf'"),
])
def test_command_line_refuses_bad_numbers(cli, argv, option, value):
    code, _, err = cli(*argv)
    assert code == 2
    assert f"argument {option}" in err and value in err


def test_command_line_refuses_a_bad_cap(cli, tiny_model_file):
    code, _, err = cli("eval", tiny_model_file, "--cap", "1=-0.5")
    assert code == 2 and "beta of HL1 must be > 0" in err and "-0.5" in err


@pytest.mark.slow
def test_train_command_stops_on_divergence_and_saves_nothing(cli, tmp_path):
    out = tmp_path / "m.npz"
    code, _, err = cli("train", "--hidden", "16", "--epochs", "1", "--lr", "1e30", "--out", out)
    assert code == 2
    assert "diverged at epoch 1 of 1, step 2 of 1875" in err and "Nothing was saved" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_train_command_refuses_to_save_a_net_whose_loss_exploded(cli, tmp_path):
    """lr 1e9 keeps the loss finite but huge (~1e17) and ends at chance: not saved, and said."""
    out = tmp_path / "m.npz"
    code, stdout, err = cli("train", "--hidden", "16", "--epochs", "1", "--lr", "1e9", "--out",
                            out)
    assert code == 2 and "training diverged: the last epoch's mean loss is" in err
    assert "uniform guess" in err and "Nothing was saved" in err and "lr is 1e+09" in err
    assert not out.exists()


@pytest.mark.parametrize("epochs", [0, -3, 2.5, True, None])
def test_ibp_recipe_refuses_a_bad_epoch_count(epochs):
    from nprelu import paper

    with pytest.raises(ValueError, match="epochs must be a whole number >= 1"):
        paper.ibp_recipe(epochs)
    assert paper.ibp_recipe(3)["ibp_ramp"] == 1 and paper.ibp_recipe(3)["lr_drops"] == (2, 2)
