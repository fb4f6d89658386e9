"""Deterministic "speech": text as tone sequences, and back.

The emulator cannot recognise or synthesise real speech, so it uses a simple audio
encoding of text that survives everything real audio goes through here
(resampling to 8-48 kHz and back, G.711, gain changes, moderate noise):

* ALPHABET has 46 symbols: a-z, 0-9, space and ``.,?!'-%:``. Text is lowercased;
  other characters are dropped.
* Symbol i is a sine at ``BASE_HZ + i * STEP_HZ`` Hz (400 Hz … 3100 Hz, inside the
  telephone band), SYMBOL_MS = 30 ms long with 4 ms raised-cosine edges, followed by
  GAP_MS = 10 ms of silence: 25 symbols a second, about the pace of speech, and no
  silence inside an utterance longer than 10 ms (VADs hear one continuous turn).
* Decoding: frame energies (1 ms) find the tone bursts (frames within 18 dB of the
  loudest); a burst longer than 1.5 symbols is split at the symbol period; each
  burst's spectral peak picks the nearest symbol. Bursts shorter than half a symbol
  (cut at the edge of the stream) are ignored.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 .,?!'-%:"
BASE_HZ = 400.0
STEP_HZ = 60.0
SYMBOL_MS = 30
GAP_MS = 10
EDGE_MS = 4
_INDEX = {char: index for index, char in enumerate(ALPHABET)}


def normalise(text: str) -> str:
    """The text as it survives encoding: lowercase, supported characters only."""
    return "".join(char for char in text.lower() if char in _INDEX)


def _frequency(index: int) -> float:
    return BASE_HZ + index * STEP_HZ


def encode(text: str, rate: int = 24000, amplitude: float = 0.3) -> bytes:
    """`text` as PCM16 mono little-endian tones at `rate`."""
    symbol = int(rate * SYMBOL_MS / 1000)
    gap = int(rate * GAP_MS / 1000)
    edge = int(rate * EDGE_MS / 1000)
    t = np.arange(symbol) / rate
    envelope = np.ones(symbol)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, edge))
    envelope[:edge] = ramp
    envelope[-edge:] = ramp[::-1]
    silence = np.zeros(gap)
    parts: list[npt.NDArray[np.float64]] = []
    for char in normalise(text):
        tone = np.sin(2 * np.pi * _frequency(_INDEX[char]) * t) * envelope
        parts += [tone, silence]
    if not parts:
        return b""
    signal = np.concatenate(parts) * amplitude * 32767
    return np.clip(np.rint(signal), -32768, 32767).astype("<i2").tobytes()


def _bursts(
    energy: npt.NDArray[np.float64], frames_per_symbol: int
) -> list[tuple[int, int]]:
    """(start, end) frame ranges of the tone bursts."""
    if energy.size == 0 or energy.max() <= 0:
        return []
    loud = energy > energy.max() * 10 ** (-18 / 10)
    edges = np.diff(np.concatenate(([0], loud.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    period = frames_per_symbol * (SYMBOL_MS + GAP_MS) / SYMBOL_MS
    bursts: list[tuple[int, int]] = []
    for start, end in zip(starts, ends, strict=True):
        length = end - start
        if length < frames_per_symbol / 2:
            continue  # a symbol cut at the edge of the stream, or a click
        pieces = (
            max(1, round(length / period)) if length > 1.5 * frames_per_symbol else 1
        )
        step = length / pieces
        bursts += [
            (int(start + i * step), int(start + min(length, (i + 1) * step)))
            for i in range(pieces)
        ]
    return bursts


def decode(pcm: bytes, rate: int = 24000) -> str:
    """The text encoded in PCM16 mono audio at `rate` ("" for silence or noise)."""
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(
        np.float64
    )
    frame = max(1, rate // 1000)
    usable = len(samples) - len(samples) % frame
    if usable == 0:
        return ""
    energy = np.mean(samples[:usable].reshape(-1, frame) ** 2, axis=1)
    if energy.max() < 1.0:  # digital silence
        return ""
    text: list[str] = []
    trim = int(EDGE_MS * rate / 1000)
    for start, end in _bursts(energy, SYMBOL_MS):
        chunk = samples[start * frame + trim : end * frame - trim]
        if len(chunk) < frame * 8:
            continue
        # Zero-padded to bins of at most 8 Hz: a peak within 4 Hz, against symbols
        # 60 Hz apart (a finer FFT only costs the emulator's loop time).
        size = 1 << max(len(chunk), rate // 8).bit_length()
        spectrum = np.abs(np.fft.rfft(chunk * np.hanning(len(chunk)), size))
        peak = float(np.argmax(spectrum)) * rate / size
        index = round((peak - BASE_HZ) / STEP_HZ)
        if 0 <= index < len(ALPHABET) and abs(peak - _frequency(index)) < STEP_HZ / 2:
            text.append(ALPHABET[index])
    return "".join(text).strip()
