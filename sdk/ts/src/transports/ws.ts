// The WebSocket transport: protocol v1, JSON text frames both ways. The
// connection is open once the node answers connect; then it subscribes every
// channel with its position ("since") and keeps the node's channel set equal
// to the client's as subscriptions come and go.

import { ErrorCode, SwitchboardError, isTemporary, noAnswer } from "../errors.js";
import type { WebSocketLike } from "../options.js";
import { type Command, type Position, type ServerFrame, encodeCommand, parseFrame, positionOf, publicationOf, reconnects } from "../protocol.js";
import { CLOSED_BY_CLIENT, CloseSignal, type CloseInfo, type Connection, type ConnectionContext, presenceOf } from "./transport.js";

const OPEN = 1;

interface Pending {
  resolve(f: ServerFrame): void;
  reject(err: SwitchboardError): void;
  timer: ReturnType<typeof setTimeout>;
}

// Where a channel stands on this connection.
interface ChannelState {
  // The subscribe command in flight, if any.
  pendingId?: number;
  since?: Position;
  subscribed: boolean;
  // Retries of a temporary refusal (too many requests, a busy node).
  retries: number;
  retryTimer?: ReturnType<typeof setTimeout>;
}

export class WebSocketConnection implements Connection {
  readonly transport = "websocket" as const;
  client: string | undefined;

