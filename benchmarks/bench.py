"""Speed of nprelu's hot paths, side by side with the same computation in PyTorch (CPU).

    python benchmarks/bench.py              # numba on; PyTorch too if installed
    python benchmarks/bench.py --no-jit     # nprelu with NUMBA_DISABLE_JIT=1 (plain-Python twins;
                                            # extrapolated from a few steps)
    python benchmarks/bench.py --quick      # fewer repeats, smaller workloads (a smoke run)

For the (392, 196) and (392, 196, 98) nets: one training epoch on the 60 000 MNIST images at batch
32 and 128 (forward, backward, Adam); PGD (eps 0.1, step 0.01, 10 iterations) over the 10 000 test
images; CW-L2 iterations per second on a batch of 1000; the zero-gradient search (step 0.01, at
most 100 iterations here) over 1000 test images. Both libraries use the same number of threads;
every number is the best (and the median) of several repeats after a warm-up, ours and
PyTorch's repeats interleaved. Achieved GFLOP/s counts the
matrix products only (2 * in * out per sample per product), and is also given as a share of this
machine's float32 matmul peak, measured in the same run with a large numpy matmul.
Writes benchmarks/RESULTS.md (RESULTS-nojit.md with --no-jit; nothing with --quick).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
NETS = ((392, 196), (392, 196, 98))
NOJIT_STEPS = 20


def timeit(fn, repeats: int) -> float:
    return timeit_pair(fn, None, repeats)[0][0]


def timeit_pair(ours, theirs, repeats: int) -> tuple[tuple, tuple | None]:
    """(best, median) seconds of `ours` and of `theirs` (None: skipped), after one warm-up each.

    This 2-core machine is a shared VM: now and then, for ~8 s, a 2-thread epoch at batch 32 runs
    3x slower (the second core is taken away; 1-thread runs barely change), so
    - the repeats alternate (ours, theirs, ours, ...) and both libraries see the same seconds;
    - the headline is the best of the repeats, the usual statistic when interference only ever
      adds time (as Python's timeit advises); the median is reported beside it."""
    fns = [f for f in (ours, theirs) if f is not None]
    for f in fns:
        f()  # warm-up: JIT compilation, allocator, caches
    times = [[] for _ in fns]
    for _ in range(repeats):
        for f, ts in zip(fns, times):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    stats = [(min(ts), statistics.median(ts)) for ts in times]
    return stats[0], (stats[1] if theirs is not None else None)


class Peak:
    """This machine's float32 matmul peak (GFLOP/s), an upper bound that holds for the whole run.

    A shared VM runs some seconds up to 3x slower: one measurement at the start can come out
    low, and a workload timed in a fast second then shows more than 100 % of "peak". So the
    peak is measured again after every workload (a 2048^3 product, best of a few) and the
    largest value seen is used for every row, at the end of the run."""

    def __init__(self, repeats: int):
        self.repeats = repeats
        self.a = np.random.default_rng(0).normal(size=(2048, 2048)).astype(np.float32)
        self.seen: list[float] = []
        self.measure()

    def measure(self) -> float:
        secs = timeit(lambda: self.a @ self.a, self.repeats + 2)
        self.seen.append(2 * 2048**3 / secs / 1e9)
        return self.seen[-1]

    @property
    def value(self) -> float:
        return max(self.seen)


def share_of_peak(gflops: float | None, peak: float) -> str:
    """'57.3 %', or '–' without a FLOP count. A share above 100 % means the FLOP count or the
    peak is wrong: refused rather than printed."""
    if not gflops:
        return "–"
    share = 100 * gflops / peak
    if share > 100:
        raise RuntimeError(f"{gflops:.1f} GFLOP/s is {share:.0f} % of the measured peak "
                           f"{peak:.1f}: the FLOP count or the peak measurement is wrong")
    return f"{share:.1f} %"


def describe_row(row: dict, peak: float) -> str:
    """One console line; PyTorch's columns only when PyTorch ran."""
    line = f"{row['net']:>11} {row['what']:<56} ours {row['ours']:8.3f} s"
    if row["torch"]:
        line += f"  torch {row['torch']:8.3f} s  speed-up {row['torch'] / row['ours']:5.2f}x"
    if row["gflops"]:
        line += f"  {row['gflops']:6.1f} GFLOP/s = {share_of_peak(row['gflops'], peak)} of peak"
    return line


def gemm_flops(hidden, n: int, kind: str) -> float:
    """Matrix-product FLOPs of n samples: forward; + weight grads and input grads (not of x)."""
    sizes = (784, *hidden, 10)
    macs = [sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1)]
    fwd = 2 * sum(macs)
    if kind == "train":
        return n * (fwd + 2 * sum(macs) + 2 * sum(macs[1:]))
    return n * (fwd + 2 * sum(macs))  # attacks: forward + input gradient through every layer


