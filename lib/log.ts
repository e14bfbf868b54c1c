import pino, { type Logger } from "pino";

/** One pino logger per node, tagged with the node's name; level from BLM_LOG_LEVEL. */
export function createLogger(name: string, level?: string): Logger {
  return pino({
    name,
    level: level ?? process.env.BLM_LOG_LEVEL ?? "info",
    base: { node: name },
  });
}

export type { Logger };
