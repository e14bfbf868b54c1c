"""An rclpy test peer, run as its own process; same protocol as js-peer.ts.

  echo TYPE TOPIC          prints "ready", then the first message received as one wire-JSON line
  publish TYPE TOPIC FILE  publishes the wire-JSON message in FILE every 100 ms until killed
"""
import array
import base64
import importlib
import json
import sys

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy


def message_class(type_name: str):
    pkg, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


def to_wire(value):
    if hasattr(value, "get_fields_and_field_types"):
        return {f: to_wire(getattr(value, f)) for f in value.get_fields_and_field_types()}
    if isinstance(value, (bytes, bytearray)) or (isinstance(value, array.array) and value.typecode == "B"):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, (list, tuple, array.array)) or type(value).__name__ == "ndarray":
        return [to_wire(v) for v in value]
    if type(value).__module__ == "numpy":
        return value.item()
    return value


def element_type(field_type: str) -> str:
    inner = field_type.split("<", 1)[1].rsplit(">", 1)[0] if "<" in field_type else field_type.split("[", 1)[0]
    return inner.split(",")[0]


def from_wire(cls, data):
    msg = cls()
    for field, field_type in cls.get_fields_and_field_types().items():
        if field not in data:
            continue
        value = data[field]
        is_sequence = field_type.startswith("sequence<") or field_type.endswith("]")
        base = element_type(field_type) if is_sequence else field_type
        if "/" in base:
            pkg, name = base.split("/")
            sub = getattr(importlib.import_module(f"{pkg}.msg"), name)
            value = [from_wire(sub, v) for v in value] if is_sequence else from_wire(sub, value)
        elif isinstance(value, dict) and "$bytes" in value:
            value = base64.b64decode(value["$bytes"])
            if base in ("uint8", "byte", "octet") and is_sequence:
                value = array.array("B", value) if base == "uint8" else [bytes([b]) for b in value]
        setattr(msg, field, value)
    return msg


def main() -> int:
    mode, type_name, topic = sys.argv[1:4]
    cls = message_class(type_name)
    rclpy.init()
    node = rclpy.create_node(f"py_peer_{__import__('os').getpid()}")
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    done = []
    if mode == "echo":
        def on_message(msg):
            if not done:
                print(json.dumps(to_wire(msg)), flush=True)
                done.append(True)
        node.create_subscription(cls, topic, on_message, qos)
        print("ready", flush=True)
        while rclpy.ok() and not done:
            rclpy.spin_once(node, timeout_sec=0.1)
    elif mode == "publish":
        with open(sys.argv[4]) as f:
            message = from_wire(cls, json.load(f))
        publisher = node.create_publisher(cls, topic, qos)
        node.create_timer(0.1, lambda: publisher.publish(message))
        print("ready", flush=True)
        rclpy.spin(node)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
