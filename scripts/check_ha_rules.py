"""Home Assistant's and HACS's rules for this repository, checked offline.

    python scripts/check_ha_rules.py [ROOT]        (exit 1 and a list when broken)

The rules are the ones hassfest (Home Assistant's validator, as its GitHub action
runs it over the checkout) and HACS's action apply, restated here from their
documented behaviour so CI can check them without a network:

* manifests: every `manifest.json` of a Python package (an integration: ours, and
  `scripts/dev_seed`): known keys only, the required ones present and well typed,
  `domain` = its folder, a valid version, an IoT class, and the keys sorted
  (domain, name, then alphabetical). A manifest that declares gold or platinum
  needs a code owner and `diagnostics.py`. HACS also wants `documentation`,
  `issue_tracker`, `codeowners` and `version` in the integration's manifest.
* translations: `translations/en.json` equals `strings.json`; no string holds a
  URL ("please use description placeholders instead"), HTML, a placeholder in
  single quotes, a combined reference or surrounding spaces; every
  `data_description` names a field of its step, and every field has one (the
  config-flow rule); a repair issue has a title and a description or a fix flow,
  not both; `icons.json` names Material Design icons.
* brand: `brand/icon.png` 256x256, `icon@2x.png` 512x512, `logo.png` with a
  shortest side of 128-256 px, `logo@2x.png` of 256-512 px, and the same for the
  `dark_` variants; PNG files with these names only.
* hacs.json: the keys HACS knows (it refuses others), `name` present, a
  `filename` when `zip_release` is set; one integration under custom_components.
* quality scale: `quality_scale.yaml` lists every rule from bronze to the tier the
  manifest declares as done or exempt (exempt with a reason); each done rule names
  its evidence in backticks (a file, `file::test_name`, or `README.md#section`),
  and every piece of evidence exists. The rules hassfest checks by reading the
  code (config flow, PARALLEL_UPDATES in every platform, runtime_data, typed
  config entries, test before setup, unique entries, unloading, diagnostics,
  reauthentication, reconfiguration, strict typing) are checked the same way.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
import re
import struct
import sys
import tomllib
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {"node_modules", "__pycache__", "htmlcov"}

# --- manifest (hassfest: script/hassfest/manifest.py) ------------------------------
MANIFEST_KEYS = {
    "domain", "name", "integration_type", "config_flow", "mqtt", "zeroconf", "ssdp",
    "bluetooth", "homekit", "dhcp", "usb", "documentation", "issue_tracker",
    "quality_scale", "requirements", "dependencies", "after_dependencies",
    "codeowners", "loggers", "disabled", "iot_class", "single_config_entry",
    # custom integrations only
    "version", "import_executor",
}  # fmt: skip
INTEGRATION_TYPES = {
    "device",
    "entity",
    "hardware",
    "helper",
    "hub",
    "service",
    "system",
}
IOT_CLASSES = {
    "assumed_state", "calculated", "cloud_polling", "cloud_push", "local_polling",
    "local_push",
}  # fmt: skip
QUALITY_SCALES = ["internal", "legacy", "bronze", "silver", "gold", "platinum"]
LIST_OF_STR_KEYS = ("codeowners", "requirements", "dependencies", "after_dependencies", "loggers")  # fmt: skip
VERSION = re.compile(
    r"^v?\d+(\.\d+)*((a|b|rc|\.dev|\.post|-)[0-9A-Za-z.-]*)?(\+[0-9A-Za-z.-]+)?$"
)
HACS_MANIFEST_KEYS = ("codeowners", "documentation", "domain", "issue_tracker", "name", "version")  # fmt: skip

# --- translations (hassfest: script/hassfest/translations.py) ----------------------
# hassfest's own pattern for a URL: a scheme (or www.) and a host with a letter TLD.
RE_URL = re.compile(
    r"(((ftp|ftps|scp|http|https|mqtt|mqtts|socket|socks5):\/\/|www\.)"
    r"[a-z0-9]+([\-\.]{1}[a-z0-9]+)*\.[a-z]{2,5}(:[0-9]{1,5})?(\/.*)?)",
    re.IGNORECASE,
)
RE_HTML = re.compile(r"<[a-z].*?>", re.IGNORECASE)
RE_QUOTED_PLACEHOLDER = re.compile(r"'{\w+}'")
RE_COMBINED_REFERENCE = re.compile(r"(.+\[%)|(%\].+)")
RE_SLUG = re.compile(r"^[a-z0-9_]+$")
RE_MDI = re.compile(r"^mdi:[a-z0-9-]+$")

# --- brand images (Home Assistant's brands rules; HACS's brands check) -------------
BRAND_SIZES = {  # name: (shortest side min, max, square)
    "icon.png": (256, 256, True),
    "icon@2x.png": (512, 512, True),
    "logo.png": (128, 256, False),
    "logo@2x.png": (256, 512, False),
}
REQUIRED_BRAND_IMAGES = ("icon.png", "icon@2x.png", "logo.png", "logo@2x.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# --- hacs.json (HACS: HACS_MANIFEST_JSON_SCHEMA, extra keys refused) ---------------
HACS_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "content_in_root": bool,
    "country": (str, list),
    "filename": str,
    "hacs": str,
    "hide_default_branch": bool,
    "homeassistant": str,
    "persistent_directory": str,
    "render_readme": bool,
    "zip_release": bool,
}

# --- quality scale (hassfest: script/hassfest/quality_scale.py) --------------------
RULES = {
    "bronze": [
        "action-setup", "appropriate-polling", "brands", "common-modules",
        "config-flow", "config-flow-test-coverage", "dependency-transparency",
        "docs-actions", "docs-high-level-description",
        "docs-installation-instructions", "docs-removal-instructions",
        "entity-event-setup", "entity-unique-id", "has-entity-name", "runtime-data",
        "test-before-configure", "test-before-setup", "unique-config-entry",
    ],
    "silver": [
        "action-exceptions", "config-entry-unloading",
        "docs-configuration-parameters", "docs-installation-parameters",
        "entity-unavailable", "integration-owner", "log-when-unavailable",
        "parallel-updates", "reauthentication-flow", "test-coverage",
    ],
    "gold": [
        "devices", "diagnostics", "discovery", "discovery-update-info",
        "docs-data-update", "docs-examples", "docs-known-limitations",
        "docs-supported-devices", "docs-supported-functions", "docs-troubleshooting",
        "docs-use-cases", "dynamic-devices", "entity-category", "entity-device-class",
        "entity-disabled-by-default", "entity-translations", "exception-translations",
        "icon-translations", "reconfiguration-flow", "repair-issues", "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}  # fmt: skip
TIERS = ["bronze", "silver", "gold", "platinum"]
ALL_RULES = {rule for rules in RULES.values() for rule in rules}
PLATFORMS = {
    "ai_task", "air_quality", "alarm_control_panel", "assist_satellite",
    "binary_sensor", "button", "calendar", "camera", "climate", "conversation",
    "cover", "date", "datetime", "device_tracker", "event", "fan", "geo_location",
    "humidifier", "image", "image_processing", "lawn_mower", "light", "lock",
    "media_player", "notify", "number", "remote", "scene", "select", "sensor",
    "siren", "stt", "switch", "text", "time", "todo", "tts", "update", "vacuum",
    "valve", "wake_word", "water_heater", "weather",
}  # fmt: skip
RE_EVIDENCE = re.compile(r"`([^`]+)`")
SETUP_EXCEPTIONS = {"ConfigEntryNotReady", "ConfigEntryAuthFailed", "ConfigEntryError"}


class Report:
    """The problems found, each with the file it is about."""

    def __init__(self, root: Path) -> None:
        """Report paths relative to `root`."""
        self.root = root
        self.problems: list[str] = []
        self.notes: list[str] = []

    def add(self, path: Path, message: str) -> None:
        """One broken rule."""
        self.problems.append(f"{self._name(path)}: {message}")

    def note(self, path: Path, message: str) -> None:
        """Something to tidy that breaks nothing."""
        self.notes.append(f"{self._name(path)}: {message}")

    def _name(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def _load_json(path: Path, report: Report) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        report.add(path, f"invalid JSON: {err}")
        return None


def manifests(root: Path) -> Iterator[Path]:
    """Every manifest.json of a Python package in the checkout (hidden dirs aside)."""
    for path in sorted(root.rglob("manifest.json")):
        parts = path.relative_to(root).parts[:-1]
        if any(part.startswith(".") or part in SKIPPED_DIRS for part in parts):
            continue
        if (path.parent / "__init__.py").is_file():
            yield path


def integrations(root: Path) -> list[Path]:
    """The folders under custom_components/ (what HACS installs)."""
    folder = root / "custom_components"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / "manifest.json").is_file())


# --- manifests ----------------------------------------------------------------------
def _sort_key(key: str) -> str:
    return {"domain": ".domain", "name": ".name"}.get(key, key)


def _is_url(value: Any, *, https: bool = False) -> bool:
    pattern = r"^https://[^\s/]+" if https else r"^https?://[^\s/]+"
    return isinstance(value, str) and re.match(pattern, value) is not None


def check_manifest(path: Path, report: Report) -> None:
    """hassfest's manifest rules for a custom integration."""
    manifest = _load_json(path, report)
    if not isinstance(manifest, dict):
        if manifest is not None:
            report.add(path, "the manifest is not a JSON object")
        return
    if unknown := sorted(set(manifest) - MANIFEST_KEYS):
        report.add(path, f"extra keys not allowed: {', '.join(unknown)}")
    for key in ("domain", "name", "documentation", "codeowners", "version"):
        if key not in manifest:
            report.add(path, f"required key not provided: {key}")
    for key in ("domain", "name"):
        if key in manifest and not isinstance(manifest[key], str):
            report.add(path, f"{key} must be a string")
    for key in LIST_OF_STR_KEYS:
        value = manifest.get(key, [])
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            report.add(path, f"{key} must be a list of strings")
    if "documentation" in manifest:
        documentation = manifest["documentation"]
        if not _is_url(documentation, https=True):
            report.add(path, "documentation must be an https URL")
        elif documentation.startswith(
            "https://www.home-assistant.io"
        ) and not documentation.startswith(
            "https://www.home-assistant.io/integrations/"
        ):
            report.add(
                path, "documentation on home-assistant.io must be /integrations/"
            )
    if "issue_tracker" in manifest and not _is_url(manifest["issue_tracker"]):
        report.add(path, "issue_tracker must be a URL")
    if "version" in manifest and not (
        isinstance(manifest["version"], str) and VERSION.match(manifest["version"])
    ):
        report.add(path, f"'{manifest['version']}' is not a valid version")
    if "iot_class" not in manifest:
        report.add(path, "Domain is missing an IoT Class")
    elif manifest["iot_class"] not in IOT_CLASSES:
        report.add(path, f"iot_class must be one of {sorted(IOT_CLASSES)}")
    if manifest.get("integration_type", "hub") not in INTEGRATION_TYPES:
        report.add(path, f"integration_type must be one of {sorted(INTEGRATION_TYPES)}")
    if "config_flow" in manifest and not isinstance(manifest["config_flow"], bool):
        report.add(path, "config_flow must be true or false")
    if manifest.get("domain") != path.parent.name:
        report.add(path, "Domain does not match dir name")
    scale = manifest.get("quality_scale")
    if scale is not None and scale not in QUALITY_SCALES:
        report.add(path, f"quality_scale must be one of {QUALITY_SCALES}")
    elif scale in ("gold", "platinum"):
        if not manifest.get("codeowners"):
            report.add(path, f"{scale} integration does not have a code owner")
        if not (path.parent / "diagnostics.py").is_file():
            report.add(path, f"{scale} integration does not implement diagnostics")
    keys = list(manifest)
    if keys != sorted(keys, key=_sort_key):
        report.add(
            path,
            "Manifest keys are not sorted correctly: domain, name, then alphabetical order",
        )


