"""A scene with ground truth for judging the node's detection rules without SAM 2: objects
moving, crossing and occluding one another, a simulated detector (misses, one-frame ghosts, box
jitter, latency, a wrong class now and then) and a simulated segmenter whose masks follow the
objects with the failures SAM 2 shows on real footage injected (thin leaks onto a neighbour, a
drift onto a neighbour, an object lost for a while). The node's own
:class:`~sam2_ros.tracking.detections.DetectedObjects` drives the segmenter as it drives the
engine; what it publishes is scored against the ground truth with ``trackeval`` (HOTA, DetA,
AssA, IDF1, ID switches), plus counts of ghost objects published and duplicate ids.

Random-weight SAM 2 masks cover the whole frame, so these rules cannot be judged end to end
here; this scene judges them on constructed masks, as the tests do. Seeded: runs repeat.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sam2_ros.engine import PromptError, PromptResult, TrackResult
from sam2_ros.geometry.boxes import Box, mask_box
from sam2_ros.tracking.association import AssociationSettings, Detection
from sam2_ros.tracking.camera_session import CameraSession
from sam2_ros.tracking.detections import DetectionMessage
from sam2_ros.tracking.duplicates import DuplicateSettings, mask_ious

CLASSES = ("person", "cup", "bottle", "chair", "dog", "box")
PERIOD_NS = 100_000_000  # 10 Hz
HISTORY = 30
#: Mask IoU from which a published object is taken to be a ground-truth object (and a second
#: one on it a duplicate).
SAME_OBJECT_IOU = 0.5
#: Visible share of its shape from which the detector sees an object.
DETECTABLE = 0.3
LEAK_WIDTH = 3  # pixels


@dataclass(frozen=True)
class ScenarioSettings:
    """The scene, the detector and the failures injected (``sam2-ros bench --scenario-*``)."""

    seed: int = 0
    frames: int = 300
    objects: int = 6
    width: int = 640
    height: int = 480
    miss: float = 0.1  # probability that the detector misses a visible object
    ghost: float = 0.05  # probability of a one-frame false positive per frame
    jitter: float = 0.04  # box jitter, a fraction of the box's size
    latency: int = 2  # frames between an image and its detections
    wrong_class: float = 0.02  # probability of a detection with another class
    leaks: int = 3  # stretches of frames in which an object's mask leaks onto a neighbour
    drifts: int = 2  # times an object's mask moves onto a neighbour it crosses
    losses: int = 2  # times an object's mask is lost for a while after an occlusion


@dataclass(frozen=True)
class SceneShape:
    """A ground-truth object: a rectangle or an ellipse bouncing in the frame."""

    ellipse: bool
    half: tuple[float, float]  # half width, half height, pixels
    start: tuple[float, float]
    velocity: tuple[float, float]  # pixels per frame
    depth: int  # larger is nearer
    class_id: str


@dataclass(frozen=True)
class Event:
    """A failure of the segmenter on ground-truth object ``target`` from frame ``start`` on: a
    thin leak onto ``neighbour`` until ``end``, a drift onto ``neighbour`` (from then on the mask
    follows it, until the object is prompted again), or the mask lost until ``end``."""

    kind: str  # "leak", "drift" or "lost"
    start: int
    end: int
    target: int
    neighbour: int = -1


class GroundTruth:
    """The scene: each object's visible (modal) mask on every frame."""

    def __init__(self, settings: ScenarioSettings, rng: np.random.Generator) -> None:
        self.settings = settings
        width, height = settings.width, settings.height
        depths = rng.permutation(settings.objects)
        self.shapes = []
        for index in range(settings.objects):
            half = (rng.uniform(0.04, 0.1) * width, rng.uniform(0.05, 0.13) * height)
            start = (rng.uniform(half[0], width - half[0]), rng.uniform(half[1], height - half[1]))
            speed, angle = rng.uniform(2.0, 6.0), rng.uniform(0.0, 2.0 * math.pi)
            velocity = (speed * math.cos(angle), speed * math.sin(angle))
            class_id = CLASSES[index % len(CLASSES)]
            self.shapes.append(
                SceneShape(bool(index % 2), half, start, velocity, int(depths[index]), class_id)
            )
        # frames are revisited (late prompts, scoring): keep the recent ones
        self.masks = functools.lru_cache(maxsize=64)(self._masks)
        self.visible_share = functools.lru_cache(maxsize=64)(self._visible_share)

    def center(self, index: int, frame: int) -> tuple[float, float]:
        """Pixel centre of object ``index`` on ``frame``."""
        shape = self.shapes[index]
        size = (self.settings.width, self.settings.height)
        return tuple(
            _bounce(shape.start[a] + shape.velocity[a] * frame, shape.half[a], size[a])
            for a in (0, 1)
        )

    def _masks(self, frame: int) -> np.ndarray:
        """``(objects, H, W)`` visible masks on ``frame`` (nearer objects hide farther ones)."""
        full = np.stack([self._silhouette(i, frame) for i in range(len(self.shapes))])
        visible = full.copy()
        for i, shape in enumerate(self.shapes):
            for j, other in enumerate(self.shapes):
                if other.depth > shape.depth:
                    visible[i] &= ~full[j]
        return visible

    def _visible_share(self, frame: int) -> np.ndarray:
        """Per object, its visible area over its whole shape's."""
        full = np.array([self._silhouette(i, frame).sum() for i in range(len(self.shapes))])
        return self.masks(frame).sum(axis=(1, 2)) / np.maximum(full, 1)

    def _silhouette(self, index: int, frame: int) -> np.ndarray:
        shape, (cx, cy) = self.shapes[index], self.center(index, frame)
        yy, xx = np.ogrid[: self.settings.height, : self.settings.width]
        dx, dy = (xx - cx) / shape.half[0], (yy - cy) / shape.half[1]
        if shape.ellipse:
            return dx * dx + dy * dy <= 1.0
        return (np.abs(dx) <= 1.0) & (np.abs(dy) <= 1.0)


