"""The project's conclusions that more than one page states, each written once, with its numbers
read from the records it rests on (so a rerun that moves a number moves the sentence too).

    audit_verdict   chapter 9's finding, also on the book's index
"""

from __future__ import annotations

import json
from pathlib import Path

from .paper import PAPER_TABLE1
from .store import ensemble_record


def audit_verdict(records: Path, seed: int = 0) -> str:
    """Two sentences on the audit, with the worst case of the beta = 0.01 nets from chapter 9's
    records (a note that it was not run, when they are missing)."""
    rows = []
    for adv in (None, "fgsm", "pgd"):
        path = Path(records) / f"{ensemble_record(0.01, adv, seed)}.json"
        if path.exists():
            worst = json.loads(path.read_text())["numbers"]["worst_case"]
            rows.append((adv, worst, PAPER_TABLE1[(0.01, adv)][2]))
    if not rows:
        return "The audit (chapter 9) has not been run for these settings."
    parts = ", ".join(f"{w:.1f} % ({'clean' if a is None else a.upper() + ' training'}; paper "
                      f"{p:.2f} %)" for a, w, p in rows)
    return ("The capped ReLU's robustness is gradient masking: at β = 0.01 most inputs have an "
            "exactly zero input gradient, so FGSM and PGD have nothing to follow. Attacks that "
            "do not need that gradient (BPDA, Square), beside FGSM, PGD and APGD, bring the "
            f"worst-case robust accuracy of the β = 0.01 nets at eps 0.1 down to {parts}.")
