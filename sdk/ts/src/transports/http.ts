// HTTP helpers shared by SSE, polling and client publish: URLs with channel
// lists and cursors, requests bounded in time, coded errors, and working out
// which channel of a refused request was the problem.

import { Cursor } from "../cursor.js";
import { ErrorCode, SwitchboardError, noAnswer } from "../errors.js";
import type { FetchFunction, ResolvedOptions } from "../options.js";
import { POLL_CLIENT_ID, isObject, wireErrorOf } from "../protocol.js";
import type { ChannelRequest, ConnectionContext } from "./transport.js";

/**
 * The cursor for a set of channels, built from the client's positions; absent
 * when no channel has one yet (each then starts live).
 */
export function cursorFor(reqs: readonly ChannelRequest[]): string | undefined {
  const c = new Cursor();
  for (const r of reqs) if (r.since) c.set(r.channel, r.since);
  return c.size ? c.toString() : undefined;
}

/** The URL of a stream or poll for reqs. */
export function streamURL(endpoint: string, reqs: readonly ChannelRequest[], token: string | undefined, extra: Record<string, string> = {}): string {
  const u = new URL(endpoint);
  for (const r of reqs) u.searchParams.append("channel", r.channel);
  const cursor = cursorFor(reqs);
  if (cursor) u.searchParams.set("cursor", cursor);
  // EventSource can set no header, and a header would cost every poll a
  // CORS preflight; the node reads ?token= on both.
  if (token) u.searchParams.set("token", token);
  for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
  return u.href;
}

/** A GET for a stream probe or a poll, with cookies when the client sends them cross-origin. */
export function getInit(options: ResolvedOptions): RequestInit {
  return options.withCredentials ? { method: "GET", credentials: "include" } : { method: "GET" };
}

export function needFetch(f: FetchFunction | undefined): FetchFunction {
  if (!f) throw noAnswer("no fetch: pass options.fetch");
  return f;
}

/**
 * Sends a request and reads a JSON answer. A coded error body becomes a
 * SwitchboardError with its code; anything else that is not a 2xx JSON answer
 * (a proxy's 502 page, a 404 from a wrong path, a dropped connection, the
 * timeout) is code 0: the node did not answer.
 */
