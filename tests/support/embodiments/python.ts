import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The project's Python venv (set-up creates it); tests that need it skip with this reason. */
export const VENV_PYTHON = new URL("../../../.ros/venv/bin/python", import.meta.url).pathname;

export function pythonModuleMissing(module: string): string | undefined {
  if (!existsSync(VENV_PYTHON)) return `no Python venv at ${VENV_PYTHON} (run npm run setup)`;
  try {
    execFileSync(VENV_PYTHON, ["-c", `import ${module}`], { stdio: "pipe" });
    return undefined;
  } catch {
    return `${module} is not installed in ${VENV_PYTHON} (pip install -r embodiments/requirements.txt)`;
  }
}

export function scratchDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

/** Runs a script from tests/support/embodiments with files written to a scratch dir; parses its JSON line. */
export function runPythonCheck(
  script: string,
  files: Record<string, string>,
): Record<string, unknown> {
  const dir = scratchDir("blm-embodiment-check");
  const paths = Object.entries(files).map(([name, text]) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  });
  const scriptPath = new URL(`./${script}`, import.meta.url).pathname;
  const out = execFileSync(VENV_PYTHON, [scriptPath, ...paths], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const last = out.trim().split("\n").pop() ?? "{}";
  return JSON.parse(last) as Record<string, unknown>;
}
