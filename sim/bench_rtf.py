"""Real-time factor of the simulation core, with both cameras rendering at 10 Hz of sim time.

Load per run: the arm follows a trajectory re-sent at 20 Hz (the agent's chunk rate) that sweeps
every joint by up to 0.2 rad away from its nearer limit, the gripper closes and opens, physics at 500 Hz (5 substeps per 100 Hz
sim step), ``front`` and ``wrist`` rendered every 0.1 s of sim time at 128 x 128, and the task's
success evaluated at 100 Hz. RTF = simulated seconds / wall seconds (>= 1: faster than real time).

Usage: .ros/venv/bin/python sim/bench_rtf.py [--seconds 10] [--out out/bench/sim.json]
Writes JSON; prints one line per run. Timing is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from blm_sim.robot import generate_robot_mjcf  # noqa: E402
from blm_sim.tasks import TASK_NAMES  # noqa: E402
from blm_sim.trajectory import JointTrajectory, TrajectoryPoint  # noqa: E402
from blm_sim.world import SimConfig, Simulation  # noqa: E402

ARMS = ("panda", "xarm6", "xarm7", "widowx_ai")


def run(task: str, arm: str | None, seconds: float, render_hz: float, width: int) -> dict:
    mjcf = generate_robot_mjcf(arm) if arm else None
    sim = Simulation(SimConfig(task=task, embodiment=arm, robot_mjcf=mjcf, width=width, height=width))
    sim.reset(0)
    n_steps = int(round(seconds / sim.cfg.sim_dt))
    render_every = int(round(1.0 / render_hz / sim.cfg.sim_dt))
    chunk_every = sim.steps_per_control
    q0 = sim.robot.arm_positions(sim.data) if sim.robot else None
    if sim.robot is not None:
        mid = np.array([(j.lower + j.upper) / 2 for j in sim.embodiment.joints])
        sign = np.sign(mid - q0 + 1e-9)
        g = sim.embodiment.gripper
    t_render = t_physics = t_eval = 0.0
    frames = 0
    wall0 = time.perf_counter()
    for k in range(n_steps):
        if sim.robot is not None and k % chunk_every == 0:
            t = sim.time
            pts = tuple(
                TrajectoryPoint(tuple(q0 + sign * 0.1 * (1.0 - np.cos(0.5 * (t + dt)))), dt)
                for dt in np.arange(1, 17) * sim.cfg.control_dt
            )
            v = sim.submit_arm_trajectory(JointTrajectory(sim.embodiment.joint_names, pts))
            assert v.ok, v.message
            if k % 200 == 0:
                sim.command_gripper(g.lower if (k // 200) % 2 else g.upper, 0.0)
        a = time.perf_counter()
        sim.step()
        b = time.perf_counter()
        sim.evaluate()
        c = time.perf_counter()
        t_physics += b - a
        t_eval += c - b
        if k % render_every == 0:
            for cam in sim.cameras:
                sim.render(cam)
                frames += 1
            t_render += time.perf_counter() - c
    wall = time.perf_counter() - wall0
    sim.close()
    return {
        "task": task,
        "embodiment": arm,
        "sim_seconds": seconds,
        "wall_seconds": round(wall, 4),
        "rtf": round(seconds / wall, 3),
        "physics_rtf": round(seconds / t_physics, 3),
        "render_ms_per_frame": round(1e3 * t_render / max(frames, 1), 3),
        "frames": frames,
        "cameras": list(sim.cameras),
        "evaluate_us_per_call": round(1e6 * t_eval / n_steps, 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="sim seconds per run")
    ap.add_argument("--render-hz", type=float, default=10.0)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--out", default="out/bench/sim.json")
    args = ap.parse_args()
    runs = []
    plan = [("PickCube", arm) for arm in ARMS] + [(t, "panda") for t in TASK_NAMES if t != "PickCube"]
    for task, arm in plan:
        r = run(task, arm, args.seconds, args.render_hz, args.size)
        runs.append(r)
        print(f"{task:15s} {arm:10s} rtf {r['rtf']:6.2f}  physics-only {r['physics_rtf']:6.2f}  "
              f"render {r['render_ms_per_frame']:.2f} ms/frame ({','.join(r['cameras'])} @ {args.render_hz:g} Hz)")
    out = {
        "benchmark": "sim real-time factor, both cameras at %g Hz, %dx%d" % (args.render_hz, args.size, args.size),
        "mujoco": mujoco.__version__,
        "mujoco_gl": os.environ.get("MUJOCO_GL"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "min_rtf": min(r["rtf"] for r in runs),
        "runs": runs,
    }
    p = Path(args.out)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(out, indent=2) + "\n")
    print(f"min rtf {out['min_rtf']:.2f} -> {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
