"""A fleet's bags: ``sam2-ros bags`` here and on real Ray (a local runtime, a killed worker, a
two-node cluster), each output equal to ``sam2-ros bag`` on its input alone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import torch
from bag_files import OUTPUT_TYPES, PERIOD_NS, T0_NS, frame_header, read_outputs
from conftest import REPO_ROOT, fresh_python
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from sensor_msgs.msg import CompressedImage

from sam2_ros.commands.bag.bag_io import sam2_ros_typestore
from sam2_ros.commands.cli import main as cli_main
from sam2_ros.commands.fleet.plan import MANIFEST_NAME, PARTIAL_PREFIX
from sam2_ros.messages.images import array_to_image_msg

TOPIC = "/camera/image"
FRAMES = 12
RUN_TIMEOUT = 900  # a loaded 2-core machine takes over a minute to start Ray and two workers


def write_bag(path: Path, scene, storage: StoragePlugin, compressed: bool, bare: bool) -> Path:
    """FRAMES frames of the scene on TOPIC, as Image or JPEG CompressedImage; ``bare``: only the
    storage file (``.mcap``/``.db3`` without its folder)."""
    folder = path.with_suffix("") if bare else path
    typestore = sam2_ros_typestore()
    msgtype = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
    with Writer(folder, version=9, storage_plugin=storage) as writer:
        connection = writer.add_connection(TOPIC, msgtype, typestore=typestore)
        for index in range(FRAMES):
            rgb = scene.frame(index)
            if compressed:
                ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                assert ok
                message = CompressedImage(
                    header=frame_header(index), format="jpeg", data=jpeg.tobytes()
                )
            else:
                message = array_to_image_msg(rgb, "rgb8", frame_header(index))
            writer.write(connection, T0_NS + index * PERIOD_NS, serialize_message(message))
    if bare:
        (stored,) = folder.glob(f"*{path.suffix}")
        stored.rename(path)
        shutil.rmtree(folder)
    return path


@pytest.fixture(scope="module")
def fleet(scene, tmp_path_factory):
    """Four bags (a folder of .mcap, a bare .db3, a bare .mcap in a subfolder; raw and
    compressed) and a corrupt one, with a prompts file."""
    root = tmp_path_factory.mktemp("fleet")
    (root / "bags" / "day2").mkdir(parents=True)
    good = [
        write_bag(root / "bags" / "run_1", scene, StoragePlugin.MCAP, False, bare=False),
        write_bag(root / "bags" / "run_2.db3", scene, StoragePlugin.SQLITE3, True, bare=True),
        write_bag(root / "bags" / "day2" / "run_3.mcap", scene, StoragePlugin.MCAP, True, True),
    ]
    corrupt = root / "bags" / "run_4.mcap"
    corrupt.write_bytes(good[2].read_bytes()[:4000])  # a copy cut short: no summary, no end
    prompts = root / "prompts.yaml"
    ball = [round(v, 1) for v in scene.center("ball", 0)]
    prompts.write_text(f"prompts:\n  - {{frame: 0, label: ball, points: [{ball}], labels: [1]}}\n")
    return {
        "root": root,
        "bags": root / "bags",
        "good": good,
        "corrupt": corrupt,
        "prompts": prompts,
    }


def options(fleet, checkpoint_path) -> list[str]:
    """What to track, as ``bag`` and ``bags`` take it."""
    return [
        *["--image-topic", TOPIC, "--prompts", str(fleet["prompts"])],
        *["--checkpoint", str(checkpoint_path), "--image-size", "128", "--device", "cpu"],
    ]


@pytest.fixture(scope="module")
def singles(fleet, checkpoint_path, tmp_path_factory):
    """``sam2-ros bag`` on each good bag alone: its outputs by input. With one torch thread, as
    each of two Ray workers on two cores runs (float sums, and so a mask pixel at the
    threshold, depend on how many threads share a reduction)."""
    folder = tmp_path_factory.mktemp("singles")
    outputs = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for index, bag in enumerate(fleet["good"]):
            output = folder / f"single_{index}"
            assert cli_main(["bag", str(bag), str(output), *options(fleet, checkpoint_path)]) == 0
            outputs[str(bag)] = read_outputs(output)
    finally:
        torch.set_num_threads(threads)
    return outputs


def decoded(outputs: dict) -> dict:
    """Every output message decoded, by topic (CDR padding bytes may differ between runs)."""
    return {
        topic: [
            (t, deserialize_message(raw, OUTPUT_TYPES["/sam2/camera/" + topic.rsplit("/", 1)[1]]))
            for t, raw in messages
        ]
        for topic, messages in outputs.items()
    }


def manifest_lines(output_dir: Path) -> list[dict]:
    path = output_dir / MANIFEST_NAME
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_outputs_equal_singles(output_dir: Path, lines: list[dict], singles: dict) -> None:
    """Each done bag's output equals the one-bag run; the folder holds outputs and manifest."""
    done = {line["input"]: line for line in lines if line["status"] == "done"}
    assert sorted(done) == sorted(singles)
    for bag, single in singles.items():
        output = Path(done[bag]["output"])
        assert output.parent == output_dir and output.name == Path(bag).name.split(".")[0] + "_sam2"
        assert decoded(read_outputs(output)) == decoded(single)
        assert done[bag]["frames"] == {"camera": FRAMES}
        assert done[bag]["objects"] == {"camera": [1]}
    expected = {MANIFEST_NAME} | {Path(line["output"]).name for line in done.values()}
    assert {p.name for p in output_dir.iterdir()} == expected


