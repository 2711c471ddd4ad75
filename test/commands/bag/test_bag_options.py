"""The bag tool's options read once into settings: a bad value is refused with the message it
always had, and the settings hash is the same for ``bag`` and ``bags`` given the same options,
changed by what changes the output and by nothing else."""

from __future__ import annotations

import argparse
import pickle
import shutil
from pathlib import Path

import pytest
from conftest import fresh_python

from sam2_ros.commands.bag import command as bag_command
from sam2_ros.commands.bag.cameras import BagCamera, CameraSpecError
from sam2_ros.commands.bag.options import read_bag_settings
from sam2_ros.commands.bag.output_record import settings_hash
from sam2_ros.commands.cli import main as cli_main
from sam2_ros.commands.fleet import command as fleet_command
from sam2_ros.commands.fleet.options import read_fleet_settings
from sam2_ros.parameters.declarations import ParameterError
from sam2_ros.tracking.association import AssociationSettings


def parse(module, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def files(tmp_path, monkeypatch) -> Path:
    """A checkpoint and a prompts file (their bytes are all the hash reads), in the working
    folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.pt").write_bytes(b"weights")
    (tmp_path / "prompts.yaml").write_text("prompts:\n  - {frame: 0, box: [1, 2, 30, 40]}\n")
    return tmp_path


def bag_hash(*options: str) -> str:
    """The settings hash of ``sam2-ros bag`` with ``options`` (checkpoint and prompts as given
    relative to the working folder unless ``options`` say otherwise)."""
    given = ["--checkpoint", "model.pt", "--prompts", "prompts.yaml", *options]
    return settings_hash(read_bag_settings(parse(bag_command, ["in", "out", *given])))


def test_options_become_settings():
    args = parse(
        bag_command,
        [
            *["in", "out", "--image-topic", "/front/image_raw", "--image-topic", "/rear/image"],
            *["--detections-topic", "", "--detections-topic", "/rear/detections"],
            *["--max-objects", "4", "--backend", "openvino", "--onnx-dir", "export"],
            *["--depth-range", "0.2", "5", "--duplicate-frames", "2", "--image-size", "512"],
        ],
    )
    settings = read_bag_settings(args)
    assert settings.cameras == (
        BagCamera("front", "/front/image_raw"),
        BagCamera("rear", "/rear/image", detections_topic="/rear/detections"),
    )
    engine = settings.engine
    assert (engine.max_objects, engine.image_size, engine.backend) == (4, 512, "openvino")
    assert engine.onnx_dir == Path("export") and engine.openvino_device == "CPU"
    assert settings.depth.range == (0.2, 5.0) and settings.depth.scale == 0.001
    assert settings.detection == AssociationSettings(max_objects=4)
    assert settings.duplicates.frames == 2 and settings.storage == "mcap"
    without = read_bag_settings(parse(bag_command, ["in", "out", "--image-topic", "/a"]))
    assert without.detection is None  # no camera has a detector


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            ["--detection-confirm-hits", "0"],
            ParameterError,
            "detection_confirm_hits must be >= 1 and at most detection_confirm_window, got 0 of 5",
        ),
        (["--max-objects", "0"], ParameterError, "max_objects must be >= 1, got 0"),
        (["--duplicate-iou", "2"], ParameterError, "duplicate_iou must be in (0, 1], got 2.0"),
        (
            ["--image-topic", "/b", "--camera-name", "x"],
            CameraSpecError,
            "--camera-name is given 1 times for 2 image topics: give one per --image-topic, or "
            "none to derive them from the topics",
        ),
    ],
)
def test_a_bad_value_is_refused_with_its_message(tmp_path, capsys, options, error, message):
    argv = ["in", str(tmp_path / "out"), "--image-topic", "/a", *options]
    with pytest.raises(error) as raised:
        read_bag_settings(parse(bag_command, argv))
    assert str(raised.value) == message
    assert cli_main(["bag", *argv]) == 1  # before any model loads
    assert capsys.readouterr().out == f"sam2-ros bag: {message}\nno output written\n"
    assert cli_main(["bags", "in", "--output-dir", str(tmp_path / "dir"), *argv[2:]]) == 1
    assert capsys.readouterr().out == f"sam2-ros bags: {message}\nnothing run\n"
    assert not (tmp_path / "out").exists() and not (tmp_path / "dir").exists()


def test_bag_and_bags_read_the_same_hash(files):
    options = ["--image-topic", "/camera/image", "--detections-topic", "/detector"]
    fleet = read_fleet_settings(
        parse(
            fleet_command,
            [
                *["a.mcap", "b", "--output-dir", "out", "--ray", "local", "--workers", "2"],
                *["--gpus-per-worker", "0.5", "--cpus-per-worker", "2", "--retries", "5"],
                *["--redo", "--checkpoint", "model.pt", "--prompts", "prompts.yaml", *options],
            ],
        )
    )
    assert fleet.bag.engine.checkpoint == files / "model.pt"  # absolute for Ray's workers
    assert fleet.bag.prompts == files / "prompts.yaml"
    assert fleet.inputs == (files / "a.mcap", files / "b") and fleet.output_dir == files / "out"
    assert settings_hash(fleet.bag) == bag_hash(*options)
    assert pickle.loads(pickle.dumps(fleet)) == fleet  # what Ray's workers are sent


@pytest.mark.parametrize(
    "options",
    [
        ["--max-objects", "4"],
        ["--image-size", "512"],
        ["--model-cfg", "configs/sam2.1/sam2.1_hiera_s.yaml"],
        ["--precision", "bf16"],
        ["--backend", "onnxruntime", "--onnx-dir", "export"],
        ["--occlusion-threshold", "0.3"],
        ["--storage", "sqlite3"],
        ["--camera-name", "front"],
        ["--depth-topic", "/depth"],
        ["--detections-topic", "/detector"],
        ["--duplicate-frames", "2"],
    ],
)
def test_what_changes_the_output_changes_the_hash(files, options):
    assert bag_hash("--image-topic", "/a", *options) != bag_hash("--image-topic", "/a")


def test_the_files_bytes_count_not_their_paths_nor_the_device(files):
    before = bag_hash("--image-topic", "/a")
    elsewhere = files / "elsewhere"
    elsewhere.mkdir()
    for name in ("model.pt", "prompts.yaml"):
        shutil.copy(files / name, elsewhere / name)
    moved = [
        "--checkpoint",
        str(elsewhere / "model.pt"),
        "--prompts",
        str(elsewhere / "prompts.yaml"),
    ]
    assert bag_hash("--image-topic", "/a", *moved, "--device", "cpu") == before
    (files / "model.pt").write_bytes(b"other weights")
    assert bag_hash("--image-topic", "/a") != before
    assert bag_hash("--image-topic", "/a", *moved) == before
    (elsewhere / "prompts.yaml").write_text("prompts: []\n")
    assert bag_hash("--image-topic", "/a", *moved) != before


def test_the_hash_is_the_same_in_another_process(files):
    """Detection classes are a set: their order in the options and in the process (string
    hashing is salted per process) does not change the hash."""
    options = ["--image-topic", "/a", "--detections-topic", "/d", "--detection-classes"]
    here = bag_hash(*options, "person", "car", "dog")
    code = (
        "import argparse, os, sys\n"
        "from sam2_ros.commands.bag import command\n"
        "from sam2_ros.commands.bag.options import read_bag_settings\n"
        "from sam2_ros.commands.bag.output_record import settings_hash\n"
        "os.chdir(sys.argv[1])\n"
        "parser = argparse.ArgumentParser()\n"
        "command.add_arguments(parser)\n"
        "given = ['--checkpoint', 'model.pt', '--prompts', 'prompts.yaml', *sys.argv[2:]]\n"
        "print(settings_hash(read_bag_settings(parser.parse_args(['in', 'out', *given]))))"
    )
    there = fresh_python(code, str(files), *options, "dog", "person", "car")
    assert there == [here]
