/**
 * Errors as values. Every failure a user can cause carries a stable code that appears in
 * logs, /diagnostics and AgentState, plus one readable line.
 */
export type ErrorCode =
  // configuration and definitions
  | "E_CONFIG"
  | "E_UNKNOWN_EMBODIMENT"
  | "E_EMBODIMENT_DEFINITION"
  // model files
  | "E_MODEL_MISSING"
  | "E_MODEL_CORRUPT"
  | "E_MODEL_HASH"
  | "E_MODEL_MISMATCH"
  | "E_MODEL_INPUT"
  | "E_PROVIDER_UNAVAILABLE"
  // observations
  | "E_IMAGE_ENCODING"
  | "E_IMAGE_SIZE"
  | "E_IMAGE_EMPTY"
  | "E_STALE_IMAGE"
  | "E_JOINT_MISSING"
  | "E_JOINT_NONFINITE"
  | "E_JOINT_OUT_OF_LIMIT"
  | "E_STALE_JOINT_STATE"
  | "E_INSTRUCTION"
  // chunks and control
  | "E_CHUNK_SHAPE"
  | "E_CHUNK_NONFINITE"
  | "E_CHUNK_LIMIT"
  | "E_CHUNK_JUMP"
  | "E_CHUNK_STALE"
  | "E_CHUNK_ORDER"
  | "E_IK"
  | "E_ESTOP"
  | "E_STALE_INTENT";

export class BlmError extends Error {
  readonly code: ErrorCode;
  readonly detail: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, detail?: Record<string, unknown>) {
    super(`${code}: ${message}`);
    this.name = "BlmError";
    this.code = code;
    this.detail = detail;
  }
}

export type Result<T, E = BlmError> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E = BlmError>(error: E): Result<never, E> => ({ ok: false, error });

export function fail(
  code: ErrorCode,
  message: string,
  detail?: Record<string, unknown>,
): Result<never> {
  return err(new BlmError(code, message, detail));
}

/** The message without its "CODE: " prefix, to wrap it in another error of the same code. */
export function stripCode(e: BlmError): string {
  return e.message.startsWith(`${e.code}: `) ? e.message.slice(e.code.length + 2) : e.message;
}

/** Unwraps a result at a boundary where failing loudly is the right answer (start-up). */
export function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw result.error;
  return result.value;
}

/** A failure as it crosses a thread boundary: structured clone keeps no BlmError class or code. */
export interface WireFailure {
  readonly ok: false;
  readonly error: { readonly code: ErrorCode; readonly message: string; readonly detail?: unknown };
}
export type WireResult<T> = { ok: true; value: T } | WireFailure;

/** A Result a worker can post back (see fromWire). */
export function toWire<T>(r: Result<T>): WireResult<T> {
  if (r.ok) return r;
  return {
    ok: false,
    error: { code: r.error.code, message: r.error.message, detail: r.error.detail },
  };
}

/** Rebuilds the Result a worker posted back with toWire. */
export function fromWire<T>(r: WireResult<T>): Result<T> {
  if (r.ok) return r;
  const { code, message, detail } = r.error;
  const text = message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message;
  return fail(code, text, detail as Record<string, unknown> | undefined);
}