def check_hacs(root: Path, report: Report) -> None:
    """hacs.json, and what HACS reads from the integration's manifest."""
    path = root / "hacs.json"
    if not path.is_file():
        report.add(path, "The repository has no 'hacs.json' file")
    elif isinstance(hacs := _load_json(path, report), dict):
        if unknown := sorted(set(hacs) - set(HACS_KEYS)):
            report.add(path, f"extra keys not allowed: {', '.join(unknown)}")
        if "name" not in hacs:
            report.add(path, "required key not provided: name")
        for key, kind in HACS_KEYS.items():
            if key in hacs and not isinstance(hacs[key], kind):
                report.add(path, f"{key} has the wrong type")
        if hacs.get("zip_release") and not hacs.get("filename"):
            report.add(path, "zip_release needs a filename")
        if "homeassistant" in hacs and not VERSION.match(str(hacs["homeassistant"])):
            report.add(path, "homeassistant must be a version")
    elif hacs is not None:
        report.add(path, "hacs.json is not a JSON object")
    found = integrations(root)
    if len(found) != 1:
        report.add(
            root / "custom_components",
            f"HACS installs one integration per repository; found {len(found)}",
        )
    for folder in found:
        manifest = _load_json(folder / "manifest.json", report)
        if isinstance(manifest, dict):
            for key in HACS_MANIFEST_KEYS:
                if not manifest.get(key) and key != "codeowners":
                    report.add(folder / "manifest.json", f"HACS needs '{key}'")
            if not isinstance(manifest.get("codeowners"), list):
                report.add(folder / "manifest.json", "HACS needs 'codeowners'")


