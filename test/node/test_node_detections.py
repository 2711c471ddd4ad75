"""A detector drives the node over DDS: its Detection2DArray messages, stamped with the frame they
were computed on, start objects there (late == timely), pair with tracked objects by mask and
class, retire the detector's objects it stops seeing, and never disturb tracking when broken; with
the rules on, new objects are on no output until confirmed and one of two objects on one region
goes.

Random weights give masks over most of the frame, so every object's box is about the frame: a
detection pairs with an object when it carries that object's published ``roi`` and class (the
"keepers" below keep the detector's objects paired), and a small box pairs with nothing. The
first node runs with the rules off (``detection_confirm_hits: 1``, ``duplicate_frames: 0``):
those tests are the ones from before the rules, unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import Camera, add_prompt, mask_iou, mask_of, start_node, wait_log
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sam2_ros.srv import ObjectsFile
from vision_msgs.msg import Detection2D, Detection2DArray

from sam2_ros.engine import StreamingPredictor
from sam2_ros.messages.detections import box_detection

NODE = "sam2_detections"
TOPIC = "/detector/detections"
FORGET_AFTER = 3


@pytest.fixture(scope="module")
def setup(client, rosout, tmp_path_factory):
    node = start_node(
        tmp_path_factory,
        NODE,
        detection_topics=[TOPIC],
        detection_forget_after=FORGET_AFTER,
        detection_confirm_hits=1,
        duplicate_frames=0,
        max_objects=8,
        publish_overlay=False,
    )
    camera = Camera(client, NODE, "camera", "/camera/image_raw")
    reliable = client.publisher(Detection2DArray, TOPIC)
    best_effort = client.publisher(
        Detection2DArray, TOPIC, QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    )
    diagnostics = client.collect(DiagnosticArray, "/diagnostics")
    outputs = client.collect(Detection2DArray, f"/{NODE}/camera/detections")
    client.bring_up(NODE)
    for publisher in (reliable, best_effort):
        client.wait_for_subscriber(publisher)
    yield {
        "camera": camera,
        "reliable": reliable,
        "best_effort": best_effort,
        "diagnostics": diagnostics,
        "outputs": outputs,
        "node": node,
        "name": NODE,
        "applied": 0,  # messages sent that land on a frame
    }
    node.stop()


def detection(box, class_id: str, score: float = 0.9, theta: float = 0.0) -> Detection2D:
    return box_detection(box, class_id, score, theta)


def roi_box(masks, object_id: int) -> tuple[float, float, float, float]:
    roi = next(o.roi for o in masks.objects if o.object_id == object_id)
    x0, y0 = float(roi.x_offset), float(roi.y_offset)
    return x0, y0, x0 + roi.width, y0 + roi.height


def keepers(masks, *labels: str) -> list[Detection2D]:
    """Detections that pair with the objects labelled ``labels`` on that frame."""
    return [
        detection(roi_box(masks, o.object_id), o.label) for o in masks.objects if o.label in labels
    ]


def applied(setup) -> int:
    """Detection messages the node has applied, as its newest /diagnostics says (0: none yet)."""
    return int(camera_value(setup, "detection_messages_applied") or 0)


def camera_value(setup, key: str) -> str | None:
    """A value of the node's newest camera status on /diagnostics (None: none yet)."""
    for array in reversed(setup["diagnostics"].messages):
        for status in array.status:
            if status.name == f"{setup['name']}: camera":
                return next(v.value for v in status.values if v.key == key)
    return None


def send(setup, header, *detections: Detection2D, publisher: str = "reliable") -> None:
    """Publish a detector message for the frame with ``header``; wait until the node applied it."""
    setup["applied"] += 1
    setup[publisher].publish(Detection2DArray(header=header, detections=list(detections)))
    assert setup["diagnostics"].wait_for(lambda _: applied(setup) >= setup["applied"], 30)


def labels_of(masks) -> dict[int, str]:
    return {o.object_id: o.label for o in masks.objects}


def test_a_late_message_starts_objects_on_its_frame(client, rosout, setup, scene, small_model):
    camera = setup["camera"]
    headers = [camera.step(scene.frame(i)).header for i in range(5)]  # the detector is 2 late
    boxes = {name: scene.box(name, 2) for name in ("crate", "ball")}
    message = [detection(box, name) for name, box in boxes.items()]
    setup["reliable"].publish(Detection2DArray(header=headers[2], detections=message))
    setup["applied"] += 1
    stamp = f"{headers[2].stamp.sec}.{headers[2].stamp.nanosec:09d}"
    wait_log(
        rosout, NODE, rf"detections stamped {stamp} started object\(s\) 1 \(crate\), 2 \(ball\)"
    )
    masks = camera.step(scene.frame(5))
    assert labels_of(masks) == {1: "crate", 2: "ball"}
    reference = StreamingPredictor(model=small_model)
    for index in range(6):
        expected = reference.track(scene.frame(index))
        if index == 2:
            for box in boxes.values():
                reference.add_prompt(box=list(box))
    for row, object_id in enumerate((1, 2)):
        assert mask_iou(mask_of(masks, object_id), expected.masks[row]) >= 0.99


