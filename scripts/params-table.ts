/**
 * Prints the README's parameter table from the agent's parameter schema (nodes/params.ts,
 * through the same descriptors the nodes declare): `tsx scripts/params-table.ts`.
 * tests/unit/agent/readme-params.test.ts keeps the README in step with it.
 */
import { parameterSpecs } from "../nodes/param-spec.ts";

export function parameterTable(): string {
  const rows = parameterSpecs().map((p) => {
    const values = p.choices
      ? p.choices.join(" \\| ")
      : p.range
        ? `${p.range.from} … ${p.range.to}`
        : "";
    const dflt = p.required ? "(required)" : JSON.stringify(p.default);
    const desc = p.description.replaceAll("|", "\\|");
    return `| \`${p.name}\` | ${p.type} | ${dflt} | ${values} | ${p.readOnly ? "" : "yes"} | ${desc} |`;
  });
  return [
    "| parameter | type | default | values | changeable at run time | description |",
    "|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(parameterTable());
