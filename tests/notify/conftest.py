from __future__ import annotations

from collections.abc import Iterator

import pytest

from callcenter.notify import Notice
from tests.notify.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


@pytest.fixture
def notice() -> Notice:
    return Notice(
        kind="urgent",
        severity="critical",
        title="电梯困人 4-2-301",
        body="4栋2单元电梯困人，业主王先生来电。\n请安保和工程立即到场。",
        entry_id=12,
        audience=("clerk", "supervisor"),
        link="/#/entries/12",
        mention_mobiles=("13800138000",),
    )
