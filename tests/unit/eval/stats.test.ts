/**
 * The eval's statistics: Wilson intervals on success rates and the exact McNemar test that
 * compares two models on the same episodes, checked against values worked by hand.
 */
import { describe, expect, it } from "vitest";
import type { EpisodeRecord } from "../../../scripts/lib/eval/results.ts";
import {
  compareSides,
  mcnemarExact,
  renderComparison,
  wilsonInterval,
} from "../../../scripts/lib/eval/stats.ts";
import { episode } from "./support.ts";

describe("wilsonInterval", () => {
  it("matches the textbook 95 % interval", () => {
    // 5 of 10: 0.5 ± 1.96·sqrt(0.025 + 0.0096)/1.384 = [0.2366, 0.7634]
    expect(wilsonInterval(5, 10)).toEqual({ low_pct: 23.66, high_pct: 76.34 });
    // 15 of 96, this project's usual count: 0.1695 ± 0.0724
    expect(wilsonInterval(15, 96)).toEqual({ low_pct: 9.7, high_pct: 24.19 });
  });

  it("is not empty at none or all, and stays inside 0–100 %", () => {
    expect(wilsonInterval(0, 2)).toEqual({ low_pct: 0, high_pct: 65.76 });
    expect(wilsonInterval(2, 2)).toEqual({ low_pct: 34.24, high_pct: 100 });
    expect(wilsonInterval(0, 48).high_pct).toBe(7.41);
  });

  it("narrows as episodes grow at the same rate", () => {
    const w = (k: number, n: number) => {
      const i = wilsonInterval(k, n);
      return i.high_pct - i.low_pct;
    };
    expect(w(12, 48)).toBeLessThan(w(6, 24));
    expect(w(24, 96)).toBeLessThan(w(12, 48));
  });

  it("refuses what is not a count", () => {
    expect(() => wilsonInterval(3, 0)).toThrow(/3 of 0/);
    expect(() => wilsonInterval(5, 4)).toThrow(/5 successes out of 4/);
    expect(() => wilsonInterval(1.5, 4)).toThrow(/not a count/);
  });
});

describe("mcnemarExact", () => {
  it("doubles the smaller binomial tail", () => {
    expect(mcnemarExact(0, 5)).toBeCloseTo(2 / 32, 12);
    expect(mcnemarExact(5, 5)).toBeCloseTo(2 / 32, 12);
    // 2 of 10 discordant: 2·(1 + 10 + 45)/1024
    expect(mcnemarExact(2, 10)).toBeCloseTo(112 / 1024, 12);
    expect(mcnemarExact(10, 30)).toBeCloseTo(0.0987, 4);
  });

  it("is 1 for an even split and for no discordant episode", () => {
    expect(mcnemarExact(3, 6)).toBe(1);
    expect(mcnemarExact(0, 0)).toBe(1);
  });

  it("refuses counts that do not fit", () => {
    expect(() => mcnemarExact(4, 3)).toThrow(/4 of 3/);
    expect(() => mcnemarExact(-1, 3)).toThrow();
  });
});

describe("compareSides", () => {
  const run = (outcomes: Record<string, EpisodeRecord["outcome"][]>, seedStart = 0) =>
    Object.entries(outcomes).flatMap(([robot, os]) =>
      os.map((o, i) => episode(robot, "PickCube", seedStart + i, o)),
    );

  it("pairs episodes by (embodiment, task, seed) and counts who alone succeeded", () => {
    const a = run({
      panda: ["success", "success", "success", "timeout"],
      xarm6: ["success", "timeout", "error", "timeout"],
    });
    const b = run({
      panda: ["success", "timeout", "timeout", "timeout"],
      xarm6: ["timeout", "timeout", "success", "timeout"],
    });
    const c = compareSides({ folders: ["a"], episodes: a }, { folders: ["b"], episodes: b });
    expect(c.matched).toBe(8);
    expect(c).toMatchObject({ a_only_success: 3, b_only_success: 1, both_success: 1 });
    expect(c.p_value).toBe(0.625); // 2·(1 + 4)/16
    expect(c.a).toMatchObject({ successes: 4, episodes: 8, success_pct: 50 });
    expect(c.b).toMatchObject({ successes: 2, episodes: 8, success_pct: 25 });
    expect(c.robots).toEqual({
      panda: { matched: 4, a: 3, b: 1 },
      xarm6: { matched: 4, a: 1, b: 1 },
    });
    const md = renderComparison(c);
    expect(md).toMatch(/\| A \| a \| 4 of 8 \| 50\.00 \| 21\.52–78\.48 \|/);
    expect(md).toMatch(
      /A alone succeeded on 3, B alone on 1, both on 1; exact McNemar p = 0\.6250/,
    );
  });

  it("tests only the matched episodes but summarizes each side whole", () => {
    const a = run({ panda: ["success", "success"] });
    const b = run({ panda: ["timeout", "timeout", "success", "success"] });
    const c = compareSides({ folders: ["a"], episodes: a }, { folders: ["b"], episodes: b });
    expect(c.matched).toBe(2);
    expect(c.a_only_success).toBe(2);
    expect(c.b.episodes).toBe(4);
  });

  it("refuses a side that holds one episode twice, and sides with no episode in common", () => {
    const twice = [...run({ panda: ["success"] }), ...run({ panda: ["timeout"] })];
    expect(() =>
      compareSides(
        { folders: ["x", "y"], episodes: twice },
        { folders: ["b"], episodes: run({ panda: ["success"] }) },
      ),
    ).toThrow(/side A \(x, y\) has episode panda\/PickCube\/0 twice/);
    expect(() =>
      compareSides(
        { folders: ["a"], episodes: run({ panda: ["success"] }) },
        { folders: ["b"], episodes: run({ panda: ["success"] }, 100) },
      ),
    ).toThrow(/share no episode/);
  });
});
