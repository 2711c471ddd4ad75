"""The sam2_ros lifecycle node: camera topics in; masks, occlusion and object pointers out.

The lifecycle and wiring layer: one :class:`CameraPipeline` per camera (its subscriptions,
predictor and publishers; all sharing one model), one :class:`TrackingWorker` thread that runs
every frame and command in turn, the prompt services, rviz clicks and diagnostics.
"""

from __future__ import annotations

import functools
import gc
import os
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
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_srvs.srv import Trigger

from sam2_ros.engine import (
    CheckpointError,
    ModelConfigError,
    ObjectsFileError,
    OnnxExportError,
    PromptError,
    PromptResult,
    Sam2Model,
    load_model,
)
from sam2_ros.engine.compiled import default_cache_dir
from sam2_ros.engine.warm_up import warm_up
from sam2_ros.geometry.projection import project_to_pixel
from sam2_ros.heap import release_free_memory, steady_heap
from sam2_ros.messages.diagnostics import camera_status, process_status
from sam2_ros.messages.results import mask_roi
from sam2_ros.node.camera_inputs import (
    CLICK_MISMATCH_FIX,
    CLICK_QOS,
    describe_mismatch,
    subscribe,
)
from sam2_ros.node.camera_outputs import NO_PUBLISHER_EVENTS
from sam2_ros.node.camera_pipeline import CameraPipeline
from sam2_ros.node.executor import InputsInlineExecutor
from sam2_ros.node.params import declare_parameters, read_parameters
from sam2_ros.process_stats import ThreadCpuMeter, rss_bytes
from sam2_ros.srv import AddPrompt, ObjectsFile, RemoveObject
from sam2_ros.tracking.frame_stamps import stamp_ns, stamp_text
from sam2_ros.tracking.object_store import ObjectNameError, ObjectStore
from sam2_ros.tracking.parameters import NodeParams, ParameterError, expected_checkpoint
from sam2_ros.tracking.threads import thread_role
from sam2_ros.tracking.worker import TrackingWorker, WorkerStoppedError

try:  # a ROS 2 install has tf2; without it rviz clicks must be in the camera's frame
    from tf2_geometry_msgs import do_transform_point
    from tf2_ros import Buffer, TransformException, TransformListener
except ImportError:
    Buffer = None

