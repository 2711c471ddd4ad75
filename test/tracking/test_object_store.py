"""Service callers can only name files inside the objects folder."""

from __future__ import annotations

import pytest

from sam2_ros.tracking.object_store import ObjectNameError, ObjectStore


def test_a_plain_name_is_a_file_per_camera_in_the_folder(tmp_path):
    store = ObjectStore(str(tmp_path))
    assert store.path("kitchen-1.v2", "front") == tmp_path / "kitchen-1.v2.front.safetensors"
    assert ObjectStore("~/objects").directory.is_absolute()


@pytest.mark.parametrize(
    "name",
    ["../x", "/tmp/x", "a/b", "a\\\\b", "..", ".hidden", "", "x/../../etc", "a b", "x" * 200],
)
def test_anything_else_is_refused(tmp_path, name):
    with pytest.raises(ObjectNameError, match="not a plain file name"):
        ObjectStore(str(tmp_path)).path(name, "front")
