// One tab's connection through the leader tab (the share option): to the
// tab's client it is a Connection like any other, carrying its channels
// from its own positions, but what it says and hears goes over the tabs'
// BroadcastChannel to whichever tab holds the node connection.

import { SwitchboardError, noAnswer } from "../errors.js";
import type { TransportName } from "../options.js";
import type { Position } from "../protocol.js";
import { CLOSED_BY_CLIENT, type CloseInfo, CloseSignal, type Connection, type ConnectionHandler } from "../transports/transport.js";
import type { Message } from "./bus.js";

/** What a member connection needs of its tab. */
export interface MemberLink {
  /** This tab's id. */
  readonly id: string;
  /** Resolves once the tab holds its own lock, by which the leader tells it is alive. */
  readonly alive: Promise<void>;
  post(m: Message): void;
  /** Adds a listener of the tabs' messages; the function returned removes it. */
  listen(fn: (m: Message) => void): () => void;
}

/**
 * MemberConnection carries the tab's channels through the leader. It opens
 * once a leader answers with its node connection up, and ends when that
 * connection ends (the leader says `down`). When the leader tab goes and
 * another takes over, it stays open and tells the new leader its channels
 * and positions again: each is started anew from where this tab is.
 */
export class MemberConnection implements Connection {
  transport: TransportName;
  client: string | undefined;
  private leader: string | undefined;
  private started = false;
  private readonly signal = new CloseSignal();
  private readonly unlisten: () => void;
  private opened: (() => void) | undefined;
  // The position each channel was last asked for with, for its start.
  private readonly asked = new Map<string, Position | undefined>();

  constructor(
    private readonly link: MemberLink,
    private readonly handler: ConnectionHandler,
    transport: TransportName,
  ) {
    this.transport = transport;
    this.unlisten = link.listen((m) => this.receive(m));
  }

  get closed(): Promise<CloseInfo> {
    return this.signal.promise;
  }

  onClosed(listener: (info: CloseInfo) => void): void {
    this.signal.listen(listener);
  }

  async open(): Promise<void> {
    await this.link.alive;
    if (this.signal.isClosed) throw noAnswer("closed while opening");
    await new Promise<void>((resolve, reject) => {
      this.opened = resolve;
      this.signal.listen((info) => reject(info.error ?? noAnswer(info.reason)));
      this.link.post({ t: "hello", from: this.link.id });
    });
  }

  start(): void {
    if (this.signal.isClosed) return;
    this.started = true;
    this.sync();
  }

  sync(): void {
    if (!this.started || this.signal.isClosed || !this.leader) return;
    const channels = this.handler.channels();
    this.asked.clear();
    for (const r of channels) this.asked.set(r.channel, r.since);
    this.link.post({ t: "sync", from: this.link.id, to: this.leader, channels });
  }

  close(): void {
    if (this.signal.isClosed) return;
    if (this.leader) this.link.post({ t: "bye", from: this.link.id, to: this.leader });
    this.end(CLOSED_BY_CLIENT);
  }

  private end(info: CloseInfo): void {
    this.unlisten();
    this.signal.fire(info);
  }

  private receive(m: Message): void {
    if (this.signal.isClosed) return;
    const me = this.link.id;
    switch (m.t) {
      case "leader":
        if (m.to !== undefined && m.to !== me) return;
        if (m.to === undefined && m.leader !== this.leader && this.started) {
          // The leader tab went and this one took over: carry on with it.
          this.leader = m.leader;
          this.sync();
          return;
        }
        this.leader = m.leader;
        if (m.up) this.up(m.transport, m.client);
        return;
      case "up":
        if (m.leader !== this.leader) return;
        this.up(m.transport, m.client);
        return;
      case "down":
        if (m.leader !== this.leader) return;
        this.end({
          code: m.code,
          reason: m.reason,
          reconnect: m.reconnect,
          ...(m.errorCode !== undefined ? { error: new SwitchboardError(m.errorCode, m.reason) } : {}),
        });
        return;
      case "hello":
      case "sync":
      case "bye":
        return;
    }
    if (m.leader !== this.leader) return;
    switch (m.t) {
      case "started":
        if (m.to !== me || !this.asked.has(m.channel)) return;
        this.handler.started(m.channel, m.start, m.since);
        return;
      case "pub":
        if (m.to.includes(me)) this.handler.publication(m.pub);
        return;
      case "gap":
        if (m.to.includes(me)) this.handler.gap(m.channel, m.epoch, m.from);
        return;
      case "refused":
        if (!m.to.includes(me)) return;
        this.asked.delete(m.channel);
        this.handler.refused(m.channel, new SwitchboardError(m.code, m.message));
        return;
      case "ended":
        if (!m.to.includes(me)) return;
        this.asked.delete(m.channel);
        this.handler.ended(m.channel, m.code, m.message);
        return;
      case "presence":
        if (m.to.includes(me)) this.handler.presence(m.kind, m.ev);
        return;
      case "forget":
        if (m.to.includes(me)) this.handler.badCursor();
        return;
      case "error":
        this.handler.error(new SwitchboardError(m.code, m.message));
        return;
    }
  }

  private up(transport: string | undefined, client: string | undefined): void {
    if (transport) this.transport = transport as TransportName;
    this.client = client;
    const opened = this.opened;
    this.opened = undefined;
    opened?.();
  }
}
