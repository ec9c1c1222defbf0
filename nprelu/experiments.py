"""The machinery the chapter scripts share: settings, the model cache, result records, figures.

A model is described by a `Spec` (architecture, caps, training recipe, seed). `Context.model`
trains it once and caches it under a file named by a hash of the spec and CODE_VERSION, written
atomically, so an interrupted reproduction resumes without retraining finished models. Every
experiment's numbers go into one JSON record (config, seed, numbers, wall time, versions), also
written atomically and skipped on a rerun unless `force`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import __version__
from .attacks import FGSM, PGD
from .data import load_mnist
from .model import MLP
from .train import train

# Bump when a change to training code changes what a cached model would contain. Changes in
# the last bits only (the BLAS thread count, Adam multiplying by 1/sqrt(1 - b2^t) instead of
# dividing) do not count: they already differ between machines for the same config.
CODE_VERSION = 1
ROOT = Path(__file__).resolve().parent.parent

# Published numbers of Table 1 (percent): (max value, adversarial training) -> clean, FGSM, PGD, CW
PAPER_TABLE1 = {
    (None, None): (98.49, 41.77, 9.47, 0.00),
    (1.0, None): (98.46, 41.24, 7.45, 0.00),
    (0.1, None): (98.06, 68.04, 39.79, 5.56),
    (0.01, None): (97.88, 92.37, 89.61, 8.07),
    (None, "fgsm"): (98.26, 91.44, 85.12, 0.19),
    (1.0, "fgsm"): (98.35, 92.46, 81.88, 0.18),
    (0.1, "fgsm"): (98.18, 93.00, 90.37, 3.50),
    (0.01, "fgsm"): (97.10, 94.07, 96.36, 8.21),
    (None, "pgd"): (98.67, 91.85, 86.74, 0.10),
    (1.0, "pgd"): (98.49, 93.32, 87.09, 0.11),
    (0.1, "pgd"): (98.09, 92.64, 92.85, 3.62),
    (0.01, "pgd"): (96.55, 89.21, 95.43, 8.00),
}


# The grid of Table 1 (and of the audit that re-attacks the same twelve models)
TABLE1_HIDDEN = (392, 196)
TABLE1_BETAS = (None, 1.0, 0.1, 0.01)  # cap of HL2; None = uncapped
TABLE1_TRAINING = (None, "fgsm", "pgd")  # adversarial fine-tuning after clean training
TRAINING_TITLES = {None: "clean training", "fgsm": "+ FGSM training", "pgd": "+ PGD training"}


def table1_specs(ctx: Context, seed: int) -> dict:
    """(beta, adversarial training) -> Spec of the twelve Table 1 models."""
    return {(b, adv): ctx.spec(TABLE1_HIDDEN, {2: b} if b else None, seed=seed, adv=adv)
            for adv in TABLE1_TRAINING for b in TABLE1_BETAS}


def beta_label(beta: float | None) -> str:
    return "uncapped" if beta is None else f"β={beta:g}"


@dataclass(frozen=True)
class Settings:
    """Everything that differs between a quick smoke run and the paper's settings."""

    quick: bool = False
    epochs: int = 20  # clean training epochs (Sec. 8: twenty)
    adv_epochs: int = 10  # adversarial fine-tuning epochs (Sec. 8: ten)
    n_train: int = 60000
    n_test: int = 10000
    init_betas: tuple = (0.01, 0.1, 1.0)  # Sec. 4-6: beta the nets are trained with
    eval_betas: tuple = tuple(np.round(np.arange(0.01, 0.1501, 0.01), 2).tolist())  # 0.01..0.15
    ch3_betas: tuple = (0.01, 0.1, 1.0, 10.0, 100.0)
    zg_betas: tuple = (0.01, 0.03, 0.05, 0.07, 0.09, 0.11, 0.13, 0.15)
    zg_samples: int = 1000  # the first 1000 test inputs, as for the audit and Fig. 11
    zg_iters: int = 1000
    cw_samples: int = 500
    cw_steps: int = 10000
    cw_binary_steps: int = 9
    smap_samples: int = 1000

    @classmethod
    def make(cls, quick: bool, **overrides) -> Settings:
        if quick:
            base = cls(quick=True, epochs=2, adv_epochs=1, n_train=10000, n_test=500,
                       eval_betas=(0.01, 0.05, 0.1, 0.15), ch3_betas=(0.01, 1.0, 100.0),
                       zg_betas=(0.01, 0.1), zg_samples=20, zg_iters=200, cw_samples=20,
                       cw_steps=200, cw_binary_steps=4, smap_samples=100)
        else:
            base = cls()
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class Spec:
    """How to build and train one model. Hashable; its hash names the cache file."""

    hidden: tuple
    caps: tuple = ()  # ((hl, beta), ...)
    activation: str = "relu"
    c: float = 1.0
    seed: int = 0
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    n_train: int = 60000
    adv: str | None = None  # None, "fgsm" or "pgd": adversarial fine-tuning after clean training
    adv_epochs: int = 0
    adv_eps: float = 0.1

    def key(self) -> str:
        blob = json.dumps([asdict(self), CODE_VERSION], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def label(self) -> str:
        caps = "+".join(f"HL{h}@{b:g}" for h, b in self.caps) or "uncapped"
        arch = "-".join(map(str, self.hidden))
        adv = f" {self.adv.upper()}-trained" if self.adv else ""
        act = "" if self.activation == "relu" else f" {self.activation}(c={self.c:g})"
        return f"{arch} {caps}{act}{adv} seed {self.seed}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextmanager
def exclusive(lock: Path, poll: float = 1.0) -> Iterator[None]:
    """Hold the lock file `lock` (it contains our pid) for the duration of the block.

    Waits while another live process holds it; takes over a lock whose process has died (an
    interrupted run), so a crash never blocks the next run."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _holder_alive(lock):
                time.sleep(poll)
            else:
                lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        break
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _holder_alive(lock: Path) -> bool:
    try:
        pid = int(lock.read_text())
    except FileNotFoundError:
        return False
    except ValueError:  # just created, pid not written yet (or garbage left by a crash)
        try:
            return time.time() - lock.stat().st_mtime < 10
        except FileNotFoundError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def versions() -> dict:
    import matplotlib
    import numba

    return {"nprelu": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "matplotlib": matplotlib.__version__, "python": platform.python_version()}


@dataclass
class Context:
    """What a chapter needs: settings, seeds, data, the model cache and the results folder."""

    settings: Settings
    seeds: tuple = (0,)
    results: Path = ROOT / "results"
    cache: Path = ROOT / ".cache" / "models"
    force: bool = False
    progress: bool = True
    started: float = field(default_factory=time.time, repr=False)
    work_done: int = 0  # models trained + records computed by this context (not read back)
    _data: tuple | None = field(default=None, repr=False)

    # ---------------------------------------------------------------- data
    @property
    def data(self):
        """((x_train, y_train), (x_test, y_test)) cut to the settings' sizes."""
        if self._data is None:
            (x, y), (xt, yt) = load_mnist()
            s = self.settings
            self._data = ((x[: s.n_train], y[: s.n_train]), (xt[: s.n_test], yt[: s.n_test]))
        return self._data

    # ---------------------------------------------------------------- models
    def spec(self, hidden, caps=None, seed=0, **kw) -> Spec:
        s = self.settings
        caps = tuple(sorted((int(h), float(b)) for h, b in (caps or {}).items()))
        adv_epochs = s.adv_epochs if kw.get("adv") else 0
        return Spec(tuple(hidden), caps, seed=seed, epochs=s.epochs, n_train=s.n_train,
                    adv_epochs=adv_epochs, **kw)

    def model(self, spec: Spec) -> MLP:
        """The trained model for `spec`, from the cache or trained now (and cached).

        Chapters that run in parallel processes (`nprelu reproduce --jobs 2`) share models; a
        lock file makes the second process wait for the first one's model instead of training
        it again."""
        path = self.cache / f"{spec.key()}.npz"
        if path.exists() and not self.force:
            return MLP.load(path)
        with exclusive(path.with_suffix(".lock")):
            # Trained by another process while we waited (under --force: since this run began)?
            if path.exists() and (not self.force or path.stat().st_mtime >= self.started):
                return MLP.load(path)
            self.work_done += 1
            return self._train(spec, path)

    def _train(self, spec: Spec, path: Path) -> MLP:
        (x, y), _ = self.data
        if spec.adv:
            model = self.model(replace(spec, adv=None, adv_epochs=0)).copy()
            adversary = {"fgsm": FGSM(spec.adv_eps), "pgd": PGD(spec.adv_eps, 0.01, 10)}[spec.adv]
            train(model, x, y, epochs=spec.adv_epochs, batch_size=spec.batch_size, lr=spec.lr,
                  seed=spec.seed + 1, adversary=adversary, progress=self.progress,
                  desc=f"{spec.adv}-train")
        else:
            model = MLP(spec.hidden, dict(spec.caps), spec.activation, spec.c, seed=spec.seed)
            train(model, x[: spec.n_train], y[: spec.n_train], epochs=spec.epochs,
                  batch_size=spec.batch_size, lr=spec.lr, seed=spec.seed,
                  progress=self.progress, desc="train")
        model.save(path)
        return model

    def models(self, specs: Iterable[Spec], what: str) -> dict[Spec, MLP]:
        """Train (or load) several models with one progress bar: how many left, and an ETA."""
        specs = list(dict.fromkeys(specs))
        out = {}
        todo = [s for s in specs if self.force or not (self.cache / f"{s.key()}.npz").exists()]
        if todo:
            print(f"[{what}] training {len(todo)} of {len(specs)} models "
                  f"({len(specs) - len(todo)} cached)")
        bar = tqdm(specs, desc=f"{what} models", disable=not (self.progress and todo),
                   unit="model")
        for s in bar:
            bar.set_postfix_str(s.label())
            out[s] = self.model(s)
        return out

    def bar(self, **kw) -> tqdm:
        """A progress bar for long work inside a chapter (hidden when progress is off)."""
        return tqdm(disable=not self.progress, leave=False, **kw)

    # ---------------------------------------------------------------- records
    def record_path(self, name: str) -> Path:
        return self.results / "records" / f"{name}.json"

    def record(self, name: str, compute: Callable[[], dict], config: dict, seed: int) -> dict:
        """Return the stored record `name` if present, else compute, store and return it."""
        path = self.record_path(name)
        if path.exists() and not self.force:
            rec = json.loads(path.read_text())
            if rec.get("config") == _jsonable(config) and rec.get("seed") == seed:
                return rec
        self.work_done += 1
        t0 = time.perf_counter()
        numbers = compute()
        rec = {"name": name, "seed": seed, "config": _jsonable(config),
               "settings": _jsonable(asdict(self.settings)), "numbers": _jsonable(numbers),
               "wall_seconds": round(time.perf_counter() - t0, 2), "versions": versions()}
        atomic_write_bytes(path, json.dumps(rec, indent=1).encode())
        return rec

    # ---------------------------------------------------------------- outputs
    def save_figure(self, fig, name: str) -> Path:
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        path = self.results / f"{name}.png"
        atomic_write_bytes(path, buf.getvalue())
        import matplotlib.pyplot as plt

        plt.close(fig)
        print(f"wrote {path}")
        return path

    def save_text(self, name: str, text: str) -> Path:
        path = self.results / name
        atomic_write_bytes(path, text.encode())
        print(f"wrote {path}")
        return path


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    return obj


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    v = np.array([np.nan if x is None else x for x in values], float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std()) if len(v) > 1 else 0.0


def fmt(values: Iterable[float], digits: int = 2) -> str:
    """'98.12' for one seed, '98.12 ± 0.10' for several."""
    values = list(values)
    m, s = mean_std(values)
    return f"{m:.{digits}f}" if len(values) == 1 else f"{m:.{digits}f} ± {s:.{digits}f}"


def setup_plots():
    """One style for every figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
                         "axes.spines.top": False, "axes.spines.right": False,
                         "font.size": 9, "legend.fontsize": 8, "legend.frameon": False,
                         "figure.constrained_layout.use": True})
    return plt


def chapter_parser():
    """The options every chapter takes: [--quick] [--seeds 0,1] [--force] [--results DIR]
    [--cache DIR] [--cw-samples N]. Shared by the chapter scripts and `reproduce --jobs` workers."""
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="tiny settings, minutes not hours")
    p.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    p.add_argument("--force", action="store_true", help="retrain and recompute everything")
    p.add_argument("--results", default=None, help="output folder (default results/)")
    p.add_argument("--cache", default=None, help="model cache (default .cache/models)")
    p.add_argument("--cw-samples", type=int, default=None)
    return p


def context_from_args(a) -> Context:
    return make_context(a.quick, a.seeds, a.force, a.results, cache=a.cache,
                        cw_samples=a.cw_samples)


def chapter_main(run: Callable[[Context], None], argv=None) -> None:
    """Command line shared by every chapter script (options: see `chapter_parser`)."""
    run(context_from_args(chapter_parser().parse_args(argv)))


def make_context(quick: bool, seeds: str = "0", force: bool = False, results=None,
                 cache=None, **overrides) -> Context:
    settings = Settings.make(quick, **overrides)
    seeds = tuple(int(s) for s in str(seeds).split(",") if s != "")
    default = ROOT / "results" / ("quick" if quick else "")
    cache = Path(cache) if cache else ROOT / ".cache" / ("models-quick" if quick else "models")
    return Context(settings, seeds, Path(results) if results else default, cache, force)
