// The share option: the tabs of one origin that share a name elect one
// leader, which holds the only connection to the node; every tab's client
// subscribes through it. See bus.ts for the mechanism, leader.ts for how
// positions are kept, member.ts for a tab's side.

import type { ResolvedOptions, TransportName } from "../options.js";
import type { Connection, ConnectionContext, ConnectionHandler } from "../transports/transport.js";
import { type BroadcastChannelLike, type Message, type ShareEnv, tabId } from "./bus.js";
import { Leader } from "./leader.js";
import { MemberConnection } from "./member.js";

export interface ShareOptions {
  /** The share name: tabs with the same name and node share a connection. */
  name: string;
  env: ShareEnv;
  options: ResolvedOptions;
  create(t: TransportName, ctx: ConnectionContext): Connection;
  token(): string | undefined;
  refreshToken(): Promise<void>;
  canRefreshToken(): boolean;
  prepare(): Promise<void>;
  /** Ends the tab's reconnection wait: the leader's connection is up. */
  wake(): void;
}

/**
 * Share is one tab's part in a shared connection: a member always, and
 * the leader while it holds the lock. start and stop follow the client's
 * connect and disconnect.
 */
export class Share {
  readonly id = tabId();
  private readonly prefix: string;
  private bus: BroadcastChannelLike | undefined;
  private leaderBus: BroadcastChannelLike | undefined;
  private readonly listeners = new Set<(m: Message) => void>();
  private abort: AbortController | undefined;
  private releaseTab: (() => void) | undefined;
  private releaseLeader: (() => void) | undefined;
  private aliveNow: Promise<void> = Promise.resolve();
  private leader: Leader | undefined;

  constructor(private readonly o: ShareOptions) {
    this.prefix = `switchboard:share:${o.name}:${o.options.endpoints.websocket}`;
  }

  /** Whether this tab holds the connection now. */
  get leading(): boolean {
    return this.leader !== undefined;
  }

  /** The connection of the tab's client: through the leader. */
  connection(handler: ConnectionHandler): Connection {
    return new MemberConnection(
      {
        id: this.id,
        alive: this.aliveNow,
        post: (m) => this.bus?.postMessage(m),
        listen: (fn) => {
          this.listeners.add(fn);
          return () => this.listeners.delete(fn);
        },
      },
      handler,
      this.o.options.transports[0]!,
    );
  }

  start(): void {
    if (this.abort) return;
    const ac = (this.abort = new AbortController());
    const { locks, BroadcastChannel } = this.o.env;
    const bus = (this.bus = new BroadcastChannel(this.prefix));
    bus.onmessage = (ev) => {
      const m = ev.data as Message;
      if (m.t === "up") this.o.wake();
      for (const l of [...this.listeners]) l(m);
    };
    // The tab's own lock, held while it lives: the leader waits for it to
    // learn that the tab has gone, however it went.
    this.aliveNow = new Promise<void>((alive) => {
      locks
        .request(this.tabLock(this.id), { signal: ac.signal }, () => {
          alive();
          return new Promise<void>((release) => (this.releaseTab = release));
        })
        .catch(() => {});
    });
    locks
      .request(this.prefix, { signal: ac.signal }, () => {
        if (ac.signal.aborted) return Promise.resolve();
        return new Promise<void>((release) => {
          this.releaseLeader = release;
          this.lead();
        });
      })
      .catch(() => {});
  }

  stop(): void {
    const ac = this.abort;
    if (!ac) return;
    this.abort = undefined;
    ac.abort();
    this.leader?.stop();
    this.leader = undefined;
    this.leaderBus?.close();
    this.leaderBus = undefined;
    this.releaseLeader?.();
    this.releaseLeader = undefined;
    this.releaseTab?.();
    this.releaseTab = undefined;
    this.bus?.close();
    this.bus = undefined;
  }

  private lead(): void {
    const lb = (this.leaderBus = new this.o.env.BroadcastChannel(this.prefix));
    const o = this.o;
    const leader = (this.leader = new Leader({
      id: this.id,
      options: o.options,
      locks: o.env.locks,
      tabLock: (m) => this.tabLock(m),
      post: (m) => lb.postMessage(m),
      create: o.create,
      token: o.token,
      refreshToken: o.refreshToken,
      canRefreshToken: o.canRefreshToken,
      prepare: o.prepare,
      storageKey: `switchboard:transport:${o.options.endpoints.websocket}`,
    }));
    lb.onmessage = (ev) => leader.receive(ev.data as Message);
    leader.start();
  }

  private tabLock(id: string): string {
    return `${this.prefix}:tab:${id}`;
  }
}

/** The platform's Web Locks and BroadcastChannel, when it has both. */
export function platformShareEnv(o: { locks?: ShareEnv["locks"]; BroadcastChannel?: ShareEnv["BroadcastChannel"] }): ShareEnv | undefined {
  const g = globalThis as { navigator?: { locks?: ShareEnv["locks"] }; BroadcastChannel?: ShareEnv["BroadcastChannel"] };
  const locks = o.locks ?? g.navigator?.locks;
  const BC = o.BroadcastChannel ?? g.BroadcastChannel;
  if (!locks || !BC) return undefined;
  return { locks, BroadcastChannel: BC };
}
