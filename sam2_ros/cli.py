"""``sam2-ros``: the command line of sam2_ros (demo, bag, bench, check-model)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sam2_ros.engine import DEFAULT_MODEL_CFG


def _check_model(args: argparse.Namespace) -> int:
    """Load a checkpoint into a config; report whether they match."""
    from sam2_ros.engine import CheckpointError, ModelConfigError, load_model

    try:
        model = load_model(args.config, args.path, device="cpu")
    except (CheckpointError, ModelConfigError) as err:
        print(f"sam2-ros check-model: {err}", file=sys.stderr)
        return 1
    params = sum(p.numel() for p in model.sam.parameters())
    print(f"OK: {args.path} matches {args.config} ({params / 1e6:.1f} M parameters)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their options."""
    parser = argparse.ArgumentParser(prog="sam2-ros", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="run the node on a generated camera stream and write demo_output/"
    )
    from sam2_ros import demo as demo_module

    demo_module.add_arguments(demo)
    demo.set_defaults(run=demo_module.run)

    bag = commands.add_parser("bag", help="track every frame of a bag and write a results bag")
    from sam2_ros import bag as bag_module

    bag_module.add_arguments(bag)
    bag.set_defaults(run=bag_module.run)

    bench = commands.add_parser("bench", help="time the engine (vs the official predictor)")
    from sam2_ros import bench as bench_module

    bench_module.add_arguments(bench)
    bench.set_defaults(run=bench_module.run)

    check = commands.add_parser("check-model", help="check that a checkpoint matches a config")
    check.add_argument("path", help="SAM 2 .pt checkpoint")
    check.add_argument("--config", default=DEFAULT_MODEL_CFG, help="SAM 2 config (model_cfg)")
    check.set_defaults(run=_check_model)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sam2-ros`` command."""
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
