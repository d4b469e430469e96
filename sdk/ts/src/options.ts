// Options of a Switchboard client, their defaults, and the platform objects
// (WebSocket, EventSource, fetch, storage) the SDK uses: the globals where
// they exist, or implementations the application passes in (Node 20 has no
// global WebSocket or EventSource).

import type { BroadcastChannelConstructor, LockManagerLike } from "./share/bus.js";

/** A way of reaching a node. */
export type TransportName = "websocket" | "sse" | "longpoll" | "poll";

/** The transports tried when none are given: best first. */
export const DEFAULT_TRANSPORTS: readonly TransportName[] = ["websocket", "sse", "longpoll"];

/** Overrides where each transport connects; each defaults to the base URL plus its /connection/ path. */
export interface Endpoints {
  /** ws:// or wss:// URL (http(s):// works too). Default <base>/connection/websocket. */
  websocket?: string;
  /** Default <base>/connection/sse. */
  sse?: string;
  /** Long and short polling. Default <base>/connection/poll. */
  poll?: string;
  /** Client publish when not on a WebSocket. Default <base>/connection/publish. */
  publish?: string;
  /** Presence when not on a WebSocket. Default <base>/connection/presence. */
  presence?: string;
  /** History when not on a WebSocket. Default <base>/connection/history. */
  history?: string;
}

// The platform types are structural and loose (handlers take `any`), so that
// both the browser's classes and Node's `ws` and `eventsource` fit.

/* eslint-disable @typescript-eslint/no-explicit-any */
/** What the SDK needs of a WebSocket: the browser's, or the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** What the SDK needs of an EventSource: the browser's, or the `eventsource` package's. */
export interface EventSourceLike {
  readonly readyState: number;
  onmessage: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  addEventListener(type: string, listener: (ev: any) => void): void;
  close(): void;
}
export type EventSourceConstructor = new (url: string, init?: any) => EventSourceLike;
/* eslint-enable @typescript-eslint/no-explicit-any */

export type FetchFunction = typeof fetch;

/** Where the transport that worked is remembered: sessionStorage in browsers. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Options of a Switchboard client. Every field is optional. */
export interface SwitchboardOptions {
  /** Transports to try, best first. Default websocket, sse, longpoll. */
  transports?: TransportName[];
  /** Per-transport URL overrides. */
  endpoints?: Endpoints;
  /** A token (JWT) to connect with. Default: none, an anonymous client. */
  token?: string;
  /**
   * Returns a token. Called before the first connection when `token` is not
   * set, and whenever the node says the token expired (error 109,
   * disconnect 3005). Never called concurrently with itself.
   */
  getToken?: () => string | Promise<string>;

  /** Ceiling of the first reconnection wait, ms. Default 500. */
  minBackoff?: number;
  /** Largest reconnection wait, ms. Default 20000. */
  maxBackoff?: number;
  /** A connection that lasts this long resets the backoff, ms. Default 10000. */
  stableAfter?: number;
  /** Time for a transport to open up to the node's first frame before the next is tried, ms. Default 5000. */
  openTimeout?: number;
  /** How often a client on a worse transport tries the better ones again, ms; negative: never. Default 180000. */
  upgradeInterval?: number;
  /** Added to the node's ping interval before a silent WebSocket counts as dead, ms. Default 10000. */
  pingGrace?: number;
  /** How long the node may hold a long poll, ms. Default 25000. */
  longPollTimeout?: number;
  /** Pause between short polls, ms. Default 2000. */
  pollInterval?: number;
  /** Bound on one attempt of a request (publish, history, a short poll), ms. Default 10000. */
  requestTimeout?: number;
  /** Bound on a publish with all its retries, ms. Default 30000. */
  publishTimeout?: number;

  /**
   * Sends cookies to a node on another origin: EventSource withCredentials
   * and fetch credentials "include" (for a token in the switchboard_token
   * cookie). WebSockets send cookies anyway. Default false.
   */
  withCredentials?: boolean;

  /** WebSocket implementation. Default globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** EventSource implementation. Default globalThis.EventSource. */
  EventSource?: EventSourceConstructor;
  /** fetch implementation. Default globalThis.fetch. */
  fetch?: FetchFunction;
  /** Where to remember the transport that worked; null: nowhere. Default sessionStorage when available. */
  storage?: StorageLike | null;

  /**
   * Shares one connection among the tabs of this origin: true, or a name
   * (tabs share with the tabs that use the same name and node; true is the
   * name "default"). One tab, elected with Web Locks, holds the connection;
   * the others subscribe through it over a BroadcastChannel and take over,
   * each from its own positions, when it closes or crashes. Where the
   * platform has no Web Locks or BroadcastChannel (Node), the client
   * connects on its own. Default false. See docs/sdk.md.
   */
  share?: boolean | string;
  /** Web Locks implementation for share. Default navigator.locks. */
  locks?: LockManagerLike;
  /** BroadcastChannel implementation for share. Default globalThis.BroadcastChannel. */
  BroadcastChannel?: BroadcastChannelConstructor;
}

