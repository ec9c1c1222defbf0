from dataclasses import replace

import numpy as np
import pytest

import nprelu as nr
from nprelu.train import Spec, fit


def _toy(seed=0, n=200):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > x[:, 1]).astype(np.int64)
    return x, y


def test_training_is_deterministic_given_the_seed():
    x, y = _toy()
    a, b = nr.MLP((16,), seed=0, n_in=4), nr.MLP((16,), seed=0, n_in=4)
    nr.train(a, x, y, epochs=2, seed=5, progress=False)
    nr.train(b, x, y, epochs=2, seed=5, progress=False)
    np.testing.assert_array_equal(a.params, b.params)
    c = nr.MLP((16,), seed=0, n_in=4)
    nr.train(c, x, y, epochs=2, seed=6, progress=False)
    assert not np.array_equal(a.params, c.params)


def test_training_lowers_the_loss():
    x, y = _toy()
    model = nr.MLP((16,), seed=0, n_in=4)
    hist = nr.train(model, x, y, epochs=10, batch_size=16, lr=1e-2, progress=False)
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]


def test_adam_first_step_moves_each_parameter_by_lr():
    """With bias correction, Adam's first step is lr * sign(g) (up to eps)."""
    p = np.array([1.0, 2.0, 3.0], np.float32)
    opt = nr.Adam([p], lr=0.1)
    opt.step([np.array([0.5, -2.0, 1e-3], np.float32)])
    np.testing.assert_allclose(p, [0.9, 2.1, 2.9], rtol=1e-5)


def test_adversary_hook_is_called_with_each_batch():
    x, y = _toy(n=64)
    seen = []

    def adversary(model, xb, yb):
        seen.append(len(xb))
        return xb

    model = nr.MLP((8,), n_in=4)
    nr.train(model, x, y, epochs=1, batch_size=32, adversary=adversary, progress=False)
    assert seen == [32, 32]


@pytest.mark.slow
def test_one_epoch_on_mnist_reaches_95_percent(mnist):
    (x, y), (xt, yt) = mnist
    model = nr.MLP((392, 196), seed=0)
    nr.train(model, x, y, epochs=1, batch_size=32, seed=0, progress=False)
    acc = float((model.predict(xt) == yt).mean())
    assert acc > 0.95, acc


def _drelu_net(seed=0, init=0.8):
    """A tiny dense net with a learned cap on HL1 (D-ReLU), float64."""
    net = nr.Network([nr.Dense(6, 5, nr.LearnedCap(5, init=init)), nr.Dense(5, 3)], (6,),
                     seed=seed, dtype=np.float64)
    return net


def test_the_cap_penalty_gradient_matches_finite_differences():
    from nprelu.objectives import At, CapPenalty, CrossEntropy
    from tests.helpers import numeric_grad, rel_err

    net = _drelu_net()
    rng = np.random.default_rng(0)
    net.params[...] = rng.normal(size=net.params.shape)
    x = rng.uniform(size=(4, 6))
    y = rng.integers(0, 3, 4)
    penalty = CapPenalty(0.3, hl=1)
    step = CrossEntropy()(net, x, y, At(0, 0, 1))
    total = step.loss + penalty(net)
    m = net.layers[0].act.m

    def objective():
        return float(net.loss(x, y).mean()) + 0.3 * float(np.sum(m**2))

    assert total == pytest.approx(objective())
    num = numeric_grad(objective, net.params)
    assert rel_err(net.grads, num) < 1e-6
    # negative control: without the penalty's gradient, the caps' entries are wrong
    net.loss_and_param_grads(x, y)
    assert rel_err(net.grads, num) > 1e-3


def test_the_penalty_needs_a_learned_cap_and_a_known_layer():
    from nprelu.objectives import CapPenalty

    with pytest.raises(ValueError, match="HL1 has a relu, not a learned cap"):
        CapPenalty(0.1, 1)(nr.MLP((4,), n_in=6, n_out=3))
    with pytest.raises(ValueError, match="unknown hidden layer HL3"):
        CapPenalty(0.1, 3)(_drelu_net())


def test_a_penalised_learned_cap_falls_during_training():
    from nprelu.objectives import CapPenalty

    net = nr.Network([nr.Dense(6, 5, nr.LearnedCap(5, init=5.0)), nr.Dense(5, 3)], (6,),
                     seed=0, dtype=np.float32)
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    nr.train(net, x, y, epochs=20, batch_size=16, lr=0.05, penalties=[CapPenalty(1.0, 1)],
             progress=False)
    assert net.layers[0].act.m.max() < 4.0  # Adam moves each cap by about lr per step


