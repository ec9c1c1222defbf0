"""Chapter 11's pieces (D-ReLU, Sooksatra & Rivas 2024): the authors' data split, their CW
accounting, their training recipe (early stopping, learning rate halved on plateaus), a
learning rate of the caps' own, and the softmax-output pitfall of their FGSM/PGD. Known
answers throughout; the learned cap's gradients in z and m are checked in test_layers.py."""

import numpy as np
import pytest

import nprelu as nr
from nprelu.data import shuffle_split
from nprelu.objectives import CapPenalty
from nprelu.train import Spec, fit, train_early_stopping
from tests.test_cw import masked_net


# --------------------------------------------------------------------------- their split
def test_shuffle_split_selects_what_scikit_learn_selects():
    """Indices printed by scikit-learn 1.9.1 (an independent implementation):
    train_test_split(np.arange(n), test_size=f, random_state=42) -> (train, test)."""
    train, test = shuffle_split(10000, 0.1, 42)
    assert len(train) == 9000 and len(test) == 1000
    assert test[:12].tolist() == [6252, 4684, 1731, 4742, 4521, 6340, 576, 5202, 6363, 439,
                                  2750, 7487]
    assert int(test.sum()) == 4997385
    train, val = shuffle_split(60000, 0.2, 42)
    assert len(train) == 48000 and len(val) == 12000
    assert train[:8].tolist() == [48572, 38696, 13611, 35213, 31766, 57477, 9165, 21399]
    assert val[:8].tolist() == [12628, 37730, 39991, 8525, 8279, 51012, 14871, 15127]
    assert int(val.sum()) == 361688173
    assert len(np.union1d(train, val)) == 60000  # a partition


def test_shuffle_split_refuses_nonsense():
    with pytest.raises(ValueError, match="0 < test_fraction < 1"):
        shuffle_split(100, 1.5, 42)
    with pytest.raises(ValueError, match="n >= 2"):
        shuffle_split(1, 0.5, 42)


# --------------------------------------------------------------------------- their CW count
@pytest.mark.parametrize("c_black", [7, 3])
def test_their_cw_rule_on_a_masked_net_gives_the_known_answer(mnist, c_black):
    """The masked net of test_cw.py: CW fails exactly on the inputs of class 3 (the others are
    misclassified from the start). Their code returns the black image for those; the L2 > 12
    rule gives an input back where the black image lies farther than 12 from it."""
    _, (xt, yt) = mnist
    x, y = xt[:300], yt[:300]
    model = masked_net(c_inputs=3, c_black=c_black)
    res = nr.cw_l2(model, x, y, steps=20, binary_steps=2)
    assert np.array_equal(res.success, y != 3)
    norm = np.linalg.norm(x, axis=1)
    assert 0 < np.mean((y == 3) & (norm > 12)) < np.mean(y == 3)  # both sides of the rule
    acc = nr.max_l2_accuracy(model.predict(x) == y, res.success, res.l2, norm, y,
                             nr.black_image_class(model))
    expected = np.mean((y == 3) & (norm > 12)) if c_black == 7 else np.mean(y == 3)
    assert acc == pytest.approx(100 * expected)


def test_their_cw_rule_is_the_accuracy_on_the_images_their_code_returns():
    """On a random net with a mix of successes and failures: build the images their code
    ends up evaluating (found point or black image; the input itself where that lies farther
    than max_l2) and count the net's accuracy on them."""
    rng = np.random.default_rng(3)
    model = nr.MLP((32,), caps={1: 0.3}, seed=2)
    x = rng.uniform(size=(80, 784)).astype(np.float32) * (rng.uniform(size=(80, 1)) < 0.9)
    x *= rng.uniform(0.2, 0.8, size=(80, 1)).astype(np.float32)  # norms on both sides of 12
    y = rng.integers(0, 10, 80)
    y[:30] = model.predict(x[:30])
    res = nr.cw_l2(model, x, y, steps=30, lr=0.01, binary_steps=2)
    assert 0 < res.success.sum() < len(x)
    images = res.foolbox_images()
    far = np.linalg.norm(images - x, axis=1) > 12
    assert 0 < far.sum() < len(x)
    images[far] = x[far]
    acc = nr.max_l2_accuracy(model.predict(x) == y, res.success, res.l2,
                             np.linalg.norm(x, axis=1), y, nr.black_image_class(model))
    assert acc == pytest.approx(100 * nr.accuracy(model, images, y))