/** Options with every default filled in. */
export interface ResolvedOptions {
  transports: TransportName[];
  endpoints: Required<Endpoints>;
  minBackoff: number;
  maxBackoff: number;
  stableAfter: number;
  openTimeout: number;
  upgradeInterval: number;
  pingGrace: number;
  longPollTimeout: number;
  pollInterval: number;
  requestTimeout: number;
  publishTimeout: number;
  withCredentials: boolean;
  WebSocket: WebSocketConstructor | undefined;
  EventSource: EventSourceConstructor | undefined;
  fetch: FetchFunction | undefined;
  storage: StorageLike | null;
  /** The share name, when the tabs share a connection. */
  share: string | undefined;
}

export function resolveOptions(url: string, o: SwitchboardOptions): ResolvedOptions {
  const transports = o.transports?.length ? [...o.transports] : [...DEFAULT_TRANSPORTS];
  const seen = new Set<string>();
  for (const t of transports) {
    if (!["websocket", "sse", "longpoll", "poll"].includes(t)) throw new TypeError(`unknown transport ${JSON.stringify(t)}`);
    if (seen.has(t)) throw new TypeError(`transport ${t} listed twice`);
    seen.add(t);
  }
  const g = globalThis as Record<string, unknown>;
  const ms = (v: number | undefined, def: number) => (v !== undefined && v > 0 ? v : def);
  const minBackoff = ms(o.minBackoff, 500);
  return {
    transports,
    endpoints: endpoints(url, o.endpoints ?? {}),
    minBackoff,
    maxBackoff: Math.max(ms(o.maxBackoff, 20_000), minBackoff),
    stableAfter: ms(o.stableAfter, 10_000),
    openTimeout: ms(o.openTimeout, 5_000),
    upgradeInterval: o.upgradeInterval === undefined || o.upgradeInterval === 0 ? 180_000 : o.upgradeInterval,
    pingGrace: ms(o.pingGrace, 10_000),
    longPollTimeout: ms(o.longPollTimeout, 25_000),
    pollInterval: ms(o.pollInterval, 2_000),
    requestTimeout: ms(o.requestTimeout, 10_000),
    publishTimeout: ms(o.publishTimeout, 30_000),
    withCredentials: o.withCredentials === true,
    WebSocket: o.WebSocket ?? (g.WebSocket as WebSocketConstructor | undefined),
    EventSource: o.EventSource ?? (g.EventSource as EventSourceConstructor | undefined),
    // Bound, because some browsers refuse fetch called on another object.
    fetch: o.fetch ?? (typeof g.fetch === "function" ? (g.fetch as FetchFunction).bind(globalThis) : undefined),
    storage: o.storage === undefined ? sessionStorageIfAny() : o.storage,
    share: o.share === true ? "default" : typeof o.share === "string" && o.share !== "" ? o.share : undefined,
  };
}

/** Derives every endpoint from the base URL, keeping overrides. */
export function endpoints(base: string, over: Endpoints): Required<Endpoints> {
  const u = new URL(base, (globalThis as { location?: { href: string } }).location?.href);
  let http: string;
  let ws: string;
  switch (u.protocol) {
    case "http:":
    case "ws:":
      [http, ws] = ["http:", "ws:"];
      break;
    case "https:":
    case "wss:":
      [http, ws] = ["https:", "wss:"];
      break;
    default:
      throw new TypeError(`URL ${base}: the scheme must be http, https, ws or wss`);
  }
  const path = u.pathname.replace(/\/+$/, "");
  const at = (scheme: string, p: string) => `${scheme}//${u.host}${path}${p}`;
  // An override may be relative to the base URL ("/rt/sse").
  const resolve = (s: string) => new URL(s, u).href;
  return {
    websocket: over.websocket ? resolve(over.websocket).replace(/^http(s?):/i, "ws$1:") : at(ws, "/connection/websocket"),
    sse: over.sse ? resolve(over.sse) : at(http, "/connection/sse"),
    poll: over.poll ? resolve(over.poll) : at(http, "/connection/poll"),
    publish: over.publish ? resolve(over.publish) : at(http, "/connection/publish"),
    presence: over.presence ? resolve(over.presence) : at(http, "/connection/presence"),
    history: over.history ? resolve(over.history) : at(http, "/connection/history"),
  };
}

// Reading sessionStorage throws in some browsers (storage disabled, sandboxed
// frames), so a failure means "no storage", not an error.
function sessionStorageIfAny(): StorageLike | null {
  try {
    const s = (globalThis as { sessionStorage?: StorageLike }).sessionStorage;
    return s ?? null;
  } catch {
    return null;
  }
}
