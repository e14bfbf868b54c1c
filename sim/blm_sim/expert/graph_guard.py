"""Refuses to start a recording or a success table beside another simulation on the same DDS domain.

Two sims on one domain publish the same topics (cameras, /sim/task_status, the grippers' actions): each
expert then reads the other's scene and the recorder writes it into the demonstrations. That was
seen, not imagined: two ``expert:eval --record`` runs side by side recorded episodes with the other
arm's camera frames and failed with the other sim's objects ("KeyError: 'cube'").
"""

from __future__ import annotations

import os
import time

# node names a running sim graph carries: the sim, an agent, another eval's, demo's or expert's client
# (the same list as scripts/lib/graph-guard.ts, which guards npm run eval and npm run demo)
FOREIGN_PREFIXES = ("blm_sim", "blm_agent", "blm_eval_", "blm_demo", "blm_expert_eval_")


def foreign_nodes(node, wait_s: float = 4.0) -> list[str]:
    """The other sims' and evals' nodes ``node`` discovers within ``wait_s`` (sorted, with namespace).

    4 s: on a loaded two-core machine discovery of a running participant took over 1.5 s in three of
    four tries (a missed first announcement is repeated after Fast DDS's 3 s period)."""
    import rclpy

    own = node.get_name()
    deadline = time.monotonic() + wait_s
    found: set[str] = set()
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
        for name, ns in node.get_node_names_and_namespaces():
            if name != own and name.startswith(FOREIGN_PREFIXES):
                found.add(f"{ns.rstrip('/')}/{name}")
    return sorted(found)


def refusal(nodes: list[str]) -> str:
    domain = os.environ.get("ROS_DOMAIN_ID", "0")
    return (f"another simulation is running on ROS_DOMAIN_ID {domain} ({', '.join(nodes)}): its topics would "
            f"mix with this run's; stop it, or run this one with another ROS_DOMAIN_ID")


def refused_beside_another_graph(who: str) -> bool:
    """With rclpy initialized: True (after saying why on stderr and shutting rclpy down) when another
    sim graph is on this domain, so ``who`` must not start."""
    import sys

    import rclpy

    probe = rclpy.create_node("blm_expert_eval_probe")
    others = foreign_nodes(probe)
    probe.destroy_node()
    if not others:
        return False
    rclpy.shutdown()
    print(f"{who}: {refusal(others)}", file=sys.stderr, flush=True)
    return True
