"""The launch file builds, the default parameter file is complete and valid for the node, the
parameter reference (doc/parameters.md) equals the declarations, and the Fast DDS profile is one
Fast DDS accepts as the default for large images."""

from __future__ import annotations

import importlib.util
import os
import xml.etree.ElementTree as ET

import pytest
import rclpy
import yaml
from conftest import REPO_ROOT
from markdown_it import MarkdownIt
from rclpy.context import Context

from sam2_ros.commands.harness.node_client import local_ros_environment
from sam2_ros.parameters.declarations import BY_NAME
from sam2_ros.parameters.node_params import parse
from sam2_ros.paths import fastdds_profile

PARAMS_FILE = REPO_ROOT / "config" / "sam2.yaml"
LAUNCH_FILE = REPO_ROOT / "launch" / "sam2.launch.py"
PARAMETER_PAGE = REPO_ROOT / "doc" / "parameters.md"


def _file_values() -> dict:
    """The file's parameters by full name (nested keys joined with '.', as ROS 2 reads them)."""

    def flat(values: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in values.items():
            if isinstance(value, dict):
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    return flat(yaml.safe_load(PARAMS_FILE.read_text())["/**"]["ros__parameters"])


def test_parameter_file_sets_every_parameter_to_its_declared_default():
    values = _file_values()
    assert set(values) == set(BY_NAME), set(values) ^ set(BY_NAME)
    differ = {n: (v, BY_NAME[n].default) for n, v in values.items() if v != BY_NAME[n].default}
    assert not differ, f"config/sam2.yaml (value, declared default): {differ}"
    params = parse(values)
    assert [c.image_topic for c in params.cameras] == ["/camera/image_raw"]
    assert params.allow_random_weights is False


def test_parameter_file_loads_into_the_node():
    from sam2_ros.node.sam2_node import Sam2Node

    context = Context()
    rclpy.init(context=context, args=["--ros-args", "--params-file", str(PARAMS_FILE)])
    node = Sam2Node(context=context)
    try:
        for name, value in _file_values().items():
            assert node.get_parameter(name).value == value, name
    finally:
        node.destroy_node()
        context.try_shutdown()


def _reference_rows() -> dict[str, tuple[str, str]]:
    """doc/parameters.md's table as Markdown renders it: name -> (default, description)."""
    tokens = MarkdownIt("commonmark").enable("table").parse(PARAMETER_PAGE.read_text())
    cells = [
        "".join(child.content for child in token.children or ())
        for token in tokens
        if token.type == "inline" and token.level > 0
    ]
    header = cells.index("description")
    body = cells[header + 1 :]
    rows = [body[i : i + 3] for i in range(0, len(body), 3)]
    assert all(len(row) == 3 for row in rows), rows[-1]
    return {name: (default, description) for name, default, description in rows}


def test_the_parameter_reference_is_generated_from_the_declarations():
    """doc/parameters.md is what tools/parameter_reference.py makes of the declarations."""
    spec = importlib.util.spec_from_file_location(
        "parameter_reference", REPO_ROOT / "tools" / "parameter_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert PARAMETER_PAGE.read_text() == module.render(), (
        "doc/parameters.md differs from the declarations: "
        "run `python tools/parameter_reference.py --write`"
    )


def test_the_parameter_reference_shows_what_the_node_declares():
    """Every parameter of the reference has the name, default and description a running node
    declares (``ros2 param describe``), and the reference misses none."""
    from sam2_ros.node.sam2_node import Sam2Node

    rows = _reference_rows()
    assert set(rows) == set(BY_NAME), set(rows) ^ set(BY_NAME)
    context = Context()
    rclpy.init(context=context, args=[])
    node = Sam2Node(context=context)
    try:
        for name, (default, description) in rows.items():
            assert yaml.safe_load(default) == node.get_parameter(name).value, name
            assert description == node.describe_parameter(name).description, name
    finally:
        node.destroy_node()
        context.try_shutdown()


@pytest.mark.skipif(
    importlib.util.find_spec("launch_ros") is None,
    reason="launch_ros is not installed (it is not on PyPI; a ROS 2 install provides it)",
)
@pytest.mark.parametrize(
    "arguments",
    [
        {"image_topic": "/front/image_raw", "checkpoint": "/tmp/w.pt"},
        {"depth_topic": "/front/depth", "detection_topic": "/front/detections"},
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
        "depth_topic",
        "detection_topic",
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


def test_fastdds_profile_gives_shared_memory_room_for_hd_images():
    profile = fastdds_profile()
    assert profile is not None and profile.name == "fastdds_large_images.xml"
    ns = {"dds": "http://www.eprosima.com"}
    root = ET.parse(profile).getroot()
    participant = root.find("dds:profiles/dds:participant", ns)
    assert participant.get("is_default_profile") == "true"
    used = {t.text for t in participant.findall("dds:rtps/dds:userTransports/dds:transport_id", ns)}
    transports = {
        t.findtext("dds:transport_id", namespaces=ns): t
        for t in root.findall("dds:profiles/dds:transport_descriptors/dds:transport_descriptor", ns)
    }
    assert used == set(transports)
    kinds = {transports[t].findtext("dds:type", namespaces=ns): transports[t] for t in used}
    assert set(kinds) == {"SHM", "UDPv4"}  # UDP keeps other machines and profiles reachable
    one_1080p_rgb8 = 1920 * 1080 * 3
    assert int(kinds["SHM"].findtext("dds:segment_size", namespaces=ns)) >= 4 * one_1080p_rgb8


def test_local_ros_environment_keeps_a_profile_the_user_chose(monkeypatch):
    monkeypatch.delenv("FASTDDS_DEFAULT_PROFILES_FILE", raising=False)
    local_ros_environment()
    assert os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] == str(fastdds_profile())
    monkeypatch.setenv("FASTDDS_DEFAULT_PROFILES_FILE", "/etc/my_profile.xml")
    local_ros_environment()
    assert os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] == "/etc/my_profile.xml"
