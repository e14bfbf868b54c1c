"""Records a running episode to MCAP (ROS 2 CDR), whoever drives the arm:
``python -m blm_sim.record --embodiment panda --out episode.mcap [--instruction ...]``.

It records what the expert's recorder records (cameras, joint states, the commanded arm
trajectories, task status) plus the agent's own topics (intents, action chunks, agent
state), and closes the file when it receives SIGINT/SIGTERM or reads ``end`` on stdin. The
episode's success is read from the last /sim/task_status, not assumed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import rclpy
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from .embodiment import load_embodiment
from .expert.recorder import EpisodeRecorder, _type_name

AGENT_TOPICS = (
    ("/blm/intent", "blm_msgs.msg", "Intent"),
    ("/blm/action_chunk", "blm_msgs.msg", "ActionChunk"),
    ("/blm/state", "blm_msgs.msg", "AgentState"),
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blm_sim.record")
    ap.add_argument("--embodiment", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--instruction", default="")
    ap.add_argument("--task", default="")
    ap.add_argument("--seed", default="")
    a = ap.parse_args(argv)

    rclpy.init()
    emb = load_embodiment(a.embodiment)
    recorder = EpisodeRecorder(a.out, emb)
    recorder.start()
    import importlib

    reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
    for topic, module, name in AGENT_TOPICS:
        typ = getattr(importlib.import_module(module), name)
        tname = _type_name(typ())
        recorder.node.create_subscription(
            typ, topic, lambda data, t=topic, n=tname: recorder.write_raw(t, n, bytes(data), True), reliable, raw=True
        )
    success = {"value": False}
    from blm_msgs.msg import TaskStatus

    recorder.node.create_subscription(
        TaskStatus, "/sim/task_status", lambda m: success.__setitem__("value", bool(m.success)), reliable
    )
    recorder.begin(instruction=a.instruction, embodiment=a.embodiment, task=a.task, seed=a.seed)
    print("recording", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.readline(), done.set()), daemon=True).start()
    done.wait()
    # Kept whatever the outcome: a demo's failed episode is worth reading too.
    path = recorder.end(keep=True, success=success["value"])
    recorder.stop()
    rclpy.try_shutdown()
    counts = ", ".join(f"{t} {n}" for t, n in sorted(recorder.counts.items()))
    print(f"wrote {path} ({counts})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
