"""Drafting accuracy and speed on labelled caller texts.

Usage:
  python bench/draft_accuracy.py [--mistakes] [--rules-only]   dev material: shared/scenarios/dev.tsv and
                                                               tests/drafting/heldout_*.tsv (tuned on)
  python bench/draft_accuracy.py --blind DIR                   every *.tsv in DIR (LABELS.md columns);
                                                               prints aggregates only, and the ids of
                                                               urgency misses

The draft is made as in production: the seed model (built from the packaged corpus into
--models-dir on first use, as a site would), or --model DIR, the rules, the hazard detector and
the model's urgency; no directory unit, no keypad digits.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from callcenter.drafting import Draft, DraftingRules, draft_entry  # noqa: E402
from callcenter.drafting.hazard import HAZARDS  # noqa: E402
from callcenter.drafting.model import TextModel  # noqa: E402
from callcenter.drafting.registry import SEED, ModelRegistry  # noqa: E402

FIELDS = ("unit", "category", "department", "subject", "urgent")
BINS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def drafted(draft: Draft) -> dict[str, str]:
    return {"unit": draft.unit.value or "", "category": draft.category.value,
            "department": draft.department.value, "subject": draft.complaint_subject.value or "",
            "urgent": "1" if draft.urgent.value else "0", "hazard": draft.hazard.value or ""}


class Tally:
    def __init__(self) -> None:
        self.right: Counter[str] = Counter()
        self.total: Counter[str] = Counter()
        self.urgent = Counter[str]()
        self.hazard_total: Counter[str] = Counter()
        self.hazard_found: Counter[str] = Counter()
        self.bins: dict[str, list[list[int]]] = {f: [[0, 0] for _ in BINS[:-1]] for f in FIELDS}
        self.urgent_missed: list[str] = []
        self.rows_with_miss = 0

    def add(self, row: dict[str, str], draft: Draft) -> list[str]:
        got = drafted(draft)
        wrong = []
        confidences = {"unit": draft.unit.confidence, "category": draft.category.confidence,
                       "department": draft.department.confidence, "subject": draft.complaint_subject.confidence,
                       "urgent": draft.urgent.confidence}
        for name in FIELDS:
            if name not in row:
                continue
            want = row[name].strip()
            if name == "subject" and row.get("category") != "投诉":
                continue
            ok = got[name] == want
            self.total[name] += 1
            self.right[name] += ok
            if not ok:
                wrong.append(name)
            k = min(sum(1 for b in BINS[1:-1] if confidences[name] >= b), len(BINS) - 2)
            self.bins[name][k][0] += 1
            self.bins[name][k][1] += ok
        if "urgent" in row:
            truth, said = row["urgent"].strip() == "1", got["urgent"] == "1"
            self.urgent[("tp" if said else "fn") if truth else ("fp" if said else "tn")] += 1
            if truth and not said:
                self.urgent_missed.append(row["id"])
            if truth and row.get("hazard"):
                self.hazard_total[row["hazard"]] += 1
                self.hazard_found[row["hazard"]] += said
        self.rows_with_miss += bool(wrong)
        return wrong

    def print(self, name: str, n: int) -> None:
        cells = "  ".join(f"{f} {self.right[f] / self.total[f]:6.1%} ({self.right[f]}/{self.total[f]})"
                          for f in FIELDS if self.total[f])
        print(f"{name:<14} n={n:<4} {cells}")
        u = self.urgent
        if u["tp"] + u["fn"]:
            print(f"{'':<14} urgent recall {u['tp'] / (u['tp'] + u['fn']):.1%} ({u['tp']}/{u['tp'] + u['fn']}), "
                  f"false alarms {u['fp'] / max(1, u['fp'] + u['tn']):.1%} ({u['fp']}/{u['fp'] + u['tn']})")


def reliability(tally: Tally) -> None:
    print("reliability (confidence bin -> accuracy, n):")
    for name in ("category", "department", "subject", "unit", "urgent"):
        cells = []
        for k, (n, right) in enumerate(tally.bins[name]):
            if n:
                cells.append(f"[{BINS[k]:.1f},{min(1.0, BINS[k + 1]):.1f}) {right / n:5.1%} n={n}")
        print(f"  {name:<11} " + "  ".join(cells))


def throughput(texts: list[str], rules: DraftingRules, model: TextModel | None, min_seconds: float = 1.0) -> float:
    drafted_count = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < min_seconds:
        for i, text in enumerate(texts):
            draft_entry(text + "。" * ((drafted_count + i) % 3), rules, model=model)  # defeat caches
        drafted_count += len(texts)
    return elapsed / drafted_count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=Path, default=None, help="rules file (default: the packaged rules.yaml)")
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the seed model)")
    parser.add_argument("--models-dir", type=Path, default=REPO / "draft_models",
                        help="where the seed model is built on first use (default: ./draft_models)")
    parser.add_argument("--rules-only", action="store_true", help="draft without a model")
    parser.add_argument("--blind", type=Path, default=None, help="score every *.tsv in DIR, aggregates only")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("CALLCENTER_SHARED", REPO.parent / "shared")))
    parser.add_argument("--mistakes", action="store_true", help="list every wrong field (not with --blind)")
    args = parser.parse_args()

    rules = DraftingRules.load(args.rules)
    model = None
    if not args.rules_only:
        model = TextModel.load(args.model) if args.model else ModelRegistry(args.models_dir).load(SEED)
    print(f"model: {'rules only' if model is None else model.meta.get('version', args.model)}")
    if args.blind is not None:
        files = sorted(args.blind.glob("*.tsv"))
        rows = [row for path in files for row in read_tsv(path)]
        tally = Tally()
        for row in rows:
            tally.add(row, draft_entry(row["caller_text"], rules, model=model))
        tally.print("blind", len(rows))
        recall = "  ".join(f"{h} {tally.hazard_found[h]}/{tally.hazard_total[h]}" for h in HAZARDS
                           if tally.hazard_total[h])
        print(f"per-hazard recall: {recall}")
        reliability(tally)
        print(f"texts with at least one wrong field: {tally.rows_with_miss}/{len(rows)}")
        print(f"urgency misses ({len(tally.urgent_missed)}): {' '.join(tally.urgent_missed) or '-'}")
        print(f"drafting time {throughput([r['caller_text'] for r in rows], rules, model):.2f} ms per call "
              f"(one process, {len(rows)} texts)")
        return
    sets = {"dev": args.shared / "scenarios" / "dev.tsv"}
    sets.update({f"held-out {i}": REPO / "tests" / "drafting" / f"heldout_{i}.tsv" for i in range(1, 6)})
    texts: list[str] = []
    pooled = Tally()
    for name, path in sets.items():
        if not path.exists():
            print(f"{name:<14} missing: {path}")
            continue
        rows = read_tsv(path)
        texts.extend(row["caller_text"] for row in rows)
        tally = Tally()
        for row in rows:
            draft = draft_entry(row["caller_text"], rules, model=model)
            wrong = tally.add(row, draft)
            pooled.add(row, draft)
            if args.mistakes and wrong:
                got = drafted(draft)
                print(f"    {row['id']}: " + ", ".join(f"{f}: got {got[f]!r} want {row[f]!r}" for f in wrong))
        tally.print(name, len(rows))
    pooled.print("pooled", sum(pooled.total[f] for f in ("category",)))
    reliability(pooled)
    if texts:
        print(f"drafting time {throughput(texts, rules, model):.2f} ms per call (one process, {len(texts)} texts)")


if __name__ == "__main__":
    main()
