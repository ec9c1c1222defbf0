"""Running on Dask: every model and every record is a task, on local worker processes or on a
cluster reached over the network.

`connect(workers=N)` starts a LocalCluster of N worker processes with one thread each;
`connect(scheduler="tcp://HOST:8786")` joins a cluster started with the standard commands
(`dask scheduler`, `dask worker`). `DaskExecutor` then gives the chapter context the same four
operations as the serial executor (put, submit, when_done, gather):

- a training task returns the trained model, a record task its numbers; the *client* writes
  both to the cache and the records, atomically, as soon as each task is done, so workers need
  no shared file system and an interrupted client keeps everything that finished;
- dependencies are futures: a record waits for its model, an adversarially fine-tuned model
  for its clean one; the scheduler runs whatever is ready, so both cores stay busy;
- every task sets its own BLAS thread count (nprelu.executors.record_task, nprelu.train.fit), so a
  model trained on a worker has the bits of the same model trained serially.
Dask is imported only here, and only when a run asks for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

from .executors import Executor
from .progress import bar, on_terminal, plural, say


class DaskExecutor(Executor):
    """The executor for a Dask client; shared by chapters that run in threads of the client."""

    name = "dask"
    verbose_training = False  # workers train silently; the client prints a line per model
    trains_ahead = True  # queue every model as soon as a chapter names it (see Context.spec)

    def __init__(self, client):
        super().__init__()
        self.client = client
        self.lock = threading.RLock()
        self.tasks: list = []  # the futures of every training and record task
        self._scattered: dict[int, tuple[object, object]] = {}
        self._callbacks_pending = 0
        self._idle = threading.Condition(self.lock)

    def put(self, value):
        """Send data to the workers once (to all of them, so losing one loses no data)."""
        with self.lock:
            hit = self._scattered.get(id(value))
            if hit is not None and hit[0] is value:
                return hit[1]
            future = self.client.scatter([value], broadcast=True, hash=False)[0]
            self._scattered[id(value)] = (value, future)
            return future

    def submit(self, fn: Callable, *args, label: str = ""):
        future = self.client.submit(fn, *args, pure=False,
                                    key=f"{label or fn.__name__}-{os.urandom(4).hex()}")
        if label:
            with self.lock:
                self.tasks.append(future)
        return future

    def when_done(self, future, callback: Callable) -> None:
        """Run callback(result) in the client as soon as the task finishes (in Dask's callback
        thread); `drain` waits for every such callback."""
        with self.lock:
            self._callbacks_pending += 1

        def done(f):
            try:
                if f.status == "finished":
                    callback(f.result())
            except Exception as err:  # noqa: BLE001 - report it, never kill Dask's thread
                say(f"could not store the result of {f.key}: {err}")
            finally:
                with self.lock:
                    self._callbacks_pending -= 1
                    self._idle.notify_all()

        future.add_done_callback(done)

    def gather(self, futures: list) -> list:
        return self.client.gather(futures)

    def drain(self) -> None:
        """Wait until every finished task's result is on disk."""
        with self.lock:
            while self._callbacks_pending:
                self._idle.wait(0.5)

    def status(self) -> tuple[int, int, int]:
        """(done, running, queued) over the training and record tasks."""
        with self.lock:
            tasks = list(self.tasks)
        done = sum(f.done() for f in tasks)
        try:
            busy = {k for keys in self.client.run(_executing).values() for k in keys}
        except Exception:  # noqa: BLE001 - a progress display must never stop the run
            busy = set()
        running = sum(1 for f in tasks if not f.done() and f.key in busy)
        return done, running, len(tasks) - done - running


class Progress:
    """One bar over all tasks (done / running / queued, ETA) while a cluster run lasts; on a
    non-terminal, a status line every 30 s instead."""

    def __init__(self, executor: DaskExecutor):
        self.executor = executor
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        t0 = last_line = time.time()
        with bar(total=0, desc="tasks", unit="task") as b:
            while not self.stop.wait(1.0):
                done, running, queued = self.executor.status()
                total = done + running + queued
                eta = (time.time() - t0) / done * (total - done) if done else float("nan")
                b.total = total
                b.n = done
                b.set_postfix_str(f"{running} running, {queued} queued", refresh=True)
                if not on_terminal() and time.time() - last_line >= 30:
                    last_line = time.time()
                    say(f"[cluster] {done}/{total} tasks done, {running} running, {queued} "
                        f"queued, {time.time() - t0:.0f} s so far" + (
                            f", about {eta / 60:.0f} min to go" if done else ""))


