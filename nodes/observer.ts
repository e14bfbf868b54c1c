/**
 * The observer: subscribes the cameras (sensor_msgs/Image or CompressedImage, sensor-data QoS)
 * and the joint states, hands each message to the pure checks in lib/observation, and keeps the
 * latest observation in an ObservationStore. Problems are logged once per change. Compressed
 * images are decoded in a worker thread (CompressedDecoder) and reach the store when decoded.
 * Run alone (`blm-agent observer`) it is an input monitor: /blm/state and /diagnostics only.
 */
import type rclnodejs from "rclnodejs";
import {
  CompressedDecoder,
  JointStateMatcher,
  ObservationStore,
  checkImage,
} from "../lib/observation/index.ts";
import { RateMeter } from "../lib/agent/meters.ts";
import {
  cameraTopic,
  fmt,
  qosSensor,
  relative,
  toSec,
  type AgentContext,
  type ComponentStatus,
  type StatusSource,
} from "./ros.ts";

export interface ObserverOptions {
  cameras: boolean;
  joints: boolean;
}

export class Observer implements StatusSource {
  readonly store: ObservationStore;
  private readonly matcher: JointStateMatcher;
  private readonly rates = new Map<string, RateMeter>();
  private readonly subs: rclnodejs.Subscription[] = [];
  private readonly decoder: CompressedDecoder | null;

  constructor(
    private readonly ctx: AgentContext,
    readonly opts: ObserverOptions,
  ) {
    const { params, emb, node, log } = ctx;
    this.store = new ObservationStore(opts.cameras ? params.cameras : [], {
      imageTimeoutSec: params.image_timeout_s,
      jointTimeoutSec: params.joint_state_timeout_s,
      requireImages: opts.cameras,
      requireJoints: opts.joints,
    });
    this.matcher = new JointStateMatcher(emb);
    this.store.problems$.subscribe((p) => {
      log.warn({ code: p.code, source: p.source }, p.message);
      ctx.bus.errors$.next({ code: p.code, message: p.message, source: p.source });
    });
    const decoder =
      opts.cameras && params.image_transport === "compressed"
        ? new CompressedDecoder((cam, image, stampSec) => this.store.putImage(cam, image, stampSec))
        : null;
    this.decoder = decoder;
    if (opts.cameras) {
      for (const cam of params.cameras) {
        const rate = new RateMeter(2);
        this.rates.set(cam, rate);
        const topic = cameraTopic(cam, params.image_transport);
        if (!decoder) {
          this.subs.push(
            node.createSubscription(
              "sensor_msgs/msg/Image",
              topic,
              { qos: qosSensor() },
              (msg: rclnodejs.sensor_msgs.msg.Image) => {
                const now = ctx.now();
                rate.mark(now);
                this.store.putImage(cam, checkImage(cam, msg), stampOr(msg.header.stamp, now));
              },
            ),
          );
        } else {
          this.subs.push(
            node.createSubscription(
              "sensor_msgs/msg/CompressedImage",
              topic,
              { qos: qosSensor() },
              (msg: rclnodejs.sensor_msgs.msg.CompressedImage) => {
                const now = ctx.now();
                rate.mark(now);
                decoder.submit(cam, msg, stampOr(msg.header.stamp, now));
              },
            ),
          );
        }
      }
    }
    if (opts.joints) {
      const rate = new RateMeter(2);
      this.rates.set("joint_states", rate);
      this.subs.push(
        node.createSubscription(
          "sensor_msgs/msg/JointState",
          relative(emb.driver.joint_states_topic),
          { qos: qosSensor(10) },
          (msg: rclnodejs.sensor_msgs.msg.JointState) => {
            const now = ctx.now();
            rate.mark(now);
            this.store.putJoints(this.matcher.match(msg, stampOr(msg.header.stamp, now)));
          },
        ),
      );
    }
  }

  status(nowSec: number): ComponentStatus {
    const p = this.store.check(nowSec);
    if (p) this.store.note(p);
    const values: Record<string, string | number> = {};
    for (const [k, r] of this.rates) values[`${k}_rate_hz`] = Number(r.rate(nowSec).toFixed(2));
    for (const [k, c] of Object.entries(this.store.counts())) {
      values[`${k}_received`] = c.good;
      values[`${k}_rejected`] = c.bad;
    }
    if (this.decoder) {
      for (const cam of this.store.cameras)
        values[`${cam}_decode_dropped`] = this.decoder.counts(cam).dropped;
      values.decode_latency_p50_s = fmt(this.decoder.latency.percentile(50));
    }
    const last = this.store.lastProblem;
    return {
      name: "observer",
      level: p ? 2 : 0,
      message: p ? `${p.code}: ${p.message}` : "observation valid",
      problem: p ? { code: p.code, message: p.message } : null,
      lastError: last ? { code: last.code, message: last.message } : null,
      values,
    };
  }

  async dispose(): Promise<void> {
    await this.decoder?.close();
  }
}

/** A header stamp in seconds; an unset stamp (0) counts as received now. */
function stampOr(stamp: { sec: number; nanosec: number }, nowSec: number): number {
  const s = toSec(stamp);
  return s > 0 ? s : nowSec;
}
