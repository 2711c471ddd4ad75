"""The engine alone, in a process of its own, for ``sam2-ros bench --node``: SAM 2 with the node's
settings tracks the bench's scene when told to, so that the node and its engine take turns within
one run and the machine's drift hits both alike.

``python -m sam2_ros.commands.engine_alone SETTINGS_JSON`` loads the model, tracks frame 0,
prompts the bench's objects there and prints ``ready``; then each line ``N`` on its input makes it
track the next N frames and print ``times`` and their milliseconds as a JSON list. End of input
ends it. Everything runs on the main thread, the only thread that runs torch here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sam2_ros.commands.measurements import synced_clock
from sam2_ros.commands.synthetic import SyntheticScene
from sam2_ros.engine import StreamingPredictor
from sam2_ros.engine.warm_up import warm_up


def settings_of(args: Any, checkpoint: Path, frames: int) -> dict:
    """What the engine alone needs of ``sam2-ros bench`` options (the node's settings)."""
    return {
        "model_cfg": args.model_cfg,
        "checkpoint": str(checkpoint),
        "device": args.device,
        "image_size": args.image_size,
        "precision": args.precision,
        "compile": args.compile,
        "objects": args.objects,
        "width": args.width,
        "height": args.height,
        "frames": frames,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Serve ``N`` lines on stdin as described in the module docstring."""
    settings = json.loads((sys.argv[1:] if argv is None else argv)[0])
    scene = SyntheticScene(settings["width"], settings["height"])
    frames = [scene.frame(index) for index in range(settings["frames"])]
    predictor = StreamingPredictor(
        settings["model_cfg"],
        settings["checkpoint"],
        settings["device"],
        settings["image_size"],
        max_objects=max(settings["objects"], 1),
        precision=settings["precision"],
    )
    if settings["compile"] != "none":
        predictor.model.compile(settings["compile"])
        warm_up(predictor.model, max(settings["objects"], 1), scene.width, scene.height)
    predictor.track(frames[0])
    for point in scene.prompt_points(settings["objects"]):
        predictor.add_prompt(points=[point], labels=[1])
    print("ready", flush=True)
    device, index = predictor.model.device, 0
    for line in sys.stdin:
        times = []
        for _ in range(int(line)):
            index += 1
            started = synced_clock(device)
            predictor.track(frames[index % len(frames)])
            times.append((synced_clock(device) - started) * 1000.0)
        print("times", json.dumps(times), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
