"""Detections driving a camera's tracked objects, without ROS (the node and the bag tool share it).

A detection message carries the stamp of the image it was computed on. It waits here until that
frame is tracked (at most :data:`QUEUE_SIZE` messages wait per camera: a newer one pushes the
oldest out), then lands on that tracked frame, the one with its exact stamp or the nearest within
half the median frame interval, as ``AddPrompt`` does; a message older than the prompt history,
or one whose frame was skipped with no tracked frame near it, is dropped with the reason. On its
frame, :func:`~sam2_ros.tracking.association.associate` pairs the detections with the objects'
masks there, and the plan is carried out on the predictor, on that frame: objects to forget or
never confirmed are removed, confirmed ones published, paired objects without a label take the
detection's class, disagreeing ones are re-prompted with the detection's box, new objects start
(tentative) from a box prompt labelled with the class. A prompt on an earlier frame tracks its
object again up to the newest frame (the engine's prompt history), so a late message gives the
masks a timely one would have given. After every tracked frame,
:func:`~sam2_ros.tracking.duplicates.find_duplicates` removes one of two published objects that
have covered the same region for too long.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field

from sam2_ros.engine import PromptError, StreamingPredictor, TrackResult
from sam2_ros.geometry.boxes import Box, mask_box
from sam2_ros.tracking.association import (
    AssociationSettings,
    Birth,
    Detection,
    TrackedObject,
    associate,
)
from sam2_ros.tracking.duplicates import Duplicate, DuplicateSettings, find_duplicates
from sam2_ros.tracking.frame_stamps import StampNotHeldError, TimeJump, TrackedFrames, stamp_text
from sam2_ros.tracking.mask_overlap import MaskGrid, mask_grid

#: Detection messages that may wait per camera for their frame to be tracked.
QUEUE_SIZE = 30
#: Why a whole message was dropped.
DROPPED_TOO_OLD = "message older than the prompt history"
DROPPED_NO_FRAME = "no tracked frame near its stamp"
DROPPED_WAITED = f"waited for its frame behind {QUEUE_SIZE} newer messages"
DROPPED_TIME_JUMP = "stamped before the camera's stamps went back"
PROMPT_REFUSED = "prompt refused by the engine"


@dataclass(frozen=True)
class DetectionMessage:
    """One detection message: the image stamp (nanoseconds) and its detections."""

    stamp: int
    detections: tuple[Detection, ...]


@dataclass
class DetectionOutcome:
    """What one message did (for the log and /diagnostics)."""

    stamp: int
    detections: int
    frame_index: int | None = None  # None: the message was dropped
    problem: str = ""  # why it was dropped, in words
    matched: int = 0
    started: list[tuple[int, str]] = field(default_factory=list)  # object id, label
    labelled: list[tuple[int, str]] = field(default_factory=list)
    reconditioned: list[int] = field(default_factory=list)
    forgotten: list[tuple[int, str]] = field(default_factory=list)  # object id, label
    confirmed: list[tuple[int, str]] = field(default_factory=list)  # published from now on
    unconfirmed: list[tuple[int, str]] = field(default_factory=list)  # removed, never published
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> detections

    def changes(self, settings: AssociationSettings) -> list[str]:
        """What the message did to objects, a phrase per kind of change (for the log)."""
        phrases = []
        started = "started (tentative)" if settings.confirm_hits > 1 else "started"
        for verb, objects in (
            ("labelled", self.labelled),
            (started, self.started),
            ("confirmed", self.confirmed),
        ):
            if objects:
                phrases.append(f"{verb} object(s) " + ", ".join(f"{i} ({n})" for i, n in objects))
        phrases += [
            f"removed unconfirmed object {i} ({n}): paired in fewer than {settings.confirm_hits} "
            f"of the first {settings.confirm_window} messages since its start"
            for i, n in self.unconfirmed
        ]
        phrases += [
            f"forgot object {i} ({n}): no detection paired with it in {settings.forget_after} "
            "consecutive messages"
            for i, n in self.forgotten
        ]
        return phrases


def dropped(message: DetectionMessage, reason: str, why: str) -> DetectionOutcome:
    """The outcome of a message dropped whole for ``reason`` (``why``: the particulars)."""
    return DetectionOutcome(
        message.stamp,
        len(message.detections),
        problem=f"{reason}: {why}",
        dropped=Counter({reason: len(message.detections)}),
    )


@dataclass(frozen=True)
class FrameMasks:
    """The objects' masks on one tracked frame, as association needs them."""

    object_ids: list[int]
    boxes: list[Box | None]  # each mask's box (None: empty)
    grid: MaskGrid

    def without(self, object_id: int) -> FrameMasks:
        """The same frame without one object."""
        if object_id not in self.object_ids:
            return self
        keep = [row for row, i in enumerate(self.object_ids) if i != object_id]
        return FrameMasks(
            [self.object_ids[row] for row in keep],
            [self.boxes[row] for row in keep],
            self.grid.select(keep),
        )


