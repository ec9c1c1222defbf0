"""Running a chapter: its settings, its data, its models and records, and where outputs go.

A chapter gets its `Context` from `chapter(name, quick=QUICK)`:
- under `nprelu reproduce`: the runner's context (settings from reproduce's command line);
- run as a script (`python chapters/ch4_layer_size.py --quick`): from the script's command line;
- in a notebook kernel: from the QUICK variable of the chapter's settings cell, no argv parsing.

The context trains or loads models (`model`, `models`) and computes or reads records (`record`,
`records`); it saves figures and tables under results/ and, in a notebook, shows figures inline.
The heavy work, training a model or computing a record, goes through an executor: in this
process one after the other (`SerialExecutor`, here), or on a Dask cluster (nprelu.cluster).
Both see the same tasks and give the same bits: every task runs with settings.blas_threads BLAS
threads, and every model a task receives is its own copy.
"""

from __future__ import annotations

import argparse
import contextvars
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import blas
from .checks import check_count
from .data import DATASETS, check_dataset, load_split_of
from .files import atomic_write_bytes
from .model import MLP
from .paper import Settings
from .progress import plural, say
from .store import Store, describe, jsonable, model_key
from .train import Spec, fit

ROOT = Path(__file__).resolve().parent.parent
_RUNNER: contextvars.ContextVar[Context | None] = contextvars.ContextVar("nprelu_runner",
                                                                        default=None)


# ----------------------------------------------------------------------------- tasks
_MALLOC_TUNED = False


def tune_malloc() -> None:
    """Keep freed memory in the heap instead of returning it to the system (glibc only).

    numpy allocates fresh arrays at every training step and attack iteration; above glibc's
    mmap threshold each one is a new mapping whose pages the kernel must zero on first touch.
    That was a fifth of a PGD evaluation's time (measured: system time 1.50 s -> 0.30 s, page
    faults 102k -> 43k). Only the allocator changes, never a number."""
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


def train_task(spec: Spec, x: np.ndarray, y: np.ndarray, base: MLP | None, verbose: bool
               ) -> tuple[MLP, float]:
    """One model: follow its recipe. Returns (model, seconds)."""
    tune_malloc()
    t0 = time.perf_counter()
    model = fit(spec, x, y, base, progress=verbose)
    return model, time.perf_counter() - t0


def record_task(fn: Callable, blas_threads: int, *args) -> tuple[object, float]:
    """One record: fn(*args) with `blas_threads` BLAS threads, each model argument a private
    copy (fn may move its caps). Returns (numbers, seconds)."""
    from threadpoolctl import threadpool_limits

    tune_malloc()
    args = [a.copy() if isinstance(a, MLP) else a for a in args]
    t0 = time.perf_counter()
    with threadpool_limits(blas_threads):
        out = fn(*args)
    return out, time.perf_counter() - t0


class Done:
    """The result of a task the serial executor has already run (a finished "future")."""

    def __init__(self, value):
        self.value = value


class RunState:
    """What the chapters of one run share, whatever the executor: the models in flight or
    done (key -> future of (model, seconds)), and which models and records this run computed
    (so that --force recomputes each once)."""

    def __init__(self):
        self.models: dict[str, object] = {}
        self.records: dict[str, tuple[dict, object]] = {}  # name -> (config, future) this run
        self.fresh: set[str] = set()
        self.computed: set[str] = set()
        self.train_data: dict = {}  # dataset -> (images, labels) as the executor holds them
        self.lock = threading.RLock()  # chapters may share a run from several threads

    def drain(self) -> None:
        """Wait until every finished task's result is stored (nothing to wait for here)."""


class SerialExecutor(RunState):
    """Runs every task at once, in this process. Shared by the chapters of one run."""

    name = "serial"
    verbose_training = True  # epoch lines from the training loop itself
    eager = False  # train a model only when a cell asks for it

    def put(self, value) -> Done:
        return Done(value)

    def submit(self, fn: Callable, *args, label: str = "") -> Done:
        return Done(fn(*[a.value if isinstance(a, Done) else a for a in args]))

    def when_done(self, future: Done, callback: Callable) -> None:
        callback(future.value)

    def gather(self, futures: list[Done]) -> list:
        return [f.value for f in futures]


