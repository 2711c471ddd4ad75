"""Two cameras in one node (raw and compressed), and in-order processing of bursts."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Camera, add_prompt, start_node
from sam2_ros.srv import RemoveObject
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

NODE = "sam2_two_cameras"
BURST = 30


@pytest.fixture(scope="module")
def cameras(client, tmp_path_factory):
    node = start_node(
        tmp_path_factory,
        NODE,
        camera_names=["left", "right"],
        image_topics=["/left/image_raw", "/right/image_raw/compressed"],
        drop_frames=False,
        queue_size=BURST,
        publish_overlay=False,
    )
    left = Camera(client, NODE, "left", "/left/image_raw")
    right = Camera(client, NODE, "right", "/right/image_raw/compressed", compressed=True)
    assert client.transition(NODE, "configure"), node.log()
    assert client.transition(NODE, "activate"), node.log()
    yield node, left, right
    node.stop()


def test_cameras_keep_separate_objects_and_memories(client, cameras, scene):
    _, left, right = cameras
    assert left.step(scene.frame(0)).objects == []
    assert right.step(scene.frame(0)).objects == []
    on_left = add_prompt(
        client, NODE, camera_name="left", points=[scene.center("ball", 0)], labels=[1]
    )
    assert on_left.success, on_left.message
    on_right = add_prompt(
        client, NODE, camera_name="right", use_box=True, box=list(scene.box("crate", 0))
    )
    assert on_right.success, on_right.message
    on_default = add_prompt(client, NODE, points=[scene.center("pillar", 0)], labels=[1])
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
    removed = client.call(RemoveObject, f"/{NODE}/remove_object", request)
    assert removed.success, removed.message
    assert [o.object_id for o in left.step(scene.frame(2)).objects] == left_ids
    assert right.step(scene.frame(2)).objects == []


def test_corrupt_jpeg_is_reported_and_tracking_continues(client, cameras, scene):
    node, _, right = cameras
    right.step(scene.frame(3))
    assert add_prompt(
        client, NODE, camera_name="right", points=[scene.center("ball", 3)], labels=[1]
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
