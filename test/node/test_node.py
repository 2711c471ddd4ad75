"""The lifecycle node over real DDS: a node process driven through its lifecycle services."""

from __future__ import annotations

import time

import conftest
import numpy as np
import pytest
from conftest import Camera, add_prompt, start_node
from diagnostic_msgs.msg import DiagnosticArray
from sam2_ros.srv import RemoveObject
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from sam2_ros.commands.harness.node_client import NodeClient
from sam2_ros.messages.images import array_to_image_msg

NODE = "sam2_under_test"
MAX_OBJECTS = 3


def set_parameter(client: NodeClient, name: str, value) -> None:
    conftest.set_parameter(client, NODE, name, value)


@pytest.fixture(scope="module")
def node(client, tmp_path_factory):
    process = start_node(tmp_path_factory, NODE, image_size=256, max_objects=MAX_OBJECTS)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def camera(client, node):
    cam = Camera(client, NODE, "camera", "/camera/image_raw")
    assert client.transition(NODE, "configure"), node.log()
    assert client.transition(NODE, "activate"), node.log()
    return cam


@pytest.fixture(scope="module")
def diagnostics(client):
    return client.collect(DiagnosticArray, "/diagnostics")


def bad_frames(messages: list[DiagnosticArray]) -> int:
    """The node's latest count of frames it could not use."""
    for array in reversed(messages):
        for status in array.status:
            if status.name == f"{NODE}: camera":
                return int(next(v.value for v in status.values if v.key == "bad_frames"))
    return 0


def test_every_frame_gets_stamped_outputs(client, camera, scene):
    first = camera.step(scene.frame(0))
    assert first.objects == []
    answer = add_prompt(client, NODE, points=[scene.center("ball", 0)], labels=[1], label="ball")
    assert answer.success, answer.message
    assert answer.roi.width > 0 and 0.0 <= answer.score <= 1.0
    for index in range(1, 4):
        masks = camera.step(scene.frame(index), "bgr8" if index % 2 else "rgb8")
        header = masks.header
        assert header.frame_id == "camera_optical_frame" and header.stamp.nanosec == 500
        assert [o.object_id for o in masks.objects] == [answer.object_id]
        assert masks.objects[0].label == "ball" and masks.camera_name == "camera"
        mask = masks.objects[0].mask
        assert (mask.height, mask.width, mask.encoding) == (240, 320, "mono8")
        pixels = np.frombuffer(bytes(mask.data), np.uint8).reshape(240, 320)
        assert set(np.unique(pixels)) <= {0, 255}
        assert camera.occlusion.wait_for(lambda ms, h=header: any(m.header == h for m in ms))
        assert camera.pointers.wait_for(lambda ms, h=header: any(m.header == h for m in ms))
        assert camera.label_image.wait_for(lambda ms, h=header: any(m.header == h for m in ms))
        occlusion = next(m for m in camera.occlusion.messages if m.header == header)
        pointers = next(m for m in camera.pointers.messages if m.header == header)
        labels = next(m for m in camera.label_image.messages if m.header == header)
        assert list(occlusion.object_ids) == [answer.object_id]
        assert 0.0 <= occlusion.occlusion_scores[0] <= 1.0
        assert occlusion.occluded[0] == (occlusion.occlusion_scores[0] > 0.5)
        assert pointers.dim == 256 and len(pointers.data) == 256
        label_pixels = np.frombuffer(bytes(labels.data), np.uint16).reshape(240, 320)
        assert labels.encoding == "mono16"
        np.testing.assert_array_equal(label_pixels > 0, pixels > 0)
    for collector in (camera.masks, camera.occlusion, camera.pointers):
        stamps = [m.header.stamp.sec for m in collector.messages]
        assert len(stamps) == len(set(stamps)) == 4  # exactly one message per frame
    assert camera.overlay.wait_for(lambda ms: any(m.encoding == "bgr8" for m in ms))