# ----------------------------------------------------------------------------- the context
class NeedsTraining(RuntimeError):
    """A chapter needs models that are not in the cache, and training is switched off."""


@dataclass
class Context:
    """What a chapter needs: settings, seeds, data, models, records and an output folder."""

    settings: Settings
    seeds: tuple = (0,)
    results: Path = ROOT / "results"
    store: Store = None
    executor: object = field(default_factory=SerialExecutor)
    force: bool = False
    name: str = "chapter"
    interactive: bool = False
    allow_training: bool = True
    dataset: str = "mnist"  # the data every model of this run trains and is evaluated on
    work_done: int = 0  # models trained + records computed for this chapter (not read back)
    log: Callable[[str], None] | None = None  # where record lines go (default: stdout)

    def __post_init__(self):
        if self.store is None:
            self.store = Store(ROOT / ".cache" / "models", self.results / "records")

    def for_chapter(self, name: str, log: Callable[[str], None] | None = None) -> Context:
        return replace(self, name=name, work_done=0, log=log)

    # ---------------------------------------------------------------- data
    def test_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The first settings.n_test test images (float32 (N, 784) in [0, 1]) and labels."""
        x, y = load_split_of(self.dataset, "test")
        return x[: self.settings.n_test], y[: self.settings.n_test]

    def train_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The first settings.n_train training images and labels."""
        x, y = load_split_of(self.dataset, "train")
        return x[: self.settings.n_train], y[: self.settings.n_train]

    # ---------------------------------------------------------------- models
    def spec(self, hidden, caps: dict | None = None, seed: int = 0, adv: str | None = None,
             **kw) -> Spec:
        """The recipe of a model at these settings: (hidden, caps) trained clean for
        settings.epochs epochs, then adversarially (adv = "fgsm" or "pgd", Sec. 8) for
        settings.adv_epochs. Keyword arguments set any other Spec field (epochs included)."""
        s = self.settings
        caps = tuple(sorted((int(h), float(b)) for h, b in (caps or {}).items()))
        kw = {"epochs": s.epochs, "dataset": self.dataset, **kw}
        spec = Spec(tuple(hidden), caps, seed=seed, n_train=s.n_train, adv=adv,
                    adv_epochs=s.adv_epochs if adv else 0, blas_threads=s.blas_threads, **kw)
        if self.executor.eager and self.allow_training:
            # On a cluster, start training as soon as a chapter writes a recipe down, so that
            # every model of every chapter is queued from the start.
            with self.executor.lock:
                if self._needs_training(spec):
                    self._model_future(spec)
        return spec

    def model(self, spec: Spec) -> MLP:
        """The trained model of `spec`: from the cache, or trained now and cached. A copy:
        moving its caps changes nothing elsewhere."""
        return self.models([spec])[spec]

    def models(self, specs) -> dict[Spec, MLP]:
        """Several trained models; the ones missing from the cache are trained (at once, on a
        cluster), each saved as soon as it is done."""
        specs = list(dict.fromkeys(specs))
        with self.executor.lock:
            todo = [s for s in specs if self._needs_training(s)]
            if todo:
                say(f"[{self.name}] {plural(len(todo), 'model')} to train, "
                    f"{len(specs) - len(todo)} cached or already training")
            futures = [self._model_future(s) for s in specs]
        return {s: m.copy() for s, (m, _) in zip(specs, self.executor.gather(futures))}

    def _needs_training(self, spec: Spec) -> bool:
        ex = self.executor
        key = model_key(spec)
        if key in ex.models:
            return False
        return (self.force and key not in ex.fresh) or not self.store.has_model(spec)

    def _model_future(self, spec: Spec):
        """The future of (model, seconds) for spec: shared by every chapter of the run."""
        with self.executor.lock:
            return self._model_future_locked(spec)

    def _model_future_locked(self, spec: Spec):
        ex, key = self.executor, model_key(spec)
        if key in ex.models:
            return ex.models[key]
        model = None if (self.force and key not in ex.fresh) else self.store.load_model(spec)
        if model is not None:
            ex.models[key] = ex.put((model, 0.0))
            return ex.models[key]
        if not self.allow_training:
            raise NeedsTraining(f"chapter {self.name} needs the model {spec.label()}, which is "
                                f"not in the model cache {shown(self.store.cache)}; training it "
                                f"takes {training_estimate(spec)}")
        base = self._model_future(spec.clean) if spec.adv else None
        base_model = ex.submit(_first, base) if base is not None else None
        if spec.dataset not in ex.train_data:
            ex.train_data[spec.dataset] = tuple(ex.put(a)
                                                for a in load_split_of(spec.dataset, "train"))
        x, y = ex.train_data[spec.dataset]
        future = ex.submit(train_task, spec, x, y, base_model, ex.verbose_training,
                           label=f"train {spec.label()}")
        ex.models[key] = future
        ex.fresh.add(key)
        self.work_done += 1

        def saved(result, spec=spec):
            model, seconds = result
            path = self.store.save_model(spec, model, seconds)
            say(f"[{self.name}] trained {spec.label()} in {seconds:.0f} s -> {path.name}")

        ex.when_done(future, saved)
        return future

    # ---------------------------------------------------------------- records
    def record(self, name: str, fn: Callable, *args):
        """The numbers of record `name`: read back if stored with the same config, else
        fn(*args) computed now (Spec arguments become their trained models) and stored."""
        return self.records({name: (fn, *args)})[name]

    def records(self, tasks: dict[str, tuple]) -> dict[str, object]:
        """{name: (fn, *args)} -> {name: numbers}; missing records are computed (at once, on a
        cluster) and each is stored as soon as it is done, so an interrupted run keeps them."""
        with self.executor.lock:
            out, futures = self._submit_records(tasks)
        ex = self.executor
        for name, (numbers, _) in zip(futures, ex.gather(list(futures.values()))):
            out[name] = json.loads(json.dumps(jsonable(numbers)))  # as stored, as read back
        return {name: out[name] for name in tasks}

    def _submit_records(self, tasks: dict[str, tuple]) -> tuple[dict, dict]:
        """Read back the stored records of `tasks`; submit the others. (done, futures)"""
        out, futures, todo = {}, {}, {}
        ex = self.executor
        for name, (fn, *args) in tasks.items():
            config = {"fn": describe(fn), "args": describe(args),
                      "blas_threads": self.settings.blas_threads}
            if blas.tag() is not None:  # not the kernel of the committed results: say which
                config["blas"] = blas.tag()
            if name in ex.records:  # another chapter of this run asked for it first
                known, future = ex.records[name]
                if known != config:
                    raise ValueError(f"two chapters define record {name} differently: "
                                     f"{known} and {config}")
                futures[name] = future
                continue
            recompute = self.force and name not in ex.computed
            rec = None if recompute else self.store.get_record(name, config)
            if rec is None:
                todo[name] = (fn, args, config)
            else:
                out[name] = rec["numbers"]
        if todo:
            specs = list(dict.fromkeys(a for _, args, _ in todo.values() for a in args
                                       if isinstance(a, Spec)))
            train = [s for s in specs if self._needs_training(s)]
            say(f"[{self.name}] {plural(len(todo), 'record')} to compute, "
                f"{len(tasks) - len(todo)} stored" + (
                    f"; {plural(len(train), 'model')} to train, {len(specs) - len(train)} "
                    "cached or already training" if specs else ""))
        for name, (fn, args, config) in todo.items():
            resolved = [ex.submit(_first, self._model_future(a)) if isinstance(a, Spec) else
                        ex.put(a) if isinstance(a, np.ndarray) else a for a in args]
            future = ex.submit(record_task, fn, self.settings.blas_threads, *resolved,
                               label=f"record {name}")
            futures[name] = future
            ex.records[name] = (config, future)
            self.work_done += 1
            ex.computed.add(name)

            def stored(result, name=name, config=config):
                numbers, seconds = result
                self.store.put_record(name, config, numbers, seconds, self.settings)
                (self.log or say)(f"[{self.name}] computed {name} in {seconds:.1f} s")

            ex.when_done(future, stored)
        return out, futures

    # ---------------------------------------------------------------- outputs
    def figure(self, fig, name: str) -> None:
        """Save `fig` as results/NAME.png; in a notebook, also show it. At quick settings the
        title says so, so that a quick figure is never mistaken for the paper's."""
        from .plotting import mark_quick, png_bytes

        if self.settings.quick:
            mark_quick(fig)
        data = png_bytes(fig)
        path = atomic_write_bytes(self.results / f"{name}.png", data)
        if self.interactive:  # show the very PNG that was saved, its title as alt text
            from IPython.display import Image, display

            alt = fig.get_suptitle() or name
            display(Image(data=data, format="png", metadata={"alt": alt}))
        else:
            say(f"[{self.name}] wrote {path}")

    def text(self, name: str, text: str, show: bool = False) -> None:
        """Save a table or note as results/NAME (Markdown). With `show`, also show it: rendered
        (tables as tables) in a notebook, as text on the console."""
        path = atomic_write_bytes(self.results / name, text.encode())
        if self.interactive:
            if show:
                from IPython.display import Markdown, display

                display(Markdown(text))
        else:
            say(f"[{self.name}] wrote {path}")
            if show:
                print(text)