NODE_NAME = "sam2"
COMMAND_TIMEOUT_S = 30.0
LOG_THROTTLE_S = 5.0
#: Seconds between checks of who publishes the camera topics (image_reliability: auto, warnings).
INPUT_CHECK_PERIOD_S = 0.5


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
        self._rviz_subscription: Any = None
        self._timers: list[Any] = []
        self._cpu_meter: ThreadCpuMeter | None = None
        self._tf_buffer = None
        self._tf_listener = None
        self._throttle = ProblemThrottle(LOG_THROTTLE_S)
        self._input_group = MutuallyExclusiveCallbackGroup()
        service_group = ReentrantCallbackGroup()
        self._diagnostics_pub = self.create_publisher(
            DiagnosticArray, "/diagnostics", 10, event_callbacks=NO_PUBLISHER_EVENTS
        )
        self.create_service(
            AddPrompt, "~/add_prompt", self._on_add_prompt, callback_group=service_group
        )
        self.create_service(
            RemoveObject, "~/remove_object", self._on_remove_object, callback_group=service_group
        )
        self.create_service(Trigger, "~/reset", self._on_reset, callback_group=service_group)
        for name, callback in (
            ("~/save_objects", self._on_save_objects),
            ("~/load_objects", self._on_load_objects),
        ):
            self.create_service(ObjectsFile, name, callback, callback_group=service_group)

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
            model = worker.run(functools.partial(self._build_model, params))
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
            f"memory selection {next(iter(self._cameras.values())).predictor.selection}, "
            "checkpoint "
            f"{params.checkpoint or 'none'}, cameras {[c.name for c in params.cameras]}"
        )
        return TransitionCallbackReturn.SUCCESS

    def _build_model(self, params: NodeParams) -> Sam2Model | None:
        """Load (and compile and warm up) the model: on the tracking thread, which owns torch
        work from configure to cleanup (see :mod:`sam2_ros.tracking.worker`); None when it
        failed (logged)."""
        try:
            model = load_model(
                params.model_cfg,
                params.checkpoint,
                params.device,
                params.image_size,
                params.allow_random_weights,
                params.seed,
                precision=params.precision,
                backend=params.backend,
                onnx_dir=params.onnx_dir,
                onnx_providers=params.onnx_providers,
                tensorrt_cache_dir=params.tensorrt_cache_dir,
                openvino_device=params.openvino_device,
            )
        except (CheckpointError, ModelConfigError, OnnxExportError) as err:
            self.get_logger().error(f"configure failed: {err}")
            return None
        if params.checkpoint is None:
            self.get_logger().warning(
                "running with RANDOM WEIGHTS (allow_random_weights): masks are meaningless"
            )
        if params.compile == "none":
            return model
        try:
            model.compile(params.compile, params.compile_cache_dir)
            seconds = warm_up(model, params.max_objects)
        except Exception as err:  # torch.compile's failures have many types (no compiler...)
            model.release()
            self.get_logger().error(
                f"configure failed: compile {params.compile} failed ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''}); set compile: none"
            )
            return None
        cache = params.compile_cache_dir or default_cache_dir()
        self.get_logger().info(
            f"compiled ({params.compile}) and warmed up for up to {params.max_objects} "
            f"objects in {seconds:.1f} s (cache {cache})"
        )
        return model

    @logged_transition
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the cameras and start tracking."""
        params = self._params
        self._worker.start_tracking()
        if params.load_objects_on_activate:
            self._worker.run(
                functools.partial(self._load_on_activate, params.load_objects_on_activate)
            )
        for camera in self._cameras.values():
            camera.start(self._worker.submit_frame, self._worker.call, self._input_group)
        if params.rviz_click_topic:
            if Buffer is not None:
                self._tf_buffer = Buffer()
                self._tf_listener = TransformListener(self._tf_buffer, self)
            self._rviz_subscription = subscribe(
                self,
                PointStamped,
                params.rviz_click_topic,
                self._on_rviz_click,
                CLICK_QOS,
                self._input_group,
                self._on_rviz_qos_mismatch,
            )
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
        return super().on_activate(state)

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
            try:
                saved = self._save_objects(self._cameras.values(), name)
                self.get_logger().info(f"saved objects before deactivating: {saved}")
            except (OSError, ObjectNameError) as err:
                self.get_logger().error(f"could not save objects as {name!r}: {err}")
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
        if self._rviz_subscription is not None:
            self.destroy_subscription(self._rviz_subscription)
            self._rviz_subscription = None
        self._tf_listener = self._tf_buffer = None
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

    def _forget_objects(self) -> None:
        for camera in self._cameras.values():
            camera.forget()

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

    # ---- prompts ------------------------------------------------------------------------------

    def _camera_for(self, camera_name: str) -> CameraPipeline:
        if not self._cameras:
            raise PromptError("node is not configured: configure and activate it first")
        if not camera_name:
            return next(iter(self._cameras.values()))
        if camera_name not in self._cameras:
            raise PromptError(f"unknown camera {camera_name!r}; cameras: {list(self._cameras)}")
        return self._cameras[camera_name]

    def _state_label(self) -> str:
        return self._state_machine.current_state[1]

    def _submit(self, command: Any) -> Future:
        """Queue a command for the worker thread (between frames)."""
        if self._worker is None or not self._worker.tracking:
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

    @guarded_service
    def _on_add_prompt(self, request: AddPrompt.Request, response: AddPrompt.Response) -> Any:
        try:
            camera = self._camera_for(request.camera_name)
            stamp = stamp_ns(request.stamp)

            def command() -> tuple[PromptResult, int]:
                return camera.prompt(
                    request.object_id if request.object_id > 0 else None,
                    [(p.x, p.y) for p in request.points],
                    list(request.labels),
                    [float(v) for v in request.box] if request.use_box else None,
                    request.label,
                    camera.frame_for_stamp(stamp) if stamp else None,
                )

            answer, frame_stamp = self._wait(self._submit(command))
        except PromptError as err:
            response.success, response.message = False, str(err)
            self._log_problem(f"add_prompt refused: {err}", error=False)
            return response
        response.success = True
        response.object_id, response.score = answer.object_id, answer.score
        response.roi = mask_roi(answer.mask)
        response.frame_stamp.sec, response.frame_stamp.nanosec = divmod(frame_stamp, 1_000_000_000)
        response.message = (
            f"object {answer.object_id} on camera {camera.name}, frame {answer.frame_index} "
            f"(stamp {stamp_text(frame_stamp)}), score {answer.score:.3f}"
        )
        return response

    def _cameras_named(self, camera_name: str) -> list[CameraPipeline]:
        """The named camera, or every camera for ''."""
        if camera_name or not self._cameras:
            return [self._camera_for(camera_name)]
        return list(self._cameras.values())

    def _save_objects(self, cameras: Any, name: str) -> str:
        """Save each camera's objects (tracking thread, or tracking stopped); what was saved."""
        store = ObjectStore(self._params.objects_dir)
        saved = [(camera, store.path(name, camera.name)) for camera in cameras]
        return ", ".join(
            f"camera {camera.name}: objects {camera.save_objects(path)} in {path}"
            for camera, path in saved
        )

    def _load_objects(self, cameras: list[CameraPipeline], name: str) -> list[int]:
        """Read every camera's file first, then restore them all (all or nothing)."""
        store = ObjectStore(self._params.objects_dir)
        files = [(c, c.predictor.read_objects(store.path(name, c.name))) for c in cameras]
        return [object_id for camera, saved in files for object_id in camera.restore_objects(saved)]

    def _load_on_activate(self, name: str) -> None:
        store = ObjectStore(self._params.objects_dir)
        for camera in self._cameras.values():
            path = store.path(name, camera.name)
            if not path.is_file():
                self.get_logger().warning(f"camera {camera.name}: no saved objects at {path}")
                continue
            try:
                ids = camera.restore_objects(camera.predictor.read_objects(path))
            except ObjectsFileError as err:
                self.get_logger().error(f"camera {camera.name}: saved objects not loaded: {err}")
                continue
            self.get_logger().info(f"camera {camera.name}: loaded objects {ids} from {path}")

    @guarded_service
    def _on_save_objects(self, request: Any, response: Any) -> Any:
        try:
            cameras = self._cameras_named(request.camera_name)
            ObjectStore(self._params.objects_dir).path(request.name, "camera")
            saved = self._wait(self._submit(lambda: self._save_objects(cameras, request.name)))
        except (PromptError, ObjectNameError, OSError) as err:
            response.success, response.message = False, f"not saved: {err}"
            return response
        response.object_ids = [i for camera in cameras for i in camera.published_ids]
        response.success, response.message = True, saved
        return response

    @guarded_service
    def _on_load_objects(self, request: Any, response: Any) -> Any:
        try:
            cameras = self._cameras_named(request.camera_name)
            ids = self._wait(self._submit(lambda: self._load_objects(cameras, request.name)))
        except (PromptError, ObjectNameError, ObjectsFileError) as err:
            response.success, response.message = False, f"not loaded: {err}"
            return response
        response.success, response.object_ids = True, ids
        response.message = f"loaded objects {ids} on {[c.name for c in cameras]}"
        return response

    @guarded_service
    def _on_remove_object(
        self, request: RemoveObject.Request, response: RemoveObject.Response
    ) -> Any:
        try:
            camera = self._camera_for(request.camera_name)

            self._wait(self._submit(lambda: camera.remove_object(request.object_id)))
        except PromptError as err:
            response.success, response.message = False, str(err)
            return response
        response.success = True
        response.message = f"object {request.object_id} removed from camera {camera.name}"
        return response

    @guarded_service
    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        state_id = self._state_machine.current_state[0]
        try:
            if state_id == StateMsg.PRIMARY_STATE_ACTIVE:
                self._wait(self._submit(self._forget_objects))
            elif state_id == StateMsg.PRIMARY_STATE_INACTIVE:
                self._worker.run(self._forget_objects)
            else:
                raise PromptError(f"node is {self._state_label()}: nothing is loaded to reset")
        except PromptError as err:
            response.success, response.message = False, str(err)
            return response
        response.success, response.message = True, "all objects and memory forgotten"
        return response

    def _on_rviz_click(self, msg: PointStamped) -> None:
        """A 3D point from rviz2 starts an object in every camera whose image it falls in."""
        for camera in self._cameras.values():
            info = camera.camera_info
            if info is None:
                self.get_logger().info(
                    f"rviz click ignored for camera {camera.name}: no CameraInfo received on "
                    f"{camera.config.camera_info_topic or '(no camera_info topic)'}"
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
            camera.click(pixel[0], pixel[1], "rviz click")

    def _on_rviz_qos_mismatch(self, subscription: Any) -> None:
        self._log_problem(describe_mismatch(self, subscription, CLICK_MISMATCH_FIX), error=False)

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
