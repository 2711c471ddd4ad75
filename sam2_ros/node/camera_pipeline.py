"""One camera of the node: the ROS adapter around its :class:`CameraSession` (inputs, output
publishers, clicks waiting for their frame, statistics).

The node builds one :class:`CameraPipeline` per configured camera. Subscription callbacks only hand
work on (frames to the tracking worker, clicks to a queue the worker drains); everything that
touches the session runs on the tracking thread: :meth:`CameraPipeline.process` takes a frame
through decode -> the session's step (track, publish, then the clicks and detections due on it),
:meth:`CameraPipeline.prompt` applies a prompt to a tracked frame named by its stamp. Every change
to the objects is published on ``~/<camera>/events``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rclpy
from rclpy.callback_groups import CallbackGroup
from rclpy.lifecycle import LifecycleNode
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from vision_msgs.msg import Detection2DArray

from sam2_ros.engine import PromptError, PromptResult, Sam2Model, TrackResult
from sam2_ros.engine.streaming.objects_file import SavedObjects
from sam2_ros.messages.detections import to_detection_array
from sam2_ros.messages.events import to_event_msg
from sam2_ros.messages.images import (
    ImageConversionError,
    array_to_image_msg,
    message_to_rgb,
    to_compressed_image_msg,
)
from sam2_ros.messages.results import to_label_image_msg, to_tracking_msgs
from sam2_ros.messages.serialized_images import SerializedImage
from sam2_ros.msg import ObjectMasks, ObjectPointers, OcclusionScores, TrackingEvent
from sam2_ros.node.camera_depth import CameraDepth
from sam2_ros.node.camera_detector import CameraDetector
from sam2_ros.node.camera_inputs import CameraInputs
from sam2_ros.node.camera_outputs import EVENTS_QOS, CameraPublishers
from sam2_ros.overlay import draw_overlay
from sam2_ros.parameters.node_params import CameraConfig, NodeParams
from sam2_ros.runtime.statistics import CameraStatistics
from sam2_ros.runtime.worker import WorkerStoppedError
from sam2_ros.tracking.camera_session import CameraSession, SessionEvent, camera_predictor
from sam2_ros.tracking.frame_stamps import StampNotHeldError, TrackedFrames, stamp_ns, stamp_text

#: Logs a problem once per period: (message, is_error).
ProblemLog = Callable[[str, bool], None]


def calibration(info: CameraInfo) -> tuple:
    """What identifies a camera's calibration: image size, optical frame and intrinsics."""
    return info.width, info.height, info.header.frame_id, tuple(info.k)


class CameraOutputs:
    """The 2D output publishers of one camera."""

    def __init__(self, publishers: CameraPublishers) -> None:
        self.events = publishers.create(TrackingEvent, "events", EVENTS_QOS)
        self.masks = publishers.create(ObjectMasks, "masks")
        self.occlusion = publishers.create(OcclusionScores, "occlusion")
        self.pointers = publishers.create(ObjectPointers, "object_pointers")
        self.label_image = publishers.create(Image, "label_image")
        self.overlay = publishers.create(Image, "overlay")
        self.overlay_compressed = publishers.create(CompressedImage, "overlay/compressed")
        self.detections = publishers.create(Detection2DArray, "detections")


@dataclass(frozen=True)
class Click:
    """A click waiting to start an object on the frame the user saw (stamp None: newest)."""

    x: float
    y: float
    source: str
    seen_stamp: int | None


