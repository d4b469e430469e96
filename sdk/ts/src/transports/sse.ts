// The Server-Sent Events transport. One EventSource carries every channel of
// the client (browsers allow six HTTP/1.1 connections per origin, shared by
// all tabs). The stream starts from a cursor the client builds from its own
// positions, so it resumes exactly where the client is, whichever transport
// it had before. To change the channel set, a new stream opens with the new
// list and the current positions, and the old one is closed once the new one
// is connected: nothing is lost in between, and what both deliver is dropped
// once by offset.
//
// The client reconnects by itself (with backoff, on any transport) instead
// of letting EventSource do it: EventSource would resume from the last id it
// saw on this stream, which is stale when another connection delivered more.

import { ErrorCode, SwitchboardError, noAnswer } from "../errors.js";
import type { EventSourceLike } from "../options.js";
import { type Connected, parseConnected, parseDisconnect, parsePublication, positionOf } from "../protocol.js";
import { askPoll, probe, sameChannels, settleRefusal, streamURL } from "./http.js";
import {
  CLOSED_BY_CLIENT,
  CloseSignal,
  type ChannelRequest,
  type CloseInfo,
  type Connection,
  type ConnectionContext,
  presenceOf,
} from "./transport.js";

// How many times one open may settle refusals (a refused channel, an expired
// token, a bad cursor) and try again before giving up.
const MAX_SETTLES = 3;

export class SSEConnection implements Connection {
  readonly transport = "sse" as const;
  client: string | undefined;

  private readonly signal = new CloseSignal();
  private stream: Stream | undefined; // the stream delivering now
  private next: Stream | undefined; // a stream replacing it, while it connects
  private started = false;
  private syncQueued = false;
  // Channels a stream of this connection has started: a replacement stream
  // that carries one on from its position is not news to its subscription.
  private carried = new Set<string>();

  constructor(private readonly ctx: ConnectionContext) {}

  get closed(): Promise<CloseInfo> {
    return this.signal.promise;
  }

  onClosed(listener: (info: CloseInfo) => void): void {
    this.signal.listen(listener);
  }

  // With no channel there is nothing to stream: once the node is known to
  // answer, the connection is open and idle until the first subscription.
  async open(): Promise<void> {
    const reqs = this.ctx.handler.channels();
    if (reqs.length === 0) return probe(this.ctx.options, this.ctx.handler.token());
    const s = await this.openStream(reqs, () => this.stream === undefined);
    // Every channel was refused: the node answers, so SSE is as good a
    // transport as any; the connection is open and idle.
    if (!s) return;
    if (this.signal.isClosed) {
      s.close();
      throw noAnswer("closed while opening");
    }
    this.stream = s;
    this.client = s.connectedData?.client;
  }

  start(): void {
    if (this.signal.isClosed) return;
    this.started = true;
    if (this.stream) this.activate(this.stream);
    this.sync();
  }

  sync(): void {
    // Subscriptions made in a row (a page subscribing to ten channels)
    // reopen the stream once.
    if (!this.started || this.syncQueued || this.signal.isClosed) return;
    this.syncQueued = true;
    queueMicrotask(() => {
      this.syncQueued = false;
      this.resync();
    });
  }

  close(): void {
    this.end(CLOSED_BY_CLIENT);
  }

