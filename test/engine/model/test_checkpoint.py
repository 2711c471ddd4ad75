"""Checkpoints load safely and every failure names the file, the problem and the fix."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import IMAGE_SIZE

from sam2_ros.engine import CheckpointError, StreamingPredictor, load_model
from sam2_ros.engine.model.checkpoint import guess_config


def test_valid_checkpoint_loads_the_exact_weights(checkpoint_path, sam_model):
    written = torch.load(checkpoint_path, weights_only=True)["model"]
    loaded = sam_model.sam.state_dict()
    assert written.keys() == loaded.keys()
    assert all(torch.equal(written[k], loaded[k]) for k in written)
    assert guess_config(written) == "configs/sam2.1/sam2.1_hiera_t.yaml"


def test_missing_file_names_the_download_script(tmp_path):
    missing = tmp_path / "sam2.1_hiera_tiny.pt"
    with pytest.raises(CheckpointError, match=r"does not exist.*download_checkpoints\.sh") as err:
        load_model(checkpoint=missing, image_size=IMAGE_SIZE, device="cpu")
    assert str(missing) in str(err.value)


def test_no_checkpoint_is_an_error_unless_random_weights_are_allowed():
    with pytest.raises(CheckpointError, match=r"no checkpoint given.*allow_random_weights"):
        load_model(checkpoint=None, image_size=IMAGE_SIZE, device="cpu")


def test_truncated_file_is_reported_as_corrupt(tmp_path, checkpoint_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoint_path.read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="corrupt or truncated") as err:
        load_model(checkpoint=truncated, image_size=IMAGE_SIZE, device="cpu")
    assert str(truncated) in str(err.value)


def test_garbage_file_is_reported_as_unreadable(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint\n" * 100)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_model(checkpoint=garbage, image_size=IMAGE_SIZE, device="cpu")


class _Payload:
    """Unpickling this would run a shell command."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_file_carrying_a_pickled_object_is_refused_without_running_it(tmp_path, checkpoint_path):
    marker = tmp_path / "payload_ran"
    evil = tmp_path / "evil.pt"
    state = torch.load(checkpoint_path, weights_only=True)
    state["extra"] = _Payload(str(marker))
    torch.save(state, evil)
    with pytest.raises(CheckpointError, match=r"refused.*pickled Python objects") as err:
        load_model(checkpoint=evil, image_size=IMAGE_SIZE, device="cpu")
    assert str(evil) in str(err.value)
    assert not marker.exists()


def test_file_without_a_model_state_dict_is_rejected(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": {"a": torch.zeros(1)}}, other)
    with pytest.raises(CheckpointError, match=r"not a SAM 2 checkpoint.*\{'model': state_dict\}"):
        load_model(checkpoint=other, image_size=IMAGE_SIZE, device="cpu")


def test_checkpoint_of_another_model_size_names_the_right_config(tmp_path, sam_model, scene):
    small = load_model(
        model_cfg="configs/sam2.1/sam2.1_hiera_s.yaml",
        image_size=IMAGE_SIZE,
        allow_random_weights=True,
        device="cpu",
        precision="fp32",
    )
    path = tmp_path / "sam2.1_hiera_small.pt"
    torch.save({"model": small.sam.state_dict()}, path)
    with pytest.raises(CheckpointError) as err:
        load_model(
            model_cfg="configs/sam2.1/sam2.1_hiera_t.yaml",
            checkpoint=path,
            image_size=IMAGE_SIZE,
            device="cpu",
            precision="fp32",
        )
    message = str(err.value)
    assert str(path) in message
    assert "does not match config configs/sam2.1/sam2.1_hiera_t.yaml" in message
    assert "missing keys" in message and "shape mismatches" in message
    assert "set model_cfg to configs/sam2.1/sam2.1_hiera_s.yaml" in message
    # the failures leave nothing broken: a model loaded afterwards tracks
    predictor = StreamingPredictor(model=sam_model)
    predictor.track(scene.frame(0))
    assert predictor.add_prompt(points=[scene.center("ball", 0)], labels=[1]).object_id == 1
    assert predictor.track(scene.frame(1)).object_ids == [1]


def test_unknown_config_and_bad_options_are_clear_errors():
    from sam2_ros.engine import ModelConfigError

    with pytest.raises(ModelConfigError, match="cannot build SAM 2 from config"):
        load_model(model_cfg="configs/nope.yaml", allow_random_weights=True, device="cpu")
    with pytest.raises(ModelConfigError, match="image_size 250 is invalid"):
        load_model(image_size=250, allow_random_weights=True, device="cpu")
    with pytest.raises(ModelConfigError, match=r"not supported|not a torch device"):
        load_model(device="tpu", allow_random_weights=True)
