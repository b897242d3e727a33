"""Where CI's CPU goes: with CALLCENTER_TEST_CPU_LOG=FILE, each test's CPU seconds (this worker's,
plus the child processes it waited for), wall seconds, start (epoch seconds) and xdist worker are
appended to FILE as `nodeid<TAB>cpu<TAB>wall<TAB>start<TAB>worker<TAB>own`, `own` being the worker's
own CPU without children (a child is counted when it is reaped, which can be in a later test). On 2 cores the suite is bound by CPU, not by the slowest test, so this,
not `--durations`, says what to make cheaper. `bench/ci_cpu.py FILE` sums it by module."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator

import pytest

LOG = os.environ.get("CALLCENTER_TEST_CPU_LOG", "")


def _cpu_s() -> tuple[float, float]:
    """(own + reaped children, own) CPU seconds of this process."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    mine = own.ru_utime + own.ru_stime
    return mine + children.ru_utime + children.ru_stime, mine


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if not LOG:
        return (yield)
    (cpu, own), wall, start = _cpu_s(), time.monotonic(), time.time()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    try:
        return (yield)
    finally:
        with open(LOG, "a", encoding="utf-8") as out:  # one short line per write: appends do not interleave
            cpu_end, own_end = _cpu_s()
            out.write(f"{item.nodeid}\t{cpu_end - cpu:.2f}\t{time.monotonic() - wall:.2f}\t{start:.1f}\t{worker}"
                      f"\t{own_end - own:.2f}\n")
