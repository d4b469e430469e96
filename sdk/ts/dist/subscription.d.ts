import { Emitter } from "./emitter.js";
import type { SwitchboardError } from "./errors.js";
import type { Position, Publication } from "./protocol.js";
import type { PublishOptions, PublishResult } from "./publish.js";
import type { PresenceEvent } from "./transports/transport.js";
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
 * the channel's history, or its epoch changed. The application should reload
 * the channel's state; delivery continues after (epoch, offset).
 */
export interface GapEvent {
    channel: string;
    epoch: string;
    offset: number;
    recovered: false;
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
export declare class Subscription<T = unknown> extends Emitter<SubscriptionEvents<T>> {
    readonly channel: string;
    private readonly owner;
    private pos;
    private st;
    private forgotten;
    get state(): SubscriptionState;
    /**
     * The last position delivered (or where the node started the channel). Keep
     * it to resume in a later page load: subscribe(channel, { since: position }).
     */
    get position(): Position | undefined;
    /** Stops the subscription. Its position is forgotten with it. */
    unsubscribe(): void;
    /** Publishes to this channel; see Switchboard.publish. */
    publish(data: unknown, opts?: PublishOptions): Promise<PublishResult>;
}
