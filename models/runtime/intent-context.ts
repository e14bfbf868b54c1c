/**
 * The denoiser's intent context, composed from the bridge's intents as the manifest's
 * intent.frames says: the current intent as it is, or a goal-intent model's goal intent (the
 * first of each goal, from the scene before the arm moved) followed by the current one.
 */
import type { Manifest } from "./manifest.ts";
import type { Intent } from "./sampler.ts";

export class IntentContext {
  private goal: Intent | null = null;
  private readonly withGoal: boolean;

  constructor(intent: Manifest["intent"]) {
    this.withGoal = intent.frames[0] === "goal";
  }

  /** A new goal (a new instruction, or the same one after a reset): its next intent is its goal's. */
  restart(): void {
    this.goal = null;
  }

  /** The context for the latest intent of the current goal. */
  next(current: Intent): Intent {
    if (!this.withGoal) return current;
    this.goal ??= current;
    const tokens = new Float32Array(this.goal.tokens.length + current.tokens.length);
    tokens.set(this.goal.tokens);
    tokens.set(current.tokens, this.goal.tokens.length);
    return { tokens, count: this.goal.count + current.count, dim: current.dim };
  }
}
