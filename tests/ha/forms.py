"""Flow forms as the browser sees and submits them."""

from __future__ import annotations

from typing import Any

from homeassistant.data_entry_flow import section
import voluptuous as vol


def fields(result: Any) -> dict[str, Any]:
    """The form's fields by name; a section maps to its own fields."""
    return _fields(result["data_schema"])


def _fields(schema: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for marker, value in schema.schema.items():
        found[str(marker)] = (
            _fields(value.schema) if isinstance(value, section) else value
        )
    return found


def section_options(result: Any, name: str) -> dict[str, Any]:
    """A section's options (`collapsed`)."""
    for marker, value in result["data_schema"].schema.items():
        if str(marker) == name and isinstance(value, section):
            return dict(value.options)
    raise AssertionError(f"no section {name} in {fields(result)}")


def submission(result: Any, **changes: Any) -> dict[str, Any]:
    """What the browser sends for this form: every prefilled value (suggested or
    default), with `changes` typed over them.

    A change to a field inside a section is given as `section={"field": value}`;
    None clears a field (the browser then leaves it out).
    """
    return _submission(result["data_schema"], changes)


def _submission(schema: Any, changes: dict[str, Any]) -> dict[str, Any]:
    sent: dict[str, Any] = {}
    for marker, value in schema.schema.items():
        name = str(marker)
        if isinstance(value, section):
            sent[name] = _submission(value.schema, dict(changes.get(name) or {}))
            continue
        if name in changes:
            if changes[name] is not None:
                sent[name] = changes[name]
            continue
        prefilled = _prefilled(marker)
        if prefilled is not vol.UNDEFINED:
            sent[name] = prefilled
    unknown = set(changes) - {str(marker) for marker in schema.schema}
    assert not unknown, f"the form has no field {unknown}"
    return sent


def _prefilled(marker: Any) -> Any:
    """The value the browser shows in a field before the user types."""
    description = getattr(marker, "description", None) or {}
    if "suggested_value" in description:
        return description["suggested_value"]
    default = getattr(marker, "default", vol.UNDEFINED)
    return default() if default is not vol.UNDEFINED else vol.UNDEFINED
