/**
 * The latencies of the last calls in a fixed ring, with a percentile recomputed every few samples: reading
 * it on every call costs a field load, and a sort of at most `size` numbers happens every `every` samples.
 */
export class LatencyWindow {
  private readonly ring: Float64Array;
  private readonly sorted: Float64Array;
  private readonly every: number;
  private count = 0;
  private index = 0;
  private sinceSort = 0;
  private cached = Infinity;
  private readonly p: number;
  private readonly minSamples: number;

  /**
   * @param p the percentile, in (0, 1].
   * @param size how many recent samples to keep.
   * @param minSamples samples needed before the percentile is known (`Infinity` until then).
   * @param every recompute the percentile after this many new samples.
   */
  constructor(p: number, size = 256, minSamples = 20, every = 16) {
    if (!(p > 0 && p <= 1)) throw new RangeError(`percentile must be in (0, 1], got ${p}`);
    this.p = p;
    this.ring = new Float64Array(size);
    this.sorted = new Float64Array(size);
    this.minSamples = Math.min(minSamples, size);
    this.every = every;
  }

  /** Records one latency, in ms. */
  add(ms: number): void {
    this.ring[this.index] = ms;
    this.index = (this.index + 1) % this.ring.length;
    if (this.count < this.ring.length) this.count++;
    if (++this.sinceSort >= this.every || this.count === this.minSamples) this.resort();
  }

  /** The percentile of the recent latencies, in ms; `Infinity` while fewer than `minSamples` were seen. */
  get value(): number {
    return this.cached;
  }

  private resort(): void {
    this.sinceSort = 0;
    if (this.count < this.minSamples) return;
    const view = this.sorted.subarray(0, this.count);
    view.set(this.ring.subarray(0, this.count));
    view.sort();
    this.cached = view[Math.min(this.count - 1, Math.ceil(this.p * this.count) - 1)]!;
  }
}
