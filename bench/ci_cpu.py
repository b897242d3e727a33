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
    for line in args.log.read_text(encoding="utf-8").splitlines():
        nodeid, cpu, wall = line.rsplit("\t", 2)
        rows.append((nodeid, float(cpu), float(wall)))
    total_cpu, total_wall = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"{len(rows)} tests: CPU {total_cpu:.0f} s, wall {total_wall:.0f} s (summed over workers)")
    by_module: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for nodeid, cpu, wall in rows:
        m = by_module[nodeid.split("::", 1)[0]]
        m[0] += cpu
        m[1] += wall
        m[2] += 1
    print(f"\nmodules by CPU (top {args.top}):")
    for name, (cpu, wall, n) in sorted(by_module.items(), key=lambda kv: -kv[1][0])[:args.top]:
        print(f"{cpu:8.1f} s CPU {wall:8.1f} s wall {n:5d} tests  {name}")
    print(f"\ntests by CPU (top {args.top}):")
    for nodeid, cpu, wall in sorted(rows, key=lambda r: -r[1])[:args.top]:
        print(f"{cpu:8.1f} s CPU {wall:8.1f} s wall  {nodeid}")


if __name__ == "__main__":
    main()
