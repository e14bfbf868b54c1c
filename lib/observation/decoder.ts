/**
 * Compressed camera images decoded off the main thread (DESIGN decision 10): rclnodejs and the
 * control timer share the main event loop, and a large jpeg takes longer to decode than a control
 * period. One worker thread per process decodes every camera's frames, one frame per camera at a
 * time. A frame that arrives while its camera's previous one is still decoding waits in a
 * one-frame slot; a newer frame replaces it and the older one counts as dropped, so a camera that
 * publishes faster than it decodes costs latency of at most one frame and bounded memory.
 */
import { performance } from "node:perf_hooks";
import { fail, fromWire, type Result, type WireResult } from "../errors.ts";
import { LatencyStat } from "../agent/meters.ts";
import type { RawImage } from "../../models/runtime/image.ts";
import { WorkerHost, type WorkerTask } from "../../models/runtime/session.ts";
import type { CompressedLike } from "./compressed.ts";

const DECODER_MODULE = new URL(
  `./compressed${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`,
  import.meta.url,
).href;

export type DecodedSink = (camera: string, image: Result<RawImage>, stampSec: number) => void;

interface Frame {
  readonly msg: CompressedLike;
  readonly stampSec: number;
}

interface CameraSlot {
  busy: boolean;
  pending: Frame | null;
  decoded: number;
  dropped: number;
}

export interface DecoderCounts {
  decoded: number;
  dropped: number;
}

export class CompressedDecoder {
  private readonly host = new WorkerHost();
  private task: Promise<WorkerTask> | undefined;
  private readonly cams = new Map<string, CameraSlot>();
  private closed = false;
  /** Post to result, seconds: queueing in the worker included. */
  readonly latency = new LatencyStat();

  constructor(
    private readonly sink: DecodedSink,
    private readonly maxPixels?: number,
  ) {
    // Started now, beside the model's loading, so that the first frames find it ready; a failure
    // is reported with the first frame.
    this.load().catch(() => undefined);
  }

  private load(): Promise<WorkerTask> {
    return (this.task ??= this.host.loadTask(DECODER_MODULE, "createCompressedDecoder", [
      this.maxPixels,
    ]));
  }

  /** Queues one frame; its result reaches the sink later, in order per camera. */
  submit(camera: string, msg: CompressedLike, stampSec: number): void {
    if (this.closed) return; // a call now would start a fresh worker
    let s = this.cams.get(camera);
    if (!s) {
      s = { busy: false, pending: null, decoded: 0, dropped: 0 };
      this.cams.set(camera, s);
    }
    // A copy with a buffer of its own: the message's array may be a view on a larger one, and
    // posting a view clones its whole buffer.
    const data = msg.data instanceof Uint8Array ? msg.data.slice() : Uint8Array.from(msg.data);
    const frame = { msg: { format: msg.format, data }, stampSec };
    if (s.busy) {
      if (s.pending) s.dropped++;
      s.pending = frame;
      return;
    }
    this.run(camera, s, frame);
  }

  private run(camera: string, s: CameraSlot, frame: Frame): void {
    s.busy = true;
    void this.decode(camera, frame.msg).then((r) => {
      if (this.closed) return;
      s.decoded++;
      this.sink(camera, r, frame.stampSec);
      const next = s.pending;
      s.pending = null;
      if (next) this.run(camera, s, next);
      else s.busy = false;
    });
  }

  /** Decodes one image in the worker; the same Result decodeCompressed returns on this thread. */
  async decode(camera: string, msg: CompressedLike): Promise<Result<RawImage>> {
    const t0 = performance.now();
    const loading = this.load();
    let task: WorkerTask;
    try {
      task = await loading;
    } catch (e) {
      // Kept failed: reloading at every frame would restart a worker at camera rate.
      return fail(
        "E_CONFIG",
        `camera ${camera}: the image decode worker does not start: ${(e as Error).message}`,
        { camera },
      );
    }
    try {
      const r = (await task.call("decode", camera, msg)) as WireResult<RawImage>;
      this.latency.add((performance.now() - t0) / 1e3);
      return fromWire(r);
    } catch (e) {
      // The worker died (its replacement has no decoder yet): load it again for the next frame.
      if (this.task === loading) this.task = undefined;
      return fail(
        "E_CONFIG",
        `camera ${camera}: image decode worker failed: ${(e as Error).message}`,
        {
          camera,
        },
      );
    }
  }

  counts(camera: string): DecoderCounts {
    const s = this.cams.get(camera);
    return { decoded: s?.decoded ?? 0, dropped: s?.dropped ?? 0 };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.host.close();
  }
}
