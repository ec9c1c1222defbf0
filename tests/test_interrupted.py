"""Interrupted runs: Ctrl-C prints how to resume and exits 130; everything finished is on disk
and whole; rerunning retrains nothing that was done and gives the numbers of an undisturbed
run. Output to a pipe has no carriage-return progress bars."""

import json
import signal
import time

import pytest

import nprelu as nr
from nprelu.progress import plural
from tests.helpers import start_nprelu, wait_for


@pytest.mark.slow
def test_ctrl_c_during_reproduce_then_resume(tmp_path, quick_run):
    res, cache = tmp_path / "results", tmp_path / "cache"
    env = {"NPRELU_RESULTS": str(res), "NPRELU_CACHE": str(cache)}
    proc = start_nprelu(["reproduce", "--quick", "--only", "ch7"], env, tmp_path)
    wait_for(lambda: len(list(cache.glob("*.npz"))) >= 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted. Finished models and records are saved; rerun the same command" in err
    assert "Traceback" not in err and "\r" not in out + err
    assert [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")] == []
    done = {p: p.stat().st_mtime_ns for p in cache.glob("*.npz")}
    stored = len(list((res / "records").glob("*.json")))
    assert len(done) >= 2 and all(nr.MLP.load(p) is not None for p in done)

    proc = start_nprelu(["reproduce", "--quick", "--only", "ch7"], env, tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())  # nothing retrained
    assert f"{plural(3 - stored, 'record')} to compute, {stored} stored" in out
    _, undisturbed, _, _ = quick_run
    for rec in (res / "records").glob("sec7_*.json"):
        again = json.loads((undisturbed / "records" / rec.name).read_text())["numbers"]
        assert json.loads(rec.read_text())["numbers"] == again, rec.name


@pytest.mark.slow
def test_ctrl_c_during_training_saves_nothing(tmp_path):
    out_file = tmp_path / "m.npz"
    proc = start_nprelu(["train", "--epochs", "5", "--out", str(out_file)], {}, tmp_path)
    time.sleep(4)  # past loading the data, into the first epoch
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "nprelu train: interrupted" in err and "Traceback" not in err
    assert not out_file.exists() and list(tmp_path.iterdir()) == []
