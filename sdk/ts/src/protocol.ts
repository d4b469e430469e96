// The wire shapes of Switchboard protocol v1, shared by every transport:
// WebSocket frames, SSE event data and poll replies. The golden frames in the
// node's protocol/testdata/frames are the reference; the tests check this
// file against them.

/** Where a subscriber is in a channel: the last offset it has, in an epoch. */
export interface Position {
  /** One life of the channel's history; offsets compare only within it. */
  epoch: string;
  /** Per-channel, increasing by exactly one per publication. */
  offset: number;
}

/** The connection that published, for publications sent by a client. */
export interface ClientInfo {
  client: string;
  user?: string;
  info?: unknown;
}

/** One message of a channel. */
export interface Publication<T = unknown> {
  channel: string;
  epoch: string;
  offset: number;
  data: T;
  /** When the node accepted it, in Unix milliseconds. */
  time: number;
  /** The publisher's idempotency key, if it gave one. */
  key?: string;
  info?: ClientInfo;
}

/** A coded error as the node writes it. */
export interface WireError {
  code: number;
  message: string;
}

/** The connection-ending frame (WebSocket push, SSE `disconnect` event). */
export interface Disconnect {
  code: number;
  reason: string;
  reconnect: boolean;
}

/** A frame from the node. Fields depend on `type`; unknown ones are kept. */
export interface ServerFrame {
  type: string;
  id?: number;
  error?: WireError;
  channel?: string;
  epoch?: string;
  offset?: number;
  recovered?: boolean;
  /** In a `gap` push: the position the subscriber had; `epoch` is then the new one. */
  from?: Position;
  data?: unknown;
  time?: number;
  key?: string;
  info?: unknown;
  client?: string;
  user?: string;
  ping_interval?: number;
  publications?: Publication[];
  clients?: ClientInfo[];
  code?: number;
  reason?: string;
  reconnect?: boolean;
  expires?: number;
  [field: string]: unknown;
}

/** A command to the node. */
export interface Command {
  type: "connect" | "subscribe" | "unsubscribe" | "publish" | "history" | "presence" | "refresh" | "pong";
  id?: number;
  token?: string;
  channel?: string;
  since?: Position;
  data?: unknown;
  key?: string;
  limit?: number;
  reverse?: boolean;
}

/**
 * encodeCommand writes a command as the node's own encoder does: type and id
 * first, then the other fields in a fixed order, empty ones left out. The
 * node accepts any order; a fixed one makes frames comparable byte for byte
 * with the golden files.
 */
export function encodeCommand(c: Command): string {
  const o: Record<string, unknown> = { type: c.type };
  if (c.id) o.id = c.id;
  if (c.token) o.token = c.token;
  if (c.channel) o.channel = c.channel;
  if (c.since) o.since = { epoch: c.since.epoch, offset: c.since.offset };
  if (c.type === "publish") {
    if (c.data === undefined) throw new TypeError("publish needs data: any JSON value");
    o.data = c.data;
  }
  if (c.key) o.key = c.key;
  if (c.limit) o.limit = c.limit;
  if (c.reverse) o.reverse = true;
  return JSON.stringify(o);
}

/** Parses one frame from the node. Throws on anything but a JSON object with a type. */
export function parseFrame(text: string): ServerFrame {
  const v: unknown = JSON.parse(text);
  if (!isObject(v) || typeof v.type !== "string") throw new SyntaxError("frame is not an object with a type");
  return v as ServerFrame;
}

/** Parses a bare publication: SSE event data, poll replies, history. */
export function parsePublication(v: unknown): Publication {
  if (!isObject(v) || typeof v.channel !== "string" || typeof v.epoch !== "string" || typeof v.offset !== "number") {
    throw new SyntaxError("not a publication");
  }
  return v as unknown as Publication;
}

/** The publication a `message` frame carries, without the frame's type. */
export function publicationOf(f: ServerFrame): Publication {
  const { type: _type, ...rest } = f;
  return parsePublication(rest);
}

/** Reads the old position a `gap` push carries, if it is one. */
export function positionOf(v: unknown): Position | undefined {
  if (!isObject(v) || typeof v.epoch !== "string" || typeof v.offset !== "number") return undefined;
  return { epoch: v.epoch, offset: v.offset };
}

/** Reads a coded error body (`{"error":{"code":N,"message":"..."}}`), if that is what v is. */
export function wireErrorOf(v: unknown): WireError | undefined {
  if (!isObject(v) || !isObject(v.error)) return undefined;
  const { code, message } = v.error;
  if (typeof code !== "number") return undefined;
  return { code, message: typeof message === "string" ? message : "" };
}

/** The start of a channel on a connection: the SSE `connected` event's entries. */
export interface ChannelStart {
  epoch: string;
  offset: number;
  recovered: boolean;
}

/** The SSE `connected` event's data. */
export interface Connected {
  client: string;
  channels: Record<string, ChannelStart>;
  /** Seconds between the node's ping events (older nodes: absent). */
  ping_interval?: number;
}

/** A poll reply. */
export interface PollReply {
  publications: Publication[];
  cursor: string;
  recovered: boolean;
  gaps: string[];
  /** The node's id for the polling client, to send back on the next poll. */
  client?: string;
}

/** What a node accepts as a polling client's id: 1 to 64 of [A-Za-z0-9_-]. */
export const POLL_CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function parsePollReply(v: unknown): PollReply {
  if (!isObject(v) || !Array.isArray(v.publications) || typeof v.cursor !== "string") {
    throw new SyntaxError("not a poll reply");
  }
  const r: PollReply = {
    publications: v.publications.map(parsePublication),
    cursor: v.cursor,
    recovered: v.recovered !== false,
    gaps: Array.isArray(v.gaps) ? v.gaps.filter((g): g is string => typeof g === "string") : [],
  };
  if (typeof v.client === "string" && POLL_CLIENT_ID.test(v.client)) r.client = v.client;
  return r;
}

export function parseConnected(v: unknown): Connected {
  if (!isObject(v) || !isObject(v.channels)) throw new SyntaxError("not a connected event");
  return {
    client: typeof v.client === "string" ? v.client : "",
    channels: v.channels as Record<string, ChannelStart>,
    ...(typeof v.ping_interval === "number" && v.ping_interval > 0 ? { ping_interval: v.ping_interval } : {}),
  };
}

export function parseDisconnect(v: unknown): Disconnect {
  if (!isObject(v) || typeof v.code !== "number") throw new SyntaxError("not a disconnect");
  return {
    code: v.code,
    reason: typeof v.reason === "string" ? v.reason : "",
    reconnect: typeof v.reconnect === "boolean" ? v.reconnect : reconnects(v.code),
  };
}

/**
 * reconnects applies the node's rule for a disconnect code it did not
 * explain: 3000–3499 come back, 3500–3999 stay away. Any other code (a
 * network failure, a WebSocket close without a Switchboard code) is not the
 * node's verdict, so the client comes back.
 */
export function reconnects(code: number): boolean {
  return !(code >= 3500 && code <= 3999);
}

/** A presence entry as the node writes it; user and info are absent for anonymous clients. */
export function clientInfoOf(v: Record<string, unknown>): ClientInfo {
  const c: ClientInfo = { client: String(v.client ?? "") };
  if (typeof v.user === "string" && v.user !== "") c.user = v.user;
  if (v.info !== undefined && v.info !== null) c.info = v.info;
  return c;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
