// The Switchboard client: subscriptions and their positions, the connection
// loop over whichever transport gets through, publishing and history.

import { Backoff } from "./backoff.js";
import { Connector } from "./connector.js";
import { Emitter } from "./emitter.js";
import { ErrorCode, SwitchboardError, noAnswer } from "./errors.js";
import { type ResolvedOptions, type SwitchboardOptions, type TransportName, resolveOptions } from "./options.js";
import { type ClientInfo, type Position, type Publication, clientInfoOf, isObject, parsePublication } from "./protocol.js";
import { historyOverHTTP, positionOverHTTP, presenceOverHTTP } from "./transports/http.js";
import { type PublishOptions, type PublishResult, publish } from "./publish.js";
import { Subscription } from "./subscription.js";
import { PollConnection } from "./transports/poll.js";
import { Share, platformShareEnv } from "./share/share.js";
import { SSEConnection } from "./transports/sse.js";
import type { CloseInfo, Connection, ConnectionContext, ConnectionHandler } from "./transports/transport.js";
import { WebSocketConnection } from "./transports/ws.js";

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

const CHANNEL_NAME = /^[A-Za-z0-9_:.@/=+-]{1,255}$/;

function checkChannel(channel: string): void {
  if (!CHANNEL_NAME.test(channel)) {
    throw new SwitchboardError(ErrorCode.InvalidChannel, `invalid channel name ${JSON.stringify(channel)}: 1 to 255 of [A-Za-z0-9_:.@/=+-]`);
  }
}

/**
 * Switchboard connects to a node and keeps its subscriptions delivering, in
 * order and each publication once, across reconnections and transports.
 *
 *     const sb = new Switchboard("https://rt.example.com");
 *     sb.subscribe("chat:lobby").on("message", (m) => show(m.data));
 *     sb.connect();
 */
export class Switchboard extends Emitter<ClientEvents> {
  /** The node's base URL. */
  readonly url: string;
  private readonly opts: ResolvedOptions;
  private readonly subs = new Map<string, Subscription<unknown>>();
  // Subscriptions whose starting position is being read: no connection
  // starts them, and no publish of this client goes to their channel, until
  // it is known.
  private readonly reading = new Map<Subscription<unknown>, Promise<void>>();
  private readonly connector: Connector;
  private readonly getToken: (() => string | Promise<string>) | undefined;
  private tokenValue: string | undefined;
  private tokenFlight: Promise<void> | undefined;
  private st: ConnectionState = "disconnected";
  // Why the client stopped for good, until the next connect().
  private stoppedWith: SwitchboardError | undefined;
  private online = () => this.connector.wake();
  // The tabs' shared connection, with the share option (src/share).
  private readonly share: Share | undefined;

  constructor(url: string, options: SwitchboardOptions = {}) {
    super();
    this.url = url;
    this.opts = resolveOptions(url, options);
    this.tokenValue = options.token;
    this.getToken = options.getToken;
    const ctx: ConnectionContext = { handler: this.handler(), options: this.opts, memory: {} };
    const env = this.opts.share !== undefined ? platformShareEnv(options) : undefined;
    const share = (this.share = env && new Share({
      name: this.opts.share!,
      env,
      options: this.opts,
      create: createConnection,
      token: () => this.tokenValue,
      refreshToken: () => this.refreshToken(),
      canRefreshToken: () => this.getToken !== undefined,
      prepare: () => this.firstToken(),
      wake: () => this.connector.wake(),
    }));
    this.connector = new Connector({
      // Shared: one way to the node, through the leader tab.
      transports: share ? this.opts.transports.slice(0, 1) : this.opts.transports,
      openTimeout: this.opts.openTimeout,
      upgradeInterval: this.opts.upgradeInterval,
      backoff: new Backoff({ min: this.opts.minBackoff, max: this.opts.maxBackoff, stableAfter: this.opts.stableAfter }),
      storage: share ? null : this.opts.storage,
      storageKey: `switchboard:transport:${this.opts.endpoints.websocket}`,
      create: share ? () => share.connection(ctx.handler) : (t) => createConnection(t, ctx),
      prepare: async () => {
        await this.firstToken();
        await Promise.all(this.reading.values());
      },
      refreshToken: () => this.refreshToken(),
      onConnecting: (transport) => {
        this.st = "connecting";
        this.emit("connecting", { transport });
      },
      onConnected: (conn) => {
        this.st = "connected";
        this.emit("connected", { transport: conn.transport, ...(conn.client ? { client: conn.client } : {}) });
      },
      onLost: (info) => this.lost(info),
      onDisconnected: (info) => this.disconnected(info),
    });
  }

