"""The `nprelu` command line (also `python -m nprelu`): train, eval, attack, reproduce, bench.

Every error the user can fix is one line on stderr, `nprelu CMD: error: ...`, and exit code 2;
Ctrl-C prints how to resume and exits with 130.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from .argtypes import image_eps, nonneg_int, positive_float, positive_int
from .context import add_run_options
from .data import DATASETS
from .executors import tune_malloc
from .progress import bar, on_terminal, plural

EXIT_ERROR, EXIT_INTERRUPTED = 2, 130


def parse_caps(items: list[str] | None) -> dict[int, float]:
    """['2=0.1', '1=0.05'] -> {2: 0.1, 1: 0.05}; each hidden layer at most once."""
    caps: dict[int, float] = {}
    for item in items or []:
        try:
            hl, beta = item.split("=")
            hl, beta = int(hl), float(beta)
        except ValueError:
            raise ValueError(f"--cap expects HL=BETA such as 2=0.1, got {item!r}") from None
        if hl in caps:
            raise ValueError(f"--cap names HL{hl} twice ({hl}={caps[hl]:g} and {item}); give "
                             "each hidden layer once")
        caps[hl] = beta
    return caps


# ----------------------------------------------------------------------------- commands
def cmd_train(args) -> None:
    from threadpoolctl import threadpool_limits

    import nprelu as nr

    from .files import check_writable

    check_writable(args.out)  # before training, not after it
    model = nr.MLP(tuple(args.hidden), caps=parse_caps(args.cap), seed=args.seed,
                   dataset=args.dataset)
    x, y = nr.load_split_of(args.dataset, "train", args.data)
    x_test, y_test = nr.load_split_of(args.dataset, "test", args.data)
    print(f"training {model} for {plural(args.epochs, 'epoch')}, batch "
          f"{args.batch_size}, lr {args.lr:g}, seed {args.seed}, "
          f"{plural(args.threads, 'BLAS thread')}")
    t0 = time.perf_counter()
    with threadpool_limits(args.threads):
        history = nr.train(model, x, y, epochs=args.epochs, batch_size=args.batch_size,
                           lr=args.lr, seed=args.seed, desc=repr(model))
    acc = 100 * nr.accuracy(model, x_test, y_test)
    print(f"trained in {time.perf_counter() - t0:.1f} s; test accuracy {acc:.2f} %")
    exploded = 10 * math.log(model.n_out)  # a uniform guess costs log(10) = 2.3 per image
    if history["loss"][-1] > exploded:
        raise nr.TrainingDiverged(
            f"training diverged: the last epoch's mean loss is {history['loss'][-1]:.3g}, far "
            f"above the {math.log(model.n_out):.2f} of a uniform guess, and the net ends at "
            f"{acc:.2f} % test accuracy (chance: {100 / model.n_out:.0f} %). Nothing was "
            f"saved; try a smaller learning rate (lr is {args.lr:g})")
    print(f"saved {model.save(args.out)}")


def _load(args):
    """The model of args.model, with args.cap applied, checked to belong to args.dataset."""
    import nprelu as nr

    model = nr.load_model(args.model)
    if model.dataset != args.dataset:
        raise ValueError(f"{args.model} was trained on {model.dataset}; evaluating it on "
                         f"{args.dataset} would measure nothing. Use --dataset {model.dataset}")
    if args.cap:
        model.set_caps(parse_caps(args.cap))
    return model


def cmd_eval(args) -> None:
    import nprelu as nr

    model = _load(args)
    x, y = nr.load_split_of(args.dataset, "test", args.data)
    print(f"{model}: test accuracy {100 * nr.accuracy(model, x, y):.2f} % "
          f"({len(x)} test images)")


# option -> (the methods it applies to, type, default, metavar, help)
ATTACK_OPTIONS = {
    "eps": (("fgsm", "pgd"), "image_eps", 0.1, "EPS", "L-inf bound in (0, 1], fgsm and pgd"),
    "step": (("pgd",), "positive_float", 0.01, "STEP", "PGD step size"),
    "iters": (("pgd",), "positive_int", 10, "N", "PGD iterations"),
    "cw_steps": (("cw",), "positive_int", 10000, "N", "CW Adam steps per binary step"),
    "cw_binary_steps": (("cw",), "positive_int", 9, "N", "CW binary-search steps on c"),
    "cw_lr": (("cw",), "positive_float", 0.01, "LR", "CW Adam learning rate"),
    "cw_c": (("cw",), "positive_float", 1e-3, "C", "CW initial trade-off constant c"),
}


def cmd_attack(args) -> None:
    import nprelu as nr

    mine = sorted(k for k, (methods, *_) in ATTACK_OPTIONS.items() if args.method in methods)
    wrong = sorted(k for k in ATTACK_OPTIONS if getattr(args, k) is not None and k not in mine)
    if wrong:
        names = ", ".join("--" + w.replace("_", "-") for w in wrong)
        fits = ", ".join("--" + o.replace("_", "-") for o in mine)
        raise ValueError(f"{names} do{'es' if len(wrong) == 1 else ''} not apply to --method "
                         f"{args.method} (its options: {fits})")
    opt = {k: default if getattr(args, k) is None else getattr(args, k)
           for k, (_, _, default, *_) in ATTACK_OPTIONS.items()}
    model = _load(args)
    x_all, y_all = nr.load_split_of(args.dataset, "test", args.data)
    if args.n > len(x_all):
        raise ValueError(f"-n {args.n} is more than the {len(x_all)} test images")
    x, y = x_all[: args.n], y_all[: args.n]
    correct = model.predict(x) == y
    t0 = time.perf_counter()
    if args.method == "fgsm":
        what = f"FGSM, eps {opt['eps']:g}"
        adv = nr.fgsm(model, x, y, opt["eps"])
    elif args.method == "pgd":
        what = f"PGD, eps {opt['eps']:g}, step {opt['step']:g}, {opt['iters']} iterations"
        adv = nr.pgd(model, x, y, opt["eps"], opt["step"], opt["iters"])
    else:
        what = (f"CW-L2, {opt['cw_steps']} steps x {opt['cw_binary_steps']} binary steps, "
                f"lr {opt['cw_lr']:g}, initial c {opt['cw_c']:g}")
        print(f"{what} on the first {plural(len(x), 'test input')}")
        with bar(desc="CW binary steps", unit="step") as steps_bar:

            def tick(done: int, total: int) -> None:
                steps_bar.total = total
                steps_bar.update(done - steps_bar.n)
                if not on_terminal():
                    print(f"CW: binary step {done} of {total} done "
                          f"({time.perf_counter() - t0:.0f} s)", flush=True)

            res = nr.cw_l2(model, x, y, steps=opt["cw_steps"], lr=opt["cw_lr"],
                           initial_c=opt["cw_c"], binary_steps=opt["cw_binary_steps"],
                           progress=tick)
        adv = res.x_adv
        found = res.success & correct
        median = np.median(res.l2[found]) if found.any() else float("nan")
        print(f"CW found a misclassified point for {int(found.sum())} of the "
              f"{int(correct.sum())} inputs classified correctly "
              f"({100 * found.sum() / max(correct.sum(), 1):.2f} %); median L2 {median:.3f}")
    secs = time.perf_counter() - t0
    print(f"{model} on the first {plural(len(x), 'test image')}, {what} "
          f"({secs:.2f} s)")
    print(f"clean accuracy  {100 * correct.mean():6.2f} %")
    print(f"robust accuracy {100 * nr.robust_accuracy(model, x, adv, y):6.2f} %  (correct "
          "before and after the attack)")
    if correct.any():
        print(f"success rate    {100 * nr.success_rate(model, x, adv, y):6.2f} %  (of the "
              "inputs classified correctly, the share the attack flips)")
    _warn_if_masked(model, x, y, args.method)


def _warn_if_masked(model, x, y, method: str) -> None:
    """Cheap checks for gradient masking, said in plain words when they fire: the share of
    inputs with an exactly zero input gradient and, after FGSM or PGD, PGD at eps = 1 on up to
    200 inputs (CW has no eps: that check would speak of another attack)."""
    from .attacks import pgd
    from .audit import masking_flags, zero_gradient_share

    numbers = {"zero_gradient_share": 100 * zero_gradient_share(model, x, y)}
    if method != "cw":
        k = min(len(x), 200)
        numbers["eps_curve_pgd"] = [
            100 * float((model.predict(pgd(model, x[:k], y[:k], 1.0, 0.25, 20)) == y[:k]).mean())]
    attacks = ("CW, which starts at the input and follows the gradient," if method == "cw"
               else method.upper())
    flags = masking_flags(numbers, attacks=attacks)
    for text in flags["warnings"]:
        print(f"WARNING: {text}.")
    if flags["warnings"]:
        print("The robust accuracy above is an upper bound that this attack cannot tighten; "
              "see chapters/ch9_audit.py for attacks that do not need the gradient (BPDA, "
              "Square) and chapters/ch10_certified.py for guaranteed lower bounds.")


def cmd_reproduce(args) -> None:
    from .reproduce import reproduce

    reproduce(quick=args.quick, only=args.only, seeds=args.seeds, force=args.force,
              cw_samples=args.cw_samples, results=args.results, cache=args.cache,
              threads=args.threads, workers=args.workers, scheduler=args.scheduler,
              dataset=args.dataset)


def cmd_book(args) -> None:
    from .book import build

    build(quick=args.quick, out=args.out, train=args.train, open_browser=args.open,
          dataset=args.dataset)


def cmd_bench(bench_args: list[str]) -> None:
    """Run benchmarks/bench.py of the source checkout with the remaining arguments."""
    import runpy

    from .context import ROOT

    script = ROOT / "benchmarks" / "bench.py"
    if not script.exists():
        raise FileNotFoundError(f"{script} not found: the benchmark lives in the source "
                                "checkout; clone the repository and `pip install -e .` there")
    sys.argv = [str(script), *bench_args]
    runpy.run_path(str(script), run_name="__main__")


# ----------------------------------------------------------------------------- the parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nprelu", description="Is ReLU Adversarially Robust? -- train, attack and "
        "reproduce the paper's experiments (NumPy + numba).")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def data_option(p):
        p.add_argument("--dataset", choices=tuple(DATASETS), default="mnist",
                       help="the data to train on or evaluate with; a model is refused on "
                            "another dataset than its own (default: mnist)")
        p.add_argument("--data", default=None, metavar="DIR",
                       help="folder with the dataset's four .gz files (default: data/mnist/ or "
                            "data/fashion-mnist/ of this checkout, or $NPRELU_MNIST_DIR / "
                            "$NPRELU_FASHION_MNIST_DIR)")

    def cap_option(p, what):
        p.add_argument("--cap", nargs="+", metavar="HL=BETA",
                       help=f"{what}, e.g. --cap 2=0.1 (hidden layers numbered from 1; "
                            "default: no cap)")

    p = sub.add_parser("train", help="train an MLP on MNIST (or Fashion-MNIST) and save it",
                       description="Train an MLP on the 60000 training images of the dataset.")
    p.add_argument("--hidden", type=positive_int, nargs="+", default=[392, 196], metavar="H",
                   help="hidden layer sizes (default: 392 196, the paper's general net)")
    cap_option(p, "cap hidden layers with a capped ReLU")
    p.add_argument("--epochs", type=positive_int, default=20, metavar="N",
                   help="epochs (default: 20)")
    p.add_argument("--batch-size", type=positive_int, default=32, metavar="N",
                   help="mini-batch size (default: 32)")
    p.add_argument("--lr", type=positive_float, default=1e-3, metavar="LR",
                   help="Adam learning rate (default: 0.001)")
    p.add_argument("--seed", type=nonneg_int, default=0, metavar="N",
                   help="seed of the initial weights and the shuffling (default: 0)")
    p.add_argument("--threads", type=positive_int, default=1, metavar="N",
                   help="BLAS threads; the weights depend on it in their last bits "
                        "(default: 1)")
    data_option(p)
    p.add_argument("--out", default="model.npz", metavar="FILE",
                   help="where to save the model (default: model.npz)")
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("eval", help="print the clean test accuracy of a saved model",
                       description="Clean accuracy of a saved model on the MNIST test set.")
    p.add_argument("model", help="a model file written by `nprelu train` or MLP.save")
    cap_option(p, "evaluate with other caps")
    data_option(p)
    p.set_defaults(fn=cmd_eval)

    p = sub.add_parser("attack", help="attack a saved model on the MNIST test set",
                       description="Attack a saved model on the first N MNIST test images. "
                       "FGSM takes --eps; PGD takes --eps, --step, --iters; CW-L2 has no eps "
                       "bound and takes the --cw-* options.")
    p.add_argument("model", help="a model file written by `nprelu train` or MLP.save")
    p.add_argument("--method", choices=("fgsm", "pgd", "cw"), default="pgd",
                   help="the attack (default: pgd)")
    types = {"image_eps": image_eps, "positive_float": positive_float,
             "positive_int": positive_int}
    for key, (_, kind, default, metavar, text) in ATTACK_OPTIONS.items():
        p.add_argument("--" + key.replace("_", "-"), type=types[kind], default=None,
                       metavar=metavar, help=f"{text} (default: {default:g})")
    p.add_argument("-n", type=positive_int, default=10000,
                   help="attack the first N test images (default: 10000, all)")
    cap_option(p, "attack the model with other caps")
    data_option(p)
    p.set_defaults(fn=cmd_attack)

    p = sub.add_parser("reproduce", help="run every chapter; write results/",
                       description="Run the chapters (paper order) and write results/. "
                       "Finished models and records are cached: rerun to resume.")
    add_run_options(p)
    p.add_argument("--only", default=None, metavar="ch4,ch8",
                   help="run only these chapters: ch3 ch3s ch4 ch5 ch6 ch7 ch8 ch9 ch10 ch11 "
                        "ch11c ch12 (default: all)")
    p.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="run on a Dask LocalCluster of N worker processes, every chapter at "
                        "once (needs the cluster extra; default: serial, in this process)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                   help="run on the existing Dask cluster at this address (default: none)")
    p.set_defaults(fn=cmd_reproduce)

    p = sub.add_parser("book", help="build the chapters as a static site (site/index.html)",
                       description="Execute every chapter as a notebook and render the pages "
                       "to HTML that works offline (needs the book extra).")
    p.add_argument("--quick", action="store_true",
                   help="quick settings, computed from scratch where nothing is cached "
                        "(default: the paper's settings, from the committed records)")
    p.add_argument("--out", default="site", metavar="DIR",
                   help="output folder (default: site/)")
    p.add_argument("--train", action="store_true",
                   help="at the paper's settings, train models missing from the cache "
                        "(default: build those chapters at quick settings and say so)")
    p.add_argument("--open", action="store_true", help="open the index in a browser")
    p.add_argument("--dataset", choices=tuple(DATASETS), default="mnist",
                   help="run the chapters on this dataset (default: mnist)")
    p.set_defaults(fn=cmd_book)

    p = sub.add_parser("bench", help="speed against PyTorch (benchmarks/bench.py)",
                       add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER,
                   help="passed on: --quick, --no-jit, --repeats N, --threads N, -h")
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    cmd = argv[0] if argv else "nprelu"
    try:
        if argv[:1] == ["bench"]:  # every later argument belongs to bench.py, -h included
            return cmd_bench(argv[1:])
        args = build_parser().parse_args(argv)
        cmd = args.cmd
        tune_malloc()
        args.fn(args)
    except KeyboardInterrupt:
        epoch = ("" if cmd == "train" else " (a model in training resumes after its last "
                 "finished epoch)")
        print(f"\nnprelu {cmd}: interrupted. Finished models and records are saved; rerun the "
              f"same command to resume{epoch}.", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except (ValueError, OSError, RuntimeError) as err:
        print(f"nprelu {cmd}: error: {err}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR) from None


if __name__ == "__main__":
    main()
