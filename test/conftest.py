"""Shared fixtures: an isolated DDS domain, random SAM 2 weights in a real checkpoint file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from geometry_msgs.msg import Point32
from sam2_ros.msg import ObjectMasks, ObjectPointers, OcclusionScores
from sam2_ros.srv import AddPrompt
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from sam2_ros.commands.harness.node_client import NodeClient
from sam2_ros.messages.images import array_to_image_msg

# Each test process gets its own DDS domain, kept on loopback, so parallel or leftover
# processes never see each other's topics. Node subprocesses inherit both.
os.environ["ROS_DOMAIN_ID"] = str(10 + os.getpid() % 90)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

REPO_ROOT = Path(__file__).resolve().parents[1]
BEDROOM_DIR = REPO_ROOT.parent / "shared" / "data" / "bedroom"
IMAGE_SIZE = 256


@pytest.fixture(scope="session")
def checkpoint_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An official-format SAM 2.1 tiny checkpoint ({"model": state_dict}) with seeded weights."""
    import torch

    from sam2_ros.engine import load_model

    model = load_model(
        image_size=IMAGE_SIZE, allow_random_weights=True, seed=0, device="cpu", precision="fp32"
    )
    path = tmp_path_factory.mktemp("weights") / "sam2.1_hiera_tiny.pt"
    torch.save({"model": model.sam.state_dict()}, path)
    return path


@pytest.fixture(scope="session")
def sam_model(checkpoint_path: Path):
    """The checkpoint loaded once per session (CPU, 256 px, fp32), shared by predictors."""
    from sam2_ros.engine import load_model

    return load_model(
        checkpoint=checkpoint_path, image_size=IMAGE_SIZE, device="cpu", precision="fp32"
    )


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory, checkpoint_path: Path) -> Path:
    """``sam2-ros export`` of the checkpoint at 256 px (``sam_model``'s), made once per session."""
    from sam2_ros.engine.model.onnx_export import export_onnx

    directory = tmp_path_factory.mktemp("onnx") / "tiny_256"
    export_onnx(directory, checkpoint=checkpoint_path, image_size=IMAGE_SIZE)
    return directory


@pytest.fixture(scope="session")
def small_onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export of the seeded random weights at 128 px (``small_model``'s and the node tests'),
    made once per session."""
    from sam2_ros.engine.model.onnx_export import export_onnx

    directory = tmp_path_factory.mktemp("onnx") / "tiny_128_random"
    export_onnx(directory, image_size=128, allow_random_weights=True, seed=0)
    return directory


@pytest.fixture(scope="session")
def small_model():
    """Seeded random weights at 128 px (fp32): for behaviour tests that need speed, not SAM 2
    parity."""
    from sam2_ros.engine import load_model

    return load_model(
        image_size=128, allow_random_weights=True, seed=0, device="cpu", precision="fp32"
    )


@pytest.fixture(scope="session")
def scene():
    """A small generated camera stream."""
    from sam2_ros.commands.harness.synthetic import SyntheticScene

    return SyntheticScene(width=320, height=240, seed=0)


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """An rclpy client node spinning in the background (one per test module)."""
    ros = NodeClient(f"test_client_{os.getpid()}")
    yield ros
    ros.close()


@pytest.fixture(scope="session")
def ros_context() -> Iterator[object]:
    """An rclpy context for in-process nodes."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    yield context
    context.try_shutdown()