def shown(path: Path) -> str:
    """A path as a page or a message shows it: relative to the checkout when inside it (no
    user's home folder in the book), else as given."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def training_estimate(spec: Spec) -> str:
    """'about 2 min (20 epochs at ~6.0 s)', from the per-architecture epoch times of the last
    full run (results/profile.json), counting the clean model an adversarial one starts from."""
    try:
        per_epoch = json.loads((ROOT / "results" / "profile.json").read_text())["epoch_seconds"]
    except (OSError, ValueError, KeyError):
        return f"{spec.epochs} epochs of a {'-'.join(map(str, spec.hidden))} net"
    arch = "-".join(map(str, spec.hidden))
    s = per_epoch.get(arch) or max(per_epoch.values())
    cost = {"fgsm": 2, "pgd": 11}.get(spec.adv, 0)  # gradient passes per step, relative
    seconds = spec.epochs * s + spec.adv_epochs * s * cost
    return f"about {max(1, round(seconds / 60))} min ({spec.epochs} epochs at ~{s:.1f} s" + (
        f", then {spec.adv_epochs} {spec.adv.upper()} epochs" if spec.adv else "") + \
        ", one BLAS thread)"


def _first(pair):
    """The model of a (model, seconds) pair: a task of its own, so that it stays on a worker."""
    return pair[0]


# ----------------------------------------------------------------------------- entry points
def in_notebook() -> bool:
    """True inside a Jupyter kernel (where sys.argv belongs to the kernel, not to us)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def make_context(quick: bool, seeds=(0,), force: bool = False, results=None, cache=None,
                 name: str = "chapter", executor=None, dataset: str = "mnist",
                 **overrides) -> Context:
    """A context with the quick or the paper's settings (overrides: Settings fields).

    Outputs go to results/ (results/quick/ for quick runs; then fashion-mnist/ inside for that
    dataset) and models to .cache/models[-quick] (the dataset is part of every model's key),
    unless `results` / `cache` or $NPRELU_RESULTS / $NPRELU_CACHE say otherwise."""
    check_dataset(dataset)
    settings = Settings.make(quick, **overrides)
    seeds = tuple(check_count(s, "seed", minimum=0) for s in seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. 0 or 0,1,2")
    default_results = (ROOT / "results" / ("quick" if quick else "")
                       / ("" if dataset == "mnist" else dataset))
    results = Path(results or os.environ.get("NPRELU_RESULTS") or default_results)
    default_cache = ROOT / ".cache" / ("models-quick" if quick else "models")
    cache = Path(cache or os.environ.get("NPRELU_CACHE") or default_cache)
    for what, folder in (("results", results), ("cache", cache)):
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"--{what} {folder} is a file; give a folder (it is "
                                     "created if missing)")
    return Context(settings, seeds, results, Store(cache, results / "records"),
                   executor or SerialExecutor(), force, name, dataset=dataset)


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0,1,2' -> (0, 1, 2), for --seeds."""
    try:
        seeds = tuple(int(s) for s in str(text).split(",") if s.strip() != "")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expects comma-separated integers such as 0,1,2, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expects integers >= 0 such as 0,1,2, got {text!r}")
    return seeds


