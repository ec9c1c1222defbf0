"""The `nprelu` command line: train, eval, attack, reproduce, bench."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _parse_caps(items: list[str]) -> dict[int, float]:
    caps = {}
    for item in items or []:
        try:
            hl, beta = item.split("=")
            caps[int(hl)] = float(beta)
        except ValueError:
            raise SystemExit(f"--cap expects HL=BETA such as 2=0.1, got {item!r}") from None
    return caps


def cmd_train(args) -> None:
    import nprelu as nr

    (x, y), (xt, yt) = nr.load_mnist(args.data)
    model = nr.MLP(tuple(args.hidden), caps=_parse_caps(args.cap), seed=args.seed)
    print(f"training {model} for {args.epochs} epochs, batch {args.batch_size}")
    t0 = time.perf_counter()
    nr.train(model, x, y, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
             seed=args.seed)
    print(f"trained in {time.perf_counter() - t0:.1f} s; "
          f"test accuracy {100 * nr.accuracy(model, xt, yt):.2f} %")
    print(f"saved {model.save(args.out)}")


def cmd_eval(args) -> None:
    import nprelu as nr

    _, (xt, yt) = nr.load_mnist(args.data)
    model = nr.MLP.load(args.model)
    if args.cap:
        model.set_caps(_parse_caps(args.cap))
    print(f"{model}: test accuracy {100 * nr.accuracy(model, xt, yt):.2f} %")


def cmd_reproduce(args) -> None:
    from .reproduce import reproduce

    reproduce(quick=args.quick, only=args.only, seeds=args.seeds, force=args.force,
              cw_samples=args.cw_samples, jobs=args.jobs)


def cmd_bench(bench_args: list[str]) -> None:
    """Run benchmarks/bench.py of the source checkout with the remaining arguments."""
    import runpy

    from .experiments import ROOT

    script = ROOT / "benchmarks" / "bench.py"
    if not script.exists():
        raise FileNotFoundError(f"{script} not found: the benchmark lives in the source "
                                "checkout; clone the repository and `pip install -e .` there")
    sys.argv = [str(script), *bench_args]
    runpy.run_path(str(script), run_name="__main__")


def cmd_attack(args) -> None:
    import nprelu as nr

    _, (xt, yt) = nr.load_mnist(args.data)
    x, y = xt[: args.n], yt[: args.n]
    model = nr.MLP.load(args.model)
    if args.cap:
        model.set_caps(_parse_caps(args.cap))
    t0 = time.perf_counter()
    if args.method == "fgsm":
        adv = nr.fgsm(model, x, y, args.eps)
    elif args.method == "pgd":
        adv = nr.pgd(model, x, y, args.eps, args.step, args.iters)
    else:
        res = nr.cw_l2(model, x, y, steps=args.iters, binary_steps=args.binary_steps)
        adv = res.x_adv
        ok = res.success
        print(f"CW found a misclassified point for {100 * ok.mean():.2f} % of inputs; median L2 "
              f"{np.median(res.l2[ok]) if ok.any() else float('nan'):.3f}")
    secs = time.perf_counter() - t0
    print(f"{model} on {len(x)} test images, {args.method} ({secs:.2f} s)")
    print(f"clean accuracy  {100 * nr.accuracy(model, x, y):6.2f} %")
    print(f"robust accuracy {100 * nr.accuracy(model, adv, y):6.2f} %")
    print(f"success rate    {100 * nr.success_rate(model, x, adv, y):6.2f} %")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nprelu", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("train", help="train an MLP on MNIST and save it")
    p.add_argument("--hidden", type=int, nargs="+", default=[392, 196])
    p.add_argument("--cap", nargs="*", metavar="HL=BETA", help="e.g. --cap 2=0.1")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="folder with the MNIST .gz files")
    p.add_argument("--out", default="model.npz")
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("eval", help="print the clean test accuracy of a saved model")
    p.add_argument("model")
    p.add_argument("--cap", nargs="*", metavar="HL=BETA", help="evaluate at other caps")
    p.add_argument("--data", default=None)
    p.set_defaults(fn=cmd_eval)

    p = sub.add_parser("attack", help="attack a saved model on the MNIST test set")
    p.add_argument("model")
    p.add_argument("--method", choices=("fgsm", "pgd", "cw"), default="pgd")
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--step", type=float, default=0.01)
    p.add_argument("--iters", type=int, default=10, help="PGD iterations / CW steps")
    p.add_argument("--binary-steps", type=int, default=9, help="CW binary search steps")
    p.add_argument("-n", type=int, default=10000, help="number of test images")
    p.add_argument("--cap", nargs="*", metavar="HL=BETA")
    p.add_argument("--data", default=None)
    p.set_defaults(fn=cmd_attack)

    p = sub.add_parser("reproduce", help="run every chapter; write results/")
    p.add_argument("--quick", action="store_true", help="small settings (minutes)")
    p.add_argument("--only", default=None, help="e.g. ch4,ch8 (chapters: "
                   "ch8 ch4 ch3 ch3s ch7 ch5 ch6 ch9)")
    p.add_argument("--jobs", type=int, default=1,
                   help="chapters run at once, each in its own process (default 1)")
    p.add_argument("--seeds", default="0", help="e.g. 0,1,2: mean ± std in every table")
    p.add_argument("--force", action="store_true", help="retrain and recompute everything")
    p.add_argument("--cw-samples", type=int, default=None, help="CW inputs per model")
    p.set_defaults(fn=cmd_reproduce)

    p = sub.add_parser("bench", help="speed against PyTorch (benchmarks/bench.py)",
                       add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER,
                   help="passed on: --quick, --no-jit, --repeats N, --threads N, -h")

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # every later argument belongs to bench.py, -h included
        return cmd_bench(argv[1:])
    args = parser.parse_args(argv)
    try:
        args.fn(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"nprelu {args.cmd}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
