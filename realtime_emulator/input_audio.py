"""The input audio buffer and its voice activity detection (server and semantic VAD).

VAD: the input is cut into 10 ms frames; a frame is speech when its RMS level is
above ``vad_threshold_dbfs + 60 x threshold`` dBFS (threshold 0.5 → -30 dBFS with
the default knob). Speech starts at the first speech frame (reported minus
``prefix_padding_ms``) and stops after ``silence_duration_ms`` of non-speech
(reported at the end of that window); semantic VAD uses a silence window from its
eagerness. Times count from the first audio appended in the session.

`append()` only updates state and returns what happened (speech started, speech
stopped with the byte offset where the turn ends); the connection sends the events,
commits and cancels.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING

from custom_components.openai_realtime.realtime import audio as pcm

from .errors import Json, invalid_value
from .ids import new_id

if TYPE_CHECKING:
    from .session_config import AudioFormat

FRAME_MS = 10
EAGERNESS_SILENCE_MS = {"low": 800, "medium": 500, "auto": 500, "high": 250}
MIN_COMMIT_MS = 100


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """VAD heard the start of a turn; `item_id` is the id its user item will get."""

    item_id: str
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """VAD heard the end of a turn; the audio up to `offset` is the turn.

    `offset` counts bytes ever appended, so it stays right after earlier takes.
    """

    item_id: str
    audio_end_ms: int
    offset: int


VadEvent = SpeechStarted | SpeechStopped


def decode_audio(data: str, fmt: AudioFormat, param: str = "audio") -> bytes:
    """Base64 audio in the session's input format, as PCM16 (24 or 8 kHz)."""
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error as err:
        raise invalid_value(
            param, "<base64>", why="The audio is not valid base64."
        ) from err
    if fmt == "g711_ulaw":
        return pcm.ulaw_decode(raw)
    if fmt == "g711_alaw":
        return pcm.alaw_decode(raw)
    return raw[: len(raw) - len(raw) % 2]


class InputAudioBuffer:
    """Appended PCM16 audio awaiting a commit, and the VAD state over it."""

    def __init__(self) -> None:
        """An empty buffer, no speech."""
        self.audio = bytearray()
        self.appended_ms = 0.0  # all audio ever appended (VAD's clock)
        self.speech_item: str | None = None
        self._speech_start_ms = 0.0
        self._silence_ms = 0.0
        self._removed = 0  # bytes taken or cleared from the front so far

    def duration_ms(self, rate: int) -> float:
        """Length of the audio awaiting a commit."""
        return pcm.duration_ms(len(self.audio), rate)

    def take(self, upto: int | None = None) -> bytes:
        """Remove and return the buffered audio for a commit (up to an offset)."""
        end = len(self.audio) if upto is None else upto - self._removed
        end = max(0, min(end, len(self.audio)))
        taken = bytes(self.audio[:end])
        del self.audio[:end]
        self._removed += end
        return taken

    def clear(self) -> None:
        """Drop the buffered audio and any turn in progress."""
        self._removed += len(self.audio)
        self.audio.clear()
        self.speech_item = None
        self._silence_ms = 0

    def append(
        self,
        data: bytes,
        rate: int,
        turn_detection: Json | None,
        threshold_dbfs: float,
    ) -> list[VadEvent]:
        """Add PCM16 audio; with turn detection on, return the VAD's findings."""
        start_offset = self._removed + len(self.audio)
        self.audio += data
        if turn_detection is None:
            self.appended_ms += pcm.duration_ms(len(data), rate)
            return []
        td = turn_detection
        threshold = threshold_dbfs + 60 * float(td.get("threshold", 0.5))
        if td["type"] == "semantic_vad":
            silence_ms = EAGERNESS_SILENCE_MS[str(td.get("eagerness", "auto"))]
        else:
            silence_ms = int(td.get("silence_duration_ms", 200))
        prefix_ms = int(td.get("prefix_padding_ms", 300))
        frame = rate * FRAME_MS // 1000 * 2
        found: list[VadEvent] = []
        for start in range(0, len(data) - frame + 1, frame):
            level = pcm.rms_dbfs(pcm.pcm16_to_array(data[start : start + frame]))
            now = self.appended_ms
            self.appended_ms += FRAME_MS
            if level > threshold:
                self._silence_ms = 0
                if self.speech_item is None:
                    self.speech_item = new_id("item_")
                    self._speech_start_ms = max(0.0, now - prefix_ms)
                    found.append(
                        SpeechStarted(self.speech_item, int(self._speech_start_ms))
                    )
            elif self.speech_item is not None:
                self._silence_ms += FRAME_MS
                if self._silence_ms >= silence_ms:
                    item_id, self.speech_item = self.speech_item, None
                    end = start_offset + start + frame
                    found.append(SpeechStopped(item_id, int(self.appended_ms), end))
        if rest := len(data) % frame:
            self.appended_ms += pcm.duration_ms(rest, rate)
        return found
