import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  brakeDistance,
  checkChunk,
  checkTrajectory,
  chooseJerk,
  jointLimits,
  type Chunk,
  type ChunkCheckContext,
} from "../../../embodiments/control/index.ts";
import { lowerSafe } from "../../../embodiments/control/profile.ts";
import { forwardKinematics } from "../../../embodiments/kinematics/index.ts";
import { EMBODIMENTS, chunkFrom, home, tcpDipping } from "./fixtures.ts";

const emb = EMBODIMENTS[0]!; // panda
const limits = jointLimits(emb);
const n = limits.n;

function ctx(over: Partial<ChunkCheckContext> = {}): ChunkCheckContext {
  return {
    emb,
    limits,
    maxHorizon: 64,
    measured: home(emb),
    nowSec: 1,
    lastStampSec: -Infinity,
    staleAfterSec: 0.6,
    futureToleranceSec: 0.05,
    clipMarginRad: 0.01,
    rejectBeyondRad: 0.1,
    maxTimeScale: 2,
    ...over,
  };
}

const still = (stamp = 0.95): Chunk => chunkFrom(emb, stamp, 0.05, 16, (_, o) => o.set(home(emb)));

describe("checkChunk", () => {
  it("accepts a sane chunk unchanged", () => {
    const r = checkChunk(still(), ctx());
    expect(r.result.ok).toBe(true);
    expect(r.result.code).toBeNull();
    expect(r.chunk!.positions).toEqual(still().positions);
  });

  it("rejects wrong lengths with E_CHUNK_SHAPE", () => {
    const c = still();
    for (const bad of [
      { ...c, positions: c.positions.subarray(1) },
      { ...c, gripper: new Float64Array(3) },
      { ...c, horizon: 17 },
      { ...c, velocities: new Float64Array(5) },
      { ...c, dt: 0 },
      { ...c, dt: NaN },
      { ...c, stampSec: Infinity },
    ]) {
      const r = checkChunk(bad, ctx());
      expect(r.chunk).toBeNull();
      expect(r.result.code).toBe("E_CHUNK_SHAPE");
    }
  });

  it("rejects NaN and ±Inf anywhere with E_CHUNK_NONFINITE, naming the joint", () => {
    for (const x of [NaN, Infinity, -Infinity]) {
      const c = still();
      c.positions[3 * n + 2] = x;
      const r = checkChunk(c, ctx());
      expect(r.result.code).toBe("E_CHUNK_NONFINITE");
      expect(r.result.message).toContain(emb.joints[2]!.name);
      const g = still();
      g.gripper[4] = x;
      expect(checkChunk(g, ctx()).result.code).toBe("E_CHUNK_NONFINITE");
    }
  });

  it("clips targets just outside a limit into it (with a margin) and rejects targets far outside", () => {
    // Joint 7 (the flange rotation) moves no TCP position, so only its limit is in play.
    const w = 6;
    const c = still();
    const upper = emb.joints[w]!.position.upper;
    const measured = home(emb);
    measured[w] = upper - 0.02;
    for (let k = 0; k < 16; k++) c.positions[k * n + w] = upper - 0.02 + (0.07 * (k + 1)) / 16;
    const r = checkChunk(c, ctx({ measured }));
    expect(r.result.message).toContain("clipped");
    expect(r.result.ok).toBe(true);
    expect(r.result.code).toBe("E_CHUNK_LIMIT");
    for (let k = 0; k < 16; k++)
      expect(r.chunk!.positions[k * n + w]).toBeLessThanOrEqual(upper - 0.01);
    expect(c.positions[15 * n + w]).toBeGreaterThan(upper); // the input is not mutated
    c.positions[15 * n + w] = upper + 0.5;
    const far = checkChunk(c, ctx({ measured }));
    expect(far.result.ok).toBe(false);
    expect(far.result.code).toBe("E_CHUNK_LIMIT");
    const huge = still();
    huge.positions[0] = 1e300;
    expect(checkChunk(huge, ctx()).result.code).toBe("E_CHUNK_LIMIT");
  });

  it("time-scales a chunk that is a little too fast and rejects one that is far too fast", () => {
    const q0 = home(emb);
    // 1.5× the velocity limit of joint 0: stretched by 1.5.
    const w = 6;
    const v = 1.5 * emb.joints[w]!.velocity;
    // Half a chunk each side of now, so the ±1.5 rad sweep stays inside joint 7's range.
    const c = chunkFrom(emb, 0.95, 0.05, 16, (t, o) => {
      o.set(q0);
      o[w] = q0[w]! + v * (t - 1.4);
    });
    const measured = Float64Array.from(c.positions.subarray(0, n));
    const r = checkChunk(c, ctx({ measured }));
    expect(r.result.message).toContain("time-scaled");
    expect(r.result.ok).toBe(true);
    expect(r.result.scale ?? r.repairs.find((x) => x.scale)?.scale).toBeCloseTo(1.5, 6);
    expect(r.chunk!.dt).toBeCloseTo(0.075, 9);
    const fast = chunkFrom(emb, 0.95, 0.05, 4, (t, o) => {
      o.set(q0);
      o[w] = q0[w]! + 3 * v * (t - 1.075);
    });
    const rf = checkChunk(
      fast,
      ctx({ measured: Float64Array.from(fast.positions.subarray(0, n)) }),
    );
    expect(rf.result.ok).toBe(false);
    expect(rf.result.code).toBe("E_CHUNK_LIMIT");
    expect(rf.result.message).toContain("slower");
  });

  it("rejects a chunk whose target now is further than max_jump from the measured state (E_CHUNK_JUMP)", () => {
    const measured = home(emb);
    measured[1] = measured[1]! + emb.safety.max_jump + 0.05;
    const r = checkChunk(still(), ctx({ measured }));
    expect(r.result.code).toBe("E_CHUNK_JUMP");
    expect(r.result.message).toContain(emb.joints[1]!.name);
  });

  it("rejects out-of-order and future stamps (E_CHUNK_ORDER) and stale ones (E_CHUNK_STALE)", () => {
    expect(checkChunk(still(0.9), ctx({ lastStampSec: 0.9 })).result.code).toBe("E_CHUNK_ORDER");
    expect(checkChunk(still(0.9), ctx({ lastStampSec: 0.95 })).result.code).toBe("E_CHUNK_ORDER");
    expect(checkChunk(still(1.5), ctx()).result.code).toBe("E_CHUNK_ORDER");
    expect(checkChunk(still(0.2), ctx()).result.code).toBe("E_CHUNK_STALE");
    expect(checkChunk(still(0.2), ctx({ staleAfterSec: 10 })).result.code).toBe("E_CHUNK_STALE"); // nothing left ahead
    expect(checkChunk(still(0.6), ctx()).result.ok).toBe(true); // 0.4 s late: half the horizon
  });

  it("rejects a chunk that takes the TCP below the table or out of the workspace box", () => {
    // Panda home points the gripper down above the table; bend the shoulder until it digs in.
    const q = home(emb);
    q[1] = 1.7;
    q[3] = -0.5;
    const measured = Float64Array.from(q);
    const c = chunkFrom(emb, 0.95, 0.05, 16, (_, o) => o.set(q));
    const r = checkChunk(c, ctx({ measured }));
    expect(r.result.ok).toBe(false);
    expect(r.result.code).toBe("E_CHUNK_LIMIT");
    expect(r.result.message).toMatch(/table|workspace/);
  });

  it.each(EMBODIMENTS.map((e) => [e.name, e] as const))(
    "%s: lifts a TCP that dips a little below the table plane, keeping x, y and orientation",
    (_, e) => {
      const q = tcpDipping(e, 0.01);
      const c = chunkFrom(e, 0.95, 0.05, 16, (_, o) => o.set(q));
      const c2 = { ...ctx(), emb: e, limits: jointLimits(e), measured: q };
      const r = checkChunk(c, { ...c2, maxTableLiftM: 0.03 });
      expect(r.result.ok).toBe(true);
      expect(r.repairs.map((x) => x.message).join()).toMatch(
        /lifted 16 point\(s\) up to 0.0(1|099\d*) m/,
      );
      const before = forwardKinematics(e, q);
      const floor = e.safety.table_z + e.safety.table_margin;
      for (let k = 0; k < 16; k++) {
        const after = forwardKinematics(
          e,
          r.chunk!.positions.subarray(k * q.length, (k + 1) * q.length),
        );
        expect(after.position[2]).toBeGreaterThanOrEqual(floor);
        expect(after.position[2]).toBeLessThan(floor + 0.005);
        expect(
          Math.hypot(
            after.position[0]! - before.position[0]!,
            after.position[1]! - before.position[1]!,
          ),
        ).toBeLessThan(1e-3);
        for (let i = 0; i < 9; i++) expect(after.rotation[i]).toBeCloseTo(before.rotation[i]!, 2);
      }
      // without the repair, and beyond its reach, the same dip rejects the chunk
      expect(checkChunk(c, { ...c2, maxTableLiftM: 0 }).result.message).toMatch(/table|workspace/);
      expect(checkChunk(c, { ...c2, maxTableLiftM: 0.005 }).result.message).toMatch(
        /lifts up to 0.005 m/,
      );
    },
  );

  it("lifts only the points that dip, and rejects a dip deeper than the repair", () => {
    const low = tcpDipping(emb, 0.02);
    const high = home(emb);
    const c = chunkFrom(emb, 0.95, 0.05, 16, (t, o) => o.set(t < 0.95 + 0.05 * 8.5 ? high : low));
    const r = checkChunk(c, ctx({ maxTableLiftM: 0.03, maxTimeScale: 50 }));
    expect(r.result.ok).toBe(true);
    expect(r.repairs.map((x) => x.message).join()).toMatch(/lifted 8 point\(s\)/);
    expect(r.chunk!.positions.subarray(0, 8 * n)).toEqual(c.positions.subarray(0, 8 * n));
    const deep = tcpDipping(emb, 0.05);
    const d = checkChunk(
      chunkFrom(emb, 0.95, 0.05, 16, (_, o) => o.set(deep)),
      ctx({ measured: deep, maxTableLiftM: 0.03 }),
    );
    expect(d.chunk).toBeNull();
    expect(d.result.message).toMatch(/at point 0 is 0.0(5|499\d*) m below the table plane/);
  });

  it("never throws, whatever it is given", () => {
    fc.assert(
      fc.property(
        fc.record({
          stampSec: fc.double(),
          dt: fc.double(),
          horizon: fc.integer({ min: -2, max: 70 }),
          positions: fc.float64Array({ maxLength: 200 }),
          gripper: fc.float64Array({ maxLength: 20 }),
        }),
        (c) => {
          const r = checkChunk(c, ctx());
          expect(typeof r.result.ok).toBe("boolean");
          if (!r.result.ok) expect(r.result.code).toMatch(/^E_/);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("checkTrajectory (the last check before output)", () => {
  const jerk = new Float64Array(n).fill(1000);
  const times = Float64Array.of(0.01, 0.02);
  const z = () => new Float64Array(n);
  const at = () => {
    const p = new Float64Array(2 * n);
    p.set(home(emb));
    p.set(home(emb), n);
    return p;
  };

  it("passes a stationary trajectory", () => {
    expect(
      checkTrajectory(
        limits,
        jerk,
        home(emb),
        z(),
        z(),
        times,
        at(),
        new Float64Array(2 * n),
        new Float64Array(2 * n),
        2,
      ).ok,
    ).toBe(true);
  });

  it("fails a point outside a position limit, a velocity over its limit, a jump between points, or non-increasing times", () => {
    const p = at();
    p[n] = emb.joints[0]!.position.upper + 0.01;
    expect(
      checkTrajectory(
        limits,
        jerk,
        home(emb),
        z(),
        z(),
        times,
        p,
        new Float64Array(2 * n),
        new Float64Array(2 * n),
        2,
      ).ok,
    ).toBe(false);
    const v = new Float64Array(2 * n);
    v[0] = 3;
    expect(
      checkTrajectory(limits, jerk, home(emb), z(), z(), times, at(), v, new Float64Array(2 * n), 2)
        .ok,
    ).toBe(false);
    const jump = at();
    jump[0] = jump[0]! + 0.01;
    expect(
      checkTrajectory(
        limits,
        jerk,
        home(emb),
        z(),
        z(),
        times,
        jump,
        new Float64Array(2 * n),
        new Float64Array(2 * n),
        2,
      ).message,
    ).toContain("not reachable");
    expect(
      checkTrajectory(
        limits,
        jerk,
        home(emb),
        z(),
        z(),
        Float64Array.of(0.01, 0.01),
        at(),
        new Float64Array(2 * n),
        new Float64Array(2 * n),
        2,
      ).ok,
    ).toBe(false);
  });
});

describe("the limiter core", () => {
  it("brakeDistance matches a fine simulation of maximal braking", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -3, max: 3, noNaN: true }),
        fc.double({ min: -10, max: 10, noNaN: true }),
        (v, a) => {
          const A = 10,
            J = 500;
          let p = 0,
            vv = v,
            aa = a,
            maxP = 0;
          const dt = 1e-5;
          for (let i = 0; i < 200000 && (vv > 0 || aa > 0); i++) {
            const u = aa > -A ? -J : 0;
            p += vv * dt + (aa * dt * dt) / 2 + (u * dt * dt * dt) / 6;
            vv += aa * dt + (u * dt * dt) / 2;
            aa = Math.max(-A, aa + u * dt);
            maxP = Math.max(maxP, p);
          }
          expect(brakeDistance(v, a, A, J)).toBeCloseTo(maxP, 4);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("chooseJerk keeps a joint that starts safe within its limits, whatever the tracking law asks (overshoot only by rounding of a step, < the 2 mrad planning margin)", () => {
    let worst = 0;
    fc.assert(
      fc.property(
        fc.double({ min: -0.9, max: 0.9, noNaN: true }),
        fc.double({ min: -2, max: 2, noNaN: true }),
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), {
          minLength: 50,
          maxLength: 300,
        }),
        (p0, v0, wishes) => {
          const A = 10,
            J = 500,
            V = 3,
            h = 1 / 150,
            lo = -1,
            hi = 1;
          let p = p0,
            v = v0,
            a = 0;
          // Start only from states that can still stop in time.
          if (p + brakeDistance(v, a, A, J) > hi || !lowerSafe(p, v, a, 0, h, lo, V, A, J)) return;
          for (const w of wishes) {
            const u = chooseJerk(p, v, a, h, w, lo, hi, V, A, J);
            p += v * h + (a * h * h) / 2 + (u * h * h * h) / 6;
            v += a * h + (u * h * h) / 2;
            a += u * h;
            worst = Math.max(worst, p - hi, lo - p);
            if (!(
              Math.abs(u) <= J &&
              Math.abs(v) <= V * (1 + 1e-9) &&
              Math.abs(a) <= A * (1 + 1e-9) &&
              p <= hi + 2e-3 &&
              p >= lo - 2e-3
            ))
              throw new Error(`state left its limits: p ${p}, v ${v}, a ${a}, u ${u}`);
          }
        },
      ),
      { numRuns: 200 },
    );
    console.info(
      `chooseJerk: worst excursion past the planning bound ${worst.toExponential(2)} rad`,
    );
  });
});
