import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unwrap } from "../../../../lib/errors.ts";
import { createLogger } from "../../../../lib/log.ts";
import { QwenBackbone } from "../../../../models/runtime/qwen/backbone.ts";
import { ticksDuring } from "../../../support/event-loop.ts";
import { QWEN_DIR, syntheticImage } from "./support.ts";

/**
 * DESIGN decision 10: with `threading: "worker"` the Qwen preprocessing (smart resize, bicubic,
 * normalization, patches, window index, M-RoPE ids, tokenization) runs in the inference worker
 * with the graphs, so the main thread's event loop keeps turning during an encode. Counts are
 * loose on purpose (a timer that fires at all during a multi-image encode), not timings.
 */
const log = createLogger("test", "silent");

describe("QwenBackbone encode in the worker thread", () => {
  let worker: QwenBackbone;
  let inline: QwenBackbone;
  beforeAll(async () => {
    worker = unwrap(
      await QwenBackbone.load(QWEN_DIR, {
        session: { execution_provider: "cpu", threading: "worker" },
        logger: log,
      }),
    );
    inline = unwrap(
      await QwenBackbone.load(QWEN_DIR, {
        session: { execution_provider: "cpu", threading: "inline" },
        logger: log,
      }),
    );
  });
  afterAll(async () => {
    await worker?.dispose();
    await inline?.dispose();
  });

  // large camera frames: the bicubic downscale to the pixel budget dominates the encode
  const images = [1, 2, 3, 4].map((s) => syntheticImage(960, 1280, s));
  const req = { images, instruction: "pick up the red cube and place it on the green one" };

  it("prepares in the worker: timers fire during the preparation (none can inline)", async () => {
    unwrap(await worker.prepareOffThread(req)); // warm-up: the worker loads the module and tokenizer
    const off = await ticksDuring(async () => unwrap(await worker.prepareOffThread(req)));
    const on = await ticksDuring(async () => unwrap(inline.prepare(req)));
    expect(off).toBeGreaterThanOrEqual(3);
    expect(on).toBe(0); // synchronous on the main thread: the loop cannot turn
  });

  it("keeps the event loop turning during a whole encode", async () => {
    await worker.encode(req);
    const ticks = await ticksDuring(async () => {
      const hidden = unwrap(await worker.encode(req));
      expect(hidden.length).toBeGreaterThan(0);
    });
    expect(ticks).toBeGreaterThanOrEqual(3);
  });

  it("prepares exactly what the inline path prepares, and gives the same hidden states", async () => {
    const off = unwrap(await worker.prepareOffThread(req));
    const on = unwrap(inline.prepare(req));
    expect(off.ids).toEqual(on.ids);
    expect(off.grids).toEqual(on.grids);
    expect(Buffer.from(off.pixels.buffer).equals(Buffer.from(on.pixels.buffer))).toBe(true);
    expect(off.positionIds).toEqual(on.positionIds);
    expect(off.vision).toEqual(on.vision);
    const a = unwrap(await worker.encode(req));
    const b = unwrap(await inline.encode(req));
    expect(a.states).toEqual(b.states);
  });

  it("returns preprocessing errors from the worker with their codes", async () => {
    const img = syntheticImage(64, 64, 0);
    const r = await worker.encode({
      images: [{ ...img, data: img.data.subarray(0, 10) }],
      instruction: "pick up the red cube",
    });
    expect(!r.ok && r.error.code).toBe("E_IMAGE_SIZE");
    expect(!r.ok && r.error.message).toMatch(/^E_IMAGE_SIZE: camera image 0: /);
  });
});
