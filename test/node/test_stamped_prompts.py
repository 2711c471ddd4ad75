"""A planner's prompt lands on the frame it was computed from, named by the image's header stamp.

Over DDS: ``AddPrompt`` with the stamp of an earlier published frame answers with that
``frame_stamp`` and the object's next masks are those of the run where the prompt arrived right
after that frame; stamps older than the history, or of no frame, are refused with the reason.
"""

from __future__ import annotations

import pytest
from builtin_interfaces.msg import Time
from conftest import Camera, add_prompt, mask_iou, mask_of, start_node

from sam2_ros.engine import StreamingPredictor

NODE = "sam2_stamped"
HISTORY = 5


@pytest.fixture(scope="module")
def camera(client, tmp_path_factory):
    node = start_node(tmp_path_factory, NODE, prompt_history_frames=HISTORY)
    cam = Camera(client, NODE, "camera", "/camera/image_raw")
    client.bring_up(NODE)
    yield cam
    node.stop()


def test_planner_prompt_lands_on_the_stamped_frame(client, camera, scene, small_model):
    headers = [camera.step(scene.frame(i)).header for i in range(4)]
    point = scene.center("ball", 1)
    answer = add_prompt(client, NODE, points=[point], labels=[1], stamp=headers[1].stamp)
    assert answer.success, answer.message
    assert answer.frame_stamp == headers[1].stamp
    masks = camera.step(scene.frame(4))
    reference = StreamingPredictor(model=small_model)
    for index in range(2):
        reference.track(scene.frame(index))
    timely = reference.add_prompt(points=[point], labels=[1])
    assert answer.score == pytest.approx(timely.score, abs=1e-4)
    for index in range(2, 5):
        expected = reference.track(scene.frame(index)).masks[0]
    assert mask_iou(mask_of(masks, answer.object_id), expected) >= 0.99


def test_nearest_frame_within_half_an_interval(client, camera, scene):
    header = camera.step(scene.frame(5)).header
    near = Time(sec=header.stamp.sec, nanosec=header.stamp.nanosec + 300_000_000)
    answer = add_prompt(client, NODE, points=[scene.center("crate", 5)], labels=[1], stamp=near)
    assert answer.success, answer.message
    assert answer.frame_stamp == header.stamp


@pytest.mark.parametrize(
    ("seconds", "reason"),
    [(-100, "no tracked frame is stamped"), (10_000, "no tracked frame is stamped")],
)
def test_stamps_of_no_held_frame_are_refused(client, camera, scene, seconds, reason):
    newest = camera.step(scene.frame(6)).header.stamp
    stamp = Time(sec=newest.sec + seconds, nanosec=newest.nanosec)
    before = [o.object_id for o in camera.masks.messages[-1].objects]
    answer = add_prompt(client, NODE, points=[(10.0, 10.0)], labels=[1], stamp=stamp)
    assert not answer.success
    assert reason in answer.message and "(oldest)" in answer.message
    assert f"{newest.sec}.{newest.nanosec:09d} (newest)" in answer.message
    assert [o.object_id for o in camera.step(scene.frame(7)).objects] == before


def test_frames_older_than_the_history_are_refused(client, camera, scene):
    headers = [camera.step(scene.frame(i)).header for i in range(8, 8 + HISTORY + 1)]
    answer = add_prompt(client, NODE, points=[(10.0, 10.0)], labels=[1], stamp=headers[0].stamp)
    assert not answer.success and f"the {HISTORY} frames held" in answer.message
    answer = add_prompt(client, NODE, points=[(10.0, 10.0)], labels=[1], stamp=headers[1].stamp)
    assert answer.success and answer.frame_stamp == headers[1].stamp
