"""Recovery demonstrations (blm_sim/expert/takeover.py): the agent drives, then the expert takes over
and only the expert's part is recorded. The end-to-end test runs the real graph (launch/sim.launch.xml:
the sim and the agent with the committed model) and the takeover client in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from blm_sim.expert.takeover import summary, takeover_after
from rosutil import SIM_DIR, domain_id, requires_ros

REPO = SIM_DIR.parent


def test_the_takeover_time_comes_from_the_seed_alone_inside_its_range():
    times = [takeover_after(s, 1.0, 7.0) for s in range(200)]
    assert all(1.0 <= t <= 7.0 for t in times)
    assert times == [takeover_after(s, 1.0, 7.0) for s in range(200)]  # a resumed run hands over alike
    assert len(set(times)) > 150 and min(times) < 1.5 and max(times) > 6.5  # spread over the range
    assert takeover_after(5, 2.0, 2.0) == 2.0


def test_the_summary_counts_policy_successes_and_kept_demonstrations_per_pair():
    ep = lambda policy, recorded: {"takeover_s": 1.0, "policy": policy, "expert": recorded or None,  # noqa: E731
                                   "recorded": recorded, "wall_s": 1.0}
    results = {"xarm6": {"PullCube": {"0": ep("success", False), "1": ep("timeout", True), "2": ep("timeout", False)},
                         "PickCube": {"0": ep("error: no result", False)}}}
    assert summary(results) == {"xarm6": {
        "PullCube": {"episodes": 3, "policy_success": 1, "recorded": 1},
        "PickCube": {"episodes": 1, "policy_success": 0, "recorded": 0},
    }}


@requires_ros
def test_the_expert_takes_over_from_where_the_agent_left_the_arm_and_only_its_part_is_recorded(tmp_path):
    from mcap.reader import make_reader
    from rosbags.highlevel import AnyReader

    domain_id()
    record, out = tmp_path / "demos", tmp_path / "run"
    cmd = [sys.executable, "-m", "blm_sim.expert.takeover", "--model", str(REPO / "models" / "blm-tiny"),
           "--embodiments", "xarm6", "--tasks", "PullCube", "--seeds", "1", "--seed-start", "3",
           "--after", "1.5", "1.5", "--record", str(record), "--out", str(out)]
    p = subprocess.run(cmd, cwd=SIM_DIR, env={**os.environ, "PYTHONUNBUFFERED": "1"}, capture_output=True,
                       text=True, timeout=300)
    logs = "".join(f.read_text(errors="replace")[-3000:] for f in (out / "logs").glob("*.log"))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:] + logs
    doc = json.loads((out / "takeover.json").read_text())
    episode = doc["results"]["xarm6"]["PullCube"]["3"]
    assert episode["takeover_s"] == 1.5
    assert episode["policy"] == "timeout", episode  # blm-tiny does not pull the cube in 1.5 s
    assert episode["expert"] is True and episode["recorded"] is True, p.stdout + logs
    assert doc["summary"]["xarm6"]["PullCube"] == {"episodes": 1, "policy_success": 0, "recorded": 1}

    path = record / "xarm6" / "PullCube" / "seed_3.mcap"
    with open(path, "rb") as f:
        meta = {m.name: dict(m.metadata) for m in make_reader(f).iter_metadata()}["episode"]
    assert meta["takeover_s"] == "1.5" and meta["success"] == "true" and meta["seed"] == "3"
    with AnyReader([path]) as reader:
        first_status, last_status = None, None
        for conn, _t, raw in reader.messages():
            if conn.topic == "/sim/task_status":
                last_status = reader.deserialize(raw, conn.msgtype)
                first_status = first_status or last_status
    # the recording starts after the agent's 1.5 s (the agent then decelerates to rest) and ends solved
    assert first_status is not None and first_status.elapsed >= 1.5
    assert last_status.success


def test_a_missing_model_is_refused_before_anything_starts(tmp_path):
    p = subprocess.run([sys.executable, "-m", "blm_sim.expert.takeover", "--model", str(tmp_path),
                        "--record", str(tmp_path / "d")], cwd=SIM_DIR, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "no manifest.json there" in p.stderr


@pytest.mark.parametrize("after", [("0", "3"), ("4", "2")])
def test_a_takeover_range_that_is_empty_or_starts_at_zero_is_refused(tmp_path, after):
    p = subprocess.run([sys.executable, "-m", "blm_sim.expert.takeover", "--model", str(REPO / "models" / "blm-tiny"),
                        "--record", str(tmp_path / "d"), "--after", *after], cwd=SIM_DIR, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "--after needs 0 < LO <= HI" in p.stderr


def test_resume_refuses_a_run_made_with_another_model_or_range(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "takeover.json").write_text(json.dumps({"model": "/elsewhere/other-model", "after": [1.0, 7.0],
                                                   "results": {}}))
    p = subprocess.run([sys.executable, "-m", "blm_sim.expert.takeover", "--model", str(REPO / "models" / "blm-tiny"),
                        "--record", str(tmp_path / "d"), "--out", str(out), "--resume"], cwd=SIM_DIR,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "was made with model /elsewhere/other-model" in p.stderr
    assert json.loads((out / "takeover.json").read_text())["model"] == "/elsewhere/other-model"  # left as it was
