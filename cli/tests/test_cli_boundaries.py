"""The CLI uses the tap, the mapper and the target only through their public modules (``<package>.api``), so
their internals can change without breaking it; and each ``api`` module exports exactly what it lists."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[1] / "topdesk2intercom"
PLUGINS = ("tap_topdesk", "map_topdesk_intercom", "target_intercom")


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
    return out


def test_the_cli_imports_only_the_plugins_public_modules() -> None:
    internal = [
        f"{path.name}:{line}: {module}"
        for path in sorted(CLI.glob("*.py"))
        for line, module in imports_of(path)
        if module.split(".")[0] in PLUGINS and module != f"{module.split('.')[0]}.api"
    ]
    assert internal == [], "import these through the package's api module instead:\n" + "\n".join(internal)


@pytest.mark.parametrize("package", PLUGINS)
def test_each_api_exports_what_it_lists(package: str) -> None:
    api = importlib.import_module(f"{package}.api")
    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert missing == [] and len(set(api.__all__)) == len(api.__all__)
