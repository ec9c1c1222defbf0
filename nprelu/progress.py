"""Progress reporting that suits where the output goes.

On a terminal, long loops show a tqdm bar that redraws itself. Anywhere else (a log file, a
pipe, a notebook being executed for the book), redrawing with carriage returns floods the
output, so the bar is off and the caller prints one line per finished unit instead (an epoch, a
model, a record): `say(...)`.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def on_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def bar(iterable=None, total: int | None = None, desc: str = "", unit: str = "it",
        enabled: bool = True, leave: bool = False) -> tqdm:
    """A tqdm bar on a terminal; a silent stand-in (same methods) everywhere else."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, mininterval=0.5,
                disable=not (enabled and on_terminal()), dynamic_ncols=True)


def say(message: str) -> None:
    """Print one line without breaking a bar that is on screen."""
    tqdm.write(message, file=sys.stdout)
    sys.stdout.flush()


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 epoch', '2 epochs', '1 chapter', '0 inputs'."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
