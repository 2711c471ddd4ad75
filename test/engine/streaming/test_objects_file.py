"""Objects outlive the process: a saved memory bank continues tracking exactly, and every file
that does not fit the model is refused with the reason, leaving the tracked objects as they were.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import BEDROOM_DIR, IMAGE_SIZE, assert_live, footage_paths, tracking_pair
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from sam2_ros.engine import ObjectsFileError, StreamingPredictor

SAVED_AFTER = 20
FRAMES = 40


def _bedroom(count: int) -> list[np.ndarray]:
    return [np.array(Image.open(path).convert("RGB")) for path in footage_paths(count)]


CONTINUE_SCRIPT = """
import sys
import numpy as np
from PIL import Image
from sam2_ros.engine import StreamingPredictor
checkpoint, objects, frames_dir, first, count, out, size = sys.argv[1:]
predictor = StreamingPredictor(
    checkpoint=checkpoint, image_size=int(size), device="cpu", precision="fp32"
)
labels = predictor.load_objects(objects)
paths = sorted(__import__("pathlib").Path(frames_dir).glob("*.jpg"))[int(first):int(count)]
results = [predictor.track(np.array(Image.open(p).convert("RGB"))) for p in paths]
np.savez(
    out,
    ids=np.array([r.object_ids for r in results]),
    logits=np.stack([r.mask_logits for r in results]),
    pointers=np.stack([r.object_pointers for r in results]),
    frames=np.array([r.frame_index for r in results]),
    labels=np.array([labels[i] for i in results[0].object_ids]),
)
"""


@pytest.mark.slow
def test_another_process_continues_exactly(sam_model, checkpoint_path, tmp_path):
    frames = _bedroom(FRAMES)
    width, height = frames[0].shape[1], frames[0].shape[0]
    predictor = StreamingPredictor(model=sam_model)
    labels = {}
    for index in range(SAVED_AFTER):
        predictor.track(frames[index])
        if index == 0:
            a = predictor.add_prompt(points=[[0.3 * width, 0.5 * height]], labels=[1]).object_id
            b = predictor.add_prompt(box=[0.55 * width, 0.15 * height, 0.75 * width, 0.9 * height])
            labels |= {a: "person", b.object_id: "door"}
        if index == 3:
            labels[
                predictor.add_prompt(points=[[0.85 * width, 0.6 * height]], labels=[1]).object_id
            ] = "lamp"
        if index in (8, SAVED_AFTER - 1):  # a refinement, and one not yet in memory when saved
            predictor.add_prompt(a, points=[[0.32 * width, 0.3 * height]], labels=[int(index == 8)])
    path = tmp_path / "objects.safetensors"
    written = predictor.save_objects(path, labels)
    assert written == path.stat().st_size > 0
    ours = [predictor.track(frames[index]) for index in range(SAVED_AFTER, FRAMES)]
    out = tmp_path / "continued.npz"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CONTINUE_SCRIPT,
            str(checkpoint_path),
            str(path),
            str(BEDROOM_DIR),
            str(SAVED_AFTER),
            str(FRAMES),
            str(out),
            str(IMAGE_SIZE),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = np.load(out)
    assert theirs["frames"].tolist() == [r.frame_index for r in ours] == list(range(20, 40))
    assert theirs["ids"].tolist() == [r.object_ids for r in ours]
    assert theirs["labels"].tolist() == ["person", "door", "lamp"]
    for result in ours:
        assert_live(result, f"on frame {result.frame_index}")
    np.testing.assert_allclose(
        theirs["logits"], np.stack([r.mask_logits for r in ours]), atol=1e-6, rtol=0
    )
    np.testing.assert_allclose(
        theirs["pointers"], np.stack([r.object_pointers for r in ours]), atol=1e-6, rtol=0
    )


@pytest.fixture()
def saved(small_model, scene, tmp_path) -> Path:
    """A file with two objects tracked for 3 frames."""
    predictor = StreamingPredictor(model=small_model)
    predictor.track(scene.frame(0))
    predictor.add_prompt(points=[scene.center("ball", 0)], labels=[1])
    predictor.add_prompt(box=scene.box("crate", 0))
    for index in range(1, 3):
        predictor.track(scene.frame(index))
    path = tmp_path / "saved.safetensors"
    predictor.save_objects(path, {1: "ball", 2: "crate"})
    return path


@pytest.fixture()
def tracking(small_model, scene):
    """A predictor tracking one object of its own, and its twin that receives no bad calls."""
    return tracking_pair(small_model, scene, "pillar", max_objects=3)


def _rewrite(source: Path, target: Path, header=None, tensors=None) -> Path:
    with safe_open(str(source), framework="pt") as content:
        meta = json.loads(content.metadata()["sam2_ros"])
        values = {name: content.get_tensor(name) for name in content.keys()}  # noqa: SIM118
    if header:
        header(meta)
    if tensors:
        tensors(values)
    save_file(values, str(target), metadata={"sam2_ros": json.dumps(meta)})
    return target


class Payload:
    """Unpickling this would create a file: proof the loader ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _bad_files(saved: Path, tmp: Path) -> list[tuple[Path, str]]:
    truncated = tmp / "truncated.safetensors"
    truncated.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    corrupt = tmp / "corrupt.safetensors"
    data = bytearray(saved.read_bytes())
    data[8:40] = b"\xff" * 32
    corrupt.write_bytes(bytes(data))
    pickled = tmp / "pickled.safetensors"
    pickled.write_bytes(pickle.dumps({"model": Payload(tmp / "pwned")}))
    torch_saved = tmp / "torch_saved.safetensors"
    torch.save({"weights": torch.zeros(3)}, torch_saved)

    def shape(values):
        values["object/1/output/obj_ptr"] = torch.zeros(1, 7)

    def dtype(values):
        name = next(n for n in values if n.endswith("maskmem_features"))
        values[name] = values[name].float()

    return [
        (tmp / "missing.safetensors", "does not exist"),
        (truncated, "not a readable safetensors file"),
        (corrupt, "not a readable safetensors file"),
        (pickled, "not a readable safetensors file"),
        (torch_saved, "not a readable safetensors file"),
        (_rewrite(saved, tmp / "v9.st", header=lambda m: m.update(version=9)), "format version 9"),
        (
            _rewrite(
                saved,
                tmp / "small.st",
                header=lambda m: m.update(
                    model_cfg="configs/sam2.1/sam2.1_hiera_s.yaml", image_size=1024
                ),
            ),
            "saved with configs/sam2.1/sam2.1_hiera_s.yaml at 1024 px; this node runs "
            "configs/sam2.1/sam2.1_hiera_t.yaml at 128 px",
        ),
        (
            _rewrite(saved, tmp / "weights.st", header=lambda m: m.update(weights="0" * 64)),
            "saved with other weights",
        ),
        (
            _rewrite(saved, tmp / "shape.st", tensors=shape),
            "tensor object/1/output/obj_ptr is (1, 7)",
        ),
        (
            _rewrite(saved, tmp / "dtype.st", tensors=dtype),
            "torch.float32; configs/sam2.1/sam2.1_hiera_t.yaml",
        ),
        (
            _rewrite(
                saved, tmp / "missing_tensor.st", tensors=lambda v: v.pop("object/2/output/score")
            ),
            "is inconsistent",
        ),
    ]


