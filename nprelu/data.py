"""The datasets, MNIST and Fashion-MNIST, from their four IDX files, parsed by hand and checked
byte for byte.

An IDX file is a tiny header followed by raw bytes:

    magic (4 bytes, big-endian): 0x00 0x00 <dtype code> <number of dimensions>
    one uint32 (big-endian) per dimension
    the data, row-major

Images are dtype code 0x08 (uint8) with 3 dimensions (N, 28, 28); labels are uint8 with one
dimension (N,). We verify the SHA-256 of the *decompressed* bytes against the table in the
dataset's data/<name>/README.md, so a truncated or tampered file is refused instead of silently
loading. Both datasets have 60000 training and 10000 test images of 28 x 28 pixels, 10 classes.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "data"
ENV_VAR = "NPRELU_MNIST_DIR"

# dataset -> its folder's name, the environment variable that points elsewhere, and
# {file: (decompressed size in bytes, sha256 of the decompressed bytes)}
DATASETS = {
    "mnist": ("mnist", "NPRELU_MNIST_DIR", {
        "train-images-idx3-ubyte.gz": (
            47040016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        "train-labels-idx1-ubyte.gz": (
            60008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        "t10k-images-idx3-ubyte.gz": (
            7840016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        "t10k-labels-idx1-ubyte.gz": (
            10008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    }),
    "fashion-mnist": ("fashion-mnist", "NPRELU_FASHION_MNIST_DIR", {
        "train-images-idx3-ubyte.gz": (
            47040016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        "train-labels-idx1-ubyte.gz": (
            60008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        "t10k-images-idx3-ubyte.gz": (
            7840016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        "t10k-labels-idx1-ubyte.gz": (
            10008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    }),
}
FILES = DATASETS["mnist"][2]
CLASSES = {"mnist": [str(d) for d in range(10)],
           "fashion-mnist": ["T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal",
                             "shirt", "sneaker", "bag", "ankle boot"]}


def check_dataset(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return name


def readme(dataset: str = "mnist") -> str:
    path = DATA / DATASETS[dataset][0] / "README.md"
    return str(path) if path.exists() else f"data/{DATASETS[dataset][0]}/README.md of nprelu"


README = readme("mnist")


class MNISTError(ValueError):
    """A data file is missing, unreadable, corrupt or not what we expect."""


def default_dir(dataset: str = "mnist") -> Path:
    """The dataset's environment variable (`$NPRELU_MNIST_DIR`, `$NPRELU_FASHION_MNIST_DIR`)
    if set, else its folder under data/ of this repository."""
    folder, env_var, _ = DATASETS[check_dataset(dataset)]
    env = os.environ.get(env_var)
    return Path(env) if env else DATA / folder


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes of unsigned bytes (dtype code 0x08) into an array of its stated shape."""
    if len(raw) < 4:
        raise MNISTError(f"{name}: only {len(raw)} bytes, too short for an IDX header")
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or code != 0x08 or not 1 <= ndim <= 4:
        raise MNISTError(
            f"{name}: bad IDX magic number {raw[:4].hex()} (expected 000008 then 01..04); "
            "is this an uncompressed MNIST IDX file?"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise MNISTError(f"{name}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise MNISTError(
            f"{name}: header says shape {dims} ({expected} bytes) but the file holds {len(raw)} "
            "bytes; the file is truncated or padded"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read_checked(path: Path, dataset: str = "mnist") -> bytes:
    folder, env_var, files = DATASETS[dataset]
    size, sha = files[path.name]
    title = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}[dataset]
    if not path.exists():
        raise MNISTError(
            f"{title} file not found: {path}. The four IDX .gz files belong there (which ones, "
            f"and their checksums: {readme(dataset)}); or point ${env_var} (or "
            "path=...) at a folder that has them."
        )
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise MNISTError(
            f"{path}: cannot decompress ({err}); the file is corrupt or truncated. "
            f"Restore it from the repository (git checkout -- data/{folder}) or replace it with "
            f"the file listed in {readme(dataset)}."
        ) from err
    actual = hashlib.sha256(raw).hexdigest()
    if actual != sha or len(raw) != size:
        raise MNISTError(
            f"{path}: checksum mismatch. Expected sha256 {sha} ({size} bytes) of the "
            f"decompressed contents, got {actual} ({len(raw)} bytes). The file was modified or "
            f"damaged; restore it from the repository (git checkout -- data/{folder}) or replace "
            f"it with the file listed in {readme(dataset)}."
        )
    return raw


def load_split(folder: Path, split: str, dataset: str = "mnist"
               ) -> tuple[np.ndarray, np.ndarray]:
    """Load one split ('train' or 't10k'): images (N, 784) float32 in [0, 1], labels (N,) int64."""
    img_name = f"{split}-images-idx3-ubyte.gz"
    lab_name = f"{split}-labels-idx1-ubyte.gz"
    images = parse_idx(_read_checked(folder / img_name, dataset), img_name)
    labels = parse_idx(_read_checked(folder / lab_name, dataset), lab_name)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise MNISTError(
            f"{folder}: images {images.shape} and labels {labels.shape} do not match"
        )
    x = images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0)
    return x, labels.astype(np.int64)


