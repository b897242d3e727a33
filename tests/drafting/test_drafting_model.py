"""The learned model without a database: file format, corruption, the seed model built from the
packaged corpus on first use, serving with the rules as fallback, calibrated confidence in the
draft, urgency from the rules or the model."""

from __future__ import annotations

import logging
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from callcenter.drafting import DraftingRules, draft_entry
from callcenter.drafting.combine import assess_urgency
from callcenter.drafting.hazard import detect_hazard
from callcenter.drafting.model import FieldPrediction, ModelFileError, TextModel
from callcenter.drafting.registry import SEED, TRAINER_VERSION, ModelRegistry
from callcenter.drafting.serving import ModelProvider
from callcenter.drafting.train import SEED_FILES, seed_corpus_sha256

_PACKAGE = Path(__file__).resolve().parents[2] / "callcenter"


@pytest.fixture(scope="module")
def seed_model(built_seed: Path) -> TextModel:
    return TextModel.load(built_seed / SEED)


def test_seed_model_is_built_from_the_packaged_corpus_on_first_use(built_seed: Path, seed_model: TextModel) -> None:
    assert seed_model.meta["seed_corpus_sha256"] == seed_corpus_sha256()
    assert seed_model.meta["trainer_version"] == TRAINER_VERSION
    assert set(seed_model.heads) == {"category", "department", "subject", "urgent", "hazard"}
    for name in ("category", "department", "subject"):
        assert seed_model.meta["policy"][name]["source"] in ("rules", "model", "both")
    assert 0.0 < seed_model.meta["policy"]["urgent"]["threshold"] <= 2.0
    # measured on folds that hold out whole writers: five writers, five folds
    assert seed_model.meta["examples"]["fold_groups"] == len(SEED_FILES)  # one fold per writer
    # owner-only: the models are derived from residents' calls
    assert stat.S_IMODE(built_seed.stat().st_mode) == 0o700
    assert stat.S_IMODE((built_seed / SEED / "arrays.npz").stat().st_mode) == 0o600
    assert ModelRegistry(built_seed).seed_is_current()


def test_no_model_file_ships_in_the_package() -> None:
    assert not (_PACKAGE / "drafting" / "seed_model").exists()
    assert not [p for p in _PACKAGE.rglob("*.npz")]


def test_a_stale_seed_model_is_not_current(models_root: Path) -> None:
    registry = ModelRegistry(models_root)
    assert registry.seed_is_current()
    meta = models_root / SEED / "meta.json"
    meta.write_text(meta.read_text(encoding="utf-8").replace(seed_corpus_sha256(), "0" * 64), encoding="utf-8")
    assert not registry.seed_is_current()  # another corpus: rebuilt on next use
    (models_root / SEED / "meta.json").unlink()
    assert not registry.seed_is_current()


def test_model_round_trips_and_predicts(seed_model: TextModel, tmp_path: Path) -> None:
    seed_model.save(tmp_path / "m")
    again = TextModel.load(tmp_path / "m")
    text = "我家厨房水龙头坏了关不上，麻烦派个师傅来修一下"
    assert again.predict(text)["category"].value == seed_model.predict(text)["category"].value == "报修"
    assert again.predict(text)["urgent"].value == "0"
    assert stat.S_IMODE((tmp_path / "m").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "m" / "arrays.npz").stat().st_mode) == 0o600


