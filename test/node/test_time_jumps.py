"""Time going backwards over DDS: a camera's stamps go back (a looped bag, a restarted camera) and
/clock jumps back under use_sim_time. Stamps name frames of the new timeline only, what waited for
old frames is dropped, objects carry on (or are reset when asked), the jump is logged once,
counted on /diagnostics and published as an event."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import add_prompt, start_node, wait_log
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sam2_ros.msg import ObjectMasks, TrackingEvent
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

from sam2_ros.engine import StreamingPredictor
from sam2_ros.messages.detections import box_detection
from sam2_ros.messages.images import array_to_image_msg
from sam2_ros.messages.results import mask_roi
from sam2_ros.node.camera_outputs import EVENTS_QOS

SECOND = 1_000_000_000
TOPIC, DETECTIONS = "/camera/image_raw", "/time_jumps/detections"
#: How ``ros2 bag play --clock`` publishes /clock: rclcpp's ClockQoS (rosbag2_transport's
#: player), best effort and keep last 1 (``rmw_qos_profile_sensor_data`` with depth 1).
CLOCK_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)


def _header(seconds: float) -> Header:
    header = Header(frame_id="camera_optical_frame")
    header.stamp.sec, header.stamp.nanosec = divmod(round(seconds * SECOND), SECOND)
    return header


def _values(status) -> dict[str, str]:
    return {v.key: v.value for v in status.values}


class Stream:
    """A camera publishing frames with chosen stamps, one at a time, each waited for."""

    def __init__(self, client, node: str) -> None:
        self.images = client.publisher(Image, TOPIC)
        self.masks = client.collect(ObjectMasks, f"/{node}/camera/masks", keep=False)
        self.events = client.collect(TrackingEvent, f"/{node}/camera/events", EVENTS_QOS)
        self.diagnostics = client.collect(DiagnosticArray, "/diagnostics")
        self.client = client

    def frame(self, rgb: np.ndarray, seconds: float) -> ObjectMasks:
        self.client.wait_for_subscriber(self.images)
        header = _header(seconds)
        self.images.publish(array_to_image_msg(rgb, "rgb8", header))
        return self.masks.wait_stamp(header)

    def camera_values(self, node: str, predicate) -> dict[str, str]:
        """The first /diagnostics values of the camera for which ``predicate`` holds."""

        def found(arrays):
            return next(
                (
                    _values(s)
                    for a in arrays
                    for s in a.status
                    if s.name == f"{node}: camera" and predicate(_values(s))
                ),
                None,
            )

        assert self.diagnostics.wait_for(lambda arrays: found(arrays) is not None, 30.0)
        return found(self.diagnostics.messages)


FIRST = [100 + i / 10 for i in range(20)]  # 100.0 .. 101.9
SECOND_PASS = [100 + i / 10 for i in range(6)]  # 100.0 .. 100.5, other images


@pytest.fixture(scope="module")
def jumped(client, tmp_path_factory, scene, rosout):
    """A node that tracked 100.0-101.9 (an object prompted on the first frame), then 100.0-100.5
    on other images."""
    node = "sam2_time_jumps"
    process = start_node(
        tmp_path_factory,
        node,
        detection_topics=[DETECTIONS],
        detection_confirm_hits=1,
        prompt_history_frames=40,
    )
    stream = Stream(client, node)
    detections = client.publisher(Detection2DArray, DETECTIONS)
    client.bring_up(node)
    before = []
    for index, seconds in enumerate(FIRST):
        before.append(stream.frame(scene.frame(index), seconds))
        if index == 0:
            prompt = add_prompt(client, node, points=[scene.center("ball", 0)], labels=[1])
            assert prompt.success, prompt.message
    after = [stream.frame(scene.frame(20 + i), s) for i, s in enumerate(SECOND_PASS)]
    yield {
        "node": node,
        "stream": stream,
        "detections": detections,
        "object": prompt.object_id,
        "before": before,
        "after": after,
    }
    process.stop()


def test_stamps_of_the_old_timeline_are_refused_with_the_jump(client, jumped):
    for seconds in (100.8, 101.5):
        answer = add_prompt(
            client,
            jumped["node"],
            points=[(100, 100)],
            labels=[1],
            stamp=_header(seconds).stamp,
        )
        assert not answer.success
        assert "went back from 101.900000000 to 100.000000000" in answer.message, answer.message


def test_a_prompt_lands_on_the_new_timelines_frame(client, jumped, scene, small_model):
    """Stamped 100.3 after the jump: the answer is SAM 2's for the second pass's image there,
    not the first pass's image that carried the same stamp."""
    point = scene.center("crate", 23)
    answer = add_prompt(
        client, jumped["node"], points=[point], labels=[1], stamp=_header(100.3).stamp
    )
    assert answer.success, answer.message
    assert (answer.frame_stamp.sec, answer.frame_stamp.nanosec) == (100, 300_000_000)
    expected = {}
    for index in (23, 3):  # the image shown at 100.3 after the jump, and before it
        reference = StreamingPredictor(model=small_model)
        reference.track(scene.frame(index))
        expected[index] = reference.add_prompt(points=[point], labels=[1])
        assert 0.0 < expected[index].mask.mean() < 1.0  # live weights: a real mask
    assert expected[23].score != pytest.approx(expected[3].score, abs=1e-4)
    assert answer.score == pytest.approx(expected[23].score, abs=1e-4)
    assert answer.roi == mask_roi(expected[23].mask)


