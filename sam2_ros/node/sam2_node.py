"""The sam2_ros lifecycle node: camera topics in; masks, occlusion and object pointers out.

The lifecycle and wiring layer: one :class:`CameraPipeline` per camera (its subscriptions,
predictor and publishers; all sharing one model), one :class:`TrackingWorker` thread that runs
every frame and command in turn, and the node's parts wired to them: the object services
(:mod:`~sam2_ros.node.prompt_services`), saved objects (:mod:`~sam2_ros.node.object_files`), rviz
clicks (:mod:`~sam2_ros.node.rviz_clicks`) and diagnostics.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from sam2_ros.engine import CheckpointError, Sam2Model
from sam2_ros.engine.model.checkpoint import expected_checkpoint
from sam2_ros.messages.diagnostics import camera_status, process_status
from sam2_ros.messages.events import to_session_msg
from sam2_ros.msg import TrackingSession
from sam2_ros.node.camera_access import CameraAccess
from sam2_ros.node.camera_outputs import NO_PUBLISHER_EVENTS, SESSION_QOS
from sam2_ros.node.camera_pipeline import CameraPipeline
from sam2_ros.node.executor import InputsInlineExecutor
from sam2_ros.node.guards import logged_transition
from sam2_ros.node.model_loading import build_model
from sam2_ros.node.object_files import ObjectFiles
from sam2_ros.node.params import declare_parameters, parameter_values, read_parameters
from sam2_ros.node.prompt_services import PromptServices
from sam2_ros.node.rviz_clicks import RvizClicks
from sam2_ros.parameters.declarations import ParameterError
from sam2_ros.parameters.node_params import NodeParams
from sam2_ros.runtime.heap import release_free_memory, steady_heap
from sam2_ros.runtime.process_stats import ThreadCpuMeter, rss_bytes
from sam2_ros.runtime.threads import thread_role
from sam2_ros.runtime.throttle import ProblemThrottle
from sam2_ros.runtime.worker import TrackingWorker
from sam2_ros.tracking.camera_session import EventSource

NODE_NAME = "sam2"
LOG_THROTTLE_S = 5.0
#: Seconds between checks of who publishes the camera topics (image_reliability: auto, warnings).
INPUT_CHECK_PERIOD_S = 0.5


class Sam2Node(LifecycleNode):
    """Managed node: ``configure`` loads the model, ``activate`` starts tracking,
    ``deactivate`` stops it and forgets all objects, ``cleanup`` frees the model."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        declare_parameters(self)
        self._params: NodeParams | None = None
        self._model: Sam2Model | None = None
        self._cameras: dict[str, CameraPipeline] = {}
        self._worker: TrackingWorker | None = None
        self._timers: list[Any] = []
        self._cpu_meter: ThreadCpuMeter | None = None
        self._throttle = ProblemThrottle(LOG_THROTTLE_S)
        self._input_group = MutuallyExclusiveCallbackGroup()
        service_group = ReentrantCallbackGroup()
        self._diagnostics_pub = self.create_publisher(
            DiagnosticArray, "/diagnostics", 10, event_callbacks=NO_PUBLISHER_EVENTS
        )
        self._session_publisher = self.create_lifecycle_publisher(
            TrackingSession, "~/session", SESSION_QOS, event_callbacks=NO_PUBLISHER_EVENTS
        )
        access = CameraAccess(self, lambda: self._cameras, lambda: self._worker)
        self._prompts = PromptServices(
            self,
            access,
            lambda: self._forget_objects(EventSource.SERVICE),
            self._log_problem,
            service_group,
        )
        self._object_files = ObjectFiles(
            self, access, lambda: self._params.objects_dir, service_group
        )
        self._rviz_clicks = RvizClicks(self, lambda: self._cameras.values(), self._log_problem)

    @property
    def input_group(self) -> MutuallyExclusiveCallbackGroup:
        """The callback group of every input (camera frames, clicks, CameraInfo, depth,
        detections): callbacks that only hand work on, run on the executor's spinning thread."""
        return self._input_group

    # ---- lifecycle ---------------------------------------------------------------------------

    @logged_transition
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Validate parameters, start the tracking thread and load the model on it."""
        try:
            params = read_parameters(self)
            if params.checkpoint is None and not params.allow_random_weights:
                raise CheckpointError(
                    f"no checkpoint: expected {expected_checkpoint(params.model_cfg)}; run "
                    "model/download_checkpoints.sh (then rebuild/reinstall) or set the "
                    "'checkpoint' parameter to a SAM 2 .pt file"
                )
        except (ParameterError, CheckpointError) as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        worker = TrackingWorker(
            self._process_frame, self._on_frame_error, params.drop_frames, params.queue_size
        )
        worker.start()
        try:
            model = worker.run(functools.partial(build_model, params, self.get_logger()))
        except Exception:
            worker.stop("configure failed")
            raise
        if model is None:
            worker.stop("configure failed")
            return TransitionCallbackReturn.FAILURE
        self._params, self._model, self._worker = params, model, worker
        self._cameras = {
            camera.name: CameraPipeline(self, camera, params, model, self._log_problem)
            for camera in params.cameras
        }
        self.get_logger().info(
            f"configured: {params.model_cfg} on {model.device} at {model.image_size} px in "
            f"{model.precision} ({model.precision_reason}), backend {model.describe_backend()}, "
            f"memory selection {next(iter(self._cameras.values())).session.selection}, "
            "checkpoint "
            f"{params.checkpoint or 'none'}, cameras {[c.name for c in params.cameras]}"
        )
        return TransitionCallbackReturn.SUCCESS

    @logged_transition
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the cameras and start tracking."""
        params = self._params
        activated = super().on_activate(state)  # publishers on: activation's events reach them
        if activated != TransitionCallbackReturn.SUCCESS:
            return activated
        session = functools.partial(  # on the tracking thread: the fingerprint reads the weights
            to_session_msg,
            self.get_name(),
            self._model,
            parameter_values(self),
            [(c.name, c.image_topic) for c in params.cameras],
            self.get_clock().now().nanoseconds,
        )
        self._session_publisher.publish(self._worker.run(session))
        for camera in self._cameras.values():
            camera.start_events()
        self._worker.start_tracking()
        if params.load_objects_on_activate:
            cameras, name = self._cameras.values(), params.load_objects_on_activate
            self._worker.run(lambda: self._object_files.load_on_activate(cameras, name))
        for camera in self._cameras.values():
            camera.start(self._worker.submit_frame, self._worker.call, self._input_group)
        if params.rviz_click_topic:
            self._rviz_clicks.start(params.rviz_click_topic, self._input_group)
        self._cpu_meter = ThreadCpuMeter(functools.partial(thread_role, main_tid=os.getpid()))
        self._timers = [
            self.create_timer(1.0, self._publish_diagnostics),
            self.create_timer(
                INPUT_CHECK_PERIOD_S, self._check_inputs, callback_group=self._input_group
            ),
        ]
        self.get_logger().info(
            "active: listening on " + ", ".join(c.image_topic for c in params.cameras)
        )
        return activated

    @logged_transition
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop tracking (saving the objects if asked to) and forget every object and memory."""
        self._stop_tracking("node deactivated")
        self._worker.run(self._save_and_forget)
        self.get_logger().info("inactive: tracking stopped, all objects forgotten")
        return super().on_deactivate(state)

    def _save_and_forget(self) -> None:
        """Save the objects if ``save_objects_on_deactivate`` names a file, then forget them."""
        name = self._params.save_objects_on_deactivate
        if name:
            self._object_files.save_before_deactivate(self._cameras.values(), name)
        self._forget_objects()

    @logged_transition
    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model and device memory, and end the tracking thread."""
        self._release("node cleaned up")
        self.get_logger().info("unconfigured: model released")
        return TransitionCallbackReturn.SUCCESS

    @logged_transition
    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop everything, from any state."""
        self._stop_tracking("node shutting down")
        self._release("node shutting down")
        return TransitionCallbackReturn.SUCCESS

    @logged_transition
    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Recover to unconfigured after a failed transition."""
        self._stop_tracking("node error")
        self._release("node error")
        return TransitionCallbackReturn.SUCCESS

    def _stop_tracking(self, reason: str) -> None:
        """Unsubscribe and stop tracking (the tracking thread and the model stay)."""
        for timer in self._timers:
            self.destroy_timer(timer)
        self._timers.clear()
        self._cpu_meter = None
        for camera in self._cameras.values():
            camera.stop()
        self._rviz_clicks.stop()
        if self._worker is not None:
            self._worker.stop_tracking(reason)

    def _release(self, reason: str) -> None:
        """Drop the cameras, release the model on the tracking thread and end that thread."""
        for camera in self._cameras.values():
            camera.destroy()
        self._cameras.clear()
        self._end_worker(reason)
        self._params = None
        gc.collect()
        release_free_memory()

    def _end_worker(self, reason: str) -> None:
        """Release the model on the tracking thread, then end that thread."""
        if self._worker is not None:
            if self._model is not None:
                self._worker.run(self._model.release)
            self._worker.stop(reason)
        self._worker = self._model = None

    # ---- frames (worker thread) ---------------------------------------------------------------

    def _process_frame(self, camera: str, message: Any) -> None:
        """Everything a frame needs, on the worker thread."""
        self._cameras[camera].process(message, self._worker.take_skipped(camera))

    def _check_inputs(self) -> None:
        for camera in self._cameras.values():
            camera.check_inputs()

    def _forget_objects(self, source: EventSource = EventSource.LIFECYCLE) -> None:
        for camera in self._cameras.values():
            camera.forget(source)

    def _on_frame_error(self, camera: str, err: Exception) -> None:
        if camera in self._cameras:
            self._cameras[camera].stats.record_bad_frame()
        self._log_problem(
            f"camera {camera}: frame failed, tracking continues: {type(err).__name__}: {err}"
        )

    def _log_problem(self, message: str, error: bool = True) -> None:
        if not self._throttle.allow(message):
            return
        if error:
            self.get_logger().error(message)
        else:
            self.get_logger().warning(message)

    # ---- diagnostics --------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        model = self._model
        device, precision = (str(model.device), model.precision) if model else ("none", "none")
        backend = model.describe_backend() if model else "none"
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        for name, camera in self._cameras.items():
            snapshot = camera.stats.snapshot()
            array.status.append(
                camera_status(self.get_name(), name, device, precision, snapshot, backend)
            )
        if self._cpu_meter is not None:
            cores = self._cpu_meter.read()
            array.status.append(process_status(self.get_name(), cores, rss_bytes()))
        self._diagnostics_pub.publish(array)


def main(args: list[str] | None = None) -> int:
    """Run the node until shutdown (``ros2 run sam2_ros sam2_node``)."""
    heap = steady_heap()
    rclpy.init(args=args if args is not None else sys.argv)
    node = Sam2Node()
    node.get_logger().info(heap)
    executor = InputsInlineExecutor(node.input_group, num_threads=4)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node._stop_tracking("process exiting")
        node._end_worker("process exiting")
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
