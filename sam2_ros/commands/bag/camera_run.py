"""One camera of a ``sam2-ros bag`` run: its messages in bag order, its frames tracked by its own
predictor and written, the prompts file's prompts and a recorded detector's messages applied, depth
paired with its frames for 3D."""

from __future__ import annotations

import time
from typing import Any

from tqdm import tqdm

from sam2_ros.commands.bag.bag_io import BagError, output_connections, write_outputs
from sam2_ros.commands.bag.cameras import BagCamera
from sam2_ros.commands.bag.depth import BagLifter
from sam2_ros.commands.bag.options import BagSettings
from sam2_ros.commands.bag.prompts import BagPrompt
from sam2_ros.engine import PromptError, StreamingPredictor, TrackResult
from sam2_ros.messages.detections import detection_message
from sam2_ros.messages.images import ImageConversionError, message_to_rgb, ros_header
from sam2_ros.tracking.camera_session import CameraSession, EventSource, TimeJumpOutcome
from sam2_ros.tracking.detections import DetectionOutcome
from sam2_ros.tracking.duplicates import duplicate_text
from sam2_ros.tracking.frame_stamps import stamp_ns, stamp_text


class CameraRun:
    """One camera's messages in bag order: frames tracked and written, prompts from the file
    applied after their frame, detections applied once their frame is tracked, depth for 3D."""

    def __init__(
        self,
        settings: BagSettings,
        camera: BagCamera,
        predictor: StreamingPredictor,
        prompts: list[BagPrompt],
        writer: Any,
        typestore: Any,
    ) -> None:
        self._settings, self.camera, self._prompts = settings, camera, prompts
        self._writer = writer
        #: The camera's output connections by name (``masks``, ...).
        self.outputs = output_connections(writer, typestore, camera.name, bool(camera.depth_topic))
        self._lifter = (
            BagLifter(settings.depth, camera, writer, self.outputs["objects_3d"])
            if camera.depth_topic
            else None
        )
        self._where = ""
        detector = bool(camera.detections_topic)
        self._session = CameraSession(
            predictor,
            *((settings.detection, settings.duplicates) if detector else (None, None)),
            on_outcome=self._report,
            on_duplicate=lambda d: tqdm.write(f"{self._where}: {duplicate_text(d)}"),
            on_time_jump=self._report_time_jump,
            time_jumps=settings.time_jumps,
        )
        self._frames = self._skipped = self._detection_messages = 0
        self._engine_s: list[float] = []  # the engine's time of each frame

    def message(
        self, kind: str, reader: Any, connection: Any, timestamp: int, rawdata: bytes
    ) -> None:
        """One of the camera's messages (``kind``: image, detections or depth), in bag order."""
        if kind == "image":
            self._frame(reader, connection, timestamp, rawdata)
        elif kind == "detections":
            message = reader.deserialize(rawdata, connection.msgtype)
            self._detection_messages += 1
            self._session.add_detections(detection_message(message))
            self._session.apply_detections()
        else:
            self._lifter.add(connection.msgtype, reader.deserialize(rawdata, connection.msgtype))

    def _frame(self, reader: Any, connection: Any, timestamp: int, rawdata: bytes) -> None:
        where = f"{self.camera.image_topic} at bag time {timestamp / 1e9:.6f} s"
        try:
            msg = reader.deserialize(rawdata, connection.msgtype)
            rgb = message_to_rgb(msg)
        except ImageConversionError as err:
            if "unsupported encoding" in str(err):
                raise BagError(f"{where}: {err}") from err
            tqdm.write(f"warning: {where}: skipped a corrupt frame: {err}")
            self._skipped += 1
            return
        except Exception as err:  # the CDR deserializer raises for malformed messages
            tqdm.write(f"warning: {where}: skipped a message that cannot be decoded: {err}")
            self._skipped += 1
            return
        self._where = where
        started = time.perf_counter()
        header = ros_header(msg.header)
        self._session.frame_received(stamp_ns(msg.header.stamp))

        def due() -> None:
            for prompt in self._prompts:
                if prompt.due(self._frames, timestamp):
                    self._apply(prompt, where)

        self._session.step(
            rgb,
            stamp_ns(msg.header.stamp),
            lambda result: self._write(header, timestamp, result),
            due,
            output_first=False,  # a prompt of the file shows on its own frame
            tracked=lambda result: self._engine_s.append(time.perf_counter() - started),
        )
        self._frames += 1

    def _write(self, header: Any, timestamp: int, result: TrackResult) -> None:
        labels = self._session.labels
        write_outputs(
            self._writer,
            self.outputs,
            (header, timestamp),
            self.camera.name,
            result,
            labels,
            self._settings.occlusion_threshold,
        )
        if self._lifter is not None:
            self._lifter.frame(header, timestamp, result, labels)

    def _apply(self, prompt: BagPrompt, where: str) -> None:
        try:
            self._session.prompt(
                prompt.object_id,
                prompt.points or [],
                prompt.labels or [],
                prompt.box,
                prompt.label,
                None,
                EventSource.PROMPTS_FILE,
            )
        except PromptError as err:
            raise BagError(f"prompts file entry {prompt.entry} at {where}: {err}") from err
        prompt.applied = True

    def _report_time_jump(self, outcome: TimeJumpOutcome) -> None:
        objects = "objects forgotten" if outcome.reset else "objects kept"
        tqdm.write(f"warning: {self._where}: {outcome.jump}: {objects}")

    def _report(self, outcome: DetectionOutcome) -> None:
        where = f"detections stamped {stamp_text(outcome.stamp)}"
        if outcome.problem:
            tqdm.write(f"warning: {where} dropped: {outcome.problem}")
        for change in outcome.changes(self._session.detected.settings):
            tqdm.write(f"{where} {change}")

    def finish(self) -> dict:
        """The bag ended: write what waited for depth; counts for the summary."""
        if self._lifter is not None:
            self._lifter.finish()
        detections = ""
        if self.camera.detections_topic:
            detections = f", {self._detection_messages} detection messages"
        return {
            "image_topic": self.camera.image_topic,
            "frames": self._frames,
            "skipped": self._skipped,
            "engine_seconds": sum(self._engine_s),
            "objects": self._session.published_ids,
            "detections": detections,
        }