  /** disconnected, connecting or connected. */
  get state(): ConnectionState {
    return this.st;
  }

  /** The transport of the open connection, if any. */
  get transport(): TransportName | undefined {
    return this.connector.connection?.transport;
  }

  /** With the share option: whether this tab holds the shared connection now. */
  get leader(): boolean {
    return this.share?.leading ?? false;
  }

  /** The node's id for this client, when the transport tells it. */
  get client(): string | undefined {
    return this.connector.connection?.client;
  }

  /** Starts connecting, and keeps connected until disconnect() or the node says not to come back. */
  connect(): void {
    if (this.connector.running) return;
    this.st = "connecting";
    this.stoppedWith = undefined;
    const g = globalThis as { addEventListener?: (t: string, l: () => void) => void };
    g.addEventListener?.("online", this.online);
    this.share?.start();
    this.connector.start();
  }

  /** Closes the connection. Subscriptions and their positions are kept for the next connect(). */
  disconnect(): void {
    const g = globalThis as { removeEventListener?: (t: string, l: () => void) => void };
    g.removeEventListener?.("online", this.online);
    this.share?.stop();
    if (!this.connector.running) return;
    const wasConnected = this.connector.connection !== undefined;
    this.connector.stop();
    if (wasConnected || this.st !== "disconnected") this.disconnected({ code: 0, reason: "disconnect() called", reconnect: false });
  }

  /** Resolves once connected; rejects if the client stops for good first. */
  ready(): Promise<void> {
    if (this.st === "connected") return Promise.resolve();
    if (this.stoppedWith && !this.connector.running) return Promise.reject(this.stoppedWith);
    return new Promise((resolve, reject) => {
      const offs = [
        this.once("connected", () => {
          offs.forEach((f) => f());
          resolve();
        }),
        this.on("disconnected", (e) => {
          if (e.reconnect) return;
          offs.forEach((f) => f());
          reject(e.error ?? new SwitchboardError(e.code, e.reason));
        }),
      ];
    });
  }

  /**
   * Subscribes to a channel. Publications arrive as `message` events of the
   * Subscription, in order, each once; with `since`, those after that
   * position come first. Without `since`, it starts from the channel's
   * position when subscribe() is called, even before connect() or while
   * the connection is not a WebSocket: a publication that follows the call
   * (this client's own publish included) is delivered. Throws for an
   * invalid channel name or a channel already subscribed.
   */
  subscribe<T = unknown>(channel: string, opts: SubscribeOptions = {}): Subscription<T> {
    checkChannel(channel);
    if (this.subs.has(channel)) throw new SwitchboardError(ErrorCode.AlreadySubscribed, `already subscribed to ${channel}`);
    const sub = new Subscription<T>(channel, this.owner(), opts.since);
    this.subs.set(channel, sub as Subscription<unknown>);
    // An open WebSocket starts the channel at once, in order with whatever
    // this client sends after; anything else (no connection yet, a stream
    // reopened with the new channel, a poll) starts it later, so the
    // channel's position now is read first.
    if (!opts.since && !this.connector.connection?.request) this.readPosition(sub as Subscription<unknown>);
    else this.connector.connection?.sync();
    return sub;
  }

  // readPosition reads where the channel is now, for the subscription to
  // start from; when that fails (no history rights, no node), it starts
  // live as a subscription without a position does.
  private readPosition(sub: Subscription<unknown>): void {
    const read = (async () => {
      try {
        await this.firstToken();
        sub.createdAt(await positionOverHTTP(this.opts, sub.channel, () => this.tokenValue, () => this.refreshToken()));
      } catch {
        // Started live instead.
      } finally {
        this.reading.delete(sub);
        this.connector.connection?.sync();
      }
    })();
    this.reading.set(sub, read);
  }

