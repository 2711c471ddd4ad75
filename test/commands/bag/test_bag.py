"""Offline bag annotation, and the live node replaying the same bag gives the same masks."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from bag_files import OUTPUT_TYPES, PERIOD_NS, T0_NS, frame_header, read_outputs
from conftest import REPO_ROOT, fresh_python, mask_iou
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point32
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosgraph_msgs.msg import Clock
from sam2_ros.msg import ObjectMasks, ObjectPointers, Objects3D, OcclusionScores
from sam2_ros.srv import AddPrompt
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from vision_msgs.msg import Detection2DArray

from sam2_ros.commands.bag.bag_io import sam2_ros_typestore
from sam2_ros.commands.cli import main as cli_main
from sam2_ros.commands.harness.node_client import NodeClient, NodeProcess
from sam2_ros.engine import StreamingPredictor
from sam2_ros.messages.detections import box_detection
from sam2_ros.messages.images import array_to_image_msg

FRAMES = 30
RAW, COMPRESSED = "/camera/image_raw", "/camera/image_raw/compressed"
DEPTH = "/camera/depth/image_raw"
IMAGE_SIZE = 128


def write_scene_bag(path: Path, scene, storage: StoragePlugin, corrupt_at: int | None = None):
    """A bag with the scene as bgr8 Images and as JPEG CompressedImages (10 fps)."""
    typestore = sam2_ros_typestore()
    with Writer(path, version=9, storage_plugin=storage) as writer:
        raw = writer.add_connection(RAW, "sensor_msgs/msg/Image", typestore=typestore)
        jpeg = writer.add_connection(
            COMPRESSED, "sensor_msgs/msg/CompressedImage", typestore=typestore
        )
        for index in range(FRAMES):
            bgr = cv2.cvtColor(scene.frame(index), cv2.COLOR_RGB2BGR)
            header, time_ns = frame_header(index), T0_NS + index * PERIOD_NS
            image = serialize_message(array_to_image_msg(bgr, "bgr8", header))
            ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
            assert ok
            data = encoded.tobytes()
            if index == corrupt_at:
                image = image[: len(image) // 3]  # a truncated record
                data = data[:200] + b"\x00" * 64  # an undecodable JPEG
            writer.write(raw, time_ns, image)
            compressed = CompressedImage(header=header, format="jpeg", data=data)
            writer.write(jpeg, time_ns, serialize_message(compressed))
    return path


def write_prompts(path: Path, scene) -> Path:
    ball = [round(v, 1) for v in scene.center("ball", 0)]
    crate = [round(v, 1) for v in scene.box("crate", 0)]
    path.write_text(
        "prompts:\n"
        f"  - {{frame: 0, label: ball, points: [{ball}], labels: [1]}}\n"
        f"  - {{frame: 0, label: crate, box: {crate}}}\n"
        f"  - {{time: {(T0_NS + 12 * PERIOD_NS) / 1e9}, object_id: 1, points: [[5, 5]], "
        "labels: [0]}\n"
    )
    return path


@pytest.fixture(scope="module")
def bags(scene, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bags")
    return {
        "mcap": write_scene_bag(folder / "scene_mcap", scene, StoragePlugin.MCAP),
        "db3": write_scene_bag(folder / "scene_db3", scene, StoragePlugin.SQLITE3),
        "corrupt": write_scene_bag(folder / "corrupt", scene, StoragePlugin.MCAP, corrupt_at=7),
        "prompts": write_prompts(folder / "prompts.yaml", scene),
    }


def run_bag(bags, checkpoint, output: Path, *extra: str, source="mcap", topic=RAW) -> int:
    return cli_main(
        [
            "bag",
            str(bags[source]),
            str(output),
            "--image-topic",
            topic,
            "--prompts",
            str(bags["prompts"]),
            "--checkpoint",
            str(checkpoint),
            "--image-size",
            str(IMAGE_SIZE),
            "--device",
            "cpu",
            *extra,
        ]
    )


def masks_by_frame(outputs) -> list[ObjectMasks]:
    return [deserialize_message(raw, ObjectMasks) for _, raw in outputs["/sam2/camera/masks"]]


def decode_mask(obj) -> np.ndarray:
    return np.frombuffer(bytes(obj.mask.data), np.uint8).reshape(obj.mask.height, -1) > 0


@pytest.fixture(scope="module")
def offline(bags, checkpoint_path, tmp_path_factory):
    output = tmp_path_factory.mktemp("out") / "annotated"
    assert run_bag(bags, checkpoint_path, output) == 0
    return read_outputs(output)


def test_output_bag_has_one_stamped_message_per_frame(offline):
    assert set(offline) == {
        "/sam2/camera/masks",
        "/sam2/camera/occlusion",
        "/sam2/camera/object_pointers",
        "/sam2/camera/label_image",
        "/sam2/camera/detections",
    }
    for messages in offline.values():
        assert [t for t, _ in messages] == [T0_NS + i * PERIOD_NS for i in range(FRAMES)]
    masks = masks_by_frame(offline)
    assert [m.header for m in masks] == [frame_header(i) for i in range(FRAMES)]
    assert [o.object_id for o in masks[0].objects] == [1, 2]  # prompted on frame 0
    assert [o.label for o in masks[-1].objects] == ["ball", "crate"]
    assert all(decode_mask(o).shape == (240, 320) for m in masks for o in m.objects)
    pointers = deserialize_message(offline["/sam2/camera/object_pointers"][5][1], ObjectPointers)
    assert pointers.dim == 256 and len(pointers.data) == 2 * 256
    label = deserialize_message(offline["/sam2/camera/label_image"][5][1], Image)
    assert (label.encoding, label.height, label.width) == ("mono16", 240, 320)
    detections = deserialize_message(offline["/sam2/camera/detections"][5][1], Detection2DArray)
    assert detections.header == masks[5].header
    assert [(d.id, d.results[0].hypothesis.class_id) for d in detections.detections] == [
        (str(o.object_id), o.label) for o in masks[5].objects if o.roi.width
    ]


def test_running_twice_gives_identical_bags(bags, checkpoint_path, offline, tmp_path):
    again = read_outputs(_annotate_again(bags, checkpoint_path, tmp_path))
    assert again.keys() == offline.keys()
    for topic, msg_type in OUTPUT_TYPES.items():  # CDR padding bytes may differ: compare content
        assert [t for t, _ in again[topic]] == [t for t, _ in offline[topic]]
        decoded = [deserialize_message(raw, msg_type) for _, raw in again[topic]]
        assert decoded == [deserialize_message(raw, msg_type) for _, raw in offline[topic]]


def _annotate_again(bags, checkpoint_path, tmp_path) -> Path:
    output = tmp_path / "again"
    assert run_bag(bags, checkpoint_path, output) == 0
    return output


def test_db3_compressed_input_and_sqlite3_output(bags, checkpoint_path, tmp_path, capsys):
    output = tmp_path / "from_db3"
    code = run_bag(
        bags, checkpoint_path, output, "--storage", "sqlite3", source="db3", topic=COMPRESSED
    )
    assert code == 0
    summary = re.search(r"\(([\d.]+) fps; its engine: ([\d.]+) fps", capsys.readouterr().out)
    assert 0 < float(summary.group(1)) <= float(summary.group(2))  # the tool adds work
    assert list(output.glob("*.db3"))
    outputs = read_outputs(output)
    assert all(len(messages) == FRAMES for messages in outputs.values())
    assert [o.label for o in masks_by_frame(outputs)[-1].objects] == ["ball", "crate"]


@pytest.mark.parametrize("topic", [RAW, COMPRESSED])
def test_corrupt_messages_are_skipped_and_named(bags, checkpoint_path, tmp_path, capsys, topic):
    output = tmp_path / "skipped"
    assert run_bag(bags, checkpoint_path, output, source="corrupt", topic=topic) == 0
    printed = capsys.readouterr().out
    corrupt_time = (T0_NS + 7 * PERIOD_NS) / 1e9
    assert f"{topic} at bag time {corrupt_time:.6f} s: skipped" in printed
    assert "1 corrupt frames skipped" in printed
    masks = masks_by_frame(read_outputs(output))
    assert len(masks) == FRAMES - 1
    assert frame_header(7) not in [m.header for m in masks]


def test_missing_topic_is_named_and_nothing_is_written(bags, checkpoint_path, tmp_path, capsys):
    output = tmp_path / "none"
    assert run_bag(bags, checkpoint_path, output, topic="/nope/image") == 1
    printed = capsys.readouterr().out
    assert "topic /nope/image" in printed and RAW in printed and "no output written" in printed
    assert not output.exists()


def test_unsupported_encoding_stops_with_topic_and_time(checkpoint_path, tmp_path, capsys):
    depth_bag = tmp_path / "depth"
    with Writer(depth_bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection(
            "/depth", "sensor_msgs/msg/Image", typestore=sam2_ros_typestore()
        )
        depth = array_to_image_msg(np.zeros((24, 32), np.uint16), "16UC1", frame_header(0))
        writer.write(connection, T0_NS, serialize_message(depth))
    output = tmp_path / "depth_out"
    code = cli_main(
        [
            *["bag", str(depth_bag), str(output), "--image-topic", "/depth"],
            *["--checkpoint", str(checkpoint_path), "--image-size", str(IMAGE_SIZE)],
        ]
    )
    printed = capsys.readouterr().out
    assert code == 1
    assert f"/depth at bag time {T0_NS / 1e9:.6f} s: unsupported encoding '16UC1'" in printed
    assert "no output written" in printed and not output.exists()


def _replay(client: NodeClient, node: str, bag: Path, scene) -> list[ObjectMasks]:
    """Publish the bag's frames in order and prompt as the prompts file says, after the frame
    is processed."""
    masks = client.collect(ObjectMasks, f"/{node}/camera/masks")
    images = client.publisher(Image, RAW)
    client.bring_up(node)
    client.wait_for_subscriber(images)
    with AnyReader([bag], default_typestore=sam2_ros_typestore()) as reader:
        connections = [c for c in reader.connections if c.topic == RAW]
        for index, (_, _, raw) in enumerate(reader.messages(connections=connections)):
            image = deserialize_message(bytes(raw), Image)
            images.publish(image)
            masks.wait_stamp(image.header)
            prompts = []
            if index == 0:
                x, y = (round(v, 1) for v in scene.center("ball", 0))
                ball = AddPrompt.Request(points=[Point32(x=x, y=y)], labels=[1], label="ball")
                crate_box = [round(v, 1) for v in scene.box("crate", 0)]
                crate = AddPrompt.Request(use_box=True, box=crate_box, label="crate")
                prompts = [ball, crate]
            elif index == 12:
                prompts = [
                    AddPrompt.Request(object_id=1, points=[Point32(x=5.0, y=5.0)], labels=[0])
                ]
            for request in prompts:
                assert client.call(AddPrompt, f"/{node}/add_prompt", request).success
    return list(masks.messages)


@pytest.mark.slow
def test_live_replay_gives_the_offline_masks(bags, checkpoint_path, offline, scene, tmp_path):
    node_name = "sam2_replay"
    node = NodeProcess(
        node_name,
        {
            "checkpoint": str(checkpoint_path),
            "image_size": IMAGE_SIZE,
            "device": "cpu",
            "drop_frames": False,
            "publish_overlay": False,
        },
        tmp_path / "node.log",
        cwd=REPO_ROOT,
    )
    client = NodeClient("replay_client")
    try:
        runs = [_replay(client, node_name, bags["mcap"], scene)]
        for step in ("deactivate", "cleanup"):
            assert client.transition(node_name, step)
        runs.append(_replay(client, node_name, bags["mcap"], scene))
    finally:
        client.close()
        node.stop()
    offline_masks = masks_by_frame(offline)
    for live in runs:
        assert [m.header for m in live] == [m.header for m in offline_masks]
        for index, (mine, theirs) in enumerate(zip(live, offline_masks, strict=True)):
            if index in (0, 12):  # live outputs are published before that frame's prompts
                continue
            assert [o.object_id for o in mine.objects] == [o.object_id for o in theirs.objects]
            for a, b in zip(mine.objects, theirs.objects, strict=True):
                ma, mb = decode_mask(a), decode_mask(b)
                union = np.logical_or(ma, mb).sum()
                assert union == 0 or np.logical_and(ma, mb).sum() / union >= 0.99
    first, second = runs
    assert [bytes(o.mask.data) for m in first for o in m.objects] == [
        bytes(o.mask.data) for m in second for o in m.objects
    ]


def test_use_sim_time_follows_the_replayed_clock(checkpoint_path, scene, tmp_path):
    """With use_sim_time the node's clock is /clock (bag time): latency and diagnostics stamps
    are measured in it, not in wall time."""
    node_name = "sam2_sim_time"
    node = NodeProcess(
        node_name,
        {"checkpoint": str(checkpoint_path), "image_size": IMAGE_SIZE, "use_sim_time": True},
        tmp_path / "node.log",
        cwd=REPO_ROOT,
    )
    client = NodeClient("sim_time_client")
    try:
        diagnostics = client.collect(DiagnosticArray, "/diagnostics")
        masks = client.collect(ObjectMasks, f"/{node_name}/camera/masks")
        clock, images = client.publisher(Clock, "/clock"), client.publisher(Image, RAW)
        client.bring_up(node_name)
        client.wait_for_subscriber(clock)
        client.wait_for_subscriber(images)
        now = Clock()
        now.clock.sec, now.clock.nanosec = divmod(T0_NS + 250_000_000, 10**9)
        clock.publish(now)
        image = array_to_image_msg(scene.frame(0), "rgb8", frame_header(0))  # 250 ms before /clock
        images.publish(image)
        masks.wait_stamp(image.header)

        def reported(arrays):
            return [
                s for a in arrays for s in a.status if dict_of(s).get("frames_processed") == "1"
            ]

        # the 1 Hz diagnostics timer runs on the node clock: advance /clock as a replay does
        for second in range(1, 30):
            now.clock.sec = T0_NS // 10**9 + second
            clock.publish(now)
            if diagnostics.wait_for(reported, timeout=1.0):
                break
        array = next(a for a in diagnostics.messages if reported([a]))
        stamp_ns = array.header.stamp.sec * 10**9 + array.header.stamp.nanosec
        assert (
            T0_NS <= stamp_ns < T0_NS + 30 * 10**9
        )  # bag time (the timer may fire at T0 + 0.25 s)
        assert 249.0 <= float(dict_of(reported([array])[0])["latency_p50_ms"]) <= 251.0
    finally:
        client.close()
        node.stop()


def dict_of(status) -> dict[str, str]:
    return {v.key: v.value for v in status.values}


def write_rgbd_bag(path: Path, scene, frames: int) -> Path:
    """Colour frames, each followed in the bag by its registered depth image (a wall 2 m away,
    at half resolution) a few milliseconds later, and a CameraInfo."""
    typestore = sam2_ros_typestore()
    info = CameraInfo(width=320, height=240, k=[200.0, 0, 159.5, 0, 200.0, 119.5, 0, 0, 1.0])
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        raw = writer.add_connection(RAW, "sensor_msgs/msg/Image", typestore=typestore)
        depth = writer.add_connection(DEPTH, "sensor_msgs/msg/Image", typestore=typestore)
        infos = writer.add_connection(
            "/camera/camera_info", "sensor_msgs/msg/CameraInfo", typestore=typestore
        )
        writer.write(infos, T0_NS - 1, serialize_message(info))
        for index in range(frames):
            header, time_ns = frame_header(index), T0_NS + index * PERIOD_NS
            image = array_to_image_msg(scene.frame(index), "rgb8", header)
            writer.write(raw, time_ns, serialize_message(image))
            wall = np.full((120, 160), 2000, np.uint16)
            writer.write(
                depth,
                time_ns + 5_000_000,
                serialize_message(array_to_image_msg(wall, "16UC1", header)),
            )
    return path


def test_bag_with_depth_writes_objects_3d_per_frame(bags, scene, checkpoint_path, tmp_path):
    frames = 14  # the prompts file's last prompt is at frame 12
    bags = dict(bags, rgbd=write_rgbd_bag(tmp_path / "rgbd", scene, frames))
    output = tmp_path / "out"
    assert run_bag(bags, checkpoint_path, output, "--depth-topic", DEPTH, source="rgbd") == 0
    outputs = read_outputs(output)
    masks = masks_by_frame(outputs)
    lifted = [deserialize_message(raw, Objects3D) for _, raw in outputs["/sam2/camera/objects_3d"]]
    assert [m.header for m in lifted] == [m.header for m in masks] and len(lifted) == frames
    for entry, mask in zip(lifted, masks, strict=True):
        assert [o.object_id for o in entry.objects] == [o.object_id for o in mask.objects]
        for obj in entry.objects:
            assert obj.valid and obj.position.z == pytest.approx(2.0)
            assert obj.label in ("ball", "crate")


def _rclpy_modules(code: str, *args: str) -> tuple[str, list[str]]:
    """Run ``code`` in a fresh interpreter; its last printed line, and the rclpy modules it
    loaded."""
    rclpy = "sorted(m for m in sys.modules if m.split('.')[0] == 'rclpy')"
    *output, modules = fresh_python(f"{code}\nimport sys\nprint({rclpy})", *args)
    return "\n".join(output), ast.literal_eval(modules)


def test_the_bag_tool_loads_no_more_of_rclpy_than_serialization(scene, checkpoint_path, tmp_path):
    """`sam2-ros bag` with depth (3D lifting once pulled the node's rclpy.lifecycle in) loads
    only what ``rclpy.serialization`` itself loads."""
    bag = write_rgbd_bag(tmp_path / "rgbd", scene, 3)
    prompts = tmp_path / "prompts.yaml"
    prompts.write_text(f"prompts:\n  - {{frame: 0, box: {list(scene.box('crate', 0))}}}\n")
    output, loaded = _rclpy_modules(
        "import sys\nfrom sam2_ros.commands.cli import main\nassert main(sys.argv[1:]) == 0",
        "bag",
        str(bag),
        str(tmp_path / "out"),
        "--image-topic",
        RAW,
        "--depth-topic",
        DEPTH,
        "--prompts",
        str(prompts),
        "--checkpoint",
        str(checkpoint_path),
        "--image-size",
        str(IMAGE_SIZE),
        "--device",
        "cpu",
    )
    assert "3 frames" in output and "/sam2/camera/objects_3d" in output
    _, serialization = _rclpy_modules("import rclpy.serialization")
    assert "rclpy.serialization" in loaded
    assert set(loaded) <= set(serialization), set(loaded) - set(serialization)


def write_detector_bag(
    path: Path, scene, storage: StoragePlugin, frames: int = 8, detect=None
) -> Path:
    """``frames`` frames, each followed by what ``detect(index)`` returns (a Detection2DArray
    or None); by default a detector two frames late: its boxes of frame 2 (the crate, the ball)
    recorded just after frame 4."""

    def late(index: int) -> Detection2DArray | None:
        if index != 4:
            return None
        message = Detection2DArray(header=frame_header(2))
        message.detections = [
            box_detection(scene.box(name, 2), name, 0.9) for name in ("crate", "ball")
        ]
        return message

    typestore = sam2_ros_typestore()
    with Writer(path, version=9, storage_plugin=storage) as writer:
        raw = writer.add_connection(RAW, "sensor_msgs/msg/Image", typestore=typestore)
        detector = writer.add_connection(
            "/detector/detections", "vision_msgs/msg/Detection2DArray", typestore=typestore
        )
        for index in range(frames):
            time_ns = T0_NS + index * PERIOD_NS
            image = array_to_image_msg(scene.frame(index), "rgb8", frame_header(index))
            writer.write(raw, time_ns, serialize_message(image))
            message = (detect or late)(index)
            if message is not None:
                writer.write(detector, time_ns + 1_000_000, serialize_message(message))
    return path


@pytest.mark.parametrize("storage", [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
def test_recorded_detections_drive_the_offline_run(scene, checkpoint_path, tmp_path, storage):
    bag = write_detector_bag(tmp_path / "detector", scene, storage)
    output = tmp_path / "out"
    code = cli_main(
        [
            *["bag", str(bag), str(output), "--image-topic", RAW],
            *["--detections-topic", "/detector/detections"],
            *["--checkpoint", str(checkpoint_path), "--image-size", str(IMAGE_SIZE)],
            *["--device", "cpu", "--detection-confirm-hits", "1", "--duplicate-frames", "0"],
        ]
    )
    assert code == 0
    outputs = read_outputs(output)
    masks = masks_by_frame(outputs)
    assert [len(m.objects) for m in masks] == [0] * 5 + [2] * 3  # applied after frame 4
    assert [o.label for o in masks[5].objects] == ["crate", "ball"]
    reference = StreamingPredictor(checkpoint=checkpoint_path, image_size=IMAGE_SIZE, device="cpu")
    for index in range(8):
        expected = reference.track(scene.frame(index))
        if index == 2:
            for name in ("crate", "ball"):
                reference.add_prompt(box=list(scene.box(name, 2)))
        if index >= 5:
            for row, obj in enumerate(masks[index].objects):
                assert mask_iou(decode_mask(obj), expected.masks[row]) >= 0.99
    last = deserialize_message(outputs["/sam2/camera/detections"][-1][1], Detection2DArray)
    assert [(d.id, d.results[0].hypothesis.class_id) for d in last.detections] == [
        ("1", "crate"),
        ("2", "ball"),
    ]


def test_a_ghost_is_absent_from_the_output_and_a_confirmed_object_present(
    scene, checkpoint_path, tmp_path
):
    """The rules at their defaults: a one-message ghost and a crate whose detections cover its
    mask (random weights: about the whole frame) start together; the crate is published from
    its third message on, the ghost never."""
    whole = (0.0, 0.0, float(scene.width), float(scene.height))

    def detect(index: int) -> Detection2DArray:
        message = Detection2DArray(header=frame_header(index))
        message.detections = [box_detection(whole, "crate", 0.9)]
        if index == 0:
            message.detections.append(box_detection((2.0, 2.0, 22.0, 18.0), "ghost", 0.9))
        return message

    bag = write_detector_bag(tmp_path / "ghost", scene, StoragePlugin.MCAP, 10, detect)
    output = tmp_path / "out"
    code = cli_main(
        [
            *["bag", str(bag), str(output), "--image-topic", RAW],
            *["--detections-topic", "/detector/detections"],
            *["--checkpoint", str(checkpoint_path), "--image-size", str(IMAGE_SIZE)],
            *["--device", "cpu"],
        ]
    )
    assert code == 0
    outputs = read_outputs(output)
    ids = [[o.object_id for o in m.objects] for m in masks_by_frame(outputs)]
    # messages are applied after their frame is written: the third one confirms the crate
    assert ids == [[]] * 3 + [[1]] * 7
    for topic, msg_type in (
        ("/sam2/camera/occlusion", OcclusionScores),
        ("/sam2/camera/object_pointers", ObjectPointers),
    ):
        written = [deserialize_message(raw, msg_type) for _, raw in outputs[topic]]
        assert [list(m.object_ids) for m in written] == ids
    found = [
        deserialize_message(raw, Detection2DArray) for _, raw in outputs["/sam2/camera/detections"]
    ]
    assert [[d.id for d in m.detections] for m in found] == [[str(i) for i in f] for f in ids]


def test_a_missing_detections_topic_is_named(scene, checkpoint_path, tmp_path, capsys):
    bag = write_detector_bag(tmp_path / "detector", scene, StoragePlugin.MCAP)
    code = cli_main(
        [
            *["bag", str(bag), str(tmp_path / "out"), "--image-topic", RAW],
            *["--detections-topic", "/nope", "--checkpoint", str(checkpoint_path)],
            *["--image-size", str(IMAGE_SIZE), "--device", "cpu"],
        ]
    )
    printed = capsys.readouterr().out
    assert code == 1 and "topic /nope with Detection2DArray messages is not in" in printed
    assert "/detector/detections" in printed and not (tmp_path / "out").exists()


def _decoded(outputs: dict, topic: str) -> list:
    """The messages of an output topic, decoded (CDR padding bytes may differ between runs)."""
    msg_type = OUTPUT_TYPES["/sam2/camera/" + topic.rsplit("/", 1)[1]]
    return [(t, deserialize_message(raw, msg_type)) for t, raw in outputs[topic]]


def test_two_cameras_each_equal_a_one_camera_run(bags, scene, checkpoint_path, tmp_path):
    """Raw and JPEG frames of one bag as two cameras: each camera's outputs are those of a run
    on its topic alone (same stamps, same masks), and prompts go to the camera they name."""
    ball = [round(v, 1) for v in scene.center("ball", 0)]
    crate = [round(v, 1) for v in scene.box("crate", 0)]
    entries = {
        "raw": f"  - {{frame: 0, camera: raw, label: ball, points: [{ball}], labels: [1]}}\n",
        "jpeg": f"  - {{frame: 3, camera: jpeg, label: crate, box: {crate}}}\n",
    }
    both = tmp_path / "both.yaml"
    both.write_text("prompts:\n" + "".join(entries.values()))
    common = ["--checkpoint", str(checkpoint_path), "--image-size", str(IMAGE_SIZE)]
    two = tmp_path / "two"
    code = cli_main(
        [
            *["bag", str(bags["mcap"]), str(two), "--image-topic", RAW, "--camera-name", "raw"],
            *["--image-topic", COMPRESSED, "--camera-name", "jpeg", "--prompts", str(both)],
            *common,
        ]
    )
    assert code == 0
    outputs = read_outputs(two)
    assert {topic.split("/")[2] for topic in outputs} == {"raw", "jpeg"}
    for name, topic in (("raw", RAW), ("jpeg", COMPRESSED)):
        alone_prompts = tmp_path / f"{name}.yaml"
        alone_prompts.write_text("prompts:\n" + entries[name])
        alone = tmp_path / f"alone_{name}"
        code = cli_main(
            [
                *["bag", str(bags["mcap"]), str(alone), "--image-topic", topic],
                *["--camera-name", name, "--prompts", str(alone_prompts), *common],
            ]
        )
        assert code == 0
        single = read_outputs(alone)
        assert sorted(single) == sorted(t for t in outputs if t.split("/")[2] == name)
        for output_topic in single:
            assert _decoded(outputs, output_topic) == _decoded(single, output_topic)
        masks = [m for _, m in _decoded(single, f"/sam2/{name}/masks")]
        assert len(masks) == FRAMES and masks[5].objects
    labels = {
        name: [
            o.label
            for o in deserialize_message(outputs[f"/sam2/{name}/masks"][-1][1], ObjectMasks).objects
        ]
        for name in ("raw", "jpeg")
    }
    assert labels == {"raw": ["ball"], "jpeg": ["crate"]}


def test_prompts_of_several_cameras_name_theirs(bags, checkpoint_path, tmp_path, capsys):
    code = cli_main(
        [
            *["bag", str(bags["mcap"]), str(tmp_path / "out"), "--image-topic", RAW],
            *["--image-topic", COMPRESSED, "--prompts", str(bags["prompts"])],
            *["--checkpoint", str(checkpoint_path), "--image-size", str(IMAGE_SIZE)],
        ]
    )
    printed = capsys.readouterr().out
    assert code == 1 and "say which camera it is for" in printed
    assert "['camera', 'camera_2']" in printed and not (tmp_path / "out").exists()


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_graph_backend_writes_the_torch_results(bags, checkpoint_path, offline, tmp_path, backend):
    export = tmp_path / "onnx"
    assert (
        cli_main(
            ["export", str(export), "--checkpoint", str(checkpoint_path), "--image-size", "128"]
        )
        == 0
    )
    output = tmp_path / backend
    options = ("--backend", backend, "--onnx-dir", str(export), "--precision", "fp32")
    assert run_bag(bags, checkpoint_path, output, *options) == 0
    ours = read_outputs(output)
    assert [t for t, _ in ours["/sam2/camera/masks"]] == [
        t for t, _ in offline["/sam2/camera/masks"]
    ]
    for on_ort, on_torch in zip(masks_by_frame(ours), masks_by_frame(offline), strict=True):
        assert [o.object_id for o in on_ort.objects] == [o.object_id for o in on_torch.objects]
        for a, b in zip(on_ort.objects, on_torch.objects, strict=True):
            assert mask_iou(decode_mask(a), decode_mask(b)) > 0.99
            assert abs(a.score - b.score) <= 1e-3


def test_a_bag_whose_stamps_go_back_keeps_its_objects_and_says_so(
    scene, checkpoint_path, tmp_path, capsys
):
    """Two recordings concatenated: image stamps go back 1 s within the run (bag time goes on).
    The prompts file's frame index is unaffected, the object carries over the jump (or is forgotten
    with --reset-on-time-jump), the jump is reported, a detection of the old timeline that arrives
    after it starts nothing."""
    bag = tmp_path / "concatenated"
    typestore = sam2_ros_typestore()
    stamps = [index for index in range(10)] + [index for index in range(5)]  # in PERIOD_NS
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        raw = writer.add_connection(RAW, "sensor_msgs/msg/Image", typestore=typestore)
        found = writer.add_connection(
            "/detections", "vision_msgs/msg/Detection2DArray", typestore=typestore
        )
        for position, index in enumerate(stamps):
            time_ns = T0_NS + position * PERIOD_NS
            image = array_to_image_msg(scene.frame(position), "rgb8", frame_header(index))
            writer.write(raw, time_ns, serialize_message(image))
            if position == 12:  # a detector still on the first recording's frame 9
                late = Detection2DArray(
                    header=frame_header(9),
                    detections=[box_detection(scene.box("crate", 9), "crate", 0.99)],
                )
                writer.write(found, time_ns + 1, serialize_message(late))
    prompts = tmp_path / "prompts.yaml"
    ball = [round(v, 1) for v in scene.center("ball", 0)]
    prompts.write_text(f"prompts:\n  - {{frame: 0, label: ball, points: [{ball}], labels: [1]}}\n")
    results = {}
    for reset in (False, True):
        output = tmp_path / f"out_{reset}"
        code = cli_main(
            [
                *["bag", str(bag), str(output), "--image-topic", RAW, "--prompts", str(prompts)],
                *["--detections-topic", "/detections", "--detection-confirm-hits", "1"],
                *["--checkpoint", str(checkpoint_path), "--image-size", str(IMAGE_SIZE)],
                *(["--reset-on-time-jump"] if reset else []),
            ]
        )
        printed = capsys.readouterr().out
        assert code == 0, printed
        went_back = f"the stamps went back from {T0_NS // 10**9}.9"
        (jump,) = [line for line in printed.splitlines() if went_back in line and "objects" in line]
        assert jump.endswith("objects forgotten" if reset else "objects kept")
        assert "stamped before the camera's stamps went back" in printed
        results[reset] = masks_by_frame(read_outputs(output))
    kept, forgotten = results[False], results[True]
    assert len(kept) == len(forgotten) == len(stamps)
    assert [[o.object_id for o in m.objects] for m in kept] == [[1]] * len(stamps)
    assert [[o.object_id for o in m.objects] for m in forgotten] == [[1]] * 10 + [[]] * 5