def _bad_image(kind: str) -> Image:
    header = Header(frame_id="camera_optical_frame")
    if kind == "16UC1":
        return array_to_image_msg(np.zeros((240, 320), np.uint16), "16UC1", header)
    if kind == "32FC1":
        return array_to_image_msg(np.zeros((240, 320), np.float32), "32FC1", header)
    if kind == "truncated":
        msg = array_to_image_msg(np.zeros((240, 320, 3), np.uint8), "rgb8", header)
        msg.data = msg.data[: len(msg.data) // 2]
        return msg
    return Image(header=header, height=0, width=0, encoding="rgb8", step=0)


@pytest.mark.parametrize(
    ("kind", "logged"),
    [
        ("16UC1", "unsupported encoding '16UC1'"),
        ("32FC1", "unsupported encoding '32FC1'"),
        ("truncated", "image data is truncated"),
        ("empty", "empty image"),
    ],
)
def test_bad_images_are_reported_and_tracking_continues(
    client, node, camera, diagnostics, scene, kind, logged
):
    ids_before = [o.object_id for o in camera.step(scene.frame(4)).objects]
    assert ids_before
    bad_before = bad_frames(diagnostics.messages)
    camera.publish(_bad_image(kind))
    assert diagnostics.wait_for(lambda ms: bad_frames(ms) > bad_before)
    after = camera.step(scene.frame(5))
    assert [o.object_id for o in after.objects] == ids_before
    assert logged in node.log()


BAD_PROMPTS = [
    ({"points": [(float("nan"), 10.0)], "labels": [1]}, "NaN or infinity"),
    ({"points": [(float("inf"), 10.0)], "labels": [1]}, "NaN or infinity"),
    ({"points": [(500.0, 10.0)], "labels": [1]}, "outside the 320x240 image"),
    ({"points": [(10.0, 10.0), (20.0, 20.0)], "labels": [1]}, "2 points but 1 labels"),
    ({"points": [], "labels": []}, "empty prompt"),
    ({"use_box": True, "box": [50.0, 50.0, 40.0, 90.0]}, "degenerate"),
    ({"object_id": 77, "points": [(10.0, 10.0)], "labels": [1]}, "unknown object id 77"),
    ({"camera_name": "nope", "points": [(10.0, 10.0)], "labels": [1]}, "unknown camera 'nope'"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_PROMPTS)
def test_bad_prompts_are_refused_and_tracking_continues(client, camera, scene, fields, message):
    ids_before = [o.object_id for o in camera.step(scene.frame(6)).objects]
    answer = add_prompt(client, NODE, **fields)
    assert not answer.success
    assert message in answer.message
    assert [o.object_id for o in camera.step(scene.frame(7)).objects] == ids_before


def test_unknown_object_removal_is_refused(client, camera):
    request = RemoveObject.Request(object_id=55)
    answer = client.call(RemoveObject, f"/{NODE}/remove_object", request)
    assert not answer.success and "unknown object id 55" in answer.message


def test_more_than_max_objects_is_refused(client, camera, scene):
    camera.step(scene.frame(8))
    existing = len(camera.masks.messages[-1].objects)
    for _ in range(MAX_OBJECTS - existing):
        assert add_prompt(client, NODE, points=[scene.center("crate", 8)], labels=[1]).success
    answer = add_prompt(client, NODE, points=[scene.center("pillar", 8)], labels=[1])
    assert not answer.success and f"max_objects={MAX_OBJECTS}" in answer.message
    assert len(camera.step(scene.frame(9)).objects) == MAX_OBJECTS
    removed = client.call(
        RemoveObject, f"/{NODE}/remove_object", RemoveObject.Request(object_id=answer.object_id)
    )
    assert not removed.success  # the refused object was never created
    last = camera.masks.messages[-1].objects[-1].object_id
    removed = client.call(
        RemoveObject, f"/{NODE}/remove_object", RemoveObject.Request(object_id=last)
    )
    assert removed.success, removed.message
    assert len(camera.step(scene.frame(10)).objects) == MAX_OBJECTS - 1


def test_prompt_while_a_frame_is_in_the_model(client, camera, scene):
    before = {o.object_id for o in camera.step(scene.frame(11)).objects}
    frame = camera.message(scene.frame(12))
    camera.publish(frame)
    started = time.monotonic()
    answer = add_prompt(client, NODE, points=[scene.center("pillar", 12)], labels=[1])
    assert time.monotonic() - started < 2.0
    assert answer.success, answer.message
    camera.wait_masks(frame.header)
    after = {o.object_id for o in camera.step(scene.frame(13)).objects}
    assert after == before | {answer.object_id}


def test_reset_service_forgets_everything(client, camera, scene):
    assert len(camera.step(scene.frame(14)).objects) == MAX_OBJECTS
    answer = client.call(Trigger, f"/{NODE}/reset", Trigger.Request())
    assert answer.success, answer.message
    assert camera.step(scene.frame(15)).objects == []
    answer = add_prompt(client, NODE, points=[scene.center("ball", 15)], labels=[1])
    assert answer.success and "frame 0" in answer.message  # a fresh stream
    assert [o.object_id for o in camera.step(scene.frame(16)).objects] == [answer.object_id]


def test_deactivate_forgets_objects_and_services_refuse(client, node, camera, scene):
    if not camera.step(scene.frame(23)).objects:
        assert add_prompt(client, NODE, points=[scene.center("ball", 23)], labels=[1]).success
    assert camera.step(scene.frame(24)).objects
    assert client.transition(NODE, "deactivate")
    refused = add_prompt(client, NODE, points=[(10.0, 10.0)], labels=[1])
    assert not refused.success and "not active" in refused.message
    assert client.transition(NODE, "activate")
    assert camera.step(scene.frame(25)).objects == []


def test_configure_failures_and_cleanup_cycles(client, node, camera, scene):
    assert client.transition(NODE, "deactivate")
    assert client.transition(NODE, "cleanup")
    assert client.state(NODE) == "unconfigured"
    refused = client.call(Trigger, f"/{NODE}/reset", Trigger.Request())
    assert not refused.success and "unconfigured" in refused.message

    set_parameter(client, "allow_random_weights", False)
    assert not client.transition(NODE, "configure")
    assert client.state(NODE) == "unconfigured"
    assert "no checkpoint: expected" in node.log() and "download_checkpoints.sh" in node.log()
    set_parameter(client, "allow_random_weights", True)
    set_parameter(client, "image_size", 250)
    assert not client.transition(NODE, "configure")
    assert "image_size 250 must be 0 or a multiple of 32" in node.log()
    set_parameter(client, "image_size", "large")
    assert not client.transition(NODE, "configure")
    assert "parameter image_size must be a int" in node.log()
    set_parameter(client, "image_size", 256)

    rss = []
    for _ in range(5):
        assert client.transition(NODE, "configure"), node.log()[-2000:]
        rss.append(node.rss_bytes())
        assert client.transition(NODE, "cleanup")
    growth = rss[-1] - rss[0]
    assert growth < 40 * 1024 * 1024, [r // 2**20 for r in rss]
    assert client.transition(NODE, "configure")
    assert client.transition(NODE, "activate")
    assert camera.step(scene.frame(26)).objects == []