class CameraPipeline:
    """Everything one camera needs: inputs, predictor, prompts, publishers, statistics."""

    def __init__(
        self,
        node: LifecycleNode,
        config: CameraConfig,
        params: NodeParams,
        model: Sam2Model,
        log_problem: ProblemLog,
    ) -> None:
        self.config = config
        self.predictor = camera_predictor(params, model)
        self.stats = CameraStatistics()
        self.camera_info: CameraInfo | None = None
        self._node = node
        self._params = params
        self._publishers = CameraPublishers(node, config.name)
        self._outputs = CameraOutputs(self._publishers)
        self._event_sequence = 0
        self.detector = (
            CameraDetector(
                config.name, self.stats, node.get_logger().info, log_problem, params.detection
            )
            if config.detection_topic
            else None
        )
        self.session = CameraSession(
            self.predictor,
            params.detection if config.detection_topic else None,
            params.duplicates,
            on_event=self._publish_event,
            on_outcome=self.detector.report if self.detector is not None else None,
            on_duplicate=self.detector.duplicate if self.detector is not None else None,
        )
        self.depth = (
            CameraDepth(
                self._publishers,
                config.name,
                config.depth_topic,
                params,
                log_problem,
                self.stats.record_unpaired_depth,
            )
            if config.depth_topic
            else None
        )
        self._log_problem = log_problem
        self._inputs: CameraInputs | None = None
        self._submit_frame: Callable[[str, Any], None] | None = None
        self._submit_command: Callable[[Callable[[], Any]], Any] | None = None
        self._clicks: list[Click] = []
        self._clicks_lock = threading.Lock()
        self._received_stamp: int | None = None  # newest frame received from the camera
        self._overlay_stamp: int | None = None  # newest overlay published

    @property
    def labels(self) -> dict[int, str]:
        """The objects' labels (the session's)."""
        return self.session.labels

    @property
    def tracked(self) -> TrackedFrames:
        """The tracked frames' stamps (the session's)."""
        return self.session.tracked

    @property
    def name(self) -> str:
        """The camera's name (outputs go to ``~/<name>/...``)."""
        return self.config.name

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(
        self,
        submit_frame: Callable[[str, Any], None],
        submit_command: Callable[[Callable[[], Any]], Any],
        group: CallbackGroup,
    ) -> None:
        """Subscribe the camera's inputs (on activate)."""
        self._submit_frame, self._submit_command = submit_frame, submit_command
        self._inputs = CameraInputs(
            self._node,
            self.config,
            self._params,
            group,
            report=self._report_input_problem,
            log=lambda message: self._log_problem(f"camera {self.name}: {message}", False),
            on_image=self._on_image,
            on_click=self.click,
            on_camera_info=self._on_camera_info,
            on_depth=self.depth.on_depth if self.depth is not None else None,
            on_detections=self._on_detections if self.detector is not None else None,
        )

    def stop(self) -> None:
        """Drop every subscription and waiting click (on deactivate)."""
        if self._inputs is not None:
            self._inputs.destroy()
            self._inputs = None
        with self._clicks_lock:
            self._clicks.clear()
        if self.depth is not None:
            self.depth.forget()
        self.camera_info = self._received_stamp = self._overlay_stamp = None

    def destroy(self) -> None:
        """Remove the publishers (on cleanup)."""
        self._publishers.destroy()

    def check_inputs(self) -> None:
        """Periodic: follow the camera's reliability, report publishers that send nothing."""
        if self._inputs is not None:
            self._inputs.check()

    def forget(self, source: str = "lifecycle") -> None:
        """Forget every object, memory, tracked frame and waiting detection and click (tracking
        thread, or inactive)."""
        self.session.forget(source)
        with self._clicks_lock:
            self._clicks.clear()

    def remove_object(self, object_id: int) -> None:
        """Stop tracking an object (tracking thread)."""
        self.session.remove(object_id, "service")

    @property
    def published_ids(self) -> list[int]:
        """The objects the camera publishes: every tracked one but the detector's tentative
        ones."""
        return self.session.published_ids

    def start_events(self) -> None:
        """Number this activation's events from 1."""
        self._event_sequence = 0

    def _publish_event(self, event: SessionEvent) -> None:
        started = time.perf_counter()
        self._event_sequence += 1
        self._outputs.events.publish(to_event_msg(event, self.name, self._event_sequence))
        self.stats.record_event(time.perf_counter() - started)

    def save_objects(self, path: Path) -> list[int]:
        """Write the published objects (memories, ids, labels) to ``path``; their ids."""
        ids = self.published_ids
        self.predictor.save_objects(path, self.labels, object_ids=ids)
        return ids

    def restore_objects(self, saved: SavedObjects, source: str, path: Path) -> list[int]:
        """Track the objects read by ``predictor.read_objects`` instead of the current ones, from
        the next frame on (earlier frames can no longer be prompted); their ids."""
        with self._clicks_lock:
            self._clicks.clear()
        return self.session.restore(saved, source, str(path))

    # ---- inputs (executor threads) --------------------------------------------------------------

    def _on_image(self, image: SerializedImage) -> None:
        self._received_stamp = image.stamp
        self.stats.record_received()
        self._submit_frame(self.name, image)

    def _on_detections(self, message: Any) -> None:
        self.session.add_detections(self.detector.on_message(message))
        self._run_soon(self.session.apply_detections)

    def _run_soon(self, command: Callable[[], Any]) -> None:
        """Run ``command`` on the tracking thread before the next frame; log it if it fails."""

        def report(done: Future) -> None:
            error = None if done.cancelled() else done.exception()
            if error is not None and not isinstance(error, WorkerStoppedError):
                self._log_problem(
                    f"camera {self.name}: {command.__name__} failed: {type(error).__name__}: "
                    f"{error}",
                    True,
                )

        self._submit_command(command).add_done_callback(report)

    def _on_camera_info(self, message: CameraInfo) -> None:
        """Keep the newest calibration; log when it first arrives or changes."""
        previous, self.camera_info = self.camera_info, message
        if previous is None or calibration(previous) != calibration(message):
            self._node.get_logger().info(
                f"camera {self.name}: CameraInfo {message.width}x{message.height} in frame "
                f"'{message.header.frame_id}' (fx={message.k[0]:g}, fy={message.k[4]:g})"
            )

    def _report_input_problem(self, message: str) -> None:
        self.stats.set_input_problem(message)
        self._log_problem(f"camera {self.name}: {message}", False)

    def click(self, x: float, y: float, source: str) -> None:
        """Start an object at a pixel of the frame the user saw when clicking: on the image, the
        newest frame received; on the overlay, the newest overlay published; from rviz, the
        newest frame tracked. Applied between frames; the outcome is logged."""
        seen = {
            "image click": self._received_stamp,
            "overlay click": self._overlay_stamp,
        }.get(source, self.tracked.newest_stamp())
        with self._clicks_lock:
            self._clicks.append(Click(x, y, source, seen))
        self._run_soon(self.apply_due_clicks)

    # ---- tracking thread ------------------------------------------------------------------------

    def apply_due_clicks(self) -> None:
        """Apply the waiting clicks whose frame was tracked (or skipped for a newer one)."""
        newest = self.tracked.newest_stamp()

        def due(click: Click) -> bool:  # a frame received but still waiting holds its clicks
            return newest is None or click.seen_stamp is None or click.seen_stamp <= newest

        with self._clicks_lock:
            ready = [c for c in self._clicks if due(c)]
            self._clicks = [c for c in self._clicks if not due(c)]
        for click in ready:
            self._apply_click(click)

    def _apply_click(self, click: Click) -> None:
        where = f"{click.source} on {self.name} at ({click.x:.0f}, {click.y:.0f})"
        frame_index = self.tracked.at_or_before(click.seen_stamp)
        try:
            answer, stamp = self.prompt(
                None, [(click.x, click.y)], [1], None, "", frame_index, click.source
            )
        except PromptError as err:
            self._node.get_logger().warning(f"{where} refused: {err}")
            return
        self._node.get_logger().info(
            f"{where}: object {answer.object_id} on the frame stamped {stamp_text(stamp)} "
            f"(score {answer.score:.3f})"
        )

    def frame_for_stamp(self, stamp: int) -> int:
        """The engine frame index of the tracked frame with that stamp (or nearest)."""
        try:
            return self.tracked.find(stamp)
        except StampNotHeldError as err:
            raise PromptError(f"camera {self.name}: {err}") from err

    def prompt(
        self,
        object_id: int | None,
        points: list[tuple[float, float]],
        labels: list[int],
        box: list[float] | None,
        label: str,
        frame_index: int | None,
        source: str = "service",
    ) -> tuple[PromptResult, int]:
        """Add or refine an object on a tracked frame (None: the newest); the engine's answer and
        the stamp of the frame it landed on."""
        return self.session.prompt(object_id, points, labels, box, label, frame_index, source)

    def process(self, image: SerializedImage, skipped: int) -> None:
        """Decode, track and publish one frame (``skipped``: newer frames replaced it since the
        last one), then apply the clicks and detections made on it."""
        applied = False

        def due() -> None:
            nonlocal applied
            applied = True
            self.apply_due_clicks()

        try:
            self._track_and_publish(image.message(), skipped, due)
        finally:
            if not applied:
                due()
                self.session.apply_detections()

    def _track_and_publish(self, message: Any, skipped: int, due: Callable[[], None]) -> None:
        stats = self.stats
        stats.record_skipped(skipped)
        try:
            rgb = message_to_rgb(message)
        except ImageConversionError as err:
            stats.record_bad_frame()
            self._log_problem(f"camera {self.name}: dropped a frame: {err}", True)
            return
        started = time.perf_counter()
        engine_s = 0.0

        def tracked(result: TrackResult) -> None:
            nonlocal engine_s
            engine_s = time.perf_counter() - started

        def output(result: TrackResult) -> None:
            self._publish(message.header, rgb, result)
            if self.depth is not None:
                self.depth.publish(message.header, result, self.labels, self.camera_info)
            clock = self._node.get_clock()
            latency = clock.now() - rclpy.time.Time.from_msg(
                message.header.stamp, clock_type=clock.clock_type
            )
            stats.record_frame(
                latency.nanoseconds * 1e-9,
                engine_s,
                len(result.object_ids),
                self.predictor.memory_bytes(),
            )

        self.session.step(
            rgb, stamp_ns(message.header.stamp), output, due, output_first=True, tracked=tracked
        )

    def _publish(self, header: Any, rgb: Any, result: Any) -> None:
        params, out = self._params, self._outputs
        messages = to_tracking_msgs(
            header, self.name, result, self.labels, params.occlusion_threshold
        )
        out.masks.publish(messages["masks"])
        out.occlusion.publish(messages["occlusion"])
        out.pointers.publish(messages["object_pointers"])
        if out.detections.get_subscription_count():
            out.detections.publish(to_detection_array(header, result, self.labels))
        if params.publish_label_image and out.label_image.get_subscription_count():
            out.label_image.publish(to_label_image_msg(header, result))
        raw = out.overlay.get_subscription_count()
        compressed = out.overlay_compressed.get_subscription_count()
        if params.publish_overlay and (raw or compressed):
            overlay = draw_overlay(rgb, result, self.labels, params.occlusion_threshold)
            if raw:
                out.overlay.publish(array_to_image_msg(overlay, "bgr8", header))
            if compressed:
                out.overlay_compressed.publish(to_compressed_image_msg(overlay, header))
            self._overlay_stamp = stamp_ns(header.stamp)
