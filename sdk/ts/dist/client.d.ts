import { Emitter } from "./emitter.js";
import { SwitchboardError } from "./errors.js";
import { type SwitchboardOptions, type TransportName } from "./options.js";
import { type ClientInfo, type Position, type Publication } from "./protocol.js";
import { type PublishOptions, type PublishResult } from "./publish.js";
import { Subscription } from "./subscription.js";
export type ConnectionState = "disconnected" | "connecting" | "connected";
export interface ConnectingEvent {
    /** The transport being tried. */
    transport: TransportName;
}
export interface ConnectedEvent {
    transport: TransportName;
    /** The node's id for this client, when the transport has one yet (a polling client gets it with its first poll). */
    client?: string;
}
export interface DisconnectedEvent {
    /** A disconnect code (docs/errors.md), a WebSocket close code, an error code, or 0. */
    code: number;
    reason: string;
    /** Whether the client will connect again by itself. */
    reconnect: boolean;
    error?: SwitchboardError;
}
export interface ClientEvents {
    connecting: ConnectingEvent;
    connected: ConnectedEvent;
    disconnected: DisconnectedEvent;
    /** Errors the node could not address to a request or subscription. */
    error: SwitchboardError;
}
export interface SubscribeOptions {
    /** Resume after this position (e.g. one saved from an earlier page load). */
    since?: Position;
}
export interface HistoryOptions {
    /** Publications after this position. */
    since?: Position;
    /** At most this many (the node's default is 100, its maximum 1000). */
    limit?: number;
    /** Newest first. */
    reverse?: boolean;
}
export interface HistoryResult<T = unknown> {
    channel: string;
    /** The channel's latest position. */
    epoch: string;
    offset: number;
    publications: Publication<T>[];
}
/**
 * Switchboard connects to a node and keeps its subscriptions delivering, in
 * order and each publication once, across reconnections and transports.
 *
 *     const sb = new Switchboard("https://rt.example.com");
 *     sb.subscribe("chat:lobby").on("message", (m) => show(m.data));
 *     sb.connect();
 */
export declare class Switchboard extends Emitter<ClientEvents> {
    /** The node's base URL. */
    readonly url: string;
    private readonly opts;
    private readonly subs;
    private readonly connector;
    private readonly getToken;
    private tokenValue;
    private tokenFlight;
    private st;
    private stoppedWith;
    private online;
    constructor(url: string, options?: SwitchboardOptions);
    /** disconnected, connecting or connected. */
    get state(): ConnectionState;
    /** The transport of the open connection, if any. */
    get transport(): TransportName | undefined;
    /** The node's id for this client, when the transport tells it. */
    get client(): string | undefined;
    /** Starts connecting, and keeps connected until disconnect() or the node says not to come back. */
    connect(): void;
    /** Closes the connection. Subscriptions and their positions are kept for the next connect(). */
    disconnect(): void;
    /** Resolves once connected; rejects if the client stops for good first. */
    ready(): Promise<void>;
    /**
     * Subscribes to a channel. Publications arrive as `message` events of the
     * Subscription, in order, each once; with `since`, those after that
     * position come first. Throws for an invalid channel name or a channel
     * already subscribed.
     */
    subscribe<T = unknown>(channel: string, opts?: SubscribeOptions): Subscription<T>;
    /** The subscription to a channel, if there is one. */
    getSubscription<T = unknown>(channel: string): Subscription<T> | undefined;
    /** Every subscription. */
    subscriptions(): Subscription<unknown>[];
    /**
     * Publishes to a channel whose namespace lets clients publish. It goes
     * over the WebSocket when the client is on one, else over HTTP (which
     * works even while no stream is open), with an idempotency key: a retry
     * after a lost answer lands once.
     */
    publish(channel: string, data: unknown, opts?: PublishOptions): Promise<PublishResult>;
    /**
     * Reads a channel's history, where its namespace lets the client. It asks
     * over the WebSocket when the client is on one, and over HTTP otherwise
     * (SSE, polling, or while no stream is open), so it works on every
     * transport.
     */
    history<T = unknown>(channel: string, opts?: HistoryOptions): Promise<HistoryResult<T>>;
    /**
     * Lists the clients present in a channel whose namespace has presence on:
     * WebSocket and SSE subscribers, and polling clients that polled it within
     * the node's presence TTL. It asks over the WebSocket when the client is on
     * one, and over HTTP otherwise (which works while no stream is open).
     */
    presence(channel: string): Promise<ClientInfo[]>;
    private connectedWithin;
    private lost;
    private disconnected;
    private firstToken;
    private refreshToken;
    private owner;
    private handler;
    private endSubscription;
}
