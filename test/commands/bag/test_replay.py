"""A live session of the node, recorded as ``ros2 bag record`` records it, replays frame for frame
through ``sam2-ros bag --replay``: the same frames tracked (skipped ones skipped), every change
applied where the node applied it, the same masks; a setting changed on purpose is reported, other
weights are refused."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator

import numpy as np
import pytest
from bag_files import Recorder, wait_for_subscriptions
from conftest import Camera, add_prompt, run_cli, start_node, wait_log
from geometry_msgs.msg import Point
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sam2_ros.msg import ObjectMasks, TrackingEvent, TrackingSession
from sam2_ros.srv import RemoveObject
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from sam2_ros.messages.detections import box_detection

pytestmark = pytest.mark.slow

RQT_CLICK_QOS = QoSProfile(
    depth=1000, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE
)


def record_and_activate(client, node: str, cameras: list[Camera], path) -> Recorder:
    """Record what replay needs of ``node`` (configured, not yet active) and its cameras, then
    activate it and wait until it listens to each camera beside the recorder."""
    topics = {f"/{node}/session": TrackingSession}
    for camera in cameras:
        topics |= {
            camera.publisher.topic_name: Image,
            f"/{node}/{camera.name}/events": TrackingEvent,
            f"/{node}/{camera.name}/masks": ObjectMasks,
        }
    recorder = Recorder(client.node, topics, path)
    assert client.transition(node, "activate")
    for camera in cameras:
        wait_for_subscriptions(camera.publisher, 2)  # the recorder's and the node's
    return recorder


def burst(camera: Camera, scene, start: int, count: int = 3) -> ObjectMasks:
    """Frames ``start``.. published back to back (the node skips some); the last one's masks."""
    messages = [camera.message(scene.frame(i)) for i in range(start, start + count)]
    for message in messages:
        camera.publish(message)
    return camera.wait_masks(messages[-1].header)


def finish(recorder: Recorder, collected: dict[str, object]) -> None:
    """Wait until the recorder has every message the test saw, then close the bag."""
    for topic, collector in collected.items():
        assert collector.wait_for(lambda msgs, t=topic: recorder.count(t) >= len(msgs), 30)
    recorder.close()


@contextlib.contextmanager
def recorded_camera(client, tmp_path_factory, node_name: str) -> Iterator[tuple]:
    """A one-camera node, recorded as replay needs it from its activation on: the recording's
    path, the camera and its events; once the block ends, the recorder holds every message the
    test saw and the node stops."""
    node = start_node(tmp_path_factory, node_name, max_objects=8)
    recording = tmp_path_factory.mktemp("recording") / node_name
    try:
        camera = Camera(client, node_name, "camera", "/camera/image_raw")
        events = client.collect(TrackingEvent, f"/{node_name}/camera/events")
        assert client.transition(node_name, "configure")
        recorder = record_and_activate(client, node_name, [camera], recording)
        yield recording, camera, events
        collected = {f"/{node_name}/camera/masks": camera.masks}
        finish(recorder, collected | {f"/{node_name}/camera/events": events})
    finally:
        node.stop()


def assert_reproduced(recording, camera: Camera, events, out) -> dict:
    """Replayed, the recording gives every recorded frame's masks exactly, every event applied;
    the camera's report."""
    code, report, output = replay(recording, out)
    assert code == 0, output
    camera_report = report["cameras"]["camera"]
    assert camera_report["frames_compared"] == len(camera.masks.messages)
    assert camera_report["lowest_mask_iou"] == 1.0 and not camera_report["first_difference"]
    assert camera_report["events_applied"] == len(events.messages)
    return camera_report


def replay(recording, out, *options: str) -> tuple[int, dict, str]:
    report = out.with_suffix(".json")
    done = run_cli(
        "bag", str(recording), str(out), "--replay", "--replay-report", str(report), *options
    )
    data = json.loads(report.read_text()) if report.exists() else {}
    return done.returncode, data, done.stdout + done.stderr


def assert_live(masks: ObjectMasks) -> None:
    assert masks.objects, "no object on the last frame"
    for obj in masks.objects:
        pixels = np.frombuffer(bytes(obj.mask.data), np.uint8)
        assert 0 < np.count_nonzero(pixels) < pixels.size, f"object {obj.object_id} empty or full"


