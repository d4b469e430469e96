// What the tabs of one origin say to each other when they share one
// connection (the share option): the platform objects it takes — Web Locks
// to elect the leader and to notice a tab that is gone, a BroadcastChannel
// to talk — and the messages on that channel.
//
// Why Web Locks and BroadcastChannel and not a SharedWorker: both work in
// every current browser that has either (Chromium, Firefox, Safari 15.4+,
// where Chrome for Android has no SharedWorker), need no script URL of their
// own (a SharedWorker would have to be served by the node or the
// application, from the page's origin), and the browser releases a lock the
// moment its tab closes or crashes, which is exactly the signal a takeover
// needs. The cost, a re-election when the leader tab goes, is a reconnection
// that resumes from positions, as any other.

import type { Position, Publication } from "../protocol.js";
import type { ChannelRequest, PresenceEvent, StartResult } from "../transports/transport.js";

/** What the SDK needs of navigator.locks (the Web Locks API). */
export interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<unknown>): Promise<unknown>;
}

/** What the SDK needs of a BroadcastChannel. */
export interface BroadcastChannelLike {
  onmessage: ((ev: { data: unknown }) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}
export type BroadcastChannelConstructor = new (name: string) => BroadcastChannelLike;

/**
 * Messages between the tabs. A member is one tab's client; the leader is the
 * tab holding the lock, and the connection. Every message from a leader
 * names it, so a member can ignore a leader it no longer follows; messages
 * for some members list them in `to`.
 */
export type Message =
  /** A member asks who leads; its entries on the leader start afresh. */
  | { t: "hello"; from: string }
  /** A leader took over (to every member), or answers a hello (`to`). */
  | { t: "leader"; leader: string; to?: string; up: boolean; transport?: string; client?: string }
  /** The leader's connection opened. */
  | { t: "up"; leader: string; transport: string; client?: string }
  /** The leader's connection ended: members end theirs, and come back on `up`. */
  | { t: "down"; leader: string; code: number; reason: string; reconnect: boolean; errorCode?: number }
  /** The channels a member carries, with its positions (all of them, each time). */
  | { t: "sync"; from: string; to: string; channels: ChannelRequest[] }
  /** A member leaves. */
  | { t: "bye"; from: string; to: string }
  | { t: "started"; leader: string; to: string; channel: string; start: StartResult; since?: Position }
  | { t: "pub"; leader: string; to: string[]; pub: Publication }
  | { t: "gap"; leader: string; to: string[]; channel: string; epoch: string; from?: Position }
  | { t: "refused" | "ended"; leader: string; to: string[]; channel: string; code: number; message: string }
  | { t: "presence"; leader: string; to: string[]; kind: "join" | "leave"; ev: PresenceEvent }
  /** The node could not read the cursor: members forget their positions. */
  | { t: "forget"; leader: string; to: string[] }
  | { t: "error"; leader: string; code: number; message: string };

/** The platform objects sharing needs, or undefined when they are missing. */
export interface ShareEnv {
  locks: LockManagerLike;
  BroadcastChannel: BroadcastChannelConstructor;
}

/** A random id for a tab. */
export function tabId(): string {
  return Math.random().toString(36).slice(2, 10) + Math.random().toString(36).slice(2, 10);
}

/** Whether p is strictly before q in the same epoch. */
export function before(p: Position, q: Position): boolean {
  return p.epoch === q.epoch && p.offset < q.offset;
}
