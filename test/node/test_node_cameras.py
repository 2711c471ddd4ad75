"""Two cameras in one node (raw and compressed), and in-order processing of bursts."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Camera, add_prompt, start_node, wait_log
from sam2_ros.srv import RemoveObject
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

BURST = 30


@pytest.fixture(scope="module", params=["torch", "onnxruntime", "openvino"])
def backend(request, tmp_path_factory) -> dict:
    """The node's backend parameters: torch, or ONNX Runtime or OpenVINO (fp32) on the session's
    128 px export."""
    if request.param == "torch":
        return {"backend": "torch"}
    onnx_dir = request.getfixturevalue("small_onnx_dir")
    return {"backend": request.param, "onnx_dir": str(onnx_dir)}


@pytest.fixture(scope="module")
def node_name(backend) -> str:
    return f"sam2_two_cameras_{backend['backend']}"


@pytest.fixture(scope="module")
def cameras(client, tmp_path_factory, backend, node_name, rosout):
    node = start_node(
        tmp_path_factory,
        node_name,
        **backend,
        camera_names=["left", "right"],
        image_topics=["/left/image_raw", "/right/image_raw/compressed"],
        drop_frames=False,
        queue_size=BURST,
        publish_overlay=False,
    )
    left = Camera(client, node_name, "left", "/left/image_raw")
    right = Camera(client, node_name, "right", "/right/image_raw/compressed", compressed=True)
    assert client.transition(node_name, "configure"), node.log()
    if backend["backend"] == "onnxruntime":  # the configure log names the provider and why
        wait_log(rosout, node_name, r"backend onnxruntime \(CPU; auto: tensorrt, cuda not offered")
    if backend["backend"] == "openvino":  # ... and the device and inference precision
        wait_log(rosout, node_name, r"in fp32 \(fp32: requested\), backend openvino \(CPU, f32; ")
    assert client.transition(node_name, "activate"), node.log()
    yield node, left, right
    node.stop()


def test_cameras_keep_separate_objects_and_memories(node_name, client, cameras, scene):
    _, left, right = cameras
    assert left.step(scene.frame(0)).objects == []
    assert right.step(scene.frame(0)).objects == []
    on_left = add_prompt(
        client, node_name, camera_name="left", points=[scene.center("ball", 0)], labels=[1]
    )
    assert on_left.success, on_left.message
    on_right = add_prompt(
        client, node_name, camera_name="right", use_box=True, box=list(scene.box("crate", 0))
    )
    assert on_right.success, on_right.message
    on_default = add_prompt(client, node_name, points=[scene.center("pillar", 0)], labels=[1])
    assert on_default.success and "camera left" in on_default.message  # '' = first camera
    left_ids = [o.object_id for o in left.step(scene.frame(1)).objects]
    right_masks = right.step(scene.frame(1))
    assert left_ids == [on_left.object_id, on_default.object_id]
    assert [o.object_id for o in right_masks.objects] == [on_right.object_id]
    assert right_masks.camera_name == "right" and right_masks.header.frame_id.startswith("right")
    assert right_masks.objects[0].mask.height == 240
    # ids are per camera: removing the right camera's object leaves the left one's alone
    assert on_right.object_id == on_left.object_id
    request = RemoveObject.Request(camera_name="right", object_id=on_right.object_id)
    removed = client.call(RemoveObject, f"/{node_name}/remove_object", request)
    assert removed.success, removed.message
    assert [o.object_id for o in left.step(scene.frame(2)).objects] == left_ids
    assert right.step(scene.frame(2)).objects == []


def test_corrupt_jpeg_is_reported_and_tracking_continues(node_name, client, cameras, scene):
    node, _, right = cameras
    right.step(scene.frame(3))
    assert add_prompt(
        client, node_name, camera_name="right", points=[scene.center("ball", 3)], labels=[1]
    ).success
    before = [o.object_id for o in right.step(scene.frame(3)).objects]
    assert before
    header = Header(frame_id="right_optical_frame")
    right.publish(CompressedImage(header=header, format="jpeg", data=b"\xff\xd8 not a jpeg"))
    after = right.step(scene.frame(4))  # in-order processing: the bad frame came first
    assert [o.object_id for o in after.objects] == before
    assert "cannot decode compressed image" in node.log()


def test_burst_without_dropping_gives_every_frame_in_order(cameras, scene):
    _, left, _ = cameras
    left.masks.clear()
    messages = [left.message(scene.frame(i)) for i in range(BURST)]
    for msg in messages:
        left.publish(msg)
    received = left.masks.wait_count(BURST)
    assert [m.header for m in received] == [m.header for m in messages]
    assert all(len(m.objects) == 2 for m in received)
    stamps = np.array([m.header.stamp.sec for m in received])
    assert np.all(np.diff(stamps) == 1)
