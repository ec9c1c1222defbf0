"""The input checks every entry point shares: one place that says what a valid argument is.

Each check either returns the value in the form the caller needs, or raises ValueError with a
message that names the argument, shows the value it got, and says what to pass instead. The
library raises; the command line turns the error into one line on stderr and exit code 2.

    check_images(x, n_in)      a float batch (N, n_in), N >= 1, finite, every value in [0, 1]
    check_labels(y, n, k)      integer labels (N,) in 0..k-1
    check_count(v, name)       an integer (not a bool, not 2.5) >= minimum
    check_number(v, name)      a finite real number, optionally > 0 or >= 0
    check_beta(beta)           a cap beta > 0 (inf means "no cap")
    check_caps(caps, n_hidden) {hidden layer (1-based): beta or None}
    check_hidden(hidden)       a non-empty tuple of positive integer layer sizes
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np


def _is_int(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v) -> bool:
    return isinstance(v, (numbers.Real, np.floating, np.integer)) and not isinstance(
        v, (bool, np.bool_))


def check_count(value, name: str, minimum: int = 1) -> int:
    """An integer count >= minimum (iterations, epochs, samples). Refuses bools and 2.5."""
    if not _is_int(value):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_number(value, name: str, positive: bool = False, nonnegative: bool = False,
                 at_most: float | None = None) -> float:
    """A finite real number (optionally > 0, >= 0, <= at_most), returned as float."""
    want = [w for w, on in (("> 0", positive), (">= 0", nonnegative and not positive),
                            (f"<= {at_most:g}" if at_most is not None else "", at_most is not None))
            if on]
    what = f"a finite number{' ' + ' and '.join(want) if want else ''}"
    if not _is_real(value):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or (positive and not v > 0) or (nonnegative and not v >= 0) or (
            at_most is not None and v > at_most):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return v


def check_seed(seed, name: str = "seed") -> int:
    """A seed for numpy.random.default_rng: an integer >= 0."""
    return check_count(seed, name, minimum=0)


def check_beta(beta, where: str = "beta") -> float:
    """A cap beta > 0, as float. inf is allowed (a cap that never binds: plain ReLU)."""
    if not _is_real(beta):
        raise ValueError(f"{where} must be a number > 0, got {beta!r}")
    v = float(beta)
    if not v > 0:  # also catches NaN
        raise ValueError(f"{where} must be > 0 (a cap of 0 or less kills every unit), "
                         f"got {beta!r}")
    return v


def check_betas(beta, where: str = "beta") -> float | np.ndarray:
    """One cap (a number, as in check_beta) or one cap per unit or channel: a 1-D array of
    caps > 0 (inf allowed), returned as float64."""
    if np.ndim(beta) == 0:
        return check_beta(beta, where)
    try:
        arr = np.asarray(beta, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a number > 0 or an array of them, got "
                         f"{type(beta).__name__}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{where} must be one number or a 1-D array of caps (one per unit or "
                         f"channel), got an array of shape {arr.shape}")
    if not np.all(arr > 0):  # also catches NaN
        bad = arr[~(arr > 0)][0]
        raise ValueError(f"{where} must be > 0 everywhere (a cap of 0 or less kills its unit), "
                         f"got {bad!r} among {arr.size} caps")
    return arr


def check_hidden(hidden) -> tuple[int, ...]:
    """Hidden-layer sizes: a non-empty sequence of integers >= 1 (2.7 or True are refused)."""
    try:
        sizes = tuple(hidden)
    except TypeError:
        raise ValueError(f"hidden must be a sequence of layer sizes such as (392, 196), "
                         f"got {hidden!r}") from None
    if not sizes:
        raise ValueError("hidden must name at least one hidden layer, got an empty sequence")
    for i, h in enumerate(sizes):
        if not _is_int(h) or h < 1:
            raise ValueError(f"hidden layer sizes must be integers >= 1; HL{i + 1} is {h!r}")
    return tuple(int(h) for h in sizes)


def check_caps(caps, n_hidden: int) -> dict[int, float | np.ndarray | None]:
    """{hidden layer number (1..n_hidden): beta > 0 (or one per unit), or None / inf for no
    cap}. Layer numbers are 1-based as in the paper (HL1, HL2, ...)."""
    if caps is None:
        return {}
    if not isinstance(caps, Mapping):
        raise ValueError(f"caps must be a dict {{hidden layer: beta}} such as {{2: 0.1}}, "
                         f"got {caps!r}")
    out: dict[int, float | None] = {}
    for hl, beta in caps.items():
        if not _is_int(hl) or not 1 <= hl <= n_hidden:
            raise ValueError(f"unknown hidden layer {hl!r} in caps: this net has "
                             f"HL1..HL{n_hidden} (numbered from 1)")
        if beta is None or (_is_real(beta) and math.isinf(beta) and beta > 0):
            out[int(hl)] = None
        else:
            out[int(hl)] = check_betas(beta, f"beta of HL{hl}")
    return out


def check_images(x, n_in: int, name: str = "x") -> np.ndarray:
    """A batch of images: floating point, shape (N, n_in) with N >= 1, finite, values in [0, 1].

    Returns x as an array (not copied). The error for values outside [0, 1] says so when they
    look like 0..255 pixel values."""
    x = np.asarray(x)
    if x.ndim == 1 and x.shape[0] == n_in:
        raise ValueError(f"{name} has shape {x.shape}; pass a batch of shape (N, {n_in}), "
                         f"e.g. {name}[None]")
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"{name} must have shape (N, {n_in}), got {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {x.shape}); pass at least one input")
    if not np.issubdtype(x.dtype, np.floating):
        hint = " (pixel values? divide by 255)" if np.issubdtype(x.dtype, np.integer) else ""
        raise ValueError(f"{name} must be floating point in [0, 1], got dtype {x.dtype}{hint}")
    lo, hi = float(x.min()), float(x.max())  # NaN propagates into lo/hi
    if not (math.isfinite(lo) and math.isfinite(hi)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise ValueError(f"{name} contains {bad} NaN or infinite values; clean the input first")
    if lo < 0 or hi > 1:
        hint = ""
        if hi > 1 and lo >= 0 and hi <= 255 and np.all(x == np.round(x)):
            hint = "; these look like 0..255 pixel values: divide by 255"
        raise ValueError(f"{name} must lie in [0, 1] (images), got values from {lo:g} to "
                         f"{hi:g}{hint}")
    return x


def check_labels(y, n: int, n_classes: int, name: str = "y") -> np.ndarray:
    """Integer class labels (n,) in 0..n_classes-1, returned as int64."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match x, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got values from {y.min()} "
                         f"to {y.max()}")
    return y.astype(np.int64, copy=False)


def check_choice(value, name: str, choices) -> str:
    """One of a fixed set of strings."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_batch(model, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Images x (N, model.n_in) in [0, 1], cast to the model's dtype, and labels y (N,)."""
    x = check_images(x, model.n_in).astype(model.dtype, copy=False)
    return x, check_labels(y, len(x), model.n_out)