def whole_number(minimum: int):
    """argparse type: an integer >= minimum, with a message that shows what was given."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expects a whole number >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expects a whole number >= {minimum}, got {text!r}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


positive_int = whole_number(1)


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options every chapter and `nprelu reproduce` take."""
    p.add_argument("--quick", action="store_true",
                   help="small smoke-test settings (minutes, not hours); default: the paper's")
    p.add_argument("--seeds", type=parse_seeds, default=(0,), metavar="0,1,2",
                   help="seeds to run; tables show mean ± std over them (default: 0)")
    p.add_argument("--force", action="store_true",
                   help="retrain every model and recompute every record (default: reuse them)")
    p.add_argument("--results", default=None, metavar="DIR",
                   help="output folder (default: results/, or results/quick/ with --quick)")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="model cache (default: .cache/models, or .cache/models-quick)")
    p.add_argument("--cw-samples", type=positive_int, default=None, metavar="N",
                   help="CW attacks the first N test inputs (default: 500; 20 with --quick)")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="BLAS threads per task; part of every model's cache key and record "
                        "(default: 1, the same bits as a cluster run)")
    p.add_argument("--dataset", choices=tuple(DATASETS), default="mnist",
                   help="the data every net is trained and evaluated on; results of another "
                        "dataset than mnist go to a folder of their own (default: mnist)")


