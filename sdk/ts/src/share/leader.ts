// The leader tab's side of a shared connection: one node connection that
// carries the union of every member's channels, and a relay of what it
// hears to the members that carry each channel.
//
// Positions: the leader keeps, per channel, the position up to which every
// member that carries it has been sent everything (`pos`). The connection
// resumes from there; a member that joins a channel behind it (a tab that
// was slower to follow a new leader, or a subscription with `since`) moves
// it back, and the connection starts again from that older position: the
// node replays, and each member drops what it already has by its own
// position. So every tab gets every offset once, in order, whichever tab
// is behind.

import { Backoff } from "../backoff.js";
import { Connector } from "../connector.js";
import type { SwitchboardError } from "../errors.js";
import type { ResolvedOptions, TransportName } from "../options.js";
import type { Position, Publication } from "../protocol.js";
import type { ChannelRequest, CloseInfo, Connection, ConnectionContext, ConnectionHandler, StartResult } from "../transports/transport.js";
import { type LockManagerLike, type Message, before } from "./bus.js";

/** How long a new leader waits for the members' channels before it connects, ms. */
export const GATHER_MS = 150;

/** What a leader needs of its tab. */
export interface LeaderOptions {
  id: string;
  options: ResolvedOptions;
  locks: LockManagerLike;
  /** The lock each member tab holds while it lives. */
  tabLock(member: string): string;
  post(m: Message): void;
  create(t: TransportName, ctx: ConnectionContext): Connection;
  token(): string | undefined;
  refreshToken(): Promise<void>;
  canRefreshToken(): boolean;
  prepare(): Promise<void>;
  storageKey: string;
}

interface Entry {
  /** Where the member asked to start, until it is started. */
  since: Position | undefined;
  started: boolean;
}

interface Channel {
  /** Where the connection resumes the channel: every started member has all up to it. */
  pos: Position | undefined;
  /** The newest position relayed: what every started member has. */
  relayed: Position | undefined;
  /** Whether the current connection has started the channel. */
  live: boolean;
  members: Map<string, Entry>;
}

