"""Recovery demonstrations (DAgger-style): the policy drives, then the expert takes over.

Imitation from the expert's own episodes shows the policy only the states the expert visits; fed
its own slightly wrong states, the policy drifts further from them (compounding error). Here the
agent (the real graph of ``launch/sim.launch.xml``, the model under study, over ``/blm/execute``)
drives each episode for a seeded number of sim seconds; then the expert takes over from wherever the
arm, the gripper and the objects ended up, and only the expert's part is recorded, as an ordinary
demonstration (``stage2 features`` reads it like any other). What the policy did before is not a
target: it is where the demonstration starts.

    npm run expert:takeover -- --model ../models/blm-tiny --seeds 5 --record ../out/train/takeover
    (= cd sim && ../scripts/with-env.sh python -m blm_sim.expert.takeover ...: paths from sim/)

The policy runs in real time (the agent needs it); the sim runs the expert at ``--expert-rtf``
(its ``real_time_factor`` parameter is set at run time). Results go to ``<out>/takeover.json``
after every episode (``--resume`` skips the ones there): the policy's outcome at the takeover and
the expert's afterwards. An episode the policy already solved gets no demonstration.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..embodiment import repo_root
from ..tasks import TASK_NAMES
from .eval import EMBODIMENTS, stop_sim

AT_REST = ("inactive", "unconfigured")  # /blm/state mode names of an agent that commands nothing


def takeover_after(seed: int, lo: float, hi: float) -> float:
    """Sim seconds the policy drives before the expert takes over: uniform in [lo, hi], from the
    seed alone, so a resumed or repeated run hands over at the same moment."""
    return round(float(np.random.default_rng([seed, 23]).uniform(lo, hi)), 2)


@dataclass
class Outcome:
    takeover_s: float
    policy: str  # success | timeout | error: <why>
    expert: Optional[bool]  # None when the expert did not run
    recorded: bool
    wall_s: float

    def as_json(self) -> dict:
        return {"takeover_s": self.takeover_s, "policy": self.policy, "expert": self.expert,
                "recorded": self.recorded, "wall_s": round(self.wall_s, 2)}


def summary(results: dict) -> dict:
    """Per embodiment and task: episodes, policy successes before the takeover, demonstrations kept."""
    out: dict = {}
    for emb, row in results.items():
        for task, seeds in row.items():
            vals = list(seeds.values())
            out.setdefault(emb, {})[task] = {
                "episodes": len(vals),
                "policy_success": sum(1 for v in vals if v["policy"] == "success"),
                "recorded": sum(1 for v in vals if v["recorded"]),
            }
    return out


def start_graph(embodiment: str, task: str, model: Path, log_dir: Path) -> subprocess.Popen:
    """The sim and the agent, as ``npm run launch -- launch/sim.launch.xml`` starts them."""
    log_dir.mkdir(parents=True, exist_ok=True)
    cmd = ["node", "--import", "tsx", "launch/run.ts", "--log-dir", str(log_dir), "launch/sim.launch.xml",
           f"embodiment:={embodiment}", f"task:={task}", f"model:={model}", "real_time_factor:=1.0"]
    with open(log_dir / f"{embodiment}.launch.log", "ab") as f:  # the child keeps its own descriptor
        return subprocess.Popen(cmd, cwd=repo_root(), stdout=f, stderr=subprocess.STDOUT, env={**os.environ},
                                start_new_session=True)


class PolicyDriver:
    """The agent's side of an episode: its state, its ``/blm/execute`` action, the sim's pace."""

    def __init__(self, node) -> None:
        from rclpy.action import ActionClient
        from rcl_interfaces.srv import SetParameters
        from blm_msgs.action import Execute
        from blm_msgs.msg import AgentState

        from .client import RELIABLE

        self.node = node
        self.Execute = Execute
        self.mode = ""
        node.create_subscription(AgentState, "/blm/state", self._on_state, RELIABLE)
        self.execute = ActionClient(node, Execute, "/blm/execute")
        self.params = node.create_client(SetParameters, "/blm_sim/set_parameters")

    def _on_state(self, m) -> None:
        self.mode = m.mode_name

    def ready(self, robot, wall: float) -> bool:
        return robot.spin_until(lambda: self.execute.server_is_ready() and self.params.service_is_ready()
                                and self.mode != "", wall)

    def at_rest(self, robot, wall: float = 30.0) -> bool:
        return robot.spin_until(lambda: self.mode in AT_REST, wall)

    def set_pace(self, robot, rtf: float) -> None:
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
        from rcl_interfaces.srv import SetParameters

        req = SetParameters.Request(parameters=[Parameter(
            name="real_time_factor", value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=rtf))])
        fut = self.params.call_async(req)
        if not robot.spin_until(fut.done, wall=10.0):
            raise RuntimeError("the sim did not answer set_parameters (real_time_factor)")
        r = fut.result().results[0]
        if not r.successful:
            raise RuntimeError(f"the sim refused real_time_factor {rtf}: {r.reason}")

    def drive(self, robot, instruction: str, seconds: float) -> str:
        """Runs the instruction for ``seconds`` of sim time (the goal's own timeout); the outcome."""
        goal = self.Execute.Goal(instruction=instruction, timeout=float(seconds))
        fut = self.execute.send_goal_async(goal)
        if not robot.spin_until(fut.done, wall=20.0) or not fut.result().accepted:
            return "error: the agent did not accept the goal"
        res = fut.result().get_result_async()
        if not robot.spin_until(res.done, wall=3 * seconds + 30.0):
            fut.result().cancel_goal_async()
            return "error: no result within the wall-time bound"
        r = res.result().result
        return "success" if r.success else ("timeout" if r.message.startswith("timeout") else f"error: {r.message}")


def run_takeover(robot, driver: PolicyDriver, world, recorder, task: str, seed: int, takeover_s: float,
                 record_path: Path, expert_rtf: float, wall_budget_s: float) -> Outcome:
    from .scripts import Expert

    t0 = time.monotonic()
    if not driver.at_rest(robot):
        raise RuntimeError(f"the agent did not come to rest (mode {driver.mode!r})")
    resp = robot.reset(task, seed, robot.emb.name)
    policy = driver.drive(robot, resp.instruction, takeover_s)
    if policy != "success" and not driver.at_rest(robot):
        raise RuntimeError(f"the agent did not come to rest after its goal (mode {driver.mode!r})")
    if policy != "timeout":  # solved already, or the agent failed: nothing to recover from
        return Outcome(takeover_s, policy, None, False, time.monotonic() - t0)
    driver.set_pace(robot, expert_rtf)
    try:
        robot.wait(0.1)  # the state after the agent's last command, settled, into the recording's start
        recorder.begin(path=record_path, task=task, seed=seed, embodiment=robot.emb.name,
                       instruction=resp.instruction, perturb=0.0, takeover_s=takeover_s)
        expert = Expert(world, robot, np.random.default_rng([seed, 7]))
        result = expert.run(task, wall_budget_s=wall_budget_s)
        robot.wait(0.3)
        recorder.end(keep=result.success, attempts=result.attempts)
    finally:
        driver.set_pace(robot, 1.0)
    return Outcome(takeover_s, policy, result.success, result.success, time.monotonic() - t0)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blm_sim.expert.takeover")
    ap.add_argument("--model", required=True, help="model folder the agent runs (manifest.json)")
    ap.add_argument("--embodiments", nargs="+", default=list(EMBODIMENTS))
    ap.add_argument("--tasks", nargs="+", default=list(TASK_NAMES))
    ap.add_argument("--seeds", type=int, default=5, help="episodes per pair")
    ap.add_argument("--seed-start", type=int, default=0)
    ap.add_argument("--after", type=float, nargs=2, default=(1.0, 7.0), metavar=("LO", "HI"),
                    help="the takeover comes after a seeded uniform number of sim seconds in [LO, HI]")
    ap.add_argument("--record", required=True, help="directory for the recovery demonstrations (MCAP)")
    ap.add_argument("--out", default=None, help="results folder (default: <record>/../<record name>-run)")
    ap.add_argument("--expert-rtf", type=float, default=4.0)
    ap.add_argument("--episode-wall-s", type=float, default=90.0)
    ap.add_argument("--resume", action="store_true")
    a = ap.parse_args(argv)
    lo, hi = a.after
    if not 0.0 < lo <= hi:
        ap.error(f"--after needs 0 < LO <= HI (got {lo} {hi})")
    model = Path(a.model).resolve()
    if not (model / "manifest.json").is_file():
        ap.error(f"--model {model}: no manifest.json there")

    import rclpy

    record = Path(a.record)
    out = Path(a.out) if a.out else record.parent / f"{record.name}-run"
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / "takeover.json"
    results: dict = {}
    if a.resume and jpath.exists():
        done = json.loads(jpath.read_text())
        if done.get("model") != str(model) or done.get("after") != [lo, hi]:
            ap.error(f"--resume: {jpath} was made with model {done.get('model')} and --after {done.get('after')}; "
                     f"this run asks for {model} and {[lo, hi]} (use another --out)")
        results = done["results"]
    rclpy.init()
    from .graph_guard import refused_beside_another_graph

    if refused_beside_another_graph("takeover"):
        return 2
    failed = []
    try:
        for emb_name in a.embodiments:
            todo = [(t, s) for t in a.tasks for s in range(a.seed_start, a.seed_start + a.seeds)
                    if str(s) not in results.get(emb_name, {}).get(t, {})]
            if not todo:
                continue
            try:
                _run_embodiment(emb_name, todo, a, model, record, out, results, jpath)
            except RuntimeError as e:  # a graph that did not come up or died: the next arm still runs
                print(f"takeover: {emb_name}: {e}", file=sys.stderr, flush=True)
                failed.append(emb_name)
    finally:
        rclpy.try_shutdown()
    print(json.dumps(summary(results), indent=1))
    return 1 if failed else 0


def _run_embodiment(emb_name: str, todo: list, a, model: Path, record: Path, out: Path, results: dict,
                    jpath: Path) -> None:
    import rclpy

    from ..embodiment import load_embodiment
    from .client import RosRobot
    from .planning import PlanningWorld
    from .recorder import EpisodeRecorder

    emb = load_embodiment(emb_name)
    graph = start_graph(emb_name, todo[0][0], model, out / "logs")
    node = rclpy.create_node(f"blm_expert_eval_takeover_{emb_name}")
    rec = EpisodeRecorder(record / "tmp.mcap", emb)
    rec.start()
    robot = RosRobot(node, emb, recorder=rec)
    driver = PolicyDriver(node)
    worlds: dict = {}
    try:
        if not driver.ready(robot, wall=180.0) or not robot.ready(wall=60.0):
            raise RuntimeError(f"the graph for {emb_name} did not come up (log: {out / 'logs'})")
        for task, seed in todo:
            if graph.poll() is not None:
                raise RuntimeError(f"the graph for {emb_name} exited ({graph.returncode})")
            world = worlds.get(task) or worlds.setdefault(task, PlanningWorld(task, emb_name))
            after = takeover_after(seed, *a.after)
            t0 = time.monotonic()
            try:
                o = run_takeover(robot, driver, world, rec, task, seed, after,
                                 record / emb_name / task / f"seed_{seed}.mcap", a.expert_rtf, a.episode_wall_s)
            except Exception as e:  # one episode's failure never stops the run
                rec.end(keep=False)
                o = Outcome(after, f"error: {type(e).__name__}: {e}", None, False, time.monotonic() - t0)
            results.setdefault(emb_name, {}).setdefault(task, {})[str(seed)] = o.as_json()
            print(f"{emb_name:10s} {task:15s} seed {seed}: policy {o.policy} at {after:.2f} s, expert "
                  f"{'-' if o.expert is None else ('ok' if o.expert else 'FAIL')} {o.wall_s:5.1f}s", flush=True)
            tmp = jpath.with_suffix(".json.tmp")
            tmp.write_text(json.dumps({"model": str(model), "after": list(a.after), "expert_rtf": a.expert_rtf,
                                       "summary": summary(results), "results": results}, indent=1))
            os.replace(tmp, jpath)
    finally:
        rec.stop()
        node.destroy_node()
        stop_sim(graph)


if __name__ == "__main__":
    sys.exit(main())
