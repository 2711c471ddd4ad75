"""Projecting points into a camera image."""

from __future__ import annotations

import pytest

from sam2_ros.geometry.projection import project_to_pixel


def test_projection_is_the_pinhole_formula():
    k = [500.0, 0.0, 320.0, 0.0, 480.0, 240.0, 0.0, 0.0, 1.0]
    assert project_to_pixel(k, 0.5, -0.25, 2.0) == pytest.approx((445.0, 180.0))
    assert project_to_pixel(k, 0.0, 0.0, -1.0) is None
