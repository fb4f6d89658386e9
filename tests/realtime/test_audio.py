"""Audio conversion: PCM16, resampling quality and streaming, G.711, framing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.realtime import audio

RATES = audio.SUPPORTED_RATES


def _tone(
    freq: float, rate: int, seconds: float = 1.0, amp: float = 10000
) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    middle = samples[len(samples) // 10 : -len(samples) // 10]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    return float(np.argmax(spectrum)) * rate / len(middle)


def _fit(samples: np.ndarray, freq: float, rate: int) -> tuple[float, float]:
    """(amplitude, SNR in dB) of a sinusoid at `freq`, whatever its phase."""
    t = np.arange(len(samples)) / rate
    basis = np.stack(
        [np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1
    )
    coeffs, *_ = np.linalg.lstsq(basis, samples.astype(np.float64), rcond=None)
    fitted = basis @ coeffs
    residual = samples - fitted
    snr = 10 * np.log10(np.sum(fitted**2) / max(np.sum(residual**2), 1e-12))
    return float(np.hypot(*coeffs)), float(snr)


@pytest.mark.parametrize(("src", "dst"), list(itertools.permutations(RATES, 2)))
def test_resample_keeps_frequency_and_level(src: int, dst: int) -> None:
    """A 1 kHz tone stays a 1 kHz tone at the same level, at every rate pair."""
    out = audio.resample(_tone(1000, src), src, dst)
    assert abs(len(out) - dst) <= dst // 50  # one second stays one second
    assert abs(_peak_hz(out, dst) - 1000) < 5
    # Away from the edges, where the filter's delay line fills up.
    amplitude, snr = _fit(out[dst // 10 : -dst // 10], 1000, dst)
    assert abs(amplitude - 10000) < 200
    assert snr > 40


@pytest.mark.parametrize(
    ("src", "dst", "tone"), [(48000, 16000, 10000), (44100, 8000, 6000)]
)
def test_resample_suppresses_aliasing(src: int, dst: int, tone: int) -> None:
    """Content above the new Nyquist frequency is removed, not folded back."""
    out = audio.resample(_tone(tone, src), src, dst)
    core = out[dst // 10 : -dst // 10].astype(np.float64)
    level = 20 * np.log10(np.sqrt(np.mean(core**2)) / (10000 / np.sqrt(2)))
    assert level < -50


STREAMING_CASES = [
    (16000, 24000, 1),
    (44100, 24000, 2),
    (24000, 16000, 1),
    (8000, 24000, 1),
    (16000, 16000, 2),
]


def _noise(src: int, channels: int) -> np.ndarray:
    """Half a second of loud noise (every frequency, so every filter tap counts)."""
    rng = np.random.default_rng(7)
    return (rng.standard_normal(src * channels // 2) * 3000).astype(np.int16)


def _one_shot(signal: np.ndarray, src: int, dst: int, channels: int) -> bytes:
    return audio.array_to_pcm16(
        audio.resample(audio.to_mono(signal, channels), src, dst)
    )


def _streamed(signal: np.ndarray, src: int, dst: int, channels: int) -> bytes:
    """Through StreamResampler in random chunks (odd byte counts included)."""
    rng = np.random.default_rng(11)
    raw = signal.tobytes()
    converter = audio.StreamResampler(src, dst, channels)
    out, index = b"", 0
    while index < len(raw):
        size = int(rng.integers(1, 999))
        out += converter.process(raw[index : index + size])
        index += size
    return out + converter.flush()


def _assert_within_one_lsb(out: bytes, expected: bytes) -> None:
    """Same length; no sample off by more than 1 LSB; such samples are rare.

    Streaming runs the filter as many chunk-sized float32 matrix products, one-shot
    as one big product. BLAS picks its kernel (SIMD width, FMA, small-matrix paths)
    by CPU and by matrix shape, so the two may sum a sample in a different order and
    differ by one float32 ulp, which rounds to a 1-LSB difference when the value
    sits at .5. That is -90 dBFS, and not a property this code can promise
    bit-exactly; a real bug (lost or doubled samples, a wrong phase, an offset)
    moves many samples by more.
    """
    got = audio.pcm16_to_array(out).astype(np.int32)
    want = audio.pcm16_to_array(expected).astype(np.int32)
    assert len(got) == len(want)
    difference = np.abs(got - want)
    assert int(difference.max(initial=0)) <= 1
    assert np.count_nonzero(difference) <= len(want) // 1000


@pytest.mark.parametrize(("src", "dst", "channels"), STREAMING_CASES)
def test_streaming_equals_one_shot(src: int, dst: int, channels: int) -> None:
    """Any chunking, odd byte counts included, gives the one-shot result (±1 LSB)."""
    signal = _noise(src, channels)
    _assert_within_one_lsb(
        _streamed(signal, src, dst, channels), _one_shot(signal, src, dst, channels)
    )


@pytest.mark.parametrize(
    ("src", "dst", "channels"),
    # The rate pairs whose filter runs as one matrix product per chunk.
    [(16000, 24000, 1), (24000, 16000, 1), (8000, 24000, 1), (48000, 24000, 2)],
)
def test_streaming_matches_whatever_the_summation_order(
    src: int, dst: int, channels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another CPU's BLAS kernel, emulated: one-shot as here, streaming summed exactly.

    The stream's branch products are computed in float64 and rounded once (what an
    FMA kernel gets closer to); the result still agrees with this machine's float32
    one-shot within 1 LSB. Bit-exact equality does not hold here (it did not on
    another CPU either), which is why the comparison allows 1 LSB.
    """
    signal = _noise(src, channels)
    expected = _one_shot(signal, src, dst, channels)

    def exact(
        self: audio._Polyphase, buffer: audio.FloatArray, count: int
    ) -> audio.FloatArray:
        if not count:
            return np.zeros(0, dtype=np.float32)
        weights = self.block_weights(self.t).astype(np.float64)
        blocks = -(-count // self.up)
        need = (blocks - 1) * self.down + len(weights)
        padded = np.concatenate((buffer, np.zeros(max(0, need - len(buffer)))))
        windows = np.stack(
            [
                padded[b * self.down : b * self.down + len(weights)]
                for b in range(blocks)
            ]
        )
        every = windows @ weights
        picked: audio.FloatArray = every.astype(np.float32).ravel()[:count]
        return picked

    monkeypatch.setattr(audio._Polyphase, "_by_block", exact)
    _assert_within_one_lsb(_streamed(signal, src, dst, channels), expected)


@pytest.mark.parametrize(
    ("src", "dst"),
    [(16000, 24000), (24000, 16000), (8000, 24000), (48000, 24000), (32000, 24000)],
)
def test_block_product_equals_gathering_each_output(src: int, dst: int) -> None:
    """The block matrices compute what gathering each output's taps computes,
    chunk after chunk (every start phase), short and odd chunks included."""
    signal = _noise(src, 1).astype(np.float32)
    by_block, by_gather = audio._Polyphase(src, dst), audio._Polyphase(src, dst)
    start = 0
    for size in itertools.cycle((1, 7, 160, 333, 1600, 0, 2)):
        if start >= len(signal):
            break
        chunk = signal[start : start + size]
        start += size
        buffer = np.concatenate((by_gather.history, chunk))
        end = by_gather.up * len(chunk)
        count = max(0, -(-(end - by_gather.t) // by_gather.down))
        expected = by_gather._by_gather(buffer, count)
        by_gather.process(chunk)  # advance its state the normal way
        np.testing.assert_allclose(by_block.process(chunk), expected, atol=0.02)


def test_float64_input_resamples_like_float32() -> None:
    """The block product reads its buffer's memory as float32: other dtypes are
    converted, not reinterpreted."""
    signal = _noise(16000, 1).astype(np.float64)
    as_float32 = audio._Polyphase(16000, 24000).process(signal.astype(np.float32))
    as_float64 = audio._Polyphase(16000, 24000).process(signal)
    np.testing.assert_allclose(as_float64, as_float32, atol=0.02)


def test_same_rate_mono_passes_through() -> None:
    """No work when nothing needs converting."""
    converter = audio.StreamResampler(24000, 24000)
    assert converter.process(b"\x01\x02\x03") == b"\x01\x02"
    assert converter.process(b"\x04") == b"\x03\x04"
    assert converter.flush() == b""


def test_stereo_to_mono_and_pcm_round_trip() -> None:
    """Channels are averaged; PCM16 round-trips; floats are clipped."""
    stereo = np.array([100, 300, -200, -400], dtype=np.int16)
    assert audio.to_mono(stereo, 2).tolist() == [200.0, -300.0]
    data = audio.array_to_pcm16(np.array([1.4, -2.6, 40000.0, -40000.0]))
    assert audio.pcm16_to_array(data).tolist() == [1, -3, 32767, -32768]


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (audio.pcm16_to_array, (b"\x00\x00\x00",)),
        (audio.to_mono, (np.zeros(3, dtype=np.int16), 2)),
        (audio.resample, (np.zeros(4, dtype=np.int16), 12345, 24000)),
        (audio.StreamResampler, (16000, 12345)),
        (audio.FrameChunker, (0,)),
    ],
)
def test_bad_input_raises_audio_format_error(
    call: object, args: tuple[object, ...]
) -> None:
    """Odd byte counts, partial frames, unknown rates: a clear error, no hang."""
    with pytest.raises(audio.AudioFormatError):
        call(*args)  # type: ignore[operator]


def test_g711_known_values_and_round_trip() -> None:
    """ITU-T G.711 codes for zero, and a bounded round-trip error."""
    assert audio.ulaw_encode(b"\x00\x00") == b"\xff"
    assert audio.alaw_encode(b"\x00\x00") == b"\xd5"
    assert audio.pcm16_to_array(audio.ulaw_decode(b"\xff\x7f\x00\x80")).tolist() == [
        0,
        0,
        -32124,
        32124,
    ]
    assert audio.pcm16_to_array(audio.alaw_decode(b"\xd5\x55")).tolist() == [8, -8]
    samples = np.linspace(-30000, 30000, 2001).astype(np.int16)
    for encode, decode in (
        (audio.ulaw_encode, audio.ulaw_decode),
        (audio.alaw_encode, audio.alaw_decode),
    ):
        back = audio.pcm16_to_array(decode(encode(samples.tobytes()))).astype(np.int32)
        error = np.abs(back - samples.astype(np.int32))
        # Logarithmic quantisation: error grows with magnitude, ~3% at most.
        assert np.all(error <= np.maximum(16, np.abs(samples.astype(np.int32)) * 0.035))


def test_frame_chunker_and_durations() -> None:
    """Frames of a fixed size; the rest is kept for flush."""
    chunker = audio.FrameChunker(4)
    assert chunker.push(b"abc") == []
    assert chunker.push(b"defghij") == [b"abcd", b"efgh"]
    assert chunker.flush() == b"ij"
    assert chunker.flush() == b""
    assert audio.duration_ms(4800) == 100
    assert audio.bytes_for_ms(100) == 4800
    assert audio.bytes_for_ms(20, 16000) == 640
    assert audio.rms_dbfs(np.zeros(10, dtype=np.int16)) == -120.0
    assert audio.rms_dbfs(np.array([], dtype=np.int16)) == -120.0
    assert -4 < audio.rms_dbfs(_tone(1000, 16000, amp=32767)) < -2
