"""A generated camera stream: textured objects moving over a textured background, one of them
passing behind another, with a registered depth image (each object a flat board at its own
distance before a wall) and pinhole intrinsics. Deterministic, any resolution; used by the demo,
benchmarks and tests."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SceneObject:
    """A textured shape bouncing inside the frame; ``depth`` orders drawing (larger is nearer)."""

    name: str
    shape: str  # "ellipse" or "rectangle"
    size: tuple[float, float]  # half-width, half-height as fractions of the frame
    start: tuple[float, float]  # centre at frame 0, fractions of the frame
    velocity: tuple[float, float]  # fractions of the frame per frame
    color: tuple[int, int, int]  # RGB
    depth: int

    @property
    def distance_m(self) -> float:
        """How far the board is from the camera (nearer for larger ``depth``)."""
        return 3.0 - 0.5 * self.depth


WALL_M = 4.0

DEFAULT_OBJECTS = (
    SceneObject("ball", "ellipse", (0.09, 0.12), (0.18, 0.62), (0.018, -0.004), (220, 60, 40), 2),
    SceneObject("pillar", "rectangle", (0.07, 0.32), (0.55, 0.5), (0.0, 0.0), (60, 110, 200), 3),
    SceneObject("crate", "rectangle", (0.08, 0.08), (0.85, 0.3), (-0.02, 0.003), (70, 170, 60), 1),
)


class SyntheticScene:
    """Render frame ``i`` of the scene as an ``HxWx3`` uint8 RGB image."""

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        seed: int = 0,
        objects: tuple[SceneObject, ...] = DEFAULT_OBJECTS,
    ) -> None:
        self.width, self.height = width, height
        self.objects = objects
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        gradient = np.stack(
            [90 + 60 * xx / width, 100 + 50 * yy / height, 120 - 40 * xx / width], axis=-1
        )
        noise = cv2.GaussianBlur(
            rng.normal(0, 18, (height, width, 3)).astype(np.float32), (0, 0), 3
        )
        self._background = np.clip(gradient + noise, 0, 255).astype(np.uint8)
        self._textures = {obj.name: self._texture(obj.color, rng) for obj in objects}

    def _texture(self, color: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
        """Stripes and speckles in the object's colour, as large as the frame."""
        yy, xx = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        stripes = 0.75 + 0.25 * np.sin((xx + yy) / 9.0)[..., None]
        speckle = rng.normal(1.0, 0.08, (self.height, self.width, 1)).astype(np.float32)
        return np.clip(np.array(color, np.float32) * stripes * speckle, 0, 255).astype(np.uint8)

    def center(self, name: str, index: int) -> tuple[float, float]:
        """Pixel centre ``(x, y)`` of an object on frame ``index``."""
        obj = self._object(name)
        fx = _bounce(obj.start[0] + obj.velocity[0] * index, obj.size[0])
        fy = _bounce(obj.start[1] + obj.velocity[1] * index, obj.size[1])
        return fx * self.width, fy * self.height

    def box(self, name: str, index: int) -> tuple[float, float, float, float]:
        """Pixel box ``(x_min, y_min, x_max, y_max)`` of an object on frame ``index``."""
        obj = self._object(name)
        cx, cy = self.center(name, index)
        hw, hh = obj.size[0] * self.width, obj.size[1] * self.height
        return cx - hw, cy - hh, cx + hw, cy + hh

    def frame(self, index: int) -> np.ndarray:
        """The RGB image of frame ``index``."""
        image = self._background.copy()
        for obj in sorted(self.objects, key=lambda o: o.depth):
            mask = self._silhouette(obj, index)
            image[mask] = self._textures[obj.name][mask]
        return image

    def depth(self, index: int) -> np.ndarray:
        """Depth in metres of frame ``index``, registered to :meth:`frame` (float32)."""
        depth = np.full((self.height, self.width), WALL_M, np.float32)
        for obj in sorted(self.objects, key=lambda o: o.depth):
            depth[self._silhouette(obj, index)] = obj.distance_m
        return depth

    def prompt_points(self, count: int) -> list[tuple[float, float]]:
        """Points to click on frame 0: the scene's objects first, then a grid, so that any number
        of objects gets distinct clicks."""
        points = [self.center(obj.name, 0) for obj in self.objects]
        columns = 4
        for k in range(max(count - len(points), 0)):
            points.append(
                (
                    self.width * (0.1 + 0.8 * (k % columns) / columns),
                    self.height * (0.15 + 0.2 * (k // columns)),
                )
            )
        return points[:count]

    def intrinsics(self) -> list[float]:
        """Row-major 3x3 ``K`` of the camera (about 53 degrees horizontal field of view)."""
        f = float(self.width)
        return [f, 0.0, (self.width - 1) / 2.0, 0.0, f, (self.height - 1) / 2.0, 0.0, 0.0, 1.0]

    def _object(self, name: str) -> SceneObject:
        return next(o for o in self.objects if o.name == name)

    def _silhouette(self, obj: SceneObject, index: int) -> np.ndarray:
        mask = np.zeros((self.height, self.width), np.uint8)
        x0, y0, x1, y1 = (round(v) for v in self.box(obj.name, index))
        if obj.shape == "ellipse":
            center = ((x0 + x1) // 2, (y0 + y1) // 2)
            cv2.ellipse(mask, center, ((x1 - x0) // 2, (y1 - y0) // 2), 0, 0, 360, 1, -1)
        else:
            cv2.rectangle(mask, (x0, y0), (x1, y1), 1, -1)
        return mask.astype(bool)


def _bounce(position: float, half_size: float) -> float:
    """Reflect a travelling coordinate at the frame borders so any stream length stays in view."""
    low, span = half_size, 1.0 - 2.0 * half_size
    phase = (position - low) % (2.0 * span)
    return low + (phase if phase <= span else 2.0 * span - phase)