  /** The subscription to a channel, if there is one. */
  getSubscription<T = unknown>(channel: string): Subscription<T> | undefined {
    return this.subs.get(channel) as Subscription<T> | undefined;
  }

  /** Every subscription. */
  subscriptions(): Subscription<unknown>[] {
    return [...this.subs.values()];
  }

  /**
   * Publishes to a channel whose namespace lets clients publish. It goes
   * over the WebSocket when the client is on one, else over HTTP (which
   * works even while no stream is open), with an idempotency key: a retry
   * after a lost answer lands once.
   */
  async publish(channel: string, data: unknown, opts?: PublishOptions): Promise<PublishResult> {
    await this.firstToken();
    // A subscription of this client made before the publish sees it.
    const sub = this.subs.get(channel);
    const read = sub && this.reading.get(sub);
    if (read) await read;
    return publish(
      {
        options: this.opts,
        connection: () => this.connector.connection,
        token: () => this.tokenValue,
        refreshToken: () => this.refreshToken(),
      },
      channel,
      data,
      opts,
    );
  }

  /**
   * Reads a channel's history, where its namespace lets the client. It asks
   * over the WebSocket when the client is on one, and over HTTP otherwise
   * (SSE, polling, or while no stream is open), so it works on every
   * transport.
   */
  async history<T = unknown>(channel: string, opts: HistoryOptions = {}): Promise<HistoryResult<T>> {
    checkChannel(channel);
    if (this.st === "connecting" && this.opts.transports[0] === "websocket") {
      // As for presence: a WebSocket about to open answers in one round trip.
      await this.connectedWithin(this.opts.openTimeout);
    }
    const conn = this.connector.connection;
    let f: Record<string, unknown>;
    if (conn?.request) {
      const r = await conn.request({ type: "history", channel, ...opts }, this.opts.requestTimeout);
      if (r.error) throw new SwitchboardError(r.error.code, r.error.message);
      f = r as unknown as Record<string, unknown>;
    } else {
      await this.firstToken();
      f = await historyOverHTTP(this.opts, channel, opts, () => this.tokenValue, () => this.refreshToken());
    }
    const pubs = Array.isArray(f.publications) ? f.publications : [];
    return {
      channel,
      epoch: String(f.epoch ?? ""),
      offset: Number(f.offset ?? 0),
      publications: pubs.map(parsePublication) as Publication<T>[],
    };
  }

  /**
   * Lists the clients present in a channel whose namespace has presence on:
   * WebSocket and SSE subscribers, and polling clients that polled it within
   * the node's presence TTL. It asks over the WebSocket when the client is on
   * one, and over HTTP otherwise (which works while no stream is open).
   */
  async presence(channel: string): Promise<ClientInfo[]> {
    checkChannel(channel);
    if (this.st === "connecting" && this.opts.transports[0] === "websocket") {
      // Connecting, perhaps to a WebSocket: one round trip on it is cheaper
      // than a request of its own, but not worth waiting long for.
      await this.connectedWithin(this.opts.openTimeout);
    }
    const conn = this.connector.connection;
    let clients: unknown;
    if (conn?.request) {
      const f = await conn.request({ type: "presence", channel }, this.opts.requestTimeout);
      if (f.error) throw new SwitchboardError(f.error.code, f.error.message);
      clients = f.clients;
    } else {
      await this.firstToken();
      clients = await presenceOverHTTP(this.opts, channel, () => this.tokenValue, () => this.refreshToken());
    }
    return Array.isArray(clients) ? clients.filter(isObject).map(clientInfoOf) : [];
  }

