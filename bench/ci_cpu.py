"""Sum a CPU log of the test suite (tests/cpu_log.py) by test and by module.

    CALLCENTER_TEST_CPU_LOG=/tmp/cpu.tsv scripts/test
    .venv/bin/python bench/ci_cpu.py /tmp/cpu.tsv [--top 30]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    rows = []
    own: list[tuple[str, float]] = []  # the worker's own CPU per test, in logs that have it
    spans: dict[str, list[float]] = {}  # worker -> [first start, last end]
    for line in args.log.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        nodeid, cpu, wall = fields[0], float(fields[1]), float(fields[2])
        rows.append((nodeid, cpu, wall))
        if len(fields) >= 6:
            own.append((nodeid, float(fields[5])))
        if len(fields) >= 5:  # logs since start and worker were added
            start, worker = float(fields[3]), fields[4]
            span = spans.setdefault(worker, [start, start + wall])
            span[0], span[1] = min(span[0], start), max(span[1], start + wall)
    total_cpu, total_wall = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"{len(rows)} tests: CPU {total_cpu:.0f} s, wall {total_wall:.0f} s (summed over workers)")
    if spans:
        first, last = min(s[0] for s in spans.values()), max(s[1] for s in spans.values())
        print(f"first test to last: {last - first:.0f} s; each worker's idle tail (s): "
              + ", ".join(f"{w} {last - s[1]:.0f}" for w, s in sorted(spans.items())))
    by_module: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for nodeid, cpu, wall in rows:
        m = by_module[nodeid.split("::", 1)[0]]
        m[0] += cpu
        m[1] += wall
        m[2] += 1
    print(f"\nmodules by CPU (top {args.top}):")
    for name, (cpu, wall, n) in sorted(by_module.items(), key=lambda kv: -kv[1][0])[:args.top]:
        print(f"{cpu:8.1f} s CPU {wall:8.1f} s wall {n:5d} tests  {name}")
    if own:
        print(f"\nin the workers themselves (no child processes): {sum(c for _, c in own):.0f} s; by module (top {args.top}):")
        own_by_module: dict[str, float] = defaultdict(float)
        for nodeid, cpu in own:
            own_by_module[nodeid.split("::", 1)[0]] += cpu
        for name, cpu in sorted(own_by_module.items(), key=lambda kv: -kv[1])[:args.top]:
            print(f"{cpu:8.1f} s CPU  {name}")
    print(f"\ntests by CPU (top {args.top}):")
    for nodeid, cpu, wall in sorted(rows, key=lambda r: -r[1])[:args.top]:
        print(f"{cpu:8.1f} s CPU {wall:8.1f} s wall  {nodeid}")


if __name__ == "__main__":
    main()
