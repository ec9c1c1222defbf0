"""Checkpoints: a training run's whole state between two epochs, so a long run survives a crash.

`train(..., checkpoint=path)` calls `save` after every epoch and `resume` before the first.
What is saved is everything the next epoch reads:

    the weights (model.params)                     one flat float32 array
    Adam's moments m, v, its step count t and lr   lr changes at the epochs in lr_drops
    the shuffling generator's state                numpy's bit_generator.state (JSON)
    the epochs done and the history so far         the per-epoch loss, accuracy, ...
    the seconds those epochs took                  so the cache's training log counts them
    a loop's own state, if it keeps one            early stopping's best weights, patience
                                                   counters, ... (`loop` and `arrays`)

The objectives (clean, adversarial, IBP, CROWN-IBP) keep no state: their schedule is a function
of the epoch and step. So a run that resumes after epoch k takes exactly the steps an
uninterrupted run takes from epoch k + 1, and ends with the same weights bit for bit (on the
same BLAS kernel).

A checkpoint also holds the identity of its run (`run_identity`: the data's digest, the
settings, the initial weights' digest). Resuming a checkpoint of another run is refused with an
error naming what differs: silently continuing someone else's weights would be a wrong answer.

The file is an uncompressed .npz (written atomically; read without unpickling) named *.ckpt,
so no model-cache listing of *.npz mistakes it for a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .files import atomic_write
from .network import Network
from .optim import Adam

CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed: damaged, or from another run."""


def digest(*arrays: np.ndarray) -> str:
    """A short content hash of arrays (shape, dtype and bytes), to recognise a run's data."""
    h = hashlib.blake2b(digest_size=8)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def run_identity(model: Network, x: np.ndarray, y: np.ndarray, **settings) -> dict:
    """What makes two training runs the same run: the training data, the starting weights and
    the settings (epochs, batch size, learning rate, seed, objective, ...; JSON-able values)."""
    run = {"data": digest(x, y), "start": digest(model.params),
           "n_params": int(model.params.size), **settings}
    return json.loads(json.dumps(run))  # as it reads back from a file (tuples become lists)


class Resumed(NamedTuple):
    """What `resume` hands back besides the state it loads in place."""

    epochs_done: int  # 0: no checkpoint, start from the beginning
    history: dict  # the per-epoch history of those epochs
    seconds: float  # the training seconds they took
    loop: dict  # the training loop's own JSON state, as given to `save` ({} if none)
    arrays: dict  # the loop's own arrays, as given to `save` ({} if none)


def save(path: str | os.PathLike, run: dict, model: Network, opt: Adam,
         rng: np.random.Generator | None, epochs_done: int, history: dict, seconds: float = 0.0,
         loop: dict | None = None, arrays: dict | None = None) -> Path:
    """Write the state after `epochs_done` epochs (which took `seconds` of training, over all
    the runs that made them) to `path`, atomically. `rng`: the generator the next epoch draws
    from (None if the loop seeds each epoch itself); `loop` and `arrays`: what else the training
    loop needs to go on (JSON-able values; named arrays), given back by `resume`."""
    meta = {"checkpoint_version": CHECKPOINT_VERSION, "run": run, "epochs_done": epochs_done,
            "history": history, "adam": {"t": opt.t, "lr": opt.lr},
            "rng": None if rng is None else rng.bit_generator.state, "seconds": float(seconds),
            "loop": loop or {}}
    saved = {"params": model.params}
    for i, (m, v) in enumerate(zip(opt.m, opt.v)):
        saved[f"m{i}"], saved[f"v{i}"] = m, v
    saved |= {f"loop_{name}": a for name, a in (arrays or {}).items()}
    payload = {"meta": np.array(json.dumps(meta)), **saved}
    return atomic_write(path, lambda f: np.savez(f, **payload))


def _read(path: Path, arrays: bool = True) -> tuple[dict, dict]:
    """The metadata and (unless arrays=False) the arrays of the checkpoint at `path`."""
    try:
        with np.load(path, allow_pickle=False) as f:  # an .npz reads each entry on demand
            meta = json.loads(str(f["meta"]))
            arrays = {k: f[k] for k in f.files if k != "meta"} if arrays else {}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        raise CheckpointError(f"the training checkpoint {path} is damaged ({err}); delete it "
                              "to train from the start") from None
    if not isinstance(meta, dict) or meta.get("checkpoint_version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} is not a training checkpoint of this nprelu (checkpoint "
                              f"version {CHECKPOINT_VERSION}); delete it to train from the start")
    return meta, arrays


def seconds_done(path: str | os.PathLike) -> float:
    """The training seconds behind the checkpoint at `path` (0 when there is none, or it cannot
    be read: resuming it then fails with the reason)."""
    try:
        if not Path(path).exists():
            return 0.0
        return float(_read(Path(path), arrays=False)[0].get("seconds", 0.0))
    except (CheckpointError, TypeError, ValueError):
        return 0.0


def resume(path: str | os.PathLike, run: dict, model: Network, opt: Adam,
           rng: np.random.Generator | None) -> Resumed:
    """Load the state in `path` into model, opt and rng (if not None), in place; return the
    epochs done, their history and seconds, and the loop's own state (see `Resumed`). Returns
    Resumed(0, {}, 0.0, {}, {}) and changes nothing when there is no file. Raises
    CheckpointError when the file is damaged or belongs to another run (naming the settings
    that differ)."""
    path = Path(path)
    if not path.exists():
        return Resumed(0, {}, 0.0, {}, {})
    meta, arrays = _read(path)
    theirs = meta.get("run", {})
    differ = sorted(k for k in run.keys() | theirs.keys() if run.get(k) != theirs.get(k))
    if differ:
        shown = ", ".join(f"{k} ({theirs.get(k)!r} there, {run.get(k)!r} here)" for k in differ)
        raise CheckpointError(f"the training checkpoint {path} belongs to another run: {shown}. "
                              "Delete it to train this one from the start")
    try:
        new_params = arrays["params"]
        moments = [(arrays[f"m{i}"], arrays[f"v{i}"]) for i in range(len(opt.m))]
        if new_params.shape != model.params.shape or any(
                m.shape != p.shape or v.shape != p.shape
                for (m, v), p in zip(moments, opt.params)):
            raise KeyError("an array has the wrong shape")
        epochs_done, history = int(meta["epochs_done"]), dict(meta["history"])
        t, lr = int(meta["adam"]["t"]), float(meta["adam"]["lr"])
        rng_state, seconds = meta["rng"], float(meta.get("seconds", 0.0))
        loop = dict(meta.get("loop", {}))
        loop_arrays = {k.removeprefix("loop_"): a for k, a in arrays.items()
                       if k.startswith("loop_")}
        if (rng is None) != (rng_state is None):
            raise KeyError("the shuffling generator's state")
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"the training checkpoint {path} is incomplete ({err}); delete it "
                              "to train from the start") from None
    if not np.all(np.isfinite(new_params)):
        raise CheckpointError(f"the training checkpoint {path} holds NaN or infinite weights; "
                              "delete it to train from the start")
    model.params[...] = new_params
    for (m, v), m_opt, v_opt in zip(moments, opt.m, opt.v):
        m_opt[...], v_opt[...] = m, v
    opt.t, opt.lr = t, lr
    if rng is not None:
        rng.bit_generator.state = rng_state
    return Resumed(epochs_done, history, seconds, loop, loop_arrays)
