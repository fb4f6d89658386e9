"""End of speech -> first model audio: the browser card (WebRTC) vs the Assist pipeline.

    python bench/webrtc_turn.py      (or: scripts/bench webrtc_turn; BENCH_TURNS=5)

One run of the develop house (emulator + a real `hass` with its frontend, as
tests/browser runs it) and the same spoken turn, "turn off (on) the kitchen lights"
in the emulator's tone speech, through both paths:

* WebRTC: Debian's Chromium shows the card; its fake microphone plays the turns
  (WAV). In the page, end of speech is the last loud block of the microphone track
  and first audio the first loud block of the model's track after it (both timed
  by the page's clock, 512-sample blocks at 48 kHz, ~11 ms). The server's VAD ends
  the turn after `vad_silence_duration_ms` (500 ms, the entry's option) of silence.
* Assist pipeline: the CLI satellite's path (tools/satellite.py's `run_turn`: HA's
  websocket pipeline with our STT, agent and TTS), audio paced like a microphone.
  Hands-free: the same 500 ms of silence follow the speech before the satellite
  ends the stream, so both paths wait as long for the end of the turn; end of
  speech is the end of the tones. Push-to-talk: the stream ends with the speech.
  First audio is the first byte of the TTS stream the satellite fetches.

Both include the model's delay (emulator: 0.3 s per response; a tool round makes
two responses) and the tool call run by Home Assistant. Needs scripts/install_browser
and scripts/install_frontend.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import aiohttp  # noqa: E402

from realtime_emulator import speech  # noqa: E402
from tests.browser.house import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_FLAGS,
    RECORDER_SCRIPT,
    develop_house,
    dismiss_dialogs,
    ha_socket,
    login_script,
    missing,
    show_card,
    write_wav,
)

TURNS = int(os.environ.get("BENCH_TURNS", "5"))
SILENCE_MS = 500  # the entry's server VAD silence window (its default option)
FIRST_AT = 3.0  # seconds after the microphone opens (the call connects meanwhile)
EVERY = 7.0  # seconds between turns: each is answered before the next
GAP_MS = 300  # a longer quiet stretch ends an utterance (tones have 10 ms gaps)


def _command(n: int) -> str:
    return f"turn {'off' if n % 2 == 0 else 'on'} the kitchen lights"


def _spans(levels: list[list[float]]) -> list[tuple[float, float]]:
    """(start, end) ms of the loud stretches of a [[time, loud], ...] series."""
    spans: list[tuple[float, float]] = []
    for at, loud in levels:
        if not loud:
            continue
        if spans and at - spans[-1][1] <= GAP_MS:
            spans[-1] = (spans[-1][0], at)
        else:
            spans.append((at, at))
    return spans


async def webrtc(house: Any, tmp: Path) -> tuple[list[float], dict[str, list[float]]]:
    """End of speech -> first model audio in the browser, per turn (ms), and where
    the time went (from the data channel's events as the page received them)."""
    from playwright.async_api import async_playwright

    wav = write_wav(
        tmp / "mic.wav",
        [(FIRST_AT + n * EVERY, _command(n)) for n in range(TURNS)],
        seconds=FIRST_AT + TURNS * EVERY + 30,
    )
    async with ha_socket(house) as socket, async_playwright() as playwright:
        path = await show_card(socket, title="Benchmark")
        await socket.command(type="subscribe_events", event_type="openai_realtime_turn")
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={wav}"],
        )
        try:
            context = await browser.new_context()
            await context.add_init_script(login_script(house))
            await context.add_init_script(RECORDER_SCRIPT)
            page = await context.new_page()
            await dismiss_dialogs(page)
            await page.goto(f"{house.url}{path}")
            await page.locator("openai-realtime-card button.talk").click()
            async with asyncio.timeout(FIRST_AT + TURNS * EVERY + 60):
                for _ in range(TURNS):
                    await socket.next_event()
                # The last answer has played out in the page too.
                await page.wait_for_function(
                    "() => window.__voice.model.slice(-60).every(([, l]) => !l)"
                )
            mic = _spans(await page.evaluate("() => window.__voice.mic"))
            model = _spans(await page.evaluate("() => window.__voice.model"))
            events = await page.evaluate("() => window.__voice.events")
        finally:
            await browser.close()
    latencies = []
    parts: dict[str, list[float]] = {name: [] for name in PARTS}
    for _start, end in mic[:TURNS]:
        first = next(start for start, _ in model if start > end)
        latencies.append(first - end)
        after = [(at, kind) for at, kind in events if at > end]
        stopped = _first(after, "input_audio_buffer.speech_stopped")
        args = _first(after, "response.function_call_arguments.done")
        created = [at for at, kind in after if kind == "response.created"]
        playing = _first(after, "output_audio_buffer.started")
        answer = created[1] if len(created) > 1 else created[0]
        parts["VAD (speech stopped)"].append(stopped - end)
        parts["model: tool call"].append(args - stopped)
        parts["tool in HA, result back"].append(answer - args)
        parts["model: answer starts"].append(playing - answer)
        parts["audio to the page's ears"].append(first - playing)
    return latencies, parts


