import gzip
import shutil

import numpy as np
import pytest

import nprelu as nr
from nprelu.data import FILES, default_dir, parse_idx


def test_mnist_shapes_ranges_and_known_statistics(mnist):
    (x, y), (xt, yt) = mnist
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0 and x.max() == 1
    assert set(np.unique(y)) == set(range(10))
    assert abs(float(x.mean()) - 0.1307) < 1e-3  # the well-known MNIST mean
    assert list(y[:5]) == [5, 0, 4, 1, 9] and list(yt[:5]) == [7, 2, 1, 0, 4]


def test_parse_idx_header():
    raw = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
    np.testing.assert_array_equal(parse_idx(raw), np.arange(6).reshape(2, 3))
    with pytest.raises(ValueError, match="magic"):
        parse_idx(bytes([0, 0, 9, 2]) + raw[4:])
    with pytest.raises(ValueError, match="truncated"):
        parse_idx(raw[:-1])


def _copy(tmp_path):
    for name in FILES:
        shutil.copy(default_dir() / name, tmp_path / name)
    return tmp_path


def test_missing_file_names_it_and_says_what_to_do(tmp_path):
    folder = _copy(tmp_path)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(nr.MNISTError, match="t10k-labels.*NPRELU_MNIST_DIR"):
        nr.load_mnist(folder)


def test_tampered_file_gives_both_checksums(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(nr.MNISTError, match=f"checksum mismatch.*{FILES[path.name][1]}"):
        nr.load_mnist(folder)


def test_truncated_gzip(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(nr.MNISTError, match="train-labels.*(corrupt|checksum)"):
        nr.load_mnist(folder)


def test_env_var_points_at_a_copy(tmp_path, monkeypatch):
    folder = _copy(tmp_path)
    monkeypatch.setenv("NPRELU_MNIST_DIR", str(folder))
    assert default_dir() == folder


def test_fashion_mnist_shapes_and_known_statistics():
    (x, y), (xt, yt) = nr.load_dataset("fashion-mnist")
    assert x.shape == (60000, 784) and xt.shape == (10000, 784) and x.dtype == np.float32
    assert abs(float(x.mean()) - 0.2860) < 1e-3  # the published Fashion-MNIST mean
    assert np.array_equal(np.bincount(yt), np.full(10, 1000))  # 1000 test images per class
    assert not np.array_equal(x[:100], nr.load_mnist()[0][0][:100])


def test_a_tampered_fashion_mnist_file_is_refused_and_named(tmp_path):
    from nprelu.data import DATASETS

    for name in DATASETS["fashion-mnist"][2]:
        shutil.copy(default_dir("fashion-mnist") / name, tmp_path / name)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[50] = (raw[50] + 1) % 10
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(nr.MNISTError, match="checksum mismatch.*data/fashion-mnist"):
        nr.load_dataset("fashion-mnist", tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(nr.MNISTError, match="Fashion-MNIST file not found.*"
                                            "NPRELU_FASHION_MNIST_DIR"):
        nr.load_dataset("fashion-mnist", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'; choose from mnist"):
        nr.load_dataset("cifar10")


@pytest.mark.slow
def test_a_model_is_refused_on_another_dataset_than_its_own(cli, tmp_path):
    out = tmp_path / "f.npz"
    code, _, _ = cli("train", "--dataset", "fashion-mnist", "--hidden", "16", "--epochs", "1",
                     "--out", out)
    assert code == 0 and nr.load_model(out).dataset == "fashion-mnist"
    code, _, err = cli("eval", out)
    assert code == 2 and "was trained on fashion-mnist; evaluating it on mnist" in err
    assert "--dataset fashion-mnist" in err
    code, stdout, _ = cli("eval", out, "--dataset", "fashion-mnist")
    assert code == 0 and "test accuracy" in stdout
    code, _, err = cli("attack", out, "-n", "10")
    assert code == 2 and "was trained on fashion-mnist" in err
