"""Cross-check against foolbox 3.3.4, the tool whose CW defaults are the paper's CW settings
(needs the `compare` extra: torch==2.13.0 and foolbox==3.3.4).

Same trained net in both libraries (our weights copied into torch). CW: the inputs on which each
tool finds a misclassified point agree within a stated margin, foolbox returns the all-zero image
for every other input, and nprelu's reproduction of foolbox's accounting
(`cw_accuracies(...)["foolbox"]`) equals the accuracy of the net on the images foolbox returns.
FGSM and PGD: our robust accuracy equals foolbox's within a stated margin.
"""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import nprelu as nr
from tests.helpers import torch_sequential

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e .[compare])")
try:
    import foolbox as fb
except ImportError:
    pytest.skip("foolbox is not installed (pip install -e .[compare])", allow_module_level=True)
except AttributeError as err:  # its Brendel-Bethge attack builds a numba jitclass on import
    pytest.skip(f"foolbox cannot be imported with NUMBA_DISABLE_JIT=1 ({err})",
                allow_module_level=True)
pytestmark = pytest.mark.compare

N = 100  # the first 100 test inputs
CW = dict(steps=500, lr=0.01, initial_c=1e-3, binary_steps=9)  # the paper's, with 500 steps
MARGIN = 3  # genuine CW successes: the two tools may disagree on at most 3 of the 100 inputs


@pytest.fixture(scope="module", params=[0.1, None], ids=["beta0.1", "uncapped"])
def net(request, mnist):
    """A 784-128-64-10 net (HL2 capped at beta = 0.1, or uncapped), 3 epochs, seed 0."""
    (x, y), (xt, yt) = mnist
    beta = request.param
    model = nr.MLP((128, 64), caps={2: beta} if beta else None, seed=0)
    with threadpool_limits(1):
        nr.train(model, x, y, epochs=3, seed=0, progress=False)
    torch.set_num_threads(1)
    return beta, model, torch_sequential(model), xt[:N], yt[:N]


def _foolbox_cw(tnet, x, y):
    attack = fb.attacks.L2CarliniWagnerAttack(
        binary_search_steps=CW["binary_steps"], steps=CW["steps"], stepsize=CW["lr"],
        confidence=0, initial_const=CW["initial_c"], abort_early=True)
    raw, _, success = attack(fb.PyTorchModel(tnet, bounds=(0, 1)), torch.tensor(x),
                             torch.tensor(y), epsilons=None)
    return raw.numpy(), success.numpy()


def test_cw_agrees_with_foolbox_and_its_accounting_is_reproduced(net):
    beta, model, tnet, x, y = net
    with torch.no_grad():
        assert np.array_equal(tnet(torch.tensor(x)).argmax(1).numpy(), model.predict(x))
    returned, success_flag = _foolbox_cw(tnet, x, y)
    black = ~returned.any(axis=1)
    genuine = ~black  # foolbox replaced the zeros: it found a misclassified point
    # foolbox's `success` counts the black image whenever the net does not read it as y
    blk = nr.black_image_class(model)
    assert np.array_equal(success_flag, genuine | (black & (y != blk)))

    ours = nr.cw_l2(model, x, y, **CW)
    assert (ours.success != genuine).sum() <= MARGIN, (ours.success.sum(), genuine.sum())

    correct = model.predict(x) == y
    with torch.no_grad():  # the accuracy a foolbox user computes on what foolbox returned
        on_returned = 100 * float((tnet(torch.tensor(returned)).argmax(1).numpy() == y).mean())
    from_outcomes = nr.cw_accuracies(correct, genuine, y, blk)
    assert from_outcomes["foolbox"] == pytest.approx(on_returned, abs=1e-9)
    mine = nr.cw_accuracies(correct, ours.success, y, blk)
    assert abs(mine["foolbox"] - on_returned) <= MARGIN
    if beta is None:  # every input is broken for real: the accounting changes nothing
        assert genuine.all() and mine["honest"] == mine["foolbox"] == on_returned == 0
    else:  # the capped net masks: foolbox's count falls far below the honest one
        assert mine["honest"] - mine["foolbox"] > 40


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_fgsm_and_pgd_agree_with_foolbox(net, mnist, method):
    beta, model, tnet, _, _ = net
    _, (xt, yt) = mnist
    x, y = xt[:1000], yt[:1000]
    fmodel = fb.PyTorchModel(tnet, bounds=(0, 1))
    if method == "fgsm":
        attack, ours = fb.attacks.FGSM(random_start=False), nr.fgsm(model, x, y, 0.1)
    else:
        attack = fb.attacks.LinfPGD(abs_stepsize=0.01, steps=10, random_start=False)
        ours = nr.pgd(model, x, y, eps=0.1, step=0.01, iters=10)
    _, theirs, _ = attack(fmodel, torch.tensor(x), torch.tensor(y), epsilons=0.1)
    acc_theirs = 100 * nr.accuracy(model, theirs.numpy(), y)
    acc_ours = 100 * nr.accuracy(model, ours, y)
    assert abs(acc_ours - acc_theirs) <= 0.5, (acc_ours, acc_theirs)  # 5 of 1000 inputs
