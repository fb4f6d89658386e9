"""What the model is told and may do in a turn: HA's prompt and LLM API tools.

HA's ChatLog renders the system prompt (the user's instructions, the LLM API's
prompt, extra prompts) and picks the LLM API instance for the turn; this module
asks it to, on every HA version we support, and converts the result for the
realtime session.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging
import re
from typing import TYPE_CHECKING

from homeassistant.helpers import llm, template

from .. import compat
from ..const import DOMAIN
from .tools import SafeAPIInstance, ToolSet

if TYPE_CHECKING:
    from homeassistant.components.conversation import ChatLog, ConversationInput
    from homeassistant.core import Context, HomeAssistant

_LOGGER = logging.getLogger(__name__)


# HA adds the clock to the prompt when no tool tells the time (chat-only setups).
# Left in the instructions it changes every second: a session.update on every turn
# and no cached prefix. It goes to the conversation as a system item instead.
_CLOCK = re.compile(
    r"^Current time is \d{1,2}:\d{2}(?::\d{2})?\. "
    r"Today's date is \d{4}-\d{2}-\d{2}\.$",
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class TurnLLMData:
    """One turn's instructions and tools, as the realtime session takes them, and
    `context`: facts of this moment (the clock) to add before the user's input."""

    instructions: str
    tools: ToolSet
    context: str = ""


def split_volatile(prompt: str) -> tuple[str, str]:
    """(the prompt without the clock line, the clock line or "")."""
    found = _CLOCK.search(prompt)
    if found is None:
        return prompt, ""
    start, end = found.span()
    if prompt[end : end + 1] == "\n":
        end += 1  # the line goes with its line break
    return prompt[:start] + prompt[end:], found[0]


def render_clock(hass: HomeAssistant) -> str:
    """The clock line HA would put in the prompt now."""
    rendered = template.Template(compat.CLOCK_PROMPT, hass).async_render(
        parse_result=False
    )
    return str(rendered).strip()


async def async_prepare_llm_data(
    chat_log: ChatLog,
    user_input: ConversationInput,
    api_ids: list[str],
    prompt: str | None,
) -> TurnLLMData:
    """Fill the ChatLog's system prompt and LLM API; return them for the session.

    Admin-only APIs are left out for turns without an admin user (every spoken
    turn): asking for them would fail the whole turn. HA 2025.5+ merges several
    APIs itself; on 2025.4 the others are merged here. Either way the instance is
    wrapped so that a failing tool yields an error result instead of ending the
    turn. Raises HA's ConverseError when the prompt or an API cannot be prepared.
    """
    hass = chat_log.hass
    api_ids = await _usable_api_ids(hass, api_ids, user_input.context)
    first: str | list[str] | None = (
        (api_ids if compat.MERGES_APIS else api_ids[0]) if api_ids else None
    )
    await compat.async_provide_llm_data(chat_log, user_input, DOMAIN, first, prompt)
    if chat_log.llm_api is not None:
        instances = [chat_log.llm_api]
        if not compat.MERGES_APIS:
            llm_context = chat_log.llm_api.llm_context
            instances += [
                await llm.async_get_api(hass, api_id, llm_context)
                for api_id in api_ids[1:]
            ]
        chat_log.llm_api = SafeAPIInstance.wrap(instances)
    rendered = str(getattr(chat_log.content[0], "content", "") or "")
    instructions, moment = split_volatile(rendered)
    return TurnLLMData(instructions, ToolSet.from_api(chat_log.llm_api), moment)


async def _usable_api_ids(
    hass: HomeAssistant, api_ids: list[str], context: Context
) -> list[str]:
    """The configured APIs this turn may use (admin-only ones need an admin)."""
    admin_only = {
        api.id for api in llm.async_get_apis(hass) if compat.api_requires_admin(api)
    }
    if not admin_only.intersection(api_ids):
        return api_ids
    user = await hass.auth.async_get_user(context.user_id) if context.user_id else None
    if user is not None and user.is_admin:
        return api_ids
    _LOGGER.debug("Leaving out admin-only LLM APIs %s: no admin user", admin_only)
    return [api_id for api_id in api_ids if api_id not in admin_only]
