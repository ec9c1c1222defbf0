"""What a chapter runs in: its settings, its data, its models and records, and where outputs go.

A chapter gets its `Context` from `chapter(name, quick=QUICK)`:
- under `nprelu reproduce`: the runner's context (settings from reproduce's command line);
- run as a script (`python chapters/ch4_layer_size.py --quick`): from the script's command line;
- in a notebook kernel: from the QUICK variable of the chapter's settings cell, no argv parsing.

`ctx.model(spec)` is the trained model of a recipe (nprelu.train.Spec): read back from the
model cache, or trained now by `nprelu.train.fit` and cached. `ctx.records({name: (fn, *args)})`
gives each record's numbers: read back if stored with the same config, else fn(*args) computed
now (a Spec argument becomes its model) and stored. Both are written atomically as soon as they
exist, so an interrupted run resumes where it stopped.

That is all that happens in a serial run (the default, nprelu.executors.SerialExecutor). On a
Dask cluster (nprelu.cluster) the same requests become tasks submitted at once, as futures: that
path lives at the end of the class, apart from the serial one, and gives the same bits (every
task runs with ctx.blas_threads BLAS threads, and gets its own copy of every model).
"""

from __future__ import annotations

import argparse
import contextvars
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import blas
from .argtypes import parse_seeds, positive_int
from .checks import check_count
from .data import DATASETS, check_dataset, load_split_of
from .executors import SerialExecutor, model_of, record_task, train_task, tune_malloc
from .files import atomic_write_bytes
from .network import Network
from .paper import Settings
from .progress import plural, say
from .store import Store, describe, jsonable, model_key
from .train import Spec

