/**
 * The eval's table (BLM1's shape: tasks × robots, robot averages, overall average) and its
 * markdown, built from crafted results.
 */
import { describe, expect, it } from "vitest";
import type { EpisodeRecord, EvalResults } from "../../../scripts/lib/eval/results.ts";
import { buildTable, renderMarkdown, TASK_NAMES } from "../../../scripts/lib/eval/table.ts";
import { episode } from "./support.ts";

const config = {
  model: "blm-tiny",
  ablation: null,
  timeout_s: 20,
  real_time_factor: 1,
  params_file: null,
};

describe("buildTable", () => {
  it("gives success % per (task, robot), each robot's average over its tasks and the mean of those", () => {
    const episodes: EpisodeRecord[] = [];
    // panda: PickCube 3/4 (75 %), PushCube 1/4 (25 %); xarm6: PickCube 2/2 (100 %), an error counts as a failure on PushCube.
    ["success", "success", "success", "timeout"].forEach((o, i) =>
      episodes.push(
        episode("panda", "PickCube", 100_000 + i, o as EpisodeRecord["outcome"], 2 + i),
      ),
    );
    ["timeout", "success", "timeout", "timeout"].forEach((o, i) =>
      episodes.push(episode("panda", "PushCube", 100_000 + i, o as EpisodeRecord["outcome"])),
    );
    episodes.push(episode("xarm6", "PickCube", 100_000, "success"));
    episodes.push(episode("xarm6", "PickCube", 100_001, "success"));
    episodes.push(episode("xarm6", "PushCube", 100_000, "error"));
    const t = buildTable({ config, episodes });

    expect(t.tasks).toEqual([...TASK_NAMES]);
    expect(t.robots).toEqual(["panda", "xarm6", "xarm7", "widowx_ai"]);
    expect(t.cells.PickCube!.panda).toEqual({
      successes: 3,
      episodes: 4,
      success_pct: 75,
      mean_time_to_success_s: 3, // (2 + 3 + 4) / 3
    });
    expect(t.cells.PushCube!.panda!.success_pct).toBe(25);
    expect(t.cells.PushCube!.xarm6).toMatchObject({ successes: 0, episodes: 1, success_pct: 0 });
    expect(t.cells.PushCube!.xarm6!.mean_time_to_success_s).toBeNull();
    expect(t.cells.StackCube!.panda).toBeNull();
    expect(t.cells.PickCube!.xarm7).toBeNull();
    expect(t.robot_average).toEqual({ panda: 50, xarm6: 50, xarm7: null, widowx_ai: null });
    expect(t.overall_average).toBe(50);
    expect(t.episodes).toBe(11);
    expect(t.seeds).toEqual({ first: 100_000, last: 100_003 });
    expect(t.title).toBe("blm-tiny");
  });

  it("rounds to two decimals like BLM1's table, and reproduces its overall average from its robot averages", () => {
    const episodes = [0, 1, 2].map((i) =>
      episode("panda", "PickCube", i, i === 0 ? "success" : "timeout"),
    );
    expect(buildTable({ config, episodes }).cells.PickCube!.panda!.success_pct).toBe(33.33);
    // A full table: each robot's cells equal BLM1's robot averages (×3 to be exact in %).
    const blm1 = { panda: 84.67, xarm6: 80.33, xarm7: 74.67, widowx_ai: 63.67 };
    const full: EpisodeRecord[] = [];
    for (const [robot, avg] of Object.entries(blm1))
      for (const task of TASK_NAMES)
        for (let s = 0; s < 300; s++)
          full.push(episode(robot, task, s, s < Math.round(avg * 3) ? "success" : "timeout"));
    const t = buildTable({ config, episodes: full });
    expect(t.robot_average).toEqual(blm1);
    expect(t.overall_average).toBe(75.84); // (84.67 + 80.33 + 74.67 + 63.67) / 4 = 75.835
  });

  it("has no averages without episodes", () => {
    const t = buildTable({ config, episodes: [] });
    expect(t.overall_average).toBeNull();
    expect(Object.values(t.robot_average)).toEqual([null, null, null, null]);
    expect(t.seeds).toBeNull();
  });
});

describe("renderMarkdown", () => {
  const episodes = [
    episode("panda", "PickCube", 100_000, "success"),
    episode("panda", "PickCube", 100_001, "timeout"),
    episode("widowx_ai", "LiftPegUpright", 100_000, "timeout"),
  ];

  it("has one row per task, one column per robot, an average row and the overall average", () => {
    const md = renderMarkdown(buildTable({ config, episodes }));
    const rows = md.split("\n").filter((l) => l.startsWith("| "));
    expect(rows[0]).toBe("| Task | panda | xarm6 | xarm7 | widowx_ai |");
    expect(rows.slice(1).map((r) => r.split("|")[1]!.trim())).toEqual([
      ...TASK_NAMES,
      "**Average**",
    ]);
    expect(rows[1]).toBe("| PickCube | 50.00 (1/2) | — | — | — |");
    expect(rows[6]).toBe("| LiftPegUpright | — | — | — | 0.00 (0/1) |");
    expect(rows[7]).toBe("| **Average** | **50.00** | **—** | **—** | **0.00** |");
    expect(md).toContain(
      "Overall average: **25.00%** (1 of 3 episodes; 95 % interval 6.15–79.23, Wilson).",
    );
    expect(md).toContain("3 episodes through /blm/execute (seeds 100000–100001)");
    expect(md).toMatch(
      /panda 84\.67, xarm6 80\.33, xarm7 74\.67, widowx_ai 63\.67; average 75\.83/,
    );
    expect(md).not.toMatch(/ablation/i);
    expect(md).not.toMatch(/Agent params/);
  });

  it("names the agent's params file when it was not launch/params/sim.yaml", () => {
    const t = buildTable({ config: { ...config, params_file: "/p/latch.yaml" }, episodes });
    expect(t.params_file).toBe("/p/latch.yaml");
    expect(renderMarkdown(t)).toMatch(
      /^Agent params: `\/p\/latch\.yaml` \(not launch\/params\/sim\.yaml\)\.$/m,
    );
  });

  it("marks the blank-camera ablation in the title and the text", () => {
    const results: EvalResults = { config: { ...config, ablation: "blank-cameras" }, episodes };
    const t = buildTable(results);
    expect(t.ablation).toBe("blank-cameras");
    const md = renderMarkdown(t);
    expect(md.split("\n")[0]).toBe("# Closed-loop success (%): blm-tiny, ablation: blank cameras");
    expect(md).toMatch(/\*\*Ablation\*\*: the same episodes with every camera image black/);
  });
});
