"""SAM 2's four per-frame components: the one description that compiling, exporting, the graph
runtimes (ONNX Runtime, OpenVINO) and the per-component bench all read.

Each component is a module of ``SAM2Base`` and the method SAM 2's own Python calls on it every
frame; a graph backend replaces that method, ``torch.compile`` compiles the module's ``forward``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class Component:
    """One per-frame component."""

    #: Its name, which is also its graph's in an export.
    name: str
    #: The ``SAM2Base`` attribute holding the module.
    attribute: str
    #: The method SAM 2 calls per frame, which a graph replaces.
    method: str
    #: Whether its input shapes change from frame to frame for one object batch (the memory
    #: attention's memory grows until SAM 2's window is full): compiled with dynamic shapes.
    dynamic: bool = False

    def call(self, sam: nn.Module) -> tuple[nn.Module, str]:
        """(module, method name) of this component in ``sam``."""
        return getattr(sam, self.attribute), self.method


#: The components in the order the engine meets them on a frame.
COMPONENTS = (
    Component("image_encoder", "image_encoder", "forward"),
    Component("memory_attention", "memory_attention", "forward", dynamic=True),
    Component("mask_decoder", "sam_mask_decoder", "predict_masks"),
    Component("memory_encoder", "memory_encoder", "forward"),
)

#: Component (and graph) names, in order.
NAMES = tuple(component.name for component in COMPONENTS)
