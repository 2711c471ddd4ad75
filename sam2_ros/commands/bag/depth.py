"""3D for a bag's camera: each tracked frame waits for the depth image nearest in time, which
may come later in the bag, and is lifted with the camera's CameraInfo. When the stamps go back
(concatenated recordings), a frame of the new timeline waits until the depth images have gone
back too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rclpy.serialization import serialize_message
from tqdm import tqdm

from sam2_ros.commands.bag.bag_io import CAMERA_INFO_TYPE
from sam2_ros.commands.bag.cameras import BagCamera
from sam2_ros.engine import TrackResult
from sam2_ros.geometry.lifting import LiftedObject
from sam2_ros.messages.objects_3d import DepthError, lift_objects, to_objects_3d_msg
from sam2_ros.tracking.depth_pairing import DepthBuffer
from sam2_ros.tracking.frame_stamps import Timelines, stamp_ns, stamp_text


@dataclass(frozen=True)
class DepthSettings:
    """How a bag's depth images pair with its frames and are read (the ``--depth-*`` options)."""

    scale: float  # metres per 16UC1 unit
    max_time_diff: float  # pairing tolerance, seconds
    range: tuple[float, float]  # valid depth, metres
    min_points: int  # valid depth pixels an object needs to be lifted
    #: Nanoseconds a stamp may go back without starting a new timeline (``--time-jump-tolerance``).
    jump_tolerance: int = 100_000_000


class BagLifter:
    """Objects in 3D for a bag: each frame waits for the depth image nearest in time (which may
    come later in the bag) before its ``objects_3d`` is written."""

    def __init__(
        self, settings: DepthSettings, camera: BagCamera, writer: Any, connection: Any
    ) -> None:
        self._settings, self._camera = settings, camera
        self._writer, self._connection = writer, connection
        self._depth = DepthBuffer(capacity=100, jump_tolerance=settings.jump_tolerance)
        self._timelines = Timelines(settings.jump_tolerance)  # the frames' timelines
        self._info = None
        #: Frames waiting for depth: header, bag time, result, labels, timeline.
        self._waiting: list[tuple[Any, int, TrackResult, dict[int, str], int]] = []

    def add(self, msgtype: str, message: Any) -> None:
        """A depth image or CameraInfo from the bag."""
        if msgtype == CAMERA_INFO_TYPE:
            self._info = message
            return
        self._depth.add(stamp_ns(message.header.stamp), message)
        self._write_ready(final=False)

    def frame(self, header: Any, timestamp: int, result: TrackResult, labels: dict) -> None:
        """A tracked frame, written once its depth image can no longer come closer."""
        timeline = self._timelines.of(stamp_ns(header.stamp))
        self._waiting.append((header, timestamp, result, dict(labels), timeline))
        self._write_ready(final=False)

    def finish(self) -> None:
        """The bag ended: write the frames still waiting."""
        self._write_ready(final=True)

    def _write_ready(self, final: bool) -> None:
        settings = self._settings
        tolerance = int(settings.max_time_diff * 1e9)
        while self._waiting:
            header, timestamp, result, labels, timeline = self._waiting[0]
            stamp = stamp_ns(header.stamp)
            depth_behind = self._depth.timeline < timeline  # its stamps have not gone back yet
            if not final and (depth_behind or not self._depth.complete(stamp)):
                return
            self._waiting.pop(0)
            depth = self._depth.pair(stamp, tolerance, 0.0)
            try:
                if depth is None:
                    raise DepthError(f"no depth image within {settings.max_time_diff} s")
                lifted = lift_objects(
                    result.masks,
                    depth,
                    self._info,
                    settings.scale,
                    settings.range,
                    settings.min_points,
                    self._camera.depth_topic,
                )
            except DepthError as err:
                tqdm.write(f"warning: frame stamped {stamp_text(stamp)}: not lifted: {err}")
                lifted = [LiftedObject.invalid() for _ in result.object_ids]
            message = to_objects_3d_msg(
                header, self._camera.name, result.object_ids, labels, lifted
            )
            self._writer.write(self._connection, timestamp, serialize_message(message))
