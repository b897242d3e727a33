"""Retention on SQLite and PostgreSQL: old recordings go (audited, stamped), recordings of open
entries and of training sets stay; rows and transcripts stay; a second run changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from callcenter.ledger.models import AuditLog, Call
from callcenter.qa.retention import apply_retention
from callcenter.qa.settings import QaSettings, RetentionSettings
from tests.qa.conftest import CallMaker, silence, track


def make(maker: CallMaker, confirm: bool = True) -> int:
    return maker.make(track().at(0.5, silence(1) + 500), track().at(0.2, silence(1) + 500),
                      caller_text="楼道灯坏了", confirm_after_s=5 if confirm else None)


def test_retention_deletes_old_unneeded_recordings_only(maker: CallMaker, ledger, store, clock, qa) -> None:  # type: ignore[no-untyped-def]
    old_closed = make(maker)
    old_open = make(maker)
    old_training = make(maker)
    with Session(ledger.engine) as s:  # the first and third cases were settled long ago
        for cid in (old_closed, old_training):
            entry = ledger.get_entry(ledger.get_call(cid).entry_id)
            entry.status = "closed"
            s.add(entry)
        s.commit()
    ts = qa.create_set("典型案例", "", "qa1")
    qa.add_item(ts.id, old_training, 0, 1000, "示范", "qa1")
    clock.advance(days=40)
    recent = make(maker)
    with Session(ledger.engine) as s:
        entry = ledger.get_entry(ledger.get_call(recent).entry_id)
        entry.status = "closed"
        s.add(entry)
        s.commit()
    paths = {cid: Path(store.path_of(ledger.get_call(cid).recording_key))
             for cid in (old_closed, old_open, old_training, recent)}
    assert all(p.exists() for p in paths.values())

    assert apply_retention(ledger.engine, store, QaSettings(), clock).deleted == []  # keep forever by default
    settings = QaSettings(retention=RetentionSettings(keep_days=30))
    result = apply_retention(ledger.engine, store, settings, clock)
    assert result.deleted == [old_closed]
    assert result.kept_open == [old_open] and result.kept_training == [old_training]
    assert not paths[old_closed].exists()
    assert all(paths[c].exists() for c in (old_open, old_training, recent))
    gone = ledger.get_call(old_closed)
    assert gone.recording_deleted_at == clock.now() and gone.transcript_text == "楼道灯坏了"
    with Session(ledger.engine) as s:
        audit = s.exec(select(AuditLog).where(AuditLog.action == "recording_deleted")).all()
        assert [(a.actor, a.call_id, a.old) for a in audit] == [("retention", old_closed, gone.recording_key)]
        assert s.get(Call, old_closed) is not None
    again = apply_retention(ledger.engine, store, settings, clock)
    assert again.deleted == [] and again.kept_open == [old_open]


def test_store_delete_refuses_anything_but_a_key(store) -> None:  # type: ignore[no-untyped-def]
    for bad in ("../ledger.db", "/etc/passwd", "2026/01/05/../../x.wav", ""):
        with pytest.raises(ValueError):
            store.delete(bad)
    assert store.delete("2026/01/05/010000-abc.wav") is False  # a key whose file is already gone


def test_keep_days_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RetentionSettings(keep_days=0)
