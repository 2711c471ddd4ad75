"""The package's layers: pure parts import nothing of ROS, and imports run one way (pure parts <-
ROS messages <- the node <- the commands)."""

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