def test_the_objects_roi_pairs_and_labels_an_unlabelled_object(client, rosout, setup, scene):
    camera = setup["camera"]
    clicked = add_prompt(client, NODE, points=[scene.center("pillar", 5)], labels=[1])
    assert clicked.success, clicked.message
    masks = camera.step(scene.frame(6))
    cup = detection(roi_box(masks, clicked.object_id), "cup")
    send(setup, masks.header, *keepers(masks, "crate", "ball"), cup, publisher="best_effort")
    after = camera.step(scene.frame(7))
    assert labels_of(after) == {1: "crate", 2: "ball", clicked.object_id: "cup"}


def test_a_box_far_from_every_mask_starts_an_object(client, rosout, setup, scene):
    camera = setup["camera"]
    masks = camera.step(scene.frame(8))
    corner = detection((2.0, 2.0, 22.0, 18.0), "bottle")
    send(setup, masks.header, *keepers(masks, "crate", "ball"), corner)
    assert "bottle" in labels_of(camera.step(scene.frame(9))).values()


def test_a_person_exactly_over_a_cup_is_another_object(client, rosout, setup, scene):
    camera = setup["camera"]
    masks = camera.step(scene.frame(10))
    cup = next(o.object_id for o in masks.objects if o.label == "cup")
    person = detection(roi_box(masks, cup), "person")
    send(setup, masks.header, *keepers(masks, "crate", "ball", "bottle"), person)
    after = labels_of(camera.step(scene.frame(11)))
    assert sorted(after.values()) == ["ball", "bottle", "crate", "cup", "person"]


def test_outputs_carry_the_masks_ids_classes_and_boxes(client, setup, scene):
    camera = setup["camera"]
    masks = camera.step(scene.frame(12))
    out = setup["outputs"].wait_stamp(masks.header)
    assert [d.id for d in out.detections] == [str(o.object_id) for o in masks.objects]
    for entry, obj in zip(out.detections, masks.objects, strict=True):
        assert entry.results[0].hypothesis.class_id == obj.label
        assert entry.results[0].hypothesis.score == pytest.approx(obj.score)
        x0, y0, x1, y1 = roi_box(masks, obj.object_id)
        assert (entry.bbox.size_x, entry.bbox.size_y) == (x1 - x0, y1 - y0)
        assert entry.bbox.center.position.x == pytest.approx((x0 + x1) / 2)


def test_bad_messages_are_dropped_with_reasons_and_tracking_goes_on(client, setup, scene):
    camera = setup["camera"]
    masks = camera.step(scene.frame(13))
    before = labels_of(masks)
    broken = [
        detection((math.nan, 10.0, 30.0, 30.0), "cup"),
        detection((10.0, 10.0, 30.0, 30.0), "cup", theta=0.4),
        detection((900.0, 10.0, 950.0, 30.0), "cup"),
        detection((10.0, 10.0, 10.0, 30.0), "cup"),
        detection((10.0, 10.0, 30.0, 30.0), "cup"),
    ]
    broken[-1].results = []  # no hypothesis
    send(setup, masks.header, *keepers(masks, *before.values()), *broken)
    old = masks.header.__class__(frame_id=masks.header.frame_id)
    old.stamp.sec = 5
    setup["reliable"].publish(Detection2DArray(header=old, detections=broken[:1]))

    def reasons(arrays) -> str:
        for array in reversed(arrays):
            for status in array.status:
                if status.name == f"{NODE}: camera":
                    return next(
                        v.value for v in status.values if v.key == "detections_dropped_by_reason"
                    )
        return ""

    expected = (
        "box not finite",
        "rotated box",
        "box off the image",
        "box without area",
        "no hypothesis",
        "message older than the prompt history",
    )
    found = setup["diagnostics"].wait_for(lambda a: all(r in reasons(a) for r in expected), 30)
    assert found, reasons(setup["diagnostics"].messages)
    assert labels_of(camera.step(scene.frame(14))) == before
    assert setup["node"].process.poll() is None


def test_detector_objects_are_forgotten_and_clicked_ones_stay(client, rosout, setup, scene):
    camera = setup["camera"]
    masks = camera.step(scene.frame(15))
    everyone = set(labels_of(masks))
    clicked = {i for i, label in labels_of(masks).items() if label == "cup"}
    assert clicked and everyone - clicked, labels_of(masks)  # detector objects to forget
    for count in range(1, FORGET_AFTER + 1):
        send(setup, masks.header)  # nothing pairs with any object
        masks = camera.step(scene.frame(15 + count))
        # every object stays until the FORGET_AFTER-th message without a pairing, then only
        # the clicked ones do
        assert set(labels_of(masks)) == (clicked if count == FORGET_AFTER else everyone), count
    wait_log(
        rosout,
        NODE,
        rf"forgot object \d+ \(bottle\): no detection paired with it in {FORGET_AFTER}",
    )


