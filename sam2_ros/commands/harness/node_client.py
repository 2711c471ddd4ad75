"""Driving a sam2_ros node from outside: start it as a process, move it through its lifecycle,
publish frames, call its services and collect its outputs (demo, benchmark and tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.context import Context
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from sam2_ros.paths import fastdds_profile
from sam2_ros.runtime.process_stats import rss_bytes

TIMEOUT_S = 60.0
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


def _param_text(value: Any) -> str:
    """A parameter value as ``--ros-args -p name:=value`` text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_param_text(v) for v in value) + "]"
    if isinstance(value, str) and (value == "" or "," in value):
        return f"'{value}'"
    return str(value)


def local_ros_environment() -> None:
    """Set up this process (and the node processes it starts) as a camera pipeline on one machine:
    DDS discovery kept on this host, and, unless the user chose a Fast DDS profile, the package's
    profile for camera-sized messages (``config/fastdds_large_images.xml``)."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    profile = fastdds_profile()
    if profile is not None and profile.is_file():
        os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(profile))


class NodeProcess:
    """The node in its own process, its output kept in a log file: ``python -m
    sam2_ros.node.sam2_node`` unless ``command`` names another way to start it (e.g. an installed
    executable)."""

    def __init__(
        self,
        name: str,
        params: dict[str, Any],
        log_path: Path,
        cwd: Path | None = None,
        command: list[str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        args = command or [sys.executable, "-m", "sam2_ros.node.sam2_node"]
        args = [*args, "--ros-args", "-r", f"__node:={name}"]
        for key, value in params.items():
            args += ["-p", f"{key}:={_param_text(value)}"]
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            args, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )

    def rss_bytes(self) -> int:
        """Resident memory of the node process."""
        return rss_bytes(self.process.pid)

    def log(self) -> str:
        """Everything the node printed so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        """SIGINT (a clean shutdown), then kill if it does not exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def header_key(header: Any) -> tuple[int, int, str]:
    """What identifies a frame's messages: its header's stamp and frame id."""
    return header.stamp.sec, header.stamp.nanosec, header.frame_id


class Collector:
    """Messages received on a topic, found by header in constant time.

    With ``keep`` every message stays in ``messages`` (arrival order). Without it the collector
    keeps only what may still be waited on: :meth:`wait_stamp` takes its message and drops every
    one received before it, so a driver that waits for each frame in turn holds at most the
    messages of frames not yet taken, however long it runs.
    """

    def __init__(self, keep: bool = True) -> None:
        self.messages: list[Any] = []
        self._keep = keep
        self._by_header: OrderedDict[tuple[int, int, str], Any] = OrderedDict()
        self._cond = threading.Condition()

    def __len__(self) -> int:
        """Messages held for :meth:`wait_stamp`."""
        with self._cond:
            return len(self._by_header)

    def add(self, msg: Any) -> None:
        """Subscription callback."""
        with self._cond:
            if self._keep:
                self.messages.append(msg)
            header = getattr(msg, "header", None)
            if header is not None:
                self._by_header[header_key(header)] = msg
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = TIMEOUT_S) -> bool:
        """Wait until ``predicate(messages)`` holds; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.messages), timeout)

    def wait_count(self, count: int, timeout: float = TIMEOUT_S) -> list[Any]:
        """Wait for at least ``count`` messages."""
        if not self.wait_for(lambda m: len(m) >= count, timeout):
            raise TimeoutError(f"got {len(self.messages)} of {count} messages in {timeout} s")
        return list(self.messages)

    def wait_stamp(self, header: Any, timeout: float = TIMEOUT_S) -> Any:
        """Wait for the message carrying ``header`` (without ``keep``: take it, and drop the
        messages received before it)."""
        key = header_key(header)
        with self._cond:
            if not self._cond.wait_for(lambda: key in self._by_header, timeout):
                raise TimeoutError(f"no message stamped {header.stamp} in {timeout} s")
            if self._keep:
                return self._by_header[key]
            while True:
                taken, message = self._by_header.popitem(last=False)
                if taken == key:
                    return message

    def clear(self) -> None:
        """Forget received messages."""
        with self._cond:
            self.messages.clear()
            self._by_header.clear()


