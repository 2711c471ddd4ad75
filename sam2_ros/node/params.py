"""The node's parameters on ROS: declared from their declarations, read once and validated."""

from __future__ import annotations

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from sam2_ros.parameters.declarations import PARAMETERS, Parameter
from sam2_ros.parameters.node_params import NodeParams, parse


def descriptor(parameter: Parameter) -> ParameterDescriptor:
    """The parameter's description, with the values it accepts in words. Types and ranges are
    checked when the node configures (not when a value is set), so a bad value fails
    ``configure`` with a clear message instead of killing the node."""
    accepts = ""
    if parameter.choices:
        accepts = f" One of: {', '.join(parameter.choices)}."
    elif {parameter.minimum, parameter.maximum, parameter.above} != {None}:
        accepts = f" Must be {parameter.accepted()}."
    return ParameterDescriptor(
        name=parameter.name,
        description=parameter.description + accepts,
        dynamic_typing=True,
    )


def declare_parameters(node: Node) -> None:
    """Declare every parameter with its default and description."""
    for parameter in PARAMETERS:
        node.declare_parameter(parameter.name, parameter.default, descriptor(parameter))


def parameter_values(node: Node) -> dict:
    """Every parameter's value as set on the node."""
    return {p.name: node.get_parameter(p.name).value for p in PARAMETERS}


def read_parameters(node: Node) -> NodeParams:
    """The node's parameter values, validated (:class:`ParameterError` naming a bad one)."""
    return parse(parameter_values(node))
