"""The engine alone, in a process of its own: SAM 2 with a node's settings tracking the generated
scene when told to, the reference ``sam2-ros bench --node`` and ``sam2-ros demo`` measure the node
against (the bench lets the two take turns, so that the machine's drift hits both alike).

``python -m sam2_ros.commands.harness.engine_alone SETTINGS_JSON`` loads the model, tracks frame 0,
prompts the scene's objects there and prints ``ready``; then each line ``N`` on its input makes it
track the next N frames and print ``times`` and their milliseconds as a JSON list. End of input
ends it. Everything runs on the main thread, the only thread that runs torch there.
:class:`EngineAlone` starts and drives that process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from sam2_ros.commands.harness.measurements import synced_clock
from sam2_ros.commands.harness.synthetic import SyntheticScene
from sam2_ros.engine import StreamingPredictor
from sam2_ros.engine.streaming.warm_up import warm_up

#: Distinct scene frames the engine alone cycles through (as the bench's camera does).
SCENE_FRAMES = 30


def engine_settings(
    model_cfg: str,
    checkpoint: Path | None,
    device: str,
    image_size: int,
    precision: str,
    objects: int,
    size: tuple[int, int],
    compile_mode: str = "none",
    backend: str = "torch",
    onnx_dir: Path | None = None,
    openvino_device: str = "CPU",
) -> dict:
    """The engine alone's settings: a node's model settings (no checkpoint: the seeded random
    weights a node with ``allow_random_weights`` builds; image size 0: the model's), the number
    of objects prompted and the scene's ``(width, height)``."""
    return {
        "model_cfg": model_cfg,
        "checkpoint": str(checkpoint) if checkpoint is not None else None,
        "device": device,
        "image_size": image_size,
        "precision": precision,
        "compile": compile_mode,
        "backend": backend,
        "onnx_dir": str(onnx_dir) if onnx_dir is not None else None,
        "openvino_device": openvino_device,
        "objects": objects,
        "width": size[0],
        "height": size[1],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Serve ``N`` lines on stdin as described in the module docstring."""
    settings = json.loads((sys.argv[1:] if argv is None else argv)[0])
    scene = SyntheticScene(settings["width"], settings["height"])
    frames = [scene.frame(index) for index in range(SCENE_FRAMES)]
    predictor = StreamingPredictor(
        model_cfg=settings["model_cfg"],
        checkpoint=settings["checkpoint"],
        device=settings["device"],
        image_size=settings["image_size"] or None,
        allow_random_weights=settings["checkpoint"] is None,
        max_objects=max(settings["objects"], 1),
        precision=settings["precision"],
        backend=settings["backend"],
        onnx_dir=settings["onnx_dir"],
        openvino_device=settings["openvino_device"],
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


class EngineAlone:
    """The engine alone in its own process (its log at ``log_path``), ready (model loaded,
    objects prompted) when constructed."""

    def __init__(self, settings: dict, log_path: Path) -> None:
        self._log_path = log_path
        self._log = log_path.open("w")  # its stderr: a pipe could fill up and block it
        self._process = subprocess.Popen(
            [sys.executable, "-m", "sam2_ros.commands.harness.engine_alone", json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self._expect("ready")

    def track(self, frames: int) -> list[float]:
        """Track the next ``frames`` frames; milliseconds each."""
        self._process.stdin.write(f"{frames}\n")
        self._process.stdin.flush()
        return json.loads(self._expect("times "))

    def close(self) -> None:
        """End the process."""
        if self._process.poll() is None:
            self._process.stdin.close()
            self._process.wait()
        self._log.close()

    def _expect(self, prefix: str) -> str:
        for line in self._process.stdout:
            if line.startswith(prefix):
                return line[len(prefix) :]
        self._process.wait()
        self._log.flush()
        raise RuntimeError(f"the engine alone failed:\n{self._log_path.read_text()[-2000:]}")


if __name__ == "__main__":
    sys.exit(main())
