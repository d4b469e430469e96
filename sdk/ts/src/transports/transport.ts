// What the client and its connections say to each other. A connection is one
// attempt at one transport; the client owns the subscriptions and their
// positions, and each connection only carries them. That split is what lets
// the client move between transports without losing its place.

import type { SwitchboardError } from "../errors.js";
import type { ResolvedOptions, TransportName } from "../options.js";
import type { ClientInfo, Command, Position, Publication, ServerFrame } from "../protocol.js";

/** A channel a connection must carry, and where to resume it. */
export interface ChannelRequest {
  channel: string;
  /** The subscription's position; absent: start live. */
  since?: Position;
}

/** Where the node started a channel on a connection. */
export interface StartResult {
  /** The channel's latest position when the node subscribed the connection. */
  epoch: string;
  offset: number;
  /**
   * False when `since` was sent and the publications after it could not all
   * be replayed: the subscription continues from (epoch, offset).
   */
  recovered: boolean;
}

/** A join or leave of a channel with presence events. */
export interface PresenceEvent {
  channel: string;
  client: string;
  user?: string;
  info?: unknown;
}

/** Calls from a connection into the client. */
export interface ConnectionHandler {
  /** The channels to carry now, with their positions. */
  channels(): ChannelRequest[];
  /** The node started a channel; `since` is what the connection sent. */
  started(channel: string, start: StartResult, since: Position | undefined): void;
  /** A publication arrived, in order, possibly one already seen. */
  publication(pub: Publication): void;
  /**
   * The channel's history was replaced under the subscription (its epoch
   * changed): what follows is the new epoch's, from its start. `from` is the
   * position the node last delivered, when it says.
   */
  gap(channel: string, epoch: string, from: Position | undefined): void;
  /** The node refused a channel (permission, unknown namespace, ...). */
  refused(channel: string, err: SwitchboardError): void;
  /** The node ended a subscription on its own. */
  ended(channel: string, code: number, reason: string): void;
  presence(kind: "join" | "leave", ev: PresenceEvent): void;
  /** The node could not read the cursor built from the positions. */
  badCursor(): void;
  /** An error the node could not address to a request. */
  error(err: SwitchboardError): void;
  /** The current token, if any. */
  token(): string | undefined;
  /** Gets a fresh token (single flight); rejects when there is no way to. */
  refreshToken(): Promise<void>;
  /** Whether refreshToken can get one (the client has getToken). */
  canRefreshToken?(): boolean;
}

/** How and why a connection ended. */
export interface CloseInfo {
  /** A disconnect code (docs/errors.md), a WebSocket close code, or 0 for a network failure. */
  code: number;
  reason: string;
  /** Whether the client should connect again. */
  reconnect: boolean;
  error?: SwitchboardError;
}

/**
 * Connection is one transport's attempt to carry the client's channels.
 *
 * open() resolves once the node's first frame arrived (the WebSocket connect
 * reply, the SSE connected event, the first poll reply) and rejects with a
 * SwitchboardError otherwise: code 0 means the transport could not get
 * through, so the next one is worth a try. Nothing reaches the handler until
 * start(), so a connection opened while another still runs (an upgrade)
 * stays silent until the client switches to it. closed resolves once, when
 * the connection ends for whatever reason; close() makes it inert at once.
 */
export interface Connection {
  readonly transport: TransportName;
  /** The node's id for this client, once known. */
  readonly client: string | undefined;
  open(): Promise<void>;
  start(): void;
  /** The client's channel set changed. */
  sync(): void;
  readonly closed: Promise<CloseInfo>;
  /**
   * Calls listener synchronously when the connection ends, before closed
   * resolves: the client marks its subscriptions as resuming in the same
   * tick the connection is lost, never later.
   */
  onClosed(listener: (info: CloseInfo) => void): void;
  close(): void;
  /** Sends a command and waits for its reply (WebSocket only). */
  request?(cmd: Command, timeout: number): Promise<ServerFrame>;
}

/** What a connection is built from. */
export interface ConnectionContext {
  handler: ConnectionHandler;
  options: ResolvedOptions;
  /**
   * What outlives one connection of the client. pollClient is the id a
   * node gave a polling client: every poll sends it back (client=<id>) so the
   * node counts one client in presence across polls and reconnections.
   */
  memory?: { pollClient?: string };
}

/** Makes a connection of a transport. */
export type ConnectionFactory = (transport: TransportName) => Connection;

/** Helper for the `closed` promise: resolves once, remembers the first info. */
export class CloseSignal {
  readonly promise: Promise<CloseInfo>;
  private resolveFn!: (info: CloseInfo) => void;
  private done = false;
  private listeners: Array<(info: CloseInfo) => void> = [];

  constructor() {
    this.promise = new Promise((resolve) => (this.resolveFn = resolve));
  }

  get isClosed(): boolean {
    return this.done;
  }

  /** Adds a listener called synchronously by fire ; a signal already fired never calls it. */
  listen(listener: (info: CloseInfo) => void): void {
    if (!this.done) this.listeners.push(listener);
  }

  /** Resolves the promise and calls the listeners; later calls are ignored. Returns whether this call did it. */
  fire(info: CloseInfo): boolean {
    if (this.done) return false;
    this.done = true;
    const ls = this.listeners;
    this.listeners = [];
    for (const l of ls) l(info);
    this.resolveFn(info);
    return true;
  }
}

/** The info of a connection the client closed itself. */
export const CLOSED_BY_CLIENT: CloseInfo = { code: 0, reason: "closed by the client", reconnect: false };

/** The ClientInfo a join or leave frame carries. */
export function presenceOf(f: { channel?: unknown; client?: unknown; user?: unknown; info?: unknown }): PresenceEvent {
  const ev: PresenceEvent = { channel: String(f.channel ?? ""), client: String(f.client ?? "") };
  if (typeof f.user === "string") ev.user = f.user;
  if (f.info !== undefined) ev.info = f.info;
  return ev;
}

export type { ClientInfo };
