"""The engine's layout: four subpackages whose imports run one way, as each ``__init__`` says."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO_ROOT

ENGINE = REPO_ROOT / "sam2_ros" / "engine"
#: What each subpackage may import of the others (the engine's top-level modules: any of them).
BELOW = {
    "streaming": {"memory", "model"},
    "memory": set(),
    "model": {"graphs"},
    "graphs": set(),
}


def _engine_imports(file: Path) -> set[str]:
    """The ``sam2_ros.engine`` parts (subpackage or top-level module) a file imports, at module
    level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {name.split(".")[2] for name in names if name.startswith("sam2_ros.engine.")}


def test_four_subpackages_and_few_top_level_modules():
    subpackages = {p.name for p in ENGINE.iterdir() if (p / "__init__.py").is_file()}
    assert subpackages == set(BELOW)
    assert len(list(ENGINE.glob("*.py"))) <= 10


def test_subpackages_say_what_they_own_and_re_export_nothing():
    for name in BELOW:
        tree = ast.parse((ENGINE / name / "__init__.py").read_text())
        assert ast.get_docstring(tree), name
        assert not any(isinstance(n, ast.Import | ast.ImportFrom) for n in tree.body), name


def test_imports_run_one_way():
    top_level = {p.stem for p in ENGINE.glob("*.py")} - {"__init__"}
    upward = {}
    for name, allowed in BELOW.items():
        for file in sorted((ENGINE / name).rglob("*.py")):
            if bad := _engine_imports(file) - allowed - top_level - {name}:
                upward[str(file.relative_to(ENGINE))] = sorted(bad)
    for stem in top_level:
        if bad := _engine_imports(ENGINE / f"{stem}.py") - top_level:
            upward[f"{stem}.py"] = sorted(bad)
    assert not upward, f"engine imports against the subpackages' order: {upward}"