class Arrivals:
    """When the messages of a topic arrived, and how old their header stamps were then (the
    stamps being this machine's clock); of the messages only the newest is kept."""

    def __init__(self) -> None:
        self.latest: Any = None
        self._times: list[float] = []
        self._ages: list[float] = []
        self._stamps: set[tuple[int, int]] = set()
        self._cond = threading.Condition()

    def add(self, msg: Any) -> None:
        """Subscription callback."""
        now = time.time()
        stamp = msg.header.stamp
        with self._cond:
            self._times.append(now)
            self._ages.append(now - (stamp.sec + stamp.nanosec * 1e-9))
            self._stamps.add((stamp.sec, stamp.nanosec))
            self.latest = msg
            self._cond.notify_all()

    def count(self) -> int:
        """Messages arrived so far."""
        with self._cond:
            return len(self._times)

    def wait_count(self, count: int, timeout: float = TIMEOUT_S) -> None:
        """Wait until ``count`` messages have arrived."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._times) >= count, timeout):
                raise TimeoutError(f"got {len(self._times)} of {count} messages in {timeout} s")

    def wait_stamp(self, stamp: tuple[int, int], timeout: float = TIMEOUT_S) -> None:
        """Wait until the message stamped ``(sec, nanosec)`` has arrived."""
        with self._cond:
            if not self._cond.wait_for(lambda: stamp in self._stamps, timeout):
                raise TimeoutError(f"no message stamped {stamp} in {timeout} s")

    def window(self, start: int, end: int) -> tuple[list[float], list[float]]:
        """Arrival times (time.time()) and ages (seconds) of messages ``start`` to ``end - 1``."""
        with self._cond:
            return self._times[start:end], self._ages[start:end]


class NodeClient:
    """An rclpy node spinning in a background thread, for publishing, subscribing and calling.

    Its callbacks only store messages and set events, so one executor thread serves them all.
    rclpy's MultiThreadedExecutor held messages back here for one to five seconds: in 11 of 60
    frames of a 2-core benchmark, against none of 60 with this executor.
    """

    def __init__(self, name: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop spinning and shut the context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()
        self._thread.join(timeout=5)

    def collect(
        self, msg_type: type, topic: str, qos: QoSProfile = RELIABLE, keep: bool = True
    ) -> Collector:
        """Subscribe; every message is kept unless ``keep`` is false (see :class:`Collector`)."""
        collector = Collector(keep)
        self.node.create_subscription(msg_type, topic, collector.add, qos)
        return collector

    def arrivals(self, msg_type: type, topic: str, qos: QoSProfile = RELIABLE) -> Arrivals:
        """Subscribe, recording when messages arrive (see :class:`Arrivals`)."""
        arrivals = Arrivals()
        self.node.create_subscription(msg_type, topic, arrivals.add, qos)
        return arrivals

    def publisher(self, msg_type: type, topic: str, qos: QoSProfile = RELIABLE) -> Any:
        """A publisher whose ``matched`` event is set while a subscription is connected."""
        matched = threading.Event()

        def on_matched(info: Any) -> None:
            (matched.set if info.current_count > 0 else matched.clear)()

        publisher = self.node.create_publisher(
            msg_type, topic, qos, event_callbacks=PublisherEventCallbacks(matched=on_matched)
        )
        publisher.matched = matched
        return publisher

    @staticmethod
    def wait_for_subscriber(publisher: Any, timeout: float = TIMEOUT_S) -> None:
        """Wait until DDS connected ``publisher`` to a subscription (matched event)."""
        if not publisher.matched.wait(timeout):
            raise TimeoutError(f"no subscriber on {publisher.topic_name} in {timeout} s")

    def call(self, srv_type: type, name: str, request: Any, timeout: float = TIMEOUT_S) -> Any:
        """Call a service and wait for its answer."""
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {name} did not appear in {timeout} s")
            done = threading.Event()
            future = client.call_async(request)
            future.add_done_callback(lambda _: done.set())
            if not done.wait(timeout):
                raise TimeoutError(f"service {name} did not answer in {timeout} s")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def transition(self, node_name: str, label: str, timeout: float = TIMEOUT_S) -> bool:
        """Trigger a lifecycle transition ('configure', 'activate', ...); True on success."""
        request = ChangeState.Request()
        request.transition.id = getattr(Transition, f"TRANSITION_{label.upper()}")
        return self.call(ChangeState, f"/{node_name}/change_state", request, timeout).success

    def bring_up(self, node_name: str) -> None:
        """Configure, then activate a lifecycle node; RuntimeError naming the refused step."""
        for step in ("configure", "activate"):
            if not self.transition(node_name, step):
                raise RuntimeError(f"node {node_name} refused to {step}")

    def state(self, node_name: str) -> str:
        """The node's lifecycle state label."""
        answer = self.call(GetState, f"/{node_name}/get_state", GetState.Request())
        return answer.current_state.label
