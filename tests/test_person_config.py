"""The ring group, duty roster and in-call understanding settings: mistakes a site administrator
makes are explained, good ones load."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from callcenter.config import ConfigError, load_settings, load_site_terms
from callcenter.staffing.settings import RosterMember, in_shift


@pytest.mark.parametrize(("text", "expected"), [
    ("transfer:\n  strategy: round_robin\n", "simultaneous"),
    ("transfer:\n  ring_timeout_s: 1\n", "ring_timeout_s"),
    ("transfer:\n  duty_roster:\n    - {name: 保安室, number: '8001', shifts: ['8:00-18:00']}\n", "HH:MM-HH:MM"),
    ("transfer:\n  duty_roster:\n    - {name: 保安室, number: '80 01'}\n", "number"),
    ("transfer:\n  extensions: ['8001', 'a b']\n", "extensions"),
    ("flow:\n  category_keys: {'0': 报修}\n", "one digit"),
    ("flow:\n  category_menu_below: 2\n", "category_menu_below"),
])
def test_mistakes_are_explained(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        load_settings(path)


def test_menu_categories_must_be_the_sites(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("flow:\n  category_keys: {'1': 报修, '2': 闲聊}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="闲聊"):
        load_site_terms(load_settings(path))


def test_roster_by_shift_including_overnight(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("transfer:\n  duty_roster:\n    - {name: 保安室, number: '8001', shifts: ['18:00-08:00']}\n"
                    "    - {name: 值班工程师, number: '13800000000'}\n", encoding="utf-8")
    roster = load_settings(path).transfer.duty_roster
    assert roster[0] == RosterMember(name="保安室", number="8001", shifts=("18:00-08:00",))
    assert roster[0].on_duty(time(23, 0)) and roster[0].on_duty(time(7, 59)) and not roster[0].on_duty(time(12, 0))
    assert roster[1].on_duty(time(12, 0)) and roster[1].on_duty(time(0, 0))
    assert in_shift("08:00-18:00", time(8, 0)) and not in_shift("08:00-18:00", time(18, 0))
