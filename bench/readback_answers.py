"""How callers' spoken answers to the unit read-back (「您的房号是…，对吗？」) are read: yes, no or
unclear against the writers' labels, per set, with the count that matters most, a no read as yes
(it would confirm a wrong unit).

    .venv/bin/python bench/readback_answers.py [--mistakes] [FILE.tsv=UNIT ...]

Without files: the sets in tests/drafting (readback_answers_*.tsv), each written blind by a helper
who had not seen the rules; their first-run figures are in tests/drafting/README.md. Score a new
set once, before changing callcenter/drafting/answers.py, and add its figure there.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

from callcenter.drafting.answers import readback_answer

HERE = Path(__file__).resolve().parents[1] / "tests" / "drafting"
SETS = {"readback_answers_h.tsv": "4-2-301", "readback_answers_i.tsv": "4-2-301", "readback_answers_j.tsv": "7-1-502",
        "readback_answers_k.tsv": "12-3-1204"}
KINDS = ("yes", "no", "unclear")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="*", help="FILE.tsv=UNIT (the unit read back to every caller in FILE)")
    ap.add_argument("--mistakes", action="store_true", help="print each answer read otherwise than labelled")
    args = ap.parse_args()
    sets = [tuple(s.rsplit("=", 1)) for s in args.sets] or [(str(HERE / n), u) for n, u in SETS.items()]
    for path, unit in sets:
        rows = list(csv.DictReader(Path(path).read_text(encoding="utf-8").splitlines(), delimiter="\t"))
        got: Counter[tuple[str, str]] = Counter()
        for row in rows:
            kind = readback_answer(row["text"], unit).kind
            got[(row["label"], kind)] += 1
            if args.mistakes and kind != row["label"]:
                print(f"  {row['label']:>7} -> {kind:<7} {row['text']}")
        right = sum(n for (label, kind), n in got.items() if label == kind)
        labelled_no = sum(n for (label, _), n in got.items() if label == "no")
        print(f"{Path(path).name} (read back {unit}): {right}/{len(rows)} = {right / len(rows):.1%} agree; "
              f"no read as yes {got[('no', 'yes')]}/{labelled_no}")
        for label in KINDS:
            print(f"  labelled {label:<7} read as " + "  ".join(f"{k} {got[(label, k)]}" for k in KINDS))


if __name__ == "__main__":
    main()
