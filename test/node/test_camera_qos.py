"""Cameras as real drivers publish them, under default DDS settings (no Fast DDS profile anywhere).

Reliable HD cameras get masks (``image_reliability: auto`` subscribes reliably), best-effort small
cameras too; QoS mismatches and connected-but-silent cameras are reported in the log and on
``/diagnostics``; a best-effort viewer (rqt_image_view's SensorDataQoS) gets every compressed
overlay of an HD stream.
"""

from __future__ import annotations

import os
import time

import cv2
import numpy as np
import pytest
from conftest import start_node, wait_log
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sam2_ros.msg import ObjectMasks
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from sam2_ros.commands.harness.node_client import NodeProcess
from sam2_ros.commands.harness.synthetic import SyntheticScene
from sam2_ros.messages.images import JPEG_FORMAT_BGR8, array_to_image_msg

NODE = "sam2_qos"
STRICT_NODE = "sam2_qos_strict"
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
BEST_EFFORT = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
ARRIVAL_S = 5.0


@pytest.fixture(scope="module", autouse=True)
def default_dds():
    """No Fast DDS profile in this process or the nodes it starts."""
    saved = os.environ.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    yield
    if saved is not None:
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = saved


def _start(client, tmp_path_factory, name: str, params: dict) -> NodeProcess:
    node = start_node(tmp_path_factory, name, **params)
    client.bring_up(name)
    return node


@pytest.fixture(scope="module")
def node(client, tmp_path_factory):
    process = _start(
        client,
        tmp_path_factory,
        NODE,
        {
            "camera_names": ["hd", "small", "silent"],
            "image_topics": ["/hd/image_raw", "/small/image_raw", "/silent/image_raw"],
        },
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def strict_node(client, tmp_path_factory):
    process = _start(
        client,
        tmp_path_factory,
        STRICT_NODE,
        {"camera_names": ["strict"], "image_topics": ["/strict/image_raw"], "drop_frames": False},
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def diagnostics(client):
    return client.collect(DiagnosticArray, "/diagnostics")


def frame(width: int, height: int, stamp: int, name: str) -> Image:
    """A frame of the generated scene (it compresses like camera footage)."""
    pixels = SyntheticScene(width, height).frame(stamp % 50)
    header = Header(frame_id=f"{name}_optical_frame")
    header.stamp.sec = stamp
    return array_to_image_msg(pixels, "rgb8", header)


def first_masks_within(client, publisher, masks, width, height, name, seconds) -> float:
    """Publish frames every 0.2 s until masks come back; seconds it took."""
    client.wait_for_subscriber(publisher)
    started = time.monotonic()
    stamp = 1
    while time.monotonic() - started < seconds:
        publisher.publish(frame(width, height, stamp, name))
        if masks.wait_for(lambda ms: len(ms) > 0, timeout=0.2):
            return time.monotonic() - started
        stamp += 1
    raise AssertionError(f"no masks for {name} within {seconds} s ({stamp} frames published)")


def camera_status(messages, node: str, camera: str, level: int, text: str) -> bool:
    return any(
        status.name == f"{node}: {camera}" and status.level == level and text in status.message
        for array in messages
        for status in array.status
    )


def test_reliable_hd_camera_gets_masks_without_a_dds_profile(client, node):
    masks = client.collect(ObjectMasks, f"/{NODE}/hd/masks")
    publisher = client.publisher(Image, "/hd/image_raw", RELIABLE)
    first_masks_within(client, publisher, masks, 1280, 720, "hd", ARRIVAL_S)
    for stamp in range(50, 55):  # then every frame (best effort lost most of them here)
        msg = frame(1280, 720, stamp, "hd")
        publisher.publish(msg)
        masks.wait_stamp(msg.header, timeout=ARRIVAL_S)


def test_best_effort_small_camera_gets_masks(client, node):
    masks = client.collect(ObjectMasks, f"/{NODE}/small/masks")
    publisher = client.publisher(Image, "/small/image_raw", BEST_EFFORT)
    first_masks_within(client, publisher, masks, 480, 270, "small", ARRIVAL_S)


def test_connected_camera_without_frames_is_reported(client, node, rosout, diagnostics):
    publisher = client.publisher(Image, "/silent/image_raw", RELIABLE)
    client.wait_for_subscriber(publisher)
    connected = time.monotonic()
    found = wait_log(rosout, NODE, r"camera silent: no frame on /silent/image_raw for \d+ s")
    assert "FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA" in found.string
    assert "fastdds_large_images.xml" in found.string
    assert diagnostics.wait_for(
        lambda ms: camera_status(ms, NODE, "silent", DiagnosticStatus.WARN, "no frame on /silent")
    )
    assert time.monotonic() - connected < 10.0
    assert publisher  # kept alive (connected) until here


def test_best_effort_camera_against_reliable_subscription_is_reported(
    client, strict_node, rosout, diagnostics
):
    publisher = client.publisher(Image, "/strict/image_raw", qos_profile_sensor_data)
    appeared = time.monotonic()
    found = wait_log(rosout, STRICT_NODE, r"QoS mismatch on /strict/image_raw: .*", timeout=10.0)
    line = found.group(0)
    assert "offer reliability best effort" in line and "requests reliability reliable" in line
    assert "set drop_frames: true" in line
    assert diagnostics.wait_for(
        lambda ms: camera_status(ms, STRICT_NODE, "strict", DiagnosticStatus.WARN, line),
        timeout=10.0,
    )
    assert time.monotonic() - appeared < ARRIVAL_S
    assert publisher


def test_best_effort_viewer_gets_every_compressed_hd_overlay(client, node):
    overlays = client.collect(
        CompressedImage, f"/{NODE}/hd/overlay/compressed", qos_profile_sensor_data
    )
    masks = client.collect(ObjectMasks, f"/{NODE}/hd/masks")
    publisher = client.publisher(Image, "/hd/image_raw", RELIABLE)
    first_masks_within(client, publisher, masks, 1280, 720, "hd", ARRIVAL_S)
    stamp = 100

    def step() -> Header:
        nonlocal stamp
        stamp += 1
        msg = frame(1280, 720, stamp, "hd")
        publisher.publish(msg)
        masks.wait_stamp(msg.header)
        return msg.header

    while not overlays.messages:  # until the node has seen the viewer
        step()
        assert stamp < 150, "the node never published a compressed overlay"
    sent = [step() for _ in range(10)]

    def received(messages) -> bool:
        return all(any(m.header == header for m in messages) for header in sent)

    assert overlays.wait_for(received)
    for msg in overlays.messages:
        assert msg.format == JPEG_FORMAT_BGR8
        image = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (720, 1280, 3)
