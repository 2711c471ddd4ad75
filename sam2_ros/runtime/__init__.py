"""How the node's process runs, without ROS: the one thread that runs the model (``worker``), the
node's threads by role (``threads``), one log line per kind of problem (``throttle``), per-camera
rates and counts (``statistics``), process and thread readings from /proc (``process_stats``) and
glibc's heap settings (``heap``)."""
