"""One camera's tracking session, without ROS: the predictor, labels, tracked frames, the
detector's objects, the one per-frame order, and an event for every change to the objects.

The node (:mod:`sam2_ros.node.camera_pipeline`), the bag tool and its replay, and the tracking
scenario all run a camera through :meth:`CameraSession.step`:

1. track the frame, note its stamp, let the detector's bookkeeping see it (duplicates removed);
2. the frame's outputs, then what is due on it: the caller's prompts (``due``), the clicks made on
   it, the detections of it (``output_first``, as the live node publishes a frame and then applies
   what was made on it), or those first and then the outputs (``output_first=False``, the bag
   tool's prompts file: a prompt shows on its own frame).

A frame that cannot be tracked still lets what waited for it through (:meth:`CameraSession.step`
when tracking fails, :meth:`CameraSession.frame_lost` when it could not even be decoded). Clicks
and detections wait in the session until their frame is tracked. Nothing outside the session
touches its predictor: every change to the tracked objects goes through the session and is
reported as a :class:`SessionEvent` (what, from where, after which tracked frame, landing on which
frame), and :meth:`CameraSession.apply` applies a recorded one, so that a recording of the events
replays the session exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from sam2_ros.engine import PromptError, PromptResult, TrackResult
from sam2_ros.tracking.association import AssociationSettings
from sam2_ros.tracking.clicks import Click, ClickOutcome, WaitingClicks
from sam2_ros.tracking.detections import (
    DROPPED_TIME_JUMP,
    DetectedObjects,
    DetectionMessage,
    DetectionOutcome,
    dropped,
)
from sam2_ros.tracking.duplicates import Duplicate, DuplicateSettings
from sam2_ros.tracking.frame_stamps import (
    TimeJump,
    TimeJumpSettings,
    TrackedFrames,
    stamp_text,
)


class EventKind(str, Enum):
    """What a change did (the ``kind`` of a ``TrackingEvent``)."""

    PROMPT = "prompt"
    REMOVE = "remove"
    FORGET = "forget"
    LOAD = "load"
    LABEL = "label"  # an object's label changed
    PUBLISHED = "published"  # which objects are published from now on
    TIME_JUMP = "time jump"  # the camera's stamps went back


class EventSource(str, Enum):
    """Where a change came from (the ``source`` of a ``TrackingEvent``)."""

    SERVICE = "service"
    IMAGE_CLICK = "image click"
    OVERLAY_CLICK = "overlay click"
    RVIZ_CLICK = "rviz click"
    DETECTOR = "detector"
    OBJECTS_FILE = "objects file"
    LIFECYCLE = "lifecycle"
    PROMPTS_FILE = "prompts file"
    CAMERA = "camera"  # its frames (their stamps)


#: A prompt's ``detail``: it started an object (else it refined or reconditioned one).
NEW_OBJECT = "new object"
#: A time jump's ``detail``: whether the camera's objects were forgotten.
OBJECTS_RESET, OBJECTS_KEPT = "objects reset", "objects kept"


@dataclass(frozen=True)
class TimeJumpOutcome:
    """What a jump back in time did to a camera: the objects reset or kept, and the clicks and
    detection messages that waited for frames of the old timeline, dropped."""

    jump: TimeJump
    reset: bool
    clicks_dropped: int
    detections_dropped: int


@dataclass(frozen=True)
class SessionEvent:
    """One change to a camera's objects.

    ``applied_after`` is the stamp of the newest tracked frame when it was applied (0: before
    any), ``before_output`` whether that frame's outputs were still to come (the detector's
    duplicate removals); ``landed_on`` the stamp of the frame a prompt was applied to.
    """

    kind: EventKind
    source: EventSource
    applied_after: int
    before_output: bool = False
    landed_on: int = 0
    object_id: int = 0
    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None
    label: str = ""
    detail: str = ""
    object_ids: tuple[int, ...] = ()  # a load's objects; the published objects


class _DetectorEngine:
    """The predictor as the detector's bookkeeping drives it: its prompts and removals become
    the session's events (source ``detector``)."""

    def __init__(self, predictor: Any, emit: Callable[..., None]) -> None:
        self._predictor, self._emit = predictor, emit
        self.detail = ""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._predictor, name)

    def add_prompt(
        self,
        object_id: int | None = None,
        points: Any = None,
        labels: Any = None,
        box: Sequence[float] | None = None,
        frame_index: int | None = None,
    ) -> PromptResult:
        answer = self._predictor.add_prompt(object_id, points, labels, box, frame_index)
        self._emit(
            EventKind.PROMPT,
            EventSource.DETECTOR,
            answer,
            object_id=answer.object_id,
            box=None if box is None else tuple(float(v) for v in box),
            detail="recondition" if object_id is not None else NEW_OBJECT,
        )
        return answer

    def remove_object(self, object_id: int) -> None:
        self._predictor.remove_object(object_id)
        self._emit(EventKind.REMOVE, EventSource.DETECTOR, object_id=object_id, detail=self.detail)