# ----------------------------------------------------------------------------- PyTorch twins
def torch_net(hidden, seed=0):
    import torch

    torch.manual_seed(seed)
    sizes = (784, *hidden, 10)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_train_epoch(net, x, y, bs, seed=0):
    import torch

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x), generator=g)
    for s in range(0, len(x), bs):
        idx = order[s : s + bs]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
        loss.backward()
        opt.step()


def torch_pgd(net, x, y, eps=0.1, step=0.01, iters=10, batch=4096):
    import torch

    F = torch.nn.functional
    out = []
    for i in range(0, len(x), batch):
        x0, y0 = x[i : i + batch], y[i : i + batch]
        adv = x0.clone()
        for _ in range(iters):
            adv.requires_grad_(True)
            loss = F.cross_entropy(net(adv), y0, reduction="sum")
            (g,) = torch.autograd.grad(loss, adv)
            adv = torch.min(torch.max(adv.detach() + step * g.sign(), x0 - eps), x0 + eps)
            adv = adv.clamp(0, 1)
        out.append(adv)
    return torch.cat(out)


def torch_cw_steps(net, x, y, steps, c=1e-2):
    """CW-L2 inner loop: tanh variables, margin loss, Adam — the per-iteration work of cw_l2."""
    import torch

    w = torch.atanh((2 * x - 1) * 0.999999).clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=0.01)
    rows = torch.arange(len(x))
    for _ in range(steps):
        xa = (torch.tanh(w) + 1) / 2
        z = net(xa)
        other = z.clone()
        other[rows, y] = -torch.inf
        margin = torch.clamp(z[rows, y] - other.max(1).values, min=0)
        l2 = ((xa - x) ** 2).sum(1)
        loss = (l2 + c * margin).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _ = z.argmax(1) != y  # the success check the real attack does every step


def torch_zero_grad(net, x, y, step=0.01, iters=100):
    import torch

    F = torch.nn.functional
    adv = x.clone()
    active = torch.ones(len(x), dtype=torch.bool)
    for _ in range(iters + 1):
        idx = active.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        a = adv[idx].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(net(a), y[idx], reduction="sum"), a)
        zero = (g == 0).all(1)
        active[idx[zero]] = False
        adv[idx] = (a.detach() + step * g.sign()).clamp(0, 1)
    return adv


