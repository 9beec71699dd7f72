"""No refusal a member reads is left in English only: every exception that carries a member's
message (`UserFacingError` and its subclasses, found in the source) is raised with a sentence
the catalogs hold (`said(…)`, or a constant marked `N_`), never a bare or formatted literal.

A scan of the source, like `tests/unit/test_voice.py`'s: it reads what can be read (a literal,
an f-string, a module constant) and leaves a variable or a call to whoever built it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "cogs").glob("*.py")])
# Refusals that stay English on purpose, with the reason.
ENGLISH_ON_PURPOSE = {
    # MusicGPT's own text, as it wrote it (docs/languages.md).
    "MusicGPTValidationError",
    # A delivery failure is stored as the song's error and shown later from the row.
    "PermanentDeliveryError",
}


def _refusal_classes(modules: list[ast.Module]) -> set[str]:
    """UserFacingError and every class deriving from it, by name, across the source."""
    found = {"UserFacingError"}
    grew = True
    while grew:
        grew = False
        for module in modules:
            for node in ast.walk(module):
                if isinstance(node, ast.ClassDef) and node.name not in found:
                    bases = {getattr(b, "id", None) or getattr(b, "attr", None) for b in node.bases}
                    if bases & found:
                        found.add(node.name)
                        grew = True
    return found - ENGLISH_ON_PURPOSE


def _plain_constants(module: ast.Module) -> dict[str, str]:
    """Module constants that are bare strings (not marked with N_)."""
    plain = {}
    for node in module.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                plain.update({t.id: value.value for t in targets if isinstance(t, ast.Name)})
    return plain


def untranslated_refusals() -> list[str]:
    modules = {path: ast.parse(path.read_text()) for path in SOURCES}
    classes = _refusal_classes(list(modules.values()))
    found = []
    for path, module in modules.items():
        plain = _plain_constants(module)
        for node in ast.walk(module):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in classes:
                continue
            arg = node.args[0]
            english = (
                isinstance(arg, ast.JoinedStr)
                or (isinstance(arg, ast.Constant) and isinstance(arg.value, str))
                or (isinstance(arg, ast.Name) and arg.id in plain)
                or (  # "…".format(…) or CONSTANT.format(…)
                    isinstance(arg, ast.Call)
                    and isinstance(arg.func, ast.Attribute)
                    and arg.func.attr == "format"
                )
            )
            if english:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_the_scan_knows_the_refusal_classes() -> None:
    modules = [ast.parse(path.read_text()) for path in SOURCES]
    assert {"AudioRejected", "BadTime", "QuotaExceeded", "DownloadFailed"} <= _refusal_classes(
        modules
    )


def test_every_refusal_is_said_through_the_catalogs() -> None:
    assert untranslated_refusals() == []
