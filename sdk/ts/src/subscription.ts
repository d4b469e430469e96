// A subscription to one channel. It keeps the channel's position — the last
// publication delivered, or where the node started it — which every
// reconnection resumes from, whatever the transport. That position is also
// what makes delivery effectively-once: a publication at or before it — the
// same epoch and an offset no higher — is one the application already has,
// and is dropped. Offsets compare only within an epoch: a publication of
// another epoch is never taken for a repeat.

import { Emitter } from "./emitter.js";
import type { SwitchboardError } from "./errors.js";
import type { Position, Publication } from "./protocol.js";
import type { PublishOptions, PublishResult } from "./publish.js";
import type { PresenceEvent, StartResult } from "./transports/transport.js";

export type SubscriptionState = "subscribing" | "subscribed" | "unsubscribed";

/** The node (re)started the subscription: on every connection it is carried on. */
export interface SubscribedEvent {
  channel: string;
  /** The channel's latest position when the node subscribed. */
  epoch: string;
  offset: number;
  /** False when publications since the subscription's position could not be replayed (a `gap` event follows). */
  recovered: boolean;
}

/**
 * Publications were missed and will not come: the position was older than
 * the channel's history, or its epoch changed (the node lost the channel's
 * history and told the subscription so, or a publication of another epoch
 * arrived). The application should reload the channel's state; delivery
 * continues after (epoch, offset) — offset 0 when a new epoch starts.
 */
export interface GapEvent {
  channel: string;
  epoch: string;
  offset: number;
  recovered: false;
  /** The position the subscription had, when it had one. */
  from?: Position;
}

/** The subscription ended: by unsubscribe() (no code), or by the node. */
export interface UnsubscribedEvent {
  channel: string;
  /** The node's error code when it refused or ended the subscription. */
  code?: number;
  reason: string;
}

export interface SubscriptionEvents<T> {
  subscribed: SubscribedEvent;
  message: Publication<T>;
  gap: GapEvent;
  error: SwitchboardError;
  unsubscribed: UnsubscribedEvent;
  join: PresenceEvent;
  leave: PresenceEvent;
}

/** What a Subscription needs of its client. */
export interface SubscriptionOwner {
  removeSubscription(sub: Subscription<unknown>): void;
  publish(channel: string, data: unknown, opts?: PublishOptions): Promise<PublishResult>;
}

/**
 * Subscription delivers the publications of one channel, in order, each
 * once. Make one with Switchboard.subscribe.
 */
export class Subscription<T = unknown> extends Emitter<SubscriptionEvents<T>> {
  private pos: Position | undefined;
  private st: SubscriptionState = "subscribing";
  // Set when the position had to be dropped: the next start is a gap.
  private forgotten = false;

  /** @internal */
  constructor(
    readonly channel: string,
    private readonly owner: SubscriptionOwner,
    since?: Position,
  ) {
    super();
    if (since) this.pos = { epoch: since.epoch, offset: since.offset };
  }

  get state(): SubscriptionState {
    return this.st;
  }

  /**
   * The last position delivered (or where the node started the channel). Keep
   * it to resume in a later page load: subscribe(channel, { since: position }).
   */
  get position(): Position | undefined {
    return this.pos && { ...this.pos };
  }

  /** Stops the subscription. Its position is forgotten with it. */
  unsubscribe(): void {
    if (this.st === "unsubscribed") return;
    this.st = "unsubscribed";
    this.owner.removeSubscription(this as Subscription<unknown>);
    this.emit("unsubscribed", { channel: this.channel, reason: "unsubscribed" });
  }

  /** Publishes to this channel; see Switchboard.publish. */
  publish(data: unknown, opts?: PublishOptions): Promise<PublishResult> {
    return this.owner.publish(this.channel, data, opts);
  }

  /**
   * @internal Where the channel was when the subscription was made: it
   * starts from there, unless a position came first.
   */
  createdAt(pos: Position): void {
    if (this.st !== "subscribing" || this.pos) return;
    this.pos = { epoch: pos.epoch, offset: pos.offset };
  }

  /** @internal The node started the channel on a connection; `since` is what was sent. */
  started(r: StartResult, since: Position | undefined): void {
    if (this.st === "unsubscribed") return;
    const latest = { epoch: r.epoch, offset: r.offset };
    const from = this.pos;
    const lost = (since !== undefined && !r.recovered) || this.forgotten;
    this.forgotten = false;
    if (lost || !this.pos) {
      this.pos = latest;
    } else if (since === undefined && this.pos.epoch !== latest.epoch) {
      // Started live in another epoch than the one held (the position came
      // from a connection that has since been replaced): nothing in between
      // can be replayed.
      this.pos = latest;
    }
    // Otherwise the node replays from `since`, or the position is already
    // ahead of it: what follows is checked offset by offset.
    this.st = "subscribed";
    this.emit("subscribed", { channel: this.channel, epoch: r.epoch, offset: r.offset, recovered: !lost });
    if (lost) this.emit("gap", { channel: this.channel, epoch: r.epoch, offset: r.offset, recovered: false, ...(from ? { from } : {}) });
  }

  /**
   * @internal The node says the channel's history was replaced under the
   * subscription: a gap, and the position moves to the start of the new
   * epoch, whose publications follow. Nothing to report when the position
   * is in that epoch already.
   */
  epochChanged(epoch: string, nodeFrom: Position | undefined): void {
    if (this.st === "unsubscribed") return;
    const from = this.pos ?? nodeFrom;
    if (from && from.epoch === epoch) return;
    this.pos = { epoch, offset: 0 };
    this.emit("gap", { channel: this.channel, epoch, offset: 0, recovered: false, ...(from ? { from: { ...from } } : {}) });
  }

  /**
   * @internal Delivers a publication unless it is one already delivered. A
   * publication from another epoch, or one that skips offsets, means some
   * were lost: the application hears of the gap before the publication.
   */
  deliver(p: Publication): boolean {
    if (this.st === "unsubscribed") return false;
    const pos = this.pos;
    if (pos && p.epoch === pos.epoch && p.offset <= pos.offset) return false;
    if (pos && (p.epoch !== pos.epoch || p.offset > pos.offset + 1)) {
      this.emit("gap", { channel: this.channel, epoch: p.epoch, offset: p.offset - 1, recovered: false, from: { ...pos } });
    }
    this.pos = { epoch: p.epoch, offset: p.offset };
    this.emit("message", p as Publication<T>);
    return true;
  }

  /** @internal The connection carrying it ended; it resumes on the next. */
  suspended(): void {
    if (this.st === "subscribed") this.st = "subscribing";
  }

  /** @internal The node refused or ended the subscription. */
  ended(err: SwitchboardError | undefined, code: number | undefined, reason: string): void {
    if (this.st === "unsubscribed") return;
    this.st = "unsubscribed";
    if (err) this.emit("error", err);
    this.emit("unsubscribed", { channel: this.channel, ...(code !== undefined ? { code } : {}), reason });
  }

  /** @internal The node could not read a cursor with this position: start over. */
  forget(): void {
    this.pos = undefined;
    this.forgotten = true;
  }

  /** @internal */
  presence(kind: "join" | "leave", ev: PresenceEvent): void {
    this.emit(kind, ev);
  }
}
