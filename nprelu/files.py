"""Files on disk: atomic writes, and the model file format with the checks every model file gets.

Atomic write: the bytes go to a temporary file in the target's folder, which is then renamed
over the target (`os.replace`, atomic on POSIX). A reader sees the old file or the new one,
never half of one; an interrupted run leaves no truncated file behind. The file gets the mode a
plain `open(path, "w")` would give it (0666 minus the process umask), not mkstemp's 0600.

Model file (.npz, never pickled): one array `meta` holding a JSON object, and the weights.
- format 1, the paper's MLPs: W0, b0, W1, b1, ... of each dense layer (W: (in, out), b: (out,));
- format 2, any network of layers: meta["layers"] lists each layer's config (nprelu.layers),
  and "L{i}.{name}" holds parameter `name` of layer i (W, b, a learned cap's m).
`read_archive` refuses a file that is not such an archive (or a pickle, or an unknown format),
`check_array` an array of a wrong shape or with NaN or infinite weights, each saying which.
This module knows files, not models: nprelu.model (format 1) and nprelu.network (format 2)
check their own layout with these and build their models from what they read.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1  # the MLP format; networks of layers are format 2
META_KEYS = ("format_version", "hidden", "caps", "activation", "c", "seed", "n_in", "n_out")
NETWORK_KEYS = ("format_version", "input_shape", "layers", "seed")


class ModelFileError(ValueError):
    """A model file is missing, unreadable, or not a complete nprelu model."""


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc), else the classic
    set-and-restore."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def atomic_write(path: str | os.PathLike, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Write a file atomically: `write(f)` fills a temporary file, which is then renamed to
    `path`. Creates the parent folder. The file's mode is 0666 & ~umask, as for open()."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name such as {path}/model.npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def check_writable(path: str | os.PathLike) -> Path:
    """Fail now, not after hours of training, if `path` cannot be written as a file."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"--out {path} is a folder; give a file name such as "
                                f"{path / 'model.npz'}")
    parent = path.parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise NotADirectoryError(f"cannot write {path}: {probe} is a file, not a folder")
    if probe != parent:  # never create folders the user did not ask for (a typo, say)
        raise FileNotFoundError(f"cannot write {path}: the folder {parent} does not exist; "
                                f"create it first (mkdir -p {parent})")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {path}: no permission to write in {probe}")
    return path


def write_model_file(path: str | os.PathLike, meta: dict, arrays: dict[str, np.ndarray],
                     format_version: int = FORMAT_VERSION) -> Path:
    """Save `meta` (JSON-able) and named arrays as an uncompressed .npz, atomically."""
    payload = {"meta": np.array(json.dumps(dict(meta, format_version=format_version))),
               **arrays}
    return atomic_write(path, lambda f: np.savez(f, **payload))


def check_array(path: Path, name: str, a: np.ndarray, shape: tuple) -> None:
    """Refuse a parameter array of the wrong shape, a non-float dtype, or NaN/inf."""
    if a.shape != tuple(shape):
        raise ModelFileError(f"{path}: {name} has shape {a.shape}, expected {tuple(shape)}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ModelFileError(f"{path}: {name} has dtype {a.dtype}, expected float")
    bad = int(np.count_nonzero(~np.isfinite(a)))
    if bad:
        raise ModelFileError(f"{path}: {name} holds {bad} NaN or infinite weights; the "
                             "model is broken (did its training diverge?)")


def read_archive(path: Path) -> tuple[dict, dict]:
    """The JSON metadata and the arrays of a model file, checked as an archive. Never
    unpickles anything. Raises FileNotFoundError or ModelFileError naming what is wrong."""
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file (.npz)")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(6)
        what = "a single NumPy array (.npy)" if head == b"\x93NUMPY" else "not a zip archive"
        raise ModelFileError(f"{path} is {what}, not an nprelu model (.npz written by "
                             "MLP.save or `nprelu train --out`)")
    try:
        with np.load(path, allow_pickle=False) as f:
            names = set(f.files)
            if "meta" not in names:
                raise ModelFileError(f"{path} has no 'meta' entry: not an nprelu model file")
            meta = json.loads(str(f["meta"]))
            arrays = {k: f[k] for k in names - {"meta"}}
    except ModelFileError:
        raise
    except ValueError as err:
        if "pickle" in str(err):
            raise ModelFileError(f"{path} holds Python objects (pickled data), which nprelu "
                                 "never loads: not an nprelu model file") from None
        raise ModelFileError(f"{path} is damaged or not an nprelu model file: {err}") from None
    except (OSError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        raise ModelFileError(f"{path} is damaged or not an nprelu model file: {err}") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: 'meta' is not a JSON object")
    if "format_version" not in meta:
        raise ModelFileError(f"{path}: metadata lacks format_version; the file is incomplete "
                             "or from another program")
    if meta.get("format_version") not in (FORMAT_VERSION, 2):
        raise ModelFileError(f"{path}: model format {meta.get('format_version')!r}, this "
                             f"nprelu reads formats {FORMAT_VERSION} and 2")
    return meta, arrays
