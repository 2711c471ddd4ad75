"""``sam2-ros``: the command line of sam2_ros (demo, bag, bags, bench, export, check-model)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sam2_ros.engine import DEFAULT_MODEL_CFG
from sam2_ros.engine.model.build import BACKENDS
from sam2_ros.engine.model.precision import PRECISIONS
from sam2_ros.runtime.heap import steady_heap


def at_least(minimum: float, kind: type = int) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` no smaller than ``minimum``."""

    def parse(text: str) -> Any:
        value = kind(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value

    parse.__name__ = "integer" if kind is int else "number"
    return parse


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--precision``, ``--backend``, ``--onnx-dir`` and ``--openvino-device``, as
    every command that runs SAM 2 takes them."""
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto: bf16 on CUDA and on CPUs with native bf16 units, else fp32",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="torch",
        help="what runs SAM 2's components: torch, or onnxruntime or openvino on --onnx-dir's "
        "export",
    )
    parser.add_argument(
        "--onnx-dir",
        type=Path,
        default=None,
        help="an export of sam2-ros export (onnxruntime, openvino)",
    )
    parser.add_argument(
        "--openvino-device", default="CPU", help="OpenVINO's device: CPU, GPU, NPU or AUTO"
    )


def _check_model(args: argparse.Namespace) -> int:
    """Load a checkpoint into a config; report whether they match."""
    from sam2_ros.engine import CheckpointError, ModelConfigError, load_model

    try:
        model = load_model(
            model_cfg=args.config, checkpoint=args.path, device="cpu", precision="fp32"
        )
    except (CheckpointError, ModelConfigError) as err:
        print(f"sam2-ros check-model: {err}", file=sys.stderr)
        return 1
    params = sum(p.numel() for p in model.sam.parameters())
    print(f"OK: {args.path} matches {args.config} ({params / 1e6:.1f} M parameters)")
    return 0


#: Subcommands implemented by a module with ``add_arguments(parser)`` and ``run(args)``; a module is
#: imported only when its command runs, so ``bench`` and ``check-model`` need no ROS installation.
COMMANDS = {
    "demo": (
        "sam2_ros.commands.demo",
        "run the node on a generated camera stream and write demo_output/",
    ),
    "bag": ("sam2_ros.commands.bag.command", "track every frame of a bag and write a results bag"),
    "bags": (
        "sam2_ros.commands.fleet.command",
        "annotate many bags (here, or on a Ray cluster) into a folder with a manifest",
    ),
    "bench": (
        "sam2_ros.commands.bench.command",
        "time the engine (vs the official predictor) or the node",
    ),
    "export": (
        "sam2_ros.commands.export",
        "export SAM 2's per-frame components to ONNX (for --backend onnxruntime)",
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """All subcommands; the options of ``command`` (the one about to run) in full."""
    parser = argparse.ArgumentParser(prog="sam2-ros", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        subparser = commands.add_parser(name, help=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(subparser)
            subparser.set_defaults(run=module.run)

    check = commands.add_parser("check-model", help="check that a checkpoint matches a config")
    check.add_argument("path", help="SAM 2 .pt checkpoint")
    check.add_argument("--config", default=DEFAULT_MODEL_CFG, help="SAM 2 config (model_cfg)")
    check.set_defaults(run=_check_model)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sam2-ros`` command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    steady_heap()
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
