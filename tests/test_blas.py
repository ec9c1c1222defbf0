"""nprelu.blas: the BLAS kernel is part of every result's identity. Pinned kernels really give
other bits; off the reference kernel, cache keys and record configs name the kernel; a Dask
worker on another kernel than its client is refused."""

import os
import subprocess
import sys

import pytest

from nprelu import blas
from nprelu.store import model_key
from nprelu.train import Spec


def kernel_in_child(coretype: str) -> tuple[str, str]:
    """(fingerprint, kernel name) of a fresh Python process started with OPENBLAS_CORETYPE."""
    env = dict(os.environ, OPENBLAS_CORETYPE=coretype)
    out = subprocess.run([sys.executable, "-c", "from nprelu import blas; "
                          "print(blas.fingerprint()); print(blas.kernel())"],
                         env=env, capture_output=True, text=True, check=True).stdout.split("\n")
    return out[0], out[1]


def other_coretype() -> str:
    """An OpenBLAS kernel that is not this process's (every x86-64 CPU with AVX runs both)."""
    return "Sandybridge" if "Haswell" in blas.kernel() else "Haswell"


needs_openblas = pytest.mark.skipif(
    not blas.kernel().startswith("OpenBLAS") or os.uname().machine != "x86_64",
    reason="pinning kernels with OPENBLAS_CORETYPE needs OpenBLAS on x86-64")


@needs_openblas
def test_two_pinned_kernels_give_other_bits_and_each_is_stable():
    a1, name_a = kernel_in_child("Haswell")
    a2, _ = kernel_in_child("Haswell")
    b, name_b = kernel_in_child("Sandybridge")
    assert a1 == a2 and a1 != b
    assert "Haswell" in name_a and "Sandybridge" in name_b
    assert blas.fingerprint() == blas.fingerprint()  # cached, and computed at one thread


@needs_openblas
def test_the_reference_is_haswell_and_pinning_reaches_it():
    fp, _ = kernel_in_child("Haswell")
    if fp != blas.REFERENCE:
        pytest.skip(f"this OpenBLAS ({blas.kernel()}) gives other Haswell bits than the "
                    "reference; the committed numbers cannot be reproduced bit for bit here")
    assert blas.REFERENCE_KERNEL.endswith("Haswell kernels")


def test_off_the_reference_kernel_keys_and_records_name_it(monkeypatch):
    spec = Spec((392, 196), ((2, 0.1),))
    monkeypatch.setattr(blas, "tag", lambda: None)
    on_reference = model_key(spec)
    monkeypatch.setattr(blas, "tag", lambda: "3d8e8fc3cd80")
    elsewhere = model_key(spec)
    assert on_reference != elsewhere
    monkeypatch.setattr(blas, "tag", lambda: "6c6a4d653f86")
    assert model_key(spec) not in (on_reference, elsewhere)


def test_a_record_config_names_a_kernel_other_than_the_reference(monkeypatch, tmp_path):
    from nprelu.context import make_context

    seen = []

    def numbers(x):
        seen.append(1)
        return {"value": 1.0}

    ctx = make_context(quick=True, results=tmp_path / "r", cache=tmp_path / "c")
    monkeypatch.setattr(blas, "tag", lambda: None)
    ctx.records({"r": (numbers, 3)})
    monkeypatch.setattr(blas, "tag", lambda: "3d8e8fc3cd80")
    ctx2 = make_context(quick=True, results=tmp_path / "r", cache=tmp_path / "c")
    ctx2.records({"r": (numbers, 3)})  # another kernel: not reused, computed again
    assert len(seen) == 2
    import json

    rec = json.loads((tmp_path / "r" / "records" / "r.json").read_text())
    assert rec["config"]["blas"] == "3d8e8fc3cd80"
    assert rec["blas"] == blas.describe()  # what made it, for the reader


def test_a_worker_on_another_kernel_is_refused():
    from nprelu.cluster import check_same_kernel

    class Client:
        def __init__(self, kernels):
            self.kernels = kernels

        def run(self, fn):
            return self.kernels

    check_same_kernel(Client({"w1": (blas.fingerprint(), blas.kernel())}))  # fine
    with pytest.raises(RuntimeError, match="do not all use this client's BLAS kernel.*w2.*"
                                           "OPENBLAS_CORETYPE"):
        check_same_kernel(Client({"w1": (blas.fingerprint(), blas.kernel()),
                                  "w2": ("0123456789ab", "OpenBLAS, Zen kernels")}))
