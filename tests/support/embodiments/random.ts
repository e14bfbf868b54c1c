import type { Embodiment } from "../../../embodiments/schema.ts";
import { mulberry32 } from "../../../lib/random.ts";

/** Deterministic PRNG so failures reproduce. */
export const rng = mulberry32;

/** A configuration drawn uniformly inside the joint limits. */
export function randomQ(emb: Embodiment, next: () => number): Float64Array {
  return Float64Array.from(
    emb.joints,
    (j) => j.position.lower + next() * (j.position.upper - j.position.lower),
  );
}
