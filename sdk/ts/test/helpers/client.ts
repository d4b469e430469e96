// Switchboard clients for Node tests: Node 20 has fetch but no WebSocket or
// EventSource, so the `ws` and `eventsource` packages stand in.

import { EventSource } from "eventsource";
import WebSocket from "ws";
import { Switchboard } from "../../src/client.js";
import type { SwitchboardOptions } from "../../src/options.js";
import type { Publication } from "../../src/protocol.js";
import type { Subscription, SubscriptionEvents } from "../../src/subscription.js";

const clients = new Set<Switchboard>();

/** A client with quick reconnection, tracked so closeClients() ends them all. */
export function newClient(url: string, opts: SwitchboardOptions = {}): Switchboard {
  const c = new Switchboard(url, {
    WebSocket,
    EventSource,
    storage: null,
    minBackoff: 50,
    maxBackoff: 300,
    openTimeout: 3_000,
    pollInterval: 100,
    ...opts,
  });
  clients.add(c);
  return c;
}

export function closeClients(): void {
  for (const c of clients) c.disconnect();
  clients.clear();
}

/** Every publication a subscription delivers, in delivery order. */
export function collect<T = unknown>(sub: Subscription<T>): Publication<T>[] {
  const got: Publication<T>[] = [];
  sub.on("message", (m) => got.push(m));
  return got;
}

/** Waits until cond() holds, polling; fails with what() after timeout. */
export async function waitFor(cond: () => boolean, what: () => string = () => "condition", timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves with the next event of a subscription. */
export function next<K extends keyof SubscriptionEvents<unknown>>(sub: Subscription<unknown>, event: K, timeout = 10_000): Promise<SubscriptionEvents<unknown>[K]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${String(event)} event on ${sub.channel} in ${timeout}ms`)), timeout);
    const off = sub.on(event, (e) => {
      clearTimeout(t);
      off();
      resolve(e);
    });
  });
}

/** The offsets of publications, for comparing with what was published. */
export function offsets(pubs: Publication[]): number[] {
  return pubs.map((p) => p.offset);
}

/** A channel name no other test uses. */
export function channel(ns: string, name: string): string {
  return `${ns}:${name}-${Math.random().toString(36).slice(2, 8)}`;
}