  private resync(): void {
    if (this.signal.isClosed) return;
    const want = this.ctx.handler.channels();
    const have = this.next?.reqs ?? this.stream?.reqs ?? [];
    if (sameChannels(want, have)) return;
    this.next?.close();
    this.next = undefined;
    if (want.length === 0) {
      this.stream?.close();
      this.stream = undefined;
      return;
    }
    let replacement: Stream | undefined;
    const timer = setTimeout(() => {
      if (replacement === undefined || this.next === replacement) this.fail("the new stream did not connect in time");
    }, this.ctx.options.openTimeout);
    this.openStream(want, () => replacement === undefined || this.next === replacement, (s) => (this.next = replacement = s))
      .then((s) => {
        clearTimeout(timer);
        if (!s) {
          // Every channel of the new list was refused: settle on what is left.
          if (replacement && this.next !== replacement) return;
          this.next = undefined;
          this.sync();
          return;
        }
        if (this.next !== s || this.signal.isClosed) return s.close();
        this.next = undefined;
        this.stream?.close();
        this.stream = s;
        this.activate(s);
        // Subscriptions may have changed while it connected.
        this.sync();
      })
      .catch((err: unknown) => {
        clearTimeout(timer);
        if (replacement && this.next !== replacement) return; // superseded
        this.next = undefined;
        const e = err instanceof SwitchboardError ? err : noAnswer(String(err));
        this.end({ code: 0, reason: e.message, reconnect: e.code === ErrorCode.NoAnswer || e.temporary, error: e });
      });
  }

  /**
   * openStream opens a stream for reqs and waits for its connected event. A
   * stream refused before it connects does not say why (EventSource hides
   * the answer), so the same request is put to the poll endpoint as a short
   * poll, whose coded answer tells: a refused channel is dropped, an
   * expired token renewed, a bad cursor forgotten, and the stream tried
   * again; an answer there means SSE itself does not get through. It
   * resolves with undefined when every channel was refused.
   */
  private async openStream(reqs: ChannelRequest[], wanted: () => boolean, onCreate?: (s: Stream) => void): Promise<Stream | undefined> {
    for (let settles = 0; ; settles++) {
      const s = new Stream(this, reqs);
      onCreate?.(s);
      try {
        await s.connected;
        return s;
      } catch {
        s.close();
      }
      if (this.signal.isClosed || !wanted()) throw noAnswer("stream abandoned");
      const err = await this.explain(reqs);
      if (settles >= MAX_SETTLES) throw err;
      await settleRefusal(this.ctx, err, reqs);
      reqs = this.ctx.handler.channels();
      if (reqs.length === 0) return undefined; // every channel refused
    }
  }

  private async explain(reqs: ChannelRequest[]): Promise<SwitchboardError> {
    try {
      await askPoll(this.ctx, reqs, this.ctx.handler.token());
    } catch (err) {
      if (err instanceof SwitchboardError && err.code !== ErrorCode.NoAnswer) return err;
    }
    return noAnswer("the SSE stream failed before its connected event");
  }

  /** Makes s the delivering stream: its start positions first, then what it queued. */
  private activate(s: Stream): void {
    const c = s.connectedData;
    if (!c) return;
    this.client = c.client;
    const carried = new Set<string>();
    for (const r of s.reqs) {
      const st = c.channels[r.channel];
      if (!st) continue;
      carried.add(r.channel);
      if (this.carried.has(r.channel) && st.recovered && r.since) continue;
      this.ctx.handler.started(r.channel, { epoch: st.epoch, offset: st.offset, recovered: st.recovered }, r.since);
    }
    this.carried = carried;
    s.activate();
  }

  /** @internal Called by the active stream. */
  deliver(s: Stream, kind: string, data: string): void {
    if (this.signal.isClosed || s !== this.stream) return;
    try {
      const v: unknown = JSON.parse(data);
      if (kind === "message") this.ctx.handler.publication(parsePublication(v));
      else if (kind === "gap") {
        const f = v as Record<string, unknown>;
        if (typeof f.channel !== "string" || typeof f.epoch !== "string") throw new SyntaxError("not a gap");
        this.ctx.handler.gap(f.channel, f.epoch, positionOf(f.from));
      }
      else if (kind === "join" || kind === "leave") this.ctx.handler.presence(kind, presenceOf(v as Record<string, unknown>));
      else if (kind === "disconnect") {
        const d = parseDisconnect(v);
        this.end({ ...d }, new SwitchboardError(d.code, d.reason));
      }
    } catch {
      this.fail("unreadable event");
    }
  }

  /** @internal The active stream failed after it connected. */
  streamFailed(s: Stream, reason = "the SSE stream failed"): void {
    if (s === this.stream) this.fail(reason);
  }

