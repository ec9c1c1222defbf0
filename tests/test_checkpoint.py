"""Checkpoints (nprelu.checkpoint): a training run stopped between any two steps resumes after
its last finished epoch and ends with the weights of a run never stopped; a checkpoint of
another run, or a damaged one, is refused with an error that says what to do."""

from dataclasses import replace

import numpy as np
import pytest

import nprelu as nr
from nprelu import paper
from nprelu.checkpoint import CheckpointError, seconds_done
from nprelu.optim import Adam
from nprelu.store import Store
from nprelu.train import Spec, fit, ibp_train


def _toy(seed=0, n=120):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > x[:, 1]).astype(np.int64)
    return x, y


class Stop(Exception):
    """Stands for a crash or Ctrl-C in the middle of an epoch."""


def stop_at_step(monkeypatch, t_stop: int) -> None:
    """Make Adam's step number t_stop raise Stop (before it changes anything)."""
    step = Adam.step

    def stopping(self, grads):
        if self.t + 1 == t_stop:
            raise Stop
        step(self, grads)

    monkeypatch.setattr(Adam, "step", stopping)


def no_step(monkeypatch) -> None:
    """Make any step of Adam raise Stop: a run that must not train any more."""
    def stopping(self, grads):
        raise Stop

    monkeypatch.setattr(Adam, "step", stopping)


IBP = dict(eps=0.1, epochs=5, batch_size=16, warmup=1, ramp=2, lr_drops=(3,), seed=4,
           progress=False)  # 8 steps per epoch; the eps ramp and a drop of lr across the stop


@pytest.mark.parametrize("t_stop", [1, 20, 33, 40])  # in epochs 1, 3, 5 and at 5's last step
def test_a_stopped_run_resumes_to_the_weights_of_a_run_never_stopped(tmp_path, monkeypatch,
                                                                     t_stop, capsys):
    x, y = _toy()
    whole = nr.MLP((8,), seed=0, n_in=4)
    h_whole = ibp_train(whole, x, y, **IBP)

    ckpt = tmp_path / "run.ckpt"
    stopped = nr.MLP((8,), seed=0, n_in=4)
    with monkeypatch.context() as m:
        stop_at_step(m, t_stop)
        with pytest.raises(Stop):
            ibp_train(stopped, x, y, checkpoint=ckpt, **IBP)
    done = (t_stop - 1) // 8  # epochs finished before the stop
    assert ckpt.exists() == (done > 0)
    spent = seconds_done(ckpt)  # the training time of the stopped run's finished epochs ...
    assert (spent > 0) == (done > 0)
    resumed = nr.MLP((8,), seed=0, n_in=4)
    h_resumed = ibp_train(resumed, x, y, checkpoint=ckpt, **{**IBP, "progress": True})
    assert seconds_done(ckpt) > spent  # ... carried on by the resumed run
    assert ("resuming after epoch" in capsys.readouterr().out) == (done > 0)
    np.testing.assert_array_equal(resumed.params, whole.params)
    assert h_resumed == h_whole
    assert not np.array_equal(whole.params, nr.MLP((8,), seed=0, n_in=4).params)


def test_a_finished_checkpoint_gives_back_the_trained_weights_without_training(tmp_path,
                                                                              monkeypatch):
    x, y = _toy()
    ckpt = tmp_path / "run.ckpt"
    first = nr.MLP((8,), seed=0, n_in=4)
    ibp_train(first, x, y, checkpoint=ckpt, **IBP)
    again = nr.MLP((8,), seed=0, n_in=4)
    with monkeypatch.context() as m:
        no_step(m)  # any step taken would raise
        ibp_train(again, x, y, checkpoint=ckpt, **IBP)
    np.testing.assert_array_equal(again.params, first.params)


@pytest.mark.parametrize("change, named", [
    (dict(seed=5), "seed"),
    (dict(epochs=6), "epochs"),
    (dict(lr_drops=(2,)), "lr_drops"),
    (dict(eps=0.2), "objective"),  # another eps: the IBP mix's eps is not in the identity ...
])
def test_a_checkpoint_of_another_run_is_refused_naming_what_differs(tmp_path, change, named):
    x, y = _toy()
    ckpt = tmp_path / "run.ckpt"
    ibp_train(nr.MLP((8,), seed=0, n_in=4), x, y, checkpoint=ckpt, **{**IBP, "epochs": 1})
    other = {**IBP, "epochs": 1, **change}
    if named == "objective":  # ... so the same eps but a plain objective stands in for it
        with pytest.raises(CheckpointError, match="objective"):
            nr.train(nr.MLP((8,), seed=0, n_in=4), x, y, epochs=1, batch_size=16, seed=4,
                     progress=False, desc="IBP training", checkpoint=ckpt)
        return
    with pytest.raises(CheckpointError, match=rf"another run: .*{named}.*Delete it"):
        ibp_train(nr.MLP((8,), seed=0, n_in=4), x, y, checkpoint=ckpt, **other)


