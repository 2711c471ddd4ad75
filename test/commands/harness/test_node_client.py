"""The node client's collector: finding a frame's message costs the same at frame 20,000 as at
frame 1, because a driver that waits for each frame keeps only the frames not yet taken."""

from __future__ import annotations

import threading

import pytest
from sam2_ros.msg import ObjectMasks
from std_msgs.msg import Header

from sam2_ros.commands.harness.node_client import Collector

FRAMES = 20_000


def _masks(index: int) -> ObjectMasks:
    header = Header(frame_id="camera")
    header.stamp.sec, header.stamp.nanosec = divmod(1_000_000_000 + index * 33_000_000, 10**9)
    return ObjectMasks(header=header, camera_name="camera")


def test_a_long_run_holds_only_frames_not_yet_taken():
    collector = Collector(keep=False)
    held = []
    for index in range(FRAMES):
        sent = _masks(index)
        collector.add(sent)
        assert collector.wait_stamp(sent.header, timeout=1) is sent
        held.append(len(collector))
    assert set(held) == {0} and collector.messages == []


def test_taking_a_frame_drops_the_frames_received_before_it():
    collector = Collector(keep=False)
    frames = [_masks(index) for index in range(5)]
    for frame in frames:
        collector.add(frame)
    assert collector.wait_stamp(frames[2].header, timeout=1) is frames[2]
    assert len(collector) == 2
    with pytest.raises(TimeoutError):
        collector.wait_stamp(frames[1].header, timeout=0.01)
    assert collector.wait_stamp(frames[4].header, timeout=1) is frames[4]


def test_keeping_collector_finds_any_frame_again_and_keeps_arrival_order():
    collector = Collector()
    frames = [_masks(index) for index in range(5)]
    for frame in frames:
        collector.add(frame)
    for frame in (frames[3], frames[0], frames[3]):
        assert collector.wait_stamp(frame.header, timeout=1) is frame
    assert collector.messages == frames


def test_waiting_returns_the_message_when_it_arrives():
    collector = Collector(keep=False)
    late = _masks(7)
    threading.Timer(0.05, collector.add, args=(late,)).start()
    assert collector.wait_stamp(late.header, timeout=10) is late