# ----------------------------------------------------------------------------- main
def bench_net(hidden, data, peak, args, jit, have_torch) -> list[dict]:
    """Every workload on one architecture, nprelu and (if present) PyTorch."""
    import nprelu as nr

    if have_torch:
        import torch
    (x, y), (xt, yt) = data
    rows = []
    model = nr.MLP(hidden, seed=0)
    nr.train(model, x[:6000], y[:6000], epochs=1, progress=False)
    if have_torch:
        tx, ty, txt, tyt = (torch.from_numpy(a.copy()) for a in (x, y, xt, yt))
        net = torch_net(hidden)
        with torch.no_grad():
            for lin, d in zip([m for m in net if isinstance(m, torch.nn.Linear)],
                              model.dense):
                lin.weight.copy_(torch.from_numpy(d.W.T.copy()))
                lin.bias.copy_(torch.from_numpy(d.b.copy()))
    jobs = []
    for bs in (32, 128):
        if jit:
            ours = (lambda b=bs: nr.train(nr.MLP(hidden, seed=0), x, y, epochs=1,
                                          batch_size=b, progress=False))
            n_ours = len(x)
        else:
            n_ours = NOJIT_STEPS * bs
            ours = (lambda b=bs, n=n_ours: nr.train(nr.MLP(hidden, seed=0), x[:n], y[:n],
                                                    epochs=1, batch_size=b, progress=False))
        theirs = (lambda b=bs: torch_train_epoch(torch_net(hidden), tx, ty, b)) \
            if have_torch else None
        jobs.append((f"train epoch of {len(x)} images, batch {bs}", ours, theirs, n_ours,
                     len(x), gemm_flops(hidden, len(x), "train")))
    n_pgd = len(xt) if jit else 500
    jobs.append((f"PGD-10 over {len(xt)} test images",
                 lambda n=n_pgd: nr.pgd(model, xt[:n], yt[:n], 0.1, 0.01, 10),
                 (lambda: torch_pgd(net, txt, tyt)) if have_torch else None,
                 n_pgd, len(xt), 10 * gemm_flops(hidden, len(xt), "attack")))
    if jit:
        cw_steps = 20 if args.quick else 100
        jobs.append((f"CW-L2, {cw_steps} iterations on 1000",
                     lambda s=cw_steps: nr.cw_l2(model, xt[:1000], yt[:1000], steps=s,
                                                 binary_steps=1, abort_early=False),
                     (lambda s=cw_steps: torch_cw_steps(net, txt[:1000], tyt[:1000], s))
                     if have_torch else None,
                     1, 1, cw_steps * gemm_flops(hidden, 1000, "attack")))
        jobs.append(("zero-gradient search, 1000 images, <= 100 iters",
                     lambda: nr.zero_gradient_search(model, xt[:1000], yt[:1000], 0.01, 100),
                     (lambda: torch_zero_grad(net, txt[:1000], tyt[:1000]))
                     if have_torch else None, 1, 1, None))
    for what, ours, theirs, n_done, n_full, flops in jobs:
        reps = 1 if not jit else args.repeats
        (t_ours, med_ours), theirs_stats = timeit_pair(ours, theirs, reps)
        t_ours, med_ours = t_ours * n_full / n_done, med_ours * n_full / n_done
        t_theirs, med_theirs = theirs_stats or (None, None)
        if n_done != n_full:
            what += f" (extrapolated from {n_done})"
        row = {"net": "-".join(map(str, hidden)), "what": what, "ours": t_ours,
               "torch": t_theirs, "ours_median": med_ours, "torch_median": med_theirs,
               "gflops": flops / t_ours / 1e9 if flops else None,
               "extrapolated": n_done != n_full}
        rows.append(row)
        peak.measure()  # again after every workload: the largest value bounds them all
        print(describe_row(row, peak.value))
    return rows


# ----------------------------------------------------------------------------- the CNN
CNN = dict(convs=((16, 5), (32, 5)), dense=(128,))  # nprelu.Network.cnn's default


def torch_cnn(net):
    """The same CNN in PyTorch, with the weights of the nprelu net `net`."""
    import torch

    t = torch.nn
    layers, convs, denses = [], [], []
    for layer in net.layers:
        if layer.kind == "conv2d":
            conv = t.Conv2d(layer.c_in, layer.c_out, layer.k, layer.stride, layer.pad)
            convs.append((conv, layer))
            layers += [conv, t.ReLU()]
        elif layer.kind == "maxpool2d":
            layers.append(t.MaxPool2d(layer.k))
        elif layer.kind == "flatten":
            layers.append(t.Flatten())
        else:
            lin = t.Linear(layer.n_in, layer.n_out)
            denses.append((lin, layer))
            layers.append(lin)
            if layer.act is not None:
                layers.append(t.ReLU())
    model = t.Sequential(*layers)
    with torch.no_grad():
        for conv, layer in convs:
            conv.weight.copy_(torch.from_numpy(layer.W.copy()))
            conv.bias.copy_(torch.from_numpy(layer.b.copy()))
        for lin, layer in denses:
            lin.weight.copy_(torch.from_numpy(layer.W.T.copy()))
            lin.bias.copy_(torch.from_numpy(layer.b.copy()))
    return model


