"""Where a full run's time goes: `python benchmarks/profile_run.py [--results DIR --cache DIR]`.

Reads what a run leaves behind: every record's wall time (results/records/*.json), every
model's training time (the cache's training_log.jsonl) and the run's own wall time
(results/timings.json, "_run"). Sums them into categories (training by kind, PGD sweeps, CW,
the attack ensemble, certification, ...), compares the sum with the wall time on the run's
workers, and writes the profile into benchmarks/RESULTS.md (its own section) and the seconds
per training epoch of each architecture into results/profile.json (the book's estimates).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

RECORD_KINDS = [  # (name prefix, what it is)
    ("sweep_", "Secs. 4-5: PGD-10 over the test set at every evaluation β (+ zero-grad. share)"),
    ("zerograd_", "Sec. 6: zero-gradient search, 1000 inputs, every β"),
    ("sec3_sigmoid", "Sec. 3.3: two sigmoid nets trained epoch by epoch (inside the record)"),
    ("sec3_", "Sec. 3.1: PGD-20 images crafted on the base net + distances, per net"),
    ("sec7_", "Sec. 7: sensitivity maps"),
    ("table1_", "Table 1: clean, FGSM, PGD-10 on the test set"),
    ("cw_", "Table 1: CW-L2, 10000 steps x 9 binary steps"),
    ("attacks_eps", "Audit: the attack ensemble at eps 0.1 (APGD x3, BPDA, Square, ...)"),
    ("masking_", "Audit: masking signs and eps curves"),
    ("cert_", "Ch. 10: IBP and CROWN certificates at 6 eps"),
    ("apgd_curve_", "Ch. 10: APGD-CE/DLR (BPDA) over 6 eps"),
    ("milp_", "Ch. 10: MILP on the undecided inputs"),
    ("drelu_cnn_theirs_", "Ch. 11c: their protocol on the shallow CNN"),
    ("drelu_cnn_ensemble_", "Ch. 11c: the attack ensemble on the shallow CNN"),
    ("drelu_cnn_cert_", "Ch. 11c: IBP and CROWN on the shallow CNN"),
    ("drelu_", "Ch. 11: D-ReLU records (both protocols, certificates)"),
    ("ch12_train_", "Ch. 12: clean accuracy and live units of the trainability nets"),
    ("ch12_linf_", "Ch. 12: clean, FGSM, PGD-10 on the test set (+ zero-grad. share)"),
    ("ch12_cw_", "Ch. 12: CW-L2 (fewer steps) on the first inputs"),
    ("ch12_ensemble_", "Ch. 12: the attack ensemble at eps 0.1"),
    ("ch12_cert_", "Ch. 12: IBP and CROWN certificates at eps 0.1"),
]


def training_kind(entry: dict) -> str:
    """A kind of training, by the model's label (its first word is the architecture, e.g.
    '392-196' or 'c16k5p2-c32k5p2-128'; Spec.label)."""
    arch = entry["label"].split()[0]
    if "capped layer" in entry["label"]:
        return f"training: a capped layer added ({arch}, {entry['epochs']} epochs)"
    if entry.get("adv"):
        return f"training: {entry['adv'].upper()} fine-tuning ({arch}, {entry['epochs']} epochs)"
    if "IBP" in entry["label"]:
        return f"training: IBP ({arch}, {entry['epochs']} epochs)"
    return f"training: clean {arch} ({entry['epochs']} epochs)"


def profile(results: Path, cache: Path, prefix: str = "") -> tuple[list[str], dict]:
    """The profile of the records under results/records whose names start with `prefix` (all by
    default) and of the trainings of the models they used."""
    rows: dict[str, list[float]] = defaultdict(list)
    epoch_seconds: dict[str, list[float]] = defaultdict(list)
    log = cache / "training_log.jsonl"
    seen = {}
    for line in (log.read_text().splitlines() if log.exists() else []):
        entry = json.loads(line)
        seen[entry["key"]] = entry  # the last training of each model counts
    records = [json.loads(path.read_text()) for path in sorted((results / "records")
                                                               .glob(f"{prefix}*.json"))]
    used = set(re.findall(r'"model": "([0-9a-f]{12})"', json.dumps([r["config"]
                                                                    for r in records])))
    for entry in seen.values():
        if entry["key"] not in used:  # trained for another results folder (other seeds, ...)
            continue
        rows[training_kind(entry)].append(entry["seconds"])
        if not entry.get("adv") and not any(word in entry["label"] for word in (
                "IBP", "sigmoid", "capped layer", "D-ReLU")):
            epoch_seconds[entry["label"].split()[0]].append(entry["seconds"] / entry["epochs"])
    for rec in records:
        kind = next((what for prefix, what in RECORD_KINDS if rec["name"].startswith(prefix)),
                    "other records")
        rows[kind].append(rec["wall_seconds"])
    total = sum(sum(v) for v in rows.values())
    timings = json.loads((results / "timings.json").read_text())
    run = timings.get("_run", {})
    workers = run.get("workers") or 1
    lines = [
        f"Run of {run.get('date', '?')}: `nprelu reproduce` with {run.get('executor', '?')} "
        f"executor, {workers} worker(s), chapters {', '.join(run.get('chapters', []))}. "
        f"Wall time **{run.get('seconds', float('nan')) / 60:.1f} min**. Sum of the task times "
        f"(one BLAS thread each): **{total / 60:.1f} core-minutes**, so "
        f"{total / workers / 60:.1f} min is the bound on {workers} worker(s) with perfect "
        "balance. A wall time above the bound is the client's own cells (the chapters' "
        "step-by-step cells run in the client, beside the workers), scheduling, and the "
        "tail where one worker waits; one below it means the run resumed and part of the "
        "work was done before it (the sum counts every task whose result the run used).", "",
        "| where the time goes | tasks | core-minutes | share |", "|---|---|---|---|"]
    for kind, secs in sorted(rows.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"| {kind} | {len(secs)} | {sum(secs) / 60:.1f} | "
                     f"{100 * sum(secs) / total:.1f} % |")
    per_epoch = {arch: round(sum(v) / len(v), 2) for arch, v in epoch_seconds.items()}
    lines += ["", "Seconds per clean training epoch (batch 32, one BLAS thread): " + ", ".join(
        f"{a}: {s:.1f}" for a, s in sorted(per_epoch.items()))]
    return lines, {"epoch_seconds": per_epoch, "core_seconds": round(total, 1),
                   "wall_seconds": run.get("seconds"), "workers": workers}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=str(ROOT / "results"))
    p.add_argument("--cache", default=str(ROOT / ".cache" / "models"))
    p.add_argument("--section", default="profile",
                   help="the section of RESULTS.md to write (default: profile, the whole paper's;"
                        " another name for a run of some chapters, e.g. profile-ch12)")
    p.add_argument("--title", default="Profile of the full run")
    p.add_argument("--records", default="", metavar="PREFIX",
                   help="only the records whose names start with PREFIX (e.g. ch12_) and the "
                        "models they used")
    a = p.parse_args()
    from bench import replace_section

    lines, summary = profile(Path(a.results), Path(a.cache), a.records)
    print("\n".join(lines))
    replace_section(HERE / "RESULTS.md", a.section, f"## {a.title}\n\n" + "\n".join(lines))
    if a.section == "profile":  # the book's training estimates come from the whole run
        (Path(a.results) / "profile.json").write_text(json.dumps(summary, indent=1) + "\n")
        print(f"wrote {Path(a.results) / 'profile.json'}")
    print(f"wrote section {a.section} of {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
