"""Projecting 3D points into a camera image (pinhole model of sensor_msgs/CameraInfo)."""

from __future__ import annotations

from collections.abc import Sequence


def project_to_pixel(
    k: Sequence[float], x: float, y: float, z: float
) -> tuple[float, float] | None:
    """Pixel ``(u, v)`` of a point in the camera's optical frame (z forward), using the row-major
    3x3 intrinsic matrix ``K``; None when the point is not in front of the camera."""
    if z <= 0.0:
        return None
    fx, skew, cx, _, fy, cy = k[0], k[1], k[2], k[3], k[4], k[5]
    return (fx * x + skew * y) / z + cx, fy * y / z + cy