def cnn_flops(net, kind: str) -> float:
    """Matrix-product FLOPs per image: each convolution's im2col product and each dense
    product, forward; training adds the weight gradient and the input gradient (not of the
    image), an attack the input gradient of every layer."""
    fwd = []
    for layer, shape in zip(net.layers, net.shapes[1:]):
        if layer.kind == "conv2d":
            fwd.append(2 * shape[1] * shape[2] * layer.c_out * layer.c_in * layer.k ** 2)
        elif layer.kind == "dense":
            fwd.append(2 * layer.n_in * layer.n_out)
    if kind == "train":
        return sum(fwd) * 3 - fwd[0]  # forward, dW of all, dx of all but the first layer
    return sum(fwd) * 2


def bench_cnn(data, peak, args, have_torch) -> tuple[list[dict], list[str]]:
    """One CNN training epoch at batch 32 and 128 and PGD-10 over the test set, nprelu against
    PyTorch; then where nprelu's time goes, layer by layer, in a training epoch at batch 128."""
    import nprelu as nr

    (x, y), (xt, yt) = data
    net = nr.Network.cnn(**CNN, seed=0)
    rows = []
    if have_torch:
        import torch

        tx, ty = torch.from_numpy(x.reshape(-1, 1, 28, 28).copy()), torch.from_numpy(y.copy())
        txt = torch.from_numpy(xt.reshape(-1, 1, 28, 28).copy())
        tyt = torch.from_numpy(yt.copy())
    jobs = []
    for bs in (32, 128):
        ours = (lambda b=bs: nr.train(nr.Network.cnn(**CNN, seed=0), x, y, epochs=1,
                                      batch_size=b, progress=False))
        theirs = ((lambda b=bs: torch_train_epoch(torch_cnn(nr.Network.cnn(**CNN, seed=0)),
                                                  tx, ty, b)) if have_torch else None)
        jobs.append((f"CNN train epoch of {len(x)} images, batch {bs}", ours, theirs,
                     len(x) * cnn_flops(net, "train")))
    jobs.append((f"CNN PGD-10 over {len(xt)} test images",
                 lambda: nr.pgd(net, xt, yt, 0.1, 0.01, 10),
                 (lambda: torch_pgd(torch_cnn(net), txt, tyt, batch=512)) if have_torch
                 else None, 10 * len(xt) * cnn_flops(net, "attack")))
    for what, ours, theirs, flops in jobs:
        (t_ours, med_ours), theirs_stats = timeit_pair(ours, theirs, args.repeats)
        t_theirs, med_theirs = theirs_stats or (None, None)
        row = {"net": "CNN", "what": what, "ours": t_ours, "torch": t_theirs,
               "ours_median": med_ours, "torch_median": med_theirs,
               "gflops": flops / t_ours / 1e9, "extrapolated": False}
        rows.append(row)
        peak.measure()
        print(describe_row(row, peak.value))
    return rows, cnn_profile(net, x, y, peak)