def test_objects_prompted_before_the_jump_carry_on(jumped):
    obj = jumped["object"]
    for masks in jumped["before"][1:] + jumped["after"]:
        assert obj in [o.object_id for o in masks.objects]


def test_the_jump_is_logged_once_counted_and_an_event(jumped, rosout):
    node = jumped["node"]
    wait_log(rosout, node, r"camera camera: the stamps went back from 101\.900000000 to 100\.0+")
    lines = [
        log.msg
        for log in rosout.messages
        if log.name == node and log.msg.startswith("camera camera: the stamps went back")
    ]
    assert len(lines) == 1 and "objects kept" in lines[0]  # the warning, once per jump
    values = jumped["stream"].camera_values(node, lambda v: int(v["time_jumps"]) >= 1)
    assert values["time_jumps"] == "1"
    events = jumped["stream"].events
    assert events.wait_for(lambda msgs: any(m.kind == "time jump" for m in msgs), 10.0)
    (jump,) = [m for m in events.messages if m.kind == "time jump"]
    assert (jump.source, jump.detail) == ("camera", "objects kept")
    assert (jump.header.stamp.sec, jump.header.stamp.nanosec) == (101, 900_000_000)
    assert (jump.landed_on.sec, jump.landed_on.nanosec) == (100, 0)


def test_a_detection_of_the_old_timeline_starts_nothing(client, jumped, scene):
    node, stream = jumped["node"], jumped["stream"]
    objects = {o.object_id for o in stream.frame(scene.frame(26), 100.6).objects}
    box = scene.box("pillar", 15)
    message = Detection2DArray(
        header=_header(101.5), detections=[box_detection(box, "thing", 0.99)]
    )
    client.wait_for_subscriber(jumped["detections"])
    jumped["detections"].publish(message)
    values = stream.camera_values(
        node,
        lambda v: "stamped before the camera's stamps went back"
        in v.get("detections_dropped_by_reason", ""),
    )
    assert values["detections_started"] == "0" and values["detections_reconditioned"] == "0"
    masks = stream.frame(scene.frame(27), 100.7)
    assert {o.object_id for o in masks.objects} == objects
    assert not [m for m in stream.events.messages if m.source == "detector"]


def test_reset_on_time_jump_forgets_the_objects(client, tmp_path_factory, scene, rosout):
    node = "sam2_time_jump_reset"
    process = start_node(tmp_path_factory, node, reset_on_time_jump=True)
    try:
        stream = Stream(client, node)
        client.bring_up(node)
        stream.frame(scene.frame(0), 50.0)
        prompt = add_prompt(client, node, points=[scene.center("ball", 0)], labels=[1])
        assert prompt.success, prompt.message
        kept = stream.frame(scene.frame(1), 50.1)
        assert [o.object_id for o in kept.objects] == [prompt.object_id]
        reset = stream.frame(scene.frame(2), 10.0)  # a restarted camera's clock
        assert reset.objects == []
        line = wait_log(rosout, node, r"went back from 50\.100000000 to 10\.000000000.*")
        assert "objects forgotten (reset_on_time_jump)" in line.group(0)
        assert stream.events.wait_for(lambda msgs: any(m.kind == "time jump" for m in msgs), 10.0)
        (jump,) = [m for m in stream.events.messages if m.kind == "time jump"]
        assert jump.detail == "objects reset"
    finally:
        process.stop()


def test_clock_going_back_under_sim_time_keeps_masks_and_diagnostics(
    client, tmp_path_factory, scene
):
    """use_sim_time with /clock going back by seconds mid-stream (a looped ``ros2 bag play
    --clock``): masks keep coming, and so do /diagnostics (a timer on the node's clock)."""
    node = "sam2_clock_jump"
    process = start_node(tmp_path_factory, node, use_sim_time=True)
    try:
        stream = Stream(client, node)
        clock = client.publisher(Clock, "/clock", CLOCK_QOS)
        client.bring_up(node)
        client.wait_for_subscriber(clock)
        prompted = False
        for phase, start in enumerate((200.0, 190.0)):  # the clock and stamps go back 10 s
            for step in range(6):
                seconds = start + step * 0.5
                now = Clock()
                now.clock = _header(seconds).stamp
                clock.publish(now)
                masks = stream.frame(scene.frame(10 * phase + step), seconds)
                if not prompted:
                    answer = add_prompt(client, node, points=[scene.center("ball", 0)], labels=[1])
                    assert answer.success, answer.message
                    prompted = True
                elif phase == 1:
                    assert [o.object_id for o in masks.objects] == [answer.object_id]
            # the 1 Hz diagnostics timer runs on the node's clock, before and after it went back
            assert stream.diagnostics.wait_for(
                lambda arrays, start=start: any(
                    start <= a.header.stamp.sec < start + 10 for a in arrays
                ),
                10.0,
            ), f"no /diagnostics stamped on the clock from {start} s"
        values = stream.camera_values(node, lambda v: int(v["time_jumps"]) >= 1)
        assert values["time_jumps"] == "1"  # the stamps went back with the clock
    finally:
        process.stop()
