"""Where the first approach comes down, over the grasping episodes of eval runs: the TCP's horizontal
place the first time it goes below ``--below`` metres, against the seeded place of the object the
task grasps. The miss splits into ``along`` (the direction from the TCP's start to the object;
negative = it came down short) and ``across`` (sideways). An arm that comes down short is a timing
or phase problem; one that comes down beside the object has not located it.

    python -m blm_tiny.approach out/eval/<run> [out/eval/<other run> ...] [--below 0.045] [--json]

A folder of expert demonstrations (``<embodiment>/<task>/seed_<n>.mcap``) reads the same way: the
expert's own first approach, the reference.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional

import numpy as np

GRASPED = {"PickCube": "cube", "StackCube": "cubeA", "PlaceSphere": "sphere"}


def first_descent(tl: dict, below: float) -> Optional[dict]:
    """The first approach of one timeline (``blm_tiny.timeline``): miss, along, across (cm) and the
    time it came down; None when the task grasps nothing or the TCP never came that low."""
    name = GRASPED.get(tl["task"])
    if name is None:
        return None
    low = next((r for r in tl["rows"] if r["tcp"][2] < below), None)
    if low is None:
        return {"t": None}
    obj = np.asarray(tl["objects"][name][:2], dtype=float)
    start = np.asarray(tl["rows"][0]["tcp"][:2], dtype=float)
    d = np.asarray(low["tcp"][:2], dtype=float) - obj
    u = obj - start
    u = u / np.linalg.norm(u) if np.linalg.norm(u) > 1e-9 else np.array([1.0, 0.0])
    return {"t": low["t"], "miss_cm": 100 * float(np.linalg.norm(d)), "along_cm": 100 * float(d @ u),
            "across_cm": 100 * float(abs(d[0] * u[1] - d[1] * u[0]))}


def summarize(descents: list[dict]) -> dict:
    came = [d for d in descents if d["t"] is not None]
    med = lambda k: round(float(np.median([d[k] for d in came])), 2) if came else None  # noqa: E731
    return {"episodes": len(descents), "never_low": len(descents) - len(came), "miss_cm_median": med("miss_cm"),
            "along_cm_median": med("along_cm"), "across_cm_median": med("across_cm"),
            "within_1cm": sum(d["miss_cm"] <= 1.0 for d in came), "t_median": med("t")}


def run_descents(run: Path, below: float) -> list[dict]:
    from .timeline import timeline

    out = []
    for task in GRASPED:
        for p in sorted([*run.glob(f"episodes/*/{task}/seed-*.mcap"), *run.glob(f"*/{task}/seed_*.mcap")]):
            d = first_descent(timeline(p, 0.1), below)
            if d is not None:
                out.append({"episode": str(p.relative_to(run)), **d})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blm_tiny.approach", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+", help="eval output folders (with episodes/) or demonstration folders")
    ap.add_argument("--below", type=float, default=0.045, help="TCP height (m) that counts as come down")
    ap.add_argument("--json", action="store_true", help="every episode's descent, not only the summary")
    a = ap.parse_args(argv)
    if not a.below > 0:
        ap.error(f"--below {a.below}: must be positive")
    report = {}
    for run in a.runs:
        descents = run_descents(run, a.below) if run.is_dir() else []
        if not descents:
            ap.error(f"{run}: no grasping episodes there ({', '.join(GRASPED)}; an eval's episodes/ or demonstrations)")
        report[str(run)] = {"summary": summarize(descents), **({"episodes": descents} if a.json else {})}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