def test_corrupted_or_missing_files_are_refused(seed_model: TextModel, tmp_path: Path) -> None:
    seed_model.save(tmp_path / "m")
    arrays = tmp_path / "m" / "arrays.npz"
    data = bytearray(arrays.read_bytes())
    data[len(data) // 2] ^= 0xFF
    arrays.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        TextModel.load(tmp_path / "m")
    arrays.unlink()
    with pytest.raises(ModelFileError):
        TextModel.load(tmp_path / "m")
    with pytest.raises(ModelFileError):
        TextModel.load(tmp_path / "nowhere")


def test_site_without_models_drafts_with_the_seed_model(models_root: Path, rules: DraftingRules) -> None:
    provider = ModelProvider(ModelRegistry(models_root))
    model = provider.get()
    assert model is not None and model.meta["version"] == SEED
    draft = draft_entry("喂 物业吗 我家 卫生间 马桶 堵了 冲不下去 三栋二单元五零一", rules, model=model)
    assert draft.category.value == "报修" and draft.department.value == "工程"
    assert draft.model_version == SEED
    assert draft.sources is not None and draft.alternatives is not None


def test_corrupt_serving_model_falls_back_to_rules_with_one_alarm(
    models_root: Path, rules: DraftingRules, caplog: pytest.LogCaptureFixture
) -> None:
    registry = ModelRegistry(models_root)
    shutil.copytree(models_root / SEED, registry.root / "versions" / "v0001-x")
    registry.promote("v0001-x", "test")
    (registry.root / "versions" / "v0001-x" / "arrays.npz").write_bytes(b"not a model")
    told: list[str | None] = []
    provider = ModelProvider(registry, on_failure=told.append, check_every_s=0)
    with caplog.at_level(logging.ERROR, logger="callcenter.drafting.serving"):
        assert provider.get() is None
        assert provider.get() is None  # looked at again: still one log line, one alarm
    assert len([r for r in caplog.records if "rules only" in r.getMessage()]) == 1
    assert len(told) == 1 and told[0] is not None and "v0001-x" in told[0]
    # the call is drafted all the same, by the rules, every field below the review mark
    draft = draft_entry("燃气好像漏了，屋里全是味，三栋二单元五零一", rules, model=provider.get())
    assert draft.urgent.value is True and draft.hazard.value == "gas"
    assert draft.category.confidence <= 0.5 and draft.model_version == ""
    # rolled back to the seed: resolved, told once more
    registry.rollback()
    assert provider.get() is not None
    assert told[-1] is None


def test_missing_model_directory_falls_back(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    registry.root.mkdir()
    (registry.root / "current").write_text("v0009-gone\n")
    told: list[str | None] = []
    assert ModelProvider(registry, on_failure=told.append).get() is None
    assert told and "v0009-gone" in str(told[0])


def test_urgent_call_routes_by_hazard_and_is_confident(seed_model: TextModel, rules: DraftingRules) -> None:
    draft = draft_entry("电 题 关 人 了 我 在 里面 按 警铃 没人 应 七号楼二单元", rules, model=seed_model)
    assert draft.urgent.value is True and draft.hazard.value == "lift"
    assert (draft.category.value, draft.department.value) == ("报修", "工程")
    assert draft.urgent.confidence >= 0.9


class _Stub:
    """A model's metadata and explanations, without weights."""

    def __init__(self, threshold: float) -> None:
        self.meta = {"policy": {"urgent": {"threshold": threshold}}, "calibration": {}}

    def explain(self, *_: object) -> tuple[()]:
        return ()


def _p(urgent: float, hazard: str = "gas") -> dict[str, FieldPrediction]:
    return {"urgent": FieldPrediction("1" if urgent >= 0.5 else "0", max(urgent, 1 - urgent),
                                      {"0": 1 - urgent, "1": urgent}),
            "hazard": FieldPrediction(hazard, 0.8, {hazard: 0.8})}


@pytest.mark.parametrize(("text", "p_urgent", "threshold", "urgent", "source", "hazard"), [
    # the rules fire: urgent whatever the model says, with the rules' class and evidence
    ("燃气好像漏了，屋里全是味", 0.01, 0.6, True, "rules", "gas"),
    # the rules are silent, the model passes its threshold: urgent, the model's class
    ("那边一直在响，闻着头都晕了，你们快来", 0.7, 0.6, True, "model", "gas"),
    # the rules are silent, the model stays under: not urgent
    ("那边一直在响，闻着头都晕了，你们快来", 0.5, 0.6, False, "none", None),
    # a negated mention stays calm unless the model is past its threshold
    ("没有漏气，我就想问燃气费怎么交", 0.1, 0.6, False, "none", None),
])
def test_urgent_if_the_rules_fire_or_the_model_passes_its_threshold(
        text: str, p_urgent: float, threshold: float, urgent: bool, source: str, hazard: str | None) -> None:
    stub: Any = _Stub(threshold)
    found = assess_urgency(text, detect_hazard(text), stub, _p(p_urgent))
    assert (found.urgent.value, found.source, found.hazard.value) == (urgent, source, hazard)
    assert found.probability == pytest.approx(p_urgent)


def test_without_a_model_urgency_is_the_rules_alone() -> None:
    found = assess_urgency("电梯困人了，里面有个小孩在哭", detect_hazard("电梯困人了，里面有个小孩在哭"), None)
    assert found.urgent.value is True and found.source == "rules" and found.probability is None
    assert assess_urgency("物业费怎么交", None, None).urgent.value is False


def test_draft_records_what_the_rules_and_the_model_said_about_urgency(seed_model: TextModel,
                                                                       rules: DraftingRules) -> None:
    draft = draft_entry("着火了着火了，五栋一楼", rules, model=seed_model)
    assert draft.sources is not None and draft.sources["urgent"] == "rules"
    assert draft.alternatives is not None and draft.alternatives["urgent"]["rules"] == "true"
    calm = draft_entry("请问物业费怎么交，十八号楼一单元1203", rules, model=seed_model)
    assert calm.urgent.value is False and calm.alternatives is not None
    assert calm.alternatives["urgent"] == {"rules": "false", "model": "false"}
    # "no subject" is never a confident claim (a complaint drafted as something else hides there)
    assert calm.complaint_subject.value is None and calm.complaint_subject.confidence < 0.9
