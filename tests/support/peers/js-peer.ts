/**
 * An rclnodejs test peer, run as its own process.
 *   echo TYPE TOPIC   prints "ready", then the first message received as one wire-JSON line, and exits
 *   publish TYPE TOPIC FILE   publishes the wire-JSON message in FILE every 100 ms until killed
 */
import { readFileSync } from "node:fs";
import rclnodejs from "rclnodejs";
import { fromWireJson, toWireJson, type WireJson } from "../wire-json.ts";

const [mode, type, topic, file] = process.argv.slice(2);
if (!mode || !type || !topic) {
  console.error("usage: js-peer echo|publish TYPE TOPIC [FILE]");
  process.exit(2);
}

await rclnodejs.init();
const node = rclnodejs.createNode(`js_peer_${process.pid}`);
// rclnodejs' default profile: reliable, keep last 10 — what the rclpy peer uses too.
const qos = rclnodejs.QoS.profileDefault;

if (mode === "echo") {
  node.createSubscription(type as never, topic, { qos }, (msg: unknown) => {
    process.stdout.write(JSON.stringify(toWireJson(msg)) + "\n", () => {
      node.destroy();
      rclnodejs.shutdown();
      process.exit(0);
    });
  });
  rclnodejs.spin(node);
  console.log("ready");
} else if (mode === "publish" && file) {
  const message = fromWireJson(JSON.parse(readFileSync(file, "utf8")) as WireJson);
  const publisher = node.createPublisher(type as never, topic, { qos });
  rclnodejs.spin(node);
  setInterval(() => publisher.publish(message as never), 100);
  console.log("ready");
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
