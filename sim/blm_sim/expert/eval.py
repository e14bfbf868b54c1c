"""The expert's success table: N seeds per (embodiment, task), 4 x 6, as JSON and markdown.

    npm run expert:eval -- --seeds 10
    (= cd sim && ../scripts/with-env.sh python -m blm_sim.expert.eval --seeds 10)

For each embodiment it starts the sim node (``python -m blm_sim.node``) in a subprocess, then runs
the expert as a ROS client against it (reset through ``/sim/reset``). Results are written after
every episode to ``out/expert/success.json`` (+ ``success.md``); ``--resume`` skips the episodes
already there (DESIGN decision 12), except errors (``pending``). ``--record DIR`` keeps an MCAP of
every successful episode. Every episode is bounded in wall time; a node that dies is restarted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from ..embodiment import repo_root
from ..tasks import TASK_NAMES

EMBODIMENTS = ("panda", "xarm6", "xarm7", "widowx_ai")
TARGET = 0.8


def start_sim(embodiment: str, task: str, rtf: float, camera_rate: float, log: Path) -> subprocess.Popen:
    sim_dir = repo_root() / "sim"
    cmd = [sys.executable, "-m", "blm_sim.node", "--embodiment", embodiment, "--task", task,
           "--real-time-factor", str(rtf), "--camera-rate-hz", str(camera_rate)]
    log.parent.mkdir(parents=True, exist_ok=True)
    f = open(log, "ab")
    return subprocess.Popen(cmd, cwd=sim_dir, stdout=f, stderr=subprocess.STDOUT, env={**os.environ},
                            start_new_session=True)


def stop_sim(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def markdown(results: dict, seeds: int) -> str:
    tasks = list(TASK_NAMES)
    lines = [
        f"# Scripted expert: success rate ({seeds} seeds per pair, target >= {int(TARGET * 100)}%)",
        "",
        "| embodiment | " + " | ".join(tasks) + " | mean |",
        "|---|" + "---|" * (len(tasks) + 1),
    ]
    for emb, row in results.items():
        cells, rates = [], []
        for t in tasks:
            r = row.get(t)
            if not r or not r["episodes"]:
                cells.append("–")
                continue
            rate = r["successes"] / r["episodes"]
            rates.append(rate)
            cells.append(f"{100 * rate:.0f}% ({r['successes']}/{r['episodes']})")
        mean = f"{100 * sum(rates) / len(rates):.0f}%" if rates else "–"
        lines.append(f"| {emb} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blm_sim.expert.eval")
    ap.add_argument("--embodiments", nargs="+", default=list(EMBODIMENTS))
    ap.add_argument("--tasks", nargs="+", default=list(TASK_NAMES))
    ap.add_argument("--seeds", type=int, default=10, help="episodes per pair")
    ap.add_argument("--seed-start", type=int, default=1000)
    ap.add_argument("--out", default=str(repo_root() / "out" / "expert"))
    ap.add_argument("--record", default=None, help="directory for MCAPs of successful episodes")
    ap.add_argument("--rtf", type=float, default=4.0, help="sim real-time factor (0 = unpaced)")
    ap.add_argument("--episode-wall-s", type=float, default=90.0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--perturb", type=float, default=0.0, metavar="RAD",
                    help="DART-style noise: the arm executes each planned path bent by up to this std per "
                         "joint (rad) while the plan is recorded as the reference (expert/perturb.py); 0 = off")
    a = ap.parse_args(argv)

    import rclpy

    from ..embodiment import load_embodiment
    from .client import RosRobot, run_episode
    from .planning import PlanningWorld

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / "success.json"
    results: dict = {}
    if a.resume and jpath.exists():
        results = json.loads(jpath.read_text()).get("results", {})
    rclpy.init()
    from .graph_guard import refused_beside_another_graph

    if refused_beside_another_graph("expert eval"):
        return 2
    t_start = time.monotonic()
    try:
        for emb_name in a.embodiments:
            emb = load_embodiment(emb_name)
            todo = pending(results, emb_name, a.tasks, range(a.seed_start, a.seed_start + a.seeds))
            if not todo:
                continue
            sim = start_sim(emb_name, todo[0][0], a.rtf, 10.0 if a.record else 0.0, out / "logs" / f"sim_{emb_name}.log")
            node = rclpy.create_node(f"blm_expert_eval_{emb_name}")
            rec = None
            if a.record:
                from .recorder import EpisodeRecorder

                rec = EpisodeRecorder(Path(a.record) / "tmp.mcap", emb)
                rec.start()
            robot = RosRobot(node, emb, recorder=rec, perturb_std=a.perturb)
            worlds: dict = {}
            try:
                for task, seed in todo:
                    if sim.poll() is not None:
                        print(f"sim node for {emb_name} exited ({sim.returncode}); restarting", flush=True)
                        sim = start_sim(emb_name, task, a.rtf, 10.0 if a.record else 0.0,
                                        out / "logs" / f"sim_{emb_name}.log")
                    world = worlds.get(task) or worlds.setdefault(task, PlanningWorld(task, emb_name))
                    t0 = time.monotonic()
                    rec_path = Path(a.record) / emb_name / task / f"seed_{seed}.mcap" if a.record else None
                    errored = False
                    try:
                        res, instr = run_episode(node, robot, world, task, seed, recorder=rec,
                                                 record_path=rec_path, wall_budget_s=a.episode_wall_s)
                        ok, log = res.success, res.log
                    except Exception as e:  # one episode's failure never stops the table
                        ok, log, instr = False, [f"error: {type(e).__name__}: {e}"], ""
                        errored = True
                        if rec is not None:
                            rec.end(keep=False)
                    dt = time.monotonic() - t0
                    cell = results.setdefault(emb_name, {}).setdefault(task, {"successes": 0, "episodes": 0, "seeds": {}})
                    cell["seeds"][str(seed)] = {"success": ok, "wall_s": round(dt, 2), "log": log[-6:],
                                                **({"error": True} if errored else {})}
                    cell["episodes"] = len(cell["seeds"])
                    cell["successes"] = sum(1 for v in cell["seeds"].values() if v["success"])
                    print(f"{emb_name:10s} {task:15s} seed {seed}: {'ok  ' if ok else 'FAIL'} {dt:5.1f}s"
                          + ("" if ok else f"  {log[-1] if log else ''}"), flush=True)
                    _write(jpath, out / "success.md", results, a)
            finally:
                if rec is not None:
                    rec.stop()
                node.destroy_node()
                stop_sim(sim)
    finally:
        rclpy.try_shutdown()
    _write(jpath, out / "success.md", results, a)
    print(markdown(results, a.seeds))
    print(f"total {time.monotonic() - t_start:.0f} s; wrote {jpath} and {out / 'success.md'}")
    low = [(e, t) for e, row in results.items() for t, c in row.items() if c["episodes"] and c["successes"] / c["episodes"] < TARGET]
    if low:
        print("below target: " + ", ".join(f"{e}/{t}" for e, t in low))
    return 0


def pending(results: dict, embodiment: str, tasks, seeds) -> list[tuple[str, int]]:
    """The (task, seed) episodes ``--resume`` still runs: those with no record, and those whose record
    is an error, an episode that did not run (the harness failed, as every episode left of a run
    stopped mid-way does), the rule ``npm run eval`` follows; a success or an expert's failure is kept."""
    done = results.get(embodiment, {})
    return [(t, s) for t in tasks for s in seeds if not _ran(done.get(t, {}).get("seeds", {}).get(str(s)))]


def _ran(record: dict | None) -> bool:
    if record is None:
        return False
    # files from before the flag: an error is the one log line the harness wrote
    log = record.get("log") or []
    return not (record.get("error") or (len(log) == 1 and str(log[0]).startswith("error: ")))


def _write(jpath: Path, mdpath: Path, results: dict, a) -> None:
    table = {e: {t: (round(c["successes"] / c["episodes"], 3) if c["episodes"] else None) for t, c in row.items()}
             for e, row in results.items()}
    doc = {"target": TARGET, "seeds_per_pair": a.seeds, "seed_start": a.seed_start, "rtf": a.rtf,
           "perturb": a.perturb,
           "table": table, "results": results}
    tmp = jpath.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, jpath)
    mdpath.write_text(markdown(results, a.seeds))


if __name__ == "__main__":
    sys.exit(main())
