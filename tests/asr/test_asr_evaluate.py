"""CER with known answers, and the evaluation command on a small real data folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from callcenter.asr.evaluate import cer, edit_distance, evaluate, normalize_reference, prepare_audio
from callcenter.asr.vosk_engine import VoskRecognizerFactory
from callcenter.asr.wav import Pcm, read_channel

from .conftest import Speech


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ("甚至出现交易几乎停滞的情况", "甚至出现交易几乎停滞的情况", 0.0),
        ("换一首歌", "换一首哥", 1 / 4),  # substitution
        ("换一首歌", "换首歌", 1 / 4),  # deletion
        ("换一首歌", "换一首歌吧", 1 / 4),  # insertion
        # spaces and punctuation are not scored
        ("这并不是告别，这是一个篇章的结束。", "这 并不 是 告别 这 是 一个 篇章 的 结束", 0.0),
        ("本节目由26年专注", "本节目由二十六年专注", 0.0),  # digits are scored as spoken
        ("拿到更多的offer嘛", "拿到更多的 OFFER 嘛", 0.0),
        ("好", "", 1.0),
        ("", "", 0.0),
    ],
)
def test_cer_known_answers(ref: str, hyp: str, expected: float) -> None:
    assert cer(ref, hyp) == pytest.approx(expected)


def test_edit_distance() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3


def test_numbers_in_references() -> None:
    assert normalize_reference("301室漏水") == "三百零一室漏水"
    assert normalize_reference("2024年") == "二零二四年"
    assert normalize_reference("92年回到中国") == "九十二年回到中国"


def test_telephone_band_is_8k_mu_law(shared_dir: Path) -> None:
    wide = read_channel(shared_dir / "asr_eval/dev/fireredasr_IT0011W0001.wav")
    narrow = prepare_audio(wide, "telephone")
    assert (wide.rate_hz, narrow.rate_hz) == (16000, 8000)
    assert narrow.duration_s == pytest.approx(wide.duration_s, abs=0.01)
    assert narrow.data != wide.data[: len(narrow.data)]
    assert prepare_audio(Pcm(b"\0\0", 16000), "wide") == Pcm(b"\0\0", 16000)


def test_evaluate_reports_cer_and_rtf(
    tmp_path: Path, ko_model_dir: Path, ko_factory: VoskRecognizerFactory, ko_speech: Speech, shared_dir: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(ko_speech.path, data / "ko.wav")
    shutil.copy(shared_dir / "asr_eval/dev/fireredasr_IT0011W0001.wav", data / "zh.wav")
    (data / "manifest.tsv").write_text(
        "file\treference_text\nko.wav\t엘리베이터가 고장났어요\nzh.wav\t换一首歌\n"
    )

    report = evaluate(ko_model_dir, data, band="telephone", feed_rate_hz=8000, factory=ko_factory)

    assert [f.file for f in report.files] == ["ko.wav", "zh.wav"]
    ko, zh = report.files
    assert ko.ref_chars == 11 and zh.ref_chars == 4
    assert ko.audio_s == pytest.approx(ko_speech.duration_s, abs=0.01)
    assert all(f.decode_s > 0 and f.rtf > 0 for f in report.files)
    # A Korean model cannot write Chinese characters: every reference character is an error.
    assert zh.cer >= 1.0
    assert report.rtf > 0
    assert report.cer == pytest.approx((ko.edits + zh.edits) / 15)
    table = report.table()
    assert "ko.wav" in table and "ALL" in table and "telephone" in table
