"""Who does the heavy work of a run: training a model, computing a record.

    train_task, record_task   one model, one record: the work itself, as a worker runs it
    Executor                  what the chapters of one run share, whatever runs the tasks
    SerialExecutor            this process, one task after the other (the default)
    DaskExecutor              worker processes, here or on other machines (nprelu.cluster):
                              tasks become futures, submitted at once, stored as they finish

Both kinds give the same bits: every task runs with the run's BLAS thread count, and every
model a task receives is its own copy. A chapter never calls these directly: it asks its
Context (nprelu.context) for models and records.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import checkpoint as checkpoints
from .network import Network
from .train import Spec, fit

_MALLOC_TUNED = False


def tune_malloc() -> None:
    """Keep freed memory in the heap instead of returning it to the system (glibc only).

    numpy allocates fresh arrays at every training step and attack iteration; above glibc's
    mmap threshold each one is a new mapping whose pages the kernel must zero on first touch.
    Only the allocator changes, never a number (benchmarks/RESULTS.md has what it saves)."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: no fresh mapping below 1 GiB
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep freed memory for the next array
    except (OSError, AttributeError):
        pass
    _MALLOC_TUNED = True


def train_task(spec: Spec, x: np.ndarray, y: np.ndarray, base: Network | None, verbose: bool,
               checkpoint: Path | None = None) -> tuple[Network, float]:
    """One model: follow its recipe (nprelu.train.fit), keeping its state between epochs in
    `checkpoint` (a path the worker can write). Returns (model, seconds)."""
    tune_malloc()
    before = checkpoints.seconds_done(checkpoint) if checkpoint is not None else 0.0
    t0 = time.perf_counter()
    model = fit(spec, x, y, base, progress=verbose, checkpoint=checkpoint)
    return model, before + time.perf_counter() - t0


def record_task(fn: Callable, blas_threads: int, *args) -> tuple[object, float]:
    """One record: fn(*args) with `blas_threads` BLAS threads, each model argument a private
    copy (fn may move its caps). Returns (numbers, seconds)."""
    from threadpoolctl import threadpool_limits

    tune_malloc()
    args = [a.copy() if isinstance(a, Network) else a for a in args]
    t0 = time.perf_counter()
    with threadpool_limits(blas_threads):
        out = fn(*args)
    return out, time.perf_counter() - t0


def model_of(pair):
    """The model of a (model, seconds) pair: a task of its own, so that on a cluster the model
    stays on a worker instead of travelling through the client."""
    return pair[0]


class Executor:
    """What the chapters of one run share, whatever runs the tasks: the models in flight or done
    (key -> future of (model, seconds)), the records asked for (name -> (config, future)), and
    which models and records this run made (so that --force makes each once)."""

    name = "executor"
    verbose_training = True  # epoch lines from the training loop itself
    trains_ahead = False  # train a model as soon as a chapter writes its recipe down

    def __init__(self):
        self.models: dict[str, object] = {}
        self.records: dict[str, tuple[dict, object]] = {}
        self.trained: set[str] = set()  # model keys trained by this run
        self.recorded: set[str] = set()  # record names computed by this run
        self.train_data: dict = {}  # dataset -> (images, labels) as the executor holds them
        self.lock = threading.RLock()  # chapters may share a run from several threads

    def drain(self) -> None:
        """Wait until every finished task's result is stored (nothing to wait for here)."""


class SerialExecutor(Executor):
    """Every task in this process, when a chapter asks for its result: the Context then loads
    or fits a model directly (nprelu.context.Context.model), with no futures or queues."""

    name = "serial"
