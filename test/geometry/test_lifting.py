"""Lifting masks into 3D on synthetic scenes with known geometry (640x480, known K).

Each scene is rendered by ray casting: a rectangle facing the camera, and a rectangle tilted 40
degrees about the vertical axis, in front of a wall. The object's mask is the true one; 20% of its
depth pixels are holes and 5% flying pixels (depths between the object and the wall).
"""

from __future__ import annotations

import numpy as np
import pytest

from sam2_ros.geometry.lifting import depth_to_metres, lift, mask_at, scaled_intrinsics, subsample

WIDTH, HEIGHT = 640, 480
K = np.array([[525.0, 0.0, 319.5], [0.0, 525.0, 239.5], [0.0, 0.0, 1.0]])
WALL_M = 4.0
RANGE = (0.1, 10.0)


def render(plane_center, tilt_deg, half_extent, width=WIDTH, height=HEIGHT):
    """Depth (metres) of a rectangle (centre, rotation about y, half width/height) before a wall,
    and its mask, seen through K scaled to ``width`` x ``height``."""
    k = scaled_intrinsics(K, (WIDTH, HEIGHT), (width, height))
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    rays = np.stack(
        [(cols - k[0, 2]) / k[0, 0], (rows - k[1, 2]) / k[1, 1], np.ones_like(cols, float)], -1
    )
    angle = np.radians(tilt_deg)
    u_axis = np.array([np.cos(angle), 0.0, np.sin(angle)])  # in-plane horizontal direction
    v_axis = np.array([0.0, 1.0, 0.0])
    normal = np.cross(u_axis, v_axis)
    center = np.asarray(plane_center, float)
    t = (center @ normal) / (rays @ normal)
    hits = rays * t[..., None]
    local = hits - center
    inside = (np.abs(local @ u_axis) <= half_extent[0]) & (np.abs(local @ v_axis) <= half_extent[1])
    mask = inside & (t > 0)
    depth = np.where(mask, hits[..., 2], WALL_M)
    return depth, mask


def truth(plane_center, tilt_deg, half_extent):
    angle = np.radians(tilt_deg)
    size = np.array(
        [2 * half_extent[0] * np.cos(angle), 2 * half_extent[1], 2 * half_extent[0] * np.sin(angle)]
    )
    return np.asarray(plane_center, float), size


def corrupt(depth, mask, rng):
    """20% holes (0) and 5% flying pixels inside the mask."""
    depth = depth.copy()
    rows, cols = np.nonzero(mask)
    order = rng.permutation(len(rows))
    holes = order[: len(rows) // 5]
    flying = order[len(rows) // 5 : len(rows) // 5 + len(rows) // 20]
    depth[rows[holes], cols[holes]] = 0.0
    near = depth[rows[flying], cols[flying]]
    depth[rows[flying], cols[flying]] = near + rng.uniform(0.0, 1.0, len(flying)) * (WALL_M - near)
    return depth


SCENES = {
    "box face": ((-0.05, 0.025, 1.5), 0.0, (0.15, 0.125)),
    "tilted plane": ((0.1, 0.0, 2.0), 40.0, (0.25, 0.2)),
}


def as_encoded(depth_m: np.ndarray, encoding: str) -> np.ndarray:
    """Depth as a camera driver sends it, decoded back the way the node does."""
    if encoding == "16UC1":
        raw = np.round(depth_m * 1000.0).astype(np.uint16)
        return depth_to_metres(raw, "16UC1", 0.001)
    return depth_to_metres(depth_m.astype(np.float32), "32FC1", 0.001)


@pytest.mark.parametrize("scene", list(SCENES))
@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
@pytest.mark.parametrize("scale", [1, 2])  # depth at full and at half resolution
def test_position_and_box_of_known_geometry(scene, encoding, scale):
    center, tilt, half = SCENES[scene]
    width, height = WIDTH // scale, HEIGHT // scale
    depth, _ = render(center, tilt, half, width, height)
    _, mask = render(center, tilt, half)  # the colour camera's mask, full resolution
    depth = corrupt(depth, mask_at(mask, (width, height)), np.random.default_rng(7))
    depth = as_encoded(depth, encoding)
    k = scaled_intrinsics(K, (WIDTH, HEIGHT), (width, height))
    lifted = lift(mask_at(mask, (width, height)), depth, k, RANGE, min_points=20)
    position, size = truth(center, tilt, half)
    assert lifted.valid
    np.testing.assert_allclose(lifted.position, position, atol=0.01)
    np.testing.assert_allclose(lifted.bbox_size, size, rtol=0.05, atol=0.01)
    assert lifted.depth_coverage == pytest.approx(0.8, abs=0.01)
    assert lifted.num_points == len(lifted.points) < mask_at(mask, (width, height)).sum()


def test_no_mask_no_depth_or_too_few_points_are_invalid():
    depth, mask = render(*SCENES["box face"])
    assert not lift(np.zeros_like(mask), depth, K, RANGE, 20).valid
    holes = np.zeros_like(depth)
    lifted = lift(mask, holes, K, RANGE, 20)
    assert not lifted.valid and lifted.depth_coverage == 0.0 and lifted.num_points == 0
    assert not np.any(lifted.position) and not np.any(lifted.bbox_size)
    tiny = np.zeros_like(mask)
    tiny[240, 300:310] = True
    assert lift(tiny, depth, K, RANGE, 20).num_points == 10
    assert not lift(tiny, depth, K, RANGE, 20).valid


def test_invalid_depths_are_ignored():
    depth, mask = render(*SCENES["box face"])
    bad = depth.copy()
    rows, cols = np.nonzero(mask)
    bad[rows[::4], cols[::4]] = np.nan
    bad[rows[1::4], cols[1::4]] = np.inf
    bad[rows[2::4], cols[2::4]] = 50.0  # beyond depth_range
    lifted = lift(mask, bad, K, RANGE, 20)
    assert lifted.depth_coverage == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(lifted.position[2], 1.5, atol=1e-6)


def test_intrinsics_follow_the_depth_resolution():
    k = scaled_intrinsics(K, (640, 480), (320, 240))
    np.testing.assert_allclose(k, [[262.5, 0, 159.5], [0, 262.5, 119.5], [0, 0, 1]])


def test_points_are_subsampled_evenly():
    points = np.arange(30, dtype=np.float32).reshape(10, 3)
    assert subsample(points, 20) is points
    np.testing.assert_array_equal(subsample(points, 4)[:, 0], [0, 9, 18, 27])
