"""Who is on which channel of a bridged call's recording, at full speed on the call double with
the real recorder (tests/doubles.py): left the caller only — before and during the bridge; right
the agent's prompts, hold music, then the clerk — and in that order. The same on the wire (SIPp
caller and clerk phones) is checked in test_person_sip.py."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from tests.calls.conftest import HotlineDouble
from tests.calls.test_person_on_the_line import clerk, tone
from tests.doubles import Keys, PhoneDouble, Say, ScriptedFactoryDouble
from tests.sipbench import audio

CALLER_HZ, CALLER_BRIDGED_HZ, CLERK_HZ = 400, 1400, 1100
WINDOW = 800  # 100 ms


def channels(h: HotlineDouble, key: str) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(Path(h.store.path_of(key)))) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, 8000)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2).astype(float)
    return frames[:, 0], frames[:, 1]


def windows_of(x: np.ndarray, hz: float) -> np.ndarray:
    """Indexes of the 100 ms windows that are (nearly) a pure tone of `hz`."""
    n = len(x) // WINDOW
    return np.array([i for i in range(n) if np.sqrt((x[i * WINDOW:(i + 1) * WINDOW] ** 2).mean()) > 300
                     and audio.tone_fraction(x[i * WINDOW:(i + 1) * WINDOW], hz) > 0.8], dtype=int)


def loud_windows(x: np.ndarray) -> np.ndarray:
    n = len(x) // WINDOW
    return np.flatnonzero(np.sqrt((x[: n * WINDOW].reshape(n, WINDOW) ** 2).mean(axis=1)) > 300)


def where(haystack: np.ndarray, pcm16: bytes) -> int:
    """The sample offset at which `pcm16` lies, exactly, in `haystack` (-1: nowhere)."""
    needle = np.frombuffer(pcm16, dtype="<i2").astype(float)[:4000]
    needle = needle[np.argmax(np.abs(needle) > 300):][:1600]  # from the first loud sample, 200 ms
    for start in np.flatnonzero(haystack == needle[0]):
        if np.array_equal(haystack[start:start + len(needle)], needle):
            return int(start)
    return -1


def test_caller_left_prompts_then_clerk_right_in_that_order(hotline_double) -> None:
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble(["楼道灯坏了"]), phones={
        "8101": PhoneDouble(answer_after_s=0.05, talk=tone(CLERK_HZ, 1.0), hangup_after_s=0.6)})
    clerk(h, "wang", "8101")
    call = h.call({"ask_unit": [[Say(tone(CALLER_HZ, 1.0), then_silence_ms=200), Keys("0")]]},
                  talk_when_bridged=tone(CALLER_BRIDGED_HZ, 1.0))
    assert "transfer_wait" in call.heard and "thanks" not in call.heard
    left, right = channels(h, h.logged(call).recording_key)

    # left: the caller alone — its tone before the bridge and its tone during it, nothing else
    before, bridged = windows_of(left, CALLER_HZ), windows_of(left, CALLER_BRIDGED_HZ)
    assert len(before) >= 8 and len(bridged) >= 8
    assert set(loud_windows(left)) <= set(before) | set(bridged) | {before[0] - 1, before[-1] + 1,
                                                                     bridged[0] - 1, bridged[-1] + 1}
    assert not len(windows_of(left, CLERK_HZ))
    # right: the agent's prompts, then the clerk; never the caller
    assert not len(windows_of(right, CALLER_HZ)) and not len(windows_of(right, CALLER_BRIDGED_HZ))
    clerk_on = windows_of(right, CLERK_HZ)
    assert len(clerk_on) >= 8
    greeting = where(right, h.prompts.get("greeting"))
    ask_unit = where(right, h.prompts.get("ask_unit"))
    transfer_wait = where(right, h.prompts.get("transfer_wait"))
    assert 0 <= greeting < ask_unit < transfer_wait, (greeting, ask_unit, transfer_wait)
    # time order on each channel: greeting, the question, 「请稍候」, then the clerk; the caller's
    # answer, then its voice across the bridge. (Across channels the double's caller sends no RTP
    # while a prompt plays, so its timeline runs short of the agent's: the cross-channel order is
    # checked on the wire, test_person_sip.py.)
    assert transfer_wait < clerk_on[0] * WINDOW
    assert before[-1] < bridged[0]
    # the bridge works both ways: the clerk heard the caller (the double's caller says its second
    # all at once, and the relay keeps 200 ms of a burst: the rest is on the recording, above)
    assert h.dialer is not None
    heard = np.frombuffer(bytes(h.dialer.legs[0].heard), dtype="<i2").astype(float)
    assert len(windows_of(heard, CALLER_BRIDGED_HZ)) >= 1