def test_without_ray_the_same_outputs_in_this_process(
    fleet, singles, checkpoint_path, tmp_path, monkeypatch
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as the single runs
    output_dir = tmp_path / "out"
    *printed, modules = fresh_python(
        "import sys\nfrom sam2_ros.commands.cli import main\ncode = main(sys.argv[1:])\n"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))",
        "bags",
        *map(str, fleet["good"]),
        *["--output-dir", str(output_dir), *options(fleet, checkpoint_path)],
    )
    assert modules == "0 []"  # no Ray runtime, not even the module
    assert printed[-1].startswith("sam2-ros bags: 3 done, 0 skipped, 0 failed")
    lines = manifest_lines(output_dir)
    assert_outputs_equal_singles(output_dir, lines, singles)
    assert {line["worker"]["process"] for line in lines} != {os.getpid()}
    assert len({line["settings_hash"] for line in lines}) == 1


def test_a_rerun_skips_done_bags_without_loading_a_model(fleet, checkpoint_path, tmp_path, capsys):
    output_dir = tmp_path / "out"
    run = ["bags", *map(str, fleet["good"]), "--output-dir", str(output_dir)]
    assert cli_main([*run, *options(fleet, checkpoint_path)]) == 0
    capsys.readouterr()
    assert cli_main([*run, *options(fleet, checkpoint_path)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert "0 done, 3 skipped, 0 failed (nothing to run: no model loaded)" in last
    first, second = manifest_lines(output_dir)[:3], manifest_lines(output_dir)[3:]
    assert [line["status"] for line in second] == ["skipped"] * 3
    for done, skipped in zip(first, second, strict=True):
        for key in ("input", "output", "frames", "objects", "weights_fingerprint", "settings_hash"):
            assert skipped[key] == done[key]
    assert cli_main([*run, *options(fleet, checkpoint_path), "--max-objects", "4"]) == 0
    assert "3 done, 0 skipped, 0 failed" in capsys.readouterr().out.splitlines()[-1]
    third = manifest_lines(output_dir)[6:]
    assert {line["settings_hash"] for line in third} != {first[0]["settings_hash"]}
    assert [line["output"] for line in third] == [line["output"] for line in first]
    assert cli_main([*run, *options(fleet, checkpoint_path), "--max-objects", "4", "--redo"]) == 0
    assert "3 done, 0 skipped" in capsys.readouterr().out.splitlines()[-1]


def _pid_of(partial: Path) -> int:
    """The worker process that writes into an attempt's folder (``...-<host>-<pid>-<id>``)."""
    return int(partial.name.rsplit("-", 2)[1])


def _dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def kill_a_worker_holding_a_bag(output_dir: Path, driver: subprocess.Popen) -> tuple[int, str]:
    """SIGKILL a worker process while it writes a bag: its pid and the output it was writing
    (an attempt folder that outlives its process proves the kill came mid-bag)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline and driver.poll() is None:
        for partial in output_dir.glob(PARTIAL_PREFIX + "*"):
            writing = [p.name for p in partial.iterdir()] if partial.exists() else []
            if not writing:
                continue  # the attempt has not opened its bag yet
            pid = _pid_of(partial)
            os.kill(pid, signal.SIGKILL)
            while not _dead(pid):
                time.sleep(0.001)  # the kernel reaps asynchronously; nothing to wait on
            if partial.exists():
                return pid, writing[0]
        time.sleep(0.005)  # polling the folder for an attempt: the driver has no hook to wait on
    raise AssertionError("no worker was seen holding a bag")


def start_driver(fleet, checkpoint_path, output_dir: Path, *extra: str) -> subprocess.Popen:
    """``sam2-ros bags`` over the fleet in its own process (its output in ``output_dir.log``)."""
    log = output_dir.with_suffix(".log").open("w")
    command = [sys.executable, "-m", "sam2_ros.commands.cli", "bags", str(fleet["bags"])]
    command += ["--output-dir", str(output_dir), *options(fleet, checkpoint_path), *extra]
    return subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def ray_run(fleet, checkpoint_path, tmp_path_factory):
    """``bags --ray local --workers 2`` over the fleet, one worker killed while it holds a bag."""
    output_dir = tmp_path_factory.mktemp("ray") / "out"
    driver = start_driver(fleet, checkpoint_path, output_dir, "--ray", "local", "--workers", "2")
    try:
        killed = kill_a_worker_holding_a_bag(output_dir, driver)
        code = driver.wait(timeout=RUN_TIMEOUT)
    finally:
        driver.kill()
    printed = output_dir.with_suffix(".log").read_text()
    return {"dir": output_dir, "code": code, "printed": printed, "killed": killed}


@pytest.mark.slow
def test_on_local_ray_outputs_equal_single_runs_and_a_corrupt_bag_fails(ray_run, fleet, singles):
    lines = manifest_lines(ray_run["dir"])
    assert ray_run["code"] == 1, ray_run["printed"][-3000:]
    assert (
        ray_run["printed"].splitlines()[-1].startswith("sam2-ros bags: 3 done, 0 skipped, 1 failed")
    )
    (failed,) = [line for line in lines if line["status"] == "failed"]
    assert failed["input"] == str(fleet["corrupt"]) and failed["output"] is None
    assert failed["reason"].startswith(f"BagError: cannot open bag {fleet['corrupt']}")
    assert_outputs_equal_singles(ray_run["dir"], lines, singles)
    assert len({line["worker"]["node"] for line in lines}) == 1


@pytest.mark.slow
def test_a_bag_whose_worker_was_killed_is_retried(ray_run):
    pid, writing = ray_run["killed"]
    (line,) = [
        line
        for line in manifest_lines(ray_run["dir"])
        if line["output"] and Path(line["output"]).name == writing
    ]
    assert line["status"] == "done" and line["worker"]["process"] != pid
    assert line["worker"]["restarted"] is True  # the killed actor, restarted by Ray
    assert not list(ray_run["dir"].glob(PARTIAL_PREFIX + "*"))


@pytest.mark.slow
def test_two_nodes_share_the_bags_and_losing_one_completes_every_bag(
    fleet, checkpoint_path, tmp_path
):
    from ray.cluster_utils import Cluster

    bags = tmp_path / "bags"
    bags.mkdir()
    for index in range(6):
        shutil.copy(fleet["good"][2], bags / f"c_{index}.mcap")
    cluster_fleet = dict(fleet, bags=bags)
    fast_failure = {"health_check_period_ms": 500, "health_check_failure_threshold": 4}
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "_system_config": fast_failure},
    )
    second = cluster.add_node(num_cpus=2)
    output_dir = tmp_path / "out"
    driver = start_driver(
        cluster_fleet,
        checkpoint_path,
        output_dir,
        *["--ray", cluster.address, "--workers", "2", "--cpus-per-worker", "1"],
    )
    try:
        nodes = _wait_for_bags_on_two_nodes(output_dir, driver)
        second_pid = nodes[second.node_id]
        deadline = time.monotonic() + RUN_TIMEOUT
        while not any(_pid_of(p) == second_pid for p in output_dir.glob(PARTIAL_PREFIX + "*")):
            assert time.monotonic() < deadline and driver.poll() is None
            time.sleep(0.005)  # polling the folder for the second node's next bag
        cluster.remove_node(second)
        code = driver.wait(timeout=RUN_TIMEOUT)
    finally:
        driver.kill()
        cluster.shutdown()
    printed = output_dir.with_suffix(".log").read_text()
    assert code == 0, printed[-3000:]
    lines = manifest_lines(output_dir)
    assert sorted(Path(line["input"]).name for line in lines if line["status"] == "done") == [
        f"c_{index}.mcap" for index in range(6)
    ]
    assert any(line["worker"]["restarted"] for line in lines)  # the lost node's worker, again
    assert not list(output_dir.glob(PARTIAL_PREFIX + "*"))


def _wait_for_bags_on_two_nodes(output_dir: Path, driver: subprocess.Popen) -> dict[str, int]:
    """Wait until bags are done on two Ray nodes; each node's worker process."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        workers = {
            line["worker"]["node"]: line["worker"]["process"]
            for line in manifest_lines(output_dir)
            if line["status"] == "done"
        }
        if len(workers) == 2:
            return workers
        assert time.monotonic() < deadline and driver.poll() is None, workers
        time.sleep(0.05)  # polling the manifest: the driver has no hook to wait on


def test_the_command_needs_ray_for_workers(fleet, checkpoint_path, tmp_path, capsys):
    run = ["bags", str(fleet["bags"]), "--output-dir", str(tmp_path / "out"), "--workers", "2"]
    assert cli_main([*run, *options(fleet, checkpoint_path)]) == 1
    assert "--workers and --gpus-per-worker need --ray" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()
