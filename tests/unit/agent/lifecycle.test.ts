import { describe, expect, it } from "vitest";
import { AgentLifecycle } from "../../../lib/agent/lifecycle.ts";
import { GoalTracker, outcomeMessage } from "../../../lib/agent/execute.ts";
import { LatencyStat, RateMeter } from "../../../lib/agent/meters.ts";

describe("AgentLifecycle", () => {
  it("goes unconfigured → inactive → active → inactive and reports each change", () => {
    const l = new AgentLifecycle();
    const seen: string[] = [];
    l.onChange((a, b) => seen.push(`${a}>${b}`));
    expect(l.apply("activate").ok).toBe(false);
    expect(l.apply("configure").ok).toBe(true);
    expect(l.apply("activate").ok).toBe(true);
    expect(l.apply("deactivate").ok).toBe(true);
    expect(seen).toEqual(["unconfigured>inactive", "inactive>active", "active>inactive"]);
  });
  it("an estop deactivates and latches until released AND re-activated", () => {
    const l = new AgentLifecycle();
    l.apply("configure");
    l.apply("activate");
    l.estop(true);
    expect(l.state).toBe("inactive");
    const r = l.apply("activate");
    expect(!r.ok && r.error.code).toBe("E_ESTOP");
    l.estop(false);
    expect(l.state).toBe("inactive"); // releasing alone does not resume
    expect(l.apply("activate").ok).toBe(true);
  });
  it("rejects transitions that make no sense", () => {
    const l = new AgentLifecycle();
    expect(l.apply("cleanup").ok).toBe(false);
    l.apply("configure");
    l.apply("activate");
    expect(l.apply("cleanup").ok).toBe(false);
  });
});

describe("GoalTracker", () => {
  it("ends on success reported after the start", () => {
    const g = new GoalTracker(10, 5, true);
    expect(g.poll(11)).toBeNull();
    g.reportSuccess(true);
    expect(g.poll(11.1)).toEqual({ kind: "success" });
  });
  it("times out, saying when no success topic is configured", () => {
    const g = new GoalTracker(0, 2, false);
    const o = g.poll(2)!;
    expect(outcomeMessage(o)).toBe("timeout (no success_topic configured)");
  });
  it("the first ending wins: cancel before a later success", () => {
    const g = new GoalTracker(0, 2, true);
    g.cancel();
    g.reportSuccess(true);
    expect(g.poll(0.5)?.kind).toBe("cancelled");
    const h = new GoalTracker(0, 2, true);
    h.abort("E_ESTOP", "estop raised");
    expect(outcomeMessage(h.poll(0.1)!)).toBe("aborted: E_ESTOP estop raised");
  });
});

describe("meters", () => {
  it("RateMeter measures events per second over its window", () => {
    const r = new RateMeter(2);
    for (let i = 0; i <= 200; i++) r.mark(i * 0.01);
    expect(r.rate(2)).toBeCloseTo(100, 0);
    expect(r.rate(10)).toBe(0);
  });
  it("LatencyStat gives percentiles", () => {
    const l = new LatencyStat(100);
    for (let i = 1; i <= 100; i++) l.add(i);
    expect(l.percentile(50)).toBe(50);
    expect(l.percentile(99)).toBe(99);
    expect(l.last).toBe(100);
  });
});
