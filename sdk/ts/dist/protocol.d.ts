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
export declare function encodeCommand(c: Command): string;
/** Parses one frame from the node. Throws on anything but a JSON object with a type. */
export declare function parseFrame(text: string): ServerFrame;
/** Parses a bare publication: SSE event data, poll replies, history. */
export declare function parsePublication(v: unknown): Publication;
/** The publication a `message` frame carries, without the frame's type. */
export declare function publicationOf(f: ServerFrame): Publication;
/** Reads a coded error body (`{"error":{"code":N,"message":"..."}}`), if that is what v is. */
export declare function wireErrorOf(v: unknown): WireError | undefined;
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
export declare const POLL_CLIENT_ID: RegExp;
export declare function parsePollReply(v: unknown): PollReply;
export declare function parseConnected(v: unknown): Connected;
export declare function parseDisconnect(v: unknown): Disconnect;
/**
 * reconnects applies the node's rule for a disconnect code it did not
 * explain: 3000–3499 come back, 3500–3999 stay away. Any other code (a
 * network failure, a WebSocket close without a Switchboard code) is not the
 * node's verdict, so the client comes back.
 */
export declare function reconnects(code: number): boolean;
/** A presence entry as the node writes it; user and info are absent for anonymous clients. */
export declare function clientInfoOf(v: Record<string, unknown>): ClientInfo;
export declare function isObject(v: unknown): v is Record<string, unknown>;