PARTS = (
    "VAD (speech stopped)",
    "model: tool call",
    "tool in HA, result back",
    "model: answer starts",
    "audio to the page's ears",
)


def _first(events: list[list[Any]], kind: str) -> float:
    return float(next(at for at, name in events if name == kind))


async def pipeline(house: Any, *, hands_free: bool) -> list[float]:
    """End of speech -> first TTS audio byte through the CLI satellite's path (ms)."""
    import satellite

    latencies = []
    silence = b"\0" * (16 * SILENCE_MS * 2) if hands_free else b""
    async with aiohttp.ClientSession() as http:
        client = satellite.HomeAssistantClient(http, house.url, house.token)
        await client.connect()
        try:
            for n in range(TURNS):
                audio = speech.encode(_command(n), rate=16000) + silence
                result = await satellite.run_turn(
                    client, audio=satellite.wav_chunks(audio, realtime=True)
                )
                assert result.error is None, result.error
                assert result.latency_ms is not None
                waited = SILENCE_MS if hands_free else 0
                latencies.append(result.latency_ms + waited)
        finally:
            assert client.ws is not None
            await client.ws.close()
    return latencies


def _row(name: str, eos: str, values: list[float]) -> str:
    return (
        f"| {name} | {eos} | {len(values)} | {statistics.median(values):.0f} "
        f"| {min(values):.0f} | {max(values):.0f} |"
    )


def main() -> int:
    """Run both paths on one house; print the table."""
    if (why := missing()) is not None:
        print(f"webrtc_turn: {why}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        args = (
            "--pacing",
            "fast",
            "--model-delay",
            "0.3",
            "--transcription-delay",
            "0.2",
        )
        started = time.monotonic()
        with develop_house(tmp, *args) as house:
            browser, parts = asyncio.run(webrtc(house, tmp))
            hands_free = asyncio.run(pipeline(house, hands_free=True))
            push_to_talk = asyncio.run(pipeline(house, hands_free=False))
        took = time.monotonic() - started
    ratio = statistics.median(hands_free) / statistics.median(browser)
    print(
        f"\nSpoken turn: end of speech -> first model audio, {TURNS} turns each "
        f"({took:.0f} s)\n"
    )
    print("| path | end of the turn | turns | p50 (ms) | min (ms) | max (ms) |")
    print("|---|---|---|---|---|---|")
    print(
        _row("WebRTC card (Chromium)", f"server VAD, {SILENCE_MS} ms silence", browser)
    )
    print(
        _row(
            "Assist pipeline (CLI satellite)",
            f"{SILENCE_MS} ms silence, then end of stream",
            hands_free,
        )
    )
    print(
        _row("Assist pipeline (CLI satellite)", "push-to-talk (at once)", push_to_talk)
    )
    print(f"\nAssist pipeline / WebRTC (hands-free, p50): {ratio:.2f}x")
    print("\nWhere the WebRTC turn's time goes (page clock, p50 ms)\n")
    print("| " + " | ".join(PARTS) + " |")
    print("|" + "---|" * len(PARTS))
    print("| " + " | ".join(f"{statistics.median(parts[p]):.0f}" for p in PARTS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