class CameraSession:
    """A camera's objects over a stream of frames, whoever drives it."""

    def __init__(
        self,
        predictor: Any,
        detection: AssociationSettings | None = None,
        duplicates: DuplicateSettings | None = None,
        on_event: Callable[[SessionEvent], None] | None = None,
        on_outcome: Callable[[DetectionOutcome], None] | None = None,
        on_duplicate: Callable[[Duplicate], None] | None = None,
        on_click: Callable[[ClickOutcome], None] | None = None,
        on_time_jump: Callable[[TimeJumpOutcome], None] | None = None,
        time_jumps: TimeJumpSettings | None = None,
    ) -> None:
        self._predictor = predictor
        self._time_jumps = time_jumps or TimeJumpSettings()
        self._on_time_jump = on_time_jump or (lambda outcome: None)
        self._on_outcome = on_outcome or (lambda outcome: None)
        self._on_duplicate = on_duplicate or (lambda duplicate: None)
        self._on_click = on_click or (lambda outcome: None)
        self.labels: dict[int, str] = {}
        self.tracked = TrackedFrames(predictor.history_frames, self._time_jumps.tolerance)
        self._received: int | None = None  # stamp of the last frame received (not the newest)
        #: Objects tracked but not published, as a replayed recording says (a detector's
        #: tentative objects are its own).
        self._hidden: set[int] = set()
        self._clicks = WaitingClicks()
        self._on_event = on_event
        self._before_output = False
        self._engine = _DetectorEngine(predictor, self.emit)
        self.detected = (
            DetectedObjects(
                self._engine,
                self.labels,
                self.tracked,
                detection,
                duplicates or DuplicateSettings(),
            )
            if detection is not None
            else None
        )

    # ---- events --------------------------------------------------------------------------------

    def emit(
        self,
        kind: EventKind,
        source: EventSource,
        answer: PromptResult | None = None,
        applied_after: int | None = None,
        landed_on: int = 0,
        **fields: Any,
    ) -> None:
        """Report a change (``answer``: the prompt's, for the frame it landed on, else
        ``landed_on``; ``applied_after``: the newest tracked frame's stamp when it was applied,
        default now)."""
        if self._on_event is None:
            return
        landed = landed_on if answer is None else self.tracked.stamp_of(answer.frame_index) or 0
        if applied_after is None:
            applied_after = self.tracked.newest_stamp() or 0
        self._on_event(
            SessionEvent(kind, source, applied_after, self._before_output, landed, **fields)
        )

    def apply(self, event: SessionEvent) -> PromptResult | None:
        """Apply a recorded change where it was made (``sam2-ros bag --replay``); a prompt's
        answer (its object id is the one the engine gave: compare it with the event's)."""
        if event.kind is EventKind.PROMPT:
            frame_index = None
            if event.landed_on and event.landed_on != self.tracked.newest_stamp():
                frame_index = self.tracked.find(event.landed_on)
            answer, _ = self.prompt(
                None if event.detail == NEW_OBJECT else event.object_id,
                list(event.points),
                list(event.labels),
                event.box,
                event.label,
                frame_index,
                event.source,
            )
            return answer
        if event.kind is EventKind.REMOVE:
            self.remove(event.object_id, event.source)
        elif event.kind is EventKind.FORGET:
            self.forget(event.source)
        elif event.kind is EventKind.LOAD:
            self.restore(self.read_objects(Path(event.detail)), event.source, event.detail)
        elif event.kind is EventKind.LABEL:
            self.labels[event.object_id] = event.label
        elif event.kind is EventKind.PUBLISHED:
            self._hidden = set(self.object_ids) - set(event.object_ids)
        elif event.kind is EventKind.TIME_JUMP:
            self._time_jumped(TimeJump(event.applied_after, event.landed_on))
        return None

    # ---- objects --------------------------------------------------------------------------------

    @property
    def object_ids(self) -> list[int]:
        """Every tracked object (published or not), in the order they were added."""
        return self._predictor.object_ids

    @property
    def published_ids(self) -> list[int]:
        """The objects the camera publishes: every tracked one but hidden (tentative) ones."""
        if self.detected is not None:
            return self.detected.published_ids
        return [i for i in self.object_ids if i not in self._hidden]

    @property
    def selection(self) -> Any:
        """How the camera's memories are chosen (its ``str`` names it and its settings)."""
        return self._predictor.selection

    def published(self, result: TrackResult) -> TrackResult:
        """``result`` with only the published objects."""
        return result.select(self.published_ids)

    def memory_bytes(self) -> int:
        """Bytes of tracking state the camera holds (memories, frames, prompt history)."""
        return self._predictor.memory_bytes()

    def prompt(
        self,
        object_id: int | None,
        points: Sequence[tuple[float, float]],
        labels: Sequence[int],
        box: Sequence[float] | None,
        label: str,
        frame_index: int | None,
        source: EventSource,
    ) -> tuple[PromptResult, int]:
        """Add or refine an object on a tracked frame (None: the newest); the engine's answer and
        the stamp of the frame it landed on."""
        answer = self._predictor.add_prompt(
            object_id, list(points) or None, list(labels) or None, box, frame_index
        )
        if label or answer.object_id not in self.labels:
            self.labels[answer.object_id] = label
        if self.detected is not None:
            self.detected.prompted(answer.frame_index)
        self.emit(
            EventKind.PROMPT,
            source,
            answer,
            object_id=answer.object_id,
            points=tuple((float(x), float(y)) for x, y in points),
            labels=tuple(int(v) for v in labels),
            box=None if box is None else tuple(float(v) for v in box),
            label=self.labels[answer.object_id],
            detail=NEW_OBJECT if object_id is None else "refinement",
        )
        return answer, self.tracked.stamp_of(answer.frame_index)

    def remove(self, object_id: int, source: EventSource) -> None:
        """Stop tracking an object."""
        self._predictor.remove_object(object_id)
        self.labels.pop(object_id, None)
        self._hidden.discard(object_id)
        if self.detected is not None:
            self.detected.removed(object_id)
        self.emit(EventKind.REMOVE, source, object_id=object_id)

    def forget(self, source: EventSource) -> None:
        """Forget every object, memory, tracked frame and waiting click and detection."""
        newest = self.tracked.newest_stamp() or 0
        self._predictor.reset()
        self._forget_frames()
        self.emit(EventKind.FORGET, source, applied_after=newest)

    def read_objects(self, path: Path) -> Any:
        """Read and check a saved objects file against this camera's model (nothing changes
        yet; ``ObjectsFileError`` naming what does not fit)."""
        return self._predictor.read_objects(path)

    def restore(self, saved: Any, source: EventSource, path: str = "") -> list[int]:
        """Track the objects of :meth:`read_objects` instead of the current ones, from the next
        frame on (earlier frames can no longer be prompted); their ids."""
        newest = self.tracked.newest_stamp() or 0
        labels = self._predictor.restore_objects(saved)
        self._forget_frames()
        self.labels.update(labels)
        ids = self.object_ids
        self.emit(EventKind.LOAD, source, applied_after=newest, detail=path, object_ids=tuple(ids))
        return ids

    def save(self, path: Path) -> list[int]:
        """Write the published objects (memories, ids, labels) to ``path``; their ids."""
        ids = self.published_ids
        self._predictor.save_objects(path, self.labels, object_ids=ids)
        return ids

    def _forget_frames(self) -> None:
        self.labels.clear()
        self._hidden.clear()
        self.tracked.clear()
        self.drop_clicks()
        if self.detected is not None:
            self.detected.clear()

    # ---- clicks ---------------------------------------------------------------------------------

    def click(self, x: float, y: float, source: EventSource, seen_stamp: int | None) -> None:
        """Queue a click on the frame stamped ``seen_stamp`` (None: the newest tracked frame); it
        starts an object there once that frame is tracked (any thread)."""
        self._clicks.add(Click(x, y, source, seen_stamp))

    def drop_clicks(self) -> None:
        """Forget the clicks still waiting (any thread)."""
        self._clicks.clear()

    # ---- time -----------------------------------------------------------------------------------

    def frame_received(self, stamp: int) -> None:
        """A frame arrived from the camera (any thread; it is tracked later, or skipped)."""
        self._received = stamp

    def _from_old_timeline(self, stamp: int) -> bool:
        """Whether a detection stamped ``stamp`` arriving now was made before the stamps went
        back: later than any frame received since (beyond the tolerance)."""
        received = self._received
        return (
            self.tracked.last_jump is not None
            and received is not None
            and stamp > received + self._time_jumps.tolerance
        )

    def _time_jumped(self, jump: TimeJump) -> None:
        """The stamps went back: what waited for frames of the old timeline is dropped, the
        stamps name frames of the new one only, the objects are kept (SAM 2's memory carries
        them) or, with ``reset``, forgotten."""
        clicks = self._clicks.clear()
        outcomes = self.detected.drop_waiting(jump) if self.detected is not None else []
        reset = self._time_jumps.reset
        if reset:
            self._predictor.reset()
            self._forget_frames()
        self.tracked.start_timeline(jump)
        self.emit(
            EventKind.TIME_JUMP,
            EventSource.CAMERA,
            applied_after=jump.from_stamp,
            landed_on=jump.to_stamp,
            detail=OBJECTS_RESET if reset else OBJECTS_KEPT,
        )
        self._on_time_jump(TimeJumpOutcome(jump, reset, clicks, len(outcomes)))
        for outcome in outcomes:
            self._on_outcome(outcome)

    def apply_due_clicks(self) -> None:
        """Apply the waiting clicks whose frame was tracked; each outcome reported."""
        for click in self._clicks.take_due(self.tracked.newest_stamp()):
            self._on_click(self._apply_click(click))

    def _apply_click(self, click: Click) -> ClickOutcome:
        frame_index = self.tracked.at_or_before(click.seen_stamp)
        try:
            answer, stamp = self.prompt(
                None, [(click.x, click.y)], [1], None, "", frame_index, click.source
            )
        except PromptError as err:
            return ClickOutcome(click, refused=str(err))
        return ClickOutcome(click, answer, stamp)

    # ---- detections -----------------------------------------------------------------------------

    def add_detections(self, message: DetectionMessage) -> None:
        """Queue a detection message (any thread; one pushed out unapplied, or one stamped on
        the old timeline after the stamps went back, is reported)."""
        if self._from_old_timeline(message.stamp):
            why = f"{self.tracked.last_jump}; newest frame since {stamp_text(self._received)}"
            self._on_outcome(dropped(message, DROPPED_TIME_JUMP, why))
            return
        pushed = self.detected.add(message)
        if pushed is not None:
            self._on_outcome(pushed)

    def apply_detections(self) -> list[DetectionOutcome]:
        """Carry out the detection messages whose frame was tracked (each outcome reported);
        their outcomes."""
        if self.detected is None:
            return []
        with self._watching_detector("forgotten or unconfirmed"):
            outcomes = self.detected.apply_due()
        for outcome in outcomes:
            self._on_outcome(outcome)
        return outcomes

    def _frame_tracked(self, result: TrackResult) -> None:
        if self.detected is None:
            return
        with self._watching_detector("duplicate"):
            duplicates = self.detected.frame_tracked(result)
        for duplicate in duplicates:
            self._on_duplicate(duplicate)

    @contextlib.contextmanager
    def _watching_detector(self, detail: str) -> Iterator[None]:
        """While the detector's bookkeeping runs: its removals carry ``detail``, and afterwards
        the labels it changed and which objects it publishes become events."""
        self._engine.detail = detail
        labels = dict(self.labels)
        objects = (self.object_ids, self.published_ids)
        yield
        for object_id, label in self.labels.items():
            if labels.get(object_id) != label:
                self.emit(EventKind.LABEL, EventSource.DETECTOR, object_id=object_id, label=label)
        if (self.object_ids, self.published_ids) != objects:
            self.emit(
                EventKind.PUBLISHED, EventSource.DETECTOR, object_ids=tuple(self.published_ids)
            )

    # ---- frames ---------------------------------------------------------------------------------

    def step(
        self,
        frame: Any,
        stamp: int,
        output: Callable[[TrackResult], None],
        due: Callable[[], None] | None = None,
        output_first: bool = True,
        tracked: Callable[[TrackResult], None] | None = None,
    ) -> TrackResult:
        """Track ``frame`` (stamp in nanoseconds) in the one per-frame order: track, the
        detector's bookkeeping (and ``tracked``), then the frame's ``output`` and what is due on
        it (the caller's ``due`` prompts, then clicks, then detections) in the order
        ``output_first`` says; the result. When tracking fails, what is due is applied anyway
        (and the error raised)."""
        applied = False
        jump = self.tracked.jump_back(stamp)
        if jump is not None:
            self._time_jumped(jump)
        try:
            result = self._predictor.track(frame)
            self.tracked.add(stamp, result.frame_index)
            self._before_output = True
            try:
                self._frame_tracked(result)
                if tracked is not None:
                    tracked(result)
            finally:
                self._before_output = False
            if output_first:
                output(self.published(result))
            applied = True
            if due is not None:
                due()
            self._apply_due()
            if not output_first:
                output(self.published(self._predictor.result()))
        finally:
            if not applied:  # a frame that failed still lets what waited for it through
                self.frame_lost()
        return result

    def frame_lost(self) -> None:
        """A frame could not be tracked (undecodable, or tracking failed): the clicks and
        detections that waited for it are applied on the frames tracked before it."""
        self._apply_due()

    def _apply_due(self) -> None:
        self.apply_due_clicks()
        self.apply_detections()
