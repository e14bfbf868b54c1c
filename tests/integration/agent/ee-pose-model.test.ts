/**
 * An ee_pose model (action rows are TCP poses) over real DDS: the policy solves each row's IK from
 * the previous row's joints and publishes joint-space chunks the controller executes within limits;
 * rows the arm cannot reach fail the chunk (E_IK) and nothing moves on them.
 */
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pose9 } from "../../../embodiments/control/index.ts";
import { forwardKinematics } from "../../../embodiments/kinematics/index.ts";
import { loadEmbodiment } from "../../../embodiments/registry.ts";
import { unwrap } from "../../../lib/errors.ts";
import { Driver, startPair } from "../../support/agent.ts";
import type { Peer } from "../../support/processes.ts";
import { editManifest, makeEePose, scratchModel } from "../../unit/models/support.ts";

const panda = unwrap(loadEmbodiment("panda"));
const HOME_TCP = Array.from(pose9(forwardKinematics(panda, panda.home)));

/** An agent on panda whose model's poses all lie within `half` (m, and rotation units) of `centre`. */
async function start(centre: number[], half: number) {
  const model = await scratchModel();
  await editManifest(model, (m) =>
    makeEePose(
      m,
      "panda",
      centre.map((c) => c - half),
      centre.map((c) => c + half),
    ),
  );
  const pair = await startPair("panda", ["-p", `model:=${model}`, "-p", "intent_period_s:=1.0"]);
  await pair.driver.activate();
  return { ...pair, model };
}

describe.sequential("panda with an ee_pose model", () => {
  const peers: Peer[] = [];
  const models: string[] = [];
  afterAll(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await Promise.all(models.map((m) => rm(m, { recursive: true, force: true })));
  });

  /** Starts the pair before the block's tests; the driver once it is up. */
  const agentWithPosesAround = (centre: number[]) => {
    let d: Driver | null = null;
    beforeAll(async () => {
      const s = await start(centre, 0.02);
      peers.push(s.agent, s.driver.peer);
      models.push(s.model);
      d = s.driver;
    }, 90_000);
    return async () => {
      const driver = d!;
      const t = (
        await driver.cmd<{ t: number }>({ cmd: "instruction", text: "push the cube to the goal" })
      ).t;
      return { d: driver, t };
    };
  };

  describe("poses near the arm", () => {
    const instructed = agentWithPosesAround(HOME_TCP);

    it("become joint chunks the controller executes within limits", async () => {
      const { d, t } = await instructed();
      const s = await d.until((x) => x.chunksSince > 2 && x.trajectoriesSince > 5, 30_000, t);
      expect(s.chunkNamesOk && s.namesOk).toBe(true);
      expect(s.finiteOk && s.limitsOk && s.orderOk).toBe(true);
      expect(s.errorCodes).not.toContain("E_IK");
    }, 60_000);
  });

  describe("poses out of reach", () => {
    const instructed = agentWithPosesAround(HOME_TCP.map((c, i) => (i === 0 ? c + 2.0 : c)));

    it("fail each chunk with E_IK and the arm gets none", async () => {
      const { d, t } = await instructed();
      const s = await d.until((x) => x.lastState?.code === "E_IK", 30_000, t);
      expect(s.lastState?.message).toMatch(/^no chunk: row 0: panda: no solution/);
      await d.sleep(1500);
      const after = await d.stats(t);
      expect(after.chunksSince).toBe(0);
      expect(after.maxMove).toBeLessThan(1e-3);
    }, 60_000);
  });
});
