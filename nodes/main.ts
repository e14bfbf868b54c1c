/**
 * Entry point: `blm-agent [observer|brain|policy|controller] [--ros-args ...]`.
 * Without a role, all four components run composed in one process on one node (`blm_agent`).
 * ROS arguments (`-p name:=value`, `--params-file FILE`, `-r from:=to`, `-r __ns:=/ns`,
 * `-r __node:=name`) are parsed by rcl through rclnodejs.init. A start-up failure prints one
 * line `blm-agent: <CODE>: <message>` on stderr and exits with status 2.
 */
import rclnodejs from "rclnodejs";
import { BlmError } from "../lib/errors.ts";
import { ROLES, NODE_NAMES, buildAgent, type Role } from "./agent.ts";

const USAGE = `usage: blm-agent [observer|brain|policy|controller] [--ros-args -p embodiment:=panda ...]`;

async function main(argv: string[]): Promise<number> {
  const rosAt = argv.indexOf("--ros-args");
  const own = rosAt >= 0 ? argv.slice(0, rosAt) : argv;
  if (own.includes("--help") || own.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const roleArg = own.find((a) => !a.startsWith("-"));
  const role = (roleArg ?? "agent") as Role;
  if (!ROLES.includes(role)) {
    console.error(`blm-agent: E_CONFIG: unknown role '${roleArg}'\n${USAGE}`);
    return 2;
  }
  try {
    await rclnodejs.init(rclnodejs.Context.defaultContext(), ["blm-agent", ...argv]);
  } catch (e) {
    console.error(`blm-agent: E_CONFIG: ROS arguments: ${(e as Error).message}`);
    return 2;
  }
  const node = rclnodejs.createNode(NODE_NAMES[role]);
  let built;
  try {
    built = await buildAgent(node, role);
  } catch (e) {
    built = {
      ok: false as const,
      error: e instanceof BlmError ? e : new BlmError("E_CONFIG", (e as Error).message),
    };
  }
  if (!built.ok) {
    console.error(`blm-agent: ${built.error.message}`);
    node.destroy();
    rclnodejs.shutdown();
    return 2;
  }
  const agent = built.value;
  node.spin();
  console.log(
    `blm-agent: ${role} ready (node ${node.namespace() === "/" ? "" : node.namespace()}/${node.name()})`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  await agent.dispose();
  node.destroy();
  try {
    rclnodejs.shutdown();
  } catch {
    // already shut down
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
// onnxruntime workers and rclnodejs handles can keep the loop alive; the agent is done.
setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
