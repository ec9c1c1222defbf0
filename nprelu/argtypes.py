"""The command line's argument types: each reads one value and, when it is wrong, says in one line
what it expects and what it got (argparse turns that into `nprelu CMD: error: argument --X: ...`).
Shared by nprelu.cli, the chapters' own command lines and benchmarks/bench.py."""

from __future__ import annotations

import argparse
import math


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0,1,2' -> (0, 1, 2), for --seeds."""
    try:
        seeds = tuple(int(s) for s in str(text).split(",") if s.strip() != "")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expects comma-separated integers such as 0,1,2, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expects integers >= 0 such as 0,1,2, got {text!r}")
    return seeds


def whole_number(minimum: int):
    """An integer >= minimum, with a message that shows what was given."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expects a whole number >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expects a whole number >= {minimum}, got {text!r}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


positive_int = whole_number(1)
nonneg_int = whole_number(0)


def _float(text: str, positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a number, got {text!r}") from None
    ok = math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise argparse.ArgumentTypeError(
            f"expects a finite number {'> 0' if positive else '>= 0'}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    return _float(text, positive=True)


def nonneg_float(text: str) -> float:
    return _float(text, positive=False)


def image_eps(text: str) -> float:
    """An L-inf radius on images in [0, 1]: > 0 (eps 0 leaves every input as it is) and <= 1
    (eps 1 already reaches every image)."""
    value = _float(text, positive=True)
    if value > 1:
        raise argparse.ArgumentTypeError(
            f"expects a radius in (0, 1] on images in [0, 1], got {text!r} (eps 1 already "
            "reaches every image)")
    return value