def cnn_profile(net, x, y, peak) -> list[str]:
    """Seconds per part of a CNN training epoch at batch 128 (forward and backward of each
    layer, the loss, Adam), measured by timing every call, and the GFLOP/s of each
    convolution's GEMMs alone on the same shapes."""
    import nprelu as nr
    from nprelu import kernels
    from nprelu.optim import Adam

    net = nr.Network.cnn(**CNN, seed=0)
    spent: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            out = fn(*a, **kw)
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0
            return out
        return wrapper

    originals = []
    for i, layer in enumerate(net.layers):
        tag = f"{i + 1} {layer.kind}"
        originals.append((layer, layer.forward, layer.backward))
        layer.forward = timed(f"{tag} forward", layer.forward)
        layer.backward = timed(f"{tag} backward", layer.backward)
    im2col, col2im = kernels.im2col, kernels.col2im
    kernels.im2col = timed("  of which im2col", im2col)
    kernels.col2im = timed("  of which col2im", col2im)
    opt = Adam([net.params], lr=1e-3)
    steps = len(x) // 128
    t0 = time.perf_counter()
    try:
        for s in range(steps):
            xb, yb = x[s * 128:(s + 1) * 128], y[s * 128:(s + 1) * 128]
            timed("loss and chain rule (total)", net.loss_and_param_grads)(xb, yb, check=False)
            timed("Adam", opt.step)([net.grads])
    finally:
        kernels.im2col, kernels.col2im = im2col, col2im
        for layer, fwd, bwd in originals:
            layer.forward, layer.backward = fwd, bwd
    total = time.perf_counter() - t0
    lines = ["| part of a CNN training epoch (batch 128) | seconds | share |", "|---|---|---|"]
    for name, secs in spent.items():
        per_epoch = secs * len(x) / (steps * 128)
        lines.append(f"| {name} | {per_epoch:.2f} | {100 * secs / total:.0f} % |")
    lines.append(f"| whole epoch ({len(x)} images) | {total * len(x) / (steps * 128):.2f} | |")
    # the convolutions' GEMMs alone
    rng = np.random.default_rng(0)
    lines += ["", "| GEMM of | shape (rows x inner x cols) | GFLOP/s | share of peak |",
              "|---|---|---|---|"]
    for layer, shape in zip(net.layers, net.shapes[1:]):
        if layer.kind != "conv2d":
            continue
        m, kk, n = 128 * shape[1] * shape[2], layer.c_in * layer.k ** 2, layer.c_out
        a = rng.standard_normal((m, kk)).astype(np.float32)
        b = rng.standard_normal((kk, n)).astype(np.float32)
        secs = timeit(lambda a=a, b=b: a @ b, 5)
        gf = 2 * m * kk * n / secs / 1e9
        lines.append(f"| conv {layer.c_in}->{layer.c_out}, {layer.k}x{layer.k} | {m} x {kk} x "
                     f"{n} | {gf:.1f} | {share_of_peak(gf, peak.value)} |")
    print("\n".join(lines))
    return lines


CAPPED_CNN = dict(CNN, caps={1: 1.0, 2: 1.0, 3: 1.0})  # every activation capped at beta = 1
ACCURACY_EPOCHS = {"mnist": 5, "fashion-mnist": 10}


def cnn_accuracy(args) -> list[str]:
    """The capped CNN trained on each dataset (batch 128, Adam 0.001, seed 0): test accuracy
    after every epoch, and the seconds it took."""
    import nprelu as nr
    from nprelu.optim import Adam

    lines = ["| dataset | epochs (batch 128) | test accuracy after each epoch (%) | seconds |",
             "|---|---|---|---|"]
    for dataset, epochs in ACCURACY_EPOCHS.items():
        (x, y), (xt, yt) = nr.load_dataset(dataset)
        net = nr.Network.cnn(**CAPPED_CNN, seed=0, dataset=dataset)
        opt = Adam([net.params], lr=1e-3)
        accs, t0 = [], time.perf_counter()
        for epoch in range(epochs):
            nr.train(net, x, y, epochs=1, batch_size=128, seed=epoch, optimizer=opt,
                     progress=False)
            accs.append(100 * nr.accuracy(net, xt, yt))
        lines.append(f"| {dataset} | {epochs} | {', '.join(f'{a:.2f}' for a in accs)} | "
                     f"{time.perf_counter() - t0:.0f} |")
        print(lines[-1], flush=True)
    return lines


