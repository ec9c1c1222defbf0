"""Certification: IBP, CROWN and MILP bounds must be sound (no point of the box beats them),
tight where they claim to be exact, and consistent with every attack."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nprelu as nr
from nprelu import certify as C
from nprelu.apgd import apgd

CAPS = st.sampled_from([{}, {1: 0.5}, {2: 0.3}, {1: 0.4, 2: 0.6}, {1: 0.05, 2: 2.0}])


def random_net(seed, caps, n_in=8, hidden=(6, 5), n_out=4, scale=1.0):
    m = nr.MLP(hidden, caps=caps, n_in=n_in, n_out=n_out, seed=seed, dtype=np.float64)
    m.params[...] = np.random.default_rng(seed).normal(size=m.params.shape) * scale
    return m


def sampled_margins(model, x, y, eps, n=10_000, seed=0):
    """Margins z_y - max_{j != y} z_j at n points of the box: uniform, and its corners."""
    rng = np.random.default_rng(seed)
    lo, hi = C.input_box(x[None], eps)
    t = rng.random((n, x.size))
    t[: n // 2] = t[: n // 2] > 0.5  # half of the points on vertices of the box
    pts = lo + t * (hi - lo)
    logits = model.logits(pts)
    return logits[:, y] - np.delete(logits, y, axis=1).max(axis=1)


def violations(model, x, y, eps, margins_fn) -> int:
    """How many sampled points have a smaller margin than the certified lower bound."""
    bound = margins_fn(model, x[None], np.array([y]), eps)[0].min()
    return int(np.sum(sampled_margins(model, x, y, eps) < bound - 1e-9))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), caps=CAPS, eps=st.floats(0.01, 0.4))
def test_no_sampled_point_beats_a_certified_bound(seed, caps, eps):
    model = random_net(seed, caps)
    x = np.random.default_rng(seed).uniform(size=8)
    y = int(model.predict(x[None])[0])
    assert violations(model, x, y, eps, C.ibp_margins) == 0
    assert violations(model, x, y, eps, C.crown_margins) == 0


def test_an_unsound_relaxation_is_caught_by_the_sampling_test(monkeypatch):
    """Negative control: swap the lower and upper lines of every neuron that crosses a kink;
    the sampling test above must then find points below the 'bound'."""
    sound = C.relaxation

    def swapped(beta, l, u):
        aL, bL, aU, bU = sound(beta, l, u)
        return aU, bU, aL, bL

    monkeypatch.setattr(C, "relaxation", swapped)
    caught = 0
    for seed in range(20):
        model = random_net(seed, {1: 0.4, 2: 0.6})
        x = np.random.default_rng(seed).uniform(size=8)
        y = int(model.predict(x[None])[0])
        caught += violations(model, x, y, 0.3, C.crown_margins) > 0
    assert caught >= 10


def test_relaxation_lines_enclose_the_capped_relu_in_all_six_cases():
    rng = np.random.default_rng(0)
    for beta in (0.1, 1.0, np.inf):
        l = rng.normal(size=5000) * 2
        u = l + np.abs(rng.normal(size=5000)) * 2
        aL, bL, aU, bU = C.relaxation(beta, l, u)
        z = l + rng.random(5000) * (u - l)
        a = np.clip(z, 0, beta)
        assert np.all(aL * z + bL <= a + 1e-12) and np.all(a <= aU * z + bU + 1e-12)
        exact = (u <= 0) | (l >= beta) | ((l >= 0) & (u <= beta))
        np.testing.assert_allclose((aL * z + bL)[exact], a[exact])
        np.testing.assert_allclose((aU * z + bU)[exact], a[exact])


def exact_min_margin_2d(model, x, y, eps, n_grid=401):
    """The smallest margin over the box of a one-hidden-layer net with 2 inputs, by search: a
    dense grid plus every vertex of the arrangement of the neurons' kink lines (z_k = 0 and
    z_k = beta) and the box's edges, where a piecewise-linear function takes its minimum."""
    lo, hi = (v[0] for v in C.input_box(x[None], eps))
    W, b = model.dense[0].W, model.dense[0].b
    beta = model.acts[0].beta
    lines = [(W[:, k], level - b[k]) for k in range(W.shape[1])
             for level in ([0.0] + ([beta] if np.isfinite(beta) else []))]
    lines += [(np.eye(2)[d], v[d]) for d in range(2) for v in (lo, hi)]
    pts = [np.array(c) for c in itertools.product(*zip(lo, hi))]
    for (n1, c1), (n2, c2) in itertools.combinations(lines, 2):
        A = np.array([n1, n2])
        if abs(np.linalg.det(A)) > 1e-12:
            p = np.linalg.solve(A, [c1, c2])
            if np.all(p >= lo - 1e-12) and np.all(p <= hi + 1e-12):
                pts.append(np.clip(p, lo, hi))
    grid = np.stack(np.meshgrid(*(np.linspace(lo[d], hi[d], n_grid) for d in range(2))), -1)
    P = np.concatenate([grid.reshape(-1, 2), np.array(pts)])
    logits = model.logits(P)
    return float((logits[:, y] - np.delete(logits, y, axis=1).max(axis=1)).min())


