"""The sam2-ros command: check-model, bench (smoke), demo (smoke)."""

from __future__ import annotations

import json

import pytest
from conftest import fresh_python
from conftest import run_cli as sam2_ros

from sam2_ros.engine import DEFAULT_MODEL_CFG
from sam2_ros.engine.model.checkpoint import resolve_checkpoint


def test_check_model_accepts_a_matching_checkpoint(checkpoint_path):
    done = sam2_ros(
        "check-model", str(checkpoint_path), "--config", "configs/sam2.1/sam2.1_hiera_t.yaml"
    )
    assert done.returncode == 0, done.stderr
    assert "OK:" in done.stdout and "matches configs/sam2.1/sam2.1_hiera_t.yaml" in done.stdout


@pytest.mark.parametrize("problem", ["corrupt", "wrong config", "missing"])
def test_check_model_refuses_with_one_line(checkpoint_path, tmp_path, problem):
    path, config = checkpoint_path, "configs/sam2.1/sam2.1_hiera_t.yaml"
    if problem == "corrupt":
        path = tmp_path / "corrupt.pt"
        path.write_bytes(checkpoint_path.read_bytes()[:5000])
    elif problem == "wrong config":
        config = "configs/sam2.1/sam2.1_hiera_l.yaml"
    else:
        path = tmp_path / "missing.pt"
    done = sam2_ros("check-model", str(path), "--config", config)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0]
    expected = {
        "corrupt": "corrupt or truncated",
        "wrong config": "does not match config",
        "missing": "does not exist",
    }[problem]
    assert expected in lines[0]


def test_engine_commands_need_no_ros():
    """``bench`` (engine mode) and ``check-model`` run where only PyTorch and SAM 2 are installed,
    e.g. a GPU machine without ROS: nothing ROS is imported for them."""
    code = (
        "import sys; from sam2_ros.commands import cli; import sam2_ros.commands.bench.command; "
        "cli.build_parser('bench'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'rclpy', 'sensor_msgs', 'geometry_msgs', 'std_msgs', 'rosbags'}))"
    )
    assert fresh_python(code) == ["[]"]


@pytest.mark.slow
def test_demo_writes_its_outputs_and_warns_without_a_checkpoint(tmp_path):
    out = tmp_path / "demo"
    done = sam2_ros(
        "demo",
        "--frames",
        "5",
        "--image-size",
        "128",
        "--width",
        "320",
        "--height",
        "240",
        "--output",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    random_weights = resolve_checkpoint("", DEFAULT_MODEL_CFG) is None
    if random_weights:
        assert done.stdout.count("RANDOM WEIGHTS") >= 2  # first and last
    assert (out / "overlay.mp4").stat().st_size > 0
    assert (out / "contact_sheet.png").stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 4 and summary["random_weights"] is random_weights
    assert summary["engine_alone_fps"] > 0  # measured in its own process before the node ran
    assert summary["ratio_fps_over_engine_alone"] == pytest.approx(
        summary["fps"] / summary["engine_alone_fps"]
    )
    assert "the node delivered" in done.stdout
    assert (out / "engine_alone.log").is_file()
    assert set(summary["objects"]) == {"1", "2"}
    assert all(len(o["occlusion_score"]) == 4 for o in summary["objects"].values())
    positions = [p for o in summary["objects"].values() for p in o["position_m"]]
    assert len(positions) == 8 and all(p is None or 1.0 <= p[2] <= 4.0 for p in positions)


@pytest.mark.slow
def test_demo_with_a_detector_starts_objects_from_its_detections(tmp_path):
    out = tmp_path / "demo"
    done = sam2_ros(
        *("demo", "--detector", "--frames", "6", "--image-size", "128"),
        *("--width", "320", "--height", "240", "--output", str(out)),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["detector"]["messages"] == 4 and summary["detector"]["lag_frames"] == 2
    labels = {o["label"] for o in summary["objects"].values()}
    assert labels and labels <= {"ball", "pillar", "crate"}
    assert all(len(o["occlusion_score"]) == 5 for o in summary["objects"].values())
    assert "started object(s) 1 (ball), 2 (pillar), 3 (crate)" in (out / "node.log").read_text()