def _bounce(position: float, half: float, size: float) -> float:
    """Reflect a travelling coordinate at the frame borders."""
    low, span = half, size - 2.0 * half
    phase = (position - low) % (2.0 * span)
    return low + (phase if phase <= span else 2.0 * span - phase)


def failures(gt: GroundTruth, rng: np.random.Generator) -> list[Event]:
    """The segmenter's failures: leaks and drifts onto the nearest neighbour, losses after an
    occlusion, spread over the run."""
    settings, events = gt.settings, []
    frames, count = settings.frames, settings.objects

    def nearest(target: int, frame: int) -> int:
        here = np.array(gt.center(target, frame))
        distances = [
            np.hypot(*(np.array(gt.center(j, frame)) - here)) if j != target else np.inf
            for j in range(count)
        ]
        return int(np.argmin(distances))

    for _ in range(settings.leaks):
        target, start = int(rng.integers(count)), int(rng.integers(10, frames - 40))
        events.append(Event("leak", start, start + 30, target, nearest(target, start)))
    for _ in range(settings.drifts):
        target, start = int(rng.integers(count)), int(rng.integers(30, frames - 60))
        events.append(Event("drift", start, frames, target, nearest(target, start)))
    for _ in range(settings.losses):
        target, start = int(rng.integers(count)), int(rng.integers(20, frames - 40))
        events.append(Event("lost", start, start + 12, target))
    return events


@dataclass
class Track:
    """What one segmenter object follows: a ground-truth object, or (from a ghost) a patch."""

    target: int | None
    patch: Box | None = None


