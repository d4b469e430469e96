/** Error codes of the node (docs/errors.md), plus 0 for "no answer". */
export declare const ErrorCode: {
    /** No answer from the node: network failure, timeout, connection closed. */
    readonly NoAnswer: 0;
    readonly Internal: 100;
    readonly Unauthorized: 101;
    readonly UnknownChannel: 102;
    readonly PermissionDenied: 103;
    readonly UnknownCommand: 104;
    readonly AlreadySubscribed: 105;
    readonly LimitExceeded: 106;
    readonly BadRequest: 107;
    readonly NotAvailable: 108;
    readonly TokenExpired: 109;
    readonly TooManyRequests: 110;
    readonly InvalidChannel: 111;
    readonly MessageTooLarge: 112;
    readonly NotSubscribed: 113;
    readonly BadCursor: 114;
    readonly NotConnected: 115;
    readonly OriginNotAllowed: 116;
    readonly Unavailable: 117;
    readonly ConnectionLimit: 118;
};
/** Disconnect codes of the node; 3000–3499 reconnect, 3500–3999 do not. */
export declare const DisconnectCode: {
    readonly Normal: 3000;
    readonly Shutdown: 3001;
    readonly Slow: 3002;
    readonly NoPong: 3003;
    readonly ServerError: 3004;
    readonly TokenExpired: 3005;
    readonly ConnectionLimit: 3006;
    readonly InsufficientState: 3007;
    readonly InvalidToken: 3500;
    readonly BadRequest: 3501;
    readonly Disconnected: 3502;
    readonly MessageTooLarge: 3503;
    readonly Forbidden: 3504;
};
/** An error from the node (with its code) or from the way to it (code 0). */
export declare class SwitchboardError extends Error {
    /** The node's error code, or 0 when no node answered. */
    readonly code: number;
    /** The HTTP status, for errors of HTTP requests. */
    readonly status?: number;
    constructor(code: number, message: string, status?: number);
    /**
     * Whether the same request may succeed later unchanged: no answer, an
     * internal error, too many requests, a node that is busy or shutting down.
     */
    get temporary(): boolean;
}
export declare function isTemporary(code: number): boolean;
/** An error for when no node answered. */
export declare function noAnswer(message: string): SwitchboardError;
/** Whether err is a SwitchboardError with one of the codes. */
export declare function hasCode(err: unknown, ...codes: number[]): err is SwitchboardError;
/** Wraps anything thrown into a SwitchboardError; a non-Switchboard error is a failure to reach the node. */
export declare function asSwitchboardError(err: unknown): SwitchboardError;
