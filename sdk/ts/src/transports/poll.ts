// Long and short polling. Each poll is a plain GET with the channel list and
// a cursor the client builds from its positions; the node keeps nothing
// between polls, so any node can answer the next one. A long poll is held by
// the node until a publication arrives or the timeout passes; a short poll
// answers at once and the client waits pollInterval before the next.
//
// The first poll of a connection is always short: it proves the transport
// works (and answers within openTimeout), and tells of gaps at once.

import { Cursor } from "../cursor.js";
import { ErrorCode, SwitchboardError, asSwitchboardError, noAnswer } from "../errors.js";
import { type PollReply, type Position, parsePollReply } from "../protocol.js";
import { getInit, needFetch, probe, requestJSON, sameChannels, settleRefusal, streamURL } from "./http.js";
import { CLOSED_BY_CLIENT, CloseSignal, type ChannelRequest, type CloseInfo, type Connection, type ConnectionContext } from "./transport.js";

const MAX_SETTLES = 3;

export class PollConnection implements Connection {
  client: string | undefined = undefined;

  private readonly signal = new CloseSignal();
  private started = false;
  private first: { reqs: ChannelRequest[]; reply: PollReply } | undefined;
  // Channels the node has started on this connection.
  private carried = new Set<string>();
  // Aborts the poll in flight (a channel change, close) or the pause between polls.
  private abort: AbortController | undefined;
  private inFlight: ChannelRequest[] = [];
  private wake: (() => void) | undefined;
  private readonly memory: { pollClient?: string };

  constructor(
    private readonly ctx: ConnectionContext,
    readonly transport: "longpoll" | "poll",
  ) {
    this.memory = ctx.memory ?? {};
    this.client = this.memory.pollClient;
  }

  get closed(): Promise<CloseInfo> {
    return this.signal.promise;
  }

  onClosed(listener: (info: CloseInfo) => void): void {
    this.signal.listen(listener);
  }

  async open(): Promise<void> {
    const reqs = this.ctx.handler.channels();
    // Nothing to poll yet; only check that the node answers.
    if (reqs.length === 0) return probe(this.ctx.options, this.ctx.handler.token());
    const r = await this.poll(reqs, 0);
    // Every channel refused: the node answers, so the connection is open (and idle).
    if (r) this.first = { reqs: r[0], reply: r[1] };
  }

  start(): void {
    if (this.signal.isClosed || this.started) return;
    this.started = true;
    if (this.first) this.apply(this.first.reqs, this.first.reply);
    this.first = undefined;
    void this.loop();
  }

  /** A channel change restarts the poll in flight with the new list. */
  sync(): void {
    if (!this.started || this.signal.isClosed) return;
    const want = this.ctx.handler.channels();
    if (sameChannels(want, this.inFlight) && want.length > 0) return;
    this.abort?.abort();
    this.wake?.();
  }

  close(): void {
    this.end(CLOSED_BY_CLIENT);
  }

  private async loop(): Promise<void> {
    const long = this.transport === "longpoll";
    while (!this.signal.isClosed) {
      const reqs = this.ctx.handler.channels();
      if (reqs.length === 0) {
        this.inFlight = [];
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      try {
        // A channel new to this connection is started with a short poll:
        // its subscription hears at once where it starts, and it has a
        // position before any long poll that a later change could abort.
        const fresh = reqs.some((r) => !this.carried.has(r.channel));
        const r = await this.poll(reqs, long && !fresh ? this.ctx.options.longPollTimeout : 0);
        if (this.signal.isClosed) return;
        if (!r) continue; // every channel refused: wait for a subscription
        this.apply(r[0], r[1]);
      } catch (err) {
        if (this.signal.isClosed) return;
        if (this.abort?.signal.aborted) continue; // the channel set changed
        const e = asSwitchboardError(err);
        this.end({ code: 0, reason: e.message, reconnect: e.code === ErrorCode.NoAnswer || e.temporary, error: e });
        return;
      }
      if (!long) await this.pause(this.ctx.options.pollInterval);
    }
  }

  /**
   * poll sends one poll for reqs and settles what the node refuses (a
   * channel, an expired token, a bad cursor) before trying again with what
   * is left. It returns the requests actually sent with the reply, or
   * undefined when every channel was refused.
   */
  private async poll(reqs: ChannelRequest[], holdMs: number): Promise<[ChannelRequest[], PollReply] | undefined> {
    const f = needFetch(this.ctx.options.fetch);
    for (let settles = 0; ; settles++) {
      this.abort = new AbortController();
      this.inFlight = reqs;
      const extra: Record<string, string> = { timeout: `${Math.ceil(holdMs)}ms` };
      // The id the node gave this client on an earlier poll: it keeps one
      // presence entry however many polls (and nodes) serve it.
      if (this.memory.pollClient) extra.client = this.memory.pollClient;
      const url = streamURL(this.ctx.options.endpoints.poll, reqs, this.ctx.handler.token(), extra);
      try {
        // The node holds a long poll for up to holdMs; the request timeout
        // on top covers the way there and back.
        const body = await requestJSON(f, url, getInit(this.ctx.options), holdMs + this.ctx.options.requestTimeout, this.abort.signal);
        const reply = parsePollReply(body);
        if (reply.client) this.memory.pollClient = this.client = reply.client;
        return [reqs, reply];
      } catch (err) {
        if (this.abort.signal.aborted || this.signal.isClosed) throw noAnswer("poll aborted");
        if (!(err instanceof SwitchboardError)) throw noAnswer(`unreadable poll reply: ${String(err)}`);
        if (err.code === ErrorCode.NoAnswer || err.temporary || settles >= MAX_SETTLES) throw err;
        await settleRefusal(this.ctx, err, reqs);
        reqs = this.ctx.handler.channels();
        if (reqs.length === 0) return undefined;
      }
    }
  }

  /**
   * apply hands a reply to the client: first the channels the node started
   * on this connection, and any it could not recover (a gap), then the
   * publications.
   */
  private apply(reqs: ChannelRequest[], reply: PollReply): void {
    let cursor: Cursor | undefined;
    try {
      cursor = Cursor.parse(reply.cursor);
    } catch {
      cursor = undefined;
    }
    const gaps = new Set(reply.gaps);
    for (const r of reqs) {
      if (this.carried.has(r.channel) && !gaps.has(r.channel)) continue;
      const recovered = !gaps.has(r.channel);
      // A channel resumed from its position reports where the reply leaves
      // it (the replay's end); any other starts just before its first
      // publication in the reply, or where the reply's cursor puts it.
      const start = recovered && r.since ? (cursor?.get(r.channel) ?? r.since) : startOf(r.channel, reply, cursor);
      if (!start) continue;
      this.carried.add(r.channel);
      this.ctx.handler.started(r.channel, { ...start, recovered }, r.since);
    }
    const kept = new Set(reqs.map((r) => r.channel));
    for (const ch of this.carried) if (!kept.has(ch)) this.carried.delete(ch);
    for (const p of reply.publications) this.ctx.handler.publication(p);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      this.wake = done;
      function done() {
        clearTimeout(t);
        resolve();
      }
    });
  }

  private end(info: CloseInfo): void {
    if (!this.signal.fire(info)) return;
    this.abort?.abort();
    this.wake?.();
  }
}

function startOf(channel: string, reply: PollReply, cursor: Cursor | undefined): Position | undefined {
  const first = reply.publications.find((p) => p.channel === channel);
  if (first) return { epoch: first.epoch, offset: first.offset - 1 };
  return cursor?.get(channel);
}