export async function requestJSON(
  f: FetchFunction,
  url: string,
  init: RequestInit,
  timeout: number,
  signal?: AbortSignal,
): Promise<unknown> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeout);
  const onAbort = () => ctl.abort();
  signal?.addEventListener("abort", onAbort);
  try {
    let res: Response;
    try {
      res = await f(url, { ...init, signal: ctl.signal });
    } catch (err) {
      throw noAnswer(ctl.signal.aborted && !signal?.aborted ? `no answer within ${timeout}ms` : `request failed: ${messageOf(err)}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(await res.text());
    } catch {
      throw new SwitchboardError(ErrorCode.NoAnswer, `HTTP ${res.status} without a JSON body`, res.status);
    }
    const we = wireErrorOf(body);
    if (we) throw new SwitchboardError(we.code, we.message, res.status);
    if (!res.ok) throw new SwitchboardError(ErrorCode.NoAnswer, `HTTP ${res.status}`, res.status);
    return body;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Codes that name one channel of a request rather than the whole of it. */
const CHANNEL_CODES: readonly number[] = [
  ErrorCode.UnknownChannel,
  ErrorCode.PermissionDenied,
  ErrorCode.InvalidChannel,
  ErrorCode.NotAvailable,
];

/**
 * A stream or poll is all or nothing: one refused channel refuses the whole
 * request, and only the message (which clients must not parse) says which.
 * So ask the node about each channel on its own, with short polls that hold
 * nothing and replay nothing. It runs only after a refusal.
 */
export async function refusedChannels(ctx: ConnectionContext, err: SwitchboardError, channels: readonly string[]): Promise<Map<string, SwitchboardError>> {
  const bad = new Map<string, SwitchboardError>();
  if (!CHANNEL_CODES.includes(err.code)) return bad;
  if (channels.length === 1) {
    bad.set(channels[0]!, err);
    return bad;
  }
  const token = ctx.handler.token();
  await Promise.all(
    channels.map(async (channel) => {
      try {
        await askPoll(ctx, [{ channel }], token);
      } catch (e) {
        if (e instanceof SwitchboardError && CHANNEL_CODES.includes(e.code)) bad.set(channel, e);
      }
    }),
  );
  return bad;
}

/**
 * Handles a coded refusal of a stream or poll for reqs: a bad cursor, an
 * expired token, refused channels. It reports whether the request is worth
 * sending again (with what is left), and throws what cannot be helped.
 */
export async function settleRefusal(ctx: ConnectionContext, err: SwitchboardError, reqs: readonly ChannelRequest[]): Promise<void> {
  switch (err.code) {
    case ErrorCode.BadCursor:
      ctx.handler.badCursor();
      return;
    case ErrorCode.TokenExpired:
      await ctx.handler.refreshToken();
      return;
  }
  const bad = await refusedChannels(
    ctx,
    err,
    reqs.map((r) => r.channel),
  );
  if (bad.size === 0) throw err;
  for (const [channel, e] of bad) ctx.handler.refused(channel, e);
}

/** Whether two channel lists are the same set. */
export function sameChannels(a: readonly ChannelRequest[], b: readonly ChannelRequest[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a.map((r) => r.channel));
  return b.every((r) => s.has(r.channel));
}

/**
 * Reads a channel's presence from the node's HTTP endpoint, for clients on
 * SSE or polling (or not connected): GET <presence>?channel=c, with the
 * token in the query as polls send it. An expired token is renewed once.
 */
export async function presenceOverHTTP(
  options: ResolvedOptions,
  channel: string,
  token: () => string | undefined,
  refreshToken: () => Promise<void>,
): Promise<unknown> {
  const body = await askOverHTTP(options, "presence", options.endpoints.presence, { channel }, token, refreshToken);
  return body.clients;
}

/** What to ask GET <history> for: the parameters of the node's history endpoints. */
export interface HistoryQuery {
  since?: { epoch: string; offset: number };
  limit?: number;
  reverse?: boolean;
}

/**
 * Reads a channel's history from the node's HTTP endpoint, for clients on
 * SSE or polling (or not connected): GET <history>?channel=c&since_epoch=
 * &since_offset=&limit=&reverse=, answered with the fields of the WebSocket
 * history reply (channel, epoch, offset, publications). An expired token is
 * renewed once.
 */
export async function historyOverHTTP(
  options: ResolvedOptions,
  channel: string,
  q: HistoryQuery,
  token: () => string | undefined,
  refreshToken: () => Promise<void>,
): Promise<Record<string, unknown>> {
  const params: Record<string, string> = { channel };
  if (q.since) {
    params.since_epoch = q.since.epoch;
    params.since_offset = String(q.since.offset);
  }
  // Over HTTP limit=0 asks for the position only; as on the WebSocket, 0
  // here means the node's default.
  if (q.limit) params.limit = String(q.limit);
  if (q.reverse) params.reverse = "true";
  return askOverHTTP(options, "history", options.endpoints.history, params, token, refreshToken);
}

/**
 * Reads a channel's latest position from the node's history endpoint
 * (limit=0: the position, no publications).
 */
export async function positionOverHTTP(
  options: ResolvedOptions,
  channel: string,
  token: () => string | undefined,
  refreshToken: () => Promise<void>,
): Promise<{ epoch: string; offset: number }> {
  const f = await askOverHTTP(options, "history", options.endpoints.history, { channel, limit: "0" }, token, refreshToken);
  if (typeof f.epoch !== "string" || typeof f.offset !== "number") throw noAnswer("the history reply has no position");
  return { epoch: f.epoch, offset: f.offset };
}

// askOverHTTP sends GET endpoint?params with the token in the query, as
// polls send it, and renews an expired token once.
async function askOverHTTP(
  options: ResolvedOptions,
  what: string,
  endpoint: string,
  params: Record<string, string>,
  token: () => string | undefined,
  refreshToken: () => Promise<void>,
): Promise<Record<string, unknown>> {
  const f = needFetch(options.fetch);
  for (let renewed = false; ; renewed = true) {
    const u = new URL(endpoint);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const t = token();
    if (t) u.searchParams.set("token", t);
    try {
      const body = await requestJSON(f, u.href, getInit(options), options.requestTimeout);
      if (!isObject(body)) throw noAnswer(`unreadable ${what} reply`);
      return body;
    } catch (err) {
      if (!renewed && err instanceof SwitchboardError && err.code === ErrorCode.TokenExpired) {
        await refreshToken();
        continue;
      }
      throw err;
    }
  }
}

/**
 * Checks that the node answers HTTP at the poll endpoint, for an SSE or poll
 * connection opened with no channel to carry yet. Without it such a
 * connection would count as open with nothing said to any node, and a node
 * that is down would look reachable (and be remembered) over SSE. A poll
 * with no channel is refused with a coded answer: any coded answer proves
 * the node is there; anything else (a network error, a proxy's page) is a
 * transport that does not get through.
 */
export async function probe(options: ResolvedOptions, token: string | undefined): Promise<void> {
  const u = new URL(options.endpoints.poll);
  u.searchParams.set("timeout", "0");
  if (token) u.searchParams.set("token", token);
  try {
    await requestJSON(needFetch(options.fetch), u.href, getInit(options), Math.min(options.requestTimeout, options.openTimeout));
  } catch (err) {
    if (err instanceof SwitchboardError && err.code !== ErrorCode.NoAnswer) return;
    throw err instanceof SwitchboardError ? err : noAnswer(String(err));
  }
}

/**
 * askPoll sends a short poll that only asks the node a question (would it
 * take these channels?). Each poll counts in the channels' presence, so it
 * goes as the client the node already knows, or becomes it: a client never
 * shows twice in presence because of its questions.
 */
export async function askPoll(ctx: ConnectionContext, reqs: readonly ChannelRequest[], token: string | undefined): Promise<void> {
  const extra: Record<string, string> = { timeout: "0" };
  const memory = ctx.memory;
  if (memory?.pollClient) extra.client = memory.pollClient;
  const body = await requestJSON(needFetch(ctx.options.fetch), streamURL(ctx.options.endpoints.poll, reqs, token, extra), getInit(ctx.options), ctx.options.requestTimeout);
  if (memory && isObject(body) && typeof body.client === "string" && POLL_CLIENT_ID.test(body.client)) memory.pollClient = body.client;
}
