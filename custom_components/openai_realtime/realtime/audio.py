"""PCM audio for the realtime path: convert, resample, G.711, frame. numpy only.

The Realtime API speaks 24 kHz mono PCM16 (or G.711 at 8 kHz); Home Assistant
pipelines deliver 16 kHz mono PCM16 and satellites may want other rates. Everything
here is vectorised: this code runs for every 20-100 ms of audio of every satellite.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
import math

import numpy as np
import numpy.typing as npt

SESSION_RATE = 24000
SUPPORTED_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
TAPS_PER_PHASE = 16  # filter length per polyphase branch (x decimation): quality vs CPU

Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float32]


class AudioFormatError(ValueError):
    """Audio that cannot be handled: odd byte counts, unknown rates, bad shapes."""


# --- PCM16 <-> arrays ----------------------------------------------------------------


def pcm16_to_array(data: bytes) -> Int16Array:
    """Little-endian PCM16 bytes as an int16 array (no copy)."""
    if len(data) % 2:
        raise AudioFormatError(f"PCM16 needs an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<i2")


def array_to_pcm16(samples: npt.NDArray[np.generic]) -> bytes:
    """An array as PCM16 bytes; floats are rounded and clipped to int16."""
    if samples.dtype == np.int16:
        return bytes(samples.astype("<i2", copy=False).tobytes())
    clipped = np.clip(np.rint(samples), -32768, 32767)
    return bytes(clipped.astype("<i2").tobytes())


def to_mono(samples: npt.NDArray[np.generic], channels: int) -> FloatArray:
    """Interleaved multi-channel samples mixed down to mono (float32)."""
    if channels < 1:
        raise AudioFormatError(f"Invalid channel count {channels}")
    if channels == 1:
        return samples.astype(np.float32, copy=False)
    if len(samples) % channels:
        raise AudioFormatError(
            f"{len(samples)} samples are not whole frames of {channels} channels"
        )
    mono: FloatArray = samples.reshape(-1, channels).astype(np.float32).mean(axis=1)
    return mono


def rms_dbfs(samples: npt.NDArray[np.generic]) -> float:
    """Loudness relative to full scale (-120 for silence or no samples)."""
    if len(samples) == 0:
        return -120.0
    as_float = samples.astype(np.float64)
    mean_square = float(np.dot(as_float, as_float)) / len(as_float)
    return max(-120.0, 10 * math.log10(max(mean_square, 1e-18) / 32768.0**2))


def duration_ms(num_bytes: int, rate: int = SESSION_RATE, channels: int = 1) -> float:
    """Milliseconds of PCM16 audio in `num_bytes`."""
    return num_bytes / (2 * channels * rate) * 1000


def bytes_for_ms(ms: float, rate: int = SESSION_RATE, channels: int = 1) -> int:
    """Bytes of PCM16 audio for `ms` milliseconds (whole samples)."""
    return round(ms * rate / 1000) * 2 * channels


# --- resampling ----------------------------------------------------------------------


def _check_rate(rate: int) -> None:
    if rate not in SUPPORTED_RATES:
        raise AudioFormatError(
            f"Unsupported sample rate {rate} Hz (supported: {SUPPORTED_RATES})"
        )


def _taps_per_phase(up: int, down: int) -> int:
    """Branch length: longer when decimating, so the transition band stays narrow."""
    return TAPS_PER_PHASE * max(1, -(-down // up))


@cache
def _filter_bank(up: int, down: int) -> FloatArray:
    """Polyphase bank (up x taps) of a Kaiser-windowed sinc low-pass filter.

    The cut-off sits below the lower Nyquist frequency of the two rates, so
    downsampling does not alias and upsampling does not image.
    """
    per_phase = _taps_per_phase(up, down)
    taps = per_phase * up
    cutoff = 0.86 / max(up, down)  # in units of the upsampled Nyquist
    n = np.arange(taps) - (taps - 1) / 2
    h = cutoff * np.sinc(cutoff * n) * np.kaiser(taps, 9.0)
    h *= up / h.sum()  # unity gain at DC after zero-stuffing
    # bank[phase, k] = h[phase + k * up]: the branch used for that output phase.
    return h.reshape(per_phase, up).T.astype(np.float32).copy()


class _Polyphase:
    """Streaming rational resampler: output n sits at input position n·down/up.

    Small up-factors (16k<->24k, 8k->24k, 48k->24k…) run as one matrix product per
    chunk; large ones (44.1k, 22.05k) gather only the outputs they need.
    """

    def __init__(self, src: int, dst: int) -> None:
        ratio = Fraction(dst, src)
        self.up, self.down = ratio.numerator, ratio.denominator
        self.bank = _filter_bank(self.up, self.down)
        self.k = self.bank.shape[1]
        self._weights: dict[int, FloatArray] = {}
        self.history: FloatArray = np.zeros(self.k - 1, dtype=np.float32)
        self.t = 0  # next output position, in 1/up input samples, from chunk start

    def process(self, x: FloatArray) -> FloatArray:
        # float32 throughout: _by_block reads the buffer's memory as float32.
        buffer = np.concatenate((self.history, x), dtype=np.float32)
        end = self.up * len(x)
        count = 0 if self.t >= end else -(-(end - self.t) // self.down)
        if self.up <= 4:
            out = self._by_block(buffer, count)
        else:
            out = self._by_gather(buffer, count)
        self.t += self.down * count - end
        self.history = buffer[len(buffer) - (self.k - 1) :]
        return out

    def _by_gather(self, buffer: FloatArray, count: int) -> FloatArray:
        positions = self.t + self.down * np.arange(count)
        base, phase = np.divmod(positions, self.up)
        # y[n] = Σ_j bank[phase_n, j] · x[base_n - j]; buffer index = base + k-1 - j.
        idx = base[:, None] + (self.k - 1 - np.arange(self.k))
        out: FloatArray = np.einsum("ij,ij->i", buffer[idx], self.bank[phase])
        return out

    def _by_block(self, buffer: FloatArray, count: int) -> FloatArray:
        """Every `up` outputs take `down` more inputs: block b's outputs are one
        window of the buffer, starting at b·down, times a fixed weight matrix."""
        if not count:
            return np.zeros(0, dtype=np.float32)
        weights = self.block_weights(self.t)
        width = weights.shape[0]
        blocks = -(-count // self.up)
        need = (blocks - 1) * self.down + width
        if len(buffer) < need:  # the last block's unused outputs reach past the end
            buffer = np.concatenate((buffer, np.zeros(need - len(buffer), np.float32)))
        # Overlapping windows as a view (no Python-level checks: this runs per
        # chunk), copied once so the product runs in BLAS.
        windows: FloatArray = np.ndarray(
            (blocks, width), np.float32, buffer, 0, (4 * self.down, 4)
        ).copy()
        out: FloatArray = (windows @ weights).ravel()[:count]
        return out

    def block_weights(self, t: int) -> FloatArray:
        """The [window, up] matrix for blocks whose first output sits at t/up.

        Output i of a block reads the window from offset_i = (t + i·down) // up,
        through its branch (t + i·down) % up; the taps run backwards over time.
        """
        weights = self._weights.get(t)
        if weights is None:
            shifted = t + self.down * np.arange(self.up)
            offsets, phases = np.divmod(shifted, self.up)
            weights = np.zeros((int(offsets[-1]) + self.k, self.up), np.float32)
            for i, (offset, phase) in enumerate(zip(offsets, phases, strict=True)):
                weights[offset : offset + self.k, i] = self.bank[phase, ::-1]
            self._weights[t] = weights  # t < down: a handful of matrices at most
        return weights

    def flush(self) -> FloatArray:
        """Push the filter's delay line out with silence (end of stream)."""
        return self.process(np.zeros(self.k // 2, dtype=np.float32))


def resample(
    samples: npt.NDArray[np.generic], src_rate: int, dst_rate: int
) -> FloatArray:
    """Resample a whole signal (float32 out), with anti-aliasing."""
    _check_rate(src_rate)
    _check_rate(dst_rate)
    as_float = samples.astype(np.float32, copy=False)
    if src_rate == dst_rate:
        return as_float
    engine = _Polyphase(src_rate, dst_rate)
    return np.concatenate((engine.process(as_float), engine.flush()))


class StreamResampler:
    """PCM16 bytes in at one rate and channel count, mono PCM16 bytes out.

    Chunks may have any length, odd byte counts and partial frames included: the
    remainder is carried to the next call. Concatenated output equals the one-shot
    `resample` of the same signal.
    """

    def __init__(self, src_rate: int, dst_rate: int, channels: int = 1) -> None:
        """Prepare the filter for src_rate -> dst_rate."""
        _check_rate(src_rate)
        _check_rate(dst_rate)
        if channels < 1:
            raise AudioFormatError(f"Invalid channel count {channels}")
        self.channels = channels
        self._frame_bytes = 2 * channels
        self._carry = b""
        self._engine = None if src_rate == dst_rate else _Polyphase(src_rate, dst_rate)

    def process(self, chunk: bytes) -> bytes:
        """Convert what is complete; keep any partial frame for the next call."""
        data = self._carry + chunk if self._carry else chunk
        usable = len(data) - len(data) % self._frame_bytes
        self._carry = data[usable:]
        if not usable:
            return b""
        if self._engine is None and self.channels == 1:
            return data[:usable]  # already what the caller wants
        mono = to_mono(pcm16_to_array(data[:usable]), self.channels)
        if self._engine is None:
            return array_to_pcm16(mono)
        return array_to_pcm16(self._engine.process(mono))

    def flush(self) -> bytes:
        """End of stream: the filter's tail (a dangling half sample is dropped)."""
        self._carry = b""
        if self._engine is None:
            return b""
        return array_to_pcm16(self._engine.flush())


# --- G.711 ---------------------------------------------------------------------------


def _ulaw_decode_table() -> Int16Array:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign, -magnitude, magnitude).astype(np.int16)


def _alaw_decode_table() -> Int16Array:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(sign, magnitude, -magnitude).astype(np.int16)


_ULAW_DECODE = _ulaw_decode_table()
_ALAW_DECODE = _alaw_decode_table()


def _encode_table(decode: Int16Array) -> npt.NDArray[np.uint8]:
    """For every int16 value, the code whose decoded value is nearest.

    Built once from the decode table (ITU-T G.711 is defined by its decision
    levels, which sit midway between decoded values), so encoding is one lookup.
    """
    order = np.argsort(decode, kind="stable")
    levels = decode[order].astype(np.int32)
    values = np.arange(-32768, 32768, dtype=np.int32)
    right = np.clip(np.searchsorted(levels, values), 1, len(levels) - 1)
    left = right - 1
    nearer_left = (values - levels[left]) < (levels[right] - values)
    table: npt.NDArray[np.uint8] = order[np.where(nearer_left, left, right)].astype(
        np.uint8
    )
    return table


_ULAW_ENCODE = _encode_table(_ULAW_DECODE)
_ULAW_ENCODE[32768] = 0xFF  # μ-law has two zeros; the standard encodes 0 as +0
_ALAW_ENCODE = _encode_table(_ALAW_DECODE)


def ulaw_decode(data: bytes) -> bytes:
    """G.711 μ-law bytes to PCM16."""
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def alaw_decode(data: bytes) -> bytes:
    """G.711 A-law bytes to PCM16."""
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def ulaw_encode(pcm16: bytes) -> bytes:
    """PCM16 to G.711 μ-law."""
    samples = pcm16_to_array(pcm16).astype(np.int32) + 32768
    return _ULAW_ENCODE[samples].tobytes()


def alaw_encode(pcm16: bytes) -> bytes:
    """PCM16 to G.711 A-law."""
    samples = pcm16_to_array(pcm16).astype(np.int32) + 32768
    return _ALAW_ENCODE[samples].tobytes()


# --- framing -------------------------------------------------------------------------


class FrameChunker:
    """Collects bytes into frames of a fixed size (e.g. 100 ms events)."""

    def __init__(self, frame_bytes: int) -> None:
        """Frames of `frame_bytes` (must be positive)."""
        if frame_bytes <= 0:
            raise AudioFormatError("Frame size must be positive")
        self.frame_bytes = frame_bytes
        self._pending = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        """Add data; return every complete frame."""
        self._pending += data
        whole = len(self._pending) - len(self._pending) % self.frame_bytes
        if not whole:
            return []
        frames = [
            bytes(self._pending[i : i + self.frame_bytes])
            for i in range(0, whole, self.frame_bytes)
        ]
        del self._pending[:whole]
        return frames

    def flush(self) -> bytes:
        """Whatever is left (less than a frame)."""
        rest = bytes(self._pending)
        self._pending.clear()
        return rest
