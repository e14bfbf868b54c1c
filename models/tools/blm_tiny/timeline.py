"""What the arm did in one recorded episode (an eval's MCAP or an expert demonstration): the TCP
(the sim's TCP site, forward kinematics of the measured joints) and the jaw width every ``period``
seconds, beside the places the episode's seed gave the task's objects. For reading a closed-loop
failure: did the TCP get over the object, how fast did it come down, when did the jaw close.

    python -m blm_tiny.timeline out/eval/<run>/episodes/panda/PickCube/seed-100000.mcap [--period 0.5] [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from . import qa as Q
from .demos import read_episode


def timeline(path: Path, period: float = 0.5) -> dict:
    if not period > 0:
        raise ValueError(f"period {period} must be positive")
    from blm_sim.expert.planning import PlanningWorld

    try:
        ep = read_episode(path)
    except KeyError as e:  # no "episode" metadata record, or an arm it does not know
        raise ValueError(f"{path}: not a recorded episode (missing {e})") from e
    except Exception as e:  # the MCAP reader's own errors: truncated, not an MCAP at all
        raise ValueError(f"{path}: cannot be read as an MCAP episode ({type(e).__name__}: {e})") from e
    world = PlanningWorld(ep.task, ep.embodiment)
    places = Q.seeded_places(ep.embodiment, ep.task, ep.seed)
    t0 = float(ep.js_t[0])
    rows = []
    for t in np.arange(t0, ep.end_t + 1e-9, period):
        state = ep.state_at(float(t))
        tcp = world.fk(state[:-1])[0]
        nearest = min(places, key=lambda n: float(np.linalg.norm(places[n][:2] - tcp[:2])))
        rows.append({
            "t": round(float(t) - t0, 3),
            "tcp": [round(float(x), 4) for x in tcp],
            "jaw": round(float(state[-1]), 4),
            # horizontal distance to the nearest object's seeded place (objects the arm moved are elsewhere)
            "nearest": nearest,
            "nearest_xy_cm": round(100 * float(np.linalg.norm(places[nearest][:2] - tcp[:2])), 2),
        })
    return {
        "embodiment": ep.embodiment,
        "task": ep.task,
        "seed": ep.seed,
        "instruction": ep.instruction,
        "objects": {n: [round(float(x), 4) for x in p] for n, p in places.items()},
        "rows": rows,
    }


def format_timeline(tl: dict) -> str:
    lines = [f"{tl['embodiment']} {tl['task']} seed {tl['seed']}: {tl['instruction']}"]
    lines += [f"  {n} at {p}" for n, p in tl["objects"].items()]
    lines.append("     t   tcp x    tcp y    tcp z    jaw     nearest (xy cm)")
    for r in tl["rows"]:
        x, y, z = r["tcp"]
        lines.append(f"{r['t']:6.2f} {x:8.4f} {y:8.4f} {z:8.4f} {r['jaw']:7.4f}  {r['nearest']} ({r['nearest_xy_cm']:.1f})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blm_tiny.timeline", description=__doc__.split("\n\n")[0])
    ap.add_argument("mcap", type=Path)
    ap.add_argument("--period", type=float, default=0.5, help="seconds between rows")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if not a.mcap.is_file():
        ap.error(f"{a.mcap}: no such file")
    try:
        tl = timeline(a.mcap, a.period)
    except ValueError as e:
        ap.error(str(e))
    print(json.dumps(tl) if a.json else format_timeline(tl))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
