"""The layout is a rule, not a habit: imports run downwards only, and SQL lives in storage alone.

Areas, lowest first: core, web, page, incidents, actions, sync, mirrors, probes; app, cli and demo stand on top.
An area may import core and the areas below it, never one above, and never another area's
controllers (its `api` or `console` module). `integrations` never imports `statuspage`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["core", "web", "page", "incidents", "actions", "sync", "mirrors", "probes"]
CONTROLLERS = {"api", "console", "routes", "subscriptions"}


def _imports(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def _area(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "statuspage" and parts[1] in LAYERS else None


def test_areas_import_only_core_and_the_areas_below_them():
    wrong = []
    for path in (ROOT / "statuspage").rglob("*.py"):
        here = _area(".".join(path.relative_to(ROOT).with_suffix("").parts))
        if here is None:
            continue
        for module in _imports(path):
            there = _area(module)
            if there is not None and LAYERS.index(there) > LAYERS.index(here):
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert wrong == []


def test_no_area_imports_another_areas_controllers():
    wrong = []
    for path in (ROOT / "statuspage").rglob("*.py"):
        here = _area(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for module in _imports(path):
            parts = module.split(".")
            there = _area(module)
            if here is not None and there not in (None, here, "web") and len(parts) > 2 and parts[2] in CONTROLLERS:
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert wrong == []


def test_integrations_never_import_the_service():
    wrong = [str(path.relative_to(ROOT)) for path in (ROOT / "integrations").rglob("*.py")
             if any(module.split(".")[0] == "statuspage" for module in _imports(path))]
    assert wrong == []


def test_sql_is_written_in_storage_alone():
    statement = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE TABLE)\b")
    wrong = [str(path.relative_to(ROOT)) for path in (ROOT / "statuspage").rglob("*.py")
             if "storage" not in path.parts and statement.search(path.read_text())]
    assert wrong == []


def test_no_test_module_imports_another():
    """What tests share lives in conftest.py or a support module (tests/*_helpers.py), never in a test module:
    importing one runs its module-level code and registers its fixtures in the importer, by accident."""
    wrong = [f"{path.relative_to(ROOT)} imports {module}" for path in (ROOT / "tests").rglob("*.py")
             for module in _imports(path) if module.split(".")[0].startswith("test_")]
    assert wrong == []