/** Leader holds the node connection for every tab that shares it. */
export class Leader {
  private readonly channels = new Map<string, Channel>();
  private readonly members = new Map<string, AbortController>();
  private readonly connector: Connector;
  private conn: Connection | undefined;
  private stopped = false;
  private gather: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly o: LeaderOptions) {
    const opts = o.options;
    const ctx: ConnectionContext = { handler: this.handler(), options: opts, memory: {} };
    this.connector = new Connector({
      transports: opts.transports,
      openTimeout: opts.openTimeout,
      upgradeInterval: opts.upgradeInterval,
      backoff: new Backoff({ min: opts.minBackoff, max: opts.maxBackoff, stableAfter: opts.stableAfter }),
      storage: opts.storage,
      storageKey: o.storageKey,
      create: (t) => o.create(t, ctx),
      prepare: () => o.prepare(),
      refreshToken: () => o.refreshToken(),
      onConnecting: () => {},
      onConnected: (conn) => {
        this.conn = conn;
        this.post({ t: "up", leader: o.id, transport: conn.transport, ...(conn.client ? { client: conn.client } : {}) });
      },
      onLost: (info) => this.down(info),
      // A connection that never opened, or will not come back, is news too.
      onDisconnected: (info) => {
        if (!info.reconnect) this.down(info);
      },
    });
  }

  /** Tells the tabs it leads, gives them a moment to say what they carry, and connects. */
  start(): void {
    this.post({ t: "leader", leader: this.o.id, up: false });
    this.gather = setTimeout(() => {
      this.gather = undefined;
      if (!this.stopped) this.connector.start();
    }, GATHER_MS);
  }

  /** Closes the connection; the next leader takes the members over. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.gather);
    this.connector.stop();
    this.conn = undefined;
    for (const ac of this.members.values()) ac.abort();
    this.members.clear();
    this.channels.clear();
  }

  /** A message from a tab. */
  receive(m: Message): void {
    if (this.stopped) return;
    switch (m.t) {
      case "hello": {
        this.drop(m.from);
        this.watch(m.from);
        const c = this.conn;
        this.post({ t: "leader", leader: this.o.id, to: m.from, up: c !== undefined, ...(c ? { transport: c.transport } : {}), ...(c?.client ? { client: c.client } : {}) });
        return;
      }
      case "sync":
        if (m.to === this.o.id) this.sync(m.from, m.channels);
        return;
      case "bye":
        if (m.to === this.o.id) this.drop(m.from);
        return;
    }
  }

  private post(m: Message): void {
    if (!this.stopped) this.o.post(m);
  }

  // watch waits for the member's own lock: the browser grants it to the
  // leader only once the member's tab has closed or crashed.
  private watch(member: string): void {
    if (this.members.has(member)) return;
    const ac = new AbortController();
    this.members.set(member, ac);
    this.o.locks
      .request(this.o.tabLock(member), { signal: ac.signal }, async () => {
        if (this.members.get(member) === ac) this.drop(member);
      })
      .catch(() => {});
  }

  private drop(member: string): void {
    this.members.get(member)?.abort();
    this.members.delete(member);
    let changed = false;
    for (const [name, ch] of this.channels) {
      if (!ch.members.delete(member)) continue;
      if (ch.members.size === 0) {
        this.channels.delete(name);
        changed = true;
      }
    }
    if (changed) this.conn?.sync();
  }

  private sync(member: string, reqs: ChannelRequest[]): void {
    this.watch(member);
    const want = new Map(reqs.map((r) => [r.channel, r]));
    let changed = false;
    let rewind = false;
    for (const [name, ch] of this.channels) {
      if (want.has(name) || !ch.members.delete(member)) continue;
      if (ch.members.size === 0) {
        this.channels.delete(name);
        changed = true;
      }
    }
    for (const r of reqs) {
      let ch = this.channels.get(r.channel);
      if (!ch) {
        this.channels.set(r.channel, (ch = { pos: undefined, relayed: undefined, live: false, members: new Map() }));
        changed = true;
      }
      if (ch.members.has(member)) continue;
      const e: Entry = { since: r.since, started: false };
      ch.members.set(member, e);
      const pos = ch.pos;
      if (!ch.live || !pos) continue; // the connection starts it, and the member with it
      if (r.since && before(r.since, pos)) {
        // Behind what the connection carries on from: start it again there.
        ch.pos = r.since;
        rewind = true;
        continue;
      }
      // A position of another epoch cannot be replayed: the member hears of a gap.
      this.startMember(member, r.channel, e, { epoch: pos.epoch, offset: pos.offset, recovered: !r.since || r.since.epoch === pos.epoch });
    }
    if (rewind) this.restart();
    else if (changed) this.conn?.sync();
  }

  // restart replaces the connection with one that carries every channel
  // from its position, the rewound ones included. The members stay: to
  // them it is a connection that starts their channels again.
  private restart(): void {
    if (!this.conn) return; // the next connection starts from the positions anyway
    this.conn = undefined;
    for (const ch of this.channels.values()) ch.live = false;
    this.connector.stop();
    this.connector.start();
  }

  // down: the connection ended. Members end theirs and come back when the
  // next one is up; positions stay, to resume from.
  private down(info: CloseInfo): void {
    this.conn = undefined;
    this.post({
      t: "down",
      leader: this.o.id,
      code: info.code,
      reason: info.reason,
      reconnect: info.reconnect,
      ...(info.error ? { errorCode: (info.error as SwitchboardError).code } : {}),
    });
    // Members start afresh when they come back.
    for (const ch of this.channels.values()) ch.members.clear();
    this.channels.clear();
  }

  // start tells one member where its channel starts on the connection: from
  // its own position when it has one.
  private startMember(member: string, channel: string, e: Entry, r: StartResult): void {
    const since = e.since;
    const recovered = r.recovered || (since !== undefined && !before(since, { epoch: r.epoch, offset: r.offset }) && since.epoch === r.epoch);
    e.started = true;
    e.since = undefined;
    this.post({ t: "started", leader: this.o.id, to: member, channel, start: { epoch: r.epoch, offset: r.offset, recovered }, ...(since ? { since } : {}) });
  }

  private startedMembers(ch: Channel): string[] {
    const out: string[] = [];
    for (const [m, e] of ch.members) if (e.started) out.push(m);
    return out;
  }

  private handler(): ConnectionHandler {
    return {
      channels: () => {
        const out: ChannelRequest[] = [];
        for (const [channel, ch] of this.channels) {
          let since = ch.pos;
          if (!since) {
            // Not started yet: from the oldest position a member holds.
            for (const e of ch.members.values()) {
              if (e.since && (!since || before(e.since, since))) since = e.since;
            }
          }
          out.push(since ? { channel, since: { ...since } } : { channel });
        }
        return out;
      },
      started: (channel, r, sent) => {
        const ch = this.channels.get(channel);
        if (!ch) return;
        // A member that joined while the subscribe was on its way, from
        // before where the connection started: start again, from it.
        let behind: Position | undefined;
        for (const e of ch.members.values()) {
          const s = e.since;
          if (e.started || !s || s.epoch !== r.epoch) continue;
          if (sent ? before(s, sent) : s.offset < r.offset) behind = behind && before(behind, s) ? behind : s;
        }
        if (behind) {
          ch.pos = behind;
          this.restart();
          return;
        }
        // Members already started have everything relayed; the others
        // start from their own positions.
        const relayed = ch.relayed;
        ch.pos = sent && r.recovered ? { ...sent } : { epoch: r.epoch, offset: r.offset };
        if (!relayed || relayed.epoch !== ch.pos.epoch || before(relayed, ch.pos)) ch.relayed = ch.pos;
        ch.live = true;
        for (const [m, e] of ch.members) {
          if (e.started) e.since = relayed;
          this.startMember(m, channel, e, r);
        }
      },
      publication: (p: Publication) => {
        const ch = this.channels.get(p.channel);
        if (!ch) return;
        const pos = ch.pos;
        if (pos && p.epoch === pos.epoch && p.offset <= pos.offset) return; // every member has it
        ch.pos = { epoch: p.epoch, offset: p.offset };
        const rel = ch.relayed;
        if (!rel || rel.epoch !== p.epoch || rel.offset < p.offset) ch.relayed = ch.pos;
        const to = this.startedMembers(ch);
        if (to.length) this.post({ t: "pub", leader: this.o.id, to, pub: p });
      },
      gap: (channel, epoch, from) => {
        const ch = this.channels.get(channel);
        if (!ch) return;
        ch.pos = ch.relayed = { epoch, offset: 0 };
        const to = this.startedMembers(ch);
        if (to.length) this.post({ t: "gap", leader: this.o.id, to, channel, epoch, ...(from ? { from } : {}) });
      },
      refused: (channel, err) => this.end("refused", channel, err.code, err.message),
      ended: (channel, code, reason) => this.end("ended", channel, code, reason),
      presence: (kind, ev) => {
        const ch = this.channels.get(ev.channel);
        if (!ch) return;
        const to = this.startedMembers(ch);
        if (to.length) this.post({ t: "presence", leader: this.o.id, to, kind, ev });
      },
      badCursor: () => {
        const to = new Set<string>();
        for (const ch of this.channels.values()) {
          ch.pos = ch.relayed = undefined;
          for (const [m, e] of ch.members) {
            e.since = undefined;
            to.add(m);
          }
        }
        this.post({ t: "forget", leader: this.o.id, to: [...to] });
      },
      error: (err) => this.post({ t: "error", leader: this.o.id, code: err.code, message: err.message }),
      token: () => this.o.token(),
      refreshToken: () => this.o.refreshToken(),
      canRefreshToken: () => this.o.canRefreshToken(),
    };
  }

  private end(t: "refused" | "ended", channel: string, code: number, message: string): void {
    const ch = this.channels.get(channel);
    if (!ch) return;
    this.channels.delete(channel);
    this.post({ t, leader: this.o.id, to: [...ch.members.keys()], channel, code, message });
  }
}
