/**
 * How sure an eval's numbers are. At two seeds per (embodiment, task) pair one model's count
 * moved between 4 and 12 of 48 from run to run, so a table's average needs its interval, and a
 * claim that one model beats another needs a test on the same episodes. Pure.
 */
import { episodeKey, type EpisodeRecord } from "./results.ts";

const Z95 = 1.959963984540054;

export interface Interval {
  /** Percent, two decimals. */
  low_pct: number;
  high_pct: number;
}

export const round2 = (x: number) => Math.round(x * 100) / 100;

/** "low–high" in percent, two decimals. */
export const formatInterval = (i: Interval) => `${i.low_pct.toFixed(2)}–${i.high_pct.toFixed(2)}`;

/**
 * The Wilson score interval of a success rate (95 % by default). Unlike the normal
 * approximation it stays inside [0, 100] and is not empty at 0 or n successes, which is where
 * most of this project's cells sit.
 */
export function wilsonInterval(successes: number, episodes: number, z = Z95): Interval {
  if (!Number.isInteger(successes) || !Number.isInteger(episodes) || episodes < 1)
    throw new Error(`wilsonInterval: ${successes} of ${episodes} is not a count of episodes`);
  if (successes < 0 || successes > episodes)
    throw new Error(`wilsonInterval: ${successes} successes out of ${episodes} episodes`);
  const p = successes / episodes;
  const z2 = z * z;
  const centre = (p + z2 / (2 * episodes)) / (1 + z2 / episodes);
  const half =
    (z * Math.sqrt((p * (1 - p)) / episodes + z2 / (4 * episodes * episodes))) /
    (1 + z2 / episodes);
  // The exact ends: rounding would otherwise leave 0 or 100 % a hair outside the interval.
  const low = successes === 0 ? 0 : centre - half;
  const high = successes === episodes ? 1 : centre + half;
  return { low_pct: round2(100 * low), high_pct: round2(100 * high) };
}

/** log C(n, k), exact enough for the binomial tails below (n is at most a few thousand). */
function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

/**
 * Exact two-sided McNemar test: of the `discordant` episodes where exactly one model succeeded,
 * `aOnly` went to the first. Under "the models are equally good" each discordant episode is a fair
 * coin; the p-value doubles the smaller tail (capped at 1).
 */
export function mcnemarExact(aOnly: number, discordant: number): number {
  if (!Number.isInteger(aOnly) || !Number.isInteger(discordant) || aOnly < 0 || aOnly > discordant)
    throw new Error(`mcnemarExact: ${aOnly} of ${discordant} discordant episodes`);
  if (discordant === 0) return 1;
  const k = Math.min(aOnly, discordant - aOnly);
  let tail = 0;
  for (let i = 0; i <= k; i++) tail += Math.exp(logChoose(discordant, i) - discordant * Math.LN2);
  return Math.min(1, 2 * tail);
}

export interface SideSummary {
  /** The results folders pooled into this side. */
  folders: string[];
  successes: number;
  episodes: number;
  success_pct: number;
  ci95: Interval;
}

export interface Comparison {
  a: SideSummary;
  b: SideSummary;
  /** Episodes (embodiment, task, seed) that both sides ran: the test uses only these. */
  matched: number;
  a_only_success: number;
  b_only_success: number;
  both_success: number;
  /** Exact McNemar p-value over the matched episodes. */
  p_value: number;
  /** Per robot over the matched episodes: successes on each side. */
  robots: Record<string, { matched: number; a: number; b: number }>;
}

/** One side of a comparison: several results folders whose episodes must not repeat. */
export interface Side {
  folders: string[];
  episodes: EpisodeRecord[];
}

function indexSide(side: Side, name: string): Map<string, EpisodeRecord> {
  const byKey = new Map<string, EpisodeRecord>();
  for (const e of side.episodes) {
    const key = episodeKey(e);
    if (byKey.has(key))
      throw new Error(
        `side ${name} (${side.folders.join(", ")}) has episode ${key} twice: ` +
          "pool folders of different seeds only, or the test would count one scene twice",
      );
    byKey.set(key, e);
  }
  return byKey;
}

function summarize(side: Side): SideSummary {
  const successes = side.episodes.filter((e) => e.outcome === "success").length;
  const episodes = side.episodes.length;
  if (!episodes) throw new Error(`no episodes in ${side.folders.join(", ")}`);
  return {
    folders: side.folders,
    successes,
    episodes,
    success_pct: round2((100 * successes) / episodes),
    ci95: wilsonInterval(successes, episodes),
  };
}

/**
 * Compares two models episode by episode: the same (embodiment, task, seed) is the same scene,
 * so a paired test tells a real difference from the scene-to-scene spread with fewer episodes
 * than comparing two totals would.
 */
export function compareSides(a: Side, b: Side): Comparison {
  const ia = indexSide(a, "A");
  const ib = indexSide(b, "B");
  const robots: Comparison["robots"] = {};
  let aOnly = 0;
  let bOnly = 0;
  let both = 0;
  let matched = 0;
  for (const [key, ea] of ia) {
    const eb = ib.get(key);
    if (!eb) continue;
    matched++;
    const sa = ea.outcome === "success";
    const sb = eb.outcome === "success";
    if (sa && sb) both++;
    else if (sa) aOnly++;
    else if (sb) bOnly++;
    const r = (robots[ea.embodiment] ??= { matched: 0, a: 0, b: 0 });
    r.matched++;
    r.a += Number(sa);
    r.b += Number(sb);
  }
  if (!matched)
    throw new Error(
      "the two sides share no episode (embodiment, task, seed): run both on the same seeds",
    );
  return {
    a: summarize(a),
    b: summarize(b),
    matched,
    a_only_success: aOnly,
    b_only_success: bOnly,
    both_success: both,
    p_value: round4(mcnemarExact(aOnly, aOnly + bOnly)),
    robots,
  };
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

export function renderComparison(c: Comparison): string {
  const side = (name: string, s: SideSummary) =>
    `| ${name} | ${s.folders.join(", ")} | ${s.successes} of ${s.episodes} | ${s.success_pct.toFixed(2)} | ${formatInterval(s.ci95)} |`;
  const robots = Object.entries(c.robots).map(
    ([r, v]) => `| ${r} | ${v.matched} | ${v.a} | ${v.b} |`,
  );
  return [
    "# Closed-loop comparison",
    "",
    "| side | results | successes | % | 95 % interval (Wilson) |",
    "|---|---|---:|---:|---|",
    side("A", c.a),
    side("B", c.b),
    "",
    `On the ${c.matched} episodes both ran: A alone succeeded on ${c.a_only_success}, B alone on ` +
      `${c.b_only_success}, both on ${c.both_success}; exact McNemar p = ${c.p_value.toFixed(4)} ` +
      "(two-sided; below 0.05, the difference is unlikely to be the scenes' spread).",
    "",
    "| robot | matched | A | B |",
    "|---|---:|---:|---:|",
    ...robots,
    "",
  ].join("\n");
}
