"""The `nprelu` command line: train, eval, attack, reproduce, bench."""

from __future__ import annotations

import argparse
import sys
import time


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

    args = parser.parse_args(argv)
    try:
        args.fn(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"nprelu {args.cmd}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
