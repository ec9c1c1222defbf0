"""Where results live: the model cache and the JSON records.

Model cache: one .npz per trained model, named by `model_key(spec)`, a hash of the model's whole
recipe (nprelu.train.Spec, the BLAS thread count included) and CODE_VERSION. A finished model is
never trained twice; an interrupted run resumes from what is on disk. A cached file that cannot
be read is moved aside (to NAME.corrupt) with a message, and the model is trained again.

Records: one JSON file per measurement (results/records/NAME.json): the numbers, the config
they were computed from (the function's name and a description of its arguments: model keys,
array shapes and hashes, settings), the wall time and the package versions. A record is reused
only when its config matches exactly; anything else recomputes it. A record function whose
numbers change declares it with `fn.version = 2` (3, ...), which enters the config. Every file
is written atomically (nprelu.files).
"""

from __future__ import annotations

import hashlib
import json
import platform
import threading
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path

import numpy as np

from . import blas
from .files import ModelFileError, atomic_write_bytes
from .model import load_model
from .network import Network
from .progress import say
from .train import Spec
from .version import VERSION

# Bump when a change to training code changes what a cached model contains.
CODE_VERSION = 1
# Spec fields added after the first models were cached: part of a model's key only when they
# differ from their defaults, so the keys of the models made before them stay valid.
ADDED_LATER = ("ibp_eps", "ibp_warmup", "ibp_ramp", "ibp_kappa", "lr_drops", "dataset",
               "learned_caps", "cap_lam", "patience", "cap_lr", "convs", "conv_init", "added",
               "added_beta", "added_epochs", "ibp_bound", "ibp_init")
_LOG_LOCK = threading.Lock()


def model_key(spec: Spec) -> str:
    """12 hex digits naming the cache file of `spec` (any field changes it), on this machine's
    BLAS kernel (nprelu.blas: its fingerprint enters the key unless it is the kernel of the
    committed results). Fields added to Spec later count only when they differ from their
    defaults, so older keys stay valid."""
    defaults = type(spec)(hidden=spec.hidden).as_dict()
    fields = {k: v for k, v in spec.as_dict().items() if k not in ADDED_LATER or v != defaults[k]}
    kernel = blas.tag()
    if kernel is not None:
        fields["blas"] = kernel
    blob = json.dumps([fields, CODE_VERSION], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def net_tag(beta: float | None, training: str | None, seed: int) -> str:
    """The part of a record name that says which Table 1-style net it is about, e.g.
    "0.01_clean_seed0" (beta None = uncapped, training None = clean). Chapters that share
    records (ch9's attack ensemble, reused by ch10) name them through this one function."""
    return f"{beta or 'none'}_{training or 'clean'}_seed{seed}"


def ensemble_record(beta: float | None, training: str | None, seed: int, eps: float = 0.1
                    ) -> str:
    """The name of the attack ensemble's record of a Table 1-style net at radius eps, e.g.
    "attacks_eps0.1_0.01_clean_seed0": chapter 9 computes it, chapter 10 and the book read it."""
    return f"attacks_eps{eps:g}_{net_tag(beta, training, seed)}"


def versions() -> dict:
    import matplotlib
    import numba

    return {"nprelu": VERSION, "numpy": np.__version__, "numba": numba.__version__,
            "matplotlib": matplotlib.__version__, "python": platform.python_version()}


_HASHES: dict[int, tuple[np.ndarray, str]] = {}


def array_digest(a: np.ndarray) -> str:
    """sha1 of an array's bytes (memoised per array object while it lives)."""
    hit = _HASHES.get(id(a))
    if hit is not None and hit[0] is a:
        return hit[1]
    digest = hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]
    _HASHES[id(a)] = (a, digest)
    return digest


