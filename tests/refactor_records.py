"""Compare a quick run's records with the records the code produced before the chapter redesign.

tests/data/quick_records_before/ holds the 33 records of `nprelu reproduce --quick` at one BLAS
thread from the last commit before the redesign. The redesign split some records (one per
trained net instead of one per figure; CW in chunks of inputs), so `old_numbers(folder)` and
`new_numbers(folder)` both flatten a run to {(record, row, field): value} under the old names,
and the two dicts must be equal.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

BEFORE = Path(__file__).parent / "data" / "quick_records_before"


def _load(folder: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text())["numbers"] for p in folder.glob("*.json")}


def _flat(prefix, value, out):
    if isinstance(value, dict):
        for k, v in value.items():
            _flat((*prefix, k), v, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flat((*prefix, i), v, out)
    else:
        out[prefix] = value


def old_numbers(folder: Path = BEFORE) -> dict:
    recs, out = _load(folder), {}
    for name, nums in recs.items():
        if name.startswith(("sweep_", "zerograd_")):
            kind, net = name.split("_")[:2]
            for r in nums["rows"]:
                key = (kind, net, r["cap"], r["init_beta"], r["beta"])
                _flat(key, {k: v for k, v in r.items() if k not in ("cap", "init_beta", "beta")},
                      out)
        elif name.startswith("sec3_enlarged"):
            for r in nums["rows"]:
                _flat(("sec3", r["cap"], r["beta"]),
                      {k: v for k, v in r.items() if k not in ("cap", "beta")}, out)
        elif name.startswith("sec7_smap"):
            for b, v in nums.items():
                _flat(("sec7", float(b)), v, out)
        else:  # table1_*, audit_*, sec3_sigmoid_*: the same records as before
            _flat((name,), nums, out)
    return out


def new_numbers(folder: Path) -> dict:
    recs, out = _load(folder), {}
    for name, nums in recs.items():
        parts = name.split("_")
        if name.startswith(("sweep_", "zerograd_")):
            kind, net, cap, b0 = parts[0], parts[1], parts[2], float(parts[3][1:])
            for r in nums:
                _flat((kind, net, cap, b0, r["beta"]),
                      {k: v for k, v in r.items() if k != "beta"}, out)
        elif name.startswith("sec3_") and not name.startswith("sec3_sigmoid"):
            cap, b = parts[1], parts[2][1:]
            _flat(("sec3", cap, None if b == "None" else float(b)), nums, out)
        elif name.startswith("sec7_"):
            _flat(("sec7", float(parts[1][1:])), {k: v for k, v in nums.items()
                                                  if k != "five_map"}, out)
        elif name.startswith("table1_"):
            tag = name[len("table1_"):]
            chunks = sorted(n for n in recs if n.startswith(f"cw_{tag}_"))
            correct = np.concatenate([recs[c]["correct"] for c in chunks])
            success = np.concatenate([recs[c]["success"] for c in chunks])
            l2 = np.concatenate([np.array(recs[c]["l2"], np.float32) for c in chunks])
            row = dict(nums, cw=100 * float((correct & ~success).mean()),
                       cw_median_l2=float(np.median(l2[success])) if success.any() else None,
                       cw_samples=len(correct))
            _flat((name,), row, out)
        elif name.startswith("cw_"):
            continue
        else:
            _flat((name,), nums, out)
    return out


def differences(old: dict, new: dict, tol: float = 0.0) -> list[str]:
    """Keys missing on either side, and values that differ by more than tol (relative)."""
    diffs = [f"missing after: {k}" for k in old.keys() - new.keys()]
    diffs += [f"new: {k}" for k in new.keys() - old.keys()]
    for k in old.keys() & new.keys():
        a, b = old[k], new[k]
        if a == b:
            continue
        if tol and isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= (
                tol * max(1.0, abs(a))):
            continue
        diffs.append(f"{k}: before {a!r}, after {b!r}")
    return sorted(diffs)


if __name__ == "__main__":
    import sys

    d = differences(old_numbers(), new_numbers(Path(sys.argv[1])))
    print(f"{len(old_numbers())} numbers before; {len(d)} differences")
    print("\n".join(d[:30]))
