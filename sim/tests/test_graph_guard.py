"""expert:eval and expert:takeover refuse to run beside another simulation on its DDS domain (graph_guard.py): two
sims there publish the same topics, and a recording would take in the other's scene."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rosutil import domain_id, requires_ros

pytestmark = requires_ros


@pytest.fixture
def ros():
    import rclpy

    domain_id()
    rclpy.init()
    yield rclpy
    rclpy.shutdown()


def test_the_probe_sees_a_sim_node_and_not_itself_or_unrelated_nodes(ros):
    from blm_sim.expert.graph_guard import foreign_nodes

    probe = ros.create_node("blm_expert_eval_probe")
    bystander = ros.create_node("rviz_like_viewer")
    decoy_name = f"blm_sim_{os.getpid()}"  # a sim node by its prefix, and no other process's
    before = foreign_nodes(probe, wait_s=4.0)
    assert f"/{decoy_name}" not in before and not any("rviz_like_viewer" in n or "probe" in n for n in before)
    decoy = ros.create_node(decoy_name)
    try:
        assert f"/{decoy_name}" in foreign_nodes(probe, wait_s=4.0)
    finally:
        decoy.destroy_node()
        bystander.destroy_node()
        probe.destroy_node()


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module,args,who", [
    ("blm_sim.expert.eval", ["--embodiments", "panda", "--tasks", "PickCube", "--seeds", "1"], "expert eval"),
    ("blm_sim.expert.takeover", ["--model", str(REPO / "models" / "blm-tiny"), "--embodiments", "panda",
                                 "--tasks", "PickCube", "--seeds", "1", "--record", "{tmp}/demos"], "takeover"),
])
def test_the_expert_tools_refuse_to_start_beside_another_sim(ros, tmp_path: Path, module, args, who):
    decoy = ros.create_node(f"blm_sim_{os.getpid()}")
    try:
        sim_dir = Path(__file__).resolve().parents[1]
        r = subprocess.run([sys.executable, "-m", module, *[x.format(tmp=tmp_path) for x in args],
                            "--out", str(tmp_path / "out")],
                           cwd=sim_dir, env={**os.environ}, capture_output=True, text=True, timeout=60)
    finally:
        decoy.destroy_node()
    assert r.returncode == 2, r.stderr
    assert f"{who}: another simulation is running on ROS_DOMAIN_ID {os.environ['ROS_DOMAIN_ID']} (" in r.stderr
    assert f"/blm_sim_{os.getpid()}" in r.stderr
    assert not any((tmp_path / "out").glob("*.json")) and not (tmp_path / "demos").exists()
