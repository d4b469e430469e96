// One error type for everything the SDK reports. The node has one table of
// codes for every transport (docs/errors.md); code 0 is the SDK's own, for
// when no node answered at all, so applications branch on `code` alone.

/** Error codes of the node (docs/errors.md), plus 0 for "no answer". */
export const ErrorCode = {
  /** No answer from the node: network failure, timeout, connection closed. */
  NoAnswer: 0,
  Internal: 100,
  Unauthorized: 101,
  UnknownChannel: 102,
  PermissionDenied: 103,
  UnknownCommand: 104,
  AlreadySubscribed: 105,
  LimitExceeded: 106,
  BadRequest: 107,
  NotAvailable: 108,
  TokenExpired: 109,
  TooManyRequests: 110,
  InvalidChannel: 111,
  MessageTooLarge: 112,
  NotSubscribed: 113,
  BadCursor: 114,
  NotConnected: 115,
  OriginNotAllowed: 116,
  Unavailable: 117,
  ConnectionLimit: 118,
} as const;

/** Disconnect codes of the node; 3000–3499 reconnect, 3500–3999 do not. */
export const DisconnectCode = {
  Normal: 3000,
  Shutdown: 3001,
  Slow: 3002,
  NoPong: 3003,
  ServerError: 3004,
  TokenExpired: 3005,
  ConnectionLimit: 3006,
  InsufficientState: 3007,
  InvalidToken: 3500,
  BadRequest: 3501,
  Disconnected: 3502,
  MessageTooLarge: 3503,
  Forbidden: 3504,
} as const;

/** An error from the node (with its code) or from the way to it (code 0). */
export class SwitchboardError extends Error {
  /** The node's error code, or 0 when no node answered. */
  readonly code: number;
  /** The HTTP status, for errors of HTTP requests. */
  readonly status?: number;

  constructor(code: number, message: string, status?: number) {
    super(message);
    this.name = "SwitchboardError";
    this.code = code;
    if (status !== undefined) this.status = status;
  }

  /**
   * Whether the same request may succeed later unchanged: no answer, an
   * internal error, too many requests, a node that is busy or shutting down.
   */
  get temporary(): boolean {
    return isTemporary(this.code);
  }
}

export function isTemporary(code: number): boolean {
  return (
    code === ErrorCode.NoAnswer ||
    code === ErrorCode.Internal ||
    code === ErrorCode.TooManyRequests ||
    code === ErrorCode.Unavailable ||
    code === ErrorCode.ConnectionLimit
  );
}

/** An error for when no node answered. */
export function noAnswer(message: string): SwitchboardError {
  return new SwitchboardError(ErrorCode.NoAnswer, message);
}

/** Whether err is a SwitchboardError with one of the codes. */
export function hasCode(err: unknown, ...codes: number[]): err is SwitchboardError {
  return err instanceof SwitchboardError && codes.includes(err.code);
}

/** Wraps anything thrown into a SwitchboardError; a non-Switchboard error is a failure to reach the node. */
export function asSwitchboardError(err: unknown): SwitchboardError {
  if (err instanceof SwitchboardError) return err;
  return noAnswer(err instanceof Error ? err.message : String(err));
}
