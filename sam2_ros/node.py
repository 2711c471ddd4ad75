"""The sam2_ros lifecycle node: camera topics in; masks, occlusion and object pointers out.

A thin ROS layer over :class:`sam2_ros.engine.StreamingPredictor` (one per camera, sharing one
model): callbacks only hand messages to a :class:`TrackingWorker`, which runs the model on its
own thread and publishes each frame's results stamped with the input image's header.
"""

from __future__ import annotations

import functools
import gc
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped
from lifecycle_msgs.msg import State as StateMsg
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger

from sam2_ros import conversions
from sam2_ros.camera_geometry import project_to_pixel
from sam2_ros.diagnostics import CameraStatistics, camera_status
from sam2_ros.engine import (
    CheckpointError,
    ModelConfigError,
    PromptError,
    Sam2Model,
    StreamingPredictor,
    load_model,
)
from sam2_ros.msg import ObjectMasks, ObjectPointers, OcclusionScores
from sam2_ros.overlay import draw_overlay
from sam2_ros.params import (
    PARAMETERS,
    CameraConfig,
    NodeParams,
    ParameterError,
    descriptor,
    expected_checkpoint,
    parse,
)
from sam2_ros.srv import AddPrompt, RemoveObject
from sam2_ros.tracking_worker import TrackingWorker, WorkerStoppedError

try:  # a ROS 2 install has tf2; without it rviz clicks must be in the camera's frame
    from tf2_geometry_msgs import do_transform_point
    from tf2_ros import Buffer, TransformException, TransformListener
except ImportError:
    Buffer = None

NODE_NAME = "sam2"
COMMAND_TIMEOUT_S = 30.0
LOG_THROTTLE_S = 5.0
OUTPUT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class ProblemThrottle:
    """One log line per kind of problem per period, so a stream of bad frames cannot flood the
    log while a different problem still gets reported (kind = the message with numbers masked)."""

    def __init__(self, period_s: float) -> None:
        self._period_s = period_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, message: str) -> bool:
        """Whether this message should be logged now."""
        kind, now = re.sub(r"[-+.\d]+", "#", message), time.monotonic()
        with self._lock:
            if now - self._last.get(kind, -self._period_s) < self._period_s:
                return False
            self._last[kind] = now
            return True


