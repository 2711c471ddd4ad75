"""Objects in 3D: a mask and a registered depth image back-projected with the pinhole model.

Pure numpy, no ROS. Depth is in metres, registered to the colour image (same viewpoint and field
of view; possibly another resolution), ``K`` is the colour camera's 3x3 intrinsic matrix. Depth
outliers (flying pixels at edges, background seen through holes) are cut by a median/MAD test on
each pixel's depth along its viewing ray before the centre and the percentile box are computed.
The centre weights each pixel by the surface it covers (its footprint grows with depth squared),
so a surface tilted away from the camera is not pulled towards its nearer, denser-sampled side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: MAD of normally distributed values times this is their standard deviation.
MAD_TO_SIGMA = 1.4826
#: Depths further than this many (MAD-estimated) standard deviations from the median are cut...
OUTLIER_SIGMAS = 3.0
#: ...but never closer than this (metres): a flat surface facing the camera has a MAD of zero.
MIN_OUTLIER_BAND_M = 0.02
#: The box spans these percentiles of the inliers on each axis (robust to the last outliers).
BOX_PERCENTILES = (1.0, 99.0)
#: Large masks are measured on an even grid of about this many of their pixels (a 1280x720 mask
#: has up to 900k): for surfaces the estimates move by well under a millimetre, the cost by 10x+.
STATISTICS_SAMPLE = 8_000


#: Depth encodings the node lifts objects with: numpy dtype, and whether the values need the
#: ``depth_scale`` (metres per unit) applied.
DEPTH_ENCODINGS = {
    "16UC1": (np.uint16, True),
    "mono16": (np.uint16, True),
    "32FC1": (np.float32, False),
}


def depth_to_metres(pixels: np.ndarray, encoding: str, depth_scale: float) -> np.ndarray:
    """Depth values as ``float32`` metres (16-bit units times ``depth_scale``; 0 stays 0)."""
    _, scaled = DEPTH_ENCODINGS[encoding]
    if scaled:
        return np.multiply(pixels, np.float32(depth_scale), dtype=np.float32)
    return pixels.astype(np.float32, copy=False)


@dataclass(frozen=True)
class LiftedObject:
    """One object's visible surface in the camera's optical frame (x right, y down, z forward)."""

    valid: bool
    position: np.ndarray  # (3,) robust centre of the visible surface, metres
    bbox_center: np.ndarray  # (3,) axis-aligned box from percentiles
    bbox_size: np.ndarray  # (3,)
    num_points: int  # valid depth pixels used (after the outlier cut; on the grid of big masks)
    depth_coverage: float  # valid depth pixels / mask pixels
    points: np.ndarray  # (num_points, 3) float32, the pixels used

    @classmethod
    def invalid(cls, num_points: int = 0, depth_coverage: float = 0.0) -> LiftedObject:
        """No geometry (no depth, no intrinsics, or too few points)."""
        zero = np.zeros(3)
        return cls(
            False, zero, zero, zero, num_points, depth_coverage, np.zeros((0, 3), np.float32)
        )


def scaled_intrinsics(
    k: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]
) -> np.ndarray:
    """``K`` of an image of ``from_size`` (width, height) for the same field of view sampled at
    ``to_size`` (pixel centres at half-integers)."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    scaled = np.array(k, dtype=np.float64).reshape(3, 3).copy()
    scaled[0, 0] *= sx
    scaled[1, 1] *= sy
    scaled[0, 2] = (scaled[0, 2] + 0.5) * sx - 0.5
    scaled[1, 2] = (scaled[1, 2] + 0.5) * sy - 0.5
    return scaled


