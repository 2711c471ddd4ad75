"""``sam2-ros export OUTPUT_DIR``: SAM 2's per-frame components as ONNX graphs plus ``export.json``
(see :mod:`sam2_ros.engine.model.onnx_export`), for the engine's ONNX Runtime backend."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sam2_ros.engine import DEFAULT_MODEL_CFG, CheckpointError, ModelConfigError
from sam2_ros.engine.model.onnx_export import EXPORT_PRECISIONS, export_onnx


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``sam2-ros export``."""
    parser.add_argument("output_dir", type=Path, help="folder to write (replaced if it exists)")
    parser.add_argument("--model-cfg", default=DEFAULT_MODEL_CFG, help="SAM 2 config")
    parser.add_argument("--checkpoint", type=Path, help="SAM 2 .pt checkpoint")
    parser.add_argument(
        "--allow-random-weights",
        action="store_true",
        help="export seeded random weights (tests and demos: masks are meaningless)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument(
        "--image-size", type=int, default=None, help="SAM 2 resolution (default: the config's)"
    )
    parser.add_argument(
        "--precision",
        choices=EXPORT_PRECISIONS,
        default="auto",
        help="graphs are fp32 (TensorRT builds lower-precision engines from them)",
    )


def run(args: argparse.Namespace) -> int:
    """Export; print each graph and the manifest."""
    try:
        manifest = export_onnx(
            args.output_dir,
            model_cfg=args.model_cfg,
            checkpoint=args.checkpoint,
            image_size=args.image_size,
            allow_random_weights=args.allow_random_weights,
            seed=args.seed,
            precision=args.precision,
        )
    except (CheckpointError, ModelConfigError) as err:
        print(f"sam2-ros export: {err}", file=sys.stderr)
        return 1
    for name, graph in manifest.graphs.items():
        size = (args.output_dir / graph.file).stat().st_size / 1e6
        print(f"{name}: {args.output_dir / graph.file} ({size:.1f} MB)")
    print(
        f"export of {manifest.model_cfg} at {manifest.image_size} px, opset {manifest.opset}, "
        f"weights {manifest.weights_fingerprint[:12]}: {args.output_dir / 'export.json'}"
    )
    return 0
