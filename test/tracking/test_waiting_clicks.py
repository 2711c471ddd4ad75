"""Clicks wait for the frame they were made on: the rule for when one falls due."""

from __future__ import annotations

from sam2_ros.tracking.clicks import Click, WaitingClicks


def test_a_click_falls_due_once_its_frame_or_a_newer_one_is_tracked():
    clicks = WaitingClicks()
    on_newest, on_5, on_9 = Click(1, 1, "rviz", None), Click(2, 2, "image", 5), Click(3, 3, "x", 9)
    for click in (on_newest, on_5, on_9):
        clicks.add(click)
    assert clicks.take_due(4) == [on_newest]  # frame 5 received but not tracked yet
    assert clicks.take_due(7) == [on_5]  # tracked, or skipped for a newer frame
    assert clicks.take_due(7) == []
    assert clicks.take_due(9) == [on_9]


def test_before_any_frame_every_click_is_due_and_clear_forgets_them():
    clicks = WaitingClicks()
    clicks.add(Click(1, 1, "image", 5))
    assert clicks.take_due(None) == [Click(1, 1, "image", 5)]
    clicks.add(Click(2, 2, "image", 5))
    clicks.clear()
    assert clicks.take_due(10) == []
