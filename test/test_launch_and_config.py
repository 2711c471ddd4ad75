"""The launch file builds, the default parameter file is complete and valid for the node, and the
Fast DDS profile is one Fast DDS accepts as the default for large images."""

from __future__ import annotations

import importlib.util
import os
import re
import xml.etree.ElementTree as ET

import pytest
import rclpy
import yaml
from conftest import REPO_ROOT
from rclpy.context import Context

from sam2_ros.commands.harness.node_client import local_ros_environment
from sam2_ros.parameters.declarations import BY_NAME
from sam2_ros.parameters.node_params import parse
from sam2_ros.paths import fastdds_profile

PARAMS_FILE = REPO_ROOT / "config" / "sam2.yaml"
LAUNCH_FILE = REPO_ROOT / "launch" / "sam2.launch.py"


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


def test_the_readme_table_lists_every_parameter_with_its_declared_default():
    readme = (REPO_ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([\w.]+)` \| `([^`]*)` \|", readme, flags=re.MULTILINE))
    assert set(rows) == set(BY_NAME), set(rows) ^ set(BY_NAME)
    shown = {name: yaml.safe_load(cell.replace('""', "''")) for name, cell in rows.items()}
    differ = {n: (v, BY_NAME[n].default) for n, v in shown.items() if v != BY_NAME[n].default}
    assert not differ, f"README parameter table (shown, declared default): {differ}"


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
