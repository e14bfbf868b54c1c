// Prints one closing line over all test tiers: "tests: N passed, N failed, N skipped".
import { existsSync, readFileSync } from "node:fs";

const reports = process.argv.slice(2);
const vitestJsons = reports.filter((r) => r.endsWith(".json"));
const pytestXml = reports.find((r) => r.endsWith(".xml"));
let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of vitestJsons) {
  if (!existsSync(file)) continue;
  const r = JSON.parse(readFileSync(file, "utf8"));
  passed += r.numPassedTests ?? 0;
  failed += (r.numFailedTests ?? 0) + (r.numRuntimeErrorTestSuites ?? 0);
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
}
if (!vitestJsons.some((f) => existsSync(f))) {
  failed += 1;
  console.log("no vitest report");
}
if (pytestXml && existsSync(pytestXml)) {
  const xml = readFileSync(pytestXml, "utf8");
  const suite = /<testsuite\b[^>]*>/.exec(xml)?.[0] ?? "";
  const attr = (name) => Number(new RegExp(`${name}="(\\d+)"`).exec(suite)?.[1] ?? 0);
  const total = attr("tests");
  const bad = attr("failures") + attr("errors");
  const skip = attr("skipped");
  passed += total - bad - skip;
  failed += bad;
  skipped += skip;
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
