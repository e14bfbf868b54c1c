/**
 * CLI: npx tsx embodiments/description/generate.ts --embodiment panda --format urdf|mjcf
 *      [--prefix fr3_] [--out file]
 * Writes the description to --out, or to stdout.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadEmbodiment } from "../registry.ts";
import { toMjcf } from "./mjcf.ts";
import { toUrdf } from "./urdf.ts";

function main(): number {
  const { values } = parseArgs({
    options: {
      embodiment: { type: "string" },
      format: { type: "string", default: "urdf" },
      prefix: { type: "string" },
      out: { type: "string" },
    },
  });
  if (!values.embodiment || (values.format !== "urdf" && values.format !== "mjcf")) {
    process.stderr.write(
      "usage: generate.ts --embodiment <name> --format urdf|mjcf [--prefix p] [--out file]\n",
    );
    return 2;
  }
  const loaded = loadEmbodiment(
    values.embodiment,
    values.prefix === undefined ? {} : { prefix: values.prefix },
  );
  if (!loaded.ok) {
    process.stderr.write(`${loaded.error.message}\n`);
    return 1;
  }
  const text = values.format === "urdf" ? toUrdf(loaded.value) : toMjcf(loaded.value);
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
  return 0;
}

process.exitCode = main();
