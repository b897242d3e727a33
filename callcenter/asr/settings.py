"""Settings of the speech-recognition part, validated at start-up (the `asr:` section of config.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MODEL_NAME = "vosk-model-small-cn-0.22"
OFFICIAL_MODEL_URL = f"https://alphacephei.com/vosk/models/{MODEL_NAME}.zip"

# Measured by bench/asr_rtf.py on this 2-core build box with the small Korean model (same acoustic-model
# size as the Mandarin one): one continuous-speech stream costs ~0.7 s of CPU per second of audio, and a
# caller talks for about half a call, so two live calls per core keep up; more calls are recorded and
# transcribed afterwards. (SIP_NOTES.md's 0.27 RTF and 3 per core were not reproduced here.)
STREAMS_PER_CORE = 2
# A fixed default (not derived from this machine) so config.yaml documents one value everywhere;
# 4 = 2 per core on the 2-core reference machine. Sites set 2 x their cores.
DEFAULT_LIVE_STREAMS = 4


class AsrSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model_dir: Path = Field(
        default=Path("asr_models") / MODEL_NAME,
        description="Unpacked Vosk model directory (am/, conf/, graph/, ivector/). "
        "Installed by `callcenter models fetch` or `callcenter models fetch --from PATH`.",
    )
    feed_rate_hz: Literal[8000, 16000] = Field(
        default=8000,
        description="Rate at which 8 kHz telephone audio is handed to Vosk. 8000: Kaldi upsamples inside "
        "its feature pipeline (windowed-sinc); 16000: upsampled first in Python (audioop.ratecv). Measured "
        "the same speed within noise; 8000 is the default because it adds no interpolation of our own. "
        "See callcenter/asr/README.md.",
    )
    max_live_streams: int = Field(
        default=DEFAULT_LIVE_STREAMS,
        ge=0,
        description="Calls transcribed live at once (one Vosk recognizer and decoding thread each, sharing "
        "one loaded model; ~35 MB each). About 2 per CPU core (4 suits 2 cores); further calls are "
        "recorded and transcribed from the recording afterwards.",
    )
    workers: int = Field(
        default=1,
        ge=1,
        description="Background processes transcribing recordings (backlog, calls over the live limit). "
        "Each loads its own copy of the model (~0.3-0.5 GB RSS, a few seconds at start).",
    )
    mode: Literal["inprocess", "queue"] = Field(
        default="inprocess",
        description="Where recordings are transcribed. inprocess: by this process's `workers` (one box). "
        "queue: as jobs in the PostgreSQL job queue (procrastinate), taken by `callcenter serve --role worker` "
        "processes on any box that sees the recordings directory; needs PostgreSQL. Live streams stay in the "
        "agent either way. See docs/DEPLOYMENT.md.",
    )
    backlog_warn: int = Field(
        default=10,
        ge=0,
        description="Transcripts waiting (queued, or failed) above which the panel's 转写积压 chip turns amber.",
    )
    model_url: str = Field(
        default=OFFICIAL_MODEL_URL,
        description="Where `callcenter models fetch` downloads the model zip; the official Vosk URL by default. "
        "Whatever the source, files are verified against the published checksums before install.",
    )
