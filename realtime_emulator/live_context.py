"""Reading Home Assistant's `GetLiveContext` tool result, and finding an entity in it.

The tool (HA 2025.4 … 2026.x, `homeassistant/helpers/llm.py`) returns
``{"success": true, "result": "Live Context: An overview of the areas and the
devices in this smart home:\\n<YAML>"}``: the YAML is HA's `yaml.dump` of a list
with one mapping per exposed entity, in this order:

    - names: Kitchen Lights, Cooking light     (name, then aliases)
      domain: light
      state: 'on'                              (quoted where YAML needs it)
      areas: Kitchen, Cooking area             (optional: area, then its aliases)
      attributes:                              (optional, only "interesting" ones)
        brightness: '180'

Long values wrap onto more-indented lines. This module reads exactly that subset
(no YAML library needed); a failure reads as `{"success": false, "error": …}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import re
from typing import Any

_KEY = re.compile(r"^([A-Za-z_][\w ]*):(?: (.*))?$")


@dataclass
class Entity:
    """One exposed entity of the live context."""

    names: list[str]
    domain: str = ""
    state: str = ""
    areas: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Its name (the first of its names)."""
        return self.names[0] if self.names else ""


def _scalar(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            decoded = json.loads(value)
        except ValueError:
            return value[1:-1]
        return str(decoded)
    return value


def _unterminated(raw: str) -> bool:
    """Whether a quoted scalar goes on to the next line."""
    value = raw.strip()
    if not value or value[0] not in "'\"":
        return False
    body = value[1:].replace("''", "") if value[0] == "'" else value[1:]
    return not body.endswith(value[0])


def parse_yaml_entities(text: str) -> list[dict[str, Any]]:
    """The list of mappings in HA's live-context YAML (values as raw strings)."""
    entities: list[dict[str, Any]] = []
    entity: dict[str, Any] | None = None
    nested: dict[str, str] | None = None
    target: tuple[dict[str, Any], str] | None = None  # where a wrapped value goes
    open_quote = False
    for raw in text.splitlines():
        if not raw.strip():
            continue
        depth = len(raw) - len(raw.lstrip())
        line = raw.strip()
        if depth == 0 and line.startswith("- "):
            entity, nested, open_quote = {}, None, False
            entities.append(entity)
            line, depth = line[2:], 2
        elif entity is None:
            continue  # the "Live Context: …" heading
        match = None if open_quote else _KEY.match(line)
        if match and depth == 2:
            key, value = match[1], match[2]
            if value is None:
                nested = entity[key] = {}
                target = None
            else:
                entity[key], nested, target = value, None, (entity, key)
                open_quote = _unterminated(value)
        elif match and nested is not None:
            nested[match[1]] = match[2] or ""
            target = (nested, match[1])
            open_quote = _unterminated(match[2] or "")
        elif target is not None:
            holder, key = target
            holder[key] = f"{holder[key]} {line}"
            if open_quote:
                open_quote = not line.endswith(("'", '"'))
    return entities


def _names(raw: Any) -> list[str]:
    return [n.strip() for n in _scalar(str(raw or "")).split(",") if n.strip()]


def parse_live_context(output: str) -> list[Entity] | str:
    """The entities of a GetLiveContext result, or why there are none (an error)."""
    try:
        result = json.loads(output)
    except ValueError:
        return "the live context was unreadable"
    if not isinstance(result, dict):
        return "the live context was unreadable"
    if not result.get("success", True) or "result" not in result:
        return str(result.get("error") or "the live context was empty")
    entities = []
    for raw in parse_yaml_entities(str(result["result"])):
        attributes = raw.get("attributes")
        entities.append(
            Entity(
                names=_names(raw.get("names")),
                domain=_scalar(str(raw.get("domain", ""))),
                state=_scalar(str(raw.get("state", ""))),
                areas=_names(raw.get("areas")),
                attributes={k: _scalar(v) for k, v in attributes.items()}
                if isinstance(attributes, dict)
                else {},
            )
        )
    return entities


def _words(text: str) -> set[str]:
    return set(re.sub(r"[^\w\s]", " ", text.lower()).split())


def find_entity(
    entities: list[Entity], subject: str, prefer: str | None = None
) -> Entity | None:
    """The entity the user means by `subject` ("garage door", "kitchen lights").

    An exact name (or alias) first; then one whose names and areas contain every
    word of the subject; then a name inside the subject or the subject inside a
    name. `prefer` (an attribute or domain) breaks ties.
    """
    wanted = subject.lower().strip()
    if not wanted:
        return None
    tiers = [
        [e for e in entities if wanted in (n.lower() for n in e.names)],
        [e for e in entities if _words(wanted) <= _words(" ".join(e.names + e.areas))],
        [
            e
            for e in entities
            if any(n.lower() in wanted or wanted in n.lower() for n in e.names)
        ],
    ]
    for tier in tiers:
        if not tier:
            continue
        if prefer is not None:
            preferred = [
                e for e in tier if prefer in e.attributes or e.domain == prefer
            ]
            if preferred:
                return preferred[0]
        return tier[0]
    return None
