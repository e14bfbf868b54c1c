import { XMLParser, XMLValidator } from "fast-xml-parser";
import { fail, ok, type Result } from "../lib/errors.ts";

/** One XML element as the launch interpreter sees it: tag, attributes, child elements, text. */
export interface XmlElement {
  tag: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Non-whitespace text directly inside the element (launch files have none). */
  text: string;
  /** Where it is, for messages: `launch > node[2] > param[1]` (1-based among siblings). */
  path: string;
}

type Ordered = Record<string, unknown> & { ":@"?: Record<string, string> };

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  allowBooleanAttributes: false,
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  processEntities: true,
});

/** Parses a launch file's text into its root element; `source` names the file in errors. */
export function parseXml(text: string, source: string): Result<XmlElement> {
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    const { line, col, msg } = valid.err;
    return fail("E_CONFIG", `${source}:${line}:${col}: not well-formed XML (${msg})`);
  }
  const nodes = parser.parse(text) as Ordered[];
  const roots = nodes
    .map((n, i) => toElement(n, "", i, nodes))
    .filter((e): e is XmlElement => e !== null);
  if (roots.length !== 1 || roots[0] === undefined) {
    return fail("E_CONFIG", `${source}: expected one root element, found ${roots.length}`);
  }
  return ok(roots[0]);
}

function toElement(
  node: Ordered,
  parentPath: string,
  _index: number,
  siblings: Ordered[],
): XmlElement | null {
  const tag = Object.keys(node).find((k) => k !== ":@");
  if (tag === undefined || tag === "#text") return null;
  const sameTagBefore = siblings.slice(0, siblings.indexOf(node)).filter((s) => tag in s).length;
  const path = `${parentPath ? `${parentPath} > ` : ""}${tag}${parentPath ? `[${sameTagBefore + 1}]` : ""}`;
  const raw = (node[tag] ?? []) as Ordered[];
  const children: XmlElement[] = [];
  let text = "";
  raw.forEach((child, i) => {
    if ("#text" in child) {
      text += String(child["#text"]).trim();
      return;
    }
    const el = toElement(child, path, i, raw);
    if (el) children.push(el);
  });
  return { tag, attrs: { ...(node[":@"] ?? {}) }, children, text, path };
}