def bench_certification(data, args) -> list[str]:
    """CROWN and IBP on 1000 test inputs of a trained (392, 196) net at eps 0.1, and one epoch of
    IBP training against one ordinary epoch, in the same process (markdown lines)."""
    import nprelu as nr
    from nprelu import certify
    from nprelu.train import ibp_train

    (x, y), (xt, yt) = data
    n_train = 6000 if args.quick else 20000
    model = nr.MLP((392, 196), caps={2: 1.0}, seed=0)
    ibp_train(model, x[:n_train], y[:n_train], 0.15, epochs=1, batch_size=100, warmup=0,
              ramp=0, progress=False)
    xs, ys = xt[:1000], yt[:1000]
    t_crown = timeit(lambda: certify.crown_margins(model, xs, ys, 0.1), args.repeats)
    t_ibp = timeit(lambda: certify.ibp_margins(model, xs, ys, 0.1), args.repeats)
    fresh = lambda: nr.MLP((392, 196), caps={2: 1.0}, seed=0)  # noqa: E731
    xe, ye = x[:n_train], y[:n_train]

    def plain_epoch(batch_size):
        return lambda: nr.train(fresh(), xe, ye, epochs=1, batch_size=batch_size, progress=False)

    (t_plain100, _), (t_ibp_epoch, _) = timeit_pair(  # alternated: the same VM seconds
        plain_epoch(100), lambda: ibp_train(fresh(), xe, ye, 0.15, epochs=1, batch_size=100,
                                            warmup=0, ramp=0, progress=False), args.repeats)
    t_plain32 = timeit(plain_epoch(32), args.repeats)
    scale = len(x) / n_train  # epochs timed on n_train images, reported for all len(x)
    of = (f"{len(x)} images" + (f", timed on {n_train} and scaled" if scale != 1 else ""))
    lines = [
        "| workload | seconds (best of repeats) | note |", "|---|---|---|",
        f"| CROWN margins, 1000 inputs, eps 0.1, (392, 196) HL2@1 | {t_crown:.2f} | "
        f"target < 5 s on {args.threads} threads |",
        f"| IBP margins, same | {t_ibp:.3f} | |",
        f"| IBP-training epoch, batch 100 ({of}) | {t_ibp_epoch * scale:.2f} | "
        f"{t_ibp_epoch / t_plain100:.2f}x an ordinary epoch at batch 100, "
        f"{t_ibp_epoch / t_plain32:.2f}x the paper's ordinary epoch (batch 32) |",
        f"| ordinary epoch, batch 100 ({of}) | {t_plain100 * scale:.2f} | |",
        f"| ordinary epoch, batch 32 (the paper's; {of}) | {t_plain32 * scale:.2f} | |",
    ]
    print("\n".join(lines))
    return lines


def run(args) -> list[dict]:
    import nprelu as nr

    jit = os.environ.get("NUMBA_DISABLE_JIT") != "1"
    try:
        import torch

        torch.set_num_threads(args.threads)
        have_torch = jit
    except ImportError:
        have_torch = False
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    (x, y), (xt, yt) = nr.load_mnist()
    if args.quick:
        x, y = x[:6000], y[:6000]
        xt, yt = xt[:2000], yt[:2000]
    rows = []
    if not have_torch:
        print("PyTorch is not installed: nprelu alone (pip install -e '.[compare]' adds "
              "torch==2.13.0 and the comparison)")
    peak = Peak(args.repeats)
    print(f"float32 matmul peak (numpy, 2048^3, {args.threads} threads): {peak.value:.1f} "
          "GFLOP/s (measured again after every workload; the largest value is used)")
    for hidden in NETS:
        rows += bench_net(hidden, ((x, y), (xt, yt)), peak, args, jit, have_torch)
    cert = bench_certification(((x, y), (xt, yt)), args) if jit else []
    cnn_lines = []
    if jit:
        cnn_rows, cnn_lines = bench_cnn(((x, y), (xt, yt)), peak, args, have_torch)
        rows += cnn_rows
        if not args.quick:
            cnn_lines += ["", f"The capped CNN ({CAPPED_CNN}) trained from seed 0, a fresh "
                          "shuffle per epoch (one Adam over all epochs):", "",
                          *cnn_accuracy(args)]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this benchmark: {rss:.0f} MiB; float32 matmul peak over the run "
          f"{peak.value:.1f} GFLOP/s (lowest measurement {min(peak.seen):.1f})")
    return rows, peak.value, rss, have_torch, cert, cnn_lines