class DetectedObjects:
    """One camera's detection messages and what they did to its objects.

    :meth:`add` may be called from any thread; everything else runs where the predictor runs
    (the node's tracking thread). Objects started here are remembered as the detector's: only
    those are forgotten when no detection pairs with them, are tentative (tracked, not published)
    until confirmed, and go first when two objects cover the same region.
    """

    def __init__(
        self,
        predictor: StreamingPredictor,
        labels: dict[int, str],
        tracked: TrackedFrames,
        settings: AssociationSettings,
        duplicates: DuplicateSettings,
    ) -> None:
        self.settings, self.duplicates = settings, duplicates
        self._predictor, self._labels, self._tracked = predictor, labels, tracked
        self._waiting: deque[DetectionMessage] = deque()
        self._lock = threading.Lock()
        self._started: set[int] = set()
        self._births: dict[int, Birth] = {}  # tentative objects
        self._unmatched: dict[int, int] = {}
        self._last_prompted: dict[int, int] = {}
        self._streaks: dict[tuple[int, int], int] = {}
        self._frames: OrderedDict[int, FrameMasks] = OrderedDict()

    @property
    def published_ids(self) -> list[int]:
        """The objects that are published: tracked and not tentative."""
        return [i for i in self._predictor.object_ids if i not in self._births]

    def published(self, result: TrackResult) -> TrackResult:
        """``result`` with only the objects that are published."""
        return result.select(self.published_ids)

    def add(self, message: DetectionMessage) -> DetectionOutcome | None:
        """Queue a message until its frame is tracked; the outcome of the oldest one when it had
        to make room."""
        with self._lock:
            self._waiting.append(message)
            if len(self._waiting) <= QUEUE_SIZE:
                return None
            pushed = self._waiting.popleft()
        return dropped(
            pushed, DROPPED_WAITED, f"no frame stamped {stamp_text(pushed.stamp)} was tracked"
        )

    def drop_waiting(self, jump: TimeJump) -> list[DetectionOutcome]:
        """The camera's stamps went back: the messages still waiting for their frame belong to
        the old timeline; they are dropped (their outcomes)."""
        with self._lock:
            waiting, self._waiting = list(self._waiting), deque()
        return [dropped(message, DROPPED_TIME_JUMP, str(jump)) for message in waiting]

    def frame_tracked(self, result: TrackResult) -> list[Duplicate]:
        """A frame was tracked: note its masks, and remove one of two published objects that
        have covered the same region for ``duplicates.frames`` frames; those removed."""
        self._frames.pop(result.frame_index, None)
        while len(self._frames) >= max(self._predictor.history_frames, 1):
            self._frames.popitem(last=False)
        plan = find_duplicates(
            result.object_ids,
            result.masks,
            self._started,
            set(self._births),
            self._streaks,
            self.duplicates,
        )
        self._streaks = plan.streaks
        self._frames[result.frame_index] = _frame_masks(result)
        for duplicate in plan.remove:
            self._predictor.remove_object(duplicate.removed)
            self._labels.pop(duplicate.removed, None)
            self.removed(duplicate.removed)
        return plan.remove

    def prompted(self, frame_index: int) -> None:
        """An object was prompted on ``frame_index`` (and tracked again from there): the masks
        noted for that frame and later ones are stale."""
        for index in [i for i in self._frames if i >= frame_index]:
            del self._frames[index]

    def removed(self, object_id: int) -> None:
        """An object is no longer tracked."""
        self._started.discard(object_id)
        self._births.pop(object_id, None)
        self._unmatched.pop(object_id, None)
        self._last_prompted.pop(object_id, None)
        self._streaks = {p: n for p, n in self._streaks.items() if object_id not in p}
        for index, masks in self._frames.items():
            self._frames[index] = masks.without(object_id)

    def clear(self) -> None:
        """Forget every waiting message and everything noted (the predictor was reset)."""
        with self._lock:
            self._waiting.clear()
        self._started.clear()
        self._births.clear()
        self._unmatched.clear()
        self._last_prompted.clear()
        self._streaks.clear()
        self._frames.clear()

    def apply_due(self) -> list[DetectionOutcome]:
        """Carry out the waiting messages whose frame was tracked (or skipped for a newer one),
        oldest stamp first; their outcomes."""
        newest = self._tracked.newest_stamp()
        if newest is None:
            return []
        with self._lock:
            due = sorted((m for m in self._waiting if m.stamp <= newest), key=lambda m: m.stamp)
            self._waiting = deque(m for m in self._waiting if m.stamp > newest)
        return [self._apply(message) for message in due]

    def _apply(self, message: DetectionMessage) -> DetectionOutcome:
        outcome = DetectionOutcome(message.stamp, len(message.detections))
        try:
            frame_index = self._tracked.find(message.stamp)
        except StampNotHeldError as err:
            oldest = self._tracked.oldest_stamp()
            reason = (
                DROPPED_TOO_OLD
                if oldest is not None and message.stamp < oldest
                else (DROPPED_NO_FRAME)
            )
            outcome.problem = f"{reason}: {err}"
            outcome.dropped[reason] = len(message.detections)
            return outcome
        outcome.frame_index = frame_index
        masks = self._frame_masks(frame_index)
        objects = [
            TrackedObject(
                object_id,
                box,
                self._labels.get(object_id, ""),
                object_id in self._started,
                self._unmatched.get(object_id, 0),
                self._last_prompted.get(object_id),
                self._births.get(object_id),
            )
            for object_id, box in zip(masks.object_ids, masks.boxes, strict=True)
        ]
        plan = associate(
            message.detections,
            objects,
            masks.grid,
            frame_index,
            self.settings,
            object_count=len(self._predictor.object_ids),
        )
        outcome.dropped.update(plan.dropped)
        for object_id, removals in [(i, outcome.forgotten) for i in plan.forget] + [
            (i, outcome.unconfirmed) for i in plan.reject
        ]:
            self._predictor.remove_object(object_id)
            removals.append((object_id, self._labels.pop(object_id, "")))
            self.removed(object_id)
        for object_id in plan.confirm:
            del self._births[object_id]
            outcome.confirmed.append((object_id, self._labels.get(object_id, "")))
        self._births.update(plan.births)
        for object_id, count in plan.unmatched.items():
            if object_id not in plan.forget:
                self._unmatched[object_id] = count
        outcome.matched = len(plan.matches)
        for match in plan.matches:
            if match.adopt_label:
                self._labels[match.object_id] = match.adopt_label
                outcome.labelled.append((match.object_id, match.adopt_label))
            if match.recondition and self._prompt(
                message.detections[match.detection], frame_index, outcome, match.object_id
            ):
                outcome.reconditioned.append(match.object_id)
        for index in plan.start:
            detection = message.detections[index]
            object_id = self._prompt(detection, frame_index, outcome)
            if object_id is not None:
                self._labels[object_id] = detection.class_id or ""
                self._started.add(object_id)
                if self.settings.confirm_hits > 1:
                    self._births[object_id] = Birth()
                self._unmatched[object_id] = 0
                outcome.started.append((object_id, detection.class_id or ""))
        if outcome.reconditioned or outcome.started:
            self.prompted(frame_index)
        return outcome

    def _prompt(
        self,
        detection: Detection,
        frame_index: int,
        outcome: DetectionOutcome,
        object_id: int | None = None,
    ) -> int | None:
        """Prompt the detection's box on the frame (a new object, or ``object_id`` again); the
        object's id, or None when the engine refused (counted)."""
        try:
            answer = self._predictor.add_prompt(
                object_id, box=list(detection.box), frame_index=frame_index
            )
        except PromptError:
            outcome.dropped[PROMPT_REFUSED] += 1
            return None
        self._last_prompted[answer.object_id] = frame_index
        return answer.object_id

    def _frame_masks(self, frame_index: int) -> FrameMasks:
        """Every object's mask on a held frame, as it stands now."""
        if frame_index not in self._frames:
            self._frames[frame_index] = _frame_masks(self._predictor.result(frame_index))
            self._frames = OrderedDict(sorted(self._frames.items()))
        return self._frames[frame_index]


def _frame_masks(result: TrackResult) -> FrameMasks:
    """A frame's masks as association needs them: their boxes and their grid."""
    boxes = [mask_box(mask) for mask in result.masks]
    return FrameMasks(list(result.object_ids), boxes, mask_grid(result.masks))
