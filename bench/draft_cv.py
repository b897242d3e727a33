"""Leave-one-writer-out estimate of the drafting: the honest dev figure.

For each writer of the seed corpus (train_a … train_i), the whole training (features, heads, and
inside it the policy, urgency threshold and calibration on group folds of the remaining
writers) runs without that writer's texts; the writer's texts are then drafted as in
production (draft_entry: rules, hazard detector, model) and scored. A new site's callers are
new writers: folds that mix a writer's texts are optimistic.

Usage:
  python bench/draft_cv.py [--mistakes] [--set C=3 --set false_alarm_budget=0.04 ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from draft_accuracy import FIELDS, Tally, drafted, reliability, throughput  # noqa: E402

from callcenter.drafting import DraftingRules, draft_entry  # noqa: E402
from callcenter.drafting.hazard import HAZARDS  # noqa: E402
from callcenter.drafting.train import DEFAULT_CONFIG, Example, TrainConfig, seed_corpus, train  # noqa: E402


def _row(e: Example) -> dict[str, str]:
    return {"id": e.id, "caller_text": e.text, "category": e.category or "", "department": e.department or "",
            "subject": e.subject or "", "urgent": "" if e.urgent is None else ("1" if e.urgent else "0"),
            "hazard": e.hazard or ""}


def parse_overrides(pairs: list[str]) -> TrainConfig:
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    changes: dict[str, object] = {}
    for pair in pairs:
        name, _, raw = pair.partition("=")
        if name not in fields:
            raise SystemExit(f"unknown TrainConfig field {name!r}")
        current = getattr(DEFAULT_CONFIG, name)
        if isinstance(current, tuple):
            changes[name] = tuple(int(v) for v in raw.split(","))
        elif current is None or isinstance(current, str):
            changes[name] = None if raw in ("", "none", "None") else raw
        else:
            changes[name] = type(current)(raw)
    return dataclasses.replace(DEFAULT_CONFIG, **changes)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a TrainConfig hyper-parameter")
    parser.add_argument("--mistakes", action="store_true", help="print every urgency miss and false alarm")
    parser.add_argument("--timing", action="store_true", help="also measure the drafting time per call")
    args = parser.parse_args()
    config = parse_overrides(args.set)
    rules = DraftingRules.load()
    corpus = seed_corpus()
    writers = sorted({e.group or "" for e in corpus})
    print(f"config: {config}")
    pooled = Tally()
    sources: Counter[str] = Counter()
    hazard_right = hazard_n = 0
    texts: list[str] = []
    models = []
    for writer in writers:
        report = train([e for e in corpus if e.group != writer], rules, config=config)
        model = report.model
        models.append(model)
        tally = Tally()
        held = [e for e in corpus if e.group == writer]
        for e in held:
            row = _row(e)
            draft = draft_entry(e.text, rules, model=model)
            wrong = tally.add(row, draft)
            pooled.add(row, draft)
            texts.append(e.text)
            sources[f"urgent:{(draft.sources or {}).get('urgent')}"] += bool(draft.urgent.value)
            if e.urgent and draft.urgent.value:
                hazard_n += 1
                hazard_right += draft.hazard.value == e.hazard
            if args.mistakes and "urgent" in wrong:
                got = drafted(draft)
                kind = "MISS" if e.urgent else "FA  "
                print(f"    {kind} {e.id} want {row['hazard'] or '-'} got {got['hazard'] or '-'} "
                      f"({(draft.sources or {}).get('urgent')}): {e.text}")
        threshold = model.meta["policy"]["urgent"]
        tally.print(f"held out {writer}", len(held))
        print(f"{'':<14} trained in {report.seconds:.1f} s; urgency threshold {threshold['threshold']:.4f} "
              f"({threshold['reason']})")
    print()
    pooled.print("pooled", sum(pooled.total[f] for f in ("category",)))
    recall = "  ".join(f"{h} {pooled.hazard_found[h]}/{pooled.hazard_total[h]}" for h in HAZARDS
                       if pooled.hazard_total[h])
    print(f"per-hazard recall: {recall}")
    print(f"hazard class right on urgent calls found: {hazard_right}/{hazard_n}")
    print(f"urgent calls flagged by: {dict(sources)}")
    reliability(pooled)
    high = "  ".join(
        f"{name} {sum(r for n, r in pooled.bins[name][5:]) / max(1, sum(n for n, _ in pooled.bins[name][5:])):.1%}"
        f" (n={sum(n for n, _ in pooled.bins[name][5:])})" for name in FIELDS if name != "unit")
    print(f"confidence >= 0.9 right: {high}")
    print(f"texts with at least one wrong field: {pooled.rows_with_miss}/{len(texts)}")
    if args.timing:
        print(f"drafting time {throughput(texts, rules, models[-1]):.2f} ms per call (one process)")


if __name__ == "__main__":
    main()
