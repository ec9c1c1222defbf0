"""Files written through the atomic temp-then-rename path get the mode a plain open() would
give them (0666 minus the umask), not mkstemp's 0600, and leave no temporary file behind."""

import os
import stat

import numpy as np
import pytest

import nprelu as nr
from nprelu.context import make_context
from nprelu.files import atomic_write_bytes
from nprelu.plotting import figure


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_every_atomic_write_honours_the_umask(tmp_path, umask):
    want = 0o666 & ~umask
    plain = tmp_path / "plain.txt"
    with open(plain, "w") as f:
        f.write("x")
    assert mode(plain) == want  # what any normal write gives
    assert mode(atomic_write_bytes(tmp_path / "a.bin", b"x")) == want
    assert mode(nr.MLP((4,), seed=0).save(tmp_path / "m.npz")) == want
    ctx = make_context(quick=True, results=tmp_path / "res", cache=tmp_path / "cache")
    ctx.records({"r": (sum, [1])})
    assert mode(ctx.store.record_path("r")) == want
    fig, ax = figure()
    ax.plot([0, 1])
    ctx.figure(fig, "f")
    assert mode(ctx.results / "f.png") == want
    ctx.text("t.md", "x")
    assert mode(ctx.results / "t.md") == want
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_train_command_output_mode(cli, tmp_path, umask):
    out = tmp_path / "m.npz"
    code, _, _ = cli("train", "--hidden", "4", "--epochs", "1", "--out", out)
    assert code == 0 and mode(out) == 0o666 & ~umask
    assert np.all(np.isfinite(nr.MLP.load(out).params))
