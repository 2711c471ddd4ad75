"""The node's object services: ``~/add_prompt``, ``~/remove_object`` and ``~/reset``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lifecycle_msgs.msg import State as StateMsg
from rclpy.callback_groups import CallbackGroup
from rclpy.lifecycle import LifecycleNode
from std_srvs.srv import Trigger

from sam2_ros.engine import PromptError, PromptResult
from sam2_ros.messages.results import mask_roi
from sam2_ros.node.camera_access import CameraAccess
from sam2_ros.node.guards import guarded_service
from sam2_ros.srv import AddPrompt, RemoveObject
from sam2_ros.tracking.frame_stamps import stamp_ns, stamp_text


class PromptServices:
    """Prompts, removals and resets, applied on the tracking thread between frames."""

    def __init__(
        self,
        node: LifecycleNode,
        access: CameraAccess,
        forget_all: Callable[[], None],
        log_problem: Callable[[str, bool], None],
        group: CallbackGroup,
    ) -> None:
        self.logger = node.get_logger()
        self._access, self._forget_all, self._log_problem = access, forget_all, log_problem
        node.create_service(AddPrompt, "~/add_prompt", self.add_prompt, callback_group=group)
        node.create_service(
            RemoveObject, "~/remove_object", self.remove_object, callback_group=group
        )
        node.create_service(Trigger, "~/reset", self.reset, callback_group=group)

    @guarded_service
    def add_prompt(self, request: AddPrompt.Request, response: AddPrompt.Response) -> Any:
        """Add or refine an object on the frame the request's stamp names (0: the newest)."""
        try:
            camera = self._access.camera(request.camera_name)
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

            answer, frame_stamp = self._access.run(command)
        except PromptError as err:
            response.success, response.message = False, str(err)
            self._log_problem(f"add_prompt refused: {err}", False)
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

    @guarded_service
    def remove_object(self, request: RemoveObject.Request, response: RemoveObject.Response) -> Any:
        """Stop tracking one object of a camera."""
        try:
            camera = self._access.camera(request.camera_name)
            self._access.run(lambda: camera.remove_object(request.object_id))
        except PromptError as err:
            response.success, response.message = False, str(err)
            return response
        response.success = True
        response.message = f"object {request.object_id} removed from camera {camera.name}"
        return response

    @guarded_service
    def reset(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        """Forget every object of every camera (active or inactive)."""
        state_id, label = self._access.state()
        try:
            if state_id == StateMsg.PRIMARY_STATE_ACTIVE:
                self._access.run(self._forget_all)
            elif state_id == StateMsg.PRIMARY_STATE_INACTIVE:
                self._access.worker().run(self._forget_all)
            else:
                raise PromptError(f"node is {label}: nothing is loaded to reset")
        except PromptError as err:
            response.success, response.message = False, str(err)
            return response
        response.success, response.message = True, "all objects and memory forgotten"
        return response
