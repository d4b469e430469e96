// Switchboard's client for browsers and Node: subscribe to channels and get
// every publication in order, once, over WebSocket, Server-Sent Events or
// polling, across reconnects and changes of transport.

export { Switchboard } from "./client.js";
export type {
  ClientEvents,
  ConnectedEvent,
  ConnectingEvent,
  ConnectionState,
  DisconnectedEvent,
  HistoryOptions,
  HistoryResult,
  SubscribeOptions,
} from "./client.js";
export { Subscription } from "./subscription.js";
export type { GapEvent, SubscribedEvent, SubscriptionEvents, SubscriptionState, UnsubscribedEvent } from "./subscription.js";
export type { PublishOptions, PublishResult } from "./publish.js";
export { DisconnectCode, ErrorCode, SwitchboardError } from "./errors.js";
export { DEFAULT_TRANSPORTS } from "./options.js";
export type {
  Endpoints,
  EventSourceConstructor,
  EventSourceLike,
  FetchFunction,
  StorageLike,
  SwitchboardOptions,
  TransportName,
  WebSocketConstructor,
  WebSocketLike,
} from "./options.js";
export type { ClientInfo, Position, Publication } from "./protocol.js";
export type { BroadcastChannelConstructor, BroadcastChannelLike, LockManagerLike } from "./share/bus.js";
export type { PresenceEvent } from "./transports/transport.js";
export { Cursor, CursorError, channelHash } from "./cursor.js";
export { Backoff } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
