import numpy as np
import pytest

import nprelu as nr


def test_shapes_and_hidden_outputs():
    model = nr.MLP((16, 8), caps={2: 0.1}, seed=0)
    x = np.random.default_rng(0).uniform(size=(5, 784)).astype(np.float32)
    assert model.logits(x).shape == (5, 10) and model.logits(x).dtype == np.float32
    hs = model.hidden_outputs(x)
    assert [h.shape for h in hs] == [(5, 16), (5, 8)]
    assert hs[1].max() <= np.float32(0.1) and hs[1].min() >= 0
    assert model.dense[0].W.shape == (784, 16) and model.dense[0].b.shape == (16,)


def test_glorot_uniform_and_zero_bias():
    model = nr.MLP((392, 196), seed=3)
    limit = np.sqrt(6 / (784 + 392))
    W = model.dense[0].W
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.95 * limit
    assert abs(W.std() - limit / np.sqrt(3)) < 0.01 * limit
    assert np.all(model.dense[0].b == 0)


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = nr.MLP((8,), seed=1), nr.MLP((8,), seed=1), nr.MLP((8,), seed=2)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)


def test_copy_is_independent_and_can_change_dtype():
    model = nr.MLP((8, 4), caps={2: 0.5}, seed=1)
    same, wide = model.copy(), model.copy(np.float64)
    assert same.params.dtype == np.float32 and wide.params.dtype == np.float64
    np.testing.assert_array_equal(wide.params, model.params.astype(np.float64))
    assert wide.caps == model.caps and wide.hidden == model.hidden
    same.params[0] += 1  # a copy shares no memory with the original
    assert not np.array_equal(same.params, model.params)
    x = np.random.default_rng(0).uniform(size=(3, 784)).astype(np.float32)
    np.testing.assert_allclose(wide.logits(x), model.logits(x), rtol=1e-5, atol=1e-6)


def test_set_caps_changes_the_forward_pass():
    model = nr.MLP((16, 8), seed=0)
    x = np.random.default_rng(0).uniform(size=(5, 784)).astype(np.float32)
    before = model.logits(x)
    model.set_caps({1: 0.01})
    assert model.caps == {1: 0.01}
    assert not np.allclose(model.logits(x), before)
    model.set_caps({1: None})
    np.testing.assert_array_equal(model.logits(x), before)


def test_save_load_round_trip(tmp_path):
    model = nr.MLP((16, 8), caps={2: 0.05}, seed=4)
    x = np.random.default_rng(0).uniform(size=(5, 784)).astype(np.float32)
    path = model.save(tmp_path / "m.npz")
    again = nr.MLP.load(path)
    assert again.caps == {2: 0.05} and again.hidden == (16, 8) and again.seed == 4
    np.testing.assert_array_equal(again.logits(x), model.logits(x))
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temp file left behind


def test_load_refuses_garbage(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a zip archive, not an nprelu model"):
        nr.MLP.load(bad)
    with pytest.raises(FileNotFoundError):
        nr.MLP.load(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    "x, match",
    [
        (np.zeros((3, 100), np.float32), r"shape \(N, 784\)"),
        (np.zeros(784, np.float32), r"batch of shape"),
        (np.full((2, 784), np.nan, np.float32), "NaN"),
        (np.zeros((2, 784), np.int64), "floating point"),
    ],
)
def test_bad_inputs_raise(x, match):
    with pytest.raises(ValueError, match=match):
        nr.MLP((8,)).logits(x)


def test_bad_labels_raise():
    model = nr.MLP((8,))
    x = np.zeros((2, 784), np.float32)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        model.input_gradient(x, np.array([0, 10]))
    with pytest.raises(ValueError, match="shape"):
        model.input_gradient(x, np.array([0, 1, 2]))


@pytest.mark.parametrize("caps, match", [({3: 0.1}, "unknown hidden layer"),
                                         ({0: 0.1}, "unknown hidden layer"),
                                         ({1: 0.0}, "> 0"), ({1: -2}, "> 0")])
def test_bad_caps_raise(caps, match):
    with pytest.raises(ValueError, match=match):
        nr.MLP((8, 4), caps=caps)


def test_caps_only_on_relu():
    with pytest.raises(ValueError, match="ReLU"):
        nr.MLP((8,), caps={1: 0.1}, activation="sigmoid")
