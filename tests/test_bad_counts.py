"""Bad counts (iterations, epochs, samples, seeds, layer sizes): integers of the right range or
a clear error; never a slice, a silent truncation or a 'nan %'."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nprelu as nr
from nprelu import audit
from nprelu.context import make_context
from nprelu.paper import Settings

D, K = 6, 3
MODEL = nr.MLP((8,), n_in=D, n_out=K, seed=0)
X = np.random.default_rng(0).uniform(size=(4, D)).astype(np.float32)
Y = np.array([0, 1, 2, 1])

NOT_AN_INT = st.one_of(st.floats(allow_nan=True).filter(lambda v: v != int(v) if v == v and
                                                        abs(v) != float("inf") else True),
                       st.booleans(), st.text(max_size=2), st.none())

COUNTS = {  # name in the message -> call with that count
    "iters": lambda n: nr.pgd(MODEL, X, Y, 0.1, 0.01, n),
    "max_iters": lambda n: nr.zero_gradient_search(MODEL, X, Y, max_iters=n),
    "steps": lambda n: nr.cw_l2(MODEL, X, Y, steps=n, binary_steps=1),
    "binary_steps": lambda n: nr.cw_l2(MODEL, X, Y, steps=1, binary_steps=n),
    "epochs": lambda n: nr.train(MODEL.copy(), X, Y, epochs=n, progress=False),
    "batch_size": lambda n: nr.train(MODEL.copy(), X, Y, epochs=1, batch_size=n, progress=False),
    "restarts": lambda n: audit.pgd_adaptive(MODEL, X, Y, 0.1, 0.01, 1, restarts=n),
    "queries": lambda n: audit.square_linf(nr.MLP((4,), seed=0), np.zeros((1, 784), np.float32),
                                           np.array([0]), 0.1, queries=n),
}


@pytest.mark.parametrize("name", COUNTS)
@settings(max_examples=15, deadline=None)
@given(value=NOT_AN_INT)
def test_a_count_must_be_an_integer(name, value):
    with pytest.raises(ValueError, match=rf"{name} must be an integer >= \d, got "
                                         + re.escape(repr(value))):
        COUNTS[name](value)


@pytest.mark.parametrize("name", COUNTS)
def test_a_count_below_its_minimum_is_refused(name):
    with pytest.raises(ValueError, match=rf"{name} must be an integer >= \d, got -1"):
        COUNTS[name](-1)


def test_two_and_a_half_iterations_is_an_error_not_two():
    with pytest.raises(ValueError, match=r"iters must be an integer >= 0, got 2.5"):
        nr.pgd(MODEL, X, Y, 0.1, 0.01, 2.5)


@pytest.mark.parametrize("hidden, match", [
    ((2.7,), r"HL1 is 2.7"), ((8, True), r"HL2 is True"), ((), r"at least one hidden layer"),
    ((0,), r"HL1 is 0"), (8, r"sequence of layer sizes")])
def test_bad_layer_sizes_are_refused(hidden, match):
    with pytest.raises(ValueError, match=match):
        nr.MLP(hidden)


def test_random_start_needs_a_seed():
    with pytest.raises(ValueError, match=r"random_start=True\) needs a seed"):
        nr.pgd(MODEL, X, Y, 0.1, 0.01, 2, random_start=True)
    a = nr.pgd(MODEL, X, Y, 0.1, 0.01, 2, random_start=True, seed=3)
    np.testing.assert_array_equal(a, nr.pgd(MODEL, X, Y, 0.1, 0.01, 2, random_start=True, seed=3))


@pytest.mark.parametrize("field", ["cw_samples", "n_test"])
@pytest.mark.parametrize("value", [0, -1, 2.5])
def test_settings_refuse_bad_counts(field, value):
    with pytest.raises(ValueError, match=rf"{field} must be an integer >= 1, got {value}"):
        Settings.make(quick=True, **{field: value})


@pytest.mark.parametrize("value", [0, -1, 2.5])
def test_a_run_refuses_a_bad_thread_count(value, tmp_path):
    with pytest.raises(ValueError, match=rf"blas_threads must be an integer >= 1, got {value}"):
        make_context(True, results=tmp_path / "r", cache=tmp_path / "c", blas_threads=value)


@pytest.mark.parametrize("argv, option, value", [
    (["attack", "m.npz", "-n", "-5"], "-n", "-5"),
    (["attack", "m.npz", "-n", "0"], "-n", "0"),
    (["attack", "m.npz", "-n", "1.5"], "-n", "'1.5'"),
    (["attack", "m.npz", "--iters", "2.5"], "--iters", "'2.5'"),
    (["reproduce", "--cw-samples", "0"], "--cw-samples", "0"),
    (["reproduce", "--cw-samples", "-1"], "--cw-samples", "-1"),
    (["reproduce", "--seeds", "a"], "--seeds", "'a'"),
    (["reproduce", "--seeds", "0,-1"], "--seeds", "'0,-1'"),
    (["reproduce", "--threads", "0"], "--threads", "0"),
    (["train", "--epochs", "0"], "--epochs", "0"),
    (["train", "--hidden", "2.7"], "--hidden", "'2.7'"),
    (["train", "--batch-size", "-3"], "--batch-size", "-3"),
])
def test_command_line_refuses_bad_counts(cli, argv, option, value):
    code, out, err = cli(*argv)
    assert code == 2 and out == ""
    assert f"argument {option}:" in err and value in err


def test_duplicate_caps_on_the_command_line(cli, tiny_model_file):
    code, _, err = cli("eval", tiny_model_file, "--cap", "1=0.1", "1=0.2")
    assert code == 2 and "--cap names HL1 twice (1=0.1 and 1=0.2)" in err


def test_more_images_than_the_test_set(cli, tiny_model_file):
    code, _, err = cli("attack", tiny_model_file, "-n", "20000")
    assert code == 2 and "-n 20000 is more than the 10000 test images" in err


def test_options_that_do_not_apply_to_the_method(cli, tiny_model_file):
    code, _, err = cli("attack", tiny_model_file, "--method", "cw", "--eps", "0.2")
    assert code == 2 and "--eps does not apply to --method cw" in err
    code, _, err = cli("attack", tiny_model_file, "--method", "fgsm", "--iters", "5",
                       "--step", "0.1")
    assert code == 2 and "--iters, --step do not apply to --method fgsm" in err


def test_cw_summary_counts_only_inputs_classified_correctly(cli, tiny_model_file):
    code, out, _ = cli("attack", tiny_model_file, "--method", "cw", "-n", "20",
                       "--cw-steps", "20", "--cw-binary-steps", "2")
    assert code == 0
    model = nr.MLP.load(tiny_model_file)
    _, (xt, yt) = nr.load_mnist()
    correct = int((model.predict(xt[:20]) == yt[:20]).sum())
    assert f"of the {correct} inputs classified correctly" in out
    assert "on the first 20 test inputs" in out and "binary step 2 of 2 done" in out
