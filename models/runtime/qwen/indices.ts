/**
 * The data-dependent inputs of the exported Qwen2.5-VL graphs (DESIGN decision 11), ported from
 * transformers 4.57's Qwen2_5_VisionTransformerPretrainedModel (rot_pos_emb's position ids,
 * get_window_index, cu_seqlens) and Qwen2_5_VLModel.get_rope_index. Grids are [t, h, w] in patches.
 */

export type Grid = readonly [number, number, number];

export interface VisionIndices {
  /** [patches, 2]: (row, column) of each patch in the processor's order. */
  readonly posIds: BigInt64Array;
  /** [patches / merge²]: merged-token order inside the windows. */
  readonly windowIndex: BigInt64Array;
  /** [images + 1]: cumulative patch counts per frame (full-attention blocks). */
  readonly cuSeqlens: BigInt64Array;
  /** [windows + 1]: cumulative patch counts per window, consecutive duplicates removed. */
  readonly cuWindowSeqlens: BigInt64Array;
  readonly patches: number;
}

export function visionIndices(
  grids: readonly Grid[],
  merge: number,
  windowSize: number,
  patchSize: number,
): VisionIndices {
  const unit = merge * merge;
  const patches = grids.reduce((s, [t, h, w]) => s + t * h * w, 0);
  // rot_pos_emb's pos_ids
  const pos = new BigInt64Array(patches * 2);
  let p = 0;
  for (const [t, h, w] of grids)
    for (let f = 0; f < t; f++)
      for (let bh = 0; bh < h / merge; bh++)
        for (let bw = 0; bw < w / merge; bw++)
          for (let mh = 0; mh < merge; mh++)
            for (let mw = 0; mw < merge; mw++) {
              pos[p++] = BigInt(bh * merge + mh);
              pos[p++] = BigInt(bw * merge + mw);
            }
  // get_window_index
  const win = Math.floor(Math.floor(windowSize / merge) / patchSize);
  const windowIndex = new BigInt64Array(patches / unit);
  const cuWin: number[] = [0];
  let wi = 0;
  let base = 0;
  for (const [t, h, w] of grids) {
    const lh = h / merge;
    const lw = w / merge;
    const padH = win - (lh % win);
    const padW = win - (lw % win);
    const nwh = (lh + padH) / win;
    const nww = (lw + padW) / win;
    for (let f = 0; f < t; f++)
      for (let a = 0; a < nwh; a++)
        for (let b = 0; b < nww; b++) {
          let count = 0;
          for (let i = 0; i < win; i++)
            for (let j = 0; j < win; j++) {
              const y = a * win + i;
              const x = b * win + j;
              if (y < lh && x < lw) {
                windowIndex[wi++] = BigInt(base + f * lh * lw + y * lw + x);
                count++;
              }
            }
          cuWin.push(cuWin[cuWin.length - 1]! + count * unit);
        }
    base += t * lh * lw;
  }
  const dedup = cuWin.filter((v, i) => i === 0 || v !== cuWin[i - 1]);
  const cu: number[] = [0];
  for (const [t, h, w] of grids) for (let f = 0; f < t; f++) cu.push(cu[cu.length - 1]! + h * w);
  return {
    posIds: pos,
    windowIndex,
    cuSeqlens: BigInt64Array.from(cu, BigInt),
    cuWindowSeqlens: BigInt64Array.from(dedup, BigInt),
    patches,
  };
}

export interface RopeTokens {
  readonly imagePad: number;
  readonly videoPad: number;
  readonly visionStart: number;
}

/**
 * get_rope_index for images (no videos): position ids [3, batch, seq] (t, h, w) and per-row deltas.
 * `ids` and `mask` are [batch, seq] row-major; padded positions (mask 0) get 1, as the reference.
 */
export function ropeIndex(
  ids: ArrayLike<number>,
  mask: ArrayLike<number> | undefined,
  batch: number,
  seq: number,
  grids: readonly Grid[],
  tokens: RopeTokens,
  merge: number,
): { positionIds: BigInt64Array; deltas: number[] } {
  const out = new BigInt64Array(3 * batch * seq).fill(1n);
  const deltas: number[] = [];
  let imageIndex = 0;
  for (let b = 0; b < batch; b++) {
    const keep: number[] = [];
    for (let i = 0; i < seq; i++) if (!mask || mask[b * seq + i] === 1) keep.push(i);
    const toks = keep.map((i) => ids[b * seq + i]!);
    const pos: [number[], number[], number[]] = [[], [], []];
    let images = 0;
    if (grids.length > 0)
      for (let i = 0; i < toks.length; i++)
        if (toks[i] === tokens.visionStart && toks[i + 1] === tokens.imagePad) images++;
    let st = 0;
    let next = 0; // max position so far + 1
    const push = (t: number, h: number, w: number) => {
      pos[0].push(t);
      pos[1].push(h);
      pos[2].push(w);
    };
    for (let k = 0; k < images; k++) {
      const ed = toks.indexOf(tokens.imagePad, st);
      const [gt, gh, gw] = grids[imageIndex++]!;
      const lh = gh / merge;
      const lw = gw / merge;
      const textLen = ed - st;
      for (let i = 0; i < textLen; i++) push(next + i, next + i, next + i);
      const s = next + textLen;
      let mx = next + textLen - 1;
      for (let f = 0; f < gt; f++)
        for (let y = 0; y < lh; y++)
          for (let x = 0; x < lw; x++) {
            // t index: time * second_per_grid_t (0 for images) * tokens_per_second
            push(s, s + y, s + x);
            mx = Math.max(mx, s + y, s + x);
          }
      next = mx + 1;
      st = ed + gt * lh * lw;
    }
    if (st < toks.length) {
      const textLen = toks.length - st;
      for (let i = 0; i < textLen; i++) push(next + i, next + i, next + i);
      next += textLen;
    }
    for (let a = 0; a < 3; a++)
      for (let j = 0; j < keep.length; j++)
        out[(a * batch + b) * seq + keep[j]!] = BigInt(pos[a as 0 | 1 | 2][j]!);
    deltas.push(next - seq);
  }
  return { positionIds: out, deltas };
}
