/** A seeded pseudo-random source in [0, 1) (mulberry32): replayable with the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Delays with netem's semantics: `latency ± jitter`, where successive draws are correlated: the uniform
 * draw in [-1, 1] is `c × previous + (1 − c) × fresh`. Never negative.
 */
export function delaySampler(
  latencyMs: number,
  jitterMs: number,
  correlation: number,
  random: () => number,
): () => number {
  let last = random() * 2 - 1;
  return () => {
    if (jitterMs === 0) return latencyMs;
    const fresh = random() * 2 - 1;
    last = correlation * last + (1 - correlation) * fresh;
    return Math.max(0, latencyMs + jitterMs * last);
  };
}
