"""Patch a venv's Home Assistant 2026.11 (made for Python 3.14) to run on Python 3.13.

    .venv/bin/python scripts/py313_compat.py [--harness-only] [--check]

Run by scripts/setup with the newest leg's own interpreter, after pip. It only edits
third-party files installed in that interpreter's site-packages, never this
repository (custom_components/, tests/, ...), and it is idempotent. It prints what it
did and writes a summary next to the venv (<venv>/py313-compat.json); scripts/test
reads that to say, on every run, that the leg is HA on 3.13 *with patches*.

On Python 3.13 (the Python 3.14 fixes, for the distributions whose Requires-Python
excludes the running interpreter: homeassistant, hass-nabucasa, the harness):

- pep758-except: `except A, B:` / `except* A, B:` (PEP 758) -> `except (A, B):`,
  rewritten from tokenize's tokens, so strings and comments are never touched.
- future-annotations: `from __future__ import annotations` added to every module that
  has annotations and lacks it (HA dropped it in 2026.4 for PEP 649's lazy
  annotations; 3.13 would evaluate them eagerly and fail on forward references).
- annotationlib: HA's `from annotationlib import ...` is pointed at a small stand-in
  (`_py313_annotationlib.py`, written into site-packages; Format, ForwardRef and
  get_annotations on top of inspect.get_annotations, evaluating the stringified
  annotations the way 3.14's FORWARDREF format does). Not installed as
  `annotationlib` so that no other package mistakes 3.13 for 3.14.
- annotate-protocol: where HA sets `cls.__annotate__` (3.14) instead of
  `cls.__annotations__` for a class without own annotations, 3.13 would ignore it and
  a dataclass would lose its inherited fields: always set `__annotations__`.
- inspect-signature: `inspect.signature(f, annotation_format=...)` (3.14) ->
  `inspect.signature(f)` (annotations are strings now; nothing is evaluated).
- python-version: REQUIRED_PYTHON_VER (3, 14, 2) -> (3, 13, 0), so `hass` starts.

On any Python (harness 0.13.375 was made for HA 2026.10.4; --harness-only applies
just these, for a real 3.14 venv):

- httpx-alias-order: HA 2026.11's package __init__ calls httpx2.alias_httpx(), which
  raises if `httpx` was imported before. pytest imports respx (and so httpx) before
  homeassistant: respx's own pytest11 plugin, and the harness's plugin, which imports
  respx first. Fix: respx/__init__.py calls the same (idempotent) httpx2.alias_httpx()
  before it imports httpx, so `import httpx` is httpx2 in the test process too, as in
  a real HA process, whatever order pytest loads its plugins in.
- harness-imports: `_clear_logger_overwrites` moved from
  homeassistant.components.logger to .logger.helpers; the harness imports it there.

After patching, every .py file of the patched distributions is compiled; failures
are listed and make the exit status non-zero. --check only verifies (exit 1 when a
fix is missing or a file does not compile).
"""

from __future__ import annotations

import argparse
import ast
from concurrent.futures import ProcessPoolExecutor
import contextlib
from dataclasses import dataclass, field
import datetime as dt
import importlib.metadata as md
import io
import json
import os
from pathlib import Path
import re
import sys
import sysconfig
import tokenize
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MARKER_NAME = "py313-compat.json"
SHIM_MODULE = "_py313_annotationlib"
FUTURE_LINE = "from __future__ import annotations  # py313-compat: PEP 649 on 3.13\n"

KINDS = {
    "pep758-except": "`except A, B:` (PEP 758) parenthesised",
    "future-annotations": "`from __future__ import annotations` added (PEP 649)",
    "annotationlib": f"`annotationlib` imports pointed at {SHIM_MODULE}",
    "annotate-protocol": "`cls.__annotations__` set instead of `cls.__annotate__`",
    "inspect-signature": "`inspect.signature(annotation_format=...)` dropped",
    "python-version": "REQUIRED_PYTHON_VER lowered to 3.13.0",
    "httpx-alias-order": "respx aliases httpx to httpx2 (as HA does) before importing it",
    "harness-imports": "harness imports of names HA 2026.11 moved",
}
HARNESS_KINDS = ("httpx-alias-order", "harness-imports")

# A 3.14 Python running our own checks would not need any of the 3.13 fixes.
PY313 = sys.version_info[:2] == (3, 13)
PYTHON = sys.version.split()[0]

# --------------------------------------------------------------------------- shim

