import pytest

import nprelu as nr
from nprelu.cli import main
from nprelu.reproduce import reproduce


@pytest.fixture(scope="session")
def mnist():
    return nr.load_mnist()


@pytest.fixture(scope="session")
def trained_general(mnist):
    """An uncapped (392, 196) net trained for 3 epochs; shared by the slow tests of a session."""
    (x, y), _ = mnist
    model = nr.MLP((392, 196), seed=0)
    nr.train(model, x, y, epochs=3, batch_size=32, seed=0, progress=False)
    return model


@pytest.fixture
def cli(capsys):
    """Run `nprelu ARGS...` in this process: returns (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            main([str(a) for a in argv])
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def tiny_model_file(tmp_path):
    """A small saved model (784 -> 16 -> 10), for command-line tests that need one."""
    return nr.MLP((16,), seed=0).save(tmp_path / "tiny.npz")


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """`nprelu reproduce --quick` once per session: (root, results, cache, README path).

    On a LocalCluster of two workers when Dask is installed (twice as fast on two cores); its
    records are compared with the pre-redesign records, made serially, bit for bit."""
    try:
        import dask.distributed  # noqa: F401

        workers = 2
    except ImportError:
        workers = None
    root = tmp_path_factory.mktemp("quick")
    res, cache = root / "results", root / "cache"
    readme = reproduce(quick=True, results=res, cache=cache, workers=workers)
    return root, res, cache, readme


@pytest.fixture(scope="session")
def quick_book(quick_run, tmp_path_factory):
    """`nprelu book --quick` over the session's quick run: every chapter executed as a
    notebook in a Jupyter kernel, then rendered. Returns the site folder."""
    pytest.importorskip("nbconvert", reason="needs the book extra: pip install -e .[book]")
    from nprelu.book import build

    _, res, cache, _ = quick_run
    out = tmp_path_factory.mktemp("site")
    build(quick=True, out=out, results=res, cache=cache)
    return out


@pytest.fixture(scope="session")
def small_trained(mnist):
    """A 784-32-16 net trained for 2 epochs, small enough for the MILP
    (test_certify, test_alpha_crown)."""
    (x, y), _ = mnist
    model = nr.MLP((32, 16), seed=0)
    nr.train(model, x[:20000], y[:20000], epochs=2, progress=False)
    return model
