"""The machinery that checks a chapter's prose against the records (tests/test_prose_numbers.py).

A chapter's markdown cells quote numbers from the paper-settings run (results/records/, seed
0; results/seeds/records/, three seeds). A *claim* is a piece of that prose written as a
template, "uncapped {clean:.2f} % against {paper:.2f} %", with its values computed from the
records (or from nprelu.paper, for the paper's own numbers and settings). A claim holds when
the filled-in template appears word for word in the chapter's prose: a rerun that moves a
number, or an edit of the prose that changes it, makes the claim fail.

Every other number in the prose must be a *label*, not a measurement: figure, table, section
and chapter numbers, hidden-layer names (HL2), β and eps values, architectures (392, 196),
citation years, file names. `unchecked_numbers` lists the numbers that are neither inside a
claim nor a label, so that a number added to the prose without a claim fails the test too.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "results" / "records"
SEED_RECORDS = ROOT / "results" / "seeds" / "records"
FASHION_RECORDS = ROOT / "results" / "fashion-mnist" / "records"
RECIPE_RECORDS = ROOT / "results" / "recipes" / "records"

# Numbers that name things rather than measure them. Each alternative swallows the number
# with the word that makes it a label, so the rest of the text is left for the claims.
LABEL = re.compile(r"""(?x)
    (?:Figs?\.|Tables?|Secs?\.|Sections?|[Cc]hapters?|[Ee]q\.|et\ al\.,|[Ss]eeds?|Protocol)
      \s*\d+(?:[.–\-]\d+)*
      (?:\s*(?:,|and|–)\s*\d+(?:[.–\-]\d+)*)*
  | \b(?:ch|HL)\d+(?:[,\s]+(?:and\s+)?HL\d+)*        # ch9, HL2, HL1 and HL2
  | (?:results|tests|nprelu|benchmarks|chapters)/[\w./\-]*   # file names
  | `[^`]*`                                          # code: --seeds 0,1,2
  | \b(?:max|min)\(0,                                # the capped ReLU's formula
  | \bmax\([zm],\ 0\)                                 # D-ReLU's: min(max(z, 0), max(m, 0))
  | \[0,\ 1\]                                        # the image box
  | \bclip\(z,\ 0,                                   # clip(z, 0, β)
  | \b[Ee]q\.\s*\(\d+\)                              # eq. (2)
  | ,\ (?:19|20)\d\d\b                               # a citation's year: (Croce & Hein, 2020)
  | (?:β|λ|\beps|\bc)\s*(?:=|≤|≥|<|>|≈)?\s*\d+(?:\.\d+)?(?:/\d+)?
      (?:\s*(?:,|and|or|–|…|to)\s*(?:β\s*=\s*)?\d+(?:\.\d+)?(?:/\d+)?)*   # β = 0.01, 0.1 and 1
  | \(\d+,\s*\d+(?:,\s*\d+)*\)                      # an architecture, (392, 196)
  | \d+-\d+(?:-\d+)+                                 # 392-196-98
  | (?<![\d.])\d+(?:\.\d+)?(?=[A-Za-z_])             # glued to a word: 5x5, L2 is below
  | [A-Za-z_][\w\-]*\d[\w\-]*                        # a word with digits: L2, PGD-10, APGD-T
""")
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])")


def markdown(chapter: Path) -> str:
    """The chapter's markdown cells as one string, whitespace collapsed to single spaces
    (so that a claim does not depend on where the prose breaks its lines)."""
    import jupytext

    nb = jupytext.read(chapter)
    return " ".join(" ".join(c.source.split()) for c in nb.cells if c.cell_type == "markdown")


def fill(template: str, values) -> str:
    """The template filled in from a dict (named fields) or a list (positional {0}, {1}...)."""
    text = template.format(**values) if isinstance(values, dict) else template.format(*values)
    return " ".join(text.split())


def missing_claims(text: str, claims) -> list[str]:
    """The filled-in claims that do not appear in the text."""
    return [filled for filled in (fill(t, v) for t, v in claims) if filled not in text]


def unchecked_numbers(text: str, claims) -> list[str]:
    """Each number of the text that is neither inside a claim nor a label, with its context."""
    covered = np.zeros(len(text), bool)
    for t, v in claims:
        filled = fill(t, v)
        for m in re.finditer(re.escape(filled), text):
            covered[m.start() : m.end()] = True
    for m in LABEL.finditer(text):
        covered[m.start() : m.end()] = True
    return [f"{m.group()!r} in ...{text[max(0, m.start() - 60) : m.end() + 30]}..."
            for m in NUMBER.finditer(text) if not covered[m.start() : m.end()].all()]


@cache
def _load(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text())["numbers"]


def record(name: str) -> dict:
    """The numbers of a paper-settings record of seed 0 (results/records/NAME.json)."""
    return _load(RECORDS, name)


def recipe_record(name: str) -> dict:
    """The numbers of one recipe of benchmarks/certified_recipes.py
    (results/recipes/records/recipe_NAME.json)."""
    return _load(RECIPE_RECORDS, f"recipe_{name}")


def bab_record(name: str) -> dict:
    """The numbers of one `--bab` run of benchmarks/certified_recipes.py
    (results/recipes/records/bab_NAME.json)."""
    return _load(RECIPE_RECORDS, f"bab_{name}")


def record_inputs(record: str) -> int:
    """How many test inputs a record of the recipe script (recipe_, bab_, ibpsandwich_NAME)
    covered: its function's argument n, the fourth of its config (fn(model, x_test, y_test, n,
    ...))."""
    return json.loads((RECIPE_RECORDS / f"{record}.json").read_text())["config"]["args"][3]


def bab_inputs(name: str) -> int:
    """How many test inputs the `--bab` run bab_NAME covered (`decide`'s n)."""
    return record_inputs(f"bab_{name}")


def milp_record(name: str) -> dict:
    """The numbers of one `--milp` run of benchmarks/certified_recipes.py
    (results/recipes/records/milp_NAME.json)."""
    return _load(RECIPE_RECORDS, f"milp_{name}")


def ibpsandwich_record(name: str) -> dict:
    """The numbers of one `--ibp-sandwich` run of benchmarks/certified_recipes.py
    (results/recipes/records/ibpsandwich_NAME.json)."""
    return _load(RECIPE_RECORDS, f"ibpsandwich_{name}")


def ibp_record(name: str) -> dict:
    """The numbers of one `--ibp-all` run of benchmarks/certified_recipes.py
    (results/recipes/records/ibp_NAME.json)."""
    return _load(RECIPE_RECORDS, f"ibp_{name}")


def seed_record(name: str) -> dict:
    """The numbers of one record of the three-seed run (results/seeds/records/NAME.json)."""
    return _load(SEED_RECORDS, name)


def seed_records(name: str, seeds=(0, 1, 2), folder: Path = SEED_RECORDS) -> list[dict]:
    """The numbers of the same record for each seed of results/seeds/ (NAME without the
    _seedN suffix), or of another three-seed run's records `folder`."""
    return [_load(folder, f"{name}_seed{s}") for s in seeds]
