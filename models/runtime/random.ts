/**
 * Seeded Gaussian noise for the sampler: xoshiro128** (Blackman & Vigna, 2018) seeded through
 * splitmix32, uniform floats from the top 24 bits, and the Box–Muller transform
 * z0 = sqrt(-2 ln u1) cos(2π u2), z1 = sqrt(-2 ln u1) sin(2π u2) with u1 in (0, 1].
 * Reproducible across runs and machines for a given seed; parity fixtures carry their own noise
 * (DESIGN decision 15), so nothing needs to match PyTorch's generator.
 */
export class GaussianNoise {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  constructor(seed: number) {
    this.reseed(seed);
  }

  reseed(seed: number): void {
    let x = seed >>> 0;
    const next = () => {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next 32-bit output of xoshiro128**. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3 >>> 0, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    return result;
  }

  /** Uniform in [0, 1) with 24 bits. */
  uniform(): number {
    return (this.nextUint32() >>> 8) / 16777216;
  }

  /** Fills `out` with independent N(0, 1) samples. */
  fill(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i += 2) {
      const u1 = 1 - this.uniform(); // (0, 1]
      const u2 = this.uniform();
      const r = Math.sqrt(-2 * Math.log(u1));
      out[i] = r * Math.cos(2 * Math.PI * u2);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
