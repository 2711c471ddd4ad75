"""Objects survive deactivate/activate over DDS: by service, or by the on-activate/deactivate
parameters; service callers cannot name files outside ``objects_dir``."""

from __future__ import annotations

import pytest
from conftest import Camera, add_prompt, start_node, wait_log
from sam2_ros.srv import ObjectsFile
from std_srvs.srv import Trigger

NODE = "sam2_objects"


@pytest.fixture(scope="module")
def objects_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("objects")


@pytest.fixture(scope="module")
def camera(client, objects_dir, tmp_path_factory):
    node = start_node(
        tmp_path_factory,
        NODE,
        objects_dir=str(objects_dir),
        load_objects_on_activate="auto",
        save_objects_on_deactivate="auto",
    )
    cam = Camera(client, NODE, "camera", "/camera/image_raw")
    client.bring_up(NODE)
    yield cam
    node.stop()


def call(client, service: str, name: str, camera_name: str = "") -> ObjectsFile.Response:
    request = ObjectsFile.Request(camera_name=camera_name, name=name)
    return client.call(ObjectsFile, f"/{NODE}/{service}", request)


def labelled(masks) -> list[tuple[int, str]]:
    return [(o.object_id, o.label) for o in masks.objects]


def test_a_missing_file_on_activate_is_only_a_warning(client, camera, rosout, objects_dir, scene):
    path = objects_dir / "auto.camera.safetensors"
    wait_log(rosout, NODE, f"camera camera: no saved objects at {path}")
    assert client.state(NODE) == "active"
    assert camera.step(scene.frame(0)).objects == []


def test_save_deactivate_activate_load_resumes_the_same_objects(client, camera, objects_dir, scene):
    camera.step(scene.frame(1))
    for name, label in (("ball", "ball"), ("crate", "crate")):
        assert add_prompt(
            client, NODE, points=[scene.center(name, 1)], labels=[1], label=label
        ).success
    before = labelled(camera.step(scene.frame(2)))
    assert before == [(1, "ball"), (2, "crate")]
    saved = call(client, "save_objects", "kitchen", "camera")
    assert saved.success, saved.message
    assert list(saved.object_ids) == [1, 2]
    assert (objects_dir / "kitchen.camera.safetensors").is_file()
    assert client.transition(NODE, "deactivate") and client.transition(NODE, "activate")
    assert client.call(Trigger, f"/{NODE}/reset", Trigger.Request()).success
    assert camera.step(scene.frame(3)).objects == []
    loaded = call(client, "load_objects", "kitchen")
    assert loaded.success, loaded.message
    assert list(loaded.object_ids) == [1, 2]
    assert labelled(camera.step(scene.frame(4))) == before
    answer = add_prompt(client, NODE, points=[scene.center("pillar", 4)], labels=[1])
    assert answer.object_id == 3  # ids continue after the file's


def test_parameters_save_on_deactivate_and_load_on_activate(client, camera, scene):
    before = labelled(camera.step(scene.frame(5)))
    assert [i for i, _ in before] == [1, 2, 3]
    assert client.transition(NODE, "deactivate")
    assert client.transition(NODE, "activate")
    assert labelled(camera.step(scene.frame(6))) == before


@pytest.mark.parametrize("name", ["../x", "/tmp/x", "a/b", ""])
@pytest.mark.parametrize("service", ["save_objects", "load_objects"])
def test_names_outside_the_folder_are_refused(client, camera, objects_dir, scene, name, service):
    before = labelled(camera.step(scene.frame(7)))
    answer = call(client, service, name)
    assert not answer.success and "not a plain file name" in answer.message
    assert labelled(camera.step(scene.frame(8))) == before
    assert sorted(p.name for p in objects_dir.iterdir()) == [
        "auto.camera.safetensors",
        "kitchen.camera.safetensors",
    ]


def test_a_missing_file_is_refused_by_the_service(client, camera, scene):
    before = labelled(camera.step(scene.frame(9)))
    answer = call(client, "load_objects", "nothing")
    assert not answer.success and "does not exist" in answer.message
    answer = call(client, "load_objects", "kitchen", "nope")
    assert not answer.success and "unknown camera 'nope'" in answer.message
    assert labelled(camera.step(scene.frame(10))) == before