  // connectedWithin waits until the client is connected, stops for good, or
  // ms pass, whichever comes first, and leaves no listener behind.
  private connectedWithin(ms: number): Promise<void> {
    if (this.st !== "connecting") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        offConnected();
        offDisconnected();
        resolve();
      };
      const timer = setTimeout(done, ms);
      const offConnected = this.on("connected", done);
      const offDisconnected = this.on("disconnected", (e) => {
        if (!e.reconnect) done();
      });
    });
  }

  // The connection is gone: nothing carries the subscriptions until the
  // next one, and the state says so at once.
  private lost(info: CloseInfo): void {
    for (const s of this.subs.values()) s.suspended();
    this.st = info.reconnect ? "connecting" : "disconnected";
  }

  private disconnected(info: CloseInfo): void {
    for (const s of this.subs.values()) s.suspended();
    this.st = info.reconnect ? "connecting" : "disconnected";
    if (!info.reconnect) this.stoppedWith = info.error ?? new SwitchboardError(info.code, info.reason);
    const e: DisconnectedEvent = { code: info.code, reason: info.reason, reconnect: info.reconnect };
    if (info.error) e.error = info.error;
    this.emit("disconnected", e);
  }

  // firstToken gets a token from getToken when the client has none yet, as
  // connecting does, for requests made before (or without) a connection.
  private async firstToken(): Promise<void> {
    if (this.tokenValue === undefined && this.getToken) await this.refreshToken();
  }

  // refreshToken asks getToken for a token, once at a time however many
  // parts of the client find the token expired together.
  private refreshToken(): Promise<void> {
    const get = this.getToken;
    if (!get) return Promise.reject(new SwitchboardError(ErrorCode.TokenExpired, "the token expired and there is no getToken to renew it"));
    this.tokenFlight ??= (async () => {
      try {
        const t = await get();
        if (typeof t !== "string") throw noAnswer("getToken returned no token");
        this.tokenValue = t;
      } finally {
        this.tokenFlight = undefined;
      }
    })();
    return this.tokenFlight;
  }

  private owner() {
    return {
      removeSubscription: (sub: Subscription<unknown>) => {
        if (this.subs.get(sub.channel) !== sub) return;
        this.subs.delete(sub.channel);
        this.connector.connection?.sync();
      },
      publish: (channel: string, data: unknown, opts?: PublishOptions) => this.publish(channel, data, opts),
    };
  }

  // handler is what connections call. Connections never hold subscriptions:
  // they read positions from here and report what the node says.
  private handler(): ConnectionHandler {
    return {
      channels: () => {
        const out = [];
        for (const s of this.subs.values()) {
          if (this.reading.has(s)) continue;
          const since = s.position;
          out.push(since ? { channel: s.channel, since } : { channel: s.channel });
        }
        return out;
      },
      started: (channel, start, since) => this.subs.get(channel)?.started(start, since),
      publication: (p) => void this.subs.get(p.channel)?.deliver(p),
      gap: (channel, epoch, from) => this.subs.get(channel)?.epochChanged(epoch, from),
      refused: (channel, err) => this.endSubscription(channel, err, err.code, err.message),
      ended: (channel, code, reason) => this.endSubscription(channel, new SwitchboardError(code, reason), code, reason),
      presence: (kind, ev) => this.subs.get(ev.channel)?.presence(kind, ev),
      badCursor: () => {
        for (const s of this.subs.values()) s.forget();
      },
      error: (err) => this.emit("error", err),
      token: () => this.tokenValue,
      refreshToken: () => this.refreshToken(),
      canRefreshToken: () => this.getToken !== undefined,
    };
  }

  // The connection already dropped the channel; the subscription only hears
  // why. It does not sync the connection, which is settling the refusal.
  private endSubscription(channel: string, err: SwitchboardError, code: number, reason: string): void {
    const s = this.subs.get(channel);
    if (!s) return;
    this.subs.delete(channel);
    s.ended(err, code, reason);
  }
}

function createConnection(t: TransportName, ctx: ConnectionContext): Connection {
  switch (t) {
    case "websocket":
      return new WebSocketConnection(ctx);
    case "sse":
      return new SSEConnection(ctx);
    case "longpoll":
    case "poll":
      return new PollConnection(ctx, t);
  }
}
