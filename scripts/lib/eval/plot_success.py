"""The eval's success plot: ``python plot_success.py TABLE_JSON OUT_PNG``.

A grouped bar chart of success % by task (groups, plus the robots' averages) and robot (bars),
from the eval's table.json (scripts/lib/eval/table.ts); cells where no episode ran are left out.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")  # files only: no display here
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402


def main(table_json: str, out_png: str) -> int:
    t = json.loads(open(table_json).read())
    robots, tasks = t["robots"], t["tasks"]
    groups = [*tasks, "Average"]
    width = 0.8 / max(1, len(robots))
    fig, ax = plt.subplots(figsize=(11, 4.8), dpi=110)
    for i, robot in enumerate(robots):
        xs, ys = [], []
        for g, task in enumerate(groups):
            v = t["robot_average"][robot] if task == "Average" else (t["cells"][task][robot] or {}).get("success_pct")
            if v is not None:
                xs.append(g + (i - (len(robots) - 1) / 2) * width)
                ys.append(v)
        bars = ax.bar(xs, ys, width, color=f"C{i}")
        ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylim(0, 118)  # headroom above 100 % for the legend
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("success (%)")
    overall = t["overall_average"]
    ax.set_title(f"Closed-loop success by task and robot: {t['title']} "
                 f"(overall {'n/a' if overall is None else f'{overall:.2f}'}%, {t['episodes']} episodes)")
    # Handles of its own: a robot without episodes has no bar to take its colour from.
    handles = [Patch(color=f"C{i}", label=robot) for i, robot in enumerate(robots)]
    ax.legend(handles=handles, ncols=len(robots), loc="upper right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
