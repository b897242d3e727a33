"""A second, independent SIP client (baresip) calls the hotline: it hears the greeting prompt,
and the call is recorded and logged like any other."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.audio.prompts import PromptLibrary
from tests.calls.conftest import Pipeline
from tests.calls.signals import best_match
from tests.sipbench import audio
from tests.sipbench.baresip import run_baresip_call

pytestmark = pytest.mark.sip


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_caller_hears_the_greeting(pipeline_factory, prompt_settings, speak, tmp_path: Path, codec: str) -> None:
    p: Pipeline = pipeline_factory(answer_after_rings=1, ring_period_s=0.3)
    said = audio.write_pcm16_wav(tmp_path / "said.wav", b"\0\0" * 4000 + speak("你好，我想问一下物业费怎么交"))
    result = run_baresip_call(tmp_path / "baresip", f"sip:{p.sip.username}@127.0.0.1:{p.sip_target_port}",
                              said, seconds=8, codec=codec)
    assert result.heard_wav is not None, result.output[-3000:]
    heard = audio.read_wav(result.heard_wav).astype(float)
    greeting = audio.pcm(PromptLibrary(prompt_settings).get("greeting")).astype(float)
    # Second by second, in order: the caller's jitter buffer may stretch or conceal a late packet
    # on a busy machine (the whole greeting then correlates a little less; a starved test box once
    # glitched one second down to 0.67), but every second of the greeting must be there, one after
    # the other, and all but one clean. A wrong codec or noise scores near 0 everywhere.
    pieces = [greeting[i:i + 8000] for i in range(0, len(greeting) - 8000 + 1, 8000)]  # whole seconds
    scores, offsets = [], []
    for piece in pieces:
        score, at = best_match(heard, piece)
        scores.append(round(score, 2))
        offsets.append(at)
    assert min(scores) > 0.5 and sorted(scores)[1] > 0.8, f"the greeting, second by second: {scores}"
    assert offsets == sorted(offsets), offsets
    assert offsets[0] / 8000 < 1.0  # it is the first thing the caller hears
    calls = p.wait_drafted(1)
    assert calls[0].caller_number == "13900139000" and calls[0].recording_key
