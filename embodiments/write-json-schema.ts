/**
 * Writes embodiments/embodiment.schema.json from the zod schema, so Python tools (the sim,
 * exporters) validate definitions against the same contract. A unit test fails when the
 * committed file is stale: run `npx tsx embodiments/write-json-schema.ts`.
 */
import { writeFileSync } from "node:fs";
import { format } from "prettier";
import { embodimentJsonSchema } from "./registry.ts";

export const JSON_SCHEMA_PATH = new URL("./embodiment.schema.json", import.meta.url).pathname;

/** Formatted as the repository's prettier check expects, so `npm run lint` passes on it. */
export async function renderJsonSchema(): Promise<string> {
  return format(JSON.stringify(embodimentJsonSchema()), { parser: "json", printWidth: 100 });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(JSON_SCHEMA_PATH, await renderJsonSchema());
  console.log(`wrote ${JSON_SCHEMA_PATH}`);
}