def test_their_cw_rule_refuses_mismatched_outcomes():
    with pytest.raises(ValueError, match="1-D of one nonzero length"):
        nr.max_l2_accuracy([True], [True, False], [1.0], [2.0], [1], 0)
    with pytest.raises(ValueError, match="max_l2"):
        nr.max_l2_accuracy([True], [False], [1.0], [2.0], [1], 0, max_l2=0)


# --------------------------------------------------------------------------- the softmax pitfall
def saturated_net() -> nr.MLP:
    """784 -> 4 -> 10 whose logits are in the thousands: the softmax output is exactly one-hot
    in float32, so the cross-entropy of the *output* has an exactly zero gradient, while the
    cross-entropy of the logits still points the way out."""
    model = nr.MLP((4,), seed=0)
    hidden, out = model.dense
    hidden.W[...] = 0.0
    hidden.W[:392, 0] = 1.0  # unit 0 sums the top half of the image, unit 1 the bottom half
    hidden.W[392:, 1] = 1.0
    hidden.b[...] = 0.0
    out.W[...] = 0.0
    out.b[...] = 0.0
    out.W[0, 0], out.W[1, 1] = 100.0, 100.0  # class 0: more ink on top; class 1: below
    return model


def test_their_pgd_on_the_softmax_output_sees_no_gradient_where_the_logits_do(mnist):
    """A known answer where the pitfall decides: on a net whose softmax output is exactly
    one-hot, PGD on the cross-entropy of that output (cleverhans on a Keras model ending in
    softmax) has an exactly zero gradient and moves no input, while PGD on the logit margin
    flips every input whose margin the eps-ball can close (computed by hand: each top-half
    pixel can fall by min(x, eps), each bottom-half pixel rise by min(1 - x, eps))."""
    _, (xt, _) = mnist
    model = saturated_net()
    x = xt[:500]
    logits = model.logits(x)
    margin = logits[:, 0] - logits[:, 1]
    reach = 100 * (np.minimum(x[:, :392], 0.1).sum(1) + np.minimum(1 - x[:, 392:], 0.1).sum(1))
    pick = (margin > 1000) & (margin < reach - 50)  # one-hot softmax, yet within reach
    x = x[pick][:20]
    y = np.zeros(len(x), np.int64)
    assert len(x) >= 5 and (model.predict(x) == 0).all()
    _, g = nr.attacks.loss_gradient(model, x, y, loss="softmax_output")
    assert not g.any()  # the saturated softmax output: exactly zero
    theirs = nr.pgd(model, x, y, 0.1, 0.01, 100, random_start=True, seed=0,
                    loss="softmax_output")
    assert (model.predict(theirs) == 0).all()  # their PGD: nothing flips
    on_logits = nr.pgd(model, x, y, 0.1, 0.01, 100, loss="margin")
    assert (model.predict(on_logits) != 0).all()  # on the logits: every input flips


def test_their_pgd_follows_the_softmax_outputs_gradient_the_other_way():
    """The 3-class net of test_attacks.py where the softmax-output loss turns the gradient's
    sign: one PGD step moves pixel 0 up with loss="softmax_output" and down on the logits."""
    from tests.test_attacks import softmax_pitfall_net

    *_, model, x, y = softmax_pitfall_net()  # its two signs are checked by hand there
    up = nr.pgd(model, x, y, 0.1, 0.01, 1, loss="softmax_output")[0, 0] - 0.5
    down = nr.pgd(model, x, y, 0.1, 0.01, 1)[0, 0] - 0.5
    assert up == pytest.approx(0.01) and down == pytest.approx(-0.01)


