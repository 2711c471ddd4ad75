"""One thread runs every torch call of the node: building the model, tracking, prompts, saving and
loading objects, forgetting and releasing them. PyTorch's profiler, told to record every thread,
shows which thread ran each operator, while a client drives the node over DDS through its whole
lifecycle; a torch call from a callback thread fails the test (the check is shown to see one)."""

from __future__ import annotations

import json

from conftest import fresh_python

# Runs in a fresh interpreter, so that nothing but the node runs torch there.
SCRIPT = r"""
import json, os, sys, tempfile, threading

# a domain of its own, and a node name no other test uses: nothing left over can answer for it
os.environ["ROS_DOMAIN_ID"] = str(100 + os.getpid() % 100)

import numpy as np
import rclpy
import torch
from geometry_msgs.msg import Point32
from rclpy.context import Context
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import Header, String
from std_srvs.srv import Trigger
from torch._C._profiler import _ExperimentalConfig
from torch.profiler import ProfilerActivity, profile, record_function

from sam2_ros.commands.harness.node_client import NodeClient
from sam2_ros.messages.images import array_to_image_msg
from sam2_ros.msg import ObjectMasks
from sam2_ros.node.executor import InputsInlineExecutor
from sam2_ros.node.sam2_node import Sam2Node
from sam2_ros.srv import AddPrompt, ObjectsFile, RemoveObject
from sam2_ros.runtime.worker import THREAD_NAME

NODE = "sam2_torch_thread"
tracking, steps = set(), []
config = _ExperimentalConfig(profile_all_threads=True)
with profile(activities=[ProfilerActivity.CPU], experimental_config=config) as prof:
    context = Context()
    rclpy.init(context=context)
    objects = tempfile.mkdtemp()
    node = Sam2Node(
        context=context,
        cli_args=["--ros-args", "-r", f"__node:={NODE}"],
        parameter_overrides=[
            Parameter("allow_random_weights", value=True),
            Parameter("image_size", value=128),
            Parameter("precision", value="fp32"),
            Parameter("objects_dir", value=objects),
            Parameter("save_objects_on_deactivate", value="auto"),
            Parameter("load_objects_on_activate", value="auto"),
        ],
    )
    executor = InputsInlineExecutor(node.input_group, context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    client = NodeClient("torch_thread_client")
    masks = client.collect(ObjectMasks, f"/{NODE}/camera/masks")
    camera = client.publisher(Image, "/camera/image_raw")
    rng = np.random.default_rng(0)

    def frame(second):
        header = Header(frame_id="camera")
        header.stamp.sec = second
        pixels = rng.integers(0, 255, (96, 128, 3), np.uint8)
        camera.publish(array_to_image_msg(pixels, "rgb8", header))
        masks.wait_stamp(header)

    def step(name, action):
        with record_function(f"step:{name}"):
            action()
        tracking.update(t.native_id for t in threading.enumerate() if t.name == THREAD_NAME)
        steps.append(name)

    def call(srv, service, request):
        answer = client.call(srv, f"/{NODE}/{service}", request)
        assert answer.success, answer.message

    point = AddPrompt.Request(points=[Point32(x=60.0, y=40.0)], labels=[1])
    step("configure", lambda: client.transition(NODE, "configure") or sys.exit("configure"))
    step("activate", lambda: client.transition(NODE, "activate") or sys.exit("activate"))
    client.wait_for_subscriber(camera)
    step("track", lambda: frame(1))
    step("prompt", lambda: call(AddPrompt, "add_prompt", point))
    step("track", lambda: frame(2))
    step("save", lambda: call(ObjectsFile, "save_objects", ObjectsFile.Request(name="saved")))
    step("load", lambda: call(ObjectsFile, "load_objects", ObjectsFile.Request(name="saved")))
    step("remove", lambda: call(RemoveObject, "remove_object", RemoveObject.Request(object_id=1)))
    step("reset", lambda: call(Trigger, "reset", Trigger.Request()))
    step("deactivate", lambda: client.transition(NODE, "deactivate") or sys.exit("deactivate"))
    step("activate", lambda: client.transition(NODE, "activate") or sys.exit("activate"))
    step("track", lambda: frame(3))
    # a callback thread doing torch work: the check below must see it
    done = threading.Event()
    node.create_subscription(
        String, "/torch_in_a_callback", lambda _: (torch.ones(64).add_(1), done.set()), 10,
        callback_group=node.input_group,
    )
    poke = client.publisher(String, "/torch_in_a_callback")
    client.wait_for_subscriber(poke)
    step("callback", lambda: (poke.publish(String(data="x")), done.wait(30) or sys.exit("poke")))
    step("deactivate", lambda: client.transition(NODE, "deactivate") or sys.exit("deactivate"))
    step("cleanup", lambda: client.transition(NODE, "cleanup") or sys.exit("cleanup"))
    client.close()
    executor.shutdown()
    node.destroy_node()
    context.try_shutdown()
path = tempfile.mktemp(suffix=".json")
prof.export_chrome_trace(path)
events = [e for e in json.load(open(path))["traceEvents"] if e.get("ph") == "X"]
marks = [e for e in events if e["name"].startswith("step:")]
ops = [e for e in events if e.get("cat") == "cpu_op" and e["name"].startswith("aten::")]
by_step = []
for mark in sorted(marks, key=lambda e: e["ts"]):
    inside = [o for o in ops if mark["ts"] <= o["ts"] <= mark["ts"] + mark["dur"]]
    by_step.append({
        "step": mark["name"][5:],
        "ops": len(inside),
        "tracking_thread": sum(o["tid"] in tracking for o in inside),
    })
print(json.dumps({
    "steps": by_step,
    "threads": sorted({o["tid"] for o in ops}),
    "tracking": sorted(tracking),
    "spinner": spinner.native_id,
}))
"""


def test_only_the_tracking_thread_runs_torch():
    report = json.loads(fresh_python(SCRIPT)[-1])
    steps = {}
    for entry in report["steps"]:
        previous = steps.get(entry["step"], {"ops": 0, "tracking_thread": 0})
        steps[entry["step"]] = {k: previous[k] + entry[k] for k in ("ops", "tracking_thread")}
    # building the model, tracking, prompting, saving and loading objects run torch operators,
    # all of them on the tracking thread (one per configure)
    for name in ("configure", "track", "prompt", "save", "load"):
        assert steps[name]["ops"] > 0, name
    for name, counted in steps.items():
        if name != "callback":
            assert counted["tracking_thread"] == counted["ops"], (name, counted)
    # the torch call made in a subscription callback ran on the executor's spinning thread, and
    # the check sees it there
    assert steps["callback"]["ops"] > steps["callback"]["tracking_thread"]
    assert set(report["threads"]) == set(report["tracking"]) | {report["spinner"]}
