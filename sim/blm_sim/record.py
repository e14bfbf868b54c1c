"""Records running episodes to MCAP (ROS 2 CDR), whoever drives the arm.

One episode: ``python -m blm_sim.record --embodiment panda --out episode.mcap [--instruction ...]``
closes the file when it receives SIGINT/SIGTERM or reads ``end`` on stdin.

Many episodes (the eval): without ``--out`` it prints ``ready`` and serves stdin line by line:
``begin {"out": PATH, "instruction": ..., "task": ..., "seed": ...}`` starts a file (answer
``recording``), ``end`` closes it (answer ``wrote PATH (counts)``), ``quit`` or end of input
exits. Its subscriptions stay matched between episodes, and a Python start-up per episode, seconds
on a loaded machine, is saved.

It records what the expert's recorder records (cameras, joint states, the commanded arm
trajectories, task status) plus the agent's own topics (intents, action chunks, agent
state). The episode's success is read from the last /sim/task_status, not assumed.
"""

from __future__ import annotations

import argparse
import json
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
    ap.add_argument("--out", default="", help="one episode to this file; without it, serve stdin")
    ap.add_argument("--instruction", default="")
    ap.add_argument("--task", default="")
    ap.add_argument("--seed", default="")
    a = ap.parse_args(argv)

    rclpy.init()
    emb = load_embodiment(a.embodiment)
    recorder = EpisodeRecorder(a.out or "episode.mcap", emb)
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

    def finish() -> None:
        # Kept whatever the outcome: a failed episode is worth reading too.
        path = recorder.end(keep=True, success=success["value"])
        counts = ", ".join(f"{t} {n}" for t, n in sorted(recorder.counts.items()))
        print(f"wrote {path} ({counts})", flush=True)

    if a.out:
        recorder.begin(instruction=a.instruction, embodiment=a.embodiment, task=a.task, seed=a.seed)
        print("recording", flush=True)
        done = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        threading.Thread(target=lambda: (sys.stdin.readline(), done.set()), daemon=True).start()
        done.wait()
        finish()
    else:
        _serve(recorder, a.embodiment, success, finish)
    recorder.stop()
    rclpy.try_shutdown()
    return 0


def _serve(recorder: EpisodeRecorder, embodiment: str, success: dict, finish) -> None:
    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    open_episode = False
    try:
        for line in sys.stdin:
            cmd, _, arg = line.strip().partition(" ")
            if cmd == "begin":
                episode = json.loads(arg)
                out = episode.pop("out")
                success["value"] = False  # the reset's status has arrived before the episode begins
                missing = recorder.wait_for_sources()
                if missing:
                    print(f"record: no publisher of {', '.join(missing)} yet: recording what comes", file=sys.stderr,
                          flush=True)
                recorder.begin(out, embodiment=embodiment, **episode)
                open_episode = True
                print("recording", flush=True)
            elif cmd == "end":
                if open_episode:
                    finish()
                else:
                    print("no episode to end", flush=True)
                open_episode = False
            elif cmd == "quit":
                break
    except KeyboardInterrupt:
        pass
    if open_episode:
        finish()


if __name__ == "__main__":
    sys.exit(main())