# --------------------------------------------------------------------------- their training recipe
def _toy(seed=0, n=200):
    """Two noisy Gaussian blobs in 6 dimensions (labels 0, 1)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.clip(0.5 + 0.15 * (2 * y[:, None] - 1) + 0.2 * rng.normal(size=(n, 6)), 0, 1)
    return x.astype(np.float32), y


def test_early_stopping_stops_after_patience_and_keeps_the_best_weights():
    x, y = _toy(0)
    xv, yv = _toy(1, 100)
    yv = 1 - yv  # validation labels flipped: once training learns, validation loss only rises
    net = nr.Network.dense((8,), seed=0, n_in=6, n_out=2)
    h = train_early_stopping(net, x, y, xv, yv, max_epochs=50, batch_size=20, lr=1e-2,
                             patience=3, lr_patience=100, progress=False)
    best = int(np.argmin(h["val_loss"]))
    assert h["best_epoch"] == best + 1
    assert h["stopped"] == best + 1 + 3  # three epochs without improvement, then stop
    assert len(h["val_loss"]) == h["stopped"] < 50
    # the weights kept are the best epoch's: their validation loss is that epoch's
    assert float(net.loss(xv, yv).mean()) == pytest.approx(h["val_loss"][best], rel=1e-5)


def test_the_learning_rate_halves_after_a_plateau_and_stops_at_its_floor():
    x, y = _toy(0)
    xv, yv = _toy(1, 100)
    yv = 1 - yv
    net = nr.Network.dense((8,), seed=0, n_in=6, n_out=2)
    h = train_early_stopping(net, x, y, xv, yv, max_epochs=12, batch_size=20, lr=1e-2,
                             patience=100, lr_patience=1, min_lr=2e-3, progress=False)
    lrs = h["lr"]
    assert lrs[0] == 1e-2 and min(lrs) == pytest.approx(2e-3)
    assert all(b == a or b == pytest.approx(max(a / 2, 2e-3)) for a, b in zip(lrs, lrs[1:]))
    assert any(b < a for a, b in zip(lrs, lrs[1:]))


def test_the_penalty_enters_the_validation_loss():
    x, y = _toy(0)
    net = nr.Network.dense((8,), nr.LearnedCap, seed=0, n_in=6, n_out=2)
    pen = CapPenalty(1e-3, hl=1)
    h = train_early_stopping(net, x, y, x, y, max_epochs=1, batch_size=20, penalties=[pen],
                             patience=5, progress=False)
    ce = float(net.loss(x, y).mean())
    assert h["val_loss"][0] == pytest.approx(ce + pen.value(net), rel=1e-5)
    assert pen.value(net) == pytest.approx(1e-3 * float(np.sum(net.sites[0].act.m ** 2)))


def test_adam_moves_each_cap_by_about_the_learning_rate_whatever_lambda():
    """The trap of the recipe: with only the penalty acting on a cap, Adam's first step moves
    it by lr (to float32 rounding), for a tiny and a huge lambda alike; with lr_scale, by
    lr times the scale, and every other entry exactly as without it."""
    x, y = _toy(0, 20)
    moved = {}
    for lam, scale in ((1e-7, 1.0), (100.0, 1.0), (1e-7, 30.0)):
        net = nr.Network.dense((8,), lambda u: nr.LearnedCap(u, init=100.0), seed=0, n_in=6,
                               n_out=2)
        net.loss_and_param_grads(x, y)
        cap = net.sites[0].act
        assert not cap.dm.any()  # caps at 100 never bind: the loss gives them nothing
        CapPenalty(lam, hl=1)(net)
        caps = net.slice_of(cap.m)
        assert np.shares_memory(net.params[caps], cap.m)
        assert np.array_equal(net.params[caps], cap.m)
        sc = np.ones_like(net.params)
        sc[caps] = scale
        before = net.params.copy()
        nr.Adam([net.params], lr=1e-3, lr_scale=[sc]).step([net.grads])
        moved[lam, scale] = before - net.params
    assert np.allclose(moved[1e-7, 1.0][caps], 1e-3, rtol=1e-3)
    assert np.allclose(moved[100.0, 1.0][caps], 1e-3, rtol=1e-3)
    assert np.allclose(moved[1e-7, 30.0][caps], 3e-2, rtol=1e-3)
    rest = np.ones(before.size, bool)
    rest[caps] = False
    assert np.array_equal(moved[1e-7, 30.0][rest], moved[1e-7, 1.0][rest])


def test_slice_of_finds_each_parameter_in_the_flat_buffer():
    net = nr.Network.dense((8,), nr.LearnedCap, seed=0, n_in=6, n_out=2)
    for layer in net.layers:
        for view in (layer.W, layer.b):
            assert np.array_equal(net.params[net.slice_of(view)], view.ravel())
    cap = net.sites[0].act
    assert np.array_equal(net.params[net.slice_of(cap.m)], cap.m)
    with pytest.raises(ValueError, match="view into this network's parameters"):
        net.slice_of(np.zeros(3, np.float32))


def test_adam_refuses_a_bad_lr_scale():
    p = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="one array per parameter"):
        nr.Adam([p], lr_scale=[np.ones(3)])
    with pytest.raises(ValueError, match="finite and > 0"):
        nr.Adam([p], lr_scale=[np.array([1, 0, 1, 1.0])])


def test_a_drelu_spec_trains_learned_caps_and_the_store_keeps_its_history(tmp_path, mnist):
    """fit follows a D-ReLU spec (learned caps on both hidden layers, the penalty on the last,
    their 80/20 split, early stopping); the history comes back with the cached model."""
    from nprelu.store import Store, model_key

    (x, y), _ = mnist
    spec = Spec((16, 8), learned_caps=True, cap_lam=1e-3, patience=2, epochs=2, batch_size=128,
                n_train=2000, cap_lr=0.05)
    model = fit(spec, x, y, progress=False)
    hl1, hl2 = (site.act for site in model.sites)
    assert isinstance(hl1, nr.LearnedCap) and isinstance(hl2, nr.LearnedCap)
    assert np.all(hl1.m == 100)  # no penalty, no binding: HL1's caps stay put
    steps = 2 * (1600 // 128 + 1)  # two epochs on 80 % of 2000 images
    assert np.allclose(hl2.m, 100 - 0.05 * steps, atol=0.05)  # the caps' own learning rate
    assert model.history["caps"][-1] == [100.0, pytest.approx(float(np.mean(hl2.m)))]
    store = Store(tmp_path / "cache", tmp_path / "records")
    store.save_model(spec, model)
    back = store.load_model(spec)
    assert back.history == model.history
    assert np.array_equal(back.params, model.params)
    assert back.copy().history == model.history  # record tasks get copies: they keep it
    import pickle

    assert pickle.loads(pickle.dumps(back)).history == model.history  # and so do Dask's
    # the new Spec fields at their defaults leave every older model key as it was
    assert model_key(Spec((392, 196), ((2, 0.1),))) == model_key(
        Spec((392, 196), ((2, 0.1),), learned_caps=False, cap_lam=0.0, patience=0, cap_lr=0.0))
    with pytest.raises(ValueError, match="learned caps replace fixed caps"):
        fit(Spec((16,), ((1, 0.5),), learned_caps=True, patience=1, epochs=1, n_train=200),
            x, y, progress=False)
    with pytest.raises(ValueError, match="set patience > 0"):  # else penalty and cap_lr are lost
        fit(Spec((16,), learned_caps=True, cap_lam=0.1, epochs=1, n_train=200), x, y,
            progress=False)


def test_the_same_drelu_spec_gives_the_same_bits(mnist):
    (x, y), _ = mnist
    spec = Spec((16,), learned_caps=True, cap_lam=0.1, patience=2, epochs=2, batch_size=64,
                n_train=1000, cap_lr=0.05)
    a, b = fit(spec, x, y, progress=False), fit(spec, x, y, progress=False)
    assert np.array_equal(a.params, b.params) and a.history == b.history
    c = fit(Spec((16,), learned_caps=True, cap_lam=0.1, patience=2, epochs=2, batch_size=64,
                 n_train=1000, cap_lr=0.05, seed=1), x, y, progress=False)
    assert not np.array_equal(a.params, c.params)  # the seed does decide


# --------------------------------------------------------------------------- their shallow CNN
def test_their_shallow_cnn_has_the_parameters_keras_counts():
    """Their Keras model (models.py, "end" variant) has, by Keras' own count: conv 3x3x1x32 + 32
    = 320, conv 3x3x32x32 + 32 = 9248, Dense 6272x256 + 256 = 1605888 (14 x 14 x 32 = 6272
    after the 2x2 pool), MaxReLU 256 caps, Dense 256x10 + 10 = 2570."""
    from nprelu import paper

    net = nr.Network.conv_dense(paper.DRELU_CNN_CONVS, paper.DRELU_CNN_HIDDEN, nr.LearnedCap,
                                init="he", seed=0)
    assert net.params.size == 320 + 9248 + 1605888 + 256 + 2570
    kinds = [layer.kind for layer in net.layers]
    assert kinds == ["conv2d", "conv2d", "maxpool2d", "flatten", "dense", "dense"]
    assert [type(site.act).__name__ for site in net.sites] == ["CappedReLU", "CappedReLU",
                                                               "LearnedCap"]
    assert np.all(net.sites[2].act.m == 100)
    assert net.logits(np.zeros((2, 784), np.float32)).shape == (2, 10)


def test_he_uniform_draws_up_to_sqrt_6_over_fan_in():
    """Keras' he_uniform: U(-sqrt(6 / fan_in), +sqrt(6 / fan_in)), fan_in = C k k; Glorot's
    bound sqrt(6 / (fan_in + fan_out)) is smaller, so the two are told apart."""
    for init, bound in (("he", np.sqrt(6 / 9)), ("glorot", np.sqrt(6 / (9 + 32 * 9)))):
        net = nr.Network([nr.Conv2D(1, 32, 3, 1, 1, nr.CappedReLU(), init), nr.Flatten(),
                          nr.Dense(32 * 28 * 28, 10)], (1, 28, 28), seed=0)
        w = np.abs(net.layers[0].W)
        assert w.max() <= bound and w.max() > 0.95 * bound
    with pytest.raises(ValueError, match="init must be one of"):
        nr.Conv2D(1, 2, 3, init="lecun")


def test_a_cnn_drelu_spec_penalises_the_dense_caps_and_survives_the_store(tmp_path, mnist):
    """fit follows a convolutional D-ReLU spec: plain ReLUs in the convolutions, learned caps
    on the dense layer (site 2 here), the penalty and the caps' learning rate on them."""
    from nprelu.store import Store, model_key

    (x, y), _ = mnist
    spec = Spec((8,), learned_caps=True, cap_lam=1e-3, patience=2, epochs=1, batch_size=128,
                n_train=640, cap_lr=0.05, convs=((2, 3, 2),), conv_init="he")
    model = fit(spec, x, y, progress=False)
    assert [layer.kind for layer in model.layers] == ["conv2d", "maxpool2d", "flatten",
                                                      "dense", "dense"]
    assert model.layers[0].init == "he"
    caps = model.sites[1].act
    steps = 512 // 128  # one epoch on 80 % of 640 images
    assert np.allclose(caps.m, 100 - 0.05 * steps, atol=0.02)  # penalised: they fell
    assert "c2k3p2-8 D-ReLU" in spec.label()
    store = Store(tmp_path / "cache", tmp_path / "records")
    store.save_model(spec, model)
    back = store.load_model(spec)
    assert np.array_equal(back.params, model.params) and back.layers[0].init == "he"
    assert model_key(spec) != model_key(Spec((8,), learned_caps=True, cap_lam=1e-3,
                                             patience=2, epochs=1, batch_size=128,
                                             n_train=640, cap_lr=0.05))


