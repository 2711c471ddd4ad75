"""Saved objects in the node: ``~/save_objects`` and ``~/load_objects``, loading on activate and
saving before deactivate (files in ``objects_dir``, one per camera)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rclpy.callback_groups import CallbackGroup
from rclpy.lifecycle import LifecycleNode

from sam2_ros.engine import ObjectsFileError, PromptError
from sam2_ros.node.camera_access import CameraAccess
from sam2_ros.node.camera_pipeline import CameraPipeline
from sam2_ros.node.guards import guarded_service
from sam2_ros.srv import ObjectsFile
from sam2_ros.tracking.object_store import ObjectNameError, ObjectStore


class ObjectFiles:
    """Every camera's objects to and from named files."""

    def __init__(
        self,
        node: LifecycleNode,
        access: CameraAccess,
        objects_dir: Callable[[], str],
        group: CallbackGroup,
    ) -> None:
        self.logger = node.get_logger()
        self._access, self._objects_dir = access, objects_dir
        node.create_service(ObjectsFile, "~/save_objects", self.on_save, callback_group=group)
        node.create_service(ObjectsFile, "~/load_objects", self.on_load, callback_group=group)

    def save(self, cameras: Iterable[CameraPipeline], name: str) -> str:
        """Save each camera's objects (tracking thread, or tracking stopped); what was saved."""
        store = ObjectStore(self._objects_dir())
        saved = [(camera, store.path(name, camera.name)) for camera in cameras]
        return ", ".join(
            f"camera {camera.name}: objects {camera.save_objects(path)} in {path}"
            for camera, path in saved
        )

    def load(self, cameras: list[CameraPipeline], name: str) -> list[int]:
        """Read every camera's file first, then restore them all (all or nothing)."""
        store = ObjectStore(self._objects_dir())
        files = [
            (c, path, c.read_objects(path))
            for c, path in ((c, store.path(name, c.name)) for c in cameras)
        ]
        return [
            object_id
            for camera, path, saved in files
            for object_id in camera.restore_objects(saved, path)
        ]

    def load_on_activate(self, cameras: Iterable[CameraPipeline], name: str) -> None:
        """Load each camera's saved objects where its file exists (warnings otherwise)."""
        store = ObjectStore(self._objects_dir())
        for camera in cameras:
            path = store.path(name, camera.name)
            if not path.is_file():
                self.logger.warning(f"camera {camera.name}: no saved objects at {path}")
                continue
            try:
                ids = camera.restore_objects(camera.read_objects(path), path)
            except ObjectsFileError as err:
                self.logger.error(f"camera {camera.name}: saved objects not loaded: {err}")
                continue
            self.logger.info(f"camera {camera.name}: loaded objects {ids} from {path}")

    def save_before_deactivate(self, cameras: Iterable[CameraPipeline], name: str) -> None:
        """Save the objects under ``name`` (errors logged: deactivating goes on)."""
        try:
            saved = self.save(cameras, name)
            self.logger.info(f"saved objects before deactivating: {saved}")
        except (OSError, ObjectNameError) as err:
            self.logger.error(f"could not save objects as {name!r}: {err}")

    @guarded_service
    def on_save(self, request: Any, response: Any) -> Any:
        """``~/save_objects``."""
        try:
            cameras = self._access.cameras_named(request.camera_name)
            ObjectStore(self._objects_dir()).path(request.name, "camera")
            saved = self._access.run(lambda: self.save(cameras, request.name))
        except (PromptError, ObjectNameError, OSError) as err:
            response.success, response.message = False, f"not saved: {err}"
            return response
        response.object_ids = [i for camera in cameras for i in camera.published_ids]
        response.success, response.message = True, saved
        return response

    @guarded_service
    def on_load(self, request: Any, response: Any) -> Any:
        """``~/load_objects``."""
        try:
            cameras = self._access.cameras_named(request.camera_name)
            ids = self._access.run(lambda: self.load(cameras, request.name))
        except (PromptError, ObjectNameError, ObjectsFileError) as err:
            response.success, response.message = False, f"not loaded: {err}"
            return response
        response.success, response.object_ids = True, ids
        response.message = f"loaded objects {ids} on {[c.name for c in cameras]}"
        return response
