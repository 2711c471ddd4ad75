"""Pairing colour frames with the nearest depth image, waiting a bounded time for late ones."""

from __future__ import annotations

import threading
import time

from sam2_ros.tracking.depth_pairing import DepthBuffer

MS = 1_000_000


def _buffer(*stamps_ms: int) -> DepthBuffer:
    buffer = DepthBuffer()
    for stamp in stamps_ms:
        buffer.add(stamp * MS, f"depth@{stamp}")
    return buffer


def test_nearest_within_the_tolerance():
    buffer = _buffer(100, 133, 166)
    assert buffer.pair(133 * MS, 20 * MS, 0.0) == "depth@133"
    assert buffer.pair(140 * MS, 20 * MS, 0.0) == "depth@133"
    assert buffer.pair(150 * MS, 20 * MS, 0.0) == "depth@166"  # 16 ms after, 17 ms before
    assert buffer.pair(250 * MS, 20 * MS, 0.0) is None


def test_a_later_depth_image_ends_the_wait_at_once():
    buffer = _buffer(100, 200)
    started = time.monotonic()
    assert buffer.pair(150 * MS, 20 * MS, 5.0) is None
    assert time.monotonic() - started < 1.0


def test_waits_for_a_depth_image_that_arrives_late():
    buffer = _buffer(100)
    late = threading.Timer(0.05, buffer.add, args=(133 * MS, "depth@133"))
    late.start()
    started = time.monotonic()
    assert buffer.pair(133 * MS, 20 * MS, 5.0) == "depth@133"
    assert time.monotonic() - started < 4.0
    late.join()


def test_gives_up_after_the_wait():
    buffer = _buffer(100)
    started = time.monotonic()
    assert buffer.pair(133 * MS, 20 * MS, 0.1) is None
    assert time.monotonic() - started >= 0.1
    buffer.clear()
    assert buffer.pair(100 * MS, 20 * MS, 0.0) is None


def test_depth_stamps_going_back_drop_the_old_timelines_images():
    """A stamp that comes again pairs with the depth image of its own timeline."""
    buffer = DepthBuffer(jump_tolerance=50 * MS)
    for stamp in (100, 133, 166):
        buffer.add(stamp * MS, f"first@{stamp}")
    buffer.add(140 * MS, "late by 26 ms")  # within the tolerance: the same timeline
    assert buffer.pair(133 * MS, 20 * MS, 0.0) == "first@133"
    assert not buffer.complete(200 * MS) and buffer.complete(166 * MS)
    buffer.add(100 * MS, "second@100")  # back by 66 ms: the old images go
    assert buffer.pair(100 * MS, 20 * MS, 0.0) == "second@100"
    assert buffer.pair(133 * MS, 20 * MS, 0.0) is None
    assert not buffer.complete(133 * MS)
