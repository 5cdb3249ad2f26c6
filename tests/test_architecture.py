"""The house rules that no linter checks: first-party imports at module level only (the graph is visible)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("config", "core", "tracker", "ingestion", "analytics")


def _app_modules() -> list[Path]:
    out = []
    for package in FIRST_PARTY:
        # apps.py: AppConfig.ready() importing signal handlers is Django's own idiom (models load after it).
        out += [
            p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts and p.name != "apps.py"
        ]
    return out


def _local_first_party_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                names = ["<relative>"]
            for name in names:
                if name == "<relative>" or name.split(".")[0] in FIRST_PARTY:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_no_function_local_first_party_imports():
    offenders = [hit for path in _app_modules() for hit in _local_first_party_imports(path)]
    assert offenders == [], "import these at module level:\n" + "\n".join(offenders)
