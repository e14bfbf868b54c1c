/**
 * Messages cross real DDS between separate processes (loopback only, a per-run domain id):
 * rclnodejs to rclnodejs for the sensor, trajectory and blm_msgs types, and rclpy to and
 * from rclnodejs, so topic-level integration with Python ROS stacks holds.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { jsPeer, pyPeer, type Peer } from "../support/processes.ts";
import { toWireJson, type WireJson } from "../support/wire-json.ts";

const f32 = (xs: number[]) => xs.map(Math.fround);
const stamp = { sec: 1732480000, nanosec: 123456789 };

function rgbImage(width: number, height: number): WireJson {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 7)) & 0xff;
  return toWireJson({
    header: { stamp, frame_id: "front_camera_optical_frame" },
    height,
    width,
    encoding: "rgb8",
    is_bigendian: 0,
    step: width * 3,
    data,
  });
}

const messages: Record<string, WireJson> = {
  "sensor_msgs/msg/Image": rgbImage(640, 480),
  "sensor_msgs/msg/JointState": {
    header: { stamp, frame_id: "" },
    name: [
      "panda_joint1",
      "panda_joint2",
      "panda_joint3",
      "panda_joint4",
      "panda_joint5",
      "panda_joint6",
      "panda_joint7",
    ],
    position: [
      0, 0.39269908169872414, 0, -1.9634954084936207, 0, 2.356194490192345, 0.7853981633974483,
    ],
    velocity: [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7],
    effort: [],
  },
  "trajectory_msgs/msg/JointTrajectory": {
    header: { stamp: { sec: 0, nanosec: 0 }, frame_id: "" },
    joint_names: ["joint1", "joint2", "joint3", "joint4", "joint5", "joint6"],
    points: [0.01, 0.02, 0.03].map((t, k) => ({
      positions: [0.1 * k, 0.2, -0.3, 0.4, -0.5, 0.6],
      velocities: [0.01, 0.02, 0.03, 0.04, 0.05, 0.06],
      accelerations: [0, 0, 0, 0, 0, 0],
      effort: [],
      time_from_start: { sec: 0, nanosec: Math.round(t * 1e9) },
    })),
  },
  "blm_msgs/msg/Intent": {
    header: { stamp, frame_id: "" },
    model_id: "test-tiny@3f2a",
    instruction: "pick up the red cube and move it to the green goal",
    tokens: f32([0.5, -1.25, 3.140625, 1e-3, -7.5, 2.0]),
    shape: [2, 3],
    source_stamp: { sec: 1732479999, nanosec: 999000000 },
    inference_latency: 0.0421,
  },
  "blm_msgs/msg/ActionChunk": {
    header: { stamp, frame_id: "" },
    embodiment: "widowx_ai",
    joint_names: ["joint_0", "joint_1", "joint_2", "joint_3", "joint_4", "joint_5"],
    gripper_joint: "left_carriage_joint",
    horizon: 2,
    dt: 0.05,
    positions: [0, 1.7, 1.6, -1.5, 0, 0, 0.01, 1.71, 1.59, -1.49, 0.01, 0],
    velocities: [0.2, 0.2, -0.2, 0.2, 0.2, 0, 0.2, 0.2, -0.2, 0.2, 0.2, 0],
    gripper: [0.04, 0.035],
    source_stamp: { sec: 1732479999, nanosec: 5 },
    inference_latency: 0.0123,
    denoise_steps: 4,
  },
  "blm_msgs/msg/AgentState": {
    header: { stamp, frame_id: "" },
    mode: 3,
    mode_name: "tracking",
    error_code: "E_STALE_JOINT_STATE",
    error_message: "joint state is 0.31 s old (limit 0.1 s)",
    control_rate_hz: 100,
    chunk_rate_hz: 10,
    intent_rate_hz: 1,
    intent_latency: 0.2,
    chunk_latency: 0.004,
    observation_to_command_latency: 0.03,
    execution_provider: "cpu",
    instruction: "push the cube to the goal",
  },
  "blm_msgs/msg/TaskStatus": {
    header: { stamp, frame_id: "" },
    task: "PickCube",
    embodiment: "xarm7",
    seed: 7,
    success: true,
    elapsed: 3.25,
    criterion_names: ["goal_distance", "robot_static"],
    criterion_values: [0.012, 1],
  },
};

const workdir = mkdtempSync(path.join(tmpdir(), "blm-dds-"));
let peers: Peer[] = [];

afterEach(async () => {
  await Promise.all(peers.map((p) => p.stop()));
  peers = [];
});

async function exchange(
  publisherKind: "js" | "py",
  subscriberKind: "js" | "py",
  type: string,
  message: WireJson,
): Promise<WireJson> {
  const topic = `/blm_test/${subscriberKind}${publisherKind}_${type.split("/").pop()!.toLowerCase()}`;
  const file = path.join(
    workdir,
    `${publisherKind}-${subscriberKind}-${type.replaceAll("/", "_")}.json`,
  );
  writeFileSync(file, JSON.stringify(message));
  const spawnPeer = (kind: "js" | "py", args: string[]) =>
    kind === "js" ? jsPeer(args) : pyPeer(args);
  const subscriber = spawnPeer(subscriberKind, ["echo", type, topic]);
  peers.push(subscriber);
  await subscriber.nextLine((l) => l === "ready", 30_000);
  const publisher = spawnPeer(publisherKind, ["publish", type, topic, file]);
  peers.push(publisher);
  const line = await subscriber.nextLine((l) => l.startsWith("{"), 30_000);
  return JSON.parse(line) as WireJson;
}

describe("DDS exchange between rclnodejs processes", () => {
  for (const [type, message] of Object.entries(messages)) {
    it(`delivers ${type} with exact content`, async () => {
      expect(await exchange("js", "js", type, message)).toEqual(message);
    });
  }
});

describe("DDS exchange between rclpy and rclnodejs", () => {
  const crossTypes = [
    "sensor_msgs/msg/Image",
    "trajectory_msgs/msg/JointTrajectory",
    "blm_msgs/msg/ActionChunk",
    "blm_msgs/msg/Intent",
  ];
  for (const type of crossTypes) {
    it(`delivers ${type} from rclpy to rclnodejs`, async () => {
      expect(await exchange("py", "js", type, messages[type]!)).toEqual(messages[type]);
    });
    it(`delivers ${type} from rclnodejs to rclpy`, async () => {
      expect(await exchange("js", "py", type, messages[type]!)).toEqual(messages[type]);
    });
  }
});