@pytest.fixture(scope="module")
def rosout(client):
    """Every log line of every node (the /rosout topic), kept from the module's start."""
    from rcl_interfaces.msg import Log
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    qos = QoSProfile(
        depth=1000,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
    return client.collect(Log, "/rosout", qos)


def wait_log(rosout, node: str, pattern: str, timeout: float = 60.0) -> re.Match:
    """Wait for a log line of ``node`` matching ``pattern``; its match."""
    regex = re.compile(pattern)

    def find(lines):
        return next((m for log in lines if log.name == node and (m := regex.search(log.msg))), None)

    if not rosout.wait_for(lambda lines: find(lines) is not None, timeout):
        tail = [log.msg for log in rosout.messages if log.name == node][-10:]
        raise AssertionError(f"{node} logged no line matching {pattern!r}; last lines: {tail}")
    return find(list(rosout.messages))


def publish_camera_info(client, rosout, node: str, camera: str, topic: str, info) -> None:
    """Publish ``info`` as camera drivers do, again at 5 Hz, until ``node`` logs that ``camera``
    has it (a single sample can reach a subscription that has not discovered the publisher yet)."""
    from sensor_msgs.msg import CameraInfo

    publisher = client.publisher(CameraInfo, topic)
    client.wait_for_subscriber(publisher)
    size, frame = f"{info.width}x{info.height}", info.header.frame_id
    expected = f"camera {camera}: CameraInfo {size} in frame '{frame}'"

    def logged(lines) -> bool:
        return any(log.name == node and log.msg.startswith(expected) for log in lines)

    for _ in range(300):
        publisher.publish(info)
        if rosout.wait_for(logged, 0.2):
            return
    raise AssertionError(f"{node} never logged {expected!r}")


def assert_live(result, where: str = "") -> None:
    """Fail unless ``result`` can tell a right answer from a wrong one: objects present, each mask
    neither empty nor full, its logits not constant (random weights with some seeds score every
    object absent: masks empty, logits -1024, and then any two runs compare equal)."""
    assert result.object_ids, f"no object tracked {where}"
    for object_id, mask, logits in zip(
        result.object_ids, result.masks, result.mask_logits, strict=True
    ):
        assert 0.0 < mask.mean() < 1.0, f"object {object_id}'s mask is empty or full {where}"
        assert logits.std() > 1e-3, f"object {object_id}'s logits are constant {where}"


def mask_iou(a, b) -> float:
    """Intersection over union of two boolean masks; two empty masks fail the test (their
    overlap says nothing: a comparison of masks must be made on masks that exist)."""
    union = (a | b).sum()
    assert union, "both masks are empty: an IoU of nothing proves nothing"
    return float((a & b).sum() / union)


def tracking_pair(model, scene, name: str, max_objects: int) -> list:
    """Two predictors fed the same two frames, each tracking ``name`` from a click on frame 0:
    one receives a test's bad calls, the other shows what it should still equal."""
    from sam2_ros.engine import StreamingPredictor

    pair = []
    for _ in range(2):
        predictor = StreamingPredictor(model=model, max_objects=max_objects)
        predictor.track(scene.frame(0))
        predictor.add_prompt(points=[scene.center(name, 0)], labels=[1])
        predictor.track(scene.frame(1))
        pair.append(predictor)
    return pair


def start_node(tmp_path_factory, name: str, **params):
    """The node as its own process from this checkout, on seeded random weights at 128 px in fp32
    (as the engine fixtures, which node tests compare with) unless ``params`` say otherwise, its
    log in a temporary folder."""
    from sam2_ros.commands.harness.node_client import NodeProcess

    return NodeProcess(
        name,
        {"allow_random_weights": True, "image_size": 128, "precision": "fp32", **params},
        tmp_path_factory.mktemp("logs") / f"{name}.log",
        cwd=REPO_ROOT,
    )


def set_parameter(client: NodeClient, node: str, name: str, value) -> None:
    """Set one of a node's parameters (bool, int, float or string) over its service."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    if isinstance(value, bool):
        pv = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    elif isinstance(value, int):
        pv = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    elif isinstance(value, float):
        pv = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    else:
        pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    request = SetParameters.Request(parameters=[Parameter(name=name, value=pv)])
    result = client.call(SetParameters, f"/{node}/set_parameters", request).results[0]
    assert result.successful, result.reason


def small_result():
    """Two objects on a 6x8 frame, the second overlapping the first's corner."""
    from sam2_ros.engine import TrackResult

    masks = np.zeros((2, 6, 8), bool)
    masks[0, 1:3, 2:5] = True
    masks[1, 2:6, 4:8] = True
    return TrackResult(
        frame_index=3,
        object_ids=[4, 9],
        masks=masks,
        scores=np.array([0.9, 0.4], np.float32),
        occlusion_scores=np.array([0.2, 0.7], np.float32),
        object_pointers=np.arange(2 * 256, dtype=np.float32).reshape(2, 256),
        mask_logits=np.zeros((2, 4, 4), np.float32),
    )


class Camera:
    """Publishes a camera's frames and collects the node's outputs for it."""

    def __init__(self, client: NodeClient, node: str, name: str, topic: str, compressed=False):
        self.client, self.name, self.compressed = client, name, compressed
        self.publisher = client.publisher(CompressedImage if compressed else Image, topic)
        self.masks = client.collect(ObjectMasks, f"/{node}/{name}/masks")
        self.occlusion = client.collect(OcclusionScores, f"/{node}/{name}/occlusion")
        self.pointers = client.collect(ObjectPointers, f"/{node}/{name}/object_pointers")
        self.label_image = client.collect(Image, f"/{node}/{name}/label_image")
        self.overlay = client.collect(Image, f"/{node}/{name}/overlay")
        self.stamp = 0

    def message(self, rgb: np.ndarray, encoding: str = "rgb8") -> Image | CompressedImage:
        self.stamp += 1
        header = Header(frame_id=f"{self.name}_optical_frame")
        header.stamp.sec, header.stamp.nanosec = 1000 + self.stamp, 500
        if self.compressed:
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            assert ok
            return CompressedImage(header=header, format="jpeg", data=jpeg.tobytes())
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if encoding == "bgr8" else rgb
        return array_to_image_msg(pixels, encoding, header)

    def publish(self, msg) -> None:
        self.client.wait_for_subscriber(self.publisher)
        self.publisher.publish(msg)

    def step(self, rgb: np.ndarray, encoding: str = "rgb8") -> ObjectMasks:
        """Publish one frame and wait until its masks arrive."""
        msg = self.message(rgb, encoding)
        self.publish(msg)
        return self.wait_masks(msg.header)

    def wait_masks(self, header: Header) -> ObjectMasks:
        return self.masks.wait_stamp(header)


def add_prompt(client: NodeClient, node: str, **fields) -> AddPrompt.Response:
    """Call ``node``'s add_prompt service; points as (x, y) pairs."""
    points = fields.pop("points", [])
    request = AddPrompt.Request(
        points=[Point32(x=float(x), y=float(y)) for x, y in points], **fields
    )
    return client.call(AddPrompt, f"/{node}/add_prompt", request)


def mask_of(masks: ObjectMasks, object_id: int) -> np.ndarray:
    """An object's mask in an ObjectMasks message, as booleans."""
    entry = next(o for o in masks.objects if o.object_id == object_id)
    pixels = np.frombuffer(bytes(entry.mask.data), np.uint8)
    return pixels.reshape(entry.mask.height, entry.mask.width) > 0


def run_cli(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    """``sam2-ros ARGS`` from this checkout, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "sam2_ros.commands.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def fresh_python(code: str, *args: str, timeout: float = 600) -> list[str]:
    """Run ``code`` (with ``args`` as ``sys.argv[1:]``) in a fresh interpreter from this
    checkout; the lines it printed (AssertionError with its output when it fails)."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout.strip().splitlines()


@pytest.fixture(scope="session")
def plain_sam(checkpoint_path):
    """The session's checkpoint in a model built by SAM 2 alone (fp32, no speed-ups)."""
    from sam2.build_sam import build_sam2

    from sam2_ros.engine import DEFAULT_MODEL_CFG

    return build_sam2(
        DEFAULT_MODEL_CFG,
        str(checkpoint_path),
        device="cpu",
        hydra_overrides_extra=[f"++model.image_size={IMAGE_SIZE}"],
    ).eval()


def footage_paths(count: int) -> list[Path]:
    """The first ``count`` frames of the real footage; a test that needs them is skipped where
    they are missing, and fails in CI (``CI`` set), where they must be."""
    paths = sorted(BEDROOM_DIR.glob("*.jpg"))[:count]
    if len(paths) < count:
        reason = f"needs {count} frames of real footage in {BEDROOM_DIR}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI runs every real-frame test)")
        pytest.skip(reason)
    return paths


def bedroom_frames(tmp_path_factory, count: int) -> tuple[Path, list[np.ndarray]]:
    """The first ``count`` frames of the real footage as a JPEG folder (as Meta's predictor
    reads videos) and decoded RGB arrays (see :func:`footage_paths` where it is missing)."""
    import shutil

    from PIL import Image as PILImage

    paths = footage_paths(count)
    folder = tmp_path_factory.mktemp("bedroom")
    for path in paths:
        shutil.copy(path, folder / path.name)
    return folder, [np.array(PILImage.open(path).convert("RGB")) for path in paths]
