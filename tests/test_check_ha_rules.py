"""scripts/check_ha_rules.py: this repository passes, and each rule catches its
breakage in a copy of it."""

from __future__ import annotations

from collections.abc import Callable
import importlib.util
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
from types import ModuleType
from typing import Any

from PIL import Image
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_ha_rules.py"
COMPONENT = Path("custom_components/openai_realtime")
IGNORED = shutil.ignore_patterns(
    ".venv*", ".git", ".dev*", "__pycache__", "*_cache", "htmlcov", ".coverage*"
)


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_ha_rules", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rules = _load()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the checkout (without venvs, caches and git)."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=IGNORED, symlinks=True)
    return copy


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    """The script in a process of its own, as CI runs it (not under coverage:
    older pytest-cov would record it without branches and fail to combine)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV_CORE_")}
    return subprocess.run(  # noqa: S603 - our own script, with this Python
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def problems(root: Path) -> list[str]:
    return list(rules.check(root).problems)


def _json(path: Path, change: Callable[[Any], Any]) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))), "utf-8")


def test_this_repository_passes() -> None:
    """What CI runs: no problem in the checkout, and exit code 0."""
    assert problems(ROOT) == []
    run = run_script()
    assert run.returncode == 0, run.stdout
    assert "0 problem(s)" in run.stdout


def test_unsorted_manifest_keys(repo: Path) -> None:
    """Any manifest in the checkout (here the dev seed's): domain, name, then
    alphabetical."""
    _json(repo / "scripts/dev_seed/manifest.json", lambda m: dict(reversed(m.items())))
    assert problems(repo) == [
        (
            "scripts/dev_seed/manifest.json: Manifest keys are not sorted correctly: "
            "domain, name, then alphabetical order"
        )
    ]
    run = run_script(str(repo))
    assert run.returncode == 1
    assert "Manifest keys are not sorted correctly" in run.stdout


def test_manifest_rules(repo: Path) -> None:
    """Unknown keys, a missing version or code owner of a platinum integration, a
    domain that is not the folder's, an IoT class that does not exist."""
    manifest = repo / COMPONENT / "manifest.json"
    _json(
        manifest,
        lambda m: {
            **{k: v for k, v in m.items() if k != "version"},
            "codeowners": [],
            "domain": "something_else",
            "iot_class": "cloud_magic",
            "zzz": 1,
        },
    )
    found = "\n".join(problems(repo))
    for words in (
        "extra keys not allowed: zzz",
        "required key not provided: version",
        "platinum integration does not have a code owner",
        "Domain does not match dir name",
        "iot_class must be one of",
        "HACS needs 'version'",
    ):
        assert words in found


def test_a_url_in_a_string(repo: Path) -> None:
    """hassfest's URL pattern, in strings.json and en.json; an IP address in an
    example is not a URL to it."""
    for name in ("strings.json", "translations/en.json"):
        _json(
            repo / COMPONENT / name,
            lambda s: (
                s
                | {
                    "title": "See https://example.com/docs",
                    "x": "http://127.0.0.1:8765",
                }
            ),
        )
    assert problems(repo) == [
        f"{COMPONENT}/{name}: title: the string should not contain URLs, "
        "please use description placeholders instead"
        for name in ("strings.json", "translations/en.json")
    ]


def test_translations_must_equal_strings(repo: Path) -> None:
    """en.json is a copy of strings.json; string rules hold for both."""
    _json(repo / COMPONENT / "translations/en.json", lambda s: s | {"title": "Other"})
    _json(repo / COMPONENT / "strings.json", lambda s: s | {"title": " <b>x</b> "})
    found = "\n".join(problems(repo))
    assert "translations/en.json: differs from strings.json" in found
    assert "title: the string should not contain HTML" in found
    assert "title: the string should not have surrounding spaces" in found


def test_flow_and_issue_strings(repo: Path) -> None:
    """A data_description without its field, a field without a description, an
    issue with both a description and a fix flow."""

    def change(strings: Any) -> Any:
        step = strings["config"]["step"]["openai"]
        step["data_description"]["nothing"] = "No such field."
        step["data"]["new_field"] = "New field"
        strings["issues"]["retired_model"]["description"] = "Both."
        return strings

    for name in ("strings.json", "translations/en.json"):
        _json(repo / COMPONENT / name, change)
    found = problems(repo)
    assert (
        f"{COMPONENT}/strings.json: config.step.openai: data_description key "
        "nothing is not in data"
    ) in found
    assert (
        f"{COMPONENT}/strings.json: config.step.openai.new_field: the field has no "
        "data_description"
    ) in found
    assert (
        f"{COMPONENT}/strings.json: issues.retired_model: needs a description or a "
        "fix_flow, not both"
    ) in found


def test_brand_images_are_checked(repo: Path) -> None:
    """A missing image, a wrong size, a logo too small, a stray file."""
    brand = repo / COMPONENT / "brand"
    (brand / "icon@2x.png").unlink()
    Image.new("RGBA", (300, 300)).save(brand / "icon.png")
    Image.new("RGBA", (400, 100)).save(brand / "dark_logo.png")
    (brand / "logo.svg").write_text("<svg/>")
    assert problems(repo) == [
        f"{COMPONENT}/brand/icon@2x.png: missing brand image",
        (
            f"{COMPONENT}/brand/dark_logo.png: is 400x100, must be a shortest side of "
            "128-256 px"
        ),
        f"{COMPONENT}/brand/icon.png: is 300x300, must be 256x256",
        (
            f"{COMPONENT}/brand/logo.svg: not a brand image name (dark_icon.png, "
            "dark_icon@2x.png, dark_logo.png, dark_logo@2x.png, icon.png, icon@2x.png, "
            "logo.png, logo@2x.png)"
        ),
    ]


def test_hacs_json(repo: Path) -> None:
    """HACS refuses keys it does not know; zip_release needs a filename."""
    _json(repo / "hacs.json", lambda h: h | {"domains": ["x"], "zip_release": True})
    assert problems(repo) == [
        "hacs.json: extra keys not allowed: domains",
        "hacs.json: zip_release needs a filename",
    ]


def test_icons(repo: Path) -> None:
    """An icon that is not an mdi: name, a platform that does not exist."""
    _json(
        repo / COMPONENT / "icons.json",
        lambda i: {"entity": i["entity"] | {"gadget": {"x": {"default": "fa:star"}}}},
    )
    assert problems(repo) == [
        f"{COMPONENT}/icons.json: entity.gadget: not an entity platform",
        f"{COMPONENT}/icons.json: entity.gadget.x: default must be an mdi: icon",
    ]


def test_quality_scale_is_complete_with_evidence(repo: Path) -> None:
    """Every rule up to the declared tier done or exempt with a reason, and each
    done rule's evidence exists."""
    path = repo / COMPONENT / "quality_scale.yaml"
    text = path.read_text()
    text = text.replace(
        "  stale-devices:\n    status: exempt\n    comment: One device per entry, "
        "removed with the entry.\n",
        "  stale-devices: todo\n",
    )
    text = text.replace("test_setup_and_unload", "test_that_does_not_exist")
    text = text.replace("README.md#install", "README.md#nowhere")
    text = text.replace(
        "  dynamic-devices:\n    status: exempt\n    comment:",
        "  dynamic-devices:\n    status: exempt\n    commentary:",
    )
    path.write_text(text)
    found = problems(repo)
    name = f"{COMPONENT}/quality_scale.yaml"
    assert found == [
        (
            f"{name}: docs-installation-instructions: evidence README.md#nowhere: README.md has "
            "no section #nowhere"
        ),
        (
            f"{name}: config-entry-unloading: evidence tests/ha/test_init.py::"
            "test_that_does_not_exist: tests/ha/test_init.py has no "
            "test_that_does_not_exist"
        ),
        f"{name}: dynamic-devices: exempt needs a comment saying why",
        f"{name}: tier platinum needs gold rule stale-devices: done or exempt",
    ]


def test_code_rules_are_checked(repo: Path) -> None:
    """What hassfest reads from the code: PARALLEL_UPDATES in each platform, a
    typed config entry, the strict mypy setting."""
    stt = repo / COMPONENT / "stt.py"
    stt.write_text(stt.read_text().replace("PARALLEL_UPDATES = 0", ""))
    tts = repo / COMPONENT / "tts.py"
    tts.write_text(
        tts.read_text().replace(
            "entry: OpenAIRealtimeConfigEntry,\n    async_add_entities",
            "entry: ConfigEntry,\n    async_add_entities",
        )
    )
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("strict = true", ""))
    assert problems(repo) == [
        f"{COMPONENT}: [parallel-updates] stt.py does not set PARALLEL_UPDATES",
        (
            f"{COMPONENT}: [runtime-data] tts.py: async_setup_entry does not use a typed "
            "ConfigEntry"
        ),
        (
            f"{COMPONENT}: [strict-typing] pyproject.toml does not run mypy strict on "
            "the package"
        ),
    ]