def logged_transition(
    callback: Callable[[Sam2Node, LifecycleState], TransitionCallbackReturn],
) -> Callable[[Sam2Node, LifecycleState], TransitionCallbackReturn]:
    """Log a transition's unexpected exception with its traceback (rclpy would swallow it)
    and report ERROR, which sends the node through on_error back to unconfigured."""

    @functools.wraps(callback)
    def wrapper(node: Sam2Node, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            return callback(node, state)
        except Exception:
            node.get_logger().error(f"{callback.__name__} failed:\n{traceback.format_exc()}")
            return TransitionCallbackReturn.ERROR

    return wrapper


def guarded_service(callback: Callable[[Sam2Node, Any, Any], Any]) -> Callable:
    """Answer success=false instead of letting an unexpected exception kill the executor."""

    @functools.wraps(callback)
    def wrapper(node: Sam2Node, request: Any, response: Any) -> Any:
        try:
            return callback(node, request, response)
        except Exception as err:
            node.get_logger().error(f"{callback.__name__} failed:\n{traceback.format_exc()}")
            response.success, response.message = False, f"internal error: {err}"
            return response

    return wrapper


class CameraOutputs:
    """The lifecycle publishers of one camera."""

    def __init__(self, node: LifecycleNode, name: str) -> None:
        self.masks = node.create_lifecycle_publisher(ObjectMasks, f"~/{name}/masks", OUTPUT_QOS)
        self.occlusion = node.create_lifecycle_publisher(
            OcclusionScores, f"~/{name}/occlusion", OUTPUT_QOS
        )
        self.pointers = node.create_lifecycle_publisher(
            ObjectPointers, f"~/{name}/object_pointers", OUTPUT_QOS
        )
        self.label_image = node.create_lifecycle_publisher(
            Image, f"~/{name}/label_image", OUTPUT_QOS
        )
        self.overlay = node.create_lifecycle_publisher(Image, f"~/{name}/overlay", OUTPUT_QOS)

    def destroy(self, node: LifecycleNode) -> None:
        """Remove the publishers from the node."""
        for publisher in (
            self.masks,
            self.occlusion,
            self.pointers,
            self.label_image,
            self.overlay,
        ):
            node.destroy_lifecycle_publisher(publisher)


class Sam2Node(LifecycleNode):
    """Managed node: ``configure`` loads the model, ``activate`` starts tracking,
    ``deactivate`` stops it and forgets all objects, ``cleanup`` frees the model."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        for name, (default, _) in PARAMETERS.items():
            self.declare_parameter(name, default, descriptor(name))
        self._params: NodeParams | None = None
        self._model: Sam2Model | None = None
        self._predictors: dict[str, StreamingPredictor] = {}
        self._labels: dict[str, dict[int, str]] = {}
        self._outputs: dict[str, CameraOutputs] = {}
        self._stats: dict[str, CameraStatistics] = {}
        self._camera_info: dict[str, CameraInfo] = {}
        self._worker: TrackingWorker | None = None
        self._input_subscriptions: list[Any] = []
        self._diagnostics_timer = None
        self._tf_buffer = None
        self._tf_listener = None
        self._throttle = ProblemThrottle(LOG_THROTTLE_S)
        self._input_group = MutuallyExclusiveCallbackGroup()
        service_group = ReentrantCallbackGroup()
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_service(
            AddPrompt, "~/add_prompt", self._on_add_prompt, callback_group=service_group
        )
        self.create_service(
            RemoveObject, "~/remove_object", self._on_remove_object, callback_group=service_group
        )
        self.create_service(Trigger, "~/reset", self._on_reset, callback_group=service_group)

    # ---- lifecycle ---------------------------------------------------------------------------

    @logged_transition
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Validate parameters and load the model onto its device."""
        try:
            params = parse({name: self.get_parameter(name).value for name in PARAMETERS})
            if params.checkpoint is None and not params.allow_random_weights:
                raise CheckpointError(
                    f"no checkpoint: expected {expected_checkpoint(params.model_cfg)}; run "
                    "model/download_checkpoints.sh (then rebuild/reinstall) or set the "
                    "'checkpoint' parameter to a SAM 2 .pt file"
                )
            model = load_model(
                params.model_cfg,
                params.checkpoint,
                params.device,
                params.image_size,
                params.allow_random_weights,
                params.seed,
            )
        except (ParameterError, CheckpointError, ModelConfigError) as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        if params.checkpoint is None:
            self.get_logger().warning(
                "running with RANDOM WEIGHTS (allow_random_weights): masks are meaningless"
            )
        if params.compile:
            model.compile()
        self._params, self._model = params, model
        for camera in params.cameras:
            self._predictors[camera.name] = StreamingPredictor(
                model=model,
                max_objects=params.max_objects,
                max_conditioning_frames=params.max_conditioning_frames,
                corrections_as_conditioning=params.corrections_as_conditioning,
            )
            self._labels[camera.name] = {}
            self._outputs[camera.name] = CameraOutputs(self, camera.name)
            self._stats[camera.name] = CameraStatistics()
        self.get_logger().info(
            f"configured: {params.model_cfg} on {model.device} at {model.image_size} px "
            f"(checkpoint {params.checkpoint or 'none'}), cameras "
            f"{[c.name for c in params.cameras]}"
        )
        return TransitionCallbackReturn.SUCCESS

    @logged_transition
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the cameras and start tracking."""
        params = self._params
        self._worker = TrackingWorker(
            self._process_frame, self._on_frame_error, params.drop_frames, params.queue_size
        )
        self._worker.start()
        if params.drop_frames:
            image_qos = qos_profile_sensor_data
        else:
            image_qos = QoSProfile(
                depth=params.queue_size,
                history=HistoryPolicy.KEEP_LAST,
                reliability=ReliabilityPolicy.RELIABLE,
            )
        for camera in params.cameras:
            self._subscribe_camera(camera, image_qos)
        if params.rviz_click_topic:
            if Buffer is not None:
                self._tf_buffer = Buffer()
                self._tf_listener = TransformListener(self._tf_buffer, self)
            self._listen(PointStamped, params.rviz_click_topic, self._on_rviz_click, 10)
        self._diagnostics_timer = self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(
            "active: listening on " + ", ".join(c.image_topic for c in params.cameras)
        )
        return super().on_activate(state)

    @logged_transition
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop tracking and forget every object and memory."""
        self._stop_tracking("node deactivated")
        for camera, predictor in self._predictors.items():
            predictor.reset()
            self._labels[camera].clear()
        self.get_logger().info("inactive: tracking stopped, all objects forgotten")
        return super().on_deactivate(state)

    @logged_transition
    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model and device memory."""
        self._release()
        self.get_logger().info("unconfigured: model released")
        return TransitionCallbackReturn.SUCCESS

    @logged_transition
    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop everything, from any state."""
        self._stop_tracking("node shutting down")
        self._release()
        return TransitionCallbackReturn.SUCCESS

    @logged_transition
    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Recover to unconfigured after a failed transition."""
        self._stop_tracking("node error")
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _listen(self, msg_type: type, topic: str, callback: Callable, qos: Any) -> None:
        """Subscribe an input (dropped again on deactivate)."""
        self._input_subscriptions.append(
            self.create_subscription(
                msg_type, topic, callback, qos, callback_group=self._input_group
            )
        )

    def _subscribe_camera(self, camera: CameraConfig, image_qos: QoSProfile) -> None:
        name = camera.name
        self._listen(
            CompressedImage if camera.compressed else Image,
            camera.image_topic,
            lambda msg: self._worker.submit_frame(name, msg),
            image_qos,
        )
        if camera.click_topic:
            self._listen(
                PointStamped,
                camera.click_topic,
                lambda msg: self._on_pixel_click(name, msg),
                10,
            )
        if camera.camera_info_topic:
            self._listen(
                CameraInfo,
                camera.camera_info_topic,
                lambda msg: self._camera_info.__setitem__(name, msg),
                qos_profile_sensor_data,
            )

    def _stop_tracking(self, reason: str) -> None:
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        for subscription in self._input_subscriptions:
            self.destroy_subscription(subscription)
        self._input_subscriptions.clear()
        self._tf_listener = self._tf_buffer = None
        if self._worker is not None:
            self._worker.stop(reason)
            self._worker = None
        self._camera_info.clear()

    def _release(self) -> None:
        for outputs in self._outputs.values():
            outputs.destroy(self)
        self._outputs.clear()
        self._predictors.clear()
        self._labels.clear()
        self._stats.clear()
        if self._model is not None:
            self._model.release()
        self._model = self._params = None
        gc.collect()

    # ---- frames (worker thread) ---------------------------------------------------------------

    def _process_frame(self, camera: str, message: Any) -> None:
        """Decode, track, publish: everything a frame needs, on the worker thread."""
        stats = self._stats[camera]
        stats.record_skipped(self._worker.take_skipped(camera))
        try:
            rgb = conversions.message_to_rgb(message)
        except conversions.ImageConversionError as err:
            stats.record_bad_frame()
            self._log_problem(f"camera {camera}: dropped a frame: {err}")
            return
        predictor = self._predictors[camera]
        started = time.perf_counter()
        result = predictor.track(rgb)
        engine_s = time.perf_counter() - started
        self._publish(camera, message.header, rgb, result)
        latency = self.get_clock().now() - rclpy.time.Time.from_msg(
            message.header.stamp, clock_type=self.get_clock().clock_type
        )
        stats.record_frame(
            latency.nanoseconds * 1e-9, engine_s, len(result.object_ids), predictor.memory_bytes()
        )

    def _publish(self, camera: str, header: Any, rgb: Any, result: Any) -> None:
        params, out, labels = self._params, self._outputs[camera], self._labels[camera]
        messages = conversions.to_tracking_msgs(
            header, camera, result, labels, params.occlusion_threshold
        )
        out.masks.publish(messages["masks"])
        out.occlusion.publish(messages["occlusion"])
        out.pointers.publish(messages["object_pointers"])
        if params.publish_label_image and out.label_image.get_subscription_count():
            out.label_image.publish(conversions.to_label_image_msg(header, result))
        if params.publish_overlay and out.overlay.get_subscription_count():
            overlay = draw_overlay(rgb, result, labels, params.occlusion_threshold)
            out.overlay.publish(conversions.array_to_image_msg(overlay, "bgr8", header))

    def _on_frame_error(self, camera: str, err: Exception) -> None:
        if camera in self._stats:
            self._stats[camera].record_bad_frame()
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

    # ---- prompts ------------------------------------------------------------------------------

    def _camera_for(self, camera_name: str) -> str:
        if self._params is None:
            raise PromptError("node is not configured: configure and activate it first")
        names = [c.name for c in self._params.cameras]
        if not camera_name:
            return names[0]
        if camera_name not in names:
            raise PromptError(f"unknown camera {camera_name!r}; cameras: {names}")
        return camera_name

    def _state_label(self) -> str:
        return self._state_machine.current_state[1]

    def _submit(self, command: Any) -> Future:
        """Queue a command for the worker thread (between frames)."""
        if self._worker is None:
            raise PromptError(
                f"node is {self._state_label()}, not active: activate it to track objects"
            )
        return self._worker.call(command)

    @staticmethod
    def _wait(future: Future) -> Any:
        try:
            return future.result(timeout=COMMAND_TIMEOUT_S)
        except WorkerStoppedError as err:
            raise PromptError(f"not applied: {err}") from err
        except TimeoutError as err:
            raise PromptError(
                f"the tracking thread did not answer in {COMMAND_TIMEOUT_S} s"
            ) from err

    def submit_prompt(
        self,
        camera_name: str,
        object_id: int | None,
        points: list[tuple[float, float]],
        labels: list[int],
        box: list[float] | None,
        label: str = "",
    ) -> tuple[str, Future]:
        """Queue adding/refining an object on a camera's latest frame: (camera, future of the
        engine's PromptResult)."""
        camera = self._camera_for(camera_name)
        predictor = self._predictors[camera]

        def command() -> Any:
            answer = predictor.add_prompt(object_id, points or None, labels or None, box)
            if label or answer.object_id not in self._labels[camera]:
                self._labels[camera][answer.object_id] = label
            return answer

        return camera, self._submit(command)

    @guarded_service
    def _on_add_prompt(self, request: AddPrompt.Request, response: AddPrompt.Response) -> Any:
        try:
            camera, future = self.submit_prompt(
                request.camera_name,
                request.object_id if request.object_id > 0 else None,
                [(p.x, p.y) for p in request.points],
                list(request.labels),
                [float(v) for v in request.box] if request.use_box else None,
                request.label,
            )
            answer = self._wait(future)
        except PromptError as err:
            response.success, response.message = False, str(err)
            self._log_problem(f"add_prompt refused: {err}", error=False)
            return response
        response.success = True
        response.object_id, response.score = answer.object_id, answer.score
        response.roi = conversions.mask_roi(answer.mask)
        response.message = (
            f"object {answer.object_id} on camera {camera}, frame {answer.frame_index}, "
            f"score {answer.score:.3f}"
        )
        return response

    @guarded_service
    def _on_remove_object(
        self, request: RemoveObject.Request, response: RemoveObject.Response
    ) -> Any:
        try:
            camera = self._camera_for(request.camera_name)

            def command() -> None:
                self._predictors[camera].remove_object(request.object_id)
                self._labels[camera].pop(request.object_id, None)

            self._wait(self._submit(command))
        except PromptError as err:
            response.success, response.message = False, str(err)
            return response
        response.success = True
        response.message = f"object {request.object_id} removed from camera {camera}"
        return response

    @guarded_service
    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        def command() -> None:
            for camera, predictor in self._predictors.items():
                predictor.reset()
                self._labels[camera].clear()

        state_id = self._state_machine.current_state[0]
        try:
            if state_id == StateMsg.PRIMARY_STATE_ACTIVE:
                self._wait(self._submit(command))
            elif state_id == StateMsg.PRIMARY_STATE_INACTIVE:
                command()
            else:
                raise PromptError(f"node is {self._state_label()}: nothing is loaded to reset")
        except PromptError as err:
            response.success, response.message = False, str(err)
            return response
        response.success, response.message = True, "all objects and memory forgotten"
        return response

    def _on_pixel_click(self, camera: str, msg: PointStamped) -> None:
        """A click in rqt_image_view (pixel coordinates) starts a new object."""
        self._start_object_at(camera, msg.point.x, msg.point.y, "image click")

    def _on_rviz_click(self, msg: PointStamped) -> None:
        """A 3D point from rviz2 starts an object in every camera whose image it falls in."""
        for camera in self._params.cameras:
            info = self._camera_info.get(camera.name)
            if info is None:
                self.get_logger().info(
                    f"rviz click ignored for camera {camera.name}: no CameraInfo received on "
                    f"{camera.camera_info_topic or '(no camera_info topic)'}"
                )
                continue
            point = self._in_camera_frame(msg, info.header.frame_id, camera.name)
            if point is None:
                continue
            pixel = project_to_pixel(info.k, point.x, point.y, point.z)
            if pixel is None or not (0 <= pixel[0] < info.width and 0 <= pixel[1] < info.height):
                where = "behind the camera" if pixel is None else f"at pixel {pixel}"
                self.get_logger().info(
                    f"rviz click ignored for camera {camera.name}: the point is {where}, "
                    f"outside its {info.width}x{info.height} image"
                )
                continue
            self._start_object_at(camera.name, pixel[0], pixel[1], "rviz click")

    def _in_camera_frame(self, msg: PointStamped, frame: str, camera: str) -> Any:
        if not msg.header.frame_id or msg.header.frame_id == frame:
            return msg.point
        if self._tf_buffer is None:
            self.get_logger().warning(
                f"rviz click in frame {msg.header.frame_id!r} ignored for camera {camera}: "
                f"tf2_ros is not available, so clicks must be in the camera frame {frame!r}"
            )
            return None
        try:
            transform = self._tf_buffer.lookup_transform(
                frame, msg.header.frame_id, rclpy.time.Time()
            )
        except TransformException as err:
            self.get_logger().warning(f"rviz click ignored for camera {camera}: {err}")
            return None
        return do_transform_point(msg, transform).point

    def _start_object_at(self, camera: str, x: float, y: float, source: str) -> None:
        """Start an object at a pixel without blocking the callback; log the outcome."""
        where = f"{source} on {camera} at ({x:.0f}, {y:.0f})"

        def report(future: Future) -> None:
            err = future.exception()
            if err is None:
                answer = future.result()
                self.get_logger().info(
                    f"{where}: object {answer.object_id} (score {answer.score:.3f})"
                )
            else:
                self.get_logger().warning(f"{where} refused: {err}")

        try:
            _, future = self.submit_prompt(camera, None, [(x, y)], [1], None)
        except PromptError as err:
            self.get_logger().warning(f"{where} refused: {err}")
            return
        future.add_done_callback(report)

    # ---- diagnostics --------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        device = str(self._model.device) if self._model is not None else "none"
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        for camera, stats in self._stats.items():
            array.status.append(camera_status(self.get_name(), camera, device, stats.snapshot()))
        self._diagnostics_pub.publish(array)


def main(args: list[str] | None = None) -> int:
    """Run the node until shutdown (``ros2 run sam2_ros sam2_node``)."""
    rclpy.init(args=args if args is not None else sys.argv)
    node = Sam2Node()
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node._stop_tracking("process exiting")
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
