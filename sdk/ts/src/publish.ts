// Publishing from a client, with an idempotency key and safe retries.
//
// Every publish carries a key (drawn here when the application gives none).
// The node remembers keys per channel for its dedupe window (5 minutes by
// default) and answers a repeat with the first publication's position,
// delivering nothing new. So a publish whose answer was lost — a timeout, a
// connection cut mid-request — is simply sent again with the same key, over
// whatever way to the node there is then, and lands once.

import { Backoff } from "./backoff.js";
import { ErrorCode, SwitchboardError, asSwitchboardError, noAnswer } from "./errors.js";
import type { ResolvedOptions } from "./options.js";
import { isObject } from "./protocol.js";
import { needFetch, requestJSON } from "./transports/http.js";
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
export function newKey(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  const b = new Uint8Array(16);
  if (c?.getRandomValues) c.getRandomValues(b);
  else for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * publish sends over the WebSocket when the client is on one, and to the
 * publish endpoint otherwise. Temporary failures are retried with the same
 * key, with backoff, until opts.timeout; a refusal (permission, size, a bad
 * channel) is not.
 */
export async function publish(deps: PublishDeps, channel: string, data: unknown, opts: PublishOptions = {}): Promise<PublishResult> {
  if (data === undefined) throw new TypeError("publish needs data: any JSON value");
  const o = deps.options;
  const key = opts.key ?? newKey();
  const deadline = Date.now() + (opts.timeout ?? o.publishTimeout);
  const backoff = new Backoff({ min: o.minBackoff, max: Math.min(o.maxBackoff, 5_000), stableAfter: Infinity });
  let renewed = false;
  for (;;) {
    if (opts.signal?.aborted) throw noAnswer("publish aborted");
    try {
      return await attempt(deps, channel, data, key, Math.min(o.requestTimeout, Math.max(1, deadline - Date.now())), opts.signal);
    } catch (err) {
      const e = asSwitchboardError(err);
      if (opts.signal?.aborted) throw e;
      if (e.code === ErrorCode.TokenExpired && !renewed) {
        await deps.refreshToken();
        renewed = true;
        continue;
      }
      if (!e.temporary) throw e;
      const wait = backoff.next();
      if (Date.now() + wait >= deadline) throw e;
      await sleep(wait, opts.signal);
    }
  }
}

async function attempt(deps: PublishDeps, channel: string, data: unknown, key: string, timeout: number, signal?: AbortSignal): Promise<PublishResult> {
  const conn = deps.connection();
  if (conn?.request) {
    const f = await conn.request({ type: "publish", channel, data, key }, timeout);
    if (f.error) throw new SwitchboardError(f.error.code, f.error.message);
    return { epoch: String(f.epoch ?? ""), offset: Number(f.offset ?? 0), key };
  }
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  const token = deps.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  const body = await requestJSON(
    needFetch(deps.options.fetch),
    deps.options.endpoints.publish,
    {
      method: "POST",
      headers,
      body: JSON.stringify({ channel, data, key }),
      ...(deps.options.withCredentials ? { credentials: "include" as const } : {}),
    },
    timeout,
    signal,
  );
  if (!isObject(body) || typeof body.offset !== "number") throw noAnswer("unreadable publish reply");
  const r: PublishResult = { epoch: String(body.epoch ?? ""), offset: body.offset, key };
  if (body.duplicate === true) r.duplicate = true;
  return r;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
