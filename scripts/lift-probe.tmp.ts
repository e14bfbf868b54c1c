import { readFileSync } from "node:fs";
import { unwrap } from "../lib/errors.ts";
import { loadEmbodiment } from "../embodiments/registry.ts";
import { forwardKinematics, solveIk } from "../embodiments/kinematics/index.ts";
import { liftAboveTable } from "../embodiments/control/safety.ts";
const all = JSON.parse(readFileSync("/tmp/an/states.json", "utf8")) as Record<string, number[][]>;
for (const [name, qs] of Object.entries(all)) {
  const emb = unwrap(loadEmbodiment(name as "panda"));
  const floor = emb.safety.table_z + emb.safety.table_margin;
  let tried = 0, failed = 0;
  const reasons: Record<string, number> = {};
  for (const q of qs) {
    const p = forwardKinematics(emb, q);
    if (p.position[2]! > 0.08) continue;
    // the same pose pushed 2.5 cm under the plane + margin
    p.position[2] = floor - 0.025;
    const r = solveIk(emb, p, q, { restarts: 0 });
    if (!r.ok) continue;
    tried++;
    const pos = Float64Array.from(r.value);
    const c = liftAboveTable(emb, pos, 1, 0.05, emb.safety.max_jump);
    if (!c.ok) {
      failed++;
      const back = solveIk(emb, { ...forwardKinematics(emb, r.value), position: Float64Array.of(p.position[0]!, p.position[1]!, floor + 0.002) }, r.value, { restarts: 0, maxIterations: 50, orientationTolerance: 1e-3 });
      const key = back.ok ? "jump" : back.error.message.replace(/[0-9.]+/g, "N").slice(0, 90);
      reasons[key] = (reasons[key] ?? 0) + 1;
    }
  }
  console.log(name, { tried, failed, reasons });
}