  private ws: WebSocketLike | undefined;
  private readonly signal = new CloseSignal();
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private channels = new Map<string, ChannelState>();
  private started = false;
  private disconnect: CloseInfo | undefined;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private silence = 0;
  private openSettle: ((err?: SwitchboardError) => void) | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly ctx: ConnectionContext) {}

  get closed(): Promise<CloseInfo> {
    return this.signal.promise;
  }

  onClosed(listener: (info: CloseInfo) => void): void {
    this.signal.listen(listener);
  }

  open(): Promise<void> {
    const Ctor = this.ctx.options.WebSocket;
    if (!Ctor) return Promise.reject(noAnswer("no WebSocket: pass options.WebSocket"));
    return new Promise<void>((resolve, reject) => {
      this.openSettle = (err) => {
        this.openSettle = undefined;
        if (err) reject(err);
        else resolve();
      };
      let ws: WebSocketLike;
      try {
        ws = new Ctor(this.ctx.options.endpoints.websocket);
      } catch (err) {
        this.end({ code: 0, reason: String(err), reconnect: true }, noAnswer(`WebSocket: ${String(err)}`));
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        const token = this.ctx.handler.token();
        this.send({ type: "connect", id: this.nextId++, ...(token ? { token } : {}) });
      };
      ws.onmessage = (ev: { data: unknown }) => this.receive(ev.data);
      ws.onerror = () => {
        // A close event always follows, with what there is to know.
      };
      ws.onclose = (ev: { code?: number; reason?: string }) => this.socketClosed(ev.code ?? 1006, ev.reason ?? "");
    });
  }

  start(): void {
    if (this.signal.isClosed) return;
    this.started = true;
    this.sync();
  }

  /** Subscribes what the client has and the node does not, and the reverse. */
  sync(): void {
    if (!this.started || this.signal.isClosed) return;
    const want = new Map(this.ctx.handler.channels().map((r) => [r.channel, r]));
    for (const [channel, st] of this.channels) {
      if (want.has(channel)) continue;
      clearTimeout(st.retryTimer);
      this.channels.delete(channel);
      // The reply does not matter: "not subscribed" is as good as done.
      this.request({ type: "unsubscribe", channel }, this.ctx.options.requestTimeout).catch(() => {});
    }
    for (const [channel] of want) {
      if (!this.channels.has(channel)) {
        this.channels.set(channel, { subscribed: false, retries: 0 });
        this.subscribe(channel);
      }
    }
  }

  close(): void {
    this.end(CLOSED_BY_CLIENT);
  }

  request(cmd: Command, timeout: number): Promise<ServerFrame> {
    if (this.signal.isClosed || !this.ws || this.ws.readyState !== OPEN) {
      return Promise.reject(noAnswer("the WebSocket is not open"));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(noAnswer(`no reply to ${cmd.type} within ${timeout}ms`));
      }, timeout);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ ...cmd, id });
    });
  }

  // subscribe sends one subscribe with the channel's current position. Its
  // reply is handled as it is read, before the frames after it: with a
  // position, the replayed publications follow the reply at once.
  private subscribe(channel: string): void {
    const st = this.channels.get(channel);
    if (!st || this.signal.isClosed) return;
    const since = this.ctx.handler.channels().find((r) => r.channel === channel)?.since;
    const id = this.nextId++;
    st.pendingId = id;
    st.since = since;
    const timer = setTimeout(() => {
      // A subscribe that gets no reply means a stuck connection.
      this.pending.delete(id);
      this.fail(`no reply to subscribe ${channel}`);
    }, this.ctx.options.requestTimeout);
    this.pending.set(id, {
      timer,
      resolve: (f) => this.subscribed(channel, id, f),
      reject: () => {},
    });
    this.send({ type: "subscribe", id, channel, ...(since ? { since } : {}) });
  }

  private subscribed(channel: string, id: number, f: ServerFrame): void {
    const st = this.channels.get(channel);
    if (!st || st.pendingId !== id) return; // unsubscribed meanwhile
    st.pendingId = undefined;
    if (f.error) {
      const err = new SwitchboardError(f.error.code, f.error.message);
      if (err.code === ErrorCode.AlreadySubscribed) {
        return; // the first subscription is live; its reply came earlier
      }
      if (err.code === ErrorCode.TokenExpired) {
        this.refreshThen(() => this.subscribe(channel));
        return;
      }
      if (isTemporary(err.code)) {
        const wait = Math.min(this.ctx.options.maxBackoff, this.ctx.options.minBackoff * 2 ** st.retries++);
        st.retryTimer = setTimeout(() => this.subscribe(channel), Math.random() * wait);
        return;
      }
      this.channels.delete(channel);
      this.ctx.handler.refused(channel, err);
      return;
    }
    st.subscribed = true;
    st.retries = 0;
    this.ctx.handler.started(
      channel,
      { epoch: String(f.epoch ?? ""), offset: Number(f.offset ?? 0), recovered: f.recovered !== false },
      st.since,
    );
  }

  // scheduleRefresh renews the token a little before it expires, over this
  // connection (the refresh command), so the node never has to end it for
  // an expired token. The expiry is read from the JWT's exp claim; a token
  // without one, a client without getToken, or a token that already looks
  // expired by this clock (the node will say) schedules nothing.
  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    if (!this.ctx.handler.canRefreshToken?.()) return;
    const exp = tokenExpiry(this.ctx.handler.token());
    if (exp === undefined) return;
    const left = exp - Date.now();
    const delay = left - Math.min(60_000, left / 5);
    if (delay <= 0) return;
    this.refreshTimer = setTimeout(() => {
      this.ctx.handler
        .refreshToken()
        .then(() => this.request({ type: "refresh", token: this.ctx.handler.token() ?? "" }, this.ctx.options.requestTimeout))
        .then((f) => {
          if (f.error) throw new SwitchboardError(f.error.code, f.error.message);
          this.scheduleRefresh();
        })
        .catch((err: unknown) => {
          // Nothing lost: at expiry the node ends the connection, and the
          // reconnection asks getToken again.
          if (err instanceof SwitchboardError && !this.signal.isClosed) this.ctx.handler.error(err);
        });
    }, delay);
  }

  // refreshThen gets a fresh token, hands it to the node, then goes on.
  private refreshThen(next: () => void): void {
    this.ctx.handler
      .refreshToken()
      .then(() => this.request({ type: "refresh", token: this.ctx.handler.token() ?? "" }, this.ctx.options.requestTimeout))
      .then((f) => {
        if (f.error) throw new SwitchboardError(f.error.code, f.error.message);
        next();
      })
      .catch((err: unknown) => {
        const e = err instanceof SwitchboardError ? err : noAnswer(String(err));
        // Without a valid token the connection is of no use: reconnecting
        // gets a token again, or stops for good.
        this.end({ code: 3005, reason: "token expired", reconnect: e.code !== ErrorCode.Unauthorized, error: e });
      });
  }

  private receive(data: unknown): void {
    if (this.signal.isClosed) return;
    let f: ServerFrame;
    try {
      f = parseFrame(typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer));
    } catch {
      this.fail("unreadable frame");
      return;
    }
    this.alive();
    if (f.id !== undefined && f.id !== 0) {
      this.reply(f);
      return;
    }
    switch (f.type) {
      case "ping":
        this.send({ type: "pong" });
        return;
      case "message":
        if (!this.started) return;
        this.ctx.handler.publication(publicationOf(f));
        return;
      case "gap":
        if (!this.started || typeof f.channel !== "string" || typeof f.epoch !== "string") return;
        this.ctx.handler.gap(f.channel, f.epoch, positionOf(f.from));
        return;
      case "join":
      case "leave":
        if (this.started) this.ctx.handler.presence(f.type, presenceOf(f));
        return;
      case "unsubscribed": {
        const channel = String(f.channel ?? "");
        if (!this.channels.delete(channel)) return;
        this.ctx.handler.ended(channel, Number(f.code ?? 0), String(f.reason ?? ""));
        return;
      }
      case "disconnect": {
        const code = Number(f.code ?? 3000);
        this.disconnect = { code, reason: String(f.reason ?? ""), reconnect: typeof f.reconnect === "boolean" ? f.reconnect : reconnects(code) };
        return; // the close frame follows
      }
      case "error":
        if (f.error) this.ctx.handler.error(new SwitchboardError(f.error.code, f.error.message));
        return;
    }
    // Anything else is from a newer node: ignored.
  }

  private reply(f: ServerFrame): void {
    if (f.type === "connect" && this.openSettle) {
      if (f.error) {
        this.end({ code: 0, reason: f.error.message, reconnect: true }, new SwitchboardError(f.error.code, f.error.message));
        return;
      }
      this.client = typeof f.client === "string" ? f.client : undefined;
      this.silence = Math.max(1, Number(f.ping_interval ?? 25)) * 1000 + this.ctx.options.pingGrace;
      this.alive();
      this.scheduleRefresh();
      this.openSettle();
      return;
    }
    const p = this.pending.get(f.id!);
    if (!p) return; // timed out already
    this.pending.delete(f.id!);
    clearTimeout(p.timer);
    p.resolve(f);
  }

  // alive restarts the watchdog: the node pings every ping_interval, so a
  // connection silent for longer than that plus a grace period is dead even
  // if the socket has not noticed (a sleeping laptop, a NAT that forgot it).
  private alive(): void {
    if (!this.silence) return;
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.fail(`no ping for ${this.silence}ms`), this.silence);
  }

  private fail(reason: string): void {
    this.end({ code: 0, reason, reconnect: true }, noAnswer(reason));
  }

  private socketClosed(code: number, reason: string): void {
    const d = this.disconnect;
    if (d) {
      this.end(d, new SwitchboardError(d.code, d.reason));
      return;
    }
    // A close frame with a Switchboard code says the same as the disconnect
    // push that may have been lost with the connection.
    if (code >= 3000 && code <= 3999) {
      this.end({ code, reason, reconnect: reconnects(code) }, new SwitchboardError(code, reason));
      return;
    }
    this.end({ code, reason: reason || "connection closed", reconnect: true }, noAnswer(`WebSocket closed (${code})`));
  }

  /**
   * end is the one way out: it settles open (rejecting with err), rejects
   * what waits for a reply, closes the socket and resolves closed.
   */
  private end(info: CloseInfo, err?: SwitchboardError): void {
    if (this.signal.isClosed) return;
    const openErr = err ?? noAnswer(info.reason);
    if (this.openSettle) {
      // Refused during the handshake: open rejects with the node's code, or
      // code 0 (try another transport) when the socket just went away.
      this.openSettle(openErr);
    }
    clearTimeout(this.watchdog);
    clearTimeout(this.refreshTimer);
    for (const st of this.channels.values()) clearTimeout(st.retryTimer);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(noAnswer(`connection closed: ${info.reason}`));
    }
    this.pending.clear();
    const ws = this.ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      // Not null: Node's `ws` reports closing a socket that is still
      // connecting as an error event, and an error with no listener throws.
      ws.onerror = () => {};
      try {
        ws.close(1000);
      } catch {
        // Closing a socket that never opened may throw; it is gone either way.
      }
    }
    this.signal.fire(err && !info.error ? { ...info, error: err } : info);
  }

  private send(cmd: Command): void {
    try {
      this.ws?.send(encodeCommand(cmd));
    } catch (err) {
      this.fail(`send failed: ${String(err)}`);
    }
  }
}

/**
 * The expiry of a JWT in Unix ms, from its exp claim, or undefined for
 * anything that is not a JWT with a numeric exp. The token is not verified:
 * only the node can do that, and this only picks when to renew it.
 */
export function tokenExpiry(token: string | undefined): number | undefined {
  const part = token?.split(".")[1];
  if (!part) return undefined;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    const claims: unknown = JSON.parse(bin);
    const exp = (claims as { exp?: unknown } | null)?.exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
