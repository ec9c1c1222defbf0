"""Which BLAS kernel does the matrix products, and why every result says so.

A float32 matrix product is a sum of many terms, and a BLAS library adds them in an order that
depends on its kernel: OpenBLAS picks one for the CPU it finds (Haswell, SkylakeX, ... on x86-64)
unless the environment variable OPENBLAS_CORETYPE names one. Two kernels give products that
differ in their last bits; after an epoch of training the weights differ, and near a kink of the
capped ReLU an accuracy can move by points. So a model or a record is a function of its recipe,
its BLAS thread count *and* its BLAS kernel.

We name a kernel by what it does, not by what it is called: `fingerprint()` hashes a few
float32 and float64 products computed at one thread. Two environments with the same fingerprint
give the same bits. The committed results (results/, tests/data/) were made on the
REFERENCE fingerprint (OpenBLAS 0.3.31, Haswell kernels). On another kernel, every cache key and
record config carries the fingerprint (`tag()`), so a run there never reuses, or mixes with, the
committed records: it computes its own. To reproduce the committed numbers bit for bit on any
x86-64 machine, pin the kernel before NumPy loads, in the shell that starts nprelu (and every
Dask worker):

    OPENBLAS_CORETYPE=Haswell nprelu reproduce --quick
"""

from __future__ import annotations

import hashlib
from functools import cache

import numpy as np

# fingerprint() on the machine that made the committed results: OpenBLAS 0.3.31 (numpy 2.4.6),
# OPENBLAS_CORETYPE=Haswell, one BLAS thread
REFERENCE = "237f9280e0bb"
REFERENCE_KERNEL = "OpenBLAS 0.3.31.188.0, Haswell kernels"
PIN = "OPENBLAS_CORETYPE=Haswell"


@cache
def fingerprint() -> str:
    """12 hex digits: sha256 of float32 and float64 products the project's computations use
    (training and attack shapes in float32, certification in float64), at one BLAS thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        rng = np.random.default_rng(0)
        h = hashlib.sha256()
        for dtype, shapes in ((np.float32, [(32, 784, 392), (4096, 784, 392), (392, 32, 196),
                                            (500, 196, 10)]),
                              (np.float64, [(100, 784, 392), (392, 196, 10)])):
            for m, k, n in shapes:
                a = rng.standard_normal((m, k)).astype(dtype)
                b = rng.standard_normal((k, n)).astype(dtype)
                h.update((a @ b).tobytes())
        return h.hexdigest()[:12]


@cache
def kernel() -> str:
    """A readable name of the BLAS numpy uses, e.g. 'OpenBLAS 0.3.31, Haswell kernels'."""
    from threadpoolctl import threadpool_info

    np.ones((2, 2)) @ np.ones((2, 2))  # make sure numpy's BLAS is loaded
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            name = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS"}.get(
                lib.get("internal_api"), lib.get("internal_api", "BLAS"))
            arch = lib.get("architecture")
            return f"{name} {lib.get('version')}" + (f", {arch} kernels" if arch else "")
    return "unknown BLAS"


def is_reference() -> bool:
    """True when this process computes with the kernel of the committed results."""
    return fingerprint() == REFERENCE


def tag() -> str | None:
    """What enters cache keys and record configs: None on the reference kernel (so that keys
    made before kernels were tracked stay valid there), else this kernel's fingerprint."""
    return None if is_reference() else fingerprint()


def describe() -> dict:
    """The kernel as stored beside every record and model (for reading, not for matching)."""
    return {"kernel": kernel(), "fingerprint": fingerprint()}


def announcement() -> str:
    """One line for the start of a run: which kernel, and what that means for reuse."""
    if is_reference():
        return (f"BLAS: {kernel()} (fingerprint {fingerprint()}), the kernel of the committed "
                "results: stored models and records are reused bit for bit")
    return (f"BLAS: {kernel()} (fingerprint {fingerprint()}), not the kernel of the committed "
            f"results ({REFERENCE_KERNEL}): models and records are computed anew under keys "
            f"that name this kernel, never mixed with the committed ones. To reuse those, start "
            f"the run with {PIN} (on x86-64)")
