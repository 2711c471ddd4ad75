"""Two objects on one thing: a detector's duplicate start, or a mask that drifted onto another
object. When two published objects' masks overlap at IoU ``iou`` or more on ``frames``
consecutive tracked frames, one of them is removed: an object started by detections before a
clicked one, else the younger (the higher id); two clicked objects are both kept. As SAM 3's
``_suppress_overlapping_based_on_recent_occlusion`` removes one of two overlapping masklets. A
tentative object (not published yet) whose mask overlaps a published one that much is a
duplicate start and is removed at once, before it is ever published (as SAM2MOT checks a new
object against the regions already tracked).

A pure function of (the frame's masks, which objects the detector started and which are
tentative, the streaks so far, settings) returning the removals and the new streaks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: Mask pixels (about) compared per object: a regular subsample, so that the cost does not grow
#: with the image (the IoU of masks tens of pixels across is still measured to about 1%).
SAMPLE_PIXELS = 20_000


@dataclass(frozen=True)
class DuplicateSettings:
    """The ``duplicate_*`` parameters of the node."""

    iou: float = 0.7
    frames: int = 5  # 0: never remove


@dataclass(frozen=True)
class Duplicate:
    """An object removed because another one covers the same region."""

    removed: int
    kept: int
    iou: float  # on the frame it was removed
    frames: int  # consecutive frames the two overlapped (0: the removed one was tentative)


@dataclass
class DuplicatePlan:
    """What one tracked frame asks for: objects to remove, and the pairs overlapping so far."""

    remove: list[Duplicate] = field(default_factory=list)
    streaks: dict[tuple[int, int], int] = field(default_factory=dict)


def mask_ious(masks: np.ndarray) -> np.ndarray:
    """``(N, N)`` IoU of ``(N, H, W)`` boolean masks, measured on a regular subsample of about
    :data:`SAMPLE_PIXELS` pixels (0 where both are empty)."""
    count, height, width = masks.shape
    stride = max(1, math.ceil(math.sqrt(height * width / SAMPLE_PIXELS)))
    bits = np.packbits(masks[:, ::stride, ::stride].reshape(count, -1), axis=1)
    # counting bits, not a float product: BLAS would start a thread pool of its own beside
    # torch's on the tracking thread (see sam2_ros.runtime.worker)
    inter = np.bitwise_count(bits[:, None, :] & bits[None, :, :]).sum(axis=-1, dtype=np.int64)
    areas = np.diag(inter)
    union = areas[:, None] + areas[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def find_duplicates(
    object_ids: Sequence[int],
    masks: np.ndarray,
    from_detections: set[int],
    tentative: set[int],
    streaks: dict[tuple[int, int], int],
    settings: DuplicateSettings,
) -> DuplicatePlan:
    """The plan for one tracked frame: ``masks[i]`` is object ``object_ids[i]``'s (every tracked
    object), ``tentative`` those not published yet, ``streaks`` the consecutive frames each pair
    of published objects (lower id first) has overlapped until the frame before."""
    if settings.frames <= 0 or len(object_ids) < 2:
        return DuplicatePlan()
    ious = mask_ious(masks)
    plan = DuplicatePlan()
    removed: set[int] = set()
    for i, j in zip(*np.triu_indices(len(object_ids), k=1), strict=True):
        if ious[i, j] < settings.iou:
            continue
        first, second = sorted((object_ids[i], object_ids[j]))
        early = [o for o in (first, second) if o in tentative]
        if len(early) == 1:  # a new object on a published one's region: never published
            kept = second if early[0] == first else first
            if early[0] not in removed:
                plan.remove.append(Duplicate(early[0], kept, float(ious[i, j]), 0))
                removed.add(early[0])
        elif not early:
            plan.streaks[(first, second)] = streaks.get((first, second), 0) + 1
    index = {object_id: row for row, object_id in enumerate(object_ids)}
    for (first, second), frames in sorted(plan.streaks.items()):
        if frames < settings.frames or first in removed or second in removed:
            continue
        victim = _which_goes(first, second, from_detections)
        if victim is not None:
            kept = second if victim == first else first
            iou = float(ious[index[first], index[second]])
            plan.remove.append(Duplicate(victim, kept, iou, frames))
            removed.add(victim)
    plan.streaks = {p: n for p, n in plan.streaks.items() if not removed & set(p)}
    return plan


def duplicate_text(duplicate: Duplicate) -> str:
    """A removal in words (for the log)."""
    if duplicate.frames == 0:
        return (
            f"removed new object {duplicate.removed} before publishing it: its mask covers "
            f"object {duplicate.kept}'s (IoU {duplicate.iou:.2f})"
        )
    return (
        f"removed object {duplicate.removed} as a duplicate of object {duplicate.kept}: their "
        f"masks overlapped on {duplicate.frames} consecutive frames (IoU {duplicate.iou:.2f} now)"
    )


def _which_goes(first: int, second: int, from_detections: set[int]) -> int | None:
    """Of two overlapping objects (``first`` the older), the one to remove (None: both were
    clicked)."""
    started = [object_id for object_id in (first, second) if object_id in from_detections]
    if not started:
        return None
    return started[-1]  # the only detector object, or the younger of two
