"""The learned model without a database: file format, corruption, the packaged seed model,
serving with the rules as fallback, calibrated confidence in the draft."""

from __future__ import annotations

import logging
import shutil
import stat
from pathlib import Path

import pytest

from callcenter.drafting import DraftingRules, draft_entry
from callcenter.drafting.model import ModelFileError, TextModel
from callcenter.drafting.registry import SEED, ModelRegistry, seed_model_dir
from callcenter.drafting.serving import ModelProvider
from callcenter.drafting.train import seed_corpus_sha256


@pytest.fixture(scope="module")
def seed_model() -> TextModel:
    return TextModel.load(seed_model_dir())


def test_packaged_seed_model_is_trained_from_the_packaged_corpus(seed_model: TextModel) -> None:
    # regenerate with `python -m callcenter.drafting.train` after changing the corpus
    assert seed_model.meta["seed_corpus_sha256"] == seed_corpus_sha256()
    assert set(seed_model.heads) == {"category", "department", "subject"}
    for name in ("category", "department"):
        assert seed_model.meta["policy"][name]["source"] in ("rules", "model", "both")


def test_model_round_trips_and_predicts(seed_model: TextModel, tmp_path: Path) -> None:
    seed_model.save(tmp_path / "m")
    again = TextModel.load(tmp_path / "m")
    text = "我家厨房水龙头坏了关不上，麻烦派个师傅来修一下"
    assert again.predict(text)["category"].value == seed_model.predict(text)["category"].value == "报修"
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


def test_site_without_models_drafts_with_the_seed_model(tmp_path: Path, rules: DraftingRules) -> None:
    provider = ModelProvider(ModelRegistry(tmp_path / "models"))
    model = provider.get()
    assert model is not None and model.meta["version"] == SEED
    draft = draft_entry("喂 物业吗 我家 卫生间 马桶 堵了 冲不下去 三栋二单元五零一", rules, model=model)
    assert draft.category.value == "报修" and draft.department.value == "工程"
    assert draft.model_version == SEED
    assert draft.sources is not None and draft.alternatives is not None


def test_corrupt_serving_model_falls_back_to_rules_with_one_alarm(
    tmp_path: Path, rules: DraftingRules, caplog: pytest.LogCaptureFixture
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    shutil.copytree(seed_model_dir(), registry.root / "versions" / "v0001-x")
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


def test_drafting_is_fast_with_the_model(seed_model: TextModel, rules: DraftingRules) -> None:
    import time

    texts = [f"你好 我是{i}栋二单元三零一 家里的空调不制冷了 能不能派师傅来看看 谢谢" for i in range(1, 41)]
    started = time.perf_counter()
    for text in texts:
        draft_entry(text, rules, model=seed_model)
    assert (time.perf_counter() - started) / len(texts) < 0.02  # budget 5 ms; generous for CI noise
