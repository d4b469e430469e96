import type { ResolvedOptions } from "./options.js";
import type { Connection } from "./transports/transport.js";
/** Where a publication landed. */
export interface PublishResult {
    epoch: string;
    offset: number;
    /** The idempotency key it was sent with. */
    key: string;
    /** True when the node had it already (the same key in the dedupe window); only the HTTP path tells. */
    duplicate?: boolean;
}
export interface PublishOptions {
    /** The idempotency key. Default: a random one per call. */
    key?: string;
    /** Cancels the publish (and its retries). */
    signal?: AbortSignal;
    /** Bound on the publish with all its retries, ms. Default options.publishTimeout. */
    timeout?: number;
}
export interface PublishDeps {
    options: ResolvedOptions;
    /** The open WebSocket connection, if that is what the client is on. */
    connection(): Connection | undefined;
    token(): string | undefined;
    refreshToken(): Promise<void>;
}
/** A random idempotency key. */
export declare function newKey(): string;
/**
 * publish sends over the WebSocket when the client is on one, and to the
 * publish endpoint otherwise. Temporary failures are retried with the same
 * key, with backoff, until opts.timeout; a refusal (permission, size, a bad
 * channel) is not.
 */
export declare function publish(deps: PublishDeps, channel: string, data: unknown, opts?: PublishOptions): Promise<PublishResult>;
