"""``sam2-ros bench``: every mode runs small on the CPU and writes its results, whose recorded
command line runs the same bench again; bad options are refused in one line."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

import pytest
from conftest import run_cli as sam2_ros

from sam2_ros.commands.bench.command import add_arguments, command_line


def bench(tmp_path, *options: str) -> tuple[dict, str]:
    """Run ``sam2-ros bench`` small on the CPU; its JSON results and its printed table. Whatever
    the mode, the command line the results record runs the same bench again."""
    out = tmp_path / "bench.json"
    given = [
        *("--warmup", "0", "--image-size", "128", "--device", "cpu", "--width", "160"),
        *("--height", "120", *options),
    ]
    done = sam2_ros("bench", *given, "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    recorded = shlex.split(results["command"])
    assert recorded[:2] == ["sam2-ros", "bench"]
    assert _bench_options(recorded[2:]) == _bench_options(given), results["command"]
    return results, done.stdout


def _bench_options(argv: list[str]) -> dict:
    """``sam2-ros bench``'s options as parsed from ``argv``; the frame size a mode fills in when
    not given is written into the command (the mode sets it), so compare it as given."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return vars(parser.parse_args(argv))


def test_a_recorded_bench_command_names_every_option_that_is_not_a_default():
    args = argparse.Namespace(**_bench_options(["--backend", "openvino", "--onnx-dir", "/e x"]))
    args.json, args.warmup = Path("out.json"), 7
    assert command_line(args) == "sam2-ros bench --backend openvino --onnx-dir '/e x' --warmup 7"


def test_bench_runs_and_writes_valid_json(tmp_path):
    results, table = bench(
        tmp_path,
        *("--frames", "2", "--objects", "2", "--compare-official", "--lift", "--save-objects"),
    )
    assert results["mode"] == "engine" and results["objects"] == 2
    assert results["lift_ms_median"] > 0 and results["ratio_lift_over_engine"] > 0
    assert 0 < results["objects_file_bytes"] < results["memory_bytes"]
    assert results["ours_ms_median"] > 0 and results["official_ms_median"] > 0
    assert results["ratio_ours_over_official"] == pytest.approx(
        results["ours_ms_median"] / results["official_ms_median"]
    )
    assert results["mask_iou_vs_official_min"] > 0.9  # same weights, frames differ by JPEG
    assert results["rss_bytes"]["end"] > 0 and results["ours_state_bytes"]["end"] > 0
    assert [sample["frame"] for sample in results["memory_trace"]] == [0, 1, 2]
    assert "ratio_ours_over_official" in table