@pytest.fixture(scope="module")
def live_session(client, rosout, tmp_path_factory, scene):
    """One camera driven faster than the node tracks, prompted every way, recorded."""
    node_name = "sam2_replayed"
    with recorded_camera(client, tmp_path_factory, node_name) as (recording, camera, events):
        first = burst(camera, scene, 0)
        assert add_prompt(client, node_name, points=[scene.center("ball", 2)], labels=[1]).success
        burst(camera, scene, 3)
        clicks = client.publisher(Point, "/camera/image_raw_mouse_left", RQT_CLICK_QOS)
        client.wait_for_subscriber(clicks)
        x, y = (round(v) for v in scene.center("crate", 5))
        clicks.publish(Point(x=float(x), y=float(y), z=0.0))
        wait_log(rosout, node_name, rf"image click on camera at \({x}, {y}\): object 2")
        burst(camera, scene, 6)
        late = add_prompt(
            client,
            node_name,
            points=[scene.center("pillar", 2)],
            labels=[1],
            stamp=first.header.stamp,
        )
        assert late.success and late.frame_stamp == first.header.stamp, late.message
        burst(camera, scene, 9)
        correction = [scene.center("ball", 11)]
        assert add_prompt(client, node_name, object_id=1, points=correction, labels=[0]).success
        burst(camera, scene, 12)
        removal = RemoveObject.Request(object_id=2)
        assert client.call(RemoveObject, f"/{node_name}/remove_object", removal).success
        burst(camera, scene, 15)
        box = [40.0, 40.0, 120.0, 110.0]
        assert add_prompt(client, node_name, box=box, use_box=True).success
        last = [burst(camera, scene, start) for start in (18, 21, 24)][-1]
        assert_live(last)
    return recording, camera, events


def test_replay_reproduces_every_recorded_frame(live_session, tmp_path):
    recording, camera, events = live_session
    tracked = len(camera.masks.messages)
    published = sum(1 for _ in range(tracked))
    assert published < 27, "the node tracked every frame: nothing was skipped"
    kinds = [(e.kind, e.source, e.detail) for e in events.messages]
    assert ("prompt", "image click", "new object") in kinds
    assert ("remove", "service", "") in kinds
    camera_report = assert_reproduced(recording, camera, events, tmp_path / "replayed")
    assert camera_report["objects"] == [1, 3, 4] or set(camera_report["objects"]) >= {1, 3, 4}


def test_a_setting_changed_on_purpose_is_reported(live_session, tmp_path):
    recording, _, _ = live_session
    code, report, output = replay(
        recording, tmp_path / "changed", "--set", "max_conditioning_frames=1"
    )
    assert code == 1, output
    assert report["differs"] and report["cameras"]["camera"]["first_difference"], output
    assert re.search(r"first difference: frame \d+", output), output


def test_other_weights_are_refused_before_any_output(live_session, tmp_path):
    recording, _, _ = live_session
    out = tmp_path / "refused"
    code, _, output = replay(recording, out, "--set", "seed=1")
    assert code == 1 and "weights fingerprint" in output and "no output written" in output
    assert not out.exists()


def test_a_detector_and_two_cameras_replay(client, tmp_path_factory, scene, tmp_path):
    node_name = "sam2_replayed_two"
    cameras = {"front": "/front/image_raw", "rear": "/rear/image_raw"}
    node = start_node(
        tmp_path_factory,
        node_name,
        camera_names=list(cameras),
        image_topics=list(cameras.values()),
        detection_topics=["/front/detections", ""],
        max_objects=8,
    )
    recording = tmp_path / "two"
    try:
        front = Camera(client, node_name, "front", cameras["front"])
        rear = Camera(client, node_name, "rear", cameras["rear"])
        detector = client.publisher(Detection2DArray, "/front/detections")
        events = {n: client.collect(TrackingEvent, f"/{node_name}/{n}/events") for n in cameras}
        assert client.transition(node_name, "configure")
        recorder = record_and_activate(client, node_name, [front, rear], recording)
        client.wait_for_subscriber(detector)
        for index in range(10):
            masks = front.step(scene.frame(index))
            rear.step(scene.frame(index + 20))
            # random weights' masks cover about the frame: so does the box that pairs with one
            whole = (0.0, 0.0, float(scene.width), float(scene.height))
            found = [box_detection(whole, "thing", 0.9, 0.0)]
            if index == 3:  # a one-frame false positive: tentative, then removed unconfirmed
                found.append(box_detection((2.0, 2.0, 22.0, 18.0), "ghost", 0.9, 0.0))
            detector.publish(Detection2DArray(header=masks.header, detections=found))
            if index == 1:
                prompt = {
                    "points": [scene.center("ball", 21)],
                    "labels": [1],
                    "camera_name": "rear",
                }
                assert add_prompt(client, node_name, **prompt).success
        last = front.step(scene.frame(10))
        rear.step(scene.frame(30))
        assert [o.label for o in last.objects] == ["thing"], "the detector's object was confirmed"
        assert_live(last)
        kinds = {(e.kind, e.source) for e in events["front"].messages}
        assert {("prompt", "detector"), ("published", "detector"), ("remove", "detector")} <= kinds
        collected = {f"/{node_name}/{n}/events": events[n] for n in cameras}
        collected |= {
            f"/{node_name}/front/masks": front.masks,
            f"/{node_name}/rear/masks": rear.masks,
        }
        finish(recorder, collected)
    finally:
        node.stop()
    code, report, output = replay(recording, tmp_path / "replayed")
    assert code == 0, output
    for name, camera in (("front", front), ("rear", rear)):
        assert report["cameras"][name]["frames_compared"] == len(camera.masks.messages), output
        assert report["cameras"][name]["lowest_mask_iou"] == 1.0, output


