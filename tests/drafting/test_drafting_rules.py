"""The rules file: packaged default, and clear errors on a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from callcenter.drafting.rules import DraftingRules, DraftingRulesError

PACKAGED = Path(__file__).resolve().parents[2] / "callcenter" / "drafting" / "rules.yaml"


def _packaged_data() -> dict:
    return yaml.safe_load(PACKAGED.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_packaged_rules_load() -> None:
    rules = DraftingRules.load()
    assert rules.category_names() == ("报修", "投诉", "咨询", "求助", "建议", "其他")
    assert set(rules.departments) == {"工程", "安保", "保洁", "绿化", "客服", "项目负责人"}
    assert "power" in rules.topics
    assert set(rules.complaint_subjects) >= {
        "安保",
        "清洁",
        "绿化",
        "工程维修",
        "信件报刊",
        "装修管理",
        "员工服务态度",
        "其它",
    }


def test_load_explicit_path_equals_packaged(tmp_path: Path) -> None:
    assert DraftingRules.load(_write(tmp_path, _packaged_data())) == DraftingRules.load()


def test_rules_are_frozen() -> None:
    rules = DraftingRules.load()
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError for frozen models
        rules.fallback_category = "报修"  # type: ignore[misc]


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(DraftingRulesError, match="nope.yaml"):
        DraftingRules.load(missing)


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("categories: [unclosed\n", encoding="utf-8")
    with pytest.raises(DraftingRulesError, match=r"broken\.yaml.*not valid YAML"):
        DraftingRules.load(path)


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(DraftingRulesError, match="mapping"):
        DraftingRules.load(_write(tmp_path, ["a", "b"]))


def test_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    data = _packaged_data()
    data["urgnet_terms"] = {"停电": 1.0}
    with pytest.raises(DraftingRulesError, match=r"rules\.yaml.*key urgnet_terms"):
        DraftingRules.load(_write(tmp_path, data))


def test_bad_regex_names_key_and_pattern(tmp_path: Path) -> None:
    data = _packaged_data()
    data["urgent_terms"]["停电(|"] = 1.0
    with pytest.raises(DraftingRulesError, match=r"key urgent_terms.*停电\(\|"):
        DraftingRules.load(_write(tmp_path, data))


def test_a_category_needs_its_default_department(tmp_path: Path) -> None:
    data = _packaged_data()
    data["categories"]["闲聊"] = {"你好": 1.0}
    with pytest.raises(DraftingRulesError, match="routing.default_department lacks 闲聊"):
        DraftingRules.load(_write(tmp_path, data))
    data["routing"]["default_department"]["闲聊"] = "客服"
    terms = DraftingRules.load(_write(tmp_path, data)).site_terms()
    assert terms.categories == ("报修", "投诉", "咨询", "求助", "建议", "闲聊", "其他")  # the fallback last


def test_unknown_category_in_routing(tmp_path: Path) -> None:
    data = _packaged_data()
    data["routing"]["default_department"]["闲聊"] = "客服"
    with pytest.raises(DraftingRulesError, match="routing.default_department.闲聊: unknown category '闲聊'"):
        DraftingRules.load(_write(tmp_path, data))
    data = _packaged_data()
    data["routing"]["topics"][0]["categories"] = ["闲聊"]
    with pytest.raises(DraftingRulesError, match=r"routing\.topics\.0\.categories: unknown category '闲聊'"):
        DraftingRules.load(_write(tmp_path, data))


def test_the_complaint_category_is_required(tmp_path: Path) -> None:
    data = _packaged_data()
    del data["categories"]["投诉"]
    with pytest.raises(DraftingRulesError, match="the category 投诉 .complaints. is required"):
        DraftingRules.load(_write(tmp_path, data))


def test_site_terms_come_from_the_rules_file(tmp_path: Path) -> None:
    data = _packaged_data()
    data["departments"].append("电梯维保部")
    data["complaint_subjects"]["电梯"] = {"department": "电梯维保部", "terms": {"电梯": 3.0}}
    terms = DraftingRules.load(_write(tmp_path, data)).site_terms(source="site.yaml")
    assert terms.departments[-1] == "电梯维保部" and terms.complaint_subjects[-1] == "电梯"
    assert (terms.fallback_category, terms.desk_department, terms.fallback_complaint_subject) == ("其他", "客服", "其它")
    assert terms.subject_for_department("电梯维保部") == "电梯"
    assert terms.subject_for_department("保洁") == "清洁"
    assert terms.subject_for_department("客服") == "其它"  # several subjects: the fallback


def test_unknown_department_in_routing(tmp_path: Path) -> None:
    data = _packaged_data()
    data["routing"]["default_department"]["报修"] = "维修部"
    with pytest.raises(DraftingRulesError, match=r"routing\.default_department\.报修.*'维修部'; add it to departments"):
        DraftingRules.load(_write(tmp_path, data))
    data = _packaged_data()
    data["complaint_subjects"]["安保"]["department"] = "保卫科"
    with pytest.raises(DraftingRulesError, match=r"rules\.yaml.*complaint_subjects\.安保\.department: unknown "
                                                  r"department '保卫科'; add it to departments or use one of 工程"):
        DraftingRules.load(_write(tmp_path, data))


def test_missing_required_section(tmp_path: Path) -> None:
    data = _packaged_data()
    del data["topics"]
    with pytest.raises(DraftingRulesError, match="key topics: Field required"):
        DraftingRules.load(_write(tmp_path, data))


def test_wrong_type_names_nested_key(tmp_path: Path) -> None:
    data = _packaged_data()
    data["categories"]["报修"]["坏了|坏掉|损坏|故障"] = "heavy"
    with pytest.raises(DraftingRulesError, match=r"key categories\.报修\.坏了\|坏掉\|损坏\|故障"):
        DraftingRules.load(_write(tmp_path, data))


def test_surname_pattern_needs_named_group(tmp_path: Path) -> None:
    data = _packaged_data()
    data["caller_name"]["patterns"] = ["我姓(.)"]
    with pytest.raises(DraftingRulesError, match="surname"):
        DraftingRules.load(_write(tmp_path, data))


def test_edited_rules_change_behaviour(tmp_path: Path) -> None:
    from callcenter.drafting.classify import classify

    data = _packaged_data()
    data["urgent_terms"]["蜂窝"] = 1.0
    rules = DraftingRules.load(_write(tmp_path, data))
    assert classify("阳台上有个马蜂窝", rules).urgent.value is True
    assert classify("阳台上有个马蜂窝", DraftingRules.load()).urgent.value is False


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    text = PACKAGED.read_text(encoding="utf-8").replace(
        "    报修: 3.0\n", "    报修: 3.0\n    报修: 9.0\n", 1
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DraftingRulesError, match=r"(?s)dup\.yaml.*duplicate key '报修'"):
        DraftingRules.load(path)


def test_import_does_no_work() -> None:
    import subprocess
    import sys

    code = "import sys, callcenter.drafting; assert 'cn2an' not in sys.modules, 'cn2an imported eagerly'"
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=False
    )  # noqa: S603
    assert result.returncode == 0, result.stderr
