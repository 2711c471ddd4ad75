"""One camera's tracking session, without ROS: the predictor, labels, tracked frames, the
detector's objects, the one per-frame order, and an event for every change to the objects.

The node (:mod:`sam2_ros.node.camera_pipeline`), the bag tool and its replay, and the tracking
scenario all run a camera through :meth:`CameraSession.step`:

1. track the frame, note its stamp, let the detector's bookkeeping see it (duplicates removed);
2. the frame's outputs, then the prompts and detections due on it (``output_first``, as the live
   node publishes a frame and then applies the clicks and detections made on it), or those first
   and then the outputs (``output_first=False``, the bag tool's prompts file: a prompt shows on
   its own frame).

Every change to the tracked objects goes through the session and is reported as a
:class:`SessionEvent` (what, from where, after which tracked frame, landing on which frame), so
that a recording of the events replays the session exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sam2_ros.engine import PromptResult, Sam2Model, StreamingPredictor, TrackResult
from sam2_ros.tracking.association import AssociationSettings
from sam2_ros.tracking.detections import DetectedObjects, DetectionMessage, DetectionOutcome
from sam2_ros.tracking.duplicates import Duplicate, DuplicateSettings
from sam2_ros.tracking.frame_stamps import TrackedFrames

#: Where a change came from.
SOURCES = (
    "service",
    "image click",
    "overlay click",
    "rviz click",
    "detector",
    "objects file",
    "lifecycle",
    "prompts file",
)
#: What a change did.
KINDS = ("prompt", "remove", "forget", "load", "label", "published")


@dataclass(frozen=True)
class SessionEvent:
    """One change to a camera's objects.

    ``applied_after`` is the stamp of the newest tracked frame when it was applied (0: before
    any), ``before_output`` whether that frame's outputs were still to come (the detector's
    duplicate removals); ``landed_on`` the stamp of the frame a prompt was applied to.
    """

    kind: str
    source: str
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


def camera_predictor(params: Any, model: Sam2Model) -> StreamingPredictor:
    """A camera's predictor over ``model`` with the node's settings (``NodeParams``)."""
    return StreamingPredictor(params.engine_settings(), model=model)


class _DetectorEngine:
    """The predictor as the detector's bookkeeping drives it: its prompts and removals become
    the session's events (source ``detector``)."""

    def __init__(self, session: CameraSession) -> None:
        self._session = session
        self.detail = ""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session.predictor, name)

    def add_prompt(
        self,
        object_id: int | None = None,
        points: Any = None,
        labels: Any = None,
        box: Sequence[float] | None = None,
        frame_index: int | None = None,
    ) -> PromptResult:
        answer = self._session.predictor.add_prompt(object_id, points, labels, box, frame_index)
        self._session.emit(
            "prompt",
            "detector",
            answer,
            object_id=answer.object_id,
            box=None if box is None else tuple(float(v) for v in box),
            detail="recondition" if object_id is not None else "new object",
        )
        return answer

    def remove_object(self, object_id: int) -> None:
        self._session.predictor.remove_object(object_id)
        self._session.emit("remove", "detector", object_id=object_id, detail=self.detail)


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
    ) -> None:
        self.predictor = predictor
        self._on_outcome = on_outcome or (lambda outcome: None)
        self._on_duplicate = on_duplicate or (lambda duplicate: None)
        self.labels: dict[int, str] = {}
        self.tracked = TrackedFrames(predictor.history_frames)
        #: Objects tracked but not published (set from recorded events when replaying; with a
        #: detector, its tentative objects).
        self.hidden: set[int] = set()
        self._on_event = on_event
        self._before_output = False
        self._engine = _DetectorEngine(self)
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
        kind: str,
        source: str,
        answer: PromptResult | None = None,
        applied_after: int | None = None,
        **fields: Any,
    ) -> None:
        """Report a change (``answer``: the prompt's, for the frame it landed on;
        ``applied_after``: the newest tracked frame's stamp when it was applied, default now)."""
        if self._on_event is None:
            return
        landed = 0 if answer is None else self.tracked.stamp_of(answer.frame_index) or 0
        if applied_after is None:
            applied_after = self.tracked.newest_stamp() or 0
        self._on_event(
            SessionEvent(kind, source, applied_after, self._before_output, landed, **fields)
        )

    # ---- objects --------------------------------------------------------------------------------

    @property
    def published_ids(self) -> list[int]:
        """The objects the camera publishes: every tracked one but hidden (tentative) ones."""
        if self.detected is not None:
            return self.detected.published_ids
        return [i for i in self.predictor.object_ids if i not in self.hidden]

    def published(self, result: TrackResult) -> TrackResult:
        """``result`` with only the published objects."""
        return result.select(self.published_ids)

    def prompt(
        self,
        object_id: int | None,
        points: Sequence[tuple[float, float]],
        labels: Sequence[int],
        box: Sequence[float] | None,
        label: str,
        frame_index: int | None,
        source: str,
    ) -> tuple[PromptResult, int]:
        """Add or refine an object on a tracked frame (None: the newest); the engine's answer and
        the stamp of the frame it landed on."""
        answer = self.predictor.add_prompt(
            object_id, list(points) or None, list(labels) or None, box, frame_index
        )
        if label or answer.object_id not in self.labels:
            self.labels[answer.object_id] = label
        if self.detected is not None:
            self.detected.prompted(answer.frame_index)
        self.emit(
            "prompt",
            source,
            answer,
            object_id=answer.object_id,
            points=tuple((float(x), float(y)) for x, y in points),
            labels=tuple(int(v) for v in labels),
            box=None if box is None else tuple(float(v) for v in box),
            label=self.labels[answer.object_id],
            detail="new object" if object_id is None else "refinement",
        )
        return answer, self.tracked.stamp_of(answer.frame_index)

    def remove(self, object_id: int, source: str) -> None:
        """Stop tracking an object."""
        self.predictor.remove_object(object_id)
        self.labels.pop(object_id, None)
        self.hidden.discard(object_id)
        if self.detected is not None:
            self.detected.removed(object_id)
        self.emit("remove", source, object_id=object_id)

    def forget(self, source: str) -> None:
        """Forget every object, memory, tracked frame and waiting detection."""
        newest = self.tracked.newest_stamp() or 0
        self.predictor.reset()
        self._forget_frames()
        self.emit("forget", source, applied_after=newest)

    def restore(self, saved: Any, source: str, path: str = "") -> list[int]:
        """Track the objects read by ``predictor.read_objects`` instead of the current ones, from
        the next frame on; their ids."""
        newest = self.tracked.newest_stamp() or 0
        labels = self.predictor.restore_objects(saved)
        self._forget_frames()
        self.labels.update(labels)
        ids = self.predictor.object_ids
        self.emit("load", source, applied_after=newest, detail=path, object_ids=tuple(ids))
        return ids

    def _forget_frames(self) -> None:
        self.labels.clear()
        self.hidden.clear()
        self.tracked.clear()
        if self.detected is not None:
            self.detected.clear()

    # ---- detections -----------------------------------------------------------------------------

    def add_detections(self, message: DetectionMessage) -> None:
        """Queue a detection message (any thread; one pushed out unapplied is reported)."""
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
        objects = (self.predictor.object_ids, self.published_ids)
        yield
        for object_id, label in self.labels.items():
            if labels.get(object_id) != label:
                self.emit("label", "detector", object_id=object_id, label=label)
        if (self.predictor.object_ids, self.published_ids) != objects:
            self.emit("published", "detector", object_ids=tuple(self.published_ids))

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
        detector's bookkeeping (and ``tracked``), then the frame's ``output`` and what is ``due``
        on it (prompts, then detections) in the order ``output_first`` says; the result."""
        result = self.predictor.track(frame)
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
        if due is not None:
            due()
        self.apply_detections()
        if not output_first:
            output(self.published(self.predictor.result()))
        return result
