/**
 * Refuses to bring up a sim graph beside another one on the same DDS domain: two sims there
 * publish the same topics (cameras, joint states, /sim/success), so each agent would act on the
 * other's scene and each eval would score the other's episodes. Two expert recordings run side by
 * side did exactly that (sim/blm_sim/expert/graph_guard.py says what it cost).
 */
import type rclnodejs from "rclnodejs";

/**
 * Node names a running sim graph carries: the sim, an agent, another eval's, demo's or expert's
 * client (the same list as sim/blm_sim/expert/graph_guard.py, which guards expert:eval).
 */
const FOREIGN_PREFIXES = ["blm_sim", "blm_agent", "blm_eval_", "blm_demo", "blm_expert_eval_"];

/**
 * The other graphs' nodes `node` discovers within `waitMs` (sorted, with namespace). Discovery of
 * a running participant took over 1.5 s in three of four tries on a loaded two-core machine (a
 * missed first announcement is repeated after Fast DDS's 3 s period): hence 4 s.
 */
export async function foreignNodes(node: rclnodejs.Node, waitMs = 4000): Promise<string[]> {
  const own = node.name();
  const found = new Set<string>();
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    for (const { name, namespace } of node.getNodeNamesAndNamespaces()) {
      if (name !== own && FOREIGN_PREFIXES.some((p) => name.startsWith(p)))
        found.add(`${namespace.replace(/\/$/, "")}/${name}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return [...found].sort();
}

export function graphBusyMessage(nodes: string[]): string {
  const domain = process.env.ROS_DOMAIN_ID ?? "0";
  return (
    `another simulation is running on ROS_DOMAIN_ID ${domain} (${nodes.join(", ")}): its topics ` +
    `would mix with this run's; stop it, or run this one with another ROS_DOMAIN_ID`
  );
}
