// Tokens renewed before they expire, over the open WebSocket: the node never
// has to end the connection for an expired token.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WebSocketConnection, tokenExpiry } from "../../src/transports/ws.js";
import { FakeWebSocket, RecordingHandler, fakeContext } from "../helpers/fakes.js";

/** An unsigned JWT with these claims: the client reads exp, never verifies. */
function jwt(claims: Record<string, unknown>): string {
  const b64 = (v: unknown) => btoa(JSON.stringify(v)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}.sig`;
}

describe("tokenExpiry", () => {
  it("reads exp in ms, and nothing from what is not a JWT with exp", () => {
    expect(tokenExpiry(jwt({ sub: "u", exp: 1_763_888_400 }))).toBe(1_763_888_400_000);
    expect(tokenExpiry(jwt({ sub: "ünïcödé", exp: 5 }))).toBe(5_000);
    expect(tokenExpiry(jwt({ sub: "u" }))).toBeUndefined();
    expect(tokenExpiry(jwt({ exp: "soon" }))).toBeUndefined();
    expect(tokenExpiry("not-a-jwt")).toBeUndefined();
    expect(tokenExpiry("a.%%%.c")).toBeUndefined();
    expect(tokenExpiry(undefined)).toBeUndefined();
  });
});

describe("token refresh over the WebSocket", () => {
  let handler: RecordingHandler;
  let conn: WebSocketConnection;
  let ws: FakeWebSocket;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000_000_000 });
    FakeWebSocket.instances = [];
    handler = new RecordingHandler();
  });
  afterEach(() => {
    conn.close();
    vi.useRealTimers();
  });

  async function open(token: string): Promise<void> {
    handler.tokenValue = token;
    conn = new WebSocketConnection(fakeContext(handler));
    const opened = conn.open();
    ws = FakeWebSocket.instances[0]!;
    ws.accept();
    ws.push(JSON.stringify({ type: "connect", id: ws.commands()[0]!.id, client: "c1", ping_interval: 3600 }));
    await opened;
    conn.start();
  }

  const refreshes = () => ws.commands().filter((c) => c.type === "refresh");

  it("renews a fifth of the way before expiry, and again with the next token", async () => {
    const now = Date.now();
    handler.canRefresh = true;
    handler.nextToken = (n) => jwt({ sub: "u", exp: (now + 100_000 * (n + 1)) / 1000 });
    await open(jwt({ sub: "u", exp: (now + 100_000) / 1000 }));
    await vi.advanceTimersByTimeAsync(79_999);
    expect(handler.refreshes).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(handler.refreshes).toBe(1);
    const cmd = refreshes()[0]!;
    expect(cmd).toEqual({ type: "refresh", id: cmd.id, token: handler.tokenValue });
    ws.push(JSON.stringify({ type: "refresh", id: cmd.id, expires: (now + 200_000) / 1000 }));
    // The second token, taken at 80s, expires at 200s: 120s left, renewed
    // a fifth of that (24s) early, 96s later.
    await vi.advanceTimersByTimeAsync(95_999);
    expect(handler.refreshes).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(handler.refreshes).toBe(2);
  });

  it("renews at most a minute early", async () => {
    handler.canRefresh = true;
    await open(jwt({ exp: (Date.now() + 3_600_000) / 1000 }));
    await vi.advanceTimersByTimeAsync(3_540_000 - 1);
    expect(handler.refreshes).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(handler.refreshes).toBe(1);
  });

  it("reports a refused refresh and keeps the connection until the node ends it", async () => {
    handler.canRefresh = true;
    await open(jwt({ exp: (Date.now() + 10_000) / 1000 }));
    await vi.advanceTimersByTimeAsync(8_000);
    const cmd = refreshes()[0]!;
    ws.push(JSON.stringify({ type: "refresh", id: cmd.id, error: { code: 101, message: "unauthorized" } }));
    await vi.advanceTimersByTimeAsync(0);
    expect(handler.errors.map((e) => e.code)).toEqual([101]);
    let closed = false;
    void conn.closed.then(() => (closed = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(closed).toBe(false);
  });

  it("schedules nothing without getToken, without exp, or for a token already expired", async () => {
    await open(jwt({ exp: (Date.now() + 10_000) / 1000 }));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(handler.refreshes).toBe(0);
    conn.close();
    for (const token of [jwt({ sub: "u" }), jwt({ exp: (Date.now() - 1_000) / 1000 })]) {
      FakeWebSocket.instances = [];
      handler.canRefresh = true;
      await open(token);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(handler.refreshes).toBe(0);
      conn.close();
    }
  });
});
