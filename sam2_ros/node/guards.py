"""Guards around the node's callbacks: an unexpected exception in a transition or a service is
logged with its traceback and answered, instead of being swallowed by rclpy or killing the
executor."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn


def logged_transition(
    callback: Callable[[Any, LifecycleState], TransitionCallbackReturn],
) -> Callable[[Any, LifecycleState], TransitionCallbackReturn]:
    """Log a transition's unexpected exception with its traceback (rclpy would swallow it)
    and report ERROR, which sends the node through on_error back to unconfigured."""

    @functools.wraps(callback)
    def wrapper(node: LifecycleNode, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            return callback(node, state)
        except Exception:
            node.get_logger().error(f"{callback.__name__} failed:\n{traceback.format_exc()}")
            return TransitionCallbackReturn.ERROR

    return wrapper


def guarded_service(callback: Callable[[Any, Any, Any], Any]) -> Callable:
    """Answer success=false instead of letting an unexpected exception kill the executor (the
    callback is a method of an object with a ``logger``)."""

    @functools.wraps(callback)
    def wrapper(owner: Any, request: Any, response: Any) -> Any:
        try:
            return callback(owner, request, response)
        except Exception as err:
            owner.logger.error(f"{callback.__name__} failed:\n{traceback.format_exc()}")
            response.success, response.message = False, f"internal error: {err}"
            return response

    return wrapper