@pytest.mark.parametrize("caps", [{}, {1: 0.5}, {1: 0.2}])
@pytest.mark.parametrize("seed", range(5))
def test_milp_equals_an_exhaustive_search_on_a_two_input_net(caps, seed):
    model = random_net(seed, caps, n_in=2, hidden=(7,), n_out=3, scale=1.5)
    x = np.random.default_rng(seed).uniform(0.2, 0.8, size=2)
    y = int(model.predict(x[None])[0])
    res = C.milp_margin(model, x, y, 0.2)
    assert res.status in ("robust", "not robust")
    assert abs(res.margin - exact_min_margin_2d(model, x, y, 0.2)) < 1e-6


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), caps=CAPS, eps=st.floats(0.02, 0.3))
def test_milp_lies_between_the_bounds_and_the_best_attack(seed, caps, eps):
    model = random_net(seed, caps)
    x = np.random.default_rng(seed).uniform(size=8)
    y = int(model.predict(x[None])[0])
    res = C.milp_margin(model, x, y, eps, time_limit=60)
    assert res.margin is not None
    ib = C.ibp_margins(model, x[None], np.array([y]), eps)[0].min()
    cr = C.crown_margins(model, x[None], np.array([y]), eps)[0].min()
    assert res.margin >= max(ib, cr) - 1e-7
    attacked = apgd(model, x[None], np.array([y]), eps, iters=50, loss="ce", seed=seed).x_adv
    logits = model.logits(attacked)[0]
    assert res.margin <= logits[y] - np.delete(logits, y).max() + 1e-7
    assert res.margin <= sampled_margins(model, x, y, eps).min() + 1e-7
    assert (res.status == "robust") == (res.margin > 0)
    if res.status == "not robust":  # the counterexample is real, and inside the box
        lo, hi = C.input_box(x[None], eps)
        w = res.witness
        assert np.all(w >= lo[0] - 1e-9) and np.all(w <= hi[0] + 1e-9)
        logits = model.logits(np.clip(w, lo[0], hi[0])[None])[0]
        assert logits[y] - np.delete(logits, y).max() <= 1e-7


@pytest.fixture(scope="module")
def small_trained(mnist):
    """A 784-32-16 net trained for 2 epochs, small enough for the MILP."""
    (x, y), _ = mnist
    model = nr.MLP((32, 16), seed=0)
    nr.train(model, x[:20000], y[:20000], epochs=2, progress=False)
    return model


@pytest.mark.slow
def test_certified_inputs_are_never_broken_and_crown_beats_ibp_on_a_natural_net(
        mnist, small_trained):
    _, (xt, yt) = mnist
    x, y = xt[:300], yt[:300]
    model = small_trained
    for eps in (0.005, 0.02):
        cert = C.certify(model, x, y, eps)
        assert cert.crown.sum() >= cert.ibp.sum()
        assert cert.certified.sum() > 0
        for adv in (nr.fgsm(model, x, y, eps), nr.pgd(model, x, y, eps, eps / 4, 20),
                    apgd(model, x, y, eps, iters=50).x_adv,
                    apgd(model, x, y, eps, iters=50, loss="dlr").x_adv):
            broken = model.predict(adv) != y
            assert not np.any(broken & cert.certified)


@pytest.mark.slow
def test_milp_decides_inputs_of_a_small_trained_net(mnist, small_trained):
    _, (xt, yt) = mnist
    model, eps = small_trained, 0.02
    decided = 0
    for i in range(10):
        res = C.milp_margin(model, xt[i], int(yt[i]), eps, time_limit=20)
        crown = C.crown_margins(model, xt[i : i + 1], yt[i : i + 1], eps)[0].min()
        if res.margin is not None:
            decided += 1
            assert res.margin >= crown - 1e-7
    assert decided >= 8
