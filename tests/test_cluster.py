"""The Dask executor, with real clusters: a LocalCluster, and a scheduler and worker started as
separate processes on 127.0.0.1. Determinism against the serial run, a worker killed in the
middle of training, the client killed (its workers must die with it; a rerun resumes)."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys

import pytest

import nprelu as nr
from nprelu.reproduce import reproduce
from tests.helpers import start_nprelu, wait_for

pytest.importorskip("dask.distributed", reason="needs the cluster extra: pip install -e .[cluster]")
psutil = pytest.importorskip("psutil")


def worker_processes(pid):
    """The Python processes a client started (LocalCluster workers)."""
    return [p for p in psutil.Process(pid).children(recursive=True)
            if "python" in p.name().lower()]


def cluster_run(tmp_path, chapter: str, models: int):
    """Start `nprelu reproduce --quick --only CHAPTER --workers 2` and wait until `models`
    models are cached: (process, results folder, cache folder, its worker processes)."""
    res, cache = tmp_path / "results", tmp_path / "cache"
    proc = start_nprelu(["reproduce", "--quick", "--only", chapter, "--workers", "2"],
                        {"NPRELU_RESULTS": res, "NPRELU_CACHE": cache}, tmp_path)
    wait_for(lambda: len(list(cache.glob("*.npz"))) >= models)
    return proc, res, cache, worker_processes(proc.pid)


def same_as_serial(results, cache, quick_run):
    """Every record and every cached model equals those of the serial quick run, bit for bit."""
    _, serial_res, serial_cache, _ = quick_run
    records = sorted((results / "records").glob("*.json"))
    assert records
    for rec in records:
        want = json.loads((serial_res / "records" / rec.name).read_text())["numbers"]
        assert json.loads(rec.read_text())["numbers"] == want, rec.name
    models = sorted(cache.glob("*.npz"))
    assert models
    for m in models:
        assert m.read_bytes() == (serial_cache / m.name).read_bytes(), m.name
        assert nr.MLP.load(m) is not None


# The session's quick run (conftest.quick_run) itself runs on a two-worker LocalCluster, and
# tests/test_reproduce.py checks its records against the serially made pre-redesign records.


@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_training(tmp_path, quick_run):
    proc, res, cache, victims = cluster_run(tmp_path, "ch4", models=2)
    assert len(victims) >= 2, "expected two worker processes"
    victims[0].send_signal(signal.SIGKILL)  # mid-task: both workers train all the time here
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert "all done" in out
    same_as_serial(res, cache, quick_run)
    assert [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")] == []


@pytest.mark.slow
def test_killing_the_client_kills_its_workers_and_a_rerun_resumes(tmp_path, quick_run):
    proc, res, cache, workers = cluster_run(tmp_path, "ch7", models=1)
    assert len(workers) >= 2
    proc.send_signal(signal.SIGKILL)  # kill -9: no chance to clean up
    proc.wait(timeout=30)
    gone, alive = psutil.wait_procs(workers, timeout=20)
    assert alive == [], f"orphaned workers still running: {[p.pid for p in alive]}"
    finished = {p: p.stat().st_mtime_ns for p in cache.glob("*.npz")}
    assert finished and all(nr.MLP.load(p) is not None for p in finished)
    reproduce(quick=True, only="ch7", results=res, cache=cache)  # serial rerun
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())  # nothing retrained
    same_as_serial(res, cache, quick_run)


@pytest.mark.slow
def test_ctrl_c_stops_a_cluster_run_and_its_workers(tmp_path):
    proc, _, cache, workers = cluster_run(tmp_path, "ch4", models=1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted. Finished models and records are saved; rerun the same command" in err
    gone, alive = psutil.wait_procs(workers, timeout=20)
    assert alive == []
    assert all(nr.MLP.load(p) is not None for p in cache.glob("*.npz"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def tcp_cluster(folder, worker_env: dict | None = None):
    """A `dask scheduler` and one `dask worker` as processes on 127.0.0.1 (the worker with
    `worker_env` added to its environment); yields the scheduler's address once it listens."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": folder}
    scheduler = subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port",
                                  str(port), "--no-dashboard"], **quiet)
    worker = subprocess.Popen([*dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                               "--no-dashboard", "--host", "127.0.0.1"], **quiet,
                              env=dict(os.environ, **(worker_env or {})))
    try:
        # nprelu refuses at once a scheduler not yet listening (importing Dask takes seconds)
        wait_for(lambda: _listening(port))
        yield address
    finally:
        for p in (worker, scheduler):
            p.terminate()
            p.wait(timeout=30)


@pytest.mark.slow
def test_a_chapter_through_a_scheduler_and_a_worker_over_tcp(tmp_path, quick_run):
    with tcp_cluster(tmp_path) as address:
        res, cache = tmp_path / "results", tmp_path / "cache"
        env = {"NPRELU_RESULTS": str(res), "NPRELU_CACHE": str(cache)}
        proc = start_nprelu(["reproduce", "--quick", "--only", "ch7", "--scheduler", address],
                            env, tmp_path)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        assert f"connected to the Dask scheduler at {address} (1 worker)" in out
        same_as_serial(res, cache, quick_run)


def test_workers_and_scheduler_exclude_each_other(cli):
    code, _, err = cli("reproduce", "--quick", "--workers", "2", "--scheduler", "tcp://x:1")
    assert code == 2 and "either --workers" in err


def test_an_unreachable_scheduler_says_how_to_start_one(cli, tmp_path):
    code, _, err = cli("reproduce", "--quick", "--only", "ch7", "--results", tmp_path / "r",
                       "--cache", tmp_path / "c", "--scheduler", f"tcp://127.0.0.1:{_free_port()}")
    assert code == 2 and "cannot reach the Dask scheduler" in err and "dask scheduler" in err


@pytest.mark.slow
def test_a_worker_on_another_blas_kernel_is_refused_over_tcp(tmp_path):
    from tests.test_blas import needs_openblas, other_coretype

    if needs_openblas.args[0]:
        pytest.skip(needs_openblas.kwargs["reason"])
    with tcp_cluster(tmp_path, {"OPENBLAS_CORETYPE": other_coretype()}) as address:
        env = {"NPRELU_RESULTS": str(tmp_path / "r"), "NPRELU_CACHE": str(tmp_path / "c")}
        proc = start_nprelu(["reproduce", "--quick", "--only", "ch7", "--scheduler", address],
                            env, tmp_path)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, err[-2000:]
        assert "do not all use this client's BLAS kernel" in err and other_coretype() in err
        assert not (tmp_path / "c").exists() or not list((tmp_path / "c").glob("*.npz"))