def mask_at(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A boolean mask resampled (nearest pixel centre) to ``size`` (width, height)."""
    height, width = mask.shape
    if (width, height) == size:
        return mask
    rows = np.minimum(((np.arange(size[1]) + 0.5) * height / size[1]).astype(int), height - 1)
    cols = np.minimum(((np.arange(size[0]) + 0.5) * width / size[0]).astype(int), width - 1)
    return mask[np.ix_(rows, cols)]


def valid_depth(depth_m: np.ndarray, depth_range: tuple[float, float]) -> np.ndarray:
    """Pixels whose depth is finite, non-zero and inside ``depth_range`` (metres)."""
    low, high = np.float32(depth_range[0]), np.float32(depth_range[1])
    with np.errstate(invalid="ignore"):  # NaN compares false: invalid too
        valid = depth_m >= low
        valid &= depth_m <= high
    if low <= 0.0:
        valid &= depth_m > 0.0
    return valid


def lift(
    mask: np.ndarray,
    depth_m: np.ndarray,
    k_depth: np.ndarray,
    depth_range: tuple[float, float],
    min_points: int,
) -> LiftedObject:
    """Back-project the mask's pixels with valid depth; cut depth outliers; centre and box.

    ``mask`` and ``depth_m`` have the same size (resample the mask with :func:`mask_at`) and
    ``k_depth`` is the intrinsic matrix at that size (:func:`scaled_intrinsics`). Masks larger
    than about
    STATISTICS_SAMPLE pixels are measured on an even grid of that many of their pixels (coverage
    is the grid's, ``num_points`` the grid pixels used).
    """
    stride = max(int(np.sqrt(np.count_nonzero(mask) / STATISTICS_SAMPLE)), 1)
    mask = mask[::stride, ::stride]
    mask_pixels = int(np.count_nonzero(mask))
    if mask_pixels == 0:
        return LiftedObject.invalid()
    box_rows, box_cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, left = box_rows[0], box_cols[0]
    box = np.s_[top : box_rows[-1] + 1, left : box_cols[-1] + 1]  # the mask's bounding box
    depth = depth_m[::stride, ::stride][box]
    rows, cols = np.nonzero(mask[box] & valid_depth(depth, depth_range))
    coverage = len(rows) / mask_pixels
    z = depth[rows, cols].astype(np.float64)
    if len(z):
        median = np.median(z)
        mad = np.median(np.abs(z - median))
        keep = np.abs(z - median) <= max(OUTLIER_SIGMAS * MAD_TO_SIGMA * mad, MIN_OUTLIER_BAND_M)
        rows, cols, z = rows[keep], cols[keep], z[keep]
    if len(z) < max(min_points, 1):
        return LiftedObject.invalid(len(z), coverage)
    rows, cols = (rows + top) * stride, (cols + left) * stride
    fx, fy, cx, cy = k_depth[0, 0], k_depth[1, 1], k_depth[0, 2], k_depth[1, 2]
    points = np.stack([(cols - cx) * z / fx, (rows - cy) * z / fy, z], axis=1)
    low, high = np.percentile(points, BOX_PERCENTILES, axis=0)
    return LiftedObject(
        valid=True,
        position=(points * (z * z)[:, None]).sum(axis=0) / (z * z).sum(),
        bbox_center=(low + high) / 2.0,
        bbox_size=high - low,
        num_points=len(z),
        depth_coverage=coverage,
        points=points.astype(np.float32),
    )


def lift_all(
    masks: np.ndarray,
    depth_m: np.ndarray,
    k: np.ndarray,
    k_size: tuple[int, int],
    depth_range: tuple[float, float],
    min_points: int,
) -> list[LiftedObject]:
    """Every mask of ``(N, H, W)`` (colour resolution) lifted with a registered depth image and
    the intrinsics ``k`` of an image of ``k_size`` (width, height)."""
    depth_size = (depth_m.shape[1], depth_m.shape[0])
    k_depth = scaled_intrinsics(k, k_size, depth_size)
    return [
        lift(mask_at(mask, depth_size), depth_m, k_depth, depth_range, min_points) for mask in masks
    ]


def subsample(points: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` points, evenly spread over the array."""
    if len(points) <= limit:
        return points
    return points[np.linspace(0, len(points) - 1, limit).astype(int)]
