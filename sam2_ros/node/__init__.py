"""The ROS node: its lifecycle and services (``sam2_node``), one pipeline per camera with its
subscriptions and publishers, and the node's parameters on ROS."""