  /**
   * silence is how long a stream may stay quiet before it is taken for
   * dead: the node sends a ping event every ping_interval seconds.
   */
  silence(pingInterval: number | undefined): number {
    return Math.max(1, pingInterval ?? 25) * 1000 + this.ctx.options.pingGrace;
  }

  private fail(reason: string): void {
    this.end({ code: 0, reason, reconnect: true }, noAnswer(reason));
  }

  private end(info: CloseInfo, err?: SwitchboardError): void {
    if (this.signal.isClosed) return;
    this.signal.fire(err && !info.error ? { ...info, error: err } : info);
    this.stream?.close();
    this.next?.close();
    this.stream = this.next = undefined;
  }

  /** @internal */
  newEventSource(url: string): EventSourceLike {
    const Ctor = this.ctx.options.EventSource;
    if (!Ctor) throw noAnswer("no EventSource: pass options.EventSource");
    return new Ctor(url, this.ctx.options.withCredentials ? { withCredentials: true } : undefined);
  }

  /** @internal */
  url(reqs: ChannelRequest[]): string {
    return streamURL(this.ctx.options.endpoints.sse, reqs, this.ctx.handler.token());
  }
}

/**
 * Stream is one EventSource. Until it is activated it queues what it
 * receives after the connected event, so a replacement stream says nothing
 * while the old one still delivers.
 */
class Stream {
  readonly connected: Promise<void>;
  connectedData: Connected | undefined;
  private es: EventSourceLike | undefined;
  private queue: Array<[string, string]> | undefined = [];
  private closedFlag = false;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private quietFor = 0;

  constructor(
    private readonly conn: SSEConnection,
    readonly reqs: ChannelRequest[],
  ) {
    this.connected = new Promise<void>((resolve, reject) => {
      let es: EventSourceLike;
      try {
        es = conn.newEventSource(conn.url(reqs));
      } catch (err) {
        reject(err);
        return;
      }
      this.es = es;
      es.addEventListener("connected", (ev: { data: string }) => {
        try {
          this.connectedData = parseConnected(JSON.parse(ev.data));
          this.quietFor = conn.silence(this.connectedData.ping_interval);
          this.alive();
          resolve();
        } catch {
          reject(noAnswer("unreadable connected event"));
        }
      });
      const on = (kind: string) => (ev: { data: string }) => this.receive(kind, ev.data);
      es.onmessage = on("message");
      // A named event: a plain onmessage handler never takes it for a publication.
      es.addEventListener("gap", on("gap"));
      es.addEventListener("join", on("join"));
      es.addEventListener("leave", on("leave"));
      es.addEventListener("disconnect", on("disconnect"));
      // The node's keep-alive: an event no onmessage handler sees.
      es.addEventListener("ping", () => this.alive());
      es.onerror = () => {
        if (this.closedFlag) return;
        if (!this.connectedData) {
          reject(noAnswer("stream failed before its connected event"));
          this.close();
          return;
        }
        // EventSource would reconnect by itself from its own last id; the
        // client does it instead, from the positions it holds.
        this.close();
        conn.streamFailed(this);
      };
    });
  }

  activate(): void {
    const q = this.queue ?? [];
    this.queue = undefined;
    for (const [kind, data] of q) this.conn.deliver(this, kind, data);
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    clearTimeout(this.watchdog);
    this.es?.close();
  }

  /**
   * alive restarts the watchdog: a stream that carries nothing, not even a
   * ping, for longer than the node's ping interval plus the grace period is
   * dead even if the socket looks open (a proxy that holds it, a laptop
   * that slept), and the client reconnects from its positions.
   */
  private alive(): void {
    if (this.closedFlag || !this.quietFor) return;
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (this.closedFlag) return;
      this.close();
      this.conn.streamFailed(this, `no ping on the SSE stream for ${this.quietFor}ms`);
    }, this.quietFor);
  }

  private receive(kind: string, data: string): void {
    if (this.closedFlag) return;
    this.alive();
    if (this.queue) this.queue.push([kind, data]);
    else this.conn.deliver(this, kind, data);
  }
}
