"""Helpers for driving a real sam2_ros node over DDS: a node subprocess and an rclpy client that
spins in a background thread and waits on events (never on sleeps)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rclpy
from conftest import REPO_ROOT
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.context import Context
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

TIMEOUT_S = 60.0


def transition_id(label: str) -> int:
    """lifecycle_msgs Transition id for 'configure', 'activate', ..."""
    return getattr(Transition, f"TRANSITION_{label.upper()}")


class NodeProcess:
    """``python -m sam2_ros.node`` in its own process, with its output kept in a log file."""

    def __init__(self, name: str, params: dict[str, Any], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        args = [sys.executable, "-m", "sam2_ros.node", "--ros-args", "-r", f"__node:={name}"]
        for key, value in params.items():
            args += ["-p", f"{key}:={_param_text(value)}"]
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            args, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )

    def rss_bytes(self) -> int:
        """Resident memory of the node process."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def log(self) -> str:
        """Everything the node printed so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        """SIGINT, then kill if it does not exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_param_text(v) for v in value) + "]"
    if isinstance(value, str):
        return f"'{value}'" if value == "" or "," in value else value
    return str(value)


class Collector:
    """Every message received on a topic, with a condition to wait for what a test expects."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._cond = threading.Condition()

    def add(self, msg: Any) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = TIMEOUT_S) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.messages), timeout)

    def wait_count(self, count: int, timeout: float = TIMEOUT_S) -> list[Any]:
        assert self.wait_for(lambda m: len(m) >= count, timeout), (
            f"got {len(self.messages)} of {count} messages"
        )
        return list(self.messages)

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()


class RosClient:
    """An rclpy node spinning in a background thread, for publishing, subscribing and calling."""

    def __init__(self, name: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=2, context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()
        self._thread.join(timeout=5)

    def collect(self, msg_type: type, topic: str, qos: Any = None) -> Collector:
        collector = Collector()
        profile = qos or QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(msg_type, topic, collector.add, profile)
        return collector

    def publisher(self, msg_type: type, topic: str, qos: Any = None) -> Any:
        """A publisher whose ``matched`` event is set once a subscription is connected."""
        profile = qos or QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        matched = threading.Event()

        def on_matched(info: Any) -> None:
            if info.current_count > 0:
                matched.set()
            else:
                matched.clear()

        publisher = self.node.create_publisher(
            msg_type, topic, profile, event_callbacks=PublisherEventCallbacks(matched=on_matched)
        )
        publisher.matched = matched
        return publisher

    @staticmethod
    def wait_for_subscriber(publisher: Any, timeout: float = TIMEOUT_S) -> None:
        """Wait until DDS connected ``publisher`` to a subscription (matched event)."""
        assert publisher.matched.wait(timeout), f"no subscriber on {publisher.topic_name}"

    def call(self, srv_type: type, name: str, request: Any, timeout: float = TIMEOUT_S) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            assert client.wait_for_service(timeout_sec=timeout), f"{name} did not appear"
            done = threading.Event()
            future = client.call_async(request)
            future.add_done_callback(lambda _: done.set())
            assert done.wait(timeout), f"{name} did not answer in {timeout} s"
            return future.result()
        finally:
            self.node.destroy_client(client)

    def transition(self, node_name: str, label: str) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition_id(label)
        return self.call(ChangeState, f"/{node_name}/change_state", request).success

    def state(self, node_name: str) -> str:
        return self.call(
            GetState, f"/{node_name}/get_state", GetState.Request()
        ).current_state.label
