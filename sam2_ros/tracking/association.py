"""Detections against tracked objects on one frame: which detection is which object, which
objects to re-prompt, which detections start objects, which new objects are confirmed or
removed, which detector-made objects to forget.

A pure function of (detections, the objects' masks and mask boxes on the detection's frame,
settings) returning an :class:`AssociationPlan` that the caller carries out (prompts and
removals), as SAM 3's video pipeline joins its detector and tracker (``_associate_det_trk``,
``_process_hotstart``, ``_recondition_masklets``):

* every detection is checked first; a box that is not finite, has no area, lies off the image or
  is rotated is refused with the reason, and detections of classes not allowed are ignored;
* detections and objects are paired one to one maximising the total IoU of the detection's box
  with the object's *mask* (``match_on`` box: the mask's box, as before) over the pairs with IoU
  at least ``match_iou``
  (``scipy.optimize.linear_sum_assignment``): a mask with a thin leak onto a neighbouring surface
  still pairs with its detection, a box over another object does not; an object with a label
  pairs only with detections of its class, an object without one pairs with any and adopts it;
* a paired object whose mask box disagrees with its detection (IoU below ``recondition_iou``:
  a leak, a drift) and whose detection is confident is re-prompted with the detection's box, at
  most once every ``recondition_frames`` tracked frames;
* an unpaired confident detection starts an object, while there is room for one; that object is
  tentative (tracked, not published) until it has been paired, with a box that agrees with its
  mask's box (IoU at least ``recondition_iou``), in ``confirm_hits`` of the first
  ``confirm_window`` detection messages since its start (the start counts as one), else removed;
* an object started by detections that no detection paired with in ``forget_after`` consecutive
  detection messages is forgotten (objects started by clicks or services never are).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from sam2_ros.geometry.boxes import Box, box_iou
from sam2_ros.tracking.mask_overlap import MaskGrid

#: Why a detection was neither paired nor used to start an object.
REFUSED_NOT_FINITE = "box not finite"
REFUSED_NO_AREA = "box without area"
REFUSED_OFF_IMAGE = "box off the image"
REFUSED_ROTATED = "rotated box"
REFUSED_NO_CLASS = "no hypothesis"
IGNORED_CLASS = "class not allowed"
IGNORED_LOW_SCORE = "score below detection_min_score"
SKIPPED_MAX_OBJECTS = "max_objects reached"


@dataclass(frozen=True)
class Detection:
    """One detected box in image pixels: centre, size and rotation (radians) as vision_msgs'
    ``BoundingBox2D`` has them, with its best hypothesis (``class_id`` None: it had none)."""

    center_x: float
    center_y: float
    size_x: float
    size_y: float
    class_id: str | None
    score: float
    theta: float = 0.0

    @classmethod
    def from_box(cls, box: Box, class_id: str | None, score: float) -> Detection:
        """The detection of an axis-aligned box ``(x_min, y_min, x_max, y_max)``."""
        x0, y0, x1, y1 = box
        return cls((x0 + x1) / 2.0, (y0 + y1) / 2.0, x1 - x0, y1 - y0, class_id, score)

    @property
    def box(self) -> Box:
        """``(x_min, y_min, x_max, y_max)``."""
        half_w, half_h = self.size_x / 2.0, self.size_y / 2.0
        return (
            self.center_x - half_w,
            self.center_y - half_h,
            self.center_x + half_w,
            self.center_y + half_h,
        )


@dataclass(frozen=True)
class Birth:
    """A tentative object's record since its start: detection messages applied (the start
    counts as one) and those in which a detection paired with it (the start counts as one)."""

    hits: int = 1
    messages: int = 1


@dataclass(frozen=True)
class TrackedObject:
    """A tracked object as a detection message on one frame sees it."""

    object_id: int
    box: Box | None  # its mask's box on that frame (None: an empty mask)
    label: str  # '' = none yet
    from_detections: bool  # started by a detection (only those are ever forgotten)
    unmatched: int = 0  # consecutive detection messages no detection paired with it
    last_prompted: int | None = None  # tracked frame of its last detection prompt
    birth: Birth | None = None  # None: confirmed (published)


@dataclass(frozen=True)
class AssociationSettings:
    """The ``detection_*`` parameters of the node."""

    min_score: float = 0.5
    classes: frozenset[str] = frozenset()  # empty: every class
    match_iou: float = 0.4
    recondition_iou: float = 0.7
    recondition_frames: int = 16
    forget_after: int = 30  # 0: never
    max_objects: int = 16
    confirm_hits: int = 3  # 1: objects are published from their start
    confirm_window: int = 5
    match_on: str = "mask"  # what a detection's box is measured against: "mask" or "box"


@dataclass(frozen=True)
class Match:
    """A detection paired with an object."""

    detection: int  # index in the message
    object_id: int
    iou: float  # of the detection's box with the object's mask (match_on box: its box)
    agreement: float  # IoU of the detection's box with the object's mask box
    adopt_label: str | None  # the detection's class, for an object that had no label
    recondition: bool  # re-prompt the object with the detection's box


@dataclass
class AssociationPlan:
    """What one detection message asks for on its frame."""

    matches: list[Match] = field(default_factory=list)
    start: list[int] = field(default_factory=list)  # detections that start objects
    forget: list[int] = field(default_factory=list)  # object ids
    confirm: list[int] = field(default_factory=list)  # tentative objects now published
    reject: list[int] = field(default_factory=list)  # tentative objects never confirmed: remove
    births: dict[int, Birth] = field(default_factory=dict)  # still tentative -> new record
    unmatched: dict[int, int] = field(default_factory=dict)  # detector object id -> new count
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> detections
    refused: list[tuple[int, str]] = field(default_factory=list)  # detection index, reason

    @property
    def reconditioned(self) -> list[Match]:
        """The matches whose object is re-prompted."""
        return [m for m in self.matches if m.recondition]


def box_problem(detection: Detection, width: int, height: int) -> str | None:
    """Why a detection's box cannot prompt an image of ``width`` x ``height`` (None: it can)."""
    values = (detection.center_x, detection.center_y, detection.size_x, detection.size_y)
    if not all(math.isfinite(v) for v in (*values, detection.theta, detection.score)):
        return REFUSED_NOT_FINITE
    if detection.theta != 0.0:
        return REFUSED_ROTATED
    x0, y0, x1, y1 = detection.box
    if not (x1 > x0 and y1 > y0):  # a size of 0, below 0, or too small to tell the corners apart
        return REFUSED_NO_AREA
    if x1 <= 0.0 or y1 <= 0.0 or x0 >= width or y0 >= height:
        return REFUSED_OFF_IMAGE
    if detection.class_id is None:
        return REFUSED_NO_CLASS
    return None


