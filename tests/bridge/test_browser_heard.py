"""What an interrupted answer keeps: the words heard before playback stopped."""

from __future__ import annotations

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.bridge.browser_calls import (
    BrowserTurn,
    ResponseReport,
    TurnPart,
    _heard_parts,
    heard_text,
)
from custom_components.openai_realtime.realtime import events as ev

TEXT = "one two three four five six seven eight nine ten"


def test_whole_words_up_to_the_played_share() -> None:
    """Half the audio played: the words in the first half, marked as cut."""
    assert heard_text(TEXT, 500, 1000) == "one two three four five…"


def test_played_out_or_unknown() -> None:
    """All of it played: all of it; nothing played or no length: nothing."""
    assert heard_text(TEXT, 1000, 1000) == TEXT
    assert heard_text(TEXT, 0, 1000) == ""
    assert heard_text(TEXT, 500, 0) == ""
    assert heard_text("supercalifragilistic", 100, 1000) == ""  # no whole word


def test_a_response_s_audio_is_shared_by_its_answers() -> None:
    """Two answers in one response (a preamble, then the answer): the audio tokens
    are split by length, and only the truncated one is cut."""
    usage = ev.Usage(output_tokens=40, output_audio_tokens=40)  # 2000 ms
    turn = BrowserTurn(
        user_text="x",
        parts=[
            TurnPart("message", "r1", "one two three four five"),  # 23 chars
            TurnPart("message", "r1", "six seven eight nine tenn", audio_end_ms=500),
        ],
        responses=[ResponseReport("r1", "cancelled", usage)],
    )
    first, second = _heard_parts(turn)
    assert first == "one two three four five"
    assert second == "six seven…"
