"""Reading arbitrary text aloud with a realtime model (announcements, other agents).

One definition shared by the integration and the emulator: the emulator recognises a
read-aloud response by these exact instructions, so rewording them cannot silently
break it.
"""

from __future__ import annotations

from . import events as ev

READ_ALOUD_INSTRUCTIONS = (
    "Read the user's text aloud verbatim, in the user's language, with natural "
    "intonation. Do not add, drop, translate or answer anything."
)


def read_aloud_input(text: str) -> list[ev.JsonDict]:
    """The out-of-band input of a read-aloud response: the text as a user message."""
    return [ev.user_text_item(text)]
