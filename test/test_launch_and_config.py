"""The launch file builds, and the default parameter file is complete and valid for the node."""

from __future__ import annotations

import importlib.util

import pytest
import rclpy
import yaml
from conftest import REPO_ROOT
from rclpy.context import Context

from sam2_ros.params import PARAMETERS, parse

PARAMS_FILE = REPO_ROOT / "config" / "sam2.yaml"
LAUNCH_FILE = REPO_ROOT / "launch" / "sam2.launch.py"


def _file_values() -> dict:
    return yaml.safe_load(PARAMS_FILE.read_text())["/**"]["ros__parameters"]


def test_parameter_file_sets_every_parameter_with_a_valid_value():
    values = _file_values()
    assert set(values) == set(PARAMETERS), set(values) ^ set(PARAMETERS)
    params = parse(values)
    assert [c.image_topic for c in params.cameras] == ["/camera/image_raw"]
    assert params.allow_random_weights is False


def test_parameter_file_loads_into_the_node():
    from sam2_ros.node import Sam2Node

    context = Context()
    rclpy.init(context=context, args=["--ros-args", "--params-file", str(PARAMS_FILE)])
    node = Sam2Node(context=context)
    try:
        for name, value in _file_values().items():
            assert node.get_parameter(name).value == value, name
    finally:
        node.destroy_node()
        context.try_shutdown()


def test_every_parameter_is_documented_in_the_readme():
    readme = (REPO_ROOT / "README.md").read_text()
    missing = [name for name in PARAMETERS if f"`{name}`" not in readme]
    assert not missing


@pytest.mark.skipif(
    importlib.util.find_spec("launch_ros") is None,
    reason="launch_ros is not installed (it is not on PyPI; a ROS 2 install provides it)",
)
@pytest.mark.parametrize(
    "arguments",
    [
        {"image_topic": "/front/image_raw", "checkpoint": "/tmp/w.pt"},
        {
            "node_per_camera": "true",
            "camera_names": "front,rear",
            "image_topics": "/front/image_raw,/rear/image_raw",
        },
    ],
)
def test_launch_description_builds(arguments):
    from launch import LaunchContext
    from launch.actions import OpaqueFunction
    from launch_ros.actions import LifecycleNode

    spec = importlib.util.spec_from_file_location("sam2_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = {a.name for a in description.get_launch_arguments()}
    assert {
        "params_file",
        "namespace",
        "image_topic",
        "camera_name",
        "checkpoint",
        "device",
        "log_level",
        "node_per_camera",
    } <= declared
    context = LaunchContext()
    context.launch_configurations.update(
        {
            a.name: a.default_value[0].perform(context) if a.default_value else ""
            for a in description.get_launch_arguments()
            if a.name != "params_file"
        }
    )
    context.launch_configurations["params_file"] = str(PARAMS_FILE)
    context.launch_configurations.update(arguments)
    opaque = next(e for e in description.entities if isinstance(e, OpaqueFunction))
    nodes = [e for e in opaque.execute(context) if isinstance(e, LifecycleNode)]
    assert len(nodes) == (2 if arguments.get("node_per_camera") == "true" else 1)