def context_from_args(a: argparse.Namespace, name: str = "chapter", executor=None) -> Context:
    return make_context(a.quick, a.seeds, a.force, a.results, cache=a.cache, name=name,
                        executor=executor, dataset=a.dataset, cw_samples=a.cw_samples,
                        blas_threads=a.threads)


def chapter(name: str, quick: bool = True) -> Context:
    """The context chapter `name` runs in (see the module docstring for the three ways)."""
    runner = _RUNNER.get()
    if runner is not None:
        return runner  # made for this chapter by reproduce, which also set the BLAS threads
    if in_notebook():  # the book sets the dataset through the environment
        ctx = make_context(quick, name=name, dataset=os.environ.get("NPRELU_DATASET", "mnist"))
        ctx.interactive = True
        ctx.allow_training = os.environ.get("NPRELU_NO_TRAINING") != "1"  # set by the book
    else:
        p = argparse.ArgumentParser(prog=f"python chapters/{name}.py",
                                    description=f"Run chapter {name} of the nprelu book.")
        add_run_options(p)
        ctx = context_from_args(p.parse_args(), name)
    # Every cell computes with the threads the cached models and records were made with, so
    # a number printed in a cell is the number in the record.
    from threadpoolctl import threadpool_limits

    threadpool_limits(ctx.settings.blas_threads)
    tune_malloc()
    return ctx


def running(ctx: Context):
    """`with running(ctx): ...` makes `chapter()` return ctx: used by reproduce."""
    class _Scope:
        def __enter__(self):
            self.token = _RUNNER.set(ctx)

        def __exit__(self, *exc):
            _RUNNER.reset(self.token)

    return _Scope()

