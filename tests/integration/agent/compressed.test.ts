/**
 * image_transport compressed over real DDS: the driver publishes sensor_msgs/CompressedImage
 * (front jpeg, wrist png) on camera/<name>/image_raw/compressed, the agent decodes them in its
 * decode worker and drives the arm. A corrupt, unsupported or empty frame marks its camera invalid
 * with the specific code and a diagnostic naming the problem, and no chunk is built from it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Driver, startDriving } from "../../support/agent.ts";
import type { Peer } from "../../support/processes.ts";

let agent: Peer;
let d: Driver;

beforeAll(async () => {
  ({ agent, driver: d } = await startDriving(
    "panda",
    // timeouts as loose as the embodiment tests': a loaded machine makes inputs late, not bad
    [
      "-p",
      "image_transport:=compressed",
      "-p",
      "joint_state_timeout_s:=0.5",
      "-p",
      "intent_period_s:=1.0",
    ],
    { compressed: true },
  ));
}, 90_000);

afterAll(async () => {
  await Promise.all([agent?.stop(), d?.peer.stop()]);
});

const observerValue = (values: Record<string, string>, key: string) =>
  Object.entries(values).find(([k]) => k.endsWith(`observer/${key}`))?.[1];

describe("the agent on compressed images (jpeg and png)", () => {
  it("decodes both cameras and drives the arm: intents, chunks, limit-respecting trajectories", async () => {
    const t0 = (await d.cmd<{ t: number }>({ cmd: "reset" }, "reset")).t;
    await d.sleep(3000);
    const s = await d.stats(t0);
    console.info(
      `compressed: ${s.trajectoriesSince} trajectories, ${s.chunksSince} chunks, ${s.intents} intents; ` +
        `moved ${s.maxMove.toFixed(3)} rad; errors ${s.errorCodes.join(",")}; state ${JSON.stringify(s.lastState)}; ` +
        `observer ${JSON.stringify(Object.fromEntries(Object.entries(s.diagValues).filter(([k]) => k.includes("observer"))))}`,
    );
    expect(s.violations).toEqual([]);
    expect(s.namesOk && s.orderOk && s.limitsOk && s.finiteOk && s.chunkNamesOk).toBe(true);
    expect(s.intents).toBeGreaterThanOrEqual(1);
    expect(s.chunksSince).toBeGreaterThan(3);
    expect(s.trajectoriesSince).toBeGreaterThan(10);
    expect(s.maxMove).toBeGreaterThan(0.01); // DESIGN decision 15: the arm actually moves
    expect(s.errorCodes.filter((c) => /E_IMAGE_(ENCODING|EMPTY|SIZE)/.test(c))).toEqual([]);
    for (const cam of ["front", "wrist"]) {
      expect(Number(observerValue(s.diagValues, `${cam}_received`))).toBeGreaterThan(0);
      expect(Number(observerValue(s.diagValues, `${cam}_rejected`))).toBe(0);
      expect(Number(observerValue(s.diagValues, `${cam}_decode_dropped`))).toBeGreaterThanOrEqual(
        0,
      );
    }
  }, 30_000);

  const cases: Array<[string, Record<string, string>, string, string]> = [
    ["corrupt jpeg", { front: "corrupt" }, "E_IMAGE_ENCODING", "camera front: cannot decode jpeg"],
    ["corrupt png", { wrist: "corrupt" }, "E_IMAGE_ENCODING", "camera wrist: cannot decode png"],
    [
      "unsupported format",
      { front: "bad_encoding" },
      "E_IMAGE_ENCODING",
      "camera front: unsupported compressed format 'bmp'",
    ],
    ["empty data", { wrist: "empty" }, "E_IMAGE_EMPTY", "camera wrist: empty compressed image"],
  ];
  for (const [name, camera, code, text] of cases) {
    it(`${name} → ${code} naming the problem, no chunk from the bad frames, recovers`, async () => {
      await d.healthy();
      const { s, after } = await d.fault({ camera }, code);
      expect(s.errorCodes).toContain(code);
      expect(after.chunksSince).toBe(0);
      const diag = `${code}: ${text}`;
      await d.until((x) => (observerValue(x.diagValues, "last_error") ?? "").includes(diag), 5000);
      expect(after.finiteOk && after.limitsOk && after.orderOk).toBe(true);
      await d.healthy();
    }, 40_000);
  }
});