SHIM_SOURCE = '''\
"""Python 3.14's annotationlib, the part Home Assistant 2026.11 uses, for Python 3.13.

Written by scripts/py313_compat.py of the openai_realtime repository. HA's modules got
`from __future__ import annotations` from the same script, so their annotations are
strings; FORWARDREF evaluates them like 3.14 would (values where the names resolve,
ForwardRef where they do not), VALUE evaluates them (and raises), STRING returns them.
"""

from __future__ import annotations

import builtins
import enum
import inspect
import sys
import types
from typing import Any, ForwardRef

__all__ = ["Format", "ForwardRef", "get_annotations"]


class Format(enum.IntEnum):
    VALUE = 1
    VALUE_WITH_FAKE_GLOBALS = 2
    FORWARDREF = 3
    STRING = 4


class _Names(dict):
    """Locals for eval(): unknown names become ForwardRef, as in 3.14's FORWARDREF."""

    def __init__(self, local_ns: dict[str, Any], global_ns: dict[str, Any]) -> None:
        super().__init__(local_ns)
        self._globals = global_ns

    def __missing__(self, key: str) -> Any:
        if key in self._globals:
            return self._globals[key]
        if hasattr(builtins, key):
            return getattr(builtins, key)
        return ForwardRef(key)


def _namespaces(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if isinstance(obj, type):
        module = sys.modules.get(obj.__module__)
        global_ns = dict(getattr(module, "__dict__", {}))
        local_ns = dict(vars(obj))
    elif isinstance(obj, types.ModuleType):
        global_ns, local_ns = dict(obj.__dict__), {}
    else:
        unwrapped = inspect.unwrap(obj) if callable(obj) else obj
        global_ns = dict(getattr(unwrapped, "__globals__", {}))
        local_ns = {}
    for param in getattr(obj, "__type_params__", ()):
        local_ns.setdefault(param.__name__, param)
    return global_ns, local_ns


def _evaluate(text: str, global_ns: dict, local_ns: dict, fmt: Format) -> Any:
    try:
        return eval(text, global_ns, local_ns)  # noqa: S307 - annotations only
    except Exception:
        if fmt == Format.VALUE:
            raise
    try:
        return eval(text, global_ns, _Names(local_ns, global_ns))  # noqa: S307
    except Exception:
        return ForwardRef(text)


def get_annotations(
    obj: Any,
    *,
    globals: dict[str, Any] | None = None,  # noqa: A002 - 3.14's signature
    locals: dict[str, Any] | None = None,  # noqa: A002
    eval_str: bool = False,
    format: Format = Format.VALUE,  # noqa: A002
) -> dict[str, Any]:
    fmt = Format(format)
    raw = inspect.get_annotations(obj)
    if fmt == Format.STRING:
        return {
            key: value if isinstance(value, str) else inspect.formatannotation(value)
            for key, value in raw.items()
        }
    global_ns, local_ns = _namespaces(obj)
    if globals is not None:
        global_ns = globals
    if locals is not None:
        local_ns = locals
    return {
        key: _evaluate(value, global_ns, local_ns, fmt) if isinstance(value, str) else value
        for key, value in raw.items()
    }
'''

# ------------------------------------------------------------------ the text fixes


def fix_pep758(text: str) -> str:
    """Parenthesise unparenthesised exception lists (`except A, B:`), by tokens."""
    if "except" not in text or not re.search(r"\bexcept\b[^\n]*,", text):
        return text
    lines = io.StringIO(text).readlines()  # the same lines tokenize sees
    toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    skip = {tokenize.NL, tokenize.COMMENT}
    edits: list[tuple[tuple[int, int], str]] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        i += 1
        if tok.type != tokenize.NAME or tok.string != "except":
            continue
        if i < len(toks) and toks[i].type == tokenize.OP and toks[i].string == "*":
            i += 1
        start, depth, comma, end = i, 0, False, None
        while i < len(toks):
            cur = toks[i]
            if cur.type == tokenize.OP:
                if cur.string in {"(", "[", "{"}:
                    depth += 1
                elif cur.string in {")", "]", "}"}:
                    depth -= 1
                elif depth == 0 and cur.string == ":":
                    end = i
                    break
                elif depth == 0 and cur.string == ",":
                    comma = True
            elif cur.type == tokenize.NAME and cur.string == "as" and depth == 0:
                end = i
                break
            elif cur.type in {tokenize.NEWLINE, tokenize.ENDMARKER}:
                break
            i += 1
        if not comma or end is None or end == start:
            continue
        last = end - 1
        while toks[last].type in skip:
            last -= 1
        first = start
        while toks[first].type in skip:
            first += 1
        edits.append((toks[last].end, ")"))
        edits.append((toks[first].start, "("))
    if not edits:
        return text
    for (row, col), insert in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + insert + line[col:]
    return "".join(lines)