ROOT = Path(__file__).resolve().parent.parent
_RUNNER: contextvars.ContextVar[Context | None] = contextvars.ContextVar("nprelu_runner",
                                                                        default=None)


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
    blas_threads: int = 1  # BLAS threads of every task: part of every model's key and record
    work_done: int = 0  # models trained + records computed for this chapter (not read back)
    log: Callable[[str], None] | None = None  # where record lines go (default: stdout)

    def __post_init__(self):
        if self.store is None:
            self.store = Store(ROOT / ".cache" / "models", self.results / "records")

    def for_chapter(self, name: str, log: Callable[[str], None] | None = None) -> Context:
        return replace(self, name=name, work_done=0, log=log)

    @property
    def serial(self) -> bool:
        return self.executor.name == "serial"

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
        kw = {"epochs": s.epochs, "dataset": self.dataset, "n_train": s.n_train,
              "adv_epochs": s.adv_epochs if adv else 0, **kw}
        spec = Spec(tuple(hidden), caps, seed=seed, adv=adv, blas_threads=self.blas_threads, **kw)
        if self.executor.trains_ahead and self.allow_training:
            # On a cluster, start training as soon as a chapter writes a recipe down, so that
            # every model of every chapter is queued from the start.
            with self.executor.lock:
                if self._needs_training(spec):
                    self._model_future(spec)
        return spec

    def model(self, spec: Spec) -> Network:
        """The trained model of `spec`: read back from the model cache, or trained now by
        `fit` and cached. Every call gives an object of its own: moving its caps changes
        nothing elsewhere."""
        if not self.serial:
            return self.models([spec])[spec]
        model = self._cached(spec)
        if model is None:
            base = self.model(spec.base) if spec.base else None  # e.g. Sec. 8's clean net
            x, y = load_split_of(spec.dataset, "train")
            model, seconds = train_task(spec, x, y, base, True, self.store.checkpoint_path(spec))
            self.work_done += 1
            self._keep(spec, model, seconds)
        return model

    def models(self, specs) -> dict[Spec, Network]:
        """Several trained models; the ones missing from the cache are trained (at once, on a
        cluster), each saved as soon as it is done."""
        specs = list(dict.fromkeys(specs))
        if not self.serial:
            return self._models_on_cluster(specs)
        todo = [s for s in specs if self._needs_training(s)]
        if todo:
            say(f"[{self.name}] {plural(len(todo), 'model')} to train, "
                f"{len(specs) - len(todo)} cached")
        return {s: self.model(s) for s in specs}

    def _cached(self, spec: Spec) -> Network | None:
        """The cached model of `spec`, or None when it is to be trained now (not cached, or
        --force and not yet retrained by this run); NeedsTraining when training is off."""
        retrain = self.force and model_key(spec) not in self.executor.trained
        if retrain:  # --force trains from the start, whatever an earlier run left
            self.store.checkpoint_path(spec).unlink(missing_ok=True)
        model = None if retrain else self.store.load_model(spec)
        if model is None and not self.allow_training:
            raise NeedsTraining(f"chapter {self.name} needs the model {spec.label()}, which is "
                                f"not in the model cache {shown(self.store.cache)}; training it "
                                f"takes {training_estimate(spec)}")
        return model

    def _keep(self, spec: Spec, model: Network, seconds: float) -> None:
        """Cache a model this run trained."""
        path = self.store.save_model(spec, model, seconds)
        self.executor.trained.add(model_key(spec))
        say(f"[{self.name}] trained {spec.label()} in {seconds:.0f} s -> {path.name}")

    def _needs_training(self, spec: Spec) -> bool:
        ex, key = self.executor, model_key(spec)
        if key in ex.models:
            return False
        return (self.force and key not in ex.trained) or not self.store.has_model(spec)

    # ---------------------------------------------------------------- records
    def records(self, tasks: dict[str, tuple]) -> dict[str, object]:
        """{name: (fn, *args)} -> {name: numbers}: each record read back if stored with the
        same config, else fn(*args) computed now (a Spec argument becomes its trained model)
        and stored at once, so an interrupted run keeps it."""
        if not self.serial:
            return self._records_on_cluster(tasks)
        configs = {name: self._record_config(name, fn, args)
                   for name, (fn, *args) in tasks.items()}
        for name, config in configs.items():  # so that another chapter defines it the same
            self.executor.records.setdefault(name, (config, None))
        out = {name: self._stored(name, configs[name]) for name in tasks}
        todo = [name for name, numbers in out.items() if numbers is None]
        if todo:
            say(f"[{self.name}] {plural(len(todo), 'record')} to compute, "
                f"{len(tasks) - len(todo)} stored")
        for name in todo:
            fn, *args = tasks[name]
            values = [self.model(a) if isinstance(a, Spec) else a for a in args]
            numbers, seconds = record_task(fn, self.blas_threads, *values)
            self.work_done += 1
            self._put(name, configs[name], numbers, seconds)
            out[name] = json.loads(json.dumps(jsonable(numbers)))  # as stored, as read back
        return out

    def _record_config(self, name: str, fn: Callable, args) -> dict:
        """What a record's numbers depend on: the function (and its version), a description of
        its arguments (model keys, array hashes), the BLAS threads and, off the reference
        kernel, the BLAS kernel. Two chapters of a run must not define a record differently."""
        config = {"fn": describe(fn), "args": describe(args),
                  "blas_threads": self.blas_threads}
        if blas.tag() is not None:  # not the kernel of the committed results: say which
            config["blas"] = blas.tag()
        known = self.executor.records.get(name)
        if known is not None and known[0] != config:
            raise ValueError(f"two chapters define record {name} differently: {known[0]} and "
                             f"{config}")
        return config

    def _stored(self, name: str, config: dict):
        """The stored numbers of a record (None: to compute now; --force computes each record
        once per run)."""
        if self.force and name not in self.executor.recorded:
            return None
        rec = self.store.get_record(name, config)
        return None if rec is None else rec["numbers"]

    def _put(self, name: str, config: dict, numbers, seconds: float) -> None:
        """Store a record this run computed."""
        self.store.put_record(name, config, numbers, seconds, self.settings)
        self.executor.recorded.add(name)
        (self.log or say)(f"[{self.name}] computed {name} in {seconds:.1f} s")

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


    # ---------------------------------------------------------------- on a cluster
    # Everything below is the Dask path: models and records become futures, submitted at once
    # so that every worker stays busy, shared by the chapters of the run (which run in threads,
    # hence the lock), and stored by the client as soon as each finishes.
    def _models_on_cluster(self, specs: list[Spec]) -> dict[Spec, Network]:
        with self.executor.lock:
            todo = [s for s in specs if self._needs_training(s)]
            if todo:
                say(f"[{self.name}] {plural(len(todo), 'model')} to train, "
                    f"{len(specs) - len(todo)} cached or already training")
            futures = [self._model_future(s) for s in specs]
        return {s: m.copy() for s, (m, _) in zip(specs, self.executor.gather(futures))}

    def _model_future(self, spec: Spec):
        """The future of (model, seconds) for spec: shared by every chapter of the run."""
        ex, key = self.executor, model_key(spec)
        with ex.lock:
            if key in ex.models:
                return ex.models[key]
            model = self._cached(spec)
            if model is not None:
                ex.models[key] = ex.put((model, 0.0))
                return ex.models[key]
            base = self._model_future(spec.base) if spec.base else None
            base_model = ex.submit(model_of, base) if base is not None else None
            if spec.dataset not in ex.train_data:
                ex.train_data[spec.dataset] = tuple(ex.put(a) for a in
                                                    load_split_of(spec.dataset, "train"))
            x, y = ex.train_data[spec.dataset]
            future = ex.submit(train_task, spec, x, y, base_model, ex.verbose_training,
                               self.store.checkpoint_path(spec),
                               label=f"train {spec.label()}")
            ex.models[key] = future
            ex.trained.add(key)
            self.work_done += 1
            ex.when_done(future, lambda result, spec=spec: self._keep(spec, *result))
            return future

    def _records_on_cluster(self, tasks: dict[str, tuple]) -> dict[str, object]:
        ex = self.executor
        out, futures, todo = {}, {}, {}
        with ex.lock:
            for name, (fn, *args) in tasks.items():
                config = self._record_config(name, fn, args)
                if name in ex.records:  # another chapter of this run asked for it first
                    futures[name] = ex.records[name][1]
                    continue
                numbers = self._stored(name, config)
                if numbers is None:
                    todo[name] = (fn, args, config)
                else:
                    out[name] = numbers
            if todo:
                specs = list(dict.fromkeys(a for _, args, _ in todo.values() for a in args
                                           if isinstance(a, Spec)))
                train = [s for s in specs if self._needs_training(s)]
                say(f"[{self.name}] {plural(len(todo), 'record')} to compute, "
                    f"{len(tasks) - len(todo)} stored" + (
                        f"; {plural(len(train), 'model')} to train, {len(specs) - len(train)} "
                        "cached or already training" if specs else ""))
            for name, (fn, args, config) in todo.items():
                resolved = [ex.submit(model_of, self._model_future(a)) if isinstance(a, Spec)
                            else ex.put(a) if isinstance(a, np.ndarray) else a for a in args]
                future = ex.submit(record_task, fn, self.blas_threads, *resolved,
                                   label=f"record {name}")
                futures[name] = future
                ex.records[name] = (config, future)
                self.work_done += 1
                ex.recorded.add(name)
                ex.when_done(future, lambda result, name=name, config=config:
                             self._put(name, config, *result))
        for name, (numbers, _) in zip(futures, ex.gather(list(futures.values()))):
            out[name] = json.loads(json.dumps(jsonable(numbers)))  # as stored, as read back
        return {name: out[name] for name in tasks}


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
        return f"{spec.epochs} epochs of a {spec.arch()} net"
    s = per_epoch.get(spec.arch()) or max(per_epoch.values())
    cost = {"fgsm": 2, "pgd": 11}.get(spec.adv, 0)  # gradient passes per step, relative
    seconds = spec.epochs * s + spec.adv_epochs * s * cost
    return f"about {max(1, round(seconds / 60))} min ({spec.epochs} epochs at ~{s:.1f} s" + (
        f", then {spec.adv_epochs} {spec.adv.upper()} epochs" if spec.adv else "") + \
        ", one BLAS thread)"



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
                 blas_threads: int | None = None, **overrides) -> Context:
    """A context with the quick or the paper's settings (overrides: Settings fields), its
    tasks run with `blas_threads` BLAS threads (None: 1).

    Outputs go to results/ (results/quick/ for quick runs; then fashion-mnist/ inside for that
    dataset) and models to .cache/models[-quick] (the dataset is part of every model's key),
    unless `results` / `cache` or $NPRELU_RESULTS / $NPRELU_CACHE say otherwise."""
    check_dataset(dataset)
    settings = Settings.make(quick, **overrides)
    blas_threads = check_count(1 if blas_threads is None else blas_threads, "blas_threads")
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
                   executor or SerialExecutor(), force, name, dataset=dataset,
                   blas_threads=blas_threads)


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

    threadpool_limits(ctx.blas_threads)
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