class ScenarioSegmenter:
    """Stands in for the engine (:class:`~sam2_ros.engine.StreamingPredictor`'s interface as
    :class:`~sam2_ros.tracking.detections.DetectedObjects` uses it): a box prompt starts, or
    re-targets, an object on the ground-truth object the box covers best (on nothing: the patch
    in the box, as SAM 2 segments a false positive's background); masks follow their target with
    the failures injected (a drifted object follows the neighbour until re-prompted)."""

    def __init__(self, gt: GroundTruth, events: list[Event], max_objects: int = 16) -> None:
        self.gt, self.events, self.max_objects = gt, events, max_objects
        self.history_frames = HISTORY
        self.tracks: dict[int, Track] = {}
        self.frame = -1
        self._next_id = 1

    @property
    def object_ids(self) -> list[int]:
        """Tracked objects, in the order they started."""
        return list(self.tracks)

    def track(self, frame: int) -> TrackResult:
        """The next frame: drifts start, every object's mask on it."""
        self.frame = frame
        for track in self.tracks.values():
            for event in self.events:
                if event.kind == "drift" and event.start == frame and track.target == event.target:
                    track.target = event.neighbour
        return self.result()

    def add_prompt(
        self,
        object_id: int | None = None,
        points: object = None,
        labels: object = None,
        box: list[float] | None = None,
        frame_index: int | None = None,
    ) -> PromptResult:
        """A box prompt on a held frame: a new object (or ``object_id`` again) on what the box
        covers."""
        frame = self.frame if frame_index is None else frame_index
        if object_id is None:
            if len(self.tracks) >= self.max_objects:
                raise PromptError("max_objects reached")
            object_id, self._next_id = self._next_id, self._next_id + 1
        elif object_id not in self.tracks:
            raise PromptError(f"unknown object {object_id}")
        self.tracks[object_id] = self._target_of(tuple(box), frame)
        mask = self._mask(self.tracks[object_id], frame)
        return PromptResult(object_id, frame, mask, 1.0, 0.0)

    def remove_object(self, object_id: int) -> None:
        """Stop tracking an object."""
        del self.tracks[object_id]

    def result(self, frame_index: int | None = None) -> TrackResult:
        """Every object's mask on the newest frame, or a held earlier one."""
        frame = self.frame if frame_index is None else frame_index
        settings = self.gt.settings
        ids = list(self.tracks)
        masks = np.zeros((len(ids), settings.height, settings.width), bool)
        for row, object_id in enumerate(ids):
            masks[row] = self._mask(self.tracks[object_id], frame)
        count = len(ids)
        return TrackResult(
            frame,
            ids,
            masks,
            np.ones(count, np.float32),
            np.zeros(count, np.float32),
            np.zeros((count, 1), np.float32),
            np.zeros((count, 1, 1), np.float32),
        )

    def is_ghost(self, object_id: int) -> bool:
        """Whether an object follows a patch of background (as one started from a detector's
        false positive does)."""
        return self.tracks[object_id].target is None

    def _target_of(self, box: Box, frame: int) -> Track:
        """What SAM 2 segments in a box: the object with the most visible pixels in it, when
        they are most of that object or a good part of the box; else the box's patch."""
        visible = self.gt.masks(frame)
        x0, y0, x1, y1 = (max(round(v), 0) for v in box)
        inside = visible[:, y0:y1, x0:x1].sum(axis=(1, 2))
        if len(inside):
            best = int(np.argmax(inside))
            area, box_area = visible[best].sum(), max((x1 - x0) * (y1 - y0), 1)
            if inside[best] >= 0.5 * area or inside[best] >= 0.3 * box_area:
                return Track(best)
        return Track(None, box)

    def _mask(self, track: Track, frame: int) -> np.ndarray:
        settings = self.gt.settings
        if track.target is None:
            mask = np.zeros((settings.height, settings.width), bool)
            x0, y0, x1, y1 = (round(v) for v in track.patch)
            mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
            return mask
        mask = self.gt.masks(frame)[track.target].copy()
        for event in self.events:
            if event.target != track.target or not event.start <= frame < event.end:
                continue
            if event.kind == "lost":
                mask[:] = False
            elif event.kind == "leak":
                mask |= self._leak(event, frame)
        return mask

    def _leak(self, event: Event, frame: int) -> np.ndarray:
        """A thin strip from the object's centre to its neighbour's far side."""
        settings = self.gt.settings
        x0, y0 = self.gt.center(event.target, frame)
        x1, y1 = self.gt.center(event.neighbour, frame)
        far = self.gt.shapes[event.neighbour].half
        length = math.hypot(x1 - x0, y1 - y0) + max(far)
        steps = np.linspace(0.0, 1.0, int(length) + 1)
        angle = math.atan2(y1 - y0, x1 - x0)
        xs = (x0 + steps * length * math.cos(angle)).round().astype(int)
        ys = (y0 + steps * length * math.sin(angle)).round().astype(int)
        strip = np.zeros((settings.height, settings.width), bool)
        cols = np.clip(xs, 0, settings.width - 1)
        for offset in range(-(LEAK_WIDTH // 2), LEAK_WIDTH // 2 + 1):
            strip[np.clip(ys + offset, 0, settings.height - 1), cols] = True
        return strip


class ScenarioDetector:
    """A detector of the scene: per frame, a jittered box around each object it sees (some
    missed, a class now and then wrong) and, now and then, a one-frame ghost."""

    def __init__(self, gt: GroundTruth, rng: np.random.Generator) -> None:
        self.gt, self.rng = gt, rng

    def detect(self, frame: int) -> list[Detection]:
        """The detections of ``frame``."""
        settings, rng, gt = self.gt.settings, self.rng, self.gt
        detections = []
        shares, masks = gt.visible_share(frame), gt.masks(frame)
        for index, shape in enumerate(gt.shapes):
            if shares[index] < DETECTABLE or rng.random() < settings.miss:
                continue
            x0, y0, x1, y1 = mask_box(masks[index])
            w, h = x1 - x0, y1 - y0
            jitter = rng.normal(0.0, settings.jitter, 4) * np.array([w, h, w, h])
            box = (x0 + jitter[0], y0 + jitter[1], x1 + jitter[2], y1 + jitter[3])
            class_id = shape.class_id
            if rng.random() < settings.wrong_class:
                class_id = CLASSES[(CLASSES.index(class_id) + 1) % len(CLASSES)]
            detections.append(Detection.from_box(box, class_id, float(rng.uniform(0.6, 1.0))))
        if rng.random() < settings.ghost:
            w, h = rng.uniform(30, 80), rng.uniform(30, 80)
            x, y = rng.uniform(0, settings.width - w), rng.uniform(0, settings.height - h)
            class_id = CLASSES[int(rng.integers(len(CLASSES)))]
            detections.append(Detection.from_box((x, y, x + w, y + h), class_id, 0.9))
        return detections


@dataclass
class ScenarioRun:
    """What the node published on every frame: ids and masks, and which ids were ghosts."""

    published_ids: list[list[int]] = field(default_factory=list)
    published_masks: list[np.ndarray] = field(default_factory=list)
    ghosts: set[int] = field(default_factory=set)


def run(
    settings: ScenarioSettings, association: AssociationSettings, duplicates: DuplicateSettings
) -> tuple[GroundTruth, ScenarioRun]:
    """Drive the node's detection handling through the scene; the ground truth and what was
    published (each frame's objects after tracking, as the node publishes them)."""
    rng = np.random.default_rng(settings.seed)
    gt = GroundTruth(settings, rng)
    segmenter = ScenarioSegmenter(gt, failures(gt, rng), association.max_objects)
    detector = ScenarioDetector(gt, np.random.default_rng(settings.seed + 1))
    session = CameraSession(segmenter, association, duplicates)
    outcome = ScenarioRun()

    def output(shown: TrackResult) -> None:
        outcome.published_ids.append(list(shown.object_ids))
        outcome.published_masks.append(_sample(shown.masks))
        outcome.ghosts |= {i for i in shown.object_ids if segmenter.is_ghost(i)}

    for frame in range(settings.frames):
        seen = frame - settings.latency  # its detections arrive now

        def due(seen: int = seen) -> None:
            if seen >= 0:
                session.add_detections(
                    DetectionMessage(seen * PERIOD_NS, tuple(detector.detect(seen)))
                )

        session.step(frame, frame * PERIOD_NS, output, due, output_first=True)
    return gt, outcome


def _sample(masks: np.ndarray) -> np.ndarray:
    """Masks on every 4th pixel of every 4th row (IoU measured there)."""
    return masks[:, ::4, ::4]


def score(gt: GroundTruth, outcome: ScenarioRun) -> dict:
    """HOTA, DetA, AssA (trackeval's HOTA, mean over its thresholds), IDF1, ID switches
    (trackeval's Identity and CLEAR) of what was published, against the visible objects; ghost
    objects published; duplicate ids (ids first published on a ground-truth object another
    published id was on) and frames on which two published ids were on one object."""
    with contextlib.redirect_stdout(io.StringIO()):  # it reports datasets it cannot load
        from trackeval.metrics import CLEAR, HOTA, Identity

    data, tracker_index = _trackeval_data(gt, outcome)
    quiet = {"PRINT_CONFIG": False}
    hota = HOTA(quiet).eval_sequence(data)
    identity = Identity(quiet).eval_sequence(data)
    clear = CLEAR(quiet).eval_sequence(data)
    duplicate_ids, doubled_frames = _duplicates(gt, outcome)
    return {
        "hota": float(np.mean(hota["HOTA"])),
        "deta": float(np.mean(hota["DetA"])),
        "assa": float(np.mean(hota["AssA"])),
        "idf1": float(identity["IDF1"]),
        "id_switches": int(clear["IDSW"]),
        "ghosts_published": len(outcome.ghosts),
        "duplicate_ids": duplicate_ids,
        "frames_with_two_ids_on_one_object": doubled_frames,
        "ids_published": len(tracker_index),
    }


def _trackeval_data(gt: GroundTruth, outcome: ScenarioRun) -> tuple[dict, dict[int, int]]:
    """The per-frame ids and similarity matrices trackeval scores (ids numbered from 0)."""
    tracker_index: dict[int, int] = {}
    gt_ids, tracker_ids, similarity = [], [], []
    for frame, (ids, masks) in enumerate(
        zip(outcome.published_ids, outcome.published_masks, strict=True)
    ):
        truth = _sample(gt.masks(frame))
        visible = np.flatnonzero(truth.reshape(len(truth), -1).any(axis=1))
        for object_id in ids:
            tracker_index.setdefault(object_id, len(tracker_index))
        gt_ids.append(visible)
        tracker_ids.append(np.array([tracker_index[i] for i in ids], int))
        similarity.append(_ious(truth[visible], masks))
    data = {
        "num_timesteps": len(gt_ids),
        "num_gt_ids": gt.settings.objects,
        "num_tracker_ids": len(tracker_index),
        "num_gt_dets": sum(len(g) for g in gt_ids),
        "num_tracker_dets": sum(len(t) for t in tracker_ids),
        "gt_ids": gt_ids,
        "tracker_ids": tracker_ids,
        "similarity_scores": similarity,
    }
    return data, tracker_index


def _ious(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` IoU of two stacks of masks."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return mask_ious(np.concatenate([a, b]))[: len(a), len(a) :]


def _duplicates(gt: GroundTruth, outcome: ScenarioRun) -> tuple[int, int]:
    """Ids first published on an object another published id was on, and frames on which two
    published ids were on one object."""
    seen: set[int] = set()
    duplicate_ids, doubled_frames = 0, 0
    for frame, (ids, masks) in enumerate(
        zip(outcome.published_ids, outcome.published_masks, strict=True)
    ):
        on = _ious(_sample(gt.masks(frame)), masks) >= SAME_OBJECT_IOU  # (objects, published)
        doubled_frames += bool((on.sum(axis=1) > 1).any())
        for column, object_id in enumerate(ids):
            if object_id not in seen:
                seen.add(object_id)
                others = np.delete(on, column, axis=1)
                duplicate_ids += bool((on[:, column] & others.any(axis=1)).any())
    return duplicate_ids, doubled_frames


def scenario_settings(args: Any) -> ScenarioSettings:
    """The scene of ``sam2-ros bench`` options: ``--width``, ``--height`` and ``--scenario-*``."""
    flags = {
        name: getattr(args, f"scenario_{name}")
        for name in ScenarioSettings.__annotations__
        if name not in ("width", "height")
    }
    return ScenarioSettings(width=args.width, height=args.height, **flags)


def bench_tracking_scenario(args: Any) -> dict[str, dict]:
    """The scene run with the node's rules (its defaults) and without them (births published
    at once, pairing against mask boxes, no duplicate removal), each scored."""
    settings = scenario_settings(args)
    runs = {}
    for name, association, duplicates in (
        ("with_rules", AssociationSettings(), DuplicateSettings()),
        (
            "without_rules",
            AssociationSettings(confirm_hits=1, match_on="box"),
            DuplicateSettings(frames=0),
        ),
    ):
        runs[name] = score(*run(settings, association, duplicates))
    return runs