def _executing(dask_worker) -> list[str]:
    """The keys a worker is executing right now (run on each worker by Client.run)."""
    return [ts.key for ts in dask_worker.state.executing]


def _worker_env() -> dict[str, str]:
    """Environment of a local worker process: one thread everywhere, the client's BLAS kernel
    (OPENBLAS_CORETYPE, when the client pinned one), the allocator settings of tune_malloc."""
    one, big = "1", str(1 << 30)
    env = {"OPENBLAS_NUM_THREADS": one, "OMP_NUM_THREADS": one, "MKL_NUM_THREADS": one,
           "NUMBA_NUM_THREADS": one, "MALLOC_MMAP_THRESHOLD_": big,
           "MALLOC_TRIM_THRESHOLD_": big}
    if os.environ.get("OPENBLAS_CORETYPE"):
        env["OPENBLAS_CORETYPE"] = os.environ["OPENBLAS_CORETYPE"]
    return env


def check_same_kernel(client) -> None:
    """Refuse a cluster whose workers compute with another BLAS kernel than this client: the
    client names models and records by its own kernel (nprelu.blas), so a worker on another
    kernel would store results under a name they do not deserve."""
    from . import blas

    mine = blas.fingerprint()
    theirs = client.run(_worker_kernel)
    wrong = {w: k for w, k in theirs.items() if k[0] != mine}
    if wrong:
        listing = "; ".join(f"{w}: {k[1]} (fingerprint {k[0]})" for w, k in wrong.items())
        raise RuntimeError(
            f"the Dask workers do not all use this client's BLAS kernel, {blas.kernel()} "
            f"(fingerprint {mine}): {listing}. Their results would differ in the last bits and "
            "be stored as this kernel's. Start every worker with the client's OPENBLAS_CORETYPE "
            f"(e.g. `{blas.PIN} dask worker ...` and `{blas.PIN} nprelu reproduce ...`)")


def _worker_kernel() -> tuple[str, str]:
    from . import blas

    return blas.fingerprint(), blas.kernel()


def _check_reachable(address: str) -> None:
    """Fail in a second, not after the client's timeout, when nothing listens at address."""
    host, _, port = address.split("://")[-1].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            pass
    except (OSError, ValueError) as err:
        raise RuntimeError(f"cannot reach the Dask scheduler at {address}: {err}. Start one "
                           f"with `dask scheduler` and at least one `dask worker {address}`"
                           ) from None


@contextlib.contextmanager
def connect(workers: int | None = None, scheduler: str | None = None,
            dashboard: str = ":0") -> Iterator[object]:
    """A Dask client: on a new LocalCluster of `workers` processes (one thread and one BLAS
    thread each), or on the existing scheduler at `scheduler`. Prints where the dashboard is."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise RuntimeError("--workers and --scheduler need Dask: pip install -e \".[cluster]\""
                           ) from None
    if scheduler:
        _check_reachable(scheduler)
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as err:
            raise RuntimeError(f"cannot reach the Dask scheduler at {scheduler}: {err}. Start "
                               "one with `dask scheduler` and at least one `dask worker "
                               f"{scheduler}`") from None
        with client:
            try:
                client.wait_for_workers(1, timeout=60)
            except TimeoutError:
                raise RuntimeError(f"the Dask scheduler at {scheduler} has no workers after 60 s;"
                                   f" start one with `dask worker {scheduler}`") from None
            info = client.scheduler_info()
            n = len(info.get("workers", {}))
            board = (f"dashboard {client.dashboard_link}" if "dashboard" in info.get("services", {})
                     else "no dashboard")
            say(f"connected to the Dask scheduler at {scheduler} ({plural(n, 'worker')}); {board}")
            check_same_kernel(client)
            yield client
        return
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=dashboard, silence_logs=logging.ERROR,
                           env=_worker_env())
    with cluster, Client(cluster) as client:
        say(f"started a Dask LocalCluster: {workers} worker processes, 1 thread and 1 BLAS "
            f"thread each; dashboard {client.dashboard_link}")
        check_same_kernel(client)
        yield client