def test_their_protocol_on_a_masked_net_gives_the_known_answers(mnist):
    """test_cw's masked net puts every inked image in class 3 with an exactly zero input
    gradient (no attack can move it) and the black image in class 7. So every attack of their
    protocol leaves the clean accuracy (the share of 3s). CW fails on every 3 and gets the
    black image back (class 7, wrong); their rule keeps the input instead where it lies farther
    than L2 = 12 from black. So their CW count is the share of 3s farther than 12 from black.
    mean_m is None for a fixed cap."""
    from nprelu.drelu_protocol import their_protocol

    _, (xt, yt) = mnist
    idx = np.concatenate([np.flatnonzero(yt == 3)[:40], np.flatnonzero(yt != 3)[:20]])
    x, y = xt[idx], yt[idx]
    out = their_protocol(masked_net(3, 7), x, y, seed=0)
    clean = 100 * np.mean(y == 3)
    for k in ("clean", "fgsm", "pgd", "apgd_ce", "apgd_dlr", "cw_honest"):
        assert out[k] == pytest.approx(clean), k
    far = np.linalg.norm(x, axis=1) > 12
    assert 0 < far.sum() < len(x)  # both sides of their rule occur
    assert out["cw"] == pytest.approx(100 * np.mean(far & (y == 3)))
    assert 0 < out["cw"] < clean
    assert out["cw_found"] == 0 and out["black_class"] == 7 and out["mean_m"] is None