def test_a_fixed_cap_cnn_spec_is_network_cnn_with_its_caps(mnist):
    """Without learned caps, a convolutional spec builds the same net as Network.cnn (same
    seed, same weights) with spec.caps by activation site, convolutions first; fit trains it
    and a Sec. 8 spec fine-tunes it."""
    (x, y), _ = mnist
    spec = Spec((8,), caps=((1, 0.5), (3, 0.1)), convs=((2, 3, 2), (3, 3, 2)), epochs=0,
                n_train=64)
    fresh = fit(spec, x, y, progress=False)
    twin = nr.Network.cnn(convs=((2, 3), (3, 3)), dense=(8,), caps={1: 0.5, 3: 0.1}, seed=0)
    assert np.array_equal(fresh.params, twin.params)
    assert [float(site.act.beta) for site in fresh.sites] == [0.5, np.inf, 0.1]
    trained = fit(replace(spec, epochs=1), x, y, progress=False)
    assert not np.array_equal(trained.params, fresh.params)
    tuned = fit(replace(spec, epochs=1, adv="fgsm", adv_epochs=1), x, y, base=trained,
                progress=False)
    assert not np.array_equal(tuned.params, trained.params)
    with pytest.raises(ValueError, match="leave activation at relu"):
        fit(replace(spec, activation="sigmoid"), x, y, progress=False)


def test_a_convolution_entry_may_set_its_stride_and_padding():
    """(channels, k, pool, stride, pad) builds that convolution (Gowal et al.'s small IBP CNN:
    4x4 kernels, stride 2 then 1, unpadded): its output sizes (28 -> 13 -> 10) set the dense
    layer's width, and the label says so; (channels, k, pool) stays 'same' at stride 1."""
    spec = Spec((100,), convs=((16, 4, 1, 2, 0), (32, 4, 1, 1, 0)))
    net = nr.Network.conv_dense(spec.convs, spec.hidden)
    conv1, conv2, _, dense = net.layers[:4]
    assert (conv1.stride, conv1.pad, conv2.stride, conv2.pad) == (2, 0, 1, 0)
    assert dense.W.shape == (32 * 10 * 10, 100)
    assert net.logits(np.zeros((2, 784), np.float32)).shape == (2, 10)
    assert spec.arch() == "c16k4s2pad0-c32k4pad0-100"
    assert Spec((128,), convs=((16, 5, 2), (32, 5, 2))).arch() == "c16k5p2-c32k5p2-128"
    with pytest.raises(ValueError, match=r"\(channels, k, pool, stride, pad\)"):
        nr.Network.conv_dense(((16, 4, 1, 2),), (100,))
    with pytest.raises(ValueError, match=r"\(channels, k, pool, stride, pad\)"):
        Spec((100,), convs=((16, 4, 1, 2),)).arch()  # the label reads entries the same way


def test_an_added_layer_spec_starts_from_the_trained_net_without_it(mnist):
    """Spec(added=...) = the trained net of the same spec without the layer, then
    with_capped_layer, then added_epochs clean epochs; its key differs, and fit refuses to run
    it without that net."""
    from nprelu.store import model_key

    (x, y), _ = mnist
    plain = Spec((16,), epochs=1, n_train=256)
    added = replace(plain, added="output", added_beta=0.5, added_epochs=1)
    assert added.base == plain and plain.base is None
    assert (plain.own_epochs, added.own_epochs) == (1, 1)
    assert replace(plain, adv="pgd", adv_epochs=3).own_epochs == 3
    assert replace(plain, adv="pgd", adv_epochs=1).base == replace(plain, adv=None)
    assert model_key(added) != model_key(plain)
    assert "capped layer at the output (beta 0.5, 1 epochs)" in added.label()
    trained = fit(plain, x, y, progress=False)
    untrained = fit(replace(added, added_epochs=0), x, y, base=trained, progress=False)
    assert np.array_equal(untrained.params, trained.with_capped_layer("output", 0.5).params)
    tuned = fit(added, x, y, base=trained, progress=False)
    assert len(tuned.layers) == len(trained.layers) + 1
    assert not np.array_equal(tuned.params, untrained.params)
    with pytest.raises(ValueError, match="pass it as base"):
        fit(added, x, y, progress=False)


def test_a_crown_ibp_spec_trains_against_crown_ibp_and_keeps_the_ibp_keys(mnist):
    """Spec(ibp_bound="crown-ibp") is ibp_train with CrownIBPMix: the same weights as train()
    with that objective and the same schedule, other weights than the IBP recipe, its own
    cache key; an IBP spec's key does not change by the new field."""
    from threadpoolctl import threadpool_limits

    from nprelu.crown_ibp import CrownIBPMix
    from nprelu.store import model_key

    (x, y), _ = mnist
    ibp = Spec((12,), epochs=2, n_train=200, batch_size=50, ibp_eps=0.1, ibp_warmup=0,
               ibp_ramp=1, lr_drops=(1,))
    crown = replace(ibp, ibp_bound="crown-ibp")
    got = fit(crown, x, y, progress=False)
    by_hand = nr.MLP((12,), seed=0)
    with threadpool_limits(1):  # fit's BLAS threads: the same sums, the same bits
        nr.train(by_hand, x[:200], y[:200], epochs=2, batch_size=50, seed=0, progress=False,
                 objective=CrownIBPMix(0.1, 0, 1, 0.5), lr_drops=(1,))
    assert np.array_equal(got.params, by_hand.params)
    assert not np.array_equal(got.params, fit(ibp, x, y, progress=False).params)
    assert model_key(crown) != model_key(ibp)
    assert model_key(ibp) == model_key(Spec(**{k: v for k, v in ibp.as_dict().items()
                                               if k != "ibp_bound"}))
    assert "CROWN-IBP-trained (eps 0.1)" in crown.label()
    with pytest.raises(ValueError, match="bound must be one of"):
        fit(replace(ibp, ibp_bound="lp"), x, y, progress=False)


