"""The package's layers: pure parts import nothing of ROS, imports run one way (pure parts <-
ROS messages <- the node <- the commands), and no two modules import each other, directly or
through others, at module level or inside a function."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from conftest import REPO_ROOT, fresh_python

PACKAGE = REPO_ROOT / "sam2_ros"
#: Subpackages and top-level modules that must run without ROS.
PURE = ("engine", "geometry", "tracking", "parameters", "runtime", "overlay", "paths", "topics")
#: What each part may import from the package besides itself: anything else is upward.
_PURE_BELOW = {
    "engine",
    "geometry",
    "overlay",
    "parameters",
    "paths",
    "runtime",
    "topics",
    "tracking",
}
ALLOWED = {
    "engine": {"paths"},
    "geometry": set(),
    "paths": set(),
    "topics": set(),
    "runtime": {"tracking"},
    "overlay": {"engine"},
    "tracking": {"engine", "geometry"},
    "parameters": {"engine", "tracking", "topics"},
    "messages": {*_PURE_BELOW, "msg", "srv"},
    "node": {*_PURE_BELOW, "messages", "msg", "srv"},
    "commands": {*_PURE_BELOW, "messages", "node", "msg", "srv"},
}
#: Loads every module named, then prints the ROS modules loaded after each one, as JSON.
PROBE = """
import importlib, json, sys

def ros(name):
    top = name.split(".")[0]
    return (
        top in ("rclpy", "rcl_interfaces", "rosidl_runtime_py", "ament_index_python", "tf2_ros")
        or top.startswith("launch")
        or top.endswith(("_msgs", "_srvs", "_interfaces"))
        or name.startswith(("sam2_ros.msg", "sam2_ros.srv", "sam2_ros.node", "sam2_ros.messages",
                            "sam2_ros.commands"))
    )

loaded = {}
for name in sys.argv[1:]:
    before = set(sys.modules)
    importlib.import_module(name)
    loaded[name] = sorted(m for m in set(sys.modules) - before if ros(m))
print(json.dumps(loaded))
"""


def modules_of(names: tuple[str, ...]) -> list[str]:
    """Every module of the named subpackages and modules of ``sam2_ros``, from the sources."""
    found = []
    for name in names:
        path = PACKAGE / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
        for file in files:
            parts = file.relative_to(REPO_ROOT).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def ros_modules_loaded(modules: list[str]) -> dict[str, list[str]]:
    """A fresh interpreter imports ``modules`` one by one: the ROS modules each one loaded."""
    return json.loads(fresh_python(PROBE, *modules)[-1])


def test_pure_parts_load_nothing_of_ros():
    modules = modules_of(PURE)
    assert {
        "sam2_ros.engine.streaming.predictor",
        "sam2_ros.geometry.lifting",
        "sam2_ros.runtime.heap",
    } <= set(modules)
    loaded = ros_modules_loaded(modules)
    assert list(loaded) == modules
    offenders = {module: ros for module, ros in loaded.items() if ros}
    assert not offenders, f"pure modules that load ROS or upper layers: {offenders}"


def test_the_probe_sees_ros_where_it_is_loaded():
    """The same check on ROS-layer modules finds what they load (so it can fail)."""
    loaded = ros_modules_loaded(["sam2_ros.messages.images", "sam2_ros.node.input_qos"])
    assert "sensor_msgs.msg" in loaded["sam2_ros.messages.images"]
    assert "rclpy.qos" in loaded["sam2_ros.node.input_qos"]


def _package_imports(file: Path) -> set[str]:
    """The ``sam2_ros`` subpackages or modules a file imports (second name component)."""
    names = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        names |= {t.split(".")[1] for t in targets if t.startswith("sam2_ros.")}
    return names


def test_imports_run_one_way():
    parts = [
        p.stem
        for p in sorted(PACKAGE.iterdir())
        if (p / "__init__.py").is_file() or (p.suffix == ".py" and p.name != "__init__.py")
    ]
    assert sorted(parts) == sorted(ALLOWED), "a new part of the package needs its place here"
    upward = {}
    for module in modules_of(tuple(parts)):
        file = REPO_ROOT / Path(*module.split("."))
        file = file / "__init__.py" if file.is_dir() else file.with_suffix(".py")
        part = module.split(".")[1]
        if bad := _package_imports(file) - ALLOWED[part] - {part}:
            upward[module] = sorted(bad)
    assert not upward, f"imports from a higher layer: {upward}"


def import_graph(root: Path, package: str = "sam2_ros") -> dict[str, set[str]]:
    """Each module of ``package`` under ``root`` -> the package's modules it imports, wherever
    the import stands (module level or inside a function); ``from a.b import c`` imports
    ``a.b.c`` when that is a module, else ``a.b``."""
    modules = {}
    for file in sorted((root / package).rglob("*.py")):
        parts = file.relative_to(root).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file

    def module_of(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, file in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets |= {module_of(f"{node.module}.{a.name}") for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {module_of(a.name) for a in node.names}
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other (strongly connected, more than one)."""
    order, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in order:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], order[target])
        if low[module] == order[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return cycles


def test_no_modules_import_each_other():
    graph = import_graph(REPO_ROOT)
    assert "sam2_ros.tracking.camera_session" in graph["sam2_ros.node.camera_pipeline"]
    assert not import_cycles(graph), "modules that import each other"


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    package = tmp_path / "sam2_ros"
    (package / "part").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "part" / "__init__.py").write_text("")
    (package / "part" / "a.py").write_text("from sam2_ros.part.b import run\n")
    (package / "part" / "b.py").write_text("def run():\n    from sam2_ros.part import a\n")
    (package / "part" / "c.py").write_text("import sam2_ros.part.a\n")
    assert import_cycles(import_graph(tmp_path)) == [["sam2_ros.part.a", "sam2_ros.part.b"]]