def test_bad_files_are_refused_and_nothing_changes(saved, tracking, scene, tmp_path):
    bad, good = tracking
    for path, reason in _bad_files(saved, tmp_path):
        with pytest.raises(ObjectsFileError, match=re.escape(reason)):
            bad.load_objects(path)
        assert bad.object_ids == good.object_ids and bad.memory_bytes() == good.memory_bytes()
    assert not (tmp_path / "pwned").exists()  # the pickle's code never ran
    small = StreamingPredictor(model=bad.model, max_objects=1)
    with pytest.raises(ObjectsFileError, match="holds 2 objects but max_objects is 1"):
        small.load_objects(saved)
    a, b = bad.track(scene.frame(2)), good.track(scene.frame(2))
    assert_live(b)
    np.testing.assert_array_equal(a.mask_logits, b.mask_logits)


def test_loading_replaces_objects_and_continues_numbering(saved, tracking, scene):
    predictor = tracking[0]
    labels = predictor.load_objects(saved)
    assert labels == {1: "ball", 2: "crate"} and predictor.object_ids == [1, 2]
    assert predictor.frame_index == 2
    result = predictor.track(scene.frame(3))
    assert result.frame_index == 3 and result.object_ids == [1, 2]
    assert predictor.add_prompt(points=[scene.center("pillar", 3)], labels=[1]).object_id == 3


def test_some_objects_can_be_saved(small_model, scene, tmp_path):
    """The node saves only the objects it publishes (not the detector's tentative ones)."""
    predictor = StreamingPredictor(model=small_model)
    predictor.track(scene.frame(0))
    predictor.add_prompt(points=[scene.center("ball", 0)], labels=[1])
    predictor.add_prompt(box=scene.box("crate", 0))
    predictor.track(scene.frame(1))
    path = tmp_path / "some.safetensors"
    predictor.save_objects(path, {1: "ball", 2: "crate"}, object_ids=[2])
    again = StreamingPredictor(model=small_model)
    assert again.load_objects(path) == {2: "crate"} and again.object_ids == [2]
    result = predictor.result()
    assert result.select([2]).object_ids == [2] and result.select([1, 2]) is result
    np.testing.assert_array_equal(result.select([2]).masks, result.masks[1:])
    assert result.select([]).masks.shape == (0, *result.masks.shape[1:])
