"""MCAP recording of expert episodes with ROS 2 message encoding (DESIGN decision 17).

A recorder node, spun in its own thread, subscribes what the episode is made of and writes every
message as CDR with a ``ros2msg`` schema (the message definition with its dependencies, as
rosbag2 writes it). Like rosbag2 it takes the serialized messages as they arrive (raw
subscriptions): ``serialize_message`` of this rmw pads some messages (e.g. a JointTrajectory with
points) with trailing bytes that strict CDR readers refuse. What the expert writes itself
(instruction, gripper goals: no sequences) is serialized here. Recorded:

- ``/camera/<front|wrist>/image_raw`` (sensor_msgs/Image) and ``camera_info``
- ``/joint_states`` (sensor_msgs/JointState)
- the embodiment's trajectory topic (trajectory_msgs/JointTrajectory: the commanded trajectories)
- ``/expert/reference_trajectory`` (the same type: the expert's planned paths, in perturbed
  episodes only, where the arm executed a bent copy of each; ``expert/perturb.py``)
- ``/sim/task_status`` (blm_msgs/TaskStatus)
- ``/expert/gripper_command`` (control_msgs/msg/GripperCommand: the gripper goals the expert sent)
- ``/blm/instruction`` (std_msgs/String) once at the start,
plus an MCAP metadata record ``episode`` (instruction, embodiment, task, seed, success).

Log times are sim time (the messages' header stamps; /clock for the rest). An episode is written
to ``<path>.partial`` and renamed to ``<path>`` only when it succeeded; otherwise deleted.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Optional

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import serialize_message

from ..embodiment import Embodiment

# The expert's planned path, published beside what the arm executes when a perturbation bends it:
# the demonstration's commanded reference (nothing subscribes to it to move).
REFERENCE_TOPIC = "/expert/reference_trajectory"

__all__ = ["EpisodeRecorder", "message_definition"]

_PRIMITIVES = {
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
    "uint32", "int64", "uint64", "string", "wstring",
}
_SEP = "=" * 80


def _find_msg_file(pkg: str, name: str) -> Path:
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        p = Path(prefix) / "share" / pkg / "msg" / f"{name}.msg"
        if p.exists():
            return p
    raise FileNotFoundError(f"no definition for {pkg}/msg/{name} on AMENT_PREFIX_PATH")


def _deps(text: str, pkg: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2 or "=" in parts[1]:
            continue  # constants
        t = re.sub(r"\[.*\]$", "", parts[0])
        t = re.sub(r"<=\d+$", "", t)
        if t in _PRIMITIVES:
            continue
        if t == "Header":
            out.append(("std_msgs", "Header"))
        elif "/" in t:
            segs = t.split("/")
            out.append((segs[0], segs[-1]))
        else:
            out.append((pkg, t))
    return out


def message_definition(type_name: str) -> str:
    """The ``ros2msg`` schema text of ``pkg/msg/Name``: its .msg, then each dependency once."""
    pkg, _, name = type_name.split("/")
    main = _find_msg_file(pkg, name).read_text()
    seen: set[tuple[str, str]] = set()
    parts = [main.rstrip("\n")]
    stack = list(reversed(_deps(main, pkg)))
    while stack:
        dep = stack.pop()
        if dep in seen:
            continue
        seen.add(dep)
        text = _find_msg_file(*dep).read_text()
        parts.append(f"{_SEP}\nMSG: {dep[0]}/{dep[1]}\n{text.rstrip(chr(10))}")
        stack.extend(reversed(_deps(text, dep[0])))
    return "\n".join(parts) + "\n"


def _type_name(msg: Any) -> str:
    mod = type(msg).__module__.split(".")  # e.g. sensor_msgs.msg._image
    return f"{mod[0]}/msg/{type(msg).__name__}"


def _stamp_ns(msg: Any) -> Optional[int]:
    h = getattr(msg, "header", None)
    if h is None:
        return None
    ns = int(h.stamp.sec) * 1_000_000_000 + int(h.stamp.nanosec)
    return ns if ns > 0 else None


class EpisodeRecorder:
    """Records episodes into MCAP files. ``start()`` spins a recorder node in a thread."""

    def __init__(self, path: str | os.PathLike, emb: Embodiment, cameras: tuple[str, ...] = ("front", "wrist")) -> None:
        self.path = Path(path)
        self.emb = emb
        self.cameras = cameras
        self._lock = threading.Lock()
        self._writer = None
        self._file = None
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._clock_ns = 0
        self._episode: dict = {}
        self.counts: dict[str, int] = {}
        self._thread: Optional[threading.Thread] = None
        self._exec: Optional[SingleThreadedExecutor] = None
        self.node: Optional[Node] = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from trajectory_msgs.msg import JointTrajectory
        from blm_msgs.msg import TaskStatus

        self.node = rclpy.create_node("blm_expert_recorder")
        rel = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
        sensor = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)
        n = self.node

        def sub(topic: str, typ: type, qos: QoSProfile) -> None:
            tname = _type_name(typ())
            header = next(iter(typ.get_fields_and_field_types()), "") == "header"  # stamp at bytes 4..12
            n.create_subscription(typ, topic, lambda data: self.write_raw(topic, tname, bytes(data), header), qos, raw=True)

        for cam in self.cameras:
            sub(f"/camera/{cam}/image_raw", Image, sensor)
            sub(f"/camera/{cam}/camera_info", CameraInfo, sensor)
        sub(self.emb.joint_states_topic, JointState, rel)
        sub(self.emb.trajectory_topic, JointTrajectory, rel)
        sub(REFERENCE_TOPIC, JointTrajectory, rel)
        sub("/sim/task_status", TaskStatus, rel)
        n.create_subscription(Clock, "/clock", self._on_clock, QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        self._exec = SingleThreadedExecutor()
        self._exec.add_node(n)
        self._stop = threading.Event()

        def spin() -> None:
            while not self._stop.is_set() and rclpy.ok():
                try:
                    self._exec.spin_once(timeout_sec=0.05)
                except Exception:  # context shut down
                    break

        self._thread = threading.Thread(target=spin, name="mcap-recorder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5.0)
        self.end(keep=False)
        if self.node is not None:
            self._exec.remove_node(self.node)
            self.node.destroy_node()
            self.node = None

    def _on_clock(self, m: Any) -> None:
        self._clock_ns = int(m.clock.sec) * 1_000_000_000 + int(m.clock.nanosec)

    def wait_for_sources(self, timeout_s: float = 10.0) -> list[str]:
        """Waits until this node has discovered a publisher of every camera image and of the joint
        states, or ``timeout_s`` has passed; returns the topics still without one. A recording that
        begins before discovery holds nothing: a CI run wrote a 3 s eval episode as a 1,334-byte MCAP
        (the instruction and no message from the sim; discovery on a loaded machine can take more
        than the 3 s of Fast DDS's announcement period)."""
        topics = [f"/camera/{cam}/image_raw" for cam in self.cameras] + [self.emb.joint_states_topic]
        deadline = time.monotonic() + timeout_s
        while True:
            missing = [t for t in topics if self.node.count_publishers(t) == 0]
            if not missing or time.monotonic() >= deadline:
                return missing
            time.sleep(0.05)

    # -- episodes ------------------------------------------------------------------------------
    def begin(self, path: Optional[str | os.PathLike] = None, **episode: Any) -> None:
        from mcap.writer import CompressionType, Writer
        from std_msgs.msg import String

        with self._lock:
            if self._writer is not None:
                self._close(keep=False)
            if path is not None:
                self.path = Path(path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._partial = self.path.with_name(self.path.name + ".partial")
            self._file = open(self._partial, "wb")
            self._writer = Writer(self._file, compression=CompressionType.ZSTD)
            self._writer.start(profile="ros2", library="blm_sim expert recorder")
            self._schemas, self._channels, self.counts = {}, {}, {}
            self._episode = {k: str(v) for k, v in episode.items()}
        self.write("/blm/instruction", String(data=str(episode.get("instruction", ""))))

    def write(self, topic: str, msg: Any, log_ns: Optional[int] = None) -> None:
        """Write a message object (serialized here); log time: its header stamp, else /clock."""
        t = log_ns if log_ns is not None else (_stamp_ns(msg) or self._clock_ns)
        self._put(topic, _type_name(msg), serialize_message(msg), t)

    def write_raw(self, topic: str, tname: str, data: bytes, has_header: bool) -> None:
        """Write a serialized message as received; a leading std_msgs/Header gives the log time."""
        t = 0
        if has_header and len(data) >= 12:
            sec = int.from_bytes(data[4:8], "little", signed=True)
            nsec = int.from_bytes(data[8:12], "little")
            t = sec * 1_000_000_000 + nsec
        self._put(topic, tname, data, t if t > 0 else self._clock_ns)

    def _put(self, topic: str, tname: str, data: bytes, t: int) -> None:
        with self._lock:
            w = self._writer
            if w is None:
                return
            sid = self._schemas.get(tname)
            if sid is None:
                sid = w.register_schema(name=tname, encoding="ros2msg", data=message_definition(tname).encode())
                self._schemas[tname] = sid
            cid = self._channels.get(topic)
            if cid is None:
                cid = w.register_channel(topic=topic, message_encoding="cdr", schema_id=sid)
                self._channels[topic] = cid
            w.add_message(channel_id=cid, log_time=t, publish_time=t, data=data)
            self.counts[topic] = self.counts.get(topic, 0) + 1

    def note_command(self, topic: str, msg: Any, sim_time: float) -> None:
        """The expert's own commands are recorded from the subscription; nothing to add here."""

    def note_gripper(self, position: float, effort: float, sim_time: float) -> None:
        from control_msgs.msg import GripperCommand

        self.write("/expert/gripper_command", GripperCommand(position=float(position), max_effort=float(effort)),
                   log_ns=int(sim_time * 1e9))

    def end(self, keep: bool, **extra: Any) -> Optional[Path]:
        with self._lock:
            return self._close(keep, **extra)

    def _close(self, keep: bool, **extra: Any) -> Optional[Path]:
        if self._writer is None:
            return None
        # The expert keeps only successful episodes, so keep stands for success unless the
        # caller (a demo that keeps every episode) says otherwise.
        success = bool(extra.pop("success", keep))
        meta = {**self._episode, **{k: str(v) for k, v in extra.items()}, "success": str(success).lower()}
        self._writer.add_metadata("episode", meta)
        self._writer.finish()
        self._file.close()
        self._writer, self._file = None, None
        if keep:
            os.replace(self._partial, self.path)
            return self.path
        self._partial.unlink(missing_ok=True)
        return None
