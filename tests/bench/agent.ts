/**
 * Agent benchmarks over real DDS (loopback), the agent as its own process (bin/blm-agent.js)
 * and the test driver (tests/support/agent-driver.ts) as the robot:
 *  - control timer period jitter (p50/p99/max of |period − nominal|) at 100 Hz and 500 Hz,
 *    idle (active, holding, no instruction) and while chunks are sampled (instruction given),
 *    from the controller's trajectory header stamps (its ROS time at each tick);
 *  - camera ingest: 2 × 640×480 rgb8 at 30 Hz, frames the agent accepted vs frames published;
 *  - observation stamp → first trajectory point built from its chunk, p50/p99, test model.
 * Writes out/bench/agent.json. Figures, not assertions.
 *
 *   scripts/with-env.sh npx tsx tests/bench/agent.ts [--seconds 5]
 */
import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism, cpus } from "node:os";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  Driver,
  TRAJECTORY_TOPIC,
  agentArgs,
  agentReady,
  startAgent,
  uniqueNamespace,
} from "../support/agent.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const r3 = (x: number) => Math.round(x * 1000) / 1000;

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

function jitter(stamps: number[], rateHz: number) {
  const nominal = 1 / rateHz;
  const dev: number[] = [];
  const periods: number[] = [];
  for (let i = 1; i < stamps.length; i++) {
    const p = stamps[i]! - stamps[i - 1]!;
    if (!(p > 0)) continue;
    periods.push(p);
    dev.push(Math.abs(p - nominal) * 1000);
  }
  dev.sort((a, b) => a - b);
  const mean = periods.reduce((a, b) => a + b, 0) / Math.max(1, periods.length);
  return {
    ticks: stamps.length,
    mean_period_ms: r3(mean * 1000),
    achieved_hz: r3(1 / mean),
    jitter_p50_ms: r3(pct(dev, 50)),
    jitter_p99_ms: r3(pct(dev, 99)),
    jitter_max_ms: r3(dev.at(-1) ?? NaN),
  };
}

async function session(opts: {
  rateHz: number;
  seconds: number;
  width?: number;
  height?: number;
  imageHz?: number;
}) {
  const ns = uniqueNamespace(`bench${opts.rateHz}`);
  const agent = startAgent(
    agentArgs(ns, "panda", [
      "-p",
      `control_rate_hz:=${opts.rateHz}.0`,
      "-p",
      "chunk_rate_hz:=10.0",
      "-p",
      "intent_period_s:=1.0",
      "-p",
      "autostart:=true",
    ]),
  );
  const d = new Driver({
    embodiment: "panda",
    ns,
    trajectoryTopic: TRAJECTORY_TOPIC,
    width: opts.width ?? 128,
    height: opts.height ?? 128,
    imageHz: opts.imageHz ?? 30,
  });
  try {
    await Promise.all([agentReady(agent), d.ready()]);
    await d.until((s) => s.trajectories > 20, 20_000);
    await d.sleep(1500); // past the ramp-in
    await d.cmd({ cmd: "stamps" }, "stamps");
    await d.sleep(opts.seconds * 1000);
    const idle = (await d.cmd<{ stamps: number[] }>({ cmd: "stamps" }, "stamps")).stamps;
    await d.cmd({ cmd: "instruction", text: "pick up the cube" });
    await d.until((s) => s.chunks > 3, 20_000);
    const f0 = await d.stats();
    await d.cmd({ cmd: "stamps" }, "stamps");
    await d.sleep(opts.seconds * 1000);
    const sampling = (await d.cmd<{ stamps: number[] }>({ cmd: "stamps" }, "stamps")).stamps;
    await d.sleep(1200); // one more diagnostics period
    const f1 = await d.stats();
    const v = f1.diagValues;
    const key = Object.keys(v).find((k) => k.endsWith("controller/observation_to_command_p50_s"))!;
    const prefix = key.slice(0, key.indexOf(": controller/"));
    const received = (cam: string) => Number(v[`${prefix}: observer/${cam}_received`] ?? NaN);
    return {
      idle: jitter(idle, opts.rateHz),
      sampling: jitter(sampling, opts.rateHz),
      chunks: f1.chunks - f0.chunks,
      ingest: {
        published_per_camera: f1.framesPublished / 2,
        received: { front: received("front"), wrist: received("wrist") },
        received_rate_hz: {
          front: Number(v[`${prefix}: observer/front_rate_hz`]),
          wrist: Number(v[`${prefix}: observer/wrist_rate_hz`]),
        },
      },
      observation_to_command: {
        p50_ms: r3(Number(v[`${prefix}: controller/observation_to_command_p50_s`]) * 1000),
        p99_ms: r3(Number(v[`${prefix}: controller/observation_to_command_p99_s`]) * 1000),
        samples: Number(v[`${prefix}: controller/observation_to_command_samples`]),
      },
    };
  } finally {
    await Promise.all([agent.stop(), d.peer.stop()]);
  }
}

export async function runAgentBench(opts: { seconds?: number; out?: string } = {}) {
  const seconds = opts.seconds ?? 5;
  const out = resolve(ROOT, opts.out ?? "out/bench/agent.json");
  const at100 = await session({ rateHz: 100, seconds });
  const at500 = await session({ rateHz: 500, seconds });
  const camera = await session({ rateHz: 100, seconds, width: 640, height: 480, imageHz: 30 });
  const report = {
    bench: "agent",
    machine: {
      cpus: availableParallelism(),
      model: cpus()[0]?.model ?? "unknown",
      node: process.version,
    },
    model: "models/test-tiny",
    embodiment: "panda",
    seconds_per_phase: seconds,
    control_timer: {
      hz_100: { idle: at100.idle, sampling: at100.sampling, chunks_during_sampling: at100.chunks },
      hz_500: { idle: at500.idle, sampling: at500.sampling, chunks_during_sampling: at500.chunks },
    },
    camera_ingest_2x640x480_rgb8_30hz: {
      ...camera.ingest,
      note: "frames accepted by the agent's observer vs frames published per camera over the whole session (best-effort sensor QoS, depth 2)",
    },
    observation_to_first_trajectory_point: {
      ...at100.observation_to_command,
      control_rate_hz: 100,
    },
  };
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify(report, null, 2) + "\n");
  return report;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { seconds: { type: "string" }, out: { type: "string" } },
  });
  const r = await runAgentBench({
    seconds: values.seconds ? Number(values.seconds) : undefined,
    out: values.out,
  });
  console.log(JSON.stringify(r, null, 2));
}
