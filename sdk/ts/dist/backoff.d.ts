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
export declare class Backoff {
    private attempts;
    private connectedAt;
    private readonly opts;
    constructor(opts: BackoffOptions);
    /** The number of waits drawn since the last reset. */
    get count(): number;
    /** The largest wait the next draw may return: min(max, min·2^n). */
    ceiling(): number;
    /** Draws the wait before the next attempt, in [0, ceiling()], and counts the attempt. */
    next(): number;
    /** Starts again from min. */
    reset(): void;
    /** A connection opened. */
    connected(): void;
    /**
     * The connection ended. One that lasted stableAfter was healthy, so the
     * next wait starts from min again; one that dropped soon after opening
     * (a node that accepts and then fails) keeps the waits growing.
     */
    disconnected(): void;
}