def replace_section(path: Path, name: str, text: str) -> None:
    """Write `text` between <!-- name:start --> and <!-- name:end --> in path, keeping the
    rest of the file (the run profile and this benchmark share benchmarks/RESULTS.md)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    old = path.read_text() if path.exists() else ""
    block = f"{start}\n{text.rstrip()}\n{end}"
    if start in old and end in old:
        new = old[: old.index(start)] + block + old[old.index(end) + len(end):]
    else:
        new = (old.rstrip() + "\n\n" if old.strip() else "") + block + "\n"
    path.write_text(new)


def write_results(rows, peak, rss, have_torch, args, cert=(), cnn_lines=()) -> None:
    import numba

    try:
        import torch

        tv = torch.__version__
    except ImportError:
        tv = "not installed"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [
        "# Benchmarks", "",
        f"Produced by `python benchmarks/bench.py` on {time.strftime('%Y-%m-%d')}: {cpu}, "
        f"{os.cpu_count()} cores, {args.threads} threads for both libraries; Python "
        f"{platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"torch {tv}. {args.repeats} repeats after a warm-up, nprelu and PyTorch "
        "alternating. "
        f"float32 matmul peak measured in the same run: **{peak:.1f} GFLOP/s**. "
        f"Peak RSS of the benchmark process: {rss:.0f} MiB.", "",
        "Seconds are the best of the repeats (median in brackets); this shared VM now and then "
        "slows a 2-thread run 3x for several seconds, which the median can catch. Speed-up = "
        "PyTorch seconds / nprelu seconds (higher is better for nprelu), from the best times, "
        "and in brackets from the medians. GFLOP/s counts only the matrix products (best time).",
        "",
        "| net | workload | nprelu (s) | PyTorch (s) | speed-up | nprelu GFLOP/s | share of peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        theirs = f"{r['torch']:.3f} ({r['torch_median']:.3f})" if r["torch"] else "–"
        speed = (f"{r['torch'] / r['ours']:.2f}x ({r['torch_median'] / r['ours_median']:.2f}x)"
                 if r["torch"] else "–")
        gf = f"{r['gflops']:.1f}" if r["gflops"] else "–"
        share = share_of_peak(r["gflops"], peak)
        lines.append(f"| {r['net']} | {r['what']} | {r['ours']:.3f} ({r['ours_median']:.3f}) | "
                     f"{theirs} | {speed} | {gf} | {share} |")
    if not have_torch:
        lines += ["", "PyTorch was not installed: the comparison was skipped."]
    if cert:
        lines += ["", "## Certification and certified training (same run)", "", *cert]
    if cnn_lines:
        lines += ["", "## Where a CNN epoch's time goes (same run)", "",
                  f"The CNN is nprelu.Network.cnn's default: {CNN}.", "", *cnn_lines]
    if args.no_jit:  # plain-Python twins: a separate file, so the main table stays intact
        lines[0] = "# Benchmarks without numba (NUMBA_DISABLE_JIT=1, extrapolated from a few steps)"
    out = HERE / ("RESULTS-nojit.md" if args.no_jit else "RESULTS.md")
    replace_section(out, "bench", "\n".join(lines))
    print(f"wrote {out}")


def parser() -> argparse.ArgumentParser:
    from nprelu.argtypes import positive_int

    p = argparse.ArgumentParser(
        prog="nprelu bench", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Time nprelu's hot paths (a training epoch at batch 32 and 128, PGD-10 "
        "over the test set, CW-L2 iterations, the zero-gradient search, CROWN/IBP and an IBP "
        "training epoch) and, when PyTorch is installed (the compare extra), the same work in "
        "PyTorch with the same threads, alternating. Writes benchmarks/RESULTS.md (not with "
        "--quick).")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 6000 training and 2000 test images, fewer CW steps; "
                        "rows say what they measured; writes nothing")
    p.add_argument("--no-jit", action="store_true",
                   help="time the plain-Python twins (NUMBA_DISABLE_JIT=1), extrapolated from "
                        f"{NOJIT_STEPS} steps; writes RESULTS-nojit.md")
    p.add_argument("--repeats", type=positive_int, default=5,
                   help="timed repeats of each workload after one warm-up (the best is kept)")
    p.add_argument("--threads", type=positive_int, default=os.cpu_count() or 1,
                   help="threads for both libraries (BLAS, numba, torch)")
    return p


def main() -> None:
    args = parser().parse_args()
    if args.no_jit and os.environ.get("NUMBA_DISABLE_JIT") != "1":
        env = dict(os.environ, NUMBA_DISABLE_JIT="1")
        raise SystemExit(subprocess.call([sys.executable, __file__, *sys.argv[1:]], env=env))
    rows, peak, rss, have_torch, cert, cnn_lines = run(args)
    if not args.quick:
        write_results(rows, peak, rss, have_torch, args, cert, cnn_lines)


if __name__ == "__main__":
    main()
