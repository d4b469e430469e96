/** A way of reaching a node. */
export type TransportName = "websocket" | "sse" | "longpoll" | "poll";
/** The transports tried when none are given: best first. */
export declare const DEFAULT_TRANSPORTS: readonly TransportName[];
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
}
export declare function resolveOptions(url: string, o: SwitchboardOptions): ResolvedOptions;
/** Derives every endpoint from the base URL, keeping overrides. */
export declare function endpoints(base: string, over: Endpoints): Required<Endpoints>;