def _has_annotations(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.returns is not None:
                return True
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            every += [a for a in (args.vararg, args.kwarg) if a is not None]
            if any(arg.annotation is not None for arg in every):
                return True
    return False


def fix_future_annotations(text: str, path: str) -> str:
    """Add `from __future__ import annotations` after the docstring/__future__ lines."""
    tree = ast.parse(text, path)
    body = tree.body
    index = 0
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        index = 1
    while (
        index < len(body)
        and isinstance(body[index], ast.ImportFrom)
        and body[index].module == "__future__"  # type: ignore[attr-defined]
    ):
        if any(a.name == "annotations" for a in body[index].names):  # type: ignore[attr-defined]
            return text
        index += 1
    if not _has_annotations(tree):
        return text
    lines = io.StringIO(text).readlines()
    if index:
        after = body[index - 1].end_lineno or 0
        if index < len(body) and body[index].lineno == after:
            raise ValueError("a statement shares the docstring's line")
        if after and not lines[after - 1].endswith("\n"):
            lines[after - 1] += "\n"
    else:
        # Only comments (shebang, encoding cookie) and blank lines may come first.
        after = 0
        while after < len(lines) and lines[after].lstrip().startswith("#"):
            after += 1
    lines.insert(after, FUTURE_LINE)
    return "".join(lines)


def fix_annotationlib(text: str) -> str:
    return re.sub(
        r"^(\s*)from annotationlib import ",
        rf"\1from {SHIM_MODULE} import ",
        text,
        flags=re.MULTILINE,
    )


ANNOTATE_BRANCH = re.compile(r'^(\s*)if "__annotations__" in cls\.__dict__:\n', re.M)


def fix_annotate_protocol(text: str) -> str:
    if "__annotate__" not in text:
        return text
    return ANNOTATE_BRANCH.sub(
        r"\1if True:  # py313-compat: 3.13 ignores __annotate__\n", text
    )


def fix_inspect_signature(text: str) -> str:
    if "annotation_format=" not in text:
        return text
    return re.sub(r",\s*annotation_format=[\w.]+", "", text)


def fix_python_version(text: str, path: str) -> str:
    if not path.endswith("homeassistant/const.py"):
        return text
    return re.sub(
        r"^(REQUIRED_PYTHON_VER\b[^=\n]*= )\(3, 14, \d+\)",
        r"\1(3, 13, 0)  # py313-compat",
        text,
        flags=re.MULTILINE,
    )


RESPX_ALIAS = """\
# py313-compat (harness fix): Home Assistant 2026.11 aliases httpx to httpx2 when it is
# imported, and refuses to if httpx came first. pytest loads respx (its plugin; the
# harness imports it before homeassistant) early: alias here, before respx imports httpx.
try:
    import httpx2 as _httpx2
except ImportError:
    pass
else:
    _httpx2.alias_httpx()

"""


def fix_harness_httpx(text: str, path: str) -> str:
    if not path.endswith("respx/__init__.py") or RESPX_ALIAS in text:
        return text
    return RESPX_ALIAS + text


def fix_harness_imports(text: str, path: str) -> str:
    if not path.endswith("pytest_homeassistant_custom_component/common.py"):
        return text
    old = "    SERVICE_SET_LEVEL,\n    _clear_logger_overwrites,\n)\n"
    if old not in text:
        return text
    return text.replace(
        old,
        "    SERVICE_SET_LEVEL,\n)\n"
        "from homeassistant.components.logger.helpers import (  # py313-compat: moved\n"
        "    _clear_logger_overwrites,\n)\n",
        1,
    )


# ---------------------------------------------------------------- file handling


@dataclass
class FileResult:
    path: str
    dist: str
    kinds: list[str] = field(default_factory=list)
    error: str | None = None


def _read(path: str) -> tuple[str, str]:
    with open(path, "rb") as fh:
        raw = fh.read()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    return raw.decode(encoding), encoding


def process_file(job: tuple[str, str, bool, bool, bool]) -> FileResult:
    """Patch (unless check_only) and compile one file; say which fixes it needed."""
    path, dist, py313_fixes, harness_fixes, check_only = job
    result = FileResult(path, dist)
    try:
        text, encoding = _read(path)
        new = text
        steps: list[tuple[str, Callable[[str], str]]] = []
        if py313_fixes:
            steps += [
                ("pep758-except", fix_pep758),
                ("future-annotations", lambda t: fix_future_annotations(t, path)),
                ("annotationlib", fix_annotationlib),
                ("annotate-protocol", fix_annotate_protocol),
                ("inspect-signature", fix_inspect_signature),
                ("python-version", lambda t: fix_python_version(t, path)),
            ]
        if harness_fixes:
            steps += [
                ("httpx-alias-order", lambda t: fix_harness_httpx(t, path)),
                ("harness-imports", lambda t: fix_harness_imports(t, path)),
            ]
        for kind, fix in steps:
            try:
                fixed = fix(new)
            except SyntaxError:
                if kind == "future-annotations":
                    continue  # reported by the compile below
                raise
            if fixed != new:
                result.kinds.append(kind)
                new = fixed
        if result.kinds and not check_only:
            with open(path, "w", encoding=encoding, newline="") as fh:
                fh.write(new)
            _drop_bytecode(path)
        compile(new if not check_only else text, path, "exec", dont_inherit=True)
    except SyntaxError as err:
        result.error = f"{type(err).__name__}: {err.msg} (line {err.lineno})"
    except (OSError, UnicodeDecodeError, ValueError) as err:
        result.error = f"{type(err).__name__}: {err}"
    return result


def _drop_bytecode(path: str) -> None:
    src = Path(path)
    for pyc in (src.parent / "__pycache__").glob(f"{src.stem}.*.pyc"):
        with contextlib.suppress(OSError):
            pyc.unlink()


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"]).resolve()


def target_dists(py313_fixes: bool) -> dict[str, tuple[bool, bool]]:
    """Distributions to patch -> (py313 fixes, harness fixes)."""
    from packaging.specifiers import SpecifierSet

    here = ".".join(map(str, sys.version_info[:3]))  # 3.13.0, not 3.13.0+
    targets: dict[str, tuple[bool, bool]] = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        key = name.lower().replace("_", "-")
        harness = key in {"pytest-homeassistant-custom-component", "respx"}
        spec = dist.metadata.get("Requires-Python")
        py = bool(py313_fixes and spec and here not in SpecifierSet(spec))
        if py or harness:
            targets[name] = (py, harness)
    return targets


def dist_files(name: str, root: Path) -> Iterator[str]:
    dist = md.distribution(name)
    for entry in dist.files or ():
        if entry.suffix != ".py":
            continue
        path = Path(dist.locate_file(entry)).resolve()
        if not path.is_relative_to(root):
            raise SystemExit(f"py313_compat: {path} is outside {root}; refusing")
        yield str(path)


def guard(root: Path) -> Path:
    """Only ever a venv's own site-packages; never this repository."""
    if sys.prefix == sys.base_prefix:
        raise SystemExit(
            "py313_compat: run it with a virtualenv's python, not a system one"
        )
    venv = Path(sys.prefix).resolve()
    if not root.is_relative_to(venv):
        raise SystemExit(f"py313_compat: {root} is not inside the venv {venv}")
    repo = Path(__file__).resolve().parents[1]
    for own in ("custom_components", "tests", "realtime_emulator"):
        if (repo / own).resolve().is_relative_to(root):
            raise SystemExit(f"py313_compat: {repo / own} is inside {root}; refusing")
    return venv


def write_shim(root: Path, check_only: bool) -> bool:
    """Write _py313_annotationlib.py; True when it was (re)written."""
    shim = root / f"{SHIM_MODULE}.py"
    if shim.exists() and shim.read_text() == SHIM_SOURCE:
        return False
    if not check_only:
        shim.write_text(SHIM_SOURCE)
    return True


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--harness-only", action="store_true", help="only the harness fixes (3.14)"
    )
    parser.add_argument("--check", action="store_true", help="verify, change nothing")
    parser.add_argument("--banner", action="store_true", help="one line: the venv")
    args = parser.parse_args(argv)
    if args.banner:
        return banner()
    py313_fixes = PY313 and not args.harness_only
    if not PY313 and not args.harness_only:
        say(f"py313_compat: Python {PYTHON} is not 3.13: only the harness fixes apply")
    root = site_packages()
    venv = guard(root)

    targets = target_dists(py313_fixes)
    jobs = [
        (path, name, py, harness, args.check)
        for name, (py, harness) in sorted(targets.items())
        for path in dist_files(name, root)
    ]
    with ProcessPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        results = list(pool.map(process_file, jobs, chunksize=64))
    shim_written = py313_fixes and write_shim(root, check_only=args.check)
    failures = [f"{r.path}: {r.error}" for r in results if r.error]
    changed = [r for r in results if r.kinds]

    if args.check:
        missing = len(changed) + int(shim_written)
        ok = not missing and not failures
        say(
            f"py313_compat --check: {'OK' if ok else 'NOT APPLIED'}: {missing} files "
            f"still need fixes, {len(failures)} do not compile"
        )
        for line in failures[:50]:
            say(f"  {line}")
        return 0 if ok else 1

    marker = venv / MARKER_NAME
    previous = json.loads(marker.read_text()) if marker.exists() else {}
    summary = _summary(previous, results, py313_fixes, root)
    summary["distributions"] = {name: md.version(name) for name in targets}
    marker.write_text(json.dumps(summary, indent=2) + "\n")

    what = "3.13 compatibility patches" if py313_fixes else "harness fixes"
    dists = ", ".join(f"{n} {v}" for n, v in summary["distributions"].items())
    say(f"py313_compat: {what} for {dists} on Python {PYTHON}")
    shim_note = f" and wrote {SHIM_MODULE}.py" if shim_written else ""
    again = " (all applied before)" if previous and not changed else ""
    say(f"  this run changed {len(changed)} files{shim_note}{again}")
    for kind, entry in summary["fixes"].items():
        per = ", ".join(f"{d} {n}" for d, n in sorted(entry["by_dist"].items()))
        per = f" ({per})" if per else ""
        say(f"  {kind:<19} {entry['files']:>5} files  {entry['what']}{per}")
    say(
        f"  compiled all {len(results)} .py files of those distributions: "
        f"{len(failures)} failures"
    )
    for line in failures[:50]:
        say(f"    {line}")
    say(f"  summary: {marker}")
    return 1 if failures else 0


