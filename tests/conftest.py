import pytest

import nprelu as nr


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
