// Reconnection delays with exponential backoff and "full jitter": the n-th
// wait is uniform in [0, min(max, min·2^n)]. The randomness matters more than
// the growth: when a node restarts, all its clients drop in the same instant,
// and waits drawn from the whole range spread their return instead of
// bringing them back in waves.

export interface BackoffOptions {
  /** The ceiling of the first wait, ms. */
  min: number;
  /** The largest ceiling, ms. */
  max: number;
  /** How long a connection must last for the waits to start again from min, ms. */
  stableAfter: number;
  /** Uniform in [0, 1); tests replace it. Default Math.random. */
  random?: () => number;
  /** Milliseconds now; tests replace it. Default Date.now. */
  now?: () => number;
}

/** Backoff counts failed attempts and draws the wait before the next one. */
export class Backoff {
  private attempts = 0;
  private connectedAt: number | undefined;
  private readonly opts: Required<BackoffOptions>;

  constructor(opts: BackoffOptions) {
    this.opts = { random: Math.random, now: Date.now, ...opts };
    this.opts.max = Math.max(this.opts.max, this.opts.min);
  }

  /** The number of waits drawn since the last reset. */
  get count(): number {
    return this.attempts;
  }

  /** The largest wait the next draw may return: min(max, min·2^n). */
  ceiling(): number {
    const { min, max } = this.opts;
    // 2^n overflows to Infinity long after it passes max; min() handles it.
    return Math.min(max, min * 2 ** this.attempts);
  }

  /** Draws the wait before the next attempt, in [0, ceiling()], and counts the attempt. */
  next(): number {
    const c = this.ceiling();
    if (this.attempts < 64) this.attempts++;
    // random() < 1, so scale to c + 1 and floor to reach c itself.
    return Math.min(c, Math.floor(this.opts.random() * (c + 1)));
  }

  /** Starts again from min. */
  reset(): void {
    this.attempts = 0;
  }

  /** A connection opened. */
  connected(): void {
    this.connectedAt = this.opts.now();
  }

  /**
   * The connection ended. One that lasted stableAfter was healthy, so the
   * next wait starts from min again; one that dropped soon after opening
   * (a node that accepts and then fails) keeps the waits growing.
   */
  disconnected(): void {
    if (this.connectedAt !== undefined && this.opts.now() - this.connectedAt >= this.opts.stableAfter) {
      this.reset();
    }
    this.connectedAt = undefined;
  }
}
