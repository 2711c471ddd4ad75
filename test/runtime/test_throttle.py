"""One log line per kind of problem per period; other kinds still get through."""

from __future__ import annotations

from sam2_ros.runtime.throttle import ProblemThrottle


def test_a_kind_of_problem_is_logged_once_per_period():
    throttle = ProblemThrottle(5.0)
    assert throttle.allow("camera front: dropped a frame: 12 bytes", now=100.0)
    assert not throttle.allow("camera front: dropped a frame: 7 bytes", now=104.9)
    assert throttle.allow("camera front: NaN prompt refused", now=104.9)  # another kind
    assert throttle.allow("camera front: dropped a frame: 3 bytes", now=105.0)