@pytest.mark.parametrize(
    ("backend", "sides"),
    [("onnxruntime", ["onnxruntime"]), ("openvino", ["openvino_fp32", "openvino_bf16"])],
)
def test_export_then_bench_graph_backend_against_torch(tmp_path, backend, sides):
    export = tmp_path / "onnx"
    done = sam2_ros(
        *("export", str(export), "--allow-random-weights", "--image-size", "128"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "memory_attention:" in done.stdout and "export.json" in done.stdout
    # the bench's random weights are the export's (seed 0): it runs on the export given
    results, table = bench(
        tmp_path,
        *("--backend", backend, "--onnx-dir", str(export), "--frames", "2"),
    )
    assert results["mode"] == "backend" and results["backend"].startswith(f"{backend} (CPU")
    assert 0.0 < results["mask_foreground_mean"] < 1.0  # live weights: the comparison can fail
    sides = [s for s in sides if f"{s}_skipped" not in results]  # bf16 needs bf16 units
    for side in (*sides, "torch_fp32", "torch_bf16"):
        assert results[f"{side}_ms_median"] > 0
        assert results[f"{side}_image_encoder_ms_per_frame"] > 0
    assert results[f"ratio_{sides[0]}_over_torch_fp32"] == pytest.approx(
        results[f"{sides[0]}_ms_median"] / results["torch_fp32_ms_median"]
    )
    assert results[f"{sides[0]}_logits_mad_vs_torch_fp32_max"] <= 1e-3
    assert results[f"{sides[0]}_mask_iou_vs_same_precision_min"] > 0.99
    assert f"ratio_{sides[0]}_over_torch_bf16" in table
    assert f"--backend {backend} " in results["command"]
    assert f"--onnx-dir {export}" in results["command"]


def test_bench_times_a_late_prompt(tmp_path):
    results, _ = bench(tmp_path, "--late-prompt", "2", "--frames", "2")
    assert results["mode"] == "late-prompt" and results["late_by_frames"] == 2
    assert results["late_prompt_ms_first_object"] > 0
    assert results["late_prompt_ms_with_3_others_median"] > 0
    assert results["d_times_one_object_frame_ms"] == pytest.approx(
        2 * results["one_object_frame_ms_median"]
    )
    assert results["history_bytes_per_frame"] > 0


def test_bench_times_samurai_against_sam2(tmp_path):
    results, table = bench(
        tmp_path, "--memory-selection", "samurai", "--frames", "2", "--objects", "2"
    )
    assert results["mode"] == "memory-selection" and results["objects"] == 2
    assert results["ratio_samurai_over_sam2"] == pytest.approx(
        results["samurai_ms_median"] / results["sam2_ms_median"]
    )
    assert 0 < results["mask_foreground_mean"] < 1
    assert results["samurai_bank_bytes_per_object"] >= results["sam2_bank_bytes_per_object"] > 0
    assert "ratio_samurai_over_sam2" in table


def test_bench_runs_the_node_against_its_engine_alone(tmp_path):
    results, table = bench(tmp_path, "--node", "--frames", "3", "--objects", "1")
    assert results["mode"] == "node" and results["frames"] == 3 and results["phases"] == 1
    assert results["camera_rate_hz"] == "closed loop" and results["frames_published"] == 1 + 3
    assert results["node_fps"] > 0 and results["engine_alone_fps"] > 0
    assert results["ratio_node_fps_over_engine_alone"] == pytest.approx(
        results["node_fps"] / results["engine_alone_fps"]
    )
    assert results["ratio_engine_in_node_over_alone"] == pytest.approx(
        results["engine_ms_in_node_p50"] / results["engine_alone_ms_p50"]
    )
    assert 0 < results["latency_ms_p50"] <= results["latency_ms_max"]
    assert results["events_published"] >= 1  # the prompt on frame 0
    assert results["ratio_events_ms_over_engine_ms"] == pytest.approx(
        results["events_ms_per_frame"] / results["engine_ms_in_node_p50"]
    )
    # the node process holds at least the model's weights
    assert results["node_rss_bytes"]["start"] > 100 * 2**20
    assert "ratio_node_fps_over_engine_alone" in table


@pytest.mark.slow
def test_bench_times_bags_here_and_on_ray(tmp_path):
    results, table = bench(tmp_path, "--fleet", "--frames", "2", "--fleet-bags", "2")
    assert results["mode"] == "fleet" and results["bags"] == 2 and results["frames_per_bag"] == 2
    assert results["ray_over_here_ratio"] == pytest.approx(
        results["ray_1_worker_seconds"] / results["here_seconds"]
    )
    assert results["ray_startup_seconds"] > 0
    assert results["bags_1_workers_fps"] > 0 and results["bags_2_workers_fps"] > 0
    assert "ray_over_here_ratio" in table


def test_bench_runs_the_node_behind_a_camera_at_a_rate(tmp_path):
    results, _ = bench(
        tmp_path, "--node", "--rate", "30", "--depth", "--frames", "12", "--objects", "1"
    )
    assert results["camera_rate_hz"] == 30.0 and results["depth"] is True
    assert results["phases"] == 2  # phases of at least 10 frames: 10 + 2
    assert results["frames_published"] > 1 + 12  # the camera does not wait for the node
    assert results["node_fps"] > 0 and results["latency_ms_p50"] > 0
    cores = results["node_cpu_cores_by_thread_role"]
    assert cores["torch_threads"] > 0 and cores["total"] >= cores["torch_threads"]


def test_bench_times_association(tmp_path):
    results, _ = bench(tmp_path, "--association", "--objects", "16", "--frames", "5")
    assert results["mode"] == "association" and results["detections_per_message"] == 50
    assert 0 < results["association_ms_median"] <= results["association_ms_p95"]
    assert 0 < results["rules_per_frame_ms_median"] <= results["rules_per_frame_ms_p95"]
    assert results["matched_per_message_median"] > 8  # most jittered boxes pair


@pytest.mark.parametrize("seed", ["0", "7"])
def test_the_tracking_scenario_scores_the_rules(tmp_path, seed):
    out = tmp_path / "scenario.json"
    done = sam2_ros("bench", "--tracking-scenario", "--scenario-seed", seed, "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    runs = json.loads(out.read_text())
    assert set(runs) == {"with_rules", "without_rules"}
    keys = {"hota", "deta", "assa", "idf1", "id_switches", "ghosts_published", "duplicate_ids"}
    assert keys <= set(runs["with_rules"]) and keys <= set(runs["without_rules"])
    rules, none = runs["with_rules"], runs["without_rules"]
    assert rules["ghosts_published"] == 0 and rules["duplicate_ids"] == 0
    assert none["ghosts_published"] > 0 and none["duplicate_ids"] > 0
    assert rules["hota"] > none["hota"] and rules["idf1"] > none["idf1"]
    printed = next(line for line in done.stdout.splitlines() if line.startswith("command"))
    assert _bench_options(shlex.split(printed)[3:]) == _bench_options(
        ["--tracking-scenario", "--scenario-seed", seed]
    )


def test_bench_runs_the_node_with_a_detector(tmp_path):
    results, _ = bench(tmp_path, "--node", "--detector", "--frames", "3", "--objects", "2")
    assert results["mode"] == "node" and results["detector"] is True
    assert results["detection_messages_applied"] >= 2  # the last one may still be on its way
    assert results["latency_ms_p50"] > 0


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--frames", "0"], "--frames: must be at least 1"),
        (["--image-size", "300"], "image_size 300 is invalid"),
        (["--device", "cuda:7"], "device 'cuda:7'"),
        (["--node", "--compare-official"], "choose one of --compare-official, --node"),
        (["--detector"], "--detector, --rate and --depth go with --node"),
        (["--association", "--tracking-scenario"], "choose one of"),
        (["--rate", "15"], "--detector, --rate and --depth go with --node"),
        (["--node", "--rate", "0"], "--rate: must be above 0"),
        (["--late-prompt", "0"], "--late-prompt: must be at least 1"),
        (["--objects", "0", "--compare-official"], "needs at least one object"),
        (["--checkpoint", "missing.pt"], "checkpoint missing.pt does not exist"),
        (["--backend", "onnxruntime", "--compile", "default"], "timed against torch fp32"),
        (["--backend", "onnxruntime", "--onnx-dir", "nowhere"], "no export.json"),
        (["--backend", "openvino", "--onnx-dir", "nowhere"], "no export.json"),
        (["--backend", "openvino", "--compile", "max"], "--backend openvino is timed against"),
        (["--backend", "openvino", "--late-prompt", "2"], "goes with the engine and --node modes"),
        (["--backend", "onnxruntime", "--fleet"], "goes with the engine and --node modes"),
    ],
)
def test_bench_refuses_bad_options_in_one_line(options, expected):
    done = sam2_ros("bench", "--device", "cpu", *options)
    assert done.returncode in (1, 2)
    assert "Traceback" not in done.stderr
    assert expected in done.stderr.strip().splitlines()[-1]