# --- translations -------------------------------------------------------------------
def _strings(value: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{where}.{key}" if where else str(key))
    else:
        yield where, value


def check_string(path: Path, where: str, value: Any, report: Report) -> None:
    """hassfest's rules for one translation value."""
    if not isinstance(value, str):
        report.add(path, f"{where}: expected a string")
        return
    if RE_URL.search(value):
        report.add(
            path,
            f"{where}: the string should not contain URLs, "
            "please use description placeholders instead",
        )
    if RE_HTML.search(value):
        report.add(path, f"{where}: the string should not contain HTML")
    if RE_QUOTED_PLACEHOLDER.search(value):
        report.add(
            path, f"{where}: the string should not contain placeholders inside quotes"
        )
    if RE_COMBINED_REFERENCE.search(value):
        report.add(
            path, f"{where}: the string should not contain combined translations"
        )
    if value != value.strip():
        report.add(path, f"{where}: the string should not have surrounding spaces")


def _check_flow_steps(path: Path, where: str, flow: Any, report: Report) -> None:
    """Each step's data_description names its fields, and each field has one."""
    steps = flow.get("step", {}) if isinstance(flow, dict) else {}
    for step_id, step in steps.items():
        data = step.get("data", {})
        descriptions = step.get("data_description", {})
        for field in descriptions:
            if field not in data:
                report.add(
                    path,
                    f"{where}.step.{step_id}: data_description key {field} is not in data",
                )
        for field in data:
            if field not in descriptions:
                report.add(
                    path,
                    f"{where}.step.{step_id}.{field}: the field has no data_description",
                )


def check_translations(folder: Path, report: Report) -> None:
    """strings.json and translations/en.json of one integration."""
    strings_path = folder / "strings.json"
    strings = _load_json(strings_path, report)
    if not isinstance(strings, dict):
        return
    english_path = folder / "translations" / "en.json"
    if not english_path.is_file():
        report.add(english_path, "missing: it must be a copy of strings.json")
    elif json.loads(english_path.read_text(encoding="utf-8") or "null") != strings:
        report.add(english_path, "differs from strings.json (it must be a copy)")
    texts = [(strings_path, strings)]
    if english_path.is_file() and isinstance(
        english := _load_json(english_path, report), dict
    ):
        texts.append((english_path, english))
    for path, document in texts:
        for where, value in _strings(document):
            check_string(path, where, value, report)
    for flow in ("config", "options"):
        if flow in strings:
            _check_flow_steps(strings_path, flow, strings[flow], report)
    for issue_id, issue in strings.get("issues", {}).items():
        where = f"issues.{issue_id}"
        if "title" not in issue:
            report.add(strings_path, f"{where}: an issue needs a title")
        if ("description" in issue) == ("fix_flow" in issue):
            report.add(
                strings_path, f"{where}: needs a description or a fix_flow, not both"
            )
        if "fix_flow" in issue:
            _check_flow_steps(
                strings_path, f"{where}.fix_flow", issue["fix_flow"], report
            )
    for key, exception in strings.get("exceptions", {}).items():
        if not RE_SLUG.match(key) or "message" not in exception:
            report.add(strings_path, f"exceptions.{key}: a slug with a message")


def check_icons(folder: Path, report: Report) -> None:
    """icons.json: entity icons by platform and translation key, as mdi: names."""
    path = folder / "icons.json"
    if not path.is_file():
        return
    icons = _load_json(path, report)
    if not isinstance(icons, dict):
        return
    for platform, entities in icons.get("entity", {}).items():
        if platform not in PLATFORMS:
            report.add(path, f"entity.{platform}: not an entity platform")
        for key, icon in entities.items():
            default = icon.get("default") if isinstance(icon, dict) else None
            if not isinstance(default, str) or not RE_MDI.match(default):
                report.add(
                    path, f"entity.{platform}.{key}: default must be an mdi: icon"
                )


# --- brand images -------------------------------------------------------------------
def png_size(path: Path) -> tuple[int, int] | None:
    """Width and height from a PNG's header, or None if it is not a PNG."""
    with path.open("rb") as file:
        head = file.read(24)
    if len(head) < 24 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def check_brand(folder: Path, report: Report) -> None:
    """brand/: the images Home Assistant serves and HACS's brands check looks for."""
    brand = folder / "brand"
    for name in REQUIRED_BRAND_IMAGES:
        if not (brand / name).is_file():
            report.add(brand / name, "missing brand image")
    if not brand.is_dir():
        return
    allowed = {f"{prefix}{name}" for prefix in ("", "dark_") for name in BRAND_SIZES}
    for path in sorted(brand.iterdir()):
        if path.name not in allowed:
            report.add(path, f"not a brand image name ({', '.join(sorted(allowed))})")
            continue
        size = png_size(path)
        if size is None:
            report.add(path, "not a PNG image")
            continue
        low, high, square = BRAND_SIZES[path.name.removeprefix("dark_")]
        width, height = size
        if square and width != height:
            report.add(path, f"must be square, is {width}x{height}")
        if not low <= min(width, height) <= high:
            expected = (
                f"{low}x{low}" if square else f"a shortest side of {low}-{high} px"
            )
            report.add(path, f"is {width}x{height}, must be {expected}")


# --- quality scale ------------------------------------------------------------------
def _module(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return None


def _async_function(
    module: ast.Module | None, name: str
) -> ast.AsyncFunctionDef | None:
    for node in module.body if module is not None else []:
        if isinstance(node, ast.AsyncFunctionDef) and node.name == name:
            return node
    return None


def _defines(module: ast.Module | None, name: str) -> bool:
    return module is not None and any(
        isinstance(node, ast.AsyncFunctionDef) and node.name == name
        for node in ast.walk(module)
    )


def _calls(module: ast.Module | None, name: str) -> bool:
    return module is not None and any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == name
        for node in ast.walk(module)
    )


def _entry_module(folder: Path) -> Path:
    """Where async_setup_entry lives: __init__.py, or the module it delegates to.

    This integration's __init__.py keeps Home Assistant out of a plain import and
    looks its hooks up in entry.py.
    """
    init = folder / "__init__.py"
    delegates = _async_function(_module(init), "async_setup_entry") is None
    if delegates and (folder / "entry.py").is_file():
        return folder / "entry.py"
    return init


def _typed_entry(function: ast.AsyncFunctionDef, position: int) -> bool:
    args = function.args.args
    if len(args) < position:
        return False
    annotation = args[position - 1].annotation
    return (
        isinstance(annotation, ast.Name)
        and bool(re.match(r"^[A-Za-z]+ConfigEntry$", annotation.id))
        and annotation.id != "ConfigEntry"
    )


def _rule_checks(
    folder: Path, root: Path, rules_done: set[str]
) -> dict[str, list[str]]:
    """The rules hassfest checks by reading the code: rule -> problems."""
    problems: dict[str, list[str]] = {}
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    flow = _module(folder / "config_flow.py")
    entry_path = _entry_module(folder)
    entry = _module(entry_path)
    setup = _async_function(entry, "async_setup_entry")

    def fail(rule: str, message: str) -> None:
        problems.setdefault(rule, []).append(message)

    if not manifest.get("config_flow") or flow is None:
        fail("config-flow", "needs config_flow: true and config_flow.py")
    for platform in sorted(PLATFORMS):
        module = _module(folder / f"{platform}.py")
        if module is not None and not any(
            type(node) is ast.Assign
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "PARALLEL_UPDATES"
            for node in module.body
        ):
            fail("parallel-updates", f"{platform}.py does not set PARALLEL_UPDATES")
    if setup is None:
        fail("runtime-data", f"no async_setup_entry in {entry_path.name}")
    else:
        argument = setup.args.args[1].arg if len(setup.args.args) == 2 else ""
        if not any(
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == argument
            and node.attr == "runtime_data"
            and isinstance(node.ctx, ast.Store)
            for node in ast.walk(setup)
        ):
            fail("runtime-data", "async_setup_entry does not set entry.runtime_data")
    if "strict-typing" in rules_done:
        hooks = {
            entry_path.name: (
                "async_setup_entry",
                "async_unload_entry",
                "async_remove_entry",
            ),
            "diagnostics.py": ("async_get_config_entry_diagnostics",),
            **{f"{platform}.py": ("async_setup_entry",) for platform in PLATFORMS},
        }
        for file, names in hooks.items():
            module = _module(folder / file)
            for name in names:
                if (function := _async_function(module, name)) and not _typed_entry(
                    function, 2
                ):
                    fail(
                        "runtime-data",
                        f"{file}: {name} does not use a typed ConfigEntry",
                    )
        for node in flow.body if flow is not None else []:
            for item in node.body if isinstance(node, ast.ClassDef) else []:
                if (
                    isinstance(item, ast.FunctionDef)
                    and item.name == "async_get_options_flow"
                    and not _typed_entry(item, 1)  # type: ignore[arg-type]
                ):
                    fail(
                        "runtime-data",
                        "async_get_options_flow does not use a typed ConfigEntry",
                    )
    if not any(
        isinstance(node, ast.Raise)
        and node.exc is not None
        and _raised_name(node.exc) in SETUP_EXCEPTIONS
        for path in folder.rglob("*.py")
        if (module := _module(path)) is not None
        for node in ast.walk(module)
    ):
        fail("test-before-setup", f"nothing raises one of {sorted(SETUP_EXCEPTIONS)}")
    if not manifest.get("single_config_entry") and not (
        _calls(flow, "_async_abort_entries_match")
        or (
            _calls(flow, "async_set_unique_id")
            and _calls(flow, "_abort_if_unique_id_configured")
        )
    ):
        fail("unique-config-entry", "the config flow does not prevent duplicates")
    if _async_function(entry, "async_unload_entry") is None:
        fail("config-entry-unloading", f"no async_unload_entry in {entry_path.name}")
    if not _defines(
        _module(folder / "diagnostics.py"), "async_get_config_entry_diagnostics"
    ):
        fail("diagnostics", "no diagnostics.py with async_get_config_entry_diagnostics")
    if not _defines(flow, "async_step_reauth"):
        fail("reauthentication-flow", "no async_step_reauth in config_flow.py")
    if not _defines(flow, "async_step_reconfigure"):
        fail("reconfiguration-flow", "no async_step_reconfigure in config_flow.py")
    if not _strict_mypy(root, folder):
        fail("strict-typing", "pyproject.toml does not run mypy strict on the package")
    return problems


def _raised_name(expression: ast.expr) -> str:
    if isinstance(expression, ast.Call):
        return _raised_name(expression.func)
    if isinstance(expression, ast.Attribute):
        return expression.attr
    return expression.id if isinstance(expression, ast.Name) else ""


def _strict_mypy(root: Path, folder: Path) -> bool:
    """pyproject.toml checks the package with mypy and `strict = true` covers it."""
    try:
        mypy = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))[
            "tool"
        ]["mypy"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return False
    package = ".".join(folder.relative_to(root).parts)
    files = mypy.get("files", [])
    checked = any(
        str(folder.relative_to(root)).startswith(str(f).rstrip("/")) for f in files
    )
    strict = mypy.get("strict") is True or any(
        override.get("strict") is True
        and any(
            module in (package, f"{package}.*")
            for module in (
                [override["module"]]
                if isinstance(override.get("module"), str)
                else override.get("module", [])
            )
        )
        for override in mypy.get("overrides", [])
    )
    return checked and strict


def _slug(heading: str) -> str:
    """A Markdown heading as GitHub anchors it."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def check_evidence(root: Path, reference: str) -> str | None:
    """Why a piece of evidence does not exist, or None when it does."""
    if "#" in reference:
        name, anchor = reference.split("#", 1)
        path = root / name
        if not path.is_file():
            return f"{name} does not exist"
        headings = {
            _slug(line.lstrip("#"))
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")
        }
        return None if anchor in headings else f"{name} has no section #{anchor}"
    name, _, test = reference.partition("::")
    path = root / name
    if not path.exists():
        return f"{name} does not exist"
    if test:
        source = path.read_text(encoding="utf-8")
        if not re.search(
            rf"^\s*(async )?def {re.escape(test)}\(", source, re.MULTILINE
        ):
            return f"{name} has no {test}"
    return None


def check_quality_scale(folder: Path, root: Path, report: Report) -> None:
    """quality_scale.yaml: complete up to the declared tier, each rule with evidence."""
    manifest = _load_json(folder / "manifest.json", report)
    path = folder / "quality_scale.yaml"
    tier = manifest.get("quality_scale") if isinstance(manifest, dict) else None
    if not path.is_file():
        if tier in TIERS:
            report.add(path, "missing: the manifest declares a quality scale")
        return
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        report.add(path, f"invalid YAML: {err}")
        return
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, dict):
        report.add(path, "needs a 'rules' mapping")
        return
    status: dict[str, str] = {}
    for rule, value in rules.items():
        if rule not in ALL_RULES:
            report.add(path, f"{rule}: not a quality scale rule")
            continue
        state = value.get("status") if isinstance(value, dict) else value
        comment = value.get("comment") if isinstance(value, dict) else None
        if state not in ("todo", "done", "exempt"):
            report.add(path, f"{rule}: status must be done, todo or exempt")
            continue
        status[rule] = state
        if state == "exempt" and not (isinstance(comment, str) and comment.strip()):
            report.add(path, f"{rule}: exempt needs a comment saying why")
        if state == "done":
            references = RE_EVIDENCE.findall(comment or "")
            if not references:
                report.add(
                    path, f"{rule}: name the evidence (a test or a file) in backticks"
                )
            for reference in references:
                if (missing := check_evidence(root, reference)) is not None:
                    report.add(path, f"{rule}: evidence {reference}: {missing}")
    if tier not in TIERS:
        report.add(
            folder / "manifest.json",
            f"declare a quality_scale tier ({', '.join(TIERS)})",
        )
        return
    for level in TIERS[: TIERS.index(tier) + 1]:
        for rule in RULES[level]:
            if status.get(rule) not in ("done", "exempt"):
                report.add(
                    path, f"tier {tier} needs {level} rule {rule}: done or exempt"
                )
    done = {rule for rule, state in status.items() if state == "done"}
    for rule, problems in _rule_checks(folder, root, done).items():
        if rule in done:
            for problem in problems:
                report.add(folder, f"[{rule}] {problem}")


def check(root: Path) -> Report:
    """Every rule, for the checkout at `root`."""
    report = Report(root)
    for path in manifests(root):
        check_manifest(path, report)
    check_hacs(root, report)
    for folder in integrations(root):
        check_translations(folder, report)
        check_icons(folder, report)
        check_brand(folder, report)
        check_quality_scale(folder, root, report)
    return report


def main(argv: list[str]) -> int:
    """Print the problems; exit 1 if there are any."""
    root = Path(argv[1]).resolve() if len(argv) > 1 else ROOT
    report = check(root)
    for note in report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(f"error: {problem}")
    checked = len(list(manifests(root)))
    print(
        f"check_ha_rules: {checked} manifests, {len(integrations(root))} integration(s): "
        f"{len(report.problems)} problem(s)"
    )
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