def _summary(
    previous: dict[str, Any],
    results: list[FileResult],
    py313_fixes: bool,
    root: Path,
) -> dict[str, Any]:
    """The marker's content; a re-run adds what it changed to the first run's counts."""
    kinds = KINDS if py313_fixes else {k: KINDS[k] for k in HARNESS_KINDS}
    fixes: dict[str, dict[str, Any]] = {
        kind: {"what": what, "files": 0, "by_dist": {}} for kind, what in kinds.items()
    }
    for kind, entry in previous.get("fixes", {}).items():
        if kind in fixes:
            fixes[kind] = entry
    for res in results:
        for kind in res.kinds:
            per = fixes[kind]["by_dist"]
            per[res.dist] = per.get(res.dist, 0) + 1
    for entry in fixes.values():
        entry["files"] = sum(entry["by_dist"].values())
    patched = set(previous.get("patched_files", []))
    patched |= {r.path for r in results if r.kinds}
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return {
        "what": "HA made for Python 3.14, patched to run on this Python"
        if py313_fixes
        else "harness fixes only (the harness was made for an older HA)",
        "python": PYTHON,
        "applied": previous.get("applied", now),
        "last_run": now,
        "files_patched": len(patched),
        "shim": str(root / f"{SHIM_MODULE}.py") if py313_fixes else None,
        "fixes": fixes,
        "compiled": {
            "files": len(results),
            "failures": [f"{r.path}: {r.error}" for r in results if r.error],
        },
        "patched_files": sorted(patched),
    }


def banner() -> int:
    """scripts/test's line: which HA on which Python, and how much of it is patched."""
    marker = Path(sys.prefix) / MARKER_NAME
    head = f"=== Home Assistant {md.version('homeassistant')} on Python {PYTHON}"
    if not marker.exists():
        say(f"{head} ({Path(sys.prefix).name}) ===")
        return 0
    summary = json.loads(marker.read_text())
    fixes = ", ".join(
        f"{kind} {entry['files']}"
        for kind, entry in summary["fixes"].items()
        if entry["files"]
    )
    what = (
        "with the 3.13 compatibility patches"
        if summary.get("shim")
        else "with harness fixes"
    )
    note = " - NOT a Python 3.14 run" if summary.get("shim") else ""
    say(
        f"{head} {what}: {summary['files_patched']} files ({fixes}){note}; "
        f"{Path(sys.prefix).name}/{MARKER_NAME} ==="
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