def test_the_onnxruntime_backend_replays(client, tmp_path_factory, scene, small_onnx_dir, tmp_path):
    node_name = "sam2_replayed_onnx"
    node = start_node(
        tmp_path_factory, node_name, backend="onnxruntime", onnx_dir=str(small_onnx_dir)
    )
    recording = tmp_path / "onnx"
    try:
        camera = Camera(client, node_name, "camera", "/camera/image_raw")
        events = client.collect(TrackingEvent, f"/{node_name}/camera/events")
        assert client.transition(node_name, "configure")
        recorder = record_and_activate(client, node_name, [camera], recording)
        burst(camera, scene, 0)
        assert add_prompt(client, node_name, points=[scene.center("ball", 2)], labels=[1]).success
        last = [burst(camera, scene, start) for start in (3, 6, 9)][-1]
        assert_live(last)
        masks = f"/{node_name}/camera/masks"
        finish(recorder, {masks: camera.masks, f"/{node_name}/camera/events": events})
    finally:
        node.stop()
    code, report, output = replay(recording, tmp_path / "replayed")
    assert code == 0, output
    assert report["cameras"]["camera"]["frames_compared"] == len(camera.masks.messages)


def test_objects_loaded_on_activate_reach_the_events_and_replay(
    client, tmp_path_factory, scene, tmp_path
):
    """The node saves its objects when it deactivates and loads them when it activates again:
    the load is an event of activation itself, recorded and replayed (from the same file)."""
    node_name = "sam2_replayed_load"
    objects_dir = tmp_path / "objects"
    node = start_node(
        tmp_path_factory,
        node_name,
        objects_dir=str(objects_dir),
        save_objects_on_deactivate="kept",
        load_objects_on_activate="kept",
    )
    recording = tmp_path / "load"
    try:
        camera = Camera(client, node_name, "camera", "/camera/image_raw")
        events = client.collect(TrackingEvent, f"/{node_name}/camera/events")
        client.bring_up(node_name)
        camera.step(scene.frame(0))
        assert add_prompt(client, node_name, points=[scene.center("ball", 0)], labels=[1]).success
        camera.step(scene.frame(1))
        assert client.transition(node_name, "deactivate")  # saves "kept"
        assert (objects_dir / "kept.camera.safetensors").is_file()
        camera.masks.clear()  # the recording starts here
        events.clear()
        recorder = record_and_activate(client, node_name, [camera], recording)  # loads "kept"
        loaded = events.wait_for(lambda msgs: any(m.kind == "load" for m in msgs), 30)
        assert loaded, [(m.kind, m.source) for m in events.messages]
        load = next(m for m in events.messages if m.kind == "load")
        assert (load.source, list(load.object_ids)) == ("objects file", [1])
        last = [camera.step(scene.frame(i)) for i in range(2, 6)][-1]
        assert [o.object_id for o in last.objects] == [1]
        assert_live(last)
        masks = f"/{node_name}/camera/masks"
        finish(recorder, {masks: camera.masks, f"/{node_name}/camera/events": events})
    finally:
        node.stop()
    code, report, output = replay(recording, tmp_path / "replayed")
    assert code == 0, output
    assert report["cameras"]["camera"]["frames_compared"] == 4


def test_a_session_whose_camera_stamps_went_back_replays(
    client, rosout, tmp_path_factory, scene, tmp_path
):
    """The camera restarts mid-session (its stamps start again, on other images): the frames with
    repeated stamps are kept apart, the jump is an event the replay applies, a prompt stamped on
    the new timeline lands there in both."""
    node_name = "sam2_replayed_jump"
    with recorded_camera(client, tmp_path_factory, node_name) as (recording, camera, events):
        burst(camera, scene, 0)
        assert add_prompt(client, node_name, points=[scene.center("ball", 2)], labels=[1]).success
        burst(camera, scene, 3)
        burst(camera, scene, 6)
        after = client.collect(ObjectMasks, f"/{node_name}/camera/masks", keep=False)
        camera.stamp = 0  # the camera restarts: its stamps start again
        messages = [camera.message(scene.frame(20 + i)) for i in range(6)]
        for message in messages[:3]:
            camera.publish(message)
            again = after.wait_stamp(message.header)
        assert [o.object_id for o in again.objects] == [1]  # carried over the jump
        wait_log(rosout, node_name, r"camera camera: the stamps went back from 1009\.")
        late = add_prompt(
            client,
            node_name,
            points=[scene.center("crate", 21)],
            labels=[1],
            stamp=messages[1].header.stamp,
        )
        assert late.success and late.frame_stamp == messages[1].header.stamp, late.message
        for message in messages[3:]:
            camera.publish(message)
            last = after.wait_stamp(message.header)
        assert_live(last)
    assert [e.kind for e in events.messages].count("time jump") == 1
    assert_reproduced(recording, camera, events, tmp_path / "replayed")
