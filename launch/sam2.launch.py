"""Start sam2_ros as a lifecycle node and bring it to active (configure, then activate).

    ros2 launch sam2_ros sam2.launch.py image_topic:=/my_camera/image_raw
    ros2 launch sam2_ros sam2.launch.py node_per_camera:=true \
        camera_names:=front,rear image_topics:=/front/image_raw,/rear/image_raw
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

ARGUMENTS = {
    "params_file": (
        PathJoinSubstitution([FindPackageShare("sam2_ros"), "config", "sam2.yaml"]),
        "Parameter file of the node(s).",
    ),
    "namespace": ("", "Namespace of the node(s)."),
    "node_name": ("sam2", "Node name (with node_per_camera: prefix of sam2_<camera>)."),
    "image_topic": ("", "Image topic of the (single) camera; '' keeps the parameter file's."),
    "camera_name": ("", "Name of the (single) camera; '' keeps the parameter file's."),
    "depth_topic": (
        "",
        "Registered depth image of the (single) camera, for objects in 3D; '' keeps the "
        "parameter file's.",
    ),
    "detection_topic": (
        "",
        "vision_msgs/Detection2DArray topic of the (single) camera's detector; '' keeps the "
        "parameter file's.",
    ),
    "checkpoint": ("", "SAM 2 .pt checkpoint; '' keeps the parameter file's."),
    "device": ("", "auto, cpu, cuda or cuda:N; '' keeps the parameter file's."),
    "log_level": ("info", "Logging level of the node(s)."),
    "node_per_camera": ("false", "Start one node per camera instead of one for all cameras."),
    "camera_names": ("", "With node_per_camera: comma-separated camera names."),
    "image_topics": ("", "With node_per_camera: comma-separated image topics, one per camera."),
    "autostart": ("true", "Configure and activate the node(s) on start-up."),
    "fastdds_profile": (
        EnvironmentVariable(
            "FASTDDS_DEFAULT_PROFILES_FILE",
            default_value=PathJoinSubstitution(
                [FindPackageShare("sam2_ros"), "config", "fastdds_large_images.xml"]
            ),
        ),
        "Fast DDS profile of the node(s) (default: $FASTDDS_DEFAULT_PROFILES_FILE when set, "
        "else the package's profile for camera-sized messages); '' leaves the environment as is.",
    ),
}


def _lifecycle_autostart(node: LifecycleNode) -> list:
    """Configure the node, then activate it once it reports 'inactive'."""
    configure = EmitEvent(
        event=ChangeState(
            lifecycle_node_matcher=matches_action(node),
            transition_id=Transition.TRANSITION_CONFIGURE,
        )
    )
    activate_when_configured = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=node,
            start_state="configuring",
            goal_state="inactive",
            entities=[
                EmitEvent(
                    event=ChangeState(
                        lifecycle_node_matcher=matches_action(node),
                        transition_id=Transition.TRANSITION_ACTIVATE,
                    )
                )
            ],
        )
    )
    return [activate_when_configured, configure]


def _nodes(context, *args, **kwargs) -> list:
    value = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    overrides = {k: value[k] for k in ("checkpoint", "device") if value[k]}
    if value["node_per_camera"].lower() == "true":
        names = [n.strip() for n in value["camera_names"].split(",") if n.strip()]
        topics = [t.strip() for t in value["image_topics"].split(",") if t.strip()]
        if not names or len(names) != len(topics):
            raise RuntimeError(
                "node_per_camera needs camera_names and image_topics with one entry per camera"
            )
        cameras = [
            (f"{value['node_name']}_{n}", [n], [t]) for n, t in zip(names, topics, strict=True)
        ]
    else:
        single_name = [value["camera_name"]] if value["camera_name"] else None
        single_topic = [value["image_topic"]] if value["image_topic"] else None
        cameras = [(value["node_name"], single_name, single_topic)]
        if value["depth_topic"]:
            overrides["depth_topics"] = [value["depth_topic"]]
        if value["detection_topic"]:
            overrides["detection_topics"] = [value["detection_topic"]]
    actions = []
    for node_name, camera_names, image_topics in cameras:
        params = dict(overrides)
        if camera_names:
            params["camera_names"] = camera_names
        if image_topics:
            params["image_topics"] = image_topics
        node = LifecycleNode(
            package="sam2_ros",
            executable="sam2_node",
            name=node_name,
            namespace=value["namespace"],
            parameters=[value["params_file"], params],
            arguments=["--ros-args", "--log-level", value["log_level"]],
            output="screen",
            emulate_tty=True,
            additional_env={"FASTDDS_DEFAULT_PROFILES_FILE": value["fastdds_profile"]}
            if value["fastdds_profile"]
            else None,
        )
        actions.append(node)
        if value["autostart"].lower() == "true":
            actions.extend(_lifecycle_autostart(node))
    return actions


def generate_launch_description() -> LaunchDescription:
    """Launch arguments, then the node(s) with lifecycle autostart."""
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in ARGUMENTS.items()
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_nodes)])
