"""The node's parameters as plain data, without ROS: one declaration per parameter
(:mod:`~sam2_ros.parameters.declarations`) and their validation into a typed
:class:`~sam2_ros.parameters.node_params.NodeParams` (:mod:`~sam2_ros.parameters.node_params`).
The node declares and reads them; the bag tool and its replay validate with them."""
