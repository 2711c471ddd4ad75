"""``sam2-ros bench``: the engine's per-frame time and memory, side by side with Meta's predictor
(``--compare-official``; :mod:`~sam2_ros.commands.bench.engine`), the ROS node end to end over
DDS (``--node``; :mod:`~sam2_ros.commands.bench.node`), the cost of a prompt that arrives D
frames late (``--late-prompt D``) or of pairing detections with objects (``--association``),
the detection rules scored on a scene with ground truth (``--tracking-scenario``), and bags
annotated here against Ray workers (``--fleet``; :mod:`~sam2_ros.commands.bench.fleet`), and
the engine on ONNX Runtime or OpenVINO against torch (``--backend onnxruntime|openvino``;
:mod:`~sam2_ros.commands.bench.backend`), and SAMURAI's memory selection against SAM 2's
(``--memory-selection samurai``; :mod:`~sam2_ros.commands.bench.memory_selection`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from sam2_ros.commands.bench.association import bench_association
from sam2_ros.commands.bench.backend import bench_backends
from sam2_ros.commands.bench.engine import bench_engine
from sam2_ros.commands.bench.late_prompt import bench_late_prompt
from sam2_ros.commands.bench.memory_selection import bench_memory_selection
from sam2_ros.commands.bench.node import bench_node
from sam2_ros.commands.bench.tracking_scenario import ScenarioSettings, bench_tracking_scenario
from sam2_ros.commands.cli import add_device_arguments, at_least
from sam2_ros.commands.harness.synthetic import SyntheticScene
from sam2_ros.engine import (
    DEFAULT_MODEL_CFG,
    CheckpointError,
    ModelConfigError,
    OnnxExportError,
    load_model,
)
from sam2_ros.engine.memory.selection import MEMORY_SELECTIONS
from sam2_ros.engine.model.build import resolve_device, validate_image_size
from sam2_ros.engine.model.compiled import COMPILE_MODES
from sam2_ros.runtime.heap import heap_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``sam2-ros bench``."""
    _add_engine_arguments(parser)
    _add_node_arguments(parser)
    _add_scenario_arguments(parser)
    parser.add_argument(
        "--fleet",
        action="store_true",
        help="time bags of --frames frames annotated here against Ray workers (sam2-ros bags)",
    )
    parser.add_argument(
        "--fleet-bags", type=at_least(1), default=4, help="bags for --fleet (default 4)"
    )
    parser.add_argument(
        "--memory-selection",
        choices=MEMORY_SELECTIONS,
        default="sam2",
        help="samurai: time SAMURAI's motion-aware memory against SAM 2's own, in turn",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")


def _add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, the frames and what the engine mode times besides the engine."""
    parser.add_argument(
        "--frames", type=at_least(1), default=30, help="frames to time (default 30)"
    )
    parser.add_argument(
        "--objects", type=at_least(0), default=1, help="objects prompted on frame 0"
    )
    parser.add_argument("--image-size", type=int, default=256, help="SAM 2 resolution")
    parser.add_argument("--model-cfg", default=DEFAULT_MODEL_CFG, help="SAM 2 config")
    parser.add_argument("--checkpoint", type=Path, help="real weights (default: seeded random)")
    add_device_arguments(parser)
    parser.add_argument(
        "--width", type=at_least(0), default=0, help="frame width (640, --node 1280)"
    )
    parser.add_argument(
        "--height", type=at_least(0), default=0, help="frame height (480, --node 720)"
    )
    parser.add_argument(
        "--warmup", type=at_least(0), default=3, help="uncounted frames after frame 0"
    )
    parser.add_argument(
        "--compile",
        choices=COMPILE_MODES,
        default="none",
        help="torch.compile mode; timed frame by frame against the same engine eager",
    )
    parser.add_argument(
        "--save-objects",
        action="store_true",
        help="save the tracked objects at the end and report the file size (engine mode)",
    )
    parser.add_argument(
        "--lift",
        action="store_true",
        help="also lift every frame's objects into 3D with the scene's depth (engine mode)",
    )
    parser.add_argument(
        "--compare-official",
        nargs="?",
        const="eager",
        choices=("eager", "vos"),
        help="time Meta's SAM2VideoPredictor alongside (vos: its compiled vos_optimized one)",
    )


def _add_node_arguments(parser: argparse.ArgumentParser) -> None:
    """``--node`` and what goes with it, ``--late-prompt`` and ``--association``."""
    parser.add_argument("--node", action="store_true", help="measure the ROS node end to end")
    parser.add_argument(
        "--late-prompt",
        type=at_least(1),
        metavar="D",
        help="time a prompt on the frame D frames before the newest (prompt history)",
    )
    parser.add_argument(
        "--association",
        action="store_true",
        help="time pairing a detection message with --objects tracked objects (no model)",
    )
    parser.add_argument(
        "--detections",
        type=at_least(0),
        default=50,
        help="detections per message for --association (default 50)",
    )
    parser.add_argument(
        "--detector",
        action="store_true",
        help="with --node: a detector publishes every frame's objects as Detection2DArray",
    )
    parser.add_argument(
        "--rate",
        type=_positive_float,
        metavar="HZ",
        help="with --node: a camera publishes at HZ whatever the node does (newest frame "
        "tracked), instead of each frame once the previous one's masks arrived",
    )
    parser.add_argument(
        "--depth",
        action="store_true",
        help="with --node: the camera also publishes registered depth and CameraInfo; the node "
        "lifts every object into 3D",
    )


def _add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    """``--tracking-scenario`` and the ``--scenario-*`` settings of its scene."""
    parser.add_argument(
        "--tracking-scenario",
        action="store_true",
        help="score the detection rules on a scene with ground truth (constructed masks, a "
        "simulated detector): HOTA, IDF1, ghosts and duplicates with and without them",
    )
    scenario = ScenarioSettings()
    for name, kind, help_text in (
        ("seed", int, "seed of the scene, the detector and the failures"),
        ("frames", int, "frames of the scene"),
        ("objects", int, "objects moving in the scene"),
        ("miss", float, "probability that the detector misses a visible object"),
        ("ghost", float, "probability of a one-frame false positive per frame"),
        ("jitter", float, "box jitter, a fraction of the box"),
        ("latency", int, "frames between an image and its detections"),
        ("wrong-class", float, "probability of a detection with another class"),
        ("leaks", int, "stretches in which a mask leaks onto a neighbour"),
        ("drifts", int, "masks that move onto a neighbour"),
        ("losses", int, "masks lost for a while"),
    ):
        default = getattr(scenario, name.replace("-", "_"))
        parser.add_argument(
            f"--scenario-{name}", type=kind, default=default, help=f"{help_text} ({default})"
        )


def _positive_float(text: str) -> float:
    """An argparse type: a number above 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


@dataclass(frozen=True)
class BenchMode:
    """One mode of ``sam2-ros bench``: the flag that chooses it, whether it was chosen, what it
    measures (``run(args, scene, checkpoint, workdir)``, or ``run(args)`` without a model), the
    options that go with it alone, whether ``--backend`` other than torch goes with it."""

    flag: str
    chosen: Callable[[argparse.Namespace], bool]
    run: Callable[..., dict]
    options: tuple[str, ...] = ()
    backend: bool = False
    model: bool = True
    report: Callable[[argparse.Namespace, dict, str], int] | None = None


def _fleet(args: argparse.Namespace, scene: SyntheticScene, checkpoint: Path, workdir: Path):
    from sam2_ros.commands.bench.fleet import bench_fleet  # imports Ray

    return bench_fleet(args, scene, checkpoint, workdir)


def _engine(args: argparse.Namespace, scene: SyntheticScene, checkpoint: Path, workdir: Path):
    """The engine against Meta's predictor, compiled or not; or on a graph backend against
    torch (``--backend``)."""
    if args.backend != "torch":
        return bench_backends(args, scene, checkpoint, workdir)
    return bench_engine(args, scene, checkpoint, workdir)


#: Every mode; the engine mode runs when none of the others is chosen.
MODES = (
    BenchMode("--compare-official", lambda a: bool(a.compare_official), _engine),
    BenchMode("--node", lambda a: a.node, bench_node, ("detector", "rate", "depth"), backend=True),
    BenchMode(
        "--late-prompt",
        lambda a: bool(a.late_prompt),
        lambda args, scene, checkpoint, _: bench_late_prompt(args, scene, checkpoint),
    ),
    BenchMode("--association", lambda a: a.association, bench_association, model=False),
    BenchMode(
        "--tracking-scenario",
        lambda a: a.tracking_scenario,
        bench_tracking_scenario,
        model=False,
        report=lambda args, runs, command: _report_scenario(args, runs, command),
    ),
    BenchMode("--fleet", lambda a: a.fleet, _fleet),
    BenchMode(
        "--memory-selection",
        lambda a: a.memory_selection != "sam2",
        lambda args, scene, checkpoint, _: bench_memory_selection(args, scene, checkpoint),
    ),
)
ENGINE_MODE = BenchMode("", lambda a: True, _engine, backend=True)


def _in_words(flags: list[str], last: str) -> str:
    return f"{', '.join(flags[:-1])} {last} {flags[-1]}" if len(flags) > 1 else flags[0]


def check(args: argparse.Namespace) -> str | None:
    """What is wrong with the options (one line), from the modes' table; None when nothing."""
    chosen = [mode for mode in MODES if mode.chosen(args)]
    if len(chosen) > 1:
        return f"choose one of {_in_words([m.flag for m in MODES], 'and')}"
    mode = chosen[0] if chosen else ENGINE_MODE
    for other in MODES:
        given = [f"--{o}" for o in other.options if getattr(args, o)]
        if given and other is not mode:
            flags = [f"--{o}" for o in other.options]
            return f"{_in_words(flags, 'and')} go with {other.flag}"
    if args.backend != "torch" and not mode.backend:
        refused = [m.flag for m in MODES if not m.backend and m.flag != "--compare-official"]
        return (
            f"--backend {args.backend} goes with the engine and --node modes (not with "
            f"{_in_words(refused, 'or')})"
        )
    if args.compare_official and args.objects < 1:
        return "--compare-official needs at least one object to prompt"
    if args.backend != "torch" and (args.compare_official or args.compile != "none"):
        return (
            f"--backend {args.backend} is timed against torch fp32 and bf16 itself "
            "(not with --compare-official or --compile)"
        )
    if args.checkpoint is not None and not args.checkpoint.is_file():
        return f"checkpoint {args.checkpoint} does not exist"
    return None


def run(args: argparse.Namespace) -> int:
    """Run the chosen mode and print a table (and JSON); a bad option is one line on stderr."""
    command = command_line(args)  # as given, before a mode fills in its frame size
    problem = check(args)
    if problem is not None:
        print(f"sam2-ros bench: {problem}", file=sys.stderr)
        return 2
    mode = next((m for m in MODES if m.chosen(args)), ENGINE_MODE)
    report = mode.report or _report
    args.width = args.width or (1280 if args.node else 640)
    args.height = args.height or (720 if args.node else 480)
    if not mode.model:
        return report(args, mode.run(args), command)
    scene = SyntheticScene(args.width, args.height)
    try:
        resolve_device(args.device)
        validate_image_size(args.image_size)
        with tempfile.TemporaryDirectory(prefix="sam2_ros_bench_") as workdir:
            checkpoint = args.checkpoint or _random_checkpoint(args, Path(workdir))
            results = mode.run(args, scene, checkpoint, Path(workdir))
    except (CheckpointError, ModelConfigError, OnnxExportError) as err:
        print(f"sam2-ros bench: {err}", file=sys.stderr)
        return 1
    return report(args, results, command)


def command_line(args: argparse.Namespace) -> str:
    """The command that runs this bench again: ``sam2-ros bench`` and every option whose value is
    not its default (``--json`` aside), whatever the mode."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    flags = []
    for name, value in vars(args).items():
        if name == "json" or name not in defaults or value == defaults[name]:
            continue
        flag = f"--{name.replace('_', '-')}"
        flags.append(flag if value is True else f"{flag} {shlex.quote(str(value))}")
    return " ".join(["sam2-ros bench", *flags])


def _report(args: argparse.Namespace, results: dict, command: str) -> int:
    """Print the results as a table (and write them as JSON)."""
    results["machine"] = _machine(results.get("device", args.device))
    results["command"] = command
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _report_scenario(args: argparse.Namespace, runs: dict[str, dict], command: str) -> int:
    """Print both runs side by side (and write them as JSON)."""
    names = list(runs)
    rows = [("", *names)] + [
        (key, *(_cell(runs[name][key]) for name in names)) for key in runs[names[0]]
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(f"command  {command}")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))
    return 0


def _cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _random_checkpoint(args: argparse.Namespace, workdir: Path) -> Path:
    model = load_model(
        model_cfg=args.model_cfg,
        device="cpu",
        image_size=args.image_size,
        allow_random_weights=True,
        precision="fp32",
    )
    path = workdir / "random_weights.pt"
    torch.save({"model": model.sam.state_dict()}, path)
    return path


def _machine(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {gpu} (device {device}), "
        f"{heap_settings()}"
    )


def _table(results: dict) -> str:
    rows = [("mode", results["mode"]), ("machine", results["machine"])]
    keys = [k for k in results if k not in {"mode", "machine", "command", "memory_trace"}]
    for key in keys:
        value = results[key]
        if isinstance(value, float):
            if "ratio" in key:
                value = f"{value:.3f}"
            else:
                value = f"{value:.2e}" if "logits_mad" in key else f"{value:.1f}"
        rows.append((key, value))
    rows.append(("command", results["command"]))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
