"""How the node's services reach its cameras: a camera by name, and a command run on the
tracking thread between frames, with a clear error when the node cannot run it."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from rclpy.lifecycle import LifecycleNode

from sam2_ros.engine import PromptError
from sam2_ros.node.camera_pipeline import CameraPipeline
from sam2_ros.runtime.worker import TrackingWorker, WorkerStoppedError

COMMAND_TIMEOUT_S = 30.0


class CameraAccess:
    """The node's cameras and tracking thread as they are now (both change with the lifecycle)."""

    def __init__(
        self,
        node: LifecycleNode,
        cameras: Callable[[], dict[str, CameraPipeline]],
        worker: Callable[[], TrackingWorker | None],
    ) -> None:
        self._node, self._cameras, self.worker = node, cameras, worker

    def state(self) -> tuple[int, str]:
        """The node's lifecycle state: id and label."""
        return self._node._state_machine.current_state

    def camera(self, name: str) -> CameraPipeline:
        """The camera of that name ('' = the first); PromptError when there is none."""
        cameras = self._cameras()
        if not cameras:
            raise PromptError("node is not configured: configure and activate it first")
        if not name:
            return next(iter(cameras.values()))
        if name not in cameras:
            raise PromptError(f"unknown camera {name!r}; cameras: {list(cameras)}")
        return cameras[name]

    def cameras_named(self, name: str) -> list[CameraPipeline]:
        """The named camera, or every camera for ''."""
        cameras = self._cameras()
        if name or not cameras:
            return [self.camera(name)]
        return list(cameras.values())

    def run(self, command: Callable[[], Any]) -> Any:
        """Run ``command`` on the tracking thread between frames and give its answer
        (PromptError when the node is not active, tracking stopped or it took too long)."""
        return self.wait(self.submit(command))

    def submit(self, command: Callable[[], Any]) -> Future:
        """Queue a command for the tracking thread (between frames)."""
        worker = self.worker()
        if worker is None or not worker.tracking:
            raise PromptError(
                f"node is {self.state()[1]}, not active: activate it to track objects"
            )
        return worker.call(command)

    @staticmethod
    def wait(future: Future) -> Any:
        """The answer of a submitted command."""
        try:
            return future.result(timeout=COMMAND_TIMEOUT_S)
        except WorkerStoppedError as err:
            raise PromptError(f"not applied: {err}") from err
        except TimeoutError as err:
            raise PromptError(
                f"the tracking thread did not answer in {COMMAND_TIMEOUT_S} s"
            ) from err
