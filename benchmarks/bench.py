"""Speed of the hot paths on this machine (a measurement, not a test).

    python benchmarks/bench.py            # numba on
    python benchmarks/bench.py --no-jit   # re-runs itself with NUMBA_DISABLE_JIT=1 (plain Python
                                          # twins; the epoch is extrapolated from a few steps)

Prints seconds per training epoch of the (392, 196) net at batch 32 and 128, PGD (eps 0.1,
step 0.01, 10 iterations) over the 10 000 test images, and CW-L2 iterations per second on a
batch of 1000. Each number is the median of several repeats after a warm-up.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np


def timeit(fn, repeats: int = 3) -> float:
    fn()  # warm-up (JIT compilation, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--no-jit", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    if a.no_jit and os.environ.get("NUMBA_DISABLE_JIT") != "1":
        env = dict(os.environ, NUMBA_DISABLE_JIT="1")
        raise SystemExit(subprocess.call([sys.executable, __file__, "--no-jit"], env=env))

    import nprelu as nr

    jit = os.environ.get("NUMBA_DISABLE_JIT") != "1"
    (x, y), (xt, yt) = nr.load_mnist()
    print(f"# nprelu benchmarks — numba {'on' if jit else 'OFF (plain Python twins)'}")
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
          f" numpy {np.__version__}")
    for bs in (32, 128):
        model = nr.MLP((392, 196), seed=0)
        if jit:
            secs = timeit(lambda m=model, b=bs: nr.train(m, x, y, epochs=1, batch_size=b,
                                                         progress=False), a.repeats)
            print(f"train epoch, batch {bs:4d}: {secs:8.2f} s")
        else:
            steps = 20
            secs = timeit(lambda m=model, b=bs: nr.train(m, x[: steps * b], y[: steps * b],
                                                         epochs=1, batch_size=b,
                                                         progress=False), 1)
            print(f"train epoch, batch {bs:4d}: {secs * len(x) / (steps * bs):8.1f} s "
                  f"(extrapolated from {steps} steps)")
    model = nr.MLP((392, 196), seed=0)
    nr.train(model, x[:10000], y[:10000], epochs=1, progress=False)
    if jit:
        secs = timeit(lambda: nr.pgd(model, xt, yt, 0.1, 0.01, 10), a.repeats)
        print(f"PGD-10 over 10000 test images: {secs:8.2f} s")
        steps = 200
        secs = timeit(lambda: nr.cw_l2(model, xt[:1000], yt[:1000], steps=steps,
                                       binary_steps=1, abort_early=False), a.repeats)
        print(f"CW-L2, batch of 1000: {steps / secs:8.1f} iterations/s")
    else:
        secs = timeit(lambda: nr.pgd(model, xt[:1000], yt[:1000], 0.1, 0.01, 10), 1)
        print(f"PGD-10 over 10000 test images: {secs * 10:8.2f} s (extrapolated from 1000)")


if __name__ == "__main__":
    main()
