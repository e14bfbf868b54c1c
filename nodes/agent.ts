/**
 * Builds a process's components on one rclnodejs node: the composed agent (all four sharing
 * one node, one clock, one parameter set, talking through the in-process bus) or one role
 * alone (talking through topics). Start-up failures are values (E_CONFIG, E_UNKNOWN_EMBODIMENT,
 * E_MODEL_MISSING, ...), never a crash loop.
 */
import type rclnodejs from "rclnodejs";
import { loadEmbodiment } from "../embodiments/registry.ts";
import { BlmModel, type GraphName } from "../models/runtime/index.ts";
import { fail, ok, type Result } from "../lib/errors.ts";
import { createLogger } from "../lib/log.ts";
import { existsSync } from "node:fs";
import path from "node:path";
import { declareParams } from "./ros-params.ts";
import { createContext, type AgentContext } from "./ros.ts";
import { Observer } from "./observer.ts";
import { Brain } from "./brain.ts";
import { Policy } from "./policy.ts";
import { Controller } from "./controller.ts";
import { Reporter, type Components } from "./report.ts";

export type Role = "agent" | "observer" | "brain" | "policy" | "controller";
export const ROLES: readonly Role[] = ["agent", "observer", "brain", "policy", "controller"];

/** Default node name per role (`-r __node:=name` renames it). */
export const NODE_NAMES: Record<Role, string> = {
  agent: "blm_agent",
  observer: "blm_observer",
  brain: "blm_brain",
  policy: "blm_policy",
  controller: "blm_controller",
};

export interface Agent {
  ctx: AgentContext;
  components: Components;
  reporter: Reporter;
  dispose(): Promise<void>;
}

const GRAPHS: Record<Role, readonly GraphName[]> = {
  agent: ["backbone", "intent_bridge", "denoiser"],
  brain: ["backbone", "intent_bridge"],
  policy: ["denoiser"],
  observer: [],
  controller: [],
};

export async function buildAgent(node: rclnodejs.Node, role: Role): Promise<Result<Agent>> {
  const log = createLogger(node.name());
  const params = declareParams(node);
  if (!params.ok) return params;
  const p = params.value;
  const emb = loadEmbodiment(p.embodiment, p.joint_prefix ? { prefix: p.joint_prefix } : {});
  if (!emb.ok) return emb;
  const ctx = createContext(node, p, emb.value, log, role === "agent");
  const cameraNames = new Set(p.cameras);

  let model: BlmModel | null = null;
  const graphs = GRAPHS[role];
  if (graphs.length) {
    const dir = path.resolve(process.env.BLM_ROOT ?? process.cwd(), p.model);
    if (!existsSync(path.join(dir, "manifest.json")))
      return fail("E_MODEL_MISSING", `model folder ${dir} has no manifest.json (parameter model)`);
    const m = await BlmModel.load(dir, {
      session: { execution_provider: p.execution_provider, intra_op_threads: p.intra_op_threads },
      graphs,
      logger: log,
    });
    if (!m.ok) return m;
    model = m.value;
    if (!model.embodiments.includes(emb.value.name)) {
      await model.dispose();
      return fail(
        "E_UNKNOWN_EMBODIMENT",
        `model ${model.manifest.name} has no statistics for ${emb.value.name}`,
      );
    }
    if (graphs.includes("backbone")) {
      const missing = model.manifest.backbone.cameras.filter((c) => !cameraNames.has(c));
      if (missing.length) {
        await model.dispose();
        return fail(
          "E_CONFIG",
          `the model needs cameras ${missing.join(", ")}; parameter cameras is [${p.cameras.join(", ")}]`,
        );
      }
    }
  }
  const needsCameras =
    role === "agent" || role === "observer" || role === "brain" || role === "policy";
  const needsJoints = role !== "brain";
  const observer = new Observer(ctx, { cameras: needsCameras, joints: needsJoints });
  const components: Components = {
    observer,
    provider: model ? (Object.values(model.providers)[0] ?? "cpu") : "none",
  };
  if (model && (role === "agent" || role === "brain"))
    components.brain = new Brain(ctx, model, observer);
  if (model && (role === "agent" || role === "policy"))
    components.policy = new Policy(ctx, model, observer);
  if (role === "agent" || role === "controller")
    components.controller = new Controller(ctx, observer);
  ctx.lifecycle.apply("configure");
  const reporter = new Reporter(ctx, components, role);

  // Run-time parameter changes: only the mutable ones (velocity_scale, dry_run) get here.
  node.addOnSetParametersCallback((ps: rclnodejs.Parameter[]) => {
    for (const x of ps) {
      if (x.name === "velocity_scale") components.controller?.setVelocityScale(Number(x.value));
      if (x.name === "dry_run") components.controller?.setDryRun(Boolean(x.value));
    }
    return { successful: true, reason: "" };
  });

  if (p.autostart && components.controller) {
    // Activate once a valid joint state is in.
    const c = components.controller;
    const sub = observer.store.joints$.subscribe(() => {
      if (ctx.lifecycle.state === "inactive" && c.activate().ok) sub.unsubscribe();
    });
  }
  log.info(
    { role, embodiment: emb.value.name, provider: components.provider, composed: ctx.composed },
    "configured",
  );
  return ok({
    ctx,
    components,
    reporter,
    async dispose() {
      reporter.dispose();
      components.brain?.dispose();
      components.policy?.dispose();
      components.controller?.dispose();
      await observer.dispose();
      await model?.dispose();
    },
  });
}
