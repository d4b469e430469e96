// Browser tabs for Node tests of the share option: Node's BroadcastChannel
// carries the tabs' messages as a browser's does between tabs, and a Web
// Locks stand-in (Node 20 has no navigator.locks) grants each lock to one
// tab at a time, in order of request, and releases what a tab held when it
// "crashes", as a browser does when a tab's process dies.

import type { BroadcastChannelLike, LockManagerLike } from "../../src/share/bus.js";

interface Waiter {
  tab: string;
  grant(): void;
}

/** Locks is the lock manager of one origin, shared by its tabs. */
export class Locks {
  private readonly holders = new Map<string, { tab: string; release(): void }>();
  private readonly queues = new Map<string, Waiter[]>();

  /** The lock manager as one tab sees it. */
  for(tab: string): LockManagerLike {
    return { request: (name, options, callback) => this.request(tab, name, options, callback) };
  }

  /** Who holds a lock. */
  holder(name: string): string | undefined {
    return this.holders.get(name)?.tab;
  }

  /** Every lock name held now. */
  held(): string[] {
    return [...this.holders.keys()];
  }

  /** The tab is gone: its locks are released and its requests dropped. */
  kill(tab: string): void {
    for (const [name, q] of this.queues) this.queues.set(name, q.filter((w) => w.tab !== tab));
    for (const [name, h] of [...this.holders]) if (h.tab === tab && this.holders.get(name) === h) h.release();
  }

  private request(tab: string, name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      if (signal?.aborted) return reject(new DOMException("aborted", "AbortError"));
      const w: Waiter = {
        tab,
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          let released = false;
          const h = {
            tab,
            release: () => {
              if (released) return;
              released = true;
              if (this.holders.get(name) === h) this.holders.delete(name);
              this.next(name);
            },
          };
          this.holders.set(name, h);
          Promise.resolve()
            .then(() => callback({ name }))
            .then(resolve, reject)
            .finally(h.release);
        },
      };
      const onAbort = () => {
        const q = this.queues.get(name) ?? [];
        const i = q.indexOf(w);
        if (i < 0) return;
        q.splice(i, 1);
        reject(new DOMException("aborted", "AbortError"));
      };
      signal?.addEventListener("abort", onAbort);
      const q = this.queues.get(name) ?? [];
      this.queues.set(name, q);
      q.push(w);
      this.next(name);
    });
  }

  private next(name: string): void {
    if (this.holders.has(name)) return;
    const w = this.queues.get(name)?.shift();
    w?.grant();
  }
}

/** Tabs hands each tab its BroadcastChannels and closes them when it crashes. */
export class Tabs {
  readonly locks = new Locks();
  private readonly channels = new Map<string, Set<BroadcastChannel>>();
  private readonly closers = new Map<string, Array<() => void>>();

  /** The BroadcastChannel class as one tab sees it. */
  broadcastChannel(tab: string): new (name: string) => BroadcastChannelLike {
    const channels = this.channels;
    const closers = this.closers;
    return class implements BroadcastChannelLike {
      onmessage: ((ev: { data: unknown }) => void) | null = null;
      private readonly bc: BroadcastChannel;
      private closed = false;
      constructor(name: string) {
        this.bc = new BroadcastChannel(name);
        this.bc.onmessage = (ev) => this.onmessage?.(ev as MessageEvent);
        let set = channels.get(tab);
        if (!set) channels.set(tab, (set = new Set()));
        set.add(this.bc);
        let cs = closers.get(tab);
        if (!cs) closers.set(tab, (cs = []));
        cs.push(() => (this.closed = true));
      }
      postMessage(m: unknown): void {
        if (!this.closed) this.bc.postMessage(m);
      }
      close(): void {
        this.closed = true;
        this.bc.close();
        channels.get(tab)?.delete(this.bc);
      }
    };
  }

  /** The tab crashes: it hears and says nothing more, and its locks go. */
  kill(tab: string): void {
    for (const bc of this.channels.get(tab) ?? []) bc.close();
    for (const c of this.closers.get(tab) ?? []) c();
    this.closers.delete(tab);
    this.channels.delete(tab);
    this.locks.kill(tab);
  }

  /** Closes every channel still open. */
  close(): void {
    for (const tab of [...this.channels.keys()]) this.kill(tab);
  }
}
