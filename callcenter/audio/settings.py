"""Validated settings of the audio package: end-of-speech detection, prompts (the recording's
settings are in callcenter.recordings.settings).

Pydantic at the edge: these are built from config.yaml by the composition root; unknown
keys are errors so a typo is caught at start-up rather than silently using a default.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class VadSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    aggressiveness: int = Field(
        default=2,
        ge=0,
        le=3,
        description="webrtcvad aggressiveness 0-3; higher rejects more noise as non-speech.",
    )
    speech_start_ms: int = Field(
        default=120,
        ge=20,
        description="Consecutive speech needed to declare the caller started speaking (filters clicks).",
    )
    end_silence_ms: int = Field(
        default=800,
        ge=100,
        description="Silence after speech that ends the caller's utterance.",
    )
    max_utterance_s: float = Field(
        default=30,
        gt=0,
        description="Longest utterance; beyond it the utterance is cut ('max_length').",
    )
    no_input_timeout_s: float = Field(
        default=8,
        gt=0,
        description="Time without speech after listening starts before 'no_input' is reported.",
    )

    @model_validator(mode="after")
    def _frame_multiples(self) -> VadSettings:
        # The endpointer counts 20 ms frames; durations must be whole frames to be exact.
        for name in ("speech_start_ms", "end_silence_ms"):
            if getattr(self, name) % 20:
                raise ValueError(f"{name} must be a multiple of 20 ms (the frame length)")
        return self


class PromptSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: Path = Field(
        default=Path("prompts"),
        description="Directory of prompt recordings, one <key>.wav per prompt (any format ffmpeg reads).",
    )
    estate_name: str = Field(
        default="幸福家园",
        min_length=1,
        max_length=40,
        description="Estate name spoken in the greeting (「您好，{estate}物业客服中心……」).",
    )
    voice: str = Field(
        default="cmn",
        description="espeak-ng voice used by `callcenter prompts build` to synthesize default prompts.",
    )
    speed_wpm: int = Field(
        default=220,
        ge=80,
        le=450,
        description="espeak-ng speaking rate for built prompts (its cmn voice counts each syllable as a word: "
        "220 gives ~3.5 syllables/s, a little slower than natural speech, clear on a phone).",
    )
    pitch: int = Field(
        default=50,
        ge=0,
        le=99,
        description="espeak-ng pitch (0-99) for built prompts.",
    )
    fade_ms: int = Field(
        default=15,
        ge=0,
        le=200,
        description="Fade in/out applied to built prompts so clips do not click when concatenated.",
    )
    texts: dict[str, str] = Field(
        default_factory=dict,
        description="Per-site overrides of prompt wording by key (e.g. greeting); {estate} is substituted.",
    )