_CACHE: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}


def load_split_of(dataset: str, split: str, path: str | os.PathLike | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """One split of a dataset, "train" (60000 images) or "test" (10000): x float32 (N, 784)
    in [0, 1] and y int64 (N,). Only that split's two files are read. Cached per folder for the
    life of the process (the arrays are read-only)."""
    check_dataset(dataset)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(path) if path is not None else default_dir(dataset)
    key = (dataset, str(folder.resolve()), split)
    if key not in _CACHE:
        x, y = load_split(folder, "train" if split == "train" else "t10k", dataset)
        x.setflags(write=False)
        y.setflags(write=False)
        _CACHE[key] = (x, y)
    return _CACHE[key]


def shuffle_split(n: int, test_fraction: float, random_state: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices) of n items, the split scikit-learn's
    `train_test_split(..., test_size=test_fraction, random_state=random_state)` makes, without
    scikit-learn: its ShuffleSplit takes ceil(test_fraction n) test items, the first ones of
    numpy.random.RandomState(random_state).permutation(n), then the next floor((1 -
    test_fraction) n) as training items, both in permutation order.

    The D-ReLU authors select their evaluation images (test_size 0.1 of the test set) and their
    validation split (0.2 of the training set) this way with random_state 42; reproducing their
    selection is the one place a legacy RandomState is used instead of a Generator."""
    n = int(n)
    if n < 2 or not 0 < test_fraction < 1:
        raise ValueError(f"shuffle_split needs n >= 2 and 0 < test_fraction < 1, got n={n}, "
                         f"test_fraction={test_fraction}")
    n_test = math.ceil(test_fraction * n)
    n_train = math.floor((1 - test_fraction) * n)
    perm = np.random.RandomState(random_state).permutation(n)
    return perm[n_test:n_test + n_train], perm[:n_test]


def load_dataset(dataset: str = "mnist", path: str | os.PathLike | None = None
                 ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((x_train, y_train), (x_test, y_test)) of "mnist" or "fashion-mnist"."""
    return load_split_of(dataset, "train", path), load_split_of(dataset, "test", path)


def load_mnist_split(split: str, path: str | os.PathLike | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """One split of MNIST (see load_split_of)."""
    return load_split_of("mnist", split, path)


def load_mnist(
    path: str | os.PathLike | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return ((x_train, y_train), (x_test, y_test)).

    x: float32 (N, 784) in [0, 1]; y: int64 (N,) in 0..9. N = 60000 and 10000.
    `path` (or $NPRELU_MNIST_DIR) points at a folder with the four .gz files.
    """
    return load_dataset("mnist", path)
