import type { Embodiment } from "../../../embodiments/schema.ts";

/** Deterministic PRNG (mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A configuration drawn uniformly inside the joint limits. */
export function randomQ(emb: Embodiment, next: () => number): Float64Array {
  return Float64Array.from(
    emb.joints,
    (j) => j.position.lower + next() * (j.position.upper - j.position.lower),
  );
}