def test_a_crown_ibp_only_spec_keeps_crown_ibp_s_share_at_one(mnist):
    """Spec(ibp_bound="crown-ibp-only") trains with CrownIBPMix(beta_end=1): CROWN-IBP's share of
    the bound is 1 at every eps_t (crown-ibp's falls to 0 at the full eps), so the weights differ
    from crown-ibp's once eps_t > 0, and the spec has its own key; beta_end outside [0, 1] is
    refused."""
    from threadpoolctl import threadpool_limits

    from nprelu.crown_ibp import CrownIBPMix
    from nprelu.store import model_key

    ramped, only = CrownIBPMix(0.1, 0, 2), CrownIBPMix(0.1, 0, 2, beta_end=1.0)
    assert [ramped.beta(e) for e in (0.0, 0.05, 0.1)] == [1.0, 0.5, 0.0]
    assert [only.beta(e) for e in (0.0, 0.05, 0.1)] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="beta_end"):
        CrownIBPMix(0.1, beta_end=1.5)
    (x, y), _ = mnist
    crown = Spec((12,), epochs=2, n_train=200, batch_size=50, ibp_eps=0.1, ibp_warmup=0,
                 ibp_ramp=1, lr_drops=(1,), ibp_bound="crown-ibp")
    pure = replace(crown, ibp_bound="crown-ibp-only")
    got = fit(pure, x, y, progress=False)
    by_hand = nr.MLP((12,), seed=0)
    with threadpool_limits(1):
        nr.train(by_hand, x[:200], y[:200], epochs=2, batch_size=50, seed=0, progress=False,
                 objective=CrownIBPMix(0.1, 0, 1, 0.5, beta_end=1.0), lr_drops=(1,))
    assert np.array_equal(got.params, by_hand.params)
    assert not np.array_equal(got.params, fit(crown, x, y, progress=False).params)
    assert model_key(pure) != model_key(crown)


@pytest.mark.parametrize("beta_end,name", [(None, "IBP"), (0.0, "mixed-bound"),
                                           (1.0, "CROWN-IBP")])
def test_the_progress_line_names_the_bound_it_counts_as_certified(capsys, beta_end, name):
    """The epoch line counts the inputs the trained-against bound certifies, and says which
    bound that is (a CROWN-IBP-trained net can have no IBP-certified input at all)."""
    from nprelu.crown_ibp import CrownIBPMix
    from nprelu.objectives import IBPMix

    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(40, 784)).astype(np.float32), rng.integers(0, 10, 40)
    objective = (IBPMix(0.1, 0, 1) if beta_end is None
                 else CrownIBPMix(0.1, 0, 1, beta_end=beta_end))
    nr.train(nr.MLP((8,), seed=0), x, y, epochs=1, batch_size=20, objective=objective,
             desc="t")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.endswith(" %") and f", {name}-certified " in line, line


def test_an_ibp_init_spec_starts_from_shi_et_al_s_weights_and_keeps_the_old_keys(mnist,
                                                                               monkeypatch):
    """Spec(ibp_init=True) is ibp_init, then the same IBP training; the field leaves the keys of
    every spec that does not set it as they were (a spec dict without the field keys the same)."""
    from threadpoolctl import threadpool_limits

    from nprelu.store import model_key
    from nprelu.train import ibp_init, ibp_train

    (x, y), _ = mnist
    ibp = Spec((12,), epochs=2, n_train=200, batch_size=50, ibp_eps=0.1, ibp_warmup=0,
               ibp_ramp=1, lr_drops=(1,))
    shi = replace(ibp, ibp_init=True)
    got = fit(shi, x, y, progress=False)
    by_hand = ibp_init(nr.MLP((12,), seed=0), seed=0)
    with threadpool_limits(1):
        ibp_train(by_hand, x[:200], y[:200], 0.1, epochs=2, batch_size=50, warmup=0, ramp=1,
                  lr_drops=(1,), seed=0, progress=False)
    assert np.array_equal(got.params, by_hand.params)
    assert not np.array_equal(got.params, fit(ibp, x, y, progress=False).params)
    assert model_key(shi) != model_key(ibp)
    key = model_key(ibp)
    old_dict = Spec.as_dict
    monkeypatch.setattr(Spec, "as_dict", lambda s: {k: v for k, v in old_dict(s).items()
                                                   if k != "ibp_init"})
    assert model_key(ibp) == key  # as if the field did not exist
    assert "Shi et al.'s init" in shi.label() and "init" not in ibp.label()
    with pytest.raises(ValueError, match="ibp_init is an initialisation for IBP training"):
        fit(Spec((12,), epochs=1, n_train=100, ibp_init=True), x, y, progress=False)