HYGIENE = "sam2_hygiene"


@pytest.fixture(scope="module")
def hygiene(client, tmp_path_factory):
    """A node with the rules at their defaults (births confirmed 3 of 5, duplicates removed)."""
    node = start_node(
        tmp_path_factory,
        HYGIENE,
        image_topics=["/hygiene/image_raw"],
        detection_topics=["/hygiene/detections"],
        objects_dir=str(tmp_path_factory.mktemp("objects")),
    )
    camera = Camera(client, HYGIENE, "camera", "/hygiene/image_raw")
    reliable = client.publisher(Detection2DArray, "/hygiene/detections")
    setup = {
        "camera": camera,
        "reliable": reliable,
        "diagnostics": client.collect(DiagnosticArray, "/diagnostics"),
        "outputs": client.collect(Detection2DArray, f"/{HYGIENE}/camera/detections"),
        "name": HYGIENE,
        "applied": 0,
    }
    client.bring_up(HYGIENE)
    client.wait_for_subscriber(reliable)
    yield setup
    node.stop()


def on_outputs(setup, header) -> list[set[int]]:
    """The object ids on every output of the frame with ``header``: masks, occlusion, object
    pointers, label image, detections."""
    camera = setup["camera"]
    masks = camera.masks.wait_stamp(header)
    label = camera.label_image.wait_stamp(header)
    pixels = set(np.unique(np.frombuffer(bytes(label.data), np.uint16)).tolist()) - {0}
    return [
        {o.object_id for o in masks.objects},
        set(camera.occlusion.wait_stamp(header).object_ids),
        set(camera.pointers.wait_stamp(header).object_ids),
        pixels,
        {int(d.id) for d in setup["outputs"].wait_stamp(header).detections},
    ]


def test_new_objects_are_on_no_output_until_confirmed(client, rosout, hygiene, scene):
    camera = hygiene["camera"]
    width, height = scene.width, scene.height
    masks = camera.step(scene.frame(0))
    send(hygiene, masks.header, detection((2.0, 2.0, 22.0, 18.0), "ghost"))
    wait_log(rosout, HYGIENE, r"started \(tentative\) object\(s\) 1 \(ghost\)")
    for index in range(1, 5):  # nothing pairs with the ghost again
        masks = camera.step(scene.frame(index))
        assert on_outputs(hygiene, masks.header) == [set()] * 5
        send(hygiene, masks.header)
    wait_log(rosout, HYGIENE, r"removed unconfirmed object 1 \(ghost\)")
    assert hygiene["diagnostics"].wait_for(
        lambda _: camera_value(hygiene, "objects_unconfirmed_removed") == "1", 30
    )
    # a real object: its detections cover its mask (random weights: about the whole frame)
    whole = detection((0.0, 0.0, float(width), float(height)), "crate")
    masks = camera.step(scene.frame(5))
    send(hygiene, masks.header, whole)
    saved = client.call(ObjectsFile, f"/{HYGIENE}/save_objects", ObjectsFile.Request(name="now"))
    assert saved.success and list(saved.object_ids) == []  # a tentative object is not listed
    for index in (6, 7):
        masks = camera.step(scene.frame(index))
        assert on_outputs(hygiene, masks.header) == [set()] * 5
        send(hygiene, masks.header, whole)
    wait_log(rosout, HYGIENE, r"confirmed object\(s\) 2 \(crate\)")
    masks = camera.step(scene.frame(8))
    assert on_outputs(hygiene, masks.header) == [{2}] * 5
    assert hygiene["diagnostics"].wait_for(
        lambda _: camera_value(hygiene, "objects_confirmed") == "1", 30
    )


def test_two_objects_on_one_region_end_as_one_and_the_clicked_one_stays(
    client, rosout, hygiene, scene
):
    camera = hygiene["camera"]
    clicked = add_prompt(client, HYGIENE, points=[scene.center("pillar", 8)], labels=[1])
    assert clicked.success, clicked.message
    for index in range(9, 9 + 6):  # the two masks cover one region for duplicate_frames (5)
        masks = camera.step(scene.frame(index))
    wait_log(rosout, HYGIENE, rf"removed object 2 as a duplicate of object {clicked.object_id}")
    assert [o.object_id for o in masks.objects] == [clicked.object_id]
    assert hygiene["diagnostics"].wait_for(
        lambda _: camera_value(hygiene, "duplicates_removed") == "1", 30
    )
