"""Naming tracked frames by their header stamps."""

from __future__ import annotations

import pytest
from builtin_interfaces.msg import Time

from sam2_ros.tracking.frame_stamps import StampNotHeldError, TrackedFrames, stamp_ns, stamp_text

SECOND = 1_000_000_000


def _frames(size: int, count: int, step: int = SECOND // 10) -> TrackedFrames:
    frames = TrackedFrames(size)
    for index in range(count):
        frames.add(100 * SECOND + index * step, index)
    return frames


def test_stamps_convert_both_ways():
    assert stamp_ns(Time(sec=12, nanosec=5)) == 12 * SECOND + 5
    assert stamp_text(12 * SECOND + 5) == "12.000000005"


def test_exact_and_nearest_within_half_the_median_interval():
    frames = _frames(5, 8)  # holds frames 3..7, 0.1 s apart
    assert frames.find(100 * SECOND + 5 * SECOND // 10) == 5
    assert frames.find(100 * SECOND + 5 * SECOND // 10 + SECOND // 20) == 5  # exactly half
    assert frames.stamp_of(7) == 100 * SECOND + 7 * SECOND // 10
    assert frames.stamp_of(2) is None


@pytest.mark.parametrize(
    "stamp",
    [
        100 * SECOND + 2 * SECOND // 10,  # forgotten: older than the 5 held
        100 * SECOND + 8 * SECOND // 10,  # not tracked yet
        100 * SECOND + 7 * SECOND // 10 + 6 * SECOND // 100,  # past the newest by > half
    ],
)
def test_stamps_of_no_held_frame_name_the_frames_held(stamp):
    with pytest.raises(StampNotHeldError, match=r"100\.300000000 \(oldest\) to 100\.700000000"):
        _frames(5, 8).find(stamp)


def test_newest_at_or_before_a_stamp():
    frames = _frames(5, 8)
    assert frames.at_or_before(None) == 7
    assert frames.at_or_before(100 * SECOND + 45 * SECOND // 100) == 4
    assert frames.at_or_before(100 * SECOND) is None
    assert frames.newest_stamp() == 100 * SECOND + 7 * SECOND // 10
    assert frames.oldest_stamp() == 100 * SECOND + 3 * SECOND // 10


def test_a_single_frame_matches_only_exactly_and_clear_forgets():
    frames = _frames(0, 3)  # history 0: the newest frame only
    assert frames.find(100 * SECOND + 2 * SECOND // 10) == 2
    with pytest.raises(StampNotHeldError):
        frames.find(100 * SECOND + 2 * SECOND // 10 + 1)
    frames.clear()
    with pytest.raises(StampNotHeldError, match="no frame tracked yet"):
        frames.find(0)
    assert frames.newest_stamp() is None and frames.oldest_stamp() is None


def test_a_frame_stamped_back_beyond_the_tolerance_is_a_jump():
    frames = TrackedFrames(30, jump_tolerance=SECOND // 10)
    for index in range(20):  # 100.0 .. 101.9
        frames.add(100 * SECOND + index * SECOND // 10, index)
    assert frames.jump_back(101 * SECOND + 9 * SECOND // 10) is None  # the newest again
    assert frames.jump_back(101 * SECOND + 8 * SECOND // 10) is None  # within the tolerance
    jump = frames.jump_back(100 * SECOND)
    assert (jump.from_stamp, jump.to_stamp) == (101 * SECOND + 9 * SECOND // 10, 100 * SECOND)
    assert str(jump) == "the stamps went back from 101.900000000 to 100.000000000"
    assert frames.timeline == 0 and frames.find(100 * SECOND + 3 * SECOND // 10) == 3


def test_after_a_jump_stamps_name_only_frames_of_the_new_timeline():
    frames = TrackedFrames(30, jump_tolerance=SECOND // 10)
    for index in range(20):
        frames.add(100 * SECOND + index * SECOND // 10, index)
    frames.start_timeline(frames.jump_back(100 * SECOND))
    for index in range(6):  # 100.0 .. 100.5, other images
        frames.add(100 * SECOND + index * SECOND // 10, 20 + index)
    assert frames.timeline == 1
    assert frames.find(100 * SECOND + 3 * SECOND // 10) == 23  # not the first pass's 3
    for stamp in (100 * SECOND + 8 * SECOND // 10, 101 * SECOND + 5 * SECOND // 10):
        with pytest.raises(StampNotHeldError, match=r"went back from 101\.900000000 to 100\.0000"):
            frames.find(stamp)
    assert frames.at_or_before(101 * SECOND + 5 * SECOND // 10) == 25
    frames.clear()  # objects forgotten: the camera's timeline goes on, so does its jump rule
    assert frames.last_jump is None and frames.newest_stamp() is None
    assert frames.jump_back(100 * SECOND + 5 * SECOND // 10) is None
    assert frames.jump_back(100 * SECOND + 3 * SECOND // 10) is not None


def test_no_tolerance_makes_any_older_frame_a_jump():
    frames = TrackedFrames(5)
    frames.add(10 * SECOND, 0)
    assert frames.jump_back(10 * SECOND) is None
    assert frames.jump_back(10 * SECOND - 1) is not None