def associate(
    detections: Sequence[Detection],
    objects: Sequence[TrackedObject],
    masks: MaskGrid,
    frame_index: int,
    settings: AssociationSettings,
    object_count: int | None = None,
) -> AssociationPlan:
    """The plan for one detection message on tracked frame ``frame_index``. ``objects`` are the
    objects tracked on that frame, ``masks`` their masks there (row ``i`` is ``objects[i]``'s);
    ``object_count`` all objects tracked now (default: as many), for ``max_objects``."""
    plan = AssociationPlan()
    usable = []
    for index, detection in enumerate(detections):
        problem = box_problem(detection, *masks.size)
        if problem is not None:
            plan.refused.append((index, problem))
            plan.dropped[problem] += 1
        elif settings.classes and detection.class_id not in settings.classes:
            plan.dropped[IGNORED_CLASS] += 1
        else:
            usable.append(index)
    pairs = _pairs(detections, usable, objects, masks, settings)
    paired = set()
    for index, obj, iou in pairs:
        detection = detections[index]
        since = None if obj.last_prompted is None else frame_index - obj.last_prompted
        agreement = _box_agreement(detection.box, obj.box)
        plan.matches.append(
            Match(
                detection=index,
                object_id=obj.object_id,
                iou=iou,
                agreement=agreement,
                adopt_label=None if obj.label else detection.class_id,
                recondition=agreement < settings.recondition_iou
                and detection.score >= settings.min_score
                and (since is None or since >= settings.recondition_frames),
            )
        )
        paired.add(index)
    matched = {m.object_id for m in plan.matches}
    # a tentative object is confirmed by detections of what it tracks: boxes that agree with its
    # mask's box, not a box of something passing over it
    agreeing = {m.object_id for m in plan.matches if m.agreement >= settings.recondition_iou}
    for obj in (o for o in objects if o.birth is not None):
        birth = Birth(obj.birth.hits + (obj.object_id in agreeing), obj.birth.messages + 1)
        if birth.hits >= settings.confirm_hits:
            plan.confirm.append(obj.object_id)
        elif birth.messages >= settings.confirm_window:
            plan.reject.append(obj.object_id)
        else:
            plan.births[obj.object_id] = birth
    for obj in (o for o in objects if o.from_detections and o.object_id not in plan.reject):
        count = 0 if obj.object_id in matched else obj.unmatched + 1
        plan.unmatched[obj.object_id] = count
        if settings.forget_after and count >= settings.forget_after:
            plan.forget.append(obj.object_id)
    tracked = len(objects) if object_count is None else object_count
    room = settings.max_objects - tracked + len(plan.forget) + len(plan.reject)
    for index in (i for i in usable if i not in paired):
        if detections[index].score < settings.min_score:
            plan.dropped[IGNORED_LOW_SCORE] += 1
        elif len(plan.start) >= room:
            plan.dropped[SKIPPED_MAX_OBJECTS] += 1
        else:
            plan.start.append(index)
    return plan


def _box_agreement(box: Box, mask_box: Box | None) -> float:
    """IoU of a detection's box with an object's mask box (0 for an empty mask)."""
    if mask_box is None:
        return 0.0
    return float(box_iou(np.array([box], np.float64), np.array([mask_box], np.float64))[0, 0])


def _pairs(
    detections: Sequence[Detection],
    usable: list[int],
    objects: Sequence[TrackedObject],
    masks: MaskGrid,
    settings: AssociationSettings,
) -> list[tuple[int, TrackedObject, float]]:
    """The one-to-one pairing of the usable detections with the objects that maximises the total
    IoU of boxes with masks (``match_on`` box: with the masks' boxes) over pairs allowed by class
    with IoU >= ``match_iou``."""
    if not usable or not objects:
        return []
    boxes = np.array([detections[i].box for i in usable], np.float64)
    if settings.match_on == "box":
        mask_boxes = [obj.box if obj.box is not None else (0.0, 0.0, 0.0, 0.0) for obj in objects]
        iou = box_iou(boxes, np.array(mask_boxes, np.float64))
    else:
        iou = masks.box_ious(boxes)
    allowed = iou >= settings.match_iou
    for column, obj in enumerate(objects):
        if obj.label:
            allowed[:, column] &= [detections[i].class_id == obj.label for i in usable]
    weights = np.where(allowed, iou, 0.0)
    rows, columns = linear_sum_assignment(weights, maximize=True)
    return [
        (usable[row], objects[column], float(iou[row, column]))
        for row, column in zip(rows, columns, strict=True)
        if allowed[row, column]
    ]
