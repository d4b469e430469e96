import { SwitchboardError } from "../errors.js";
import type { FetchFunction, ResolvedOptions } from "../options.js";
import type { ChannelRequest, ConnectionContext } from "./transport.js";
/**
 * The cursor for a set of channels, built from the client's positions; absent
 * when no channel has one yet (each then starts live).
 */
export declare function cursorFor(reqs: readonly ChannelRequest[]): string | undefined;
/** The URL of a stream or poll for reqs. */
export declare function streamURL(endpoint: string, reqs: readonly ChannelRequest[], token: string | undefined, extra?: Record<string, string>): string;
/** A GET for a stream probe or a poll, with cookies when the client sends them cross-origin. */
export declare function getInit(options: ResolvedOptions): RequestInit;
export declare function needFetch(f: FetchFunction | undefined): FetchFunction;
/**
 * Sends a request and reads a JSON answer. A coded error body becomes a
 * SwitchboardError with its code; anything else that is not a 2xx JSON answer
 * (a proxy's 502 page, a 404 from a wrong path, a dropped connection, the
 * timeout) is code 0: the node did not answer.
 */
export declare function requestJSON(f: FetchFunction, url: string, init: RequestInit, timeout: number, signal?: AbortSignal): Promise<unknown>;
/**
 * A stream or poll is all or nothing: one refused channel refuses the whole
 * request, and only the message (which clients must not parse) says which.
 * So ask the node about each channel on its own, with short polls that hold
 * nothing and replay nothing. It runs only after a refusal.
 */
export declare function refusedChannels(ctx: ConnectionContext, err: SwitchboardError, channels: readonly string[]): Promise<Map<string, SwitchboardError>>;
/**
 * Handles a coded refusal of a stream or poll for reqs: a bad cursor, an
 * expired token, refused channels. It reports whether the request is worth
 * sending again (with what is left), and throws what cannot be helped.
 */
export declare function settleRefusal(ctx: ConnectionContext, err: SwitchboardError, reqs: readonly ChannelRequest[]): Promise<void>;
/** Whether two channel lists are the same set. */
export declare function sameChannels(a: readonly ChannelRequest[], b: readonly ChannelRequest[]): boolean;
/**
 * Reads a channel's presence from the node's HTTP endpoint, for clients on
 * SSE or polling (or not connected): GET <presence>?channel=c, with the
 * token in the query as polls send it. An expired token is renewed once.
 */
export declare function presenceOverHTTP(options: ResolvedOptions, channel: string, token: () => string | undefined, refreshToken: () => Promise<void>): Promise<unknown>;
/** What to ask GET <history> for: the parameters of the node's history endpoints. */
export interface HistoryQuery {
    since?: {
        epoch: string;
        offset: number;
    };
    limit?: number;
    reverse?: boolean;
}
/**
 * Reads a channel's history from the node's HTTP endpoint, for clients on
 * SSE or polling (or not connected): GET <history>?channel=c&since_epoch=
 * &since_offset=&limit=&reverse=, answered with the fields of the WebSocket
 * history reply (channel, epoch, offset, publications). An expired token is
 * renewed once.
 */
export declare function historyOverHTTP(options: ResolvedOptions, channel: string, q: HistoryQuery, token: () => string | undefined, refreshToken: () => Promise<void>): Promise<Record<string, unknown>>;
/**
 * Checks that the node answers HTTP at the poll endpoint, for an SSE or poll
 * connection opened with no channel to carry yet. Without it such a
 * connection would count as open with nothing said to any node, and a node
 * that is down would look reachable (and be remembered) over SSE. A poll
 * with no channel is refused with a coded answer: any coded answer proves
 * the node is there; anything else (a network error, a proxy's page) is a
 * transport that does not get through.
 */
export declare function probe(options: ResolvedOptions, token: string | undefined): Promise<void>;
/**
 * askPoll sends a short poll that only asks the node a question (would it
 * take these channels?). Each poll counts in the channels' presence, so it
 * goes as the client the node already knows, or becomes it: a client never
 * shows twice in presence because of its questions.
 */
export declare function askPoll(ctx: ConnectionContext, reqs: readonly ChannelRequest[], token: string | undefined): Promise<void>;