def describe(value):
    """A JSON description of a record's argument, precise enough that any change shows."""
    if isinstance(value, Spec):
        return {"model": model_key(value), "label": value.label()}
    if isinstance(value, np.ndarray):
        return {"array": list(value.shape), "dtype": str(value.dtype),
                "sha1": array_digest(value)}
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {type(value).__name__: describe(asdict(value))}
    if callable(value):  # a record function: its name, and its version when it declares one
        name = getattr(value, "__qualname__", repr(value))
        version = getattr(value, "version", None)
        return name if version is None else f"{name} v{version}"
    return jsonable(value)


def jsonable(obj):
    """Plain JSON types; NaN and infinities become None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


class Store:
    """The model cache (a folder of .npz) and the records (a folder of .json)."""

    def __init__(self, cache: Path, records: Path):
        self.cache, self.records = Path(cache), Path(records)

    # ---------------------------------------------------------------- models
    def model_path(self, spec: Spec) -> Path:
        return self.cache / f"{model_key(spec)}.npz"

    def checkpoint_path(self, spec: Spec) -> Path:
        """Where the training of `spec` keeps its state between epochs (nprelu.checkpoint)
        until the model is saved."""
        return self.cache / f"{model_key(spec)}.ckpt"

    def has_model(self, spec: Spec) -> bool:
        return self.model_path(spec).exists()

    def load_model(self, spec: Spec) -> Network | None:
        """The cached model of `spec`, or None when there is none (or it was corrupt: the file
        is then moved aside to NAME.corrupt, said on stdout, and the caller trains again).
        A training history saved beside it (NAME.history.json) comes back as model.history."""
        path = self.model_path(spec)
        if not path.exists():
            return None
        try:
            model = load_model(path)
            history = path.with_suffix(".history.json")
            if history.exists():
                model.history = json.loads(history.read_text())
            return model
        except (ModelFileError, ValueError, OSError) as err:
            aside = path.with_suffix(".corrupt")
            path.replace(aside)
            say(f"cached model for {spec.label()} could not be read ({err}); moved it to "
                f"{aside} and training it again")
            return None

    def save_model(self, spec: Spec, model: Network, seconds: float | None = None) -> Path:
        """Cache the trained model (and its training history, if fit left one); note its
        training time in training_log.jsonl (one JSON object per line, for
        benchmarks/profile_run.py). The training's checkpoint is deleted once the model is
        safe."""
        path = self.model_path(spec)
        if getattr(model, "history", None) is not None:  # first, so a model never lacks it
            atomic_write_bytes(path.with_suffix(".history.json"),
                               json.dumps(model.history).encode())
        path = model.save(path)
        self.checkpoint_path(spec).unlink(missing_ok=True)
        if seconds is not None:
            line = json.dumps({"key": model_key(spec), "label": spec.label(),
                               "hidden": list(spec.hidden), "adv": spec.adv,
                               "epochs": spec.own_epochs,
                               "seconds": round(seconds, 2), "date": time.strftime("%F %T")})
            with _LOG_LOCK, open(self.cache / "training_log.jsonl", "a") as f:
                f.write(line + "\n")
        return path

    # ---------------------------------------------------------------- records
    def record_path(self, name: str) -> Path:
        return self.records / f"{name}.json"

    def get_record(self, name: str, config: dict) -> dict | None:
        """The stored record `name` if its config equals `config`, else None. A record file
        that is not valid JSON is treated as missing (and will be overwritten)."""
        path = self.record_path(name)
        if not path.exists():
            return None
        try:
            rec = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            say(f"record {path} is not readable JSON; computing it again")
            return None
        return rec if rec.get("config") == jsonable(config) else None

    def put_record(self, name: str, config: dict, numbers, seconds: float,
                   settings=None) -> dict:
        rec = {"name": name, "config": jsonable(config), "numbers": jsonable(numbers),
               "wall_seconds": round(seconds, 2), "date": time.strftime("%Y-%m-%d"),
               "versions": versions(), "blas": blas.describe()}
        if settings is not None:
            rec["settings"] = jsonable(asdict(settings))
        atomic_write_bytes(self.record_path(name), json.dumps(rec, indent=1).encode())
        return rec
