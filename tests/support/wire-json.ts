/**
 * A transport-neutral JSON form of ROS messages, shared by the JavaScript and Python test
 * peers: byte arrays as {"$bytes": base64}, numeric typed arrays as plain arrays. Two
 * messages are equal on the wire exactly when their wire-JSON forms are deep-equal.
 */
export type WireJson = null | boolean | number | string | WireJson[] | { [k: string]: WireJson };

export function toWireJson(value: unknown): WireJson {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString("base64") };
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
  if (Array.isArray(value)) return value.map(toWireJson);
  if (typeof value === "bigint") return Number(value);
  if (value !== null && typeof value === "object") {
    const out: Record<string, WireJson> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === "function" || k.startsWith("_")) continue;
      out[k] = toWireJson(v);
    }
    return out;
  }
  return value as WireJson;
}

/** The inverse: what rclnodejs accepts to publish. */
export function fromWireJson(value: WireJson): unknown {
  if (Array.isArray(value)) return value.map(fromWireJson);
  if (value !== null && typeof value === "object") {
    const bytes = value["$bytes"];
    if (typeof bytes === "string" && Object.keys(value).length === 1)
      return Buffer.from(bytes, "base64");
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromWireJson(v);
    return out;
  }
  return value;
}