def test_a_checkpoint_of_other_data_or_other_starting_weights_is_refused(tmp_path):
    x, y = _toy()
    ckpt = tmp_path / "run.ckpt"
    ibp_train(nr.MLP((8,), seed=0, n_in=4), x, y, checkpoint=ckpt, **{**IBP, "epochs": 1})
    x2 = x.copy()
    x2[0, 0] = 1 - x2[0, 0]
    with pytest.raises(CheckpointError, match="data"):
        ibp_train(nr.MLP((8,), seed=0, n_in=4), x2, y, checkpoint=ckpt, **{**IBP, "epochs": 1})
    with pytest.raises(CheckpointError, match="start"):
        ibp_train(nr.MLP((8,), seed=1, n_in=4), x, y, checkpoint=ckpt, **{**IBP, "epochs": 1})


@pytest.mark.parametrize("damage", ["junk", "truncated", "nan"])
def test_a_damaged_checkpoint_is_refused_with_what_to_do(tmp_path, damage):
    x, y = _toy()
    ckpt = tmp_path / "run.ckpt"
    ibp_train(nr.MLP((8,), seed=0, n_in=4), x, y, checkpoint=ckpt, **{**IBP, "epochs": 1})
    if damage == "junk":
        ckpt.write_bytes(b"not a checkpoint")
    elif damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[:300])
    else:
        with np.load(ckpt) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["params"][3] = np.nan
        with open(ckpt, "wb") as f:
            np.savez(f, **arrays)
    with pytest.raises(CheckpointError, match=r"Delete it|delete it"):
        ibp_train(nr.MLP((8,), seed=0, n_in=4), x, y, checkpoint=ckpt, **{**IBP, "epochs": 1})


def test_fit_resumes_a_cnn_s_ibp_training_and_the_store_deletes_the_checkpoint(mnist, tmp_path,
                                                                           monkeypatch):
    """The recipe of the CNN that needs checkpoints (hours of IBP training), small: stopped in
    its second epoch, fit resumes it to the weights of an unstopped run; saving the model
    removes the checkpoint."""
    (x, y), _ = mnist
    spec = Spec((8,), convs=((2, 3, 2), (3, 3, 2)), n_train=96,
                **{**paper.ibp_recipe(3), "ibp_ramp": 1, "lr_drops": (2,), "batch_size": 32})
    whole = fit(spec, x, y, progress=False)
    store = Store(tmp_path / "cache", tmp_path / "records")
    ckpt = store.checkpoint_path(spec)
    assert ckpt.suffix == ".ckpt"  # never taken for a model by a listing of *.npz
    with monkeypatch.context() as m:
        stop_at_step(m, 5)  # 3 steps per epoch: in epoch 2
        with pytest.raises(Stop):
            fit(spec, x, y, progress=False, checkpoint=ckpt)
    assert ckpt.exists()
    resumed = fit(spec, x, y, progress=False, checkpoint=ckpt)
    np.testing.assert_array_equal(resumed.params, whole.params)
    store.save_model(spec, resumed)
    assert store.has_model(spec) and not ckpt.exists()
    assert not np.array_equal(whole.params, fit(replace(spec, epochs=0, ibp_eps=0.0), x, y,
                                                progress=False).params)


def _early_stopping_run(checkpoint=None, progress=False):
    """D-ReLU's recipe (nprelu.train.train_early_stopping) on a toy: a learned cap with its
    penalty and own learning rate; validation labels flipped, so the validation loss soon
    rises: the plateau rule halves lr, and early stopping ends the run and restores the best
    epoch's weights, all within a few epochs of 10 steps."""
    from nprelu.objectives import CapPenalty
    from nprelu.train import train_early_stopping

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = np.clip(0.5 + 0.15 * (2 * y[:, None] - 1) + 0.2 * rng.normal(size=(200, 6)), 0, 1)
    x = x.astype(np.float32)
    net = nr.Network.dense((8,), lambda u: nr.LearnedCap(u, init=2.0), seed=0, n_in=6, n_out=2)
    h = train_early_stopping(net, x, y, x[:100], 1 - y[:100], max_epochs=50, batch_size=20,
                             lr=1e-2, patience=5, lr_patience=2, min_lr=1e-3,
                             penalties=[CapPenalty(1e-3, hl=1)], cap_lr=3e-2, seed=3,
                             progress=progress, checkpoint=checkpoint)
    return net, h


def test_an_early_stopped_run_resumes_to_the_same_stop_and_the_same_best_weights(
        tmp_path, monkeypatch, capsys):
    whole, h_whole = _early_stopping_run()
    assert 4 < h_whole["stopped"] < 50 and h_whole["best_epoch"] < h_whole["stopped"] - 1
    assert min(h_whole["lr"]) < max(h_whole["lr"])  # the plateau rule acted
    steps_done = 10 * h_whole["stopped"]
    # stopped in epoch 2, in the epoch after the best one, in the last two epochs; resumed
    for t_stop in (15, 10 * h_whole["best_epoch"] + 5, steps_done - 15, steps_done - 3):
        ckpt = tmp_path / f"stop{t_stop}.ckpt"
        with monkeypatch.context() as m:
            stop_at_step(m, t_stop)
            with pytest.raises(Stop):
                _early_stopping_run(ckpt)
        resumed, h_resumed = _early_stopping_run(ckpt, progress=True)
        assert "resuming after epoch" in capsys.readouterr().out
        np.testing.assert_array_equal(resumed.params, whole.params)
        assert h_resumed == h_whole
        with monkeypatch.context() as m:  # a finished run's checkpoint: no step is taken again
            no_step(m)
            again, h_again = _early_stopping_run(ckpt)
        np.testing.assert_array_equal(again.params, whole.params)
        assert h_again == h_whole
