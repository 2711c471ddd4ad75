"""The node's executor: input callbacks on the spinning thread, the rest in the pool, both under
real rclpy and DDS."""

from __future__ import annotations

import threading

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from sam2_ros.node.executor import InputsInlineExecutor


def test_inputs_run_on_the_spinning_thread_and_services_in_the_pool(ros_context, client):
    inputs, services = MutuallyExclusiveCallbackGroup(), ReentrantCallbackGroup()
    node = Node("executor_under_test", context=ros_context)
    ran: dict[str, list[int]] = {"input": [], "service": []}
    received, answered, release = threading.Event(), threading.Event(), threading.Event()

    def on_input(msg: String) -> None:
        ran["input"].append(threading.get_ident())
        received.set()

    def on_service(request, response):
        ran["service"].append(threading.get_ident())
        answered.set()
        release.wait(10)  # a blocking service must not stop inputs
        response.success = True
        return response

    node.create_subscription(String, "/executor_test/in", on_input, 10, callback_group=inputs)
    node.create_service(Trigger, "/executor_test/block", on_service, callback_group=services)
    executor = InputsInlineExecutor(inputs, num_threads=2, context=ros_context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        caller = threading.Thread(
            target=client.call, args=(Trigger, "/executor_test/block", Trigger.Request())
        )
        caller.start()
        assert answered.wait(30)
        publisher = client.publisher(String, "/executor_test/in")
        client.wait_for_subscriber(publisher)
        publisher.publish(String(data="frame"))
        assert received.wait(30)  # while the service still blocks a pool thread
        release.set()
        caller.join(30)
    finally:
        release.set()
        executor.shutdown()
        spinner.join(10)
        node.destroy_node()
    assert ran["input"] == [spinner.ident]
    assert ran["service"] and ran["service"][0] != spinner.ident
