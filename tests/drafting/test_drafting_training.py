"""Training on the site's confirmed entries -> serving -> rollback, on both databases; a worse
model is kept but not promoted."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from callcenter.accounts import Accounts
from callcenter.drafting import DraftingRules, draft_entry
from callcenter.drafting.registry import SEED, ModelRegistry
from callcenter.drafting.serving import ModelProvider
from callcenter.learning.accuracy_report import accuracy_report
from callcenter.learning.retrain import RetrainSettings, retrain
from callcenter.learning.site_data import site_examples
from callcenter.ledger.service import LedgerService

# A site-specific kind of call the seed corpus never saw, with the site's way of filing it.
_BIKES = "小区里的共享单车又堆在{b}号楼单元门口了 堵得轮椅出不去 这是第{i}回了 你们门岗到底管不管"


def _confirmed_calls(ledger: LedgerService, uid: int, texts: list[tuple[str, str, str]], rules: DraftingRules,
                     prefix: str) -> list[int]:
    ids = []
    for i, (text, category, department) in enumerate(texts):
        sip = f"{prefix}{i}"
        ledger.call_ringing(sip, "13800000000", "", "hotline", ledger.clock.now())
        answered = ledger.call_answered(sip)
        ledger.apply_draft(sip, draft_entry(text, rules))
        ledger.confirm_entry(answered.entry_id, {"category": category, "department": department}, "clerk1", uid)
        ledger.clock.advance(seconds=60)  # type: ignore[attr-defined]
        ids.append(answered.entry_id)
    return ids


def _clerk(ledger: LedgerService) -> int:
    return Accounts(ledger.engine, ledger.clock).add_user("clerk1", "clerk", "pw-123456789")


def test_train_serve_rollback(ledger: LedgerService, rules: DraftingRules, models_root: Path) -> None:
    uid = _clerk(ledger)
    texts = [(_BIKES.format(b=i % 20 + 1, i=i % 7 + 2), "求助", "安保") for i in range(150)]
    _confirmed_calls(ledger, uid, texts, rules, "bike")
    examples = site_examples(ledger.engine)
    assert len(examples) == 150 and examples[0].category == "求助" and examples[0].source == "site"
    assert examples[0].text.startswith("小区里的共享单车")

    registry = ModelRegistry(models_root)
    provider = ModelProvider(registry, check_every_s=0)
    assert provider.get() is not None and registry.current() == SEED
    result = retrain(ledger.engine, rules, registry, RetrainSettings(holdout_share=0.2, min_holdout=20))
    assert result.examples["site_held_back"] == 30
    assert result.candidate is not None and result.serving is not None
    assert result.promoted, result.reason
    assert registry.current() == result.version
    served = provider.get()
    assert served is not None and served.meta["version"] == result.version
    draft = draft_entry(_BIKES.format(b=3, i=4), rules, model=served)
    assert (draft.category.value, draft.department.value) == ("求助", "安保")
    versions = {v.version: v for v in registry.versions()}
    assert versions[result.version].serving and versions[result.version].holdout is not None

    assert registry.rollback() == SEED
    assert provider.get() is not None and provider.get().meta["version"] == SEED  # type: ignore[union-attr]

    # the accuracy report sees the confirmations, by week, rules and model each on their own
    report = accuracy_report(ledger.engine, since=ledger.clock.now() - timedelta(days=30))
    rows = [w for w in report.weeks if w["field"] == "category"]
    assert rows and sum(w["confirmed"] for w in rows) == 150
    assert all(w["rules_n"] == w["confirmed"] for w in rows)
    assert report.reliability


def test_worse_model_is_kept_not_promoted(ledger: LedgerService, rules: DraftingRules, models_root: Path) -> None:
    uid = _clerk(ledger)
    repairs = [f"{b}栋{e}单元{r}0{r} 家里{w}坏了 麻烦派个师傅来修一下"
               for b in range(1, 6) for e in (1, 2) for r in (3, 5, 7)
               for w in ("水龙头", "马桶", "门锁", "空调", "灯")]
    # older confirmations mislabelled (a clerk who filed repairs as inquiries), the newest right
    wrong = [(t, "咨询", "客服") for t in repairs[:120]]
    right = [(t, "报修", "工程") for t in repairs[120:150]]
    _confirmed_calls(ledger, uid, wrong + right, rules, "rep")
    registry = ModelRegistry(models_root)
    result = retrain(ledger.engine, rules, registry, RetrainSettings(holdout_share=0.2, min_holdout=20))
    assert not result.promoted, result.reason
    assert registry.current() == SEED
    assert result.candidate is not None and result.serving is not None
    assert result.candidate["score"] < result.serving["score"]
    kept = {v.version: v for v in registry.versions()}[result.version]
    assert not kept.serving and "not better" in kept.decision
    assert (models_root / "versions" / result.version / "meta.json").exists()


def test_site_without_entries_keeps_the_seed_model(ledger: LedgerService, rules: DraftingRules,
                                                   models_root: Path) -> None:
    registry = ModelRegistry(models_root)
    result = retrain(ledger.engine, rules, registry)
    assert not result.promoted and registry.current() == SEED
    assert result.examples["site_trained"] == 0


def test_accuracy_report_in_the_panel_reports(ledger: LedgerService, rules: DraftingRules) -> None:
    """The supervisors' 草稿准确率 report shows the rules and the model each against what clerks
    confirmed, the commonest corrections with the entries to open, and the confidence bins."""
    from callcenter.reports.documents import build
    from callcenter.reports.periods import containing

    uid = _clerk(ledger)
    # a site that files night-time noise as suggestions: every draft's category is corrected
    texts = [(f"{b}栋{b}单元{b}0{b} 楼道里有人吵架 大半夜的 你们管一下", "建议", "客服") for b in range(1, 7)]
    ids = _confirmed_calls(ledger, uid, texts, rules, "quarrel")
    assert all(ledger.get_entry(i).draft["category"] != "建议" for i in ids)  # type: ignore[index]
    now = ledger.clock.now()
    doc = build("accuracy-weekly", ledger.engine, containing("week", now), now)
    by_title = {s.title: s for s in doc.sections}
    category = [r for r in by_title["规则与模型分别的准确率（按周）"].rows if r[1] == "类别"]
    assert len(category) == 1 and category[0][2] == 6 and category[0][3].startswith("0/6")
    assert category[0][4].startswith("0/6")  # the rules' own answer was kept and compared
    changed = [r for r in by_title["最常见的改动"].rows if r[0] == "类别" and r[2] == "建议"]
    assert sum(int(r[3]) for r in changed) == 6
    listed = "".join(str(r[4]) for r in changed)
    assert sum(f"#{i}" in listed for i in ids) == min(6, 5 * len(changed))  # up to five examples per row
    assert sum(int(r[2]) for r in by_title["置信度是否可信"].rows if r[0] == "类别") == 6
